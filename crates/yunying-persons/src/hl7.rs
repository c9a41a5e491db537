//! The hospital MPI's HL7 v2 ADT feed, applied to the EMPI: registrations
//! and updates (A01/A04/A05/A08/A28/A31) record identities, A40 merges
//! the prior patient's person into the survivor's, A24 links two
//! patients, A37 puts the second in a person of its own.
//!
//! An identity's issuer is its identifier's assigning authority (PID-3.4),
//! else the sending facility (MSH-4). `PI`/`MR` (or untyped) identifiers
//! are identities; national ID (`NNCHN`, `NI`) and insurance (`SS`, `HC`…)
//! identifiers are digested into them, never kept.

use yunying_hl7::adt::{Identifier, IdentifierKind, NameRepresentation};
use yunying_hl7::{AckDecision, AdtAction, AdtError, AdtEvent, ErrorCode, Patient};

use crate::{IdentityInput, Persons, PersonsError};

/// Apply one message; the ACK to send.
pub async fn apply(persons: &Persons, message: Result<AdtEvent, AdtError>) -> AckDecision {
    let event = match message {
        Ok(event) => event,
        Err(e) => return AckDecision::from_error(&e),
    };
    let facility = event.header.sending_facility.namespace_id.clone();
    let actor = format!("hl7:{}", if facility.is_empty() { "unknown" } else { facility.as_str() });
    let result = match &event.action {
        AdtAction::Update(patient) => update(persons, patient, &facility).await,
        AdtAction::Merge(merges) => {
            let mut result = Ok(());
            for m in merges {
                let (Some(survivor), Some(prior)) = (local(&m.survivor.identifiers, &facility), local(&m.prior_identifiers, &facility))
                else {
                    result = Err(PersonsError::Invalid("PID-3 or MRG-1 names no patient identifier".into()));
                    break;
                };
                if let Err(e) = update(persons, &m.survivor, &facility).await {
                    result = Err(e);
                    break;
                }
                if let Err(e) = persons.merge((&prior.0, &prior.1), (&survivor.0, &survivor.1), &actor, "hl7").await {
                    result = Err(e);
                    break;
                }
            }
            result
        }
        AdtAction::Link { patient, other } => match (local(&patient.identifiers, &facility), local(&other.identifiers, &facility)) {
            (Some(a), Some(b)) => persons.merge((&b.0, &b.1), (&a.0, &a.1), &actor, "hl7").await.map(|_| ()),
            _ => Err(PersonsError::Invalid("both PIDs must name a patient identifier".into())),
        },
        AdtAction::Unlink { other, .. } => match local(&other.identifiers, &facility) {
            Some(b) => persons.unlink((&b.0, &b.1), &actor, "hl7").await.map(|_| ()),
            None => Err(PersonsError::Invalid("the second patient names no patient identifier".into())),
        },
    };
    match result {
        Ok(()) => AckDecision::Accept,
        Err(PersonsError::UnknownIdentity) => AckDecision::Error { code: ErrorCode::UNKNOWN_KEY, text: "unknown patient".into() },
        Err(PersonsError::Invalid(why)) => AckDecision::Error { code: ErrorCode::REQUIRED_FIELD_MISSING, text: why },
        Err(PersonsError::Index(e)) => {
            tracing::warn!(error = %e, control_id = %event.header.control_id, "HL7 message not applied");
            AckDecision::Error { code: ErrorCode::INTERNAL, text: "not applied; send again".into() }
        }
    }
}

/// The first local identifier (issuer, Patient ID) of a list.
fn local(ids: &[Identifier], facility: &str) -> Option<(String, String)> {
    ids.iter()
        .find(|i| {
            matches!(i.kind, IdentifierKind::PatientInternal | IdentifierKind::MedicalRecord | IdentifierKind::Other) && !i.id.is_empty()
        })
        .map(|i| (issuer(i, facility), i.id.clone()))
}

fn issuer(id: &Identifier, facility: &str) -> String {
    if id.authority.namespace_id.is_empty() { facility.to_string() } else { id.authority.namespace_id.clone() }
}

/// Record the patient's local identity with what the message says of it.
async fn update(persons: &Persons, patient: &Patient, facility: &str) -> Result<(), PersonsError> {
    let Some((issuer, patient_id)) = local(&patient.identifiers, facility) else {
        return Err(PersonsError::Invalid("PID-3 names no patient identifier".into()));
    };
    let of = |kind: fn(&IdentifierKind) -> bool| patient.identifiers.iter().filter(|i| kind(&i.kind)).map(|i| i.id.clone()).collect();
    let input = IdentityInput {
        issuer,
        patient_id,
        name: if patient.name(NameRepresentation::Alphabetic).is_some() || patient.name(NameRepresentation::Ideographic).is_some() {
            patient.dicom_name()
        } else {
            patient.names.first().map(|n| format!("{}^{}", n.family, n.given)).unwrap_or_default()
        },
        birth_date: patient.birth_date.as_ref().and_then(|b| b.dicom_date()).unwrap_or_default(),
        sex: patient.sex.as_ref().map(|s| s.dicom().to_string()).unwrap_or_default(),
        national_ids: of(|k| matches!(k, IdentifierKind::National { .. })),
        insurance_codes: of(|k| matches!(k, IdentifierKind::Insurance)),
        phones: patient.phones.iter().map(|p| p.number.clone()).collect(),
        address: patient.addresses.first().map(|a| format!("{}{}{}", a.state, a.city, a.street)).unwrap_or_default(),
    };
    persons.put_identity(&input, "hl7").await.map(|_| ())
}
