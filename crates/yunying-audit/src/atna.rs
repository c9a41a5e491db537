//! Ledger events as IHE ATNA audit messages (DICOM PS3.15 A.5), for a
//! hospital's audit record repository: each event the ledger records is
//! also sent, when `[audit.atna]` names a collector.
//!
//! Patients are named by the event's keyed digest (`^^^yunying-digest`),
//! not by their ID: the ledger holds no patient ID to give.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use yunying_atna::{
    ActiveParticipant, Activity, AuditMessage, AuditSource, AuthKind, EventAction, NetworkAccessPoint, ObjectRole, ObjectType, Outcome,
    Patient, Query, Study, codes, security_subject,
};

use crate::event::Event;

/// The message of an event, or `None` for kinds ATNA has no message for.
pub fn message(e: &Event, source: &AuditSource) -> Option<AuditMessage> {
    let outcome = match e.result.as_str() {
        "ok" | "started" => Outcome::Success,
        "denied" | "refused" => Outcome::MinorFailure,
        _ => Outcome::SeriousFailure,
    };
    let mut head = yunying_atna::Head::now(source, outcome);
    head.time = SystemTime::UNIX_EPOCH + Duration::from_millis(e.at_ms.max(0) as u64);
    if !e.detail.is_empty() && outcome != Outcome::Success {
        head = head.describe(e.detail.clone());
    }
    let who = actor(e);
    let studies: Vec<Study> = e.studies.iter().map(|uid| Study { uid: uid.clone(), ..Default::default() }).collect();
    let patient = patient(e);
    let kind = e.event.as_str();
    let m = match kind {
        "sign-in" => AuditMessage::user_authentication(head, AuthKind::Login, who, None),
        "sign-out" | "sign-out-everywhere" => AuditMessage::user_authentication(head, AuthKind::Logout, who, None),
        "study-viewed" | "study-accessed" | "dicomweb" => {
            AuditMessage::instances_accessed(head, EventAction::Read, who, &studies, &patient)
        }
        "retrieve" => {
            let to = ActiveParticipant::process(e.facts.get("destination").and_then(|d| d.as_str()).unwrap_or("unknown"), None);
            let from = ActiveParticipant::process(&e.node, None);
            AuditMessage::instances_transferred(head, EventAction::Read, from, to, vec![who], &studies, &patient)
        }
        "ingest" => {
            let to = ActiveParticipant::process(&e.node, None);
            AuditMessage::instances_transferred(head, EventAction::Create, who, to, Vec::new(), &studies, &patient)
        }
        "query" => {
            let q = Query {
                sop_class_uid: "1.2.840.10008.5.1.4.1.2.2.1".into(),
                query: serde_json::to_vec(&e.facts).unwrap_or_default(),
                transfer_syntax: None,
            };
            AuditMessage::query(head, who, ActiveParticipant::process(&e.node, None), &q)
        }
        "film-downloaded" | "export" => {
            let media = ActiveParticipant::new(e.client.clone(), false);
            AuditMessage::export(head, who, media, &studies, std::slice::from_ref(&patient))
        }
        "film-imported" | "import" => {
            let origin = ActiveParticipant::new(e.via.clone(), false);
            AuditMessage::import(head, who, origin, &studies, std::slice::from_ref(&patient))
        }
        "study-deleted" => AuditMessage::study_deleted(head, who, &studies, &patient),
        "node-started" | "node-stopped" => {
            let activity = if kind == "node-started" { Activity::Start } else { Activity::Stop };
            AuditMessage::application_activity(head, activity, ActiveParticipant::process(&e.node, None), None)
        }
        "audit-log-used" => AuditMessage::audit_log_used(head, who, "yunying:audit-ledger"),
        // The ledger's own bookkeeping of a digest: no one acted.
        "digest-recorded" => return None,
        _ => {
            let alert = match kind {
                "break-glass" => codes::emergency_override_started(),
                "roles-changed" => codes::security_roles_changed(),
                k if k.starts_with("account-") || k.starts_with("password-") || k.starts_with("totp-") || k.starts_with("session-") => {
                    codes::user_security_attributes_changed()
                }
                k if k.starts_with("grant-")
                    || k.starts_with("key-")
                    || k.starts_with("film-")
                    || k.starts_with("deletion-")
                    || k.starts_with("legal-hold") =>
                {
                    codes::object_security_attributes_changed()
                }
                k if k.starts_with("ae-") || k.starts_with("retention-") || k.starts_with("config") => codes::security_configuration(),
                _ => codes::use_of_restricted_function(),
            };
            let subject = security_subject(
                if e.via.is_empty() { &e.event } else { &e.via },
                yunying_atna::Code::rfc3881("12", "URI"),
                ObjectType::SystemObject,
                ObjectRole::SECURITY_RESOURCE,
                &e.event,
                (!e.detail.is_empty()).then_some(e.detail.as_str()),
            );
            AuditMessage::security_alert(head, alert, ActiveParticipant::process(&e.node, None), vec![who], vec![subject])
        }
    };
    Some(m)
}

/// The acting principal, at its client address.
fn actor(e: &Event) -> ActiveParticipant {
    let mut p = ActiveParticipant::user(e.principal.clone(), None);
    if let Ok(ip) = e.client.parse::<IpAddr>() {
        p = p.at(NetworkAccessPoint::Ip(ip));
    }
    p
}

/// The event's (first) patient, by digest.
fn patient(e: &Event) -> Patient {
    let id = e.patients.first().map_or_else(|| "unknown".to_string(), |p| format!("{}^^^yunying-digest", p.digest));
    Patient { id, name: None }
}
