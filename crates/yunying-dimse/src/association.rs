//! Association establishment: A-ASSOCIATE-RQ in, AC or RJ out.
//!
//! Storage contexts take the compressed transfer syntax the sender proposes
//! first (we keep what modalities send). A storage context whose requestor
//! asks for the SCP role (a C-GET retriever that will receive our C-STOREs)
//! takes Explicit, then Implicit VR Little Endian first instead: we can send
//! any stored instance in those. Query/retrieve and storage commitment
//! contexts take Explicit, then Implicit VR Little Endian.

use dicom_ul::Pdu;
use dicom_ul::pdu::{
    AssociationAC, AssociationRQ, PresentationContextResult, PresentationContextResultReason, RequestorRoles, UserVariableItem,
};
use yunying_archive::syntax::{
    EXPLICIT_VR_LE, IMPLICIT_VR_LE, VERIFICATION, choose_transfer_syntax, is_accepted_transfer_syntax, is_storage_sop_class, trim_uid,
};
use yunying_archive::{ArchiveConfig, Caller};

use crate::DimseConfig;

pub const APPLICATION_CONTEXT: &str = "1.2.840.10008.3.1.1.1";

pub const PATIENT_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.1.1";
pub const PATIENT_ROOT_MOVE: &str = "1.2.840.10008.5.1.4.1.2.1.2";
pub const PATIENT_ROOT_GET: &str = "1.2.840.10008.5.1.4.1.2.1.3";
pub const STUDY_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.2.1";
pub const STUDY_ROOT_MOVE: &str = "1.2.840.10008.5.1.4.1.2.2.2";
pub const STUDY_ROOT_GET: &str = "1.2.840.10008.5.1.4.1.2.2.3";
pub const STORAGE_COMMITMENT_PUSH: &str = "1.2.840.10008.1.20.1";

/// What a presentation context's abstract syntax is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    Verification,
    Storage,
    Find { patient_root: bool },
    Move { patient_root: bool },
    Get { patient_root: bool },
    Commitment,
}

impl Service {
    fn of(abstract_syntax: &str) -> Option<Service> {
        Some(match abstract_syntax {
            VERIFICATION => Service::Verification,
            PATIENT_ROOT_FIND => Service::Find { patient_root: true },
            STUDY_ROOT_FIND => Service::Find { patient_root: false },
            PATIENT_ROOT_MOVE => Service::Move { patient_root: true },
            STUDY_ROOT_MOVE => Service::Move { patient_root: false },
            PATIENT_ROOT_GET => Service::Get { patient_root: true },
            STUDY_ROOT_GET => Service::Get { patient_root: false },
            STORAGE_COMMITMENT_PUSH => Service::Commitment,
            s if is_storage_sop_class(s) => Service::Storage,
            _ => return None,
        })
    }
}

/// An accepted presentation context.
#[derive(Debug, Clone)]
pub struct Context {
    pub id: u8,
    pub abstract_syntax: String,
    pub transfer_syntax: String,
    pub service: Service,
    /// The requestor negotiated the SCP role for this SOP class: we may send
    /// it C-STOREs (C-GET sub-operations).
    pub requestor_is_scp: bool,
}

impl Context {
    pub fn explicit_vr(&self) -> bool {
        self.transfer_syntax != IMPLICIT_VR_LE
    }
}

/// Options of C-FIND granted by extended negotiation (PS3.4 C.5.1.1).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FindOptions {
    pub combined_datetime: bool,
    pub fuzzy_names: bool,
}

/// The outcome of negotiation.
pub enum Negotiated {
    Accept {
        ac: Box<Pdu>,
        caller: Caller,
        accepted: Accepted,
    },
    /// Reject with (result, source, reason) per PS3.8 9.3.4.
    Reject {
        result: u8,
        source: u8,
        reason: u8,
        why: &'static str,
    },
}

/// What an accepted association may do.
#[derive(Debug, Clone, Default)]
pub struct Accepted {
    pub contexts: Vec<Context>,
    /// Largest PDU the requestor accepts (0 = no limit).
    pub peer_max_pdu: u32,
    pub find: FindOptions,
}

/// Decide on an association request.
pub fn negotiate(rq: AssociationRQ, peer: Option<std::net::IpAddr>, dimse: &DimseConfig, archive: &ArchiveConfig) -> Negotiated {
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

    let mut accepted = Accepted::default();
    let mut roles: Vec<(String, RequestorRoles)> = Vec::new();
    let mut extended: Vec<(String, Vec<u8>)> = Vec::new();
    for item in &rq.user_variables {
        match item {
            UserVariableItem::MaxLength(n) => accepted.peer_max_pdu = *n,
            UserVariableItem::ScuScpRoleSelectionSubItem(uid, r) => roles.push((trim_uid(uid).to_string(), *r)),
            UserVariableItem::SopClassExtendedNegotiationSubItem(uid, bytes) => extended.push((trim_uid(uid).to_string(), bytes.clone())),
            _ => {}
        }
    }
    let requestor_is_scp = |uid: &str| roles.iter().any(|(u, r)| u == uid && r.scp);

    let mut results = Vec::with_capacity(rq.presentation_contexts.len());
    for pc in &rq.presentation_contexts {
        let abstract_syntax = trim_uid(&pc.abstract_syntax).to_string();
        let service = Service::of(&abstract_syntax);
        let proposed = pc.transfer_syntaxes.iter().map(String::as_str);
        let scp_role = requestor_is_scp(&abstract_syntax);
        let chosen = match service {
            None => None,
            Some(Service::Storage) if !scp_role => choose_transfer_syntax(proposed),
            Some(Service::Storage) => {
                little_endian(proposed.clone()).or_else(|| proposed.map(trim_uid).find(|ts| is_accepted_transfer_syntax(ts)))
            }
            Some(_) => little_endian(proposed),
        };
        let (reason, ts) = match (service, chosen) {
            (None, _) => (PresentationContextResultReason::AbstractSyntaxNotSupported, IMPLICIT_VR_LE),
            (Some(_), None) => (PresentationContextResultReason::TransferSyntaxesNotSupported, IMPLICIT_VR_LE),
            (Some(service), Some(ts)) => {
                accepted.contexts.push(Context {
                    id: pc.id,
                    abstract_syntax: abstract_syntax.clone(),
                    transfer_syntax: ts.to_string(),
                    service,
                    requestor_is_scp: scp_role && service == Service::Storage,
                });
                (PresentationContextResultReason::Acceptance, ts)
            }
        };
        results.push(PresentationContextResult { id: pc.id, reason, transfer_syntax: ts.to_string() });
    }

    let mut user_variables = vec![
        UserVariableItem::MaxLength(dimse.max_pdu_length),
        UserVariableItem::ImplementationClassUID(yunying_archive::meta::IMPLEMENTATION_CLASS_UID.to_string()),
        UserVariableItem::ImplementationVersionName(yunying_archive::meta::IMPLEMENTATION_VERSION_NAME.to_string()),
    ];
    // Role selection: we accept the roles proposed for SOP classes we took.
    for (uid, r) in &roles {
        if accepted.contexts.iter().any(|c| &c.abstract_syntax == uid) {
            user_variables.push(UserVariableItem::ScuScpRoleSelectionSubItem(uid.clone(), *r));
        }
    }
    // Extended negotiation: relational queries and retrieval (we match keys
    // at any level at or above the query level), combined date-time and
    // fuzzy person-name matching.
    for (uid, bytes) in &extended {
        let Some(service) = accepted.contexts.iter().find(|c| &c.abstract_syntax == uid).map(|c| c.service) else {
            continue;
        };
        let reply: Vec<u8> = match service {
            Service::Find { .. } => {
                let reply: Vec<u8> = bytes.iter().take(3).map(|b| u8::from(*b == 1)).collect();
                accepted.find.combined_datetime |= reply.get(1) == Some(&1);
                accepted.find.fuzzy_names |= reply.get(2) == Some(&1);
                reply
            }
            Service::Move { .. } | Service::Get { .. } => bytes.iter().take(1).map(|b| u8::from(*b == 1)).collect(),
            _ => continue,
        };
        if !reply.is_empty() {
            user_variables.push(UserVariableItem::SopClassExtendedNegotiationSubItem(uid.clone(), reply));
        }
    }

    let ac = Pdu::AssociationAC(AssociationAC {
        protocol_version: 1,
        calling_ae_title: rq.calling_ae_title,
        called_ae_title: rq.called_ae_title,
        application_context_name: APPLICATION_CONTEXT.to_string(),
        presentation_contexts: results,
        user_variables,
    });
    Negotiated::Accept { ac: Box::new(ac), caller, accepted }
}

/// Explicit VR Little Endian if proposed, else Implicit.
fn little_endian<'a>(proposed: impl Iterator<Item = &'a str> + Clone) -> Option<&'a str> {
    [EXPLICIT_VR_LE, IMPLICIT_VR_LE].into_iter().find_map(|pref| proposed.clone().map(trim_uid).find(|ts| *ts == pref))
}
