//! Association establishment: A-ASSOCIATE-RQ in, AC or RJ out.

use dicom_ul::pdu::{
    AssociationAC, AssociationRQ, PresentationContextResult, PresentationContextResultReason, UserVariableItem,
};
use dicom_ul::Pdu;
use yunying_archive::syntax::{choose_transfer_syntax, is_storage_sop_class, trim_uid, VERIFICATION};
use yunying_archive::{ArchiveConfig, Caller};

use crate::DimseConfig;

const APPLICATION_CONTEXT: &str = "1.2.840.10008.3.1.1.1";

/// An accepted presentation context.
#[derive(Debug, Clone)]
pub struct Context {
    pub id: u8,
    pub abstract_syntax: String,
    pub transfer_syntax: String,
}

/// The outcome of negotiation.
pub enum Negotiated {
    Accept { ac: Box<Pdu>, caller: Caller, contexts: Vec<Context> },
    /// Reject with (result, source, reason) per PS3.8 9.3.4.
    Reject { result: u8, source: u8, reason: u8, why: &'static str },
}

/// Decide on an association request.
pub fn negotiate(
    rq: AssociationRQ,
    peer: Option<std::net::IpAddr>,
    dimse: &DimseConfig,
    archive: &ArchiveConfig,
) -> Negotiated {
    if rq.protocol_version & 1 == 0 {
        return Negotiated::Reject { result: 1, source: 2, reason: 2, why: "protocol version not supported" };
    }
    if trim_uid(&rq.application_context_name) != APPLICATION_CONTEXT {
        return Negotiated::Reject { result: 1, source: 1, reason: 2, why: "application context not supported" };
    }
    if dimse.check_called_ae && rq.called_ae_title.trim() != dimse.aet {
        return Negotiated::Reject { result: 1, source: 1, reason: 7, why: "called AE title not recognised" };
    }
    let Some(caller) = archive.resolve_caller(&rq.calling_ae_title, peer) else {
        return Negotiated::Reject { result: 1, source: 1, reason: 3, why: "calling AE title not recognised" };
    };

    let mut results = Vec::with_capacity(rq.presentation_contexts.len());
    let mut contexts = Vec::new();
    for pc in &rq.presentation_contexts {
        let abstract_syntax = trim_uid(&pc.abstract_syntax).to_string();
        let supported = abstract_syntax == VERIFICATION || is_storage_sop_class(&abstract_syntax);
        let chosen = choose_transfer_syntax(pc.transfer_syntaxes.iter().map(String::as_str));
        let (reason, ts) = match (supported, chosen) {
            (false, _) => (PresentationContextResultReason::AbstractSyntaxNotSupported, "1.2.840.10008.1.2"),
            (true, None) => (PresentationContextResultReason::TransferSyntaxesNotSupported, "1.2.840.10008.1.2"),
            (true, Some(ts)) => {
                contexts.push(Context { id: pc.id, abstract_syntax, transfer_syntax: ts.to_string() });
                (PresentationContextResultReason::Acceptance, ts)
            }
        };
        results.push(PresentationContextResult { id: pc.id, reason, transfer_syntax: ts.to_string() });
    }

    let ac = Pdu::AssociationAC(AssociationAC {
        protocol_version: 1,
        calling_ae_title: rq.calling_ae_title,
        called_ae_title: rq.called_ae_title,
        application_context_name: APPLICATION_CONTEXT.to_string(),
        presentation_contexts: results,
        user_variables: vec![
            UserVariableItem::MaxLength(dimse.max_pdu_length),
            UserVariableItem::ImplementationClassUID(yunying_archive::meta::IMPLEMENTATION_CLASS_UID.to_string()),
            UserVariableItem::ImplementationVersionName(yunying_archive::meta::IMPLEMENTATION_VERSION_NAME.to_string()),
        ],
    });
    Negotiated::Accept { ac: Box::new(ac), caller, contexts }
}
