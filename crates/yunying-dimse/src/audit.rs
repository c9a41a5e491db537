//! What an association puts on the access record: one `query` event per
//! C-FIND (level, keys with patient-identifying values withheld, count),
//! one `retrieve` event per C-MOVE or C-GET (destination, studies,
//! sub-operation counts), C-STORE instances as `ingest` events batched per
//! association and study (`yunying_audit::ingest`), and requests refused
//! for want of a right.

use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value as Json};
use yunying_audit::Event;
use yunying_audit::ingest::{Received, Sender};
use yunying_index::search::Level;

use crate::access::NOT_AUTHORIZED;
use crate::command::{C_FIND_RQ, C_GET_RQ, C_MOVE_RQ, C_STORE_RQ};
use crate::find::{QUERY_RETRIEVE_LEVEL, level_name, query_value};
use crate::retrieve::Progress;
use crate::service::Association;

/// Numbers associations on this node (their C-STORE batches' key).
static ASSOCIATIONS: AtomicU64 = AtomicU64::new(1);

/// A number no other association of this process has.
pub(crate) fn next_association_id() -> u64 {
    ASSOCIATIONS.fetch_add(1, Ordering::Relaxed)
}

/// The matching keys of a C-FIND identifier (non-empty values; a sequence
/// that holds any value counts as given).
fn identifier_keys(identifier: &Map<String, Json>) -> Vec<(u32, String)> {
    let mut keys = Vec::new();
    for (key, element) in identifier {
        let Ok(tag) = u32::from_str_radix(key, 16) else { continue };
        if key == QUERY_RETRIEVE_LEVEL || tag == 0x0008_0005 || tag >> 16 == 0 {
            continue;
        }
        let value = if element.get("vr").and_then(Json::as_str) == Some("SQ") {
            let item = element.get("Value").and_then(|v| v.get(0)).and_then(Json::as_object);
            if item.is_some_and(|i| i.values().any(|e| !query_value(e).is_empty())) { "(sequence)".to_string() } else { String::new() }
        } else {
            query_value(element)
        };
        keys.push((tag, value));
    }
    keys
}

/// `ok`, `denied` (0124) or `failed`, from a DIMSE status.
fn result_of(status: u16) -> &'static str {
    match status {
        0x0000 | 0xFF00 | 0xFF01 | 0xB000 | 0xFE00 => "ok",
        NOT_AUTHORIZED => "denied",
        _ => "failed",
    }
}

impl Association<'_> {
    /// An event of `kind` by the calling AE.
    fn event(&self, kind: &str, result: &str) -> Event {
        let p = &self.access.principal;
        Event::new(kind, &p.id, result)
            .institution(p.institution.as_deref())
            .client(&self.peer.ip().to_string())
            .fact("calling_ae", self.caller.calling_ae.as_str())
    }

    /// Record a C-FIND: its level and keys, the status it ended with, and
    /// how many matches went back (`None`: refused before searching).
    pub(crate) async fn record_find(&self, identifier: &Map<String, Json>, level: Option<Level>, status: u16, count: Option<usize>) {
        let keys = identifier_keys(identifier);
        let (kept, withheld) = yunying_archive::query_keys::recorded_keys(keys.iter().map(|(t, v)| (*t, v.as_str())));
        let mut e = self
            .event("query", result_of(status))
            .fact("face", "c-find")
            .fact("keys", kept)
            .fact("withheld", withheld)
            .fact("status", format!("{status:04X}"));
        if let Some(level) = level {
            e = e.fact("level", level_name(level));
        }
        if let Some(count) = count {
            e = e.fact("count", count);
        }
        self.layer.audit().record_soon(e).await;
    }

    /// Record a C-MOVE or C-GET: where to, which studies, how many
    /// instances matched and how the sub-operations went.
    pub(crate) async fn record_retrieve(&self, operation: &str, destination: &str, studies: &[String], progress: &Progress, status: u16) {
        let matched = progress.remaining as u64 + progress.completed as u64 + progress.warning as u64 + progress.failed() as u64;
        let e = self
            .event("retrieve", result_of(status))
            .studies(studies)
            .detail(&format!("{operation} of {matched} instances"))
            .fact("face", operation.to_ascii_lowercase())
            .fact("destination", destination)
            .fact("matched", matched)
            .fact("completed", progress.completed)
            .fact("warning", progress.warning)
            .fact("failed", progress.failed())
            .fact("remaining", progress.remaining)
            .fact("status", format!("{status:04X}"));
        let _ = self.layer.audit().record(e).await;
    }

    /// Record a request refused before its data set was read (the AE has
    /// no right to it). A C-STORE is an `ingest` refused.
    pub(crate) async fn record_refused_request(&self, field: u16, sop_class_uid: String, sop_instance_uid: String) {
        let kind = match field {
            C_STORE_RQ => {
                let received = Received { sop_instance_uid, sop_class_uid, status: format!("{NOT_AUTHORIZED:04X}"), ..Default::default() };
                return self.record_received(received).await;
            }
            C_FIND_RQ => "query",
            C_MOVE_RQ | C_GET_RQ => "retrieve",
            _ => "commitment",
        };
        let e = self.event(kind, "denied").detail("not among the calling AE's rights").fact("status", format!("{NOT_AUTHORIZED:04X}"));
        let _ = self.layer.audit().record(e).await;
    }

    /// Note one instance received over C-STORE (stored or refused).
    pub(crate) async fn record_received(&self, received: Received) {
        let p = &self.access.principal;
        let sender = Sender {
            principal: p.id.clone(),
            institution: p.institution.clone(),
            calling_ae: self.caller.calling_ae.clone(),
            client: self.peer.ip().to_string(),
            face: "c-store",
        };
        self.layer.audit().ingested(self.id, &sender, received).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_c_find_identifier_gives_its_matching_keys_only() {
        let identifier = json!({
            "00080052": {"vr": "CS", "Value": ["STUDY"]},
            "00080005": {"vr": "CS", "Value": ["ISO_IR 192"]},
            "00100010": {"vr": "PN", "Value": [{"Alphabetic": "Wang^Wei"}]},
            "00100020": {"vr": "LO", "Value": ["P-77"]},
            "0020000D": {"vr": "UI"},
            "00080061": {"vr": "CS", "Value": ["CT", "MR"]},
            "00101002": {"vr": "SQ", "Value": [{"00100020": {"vr": "LO", "Value": ["X-1"]}}]}
        });
        let keys = identifier_keys(identifier.as_object().unwrap());
        let (kept, withheld) = yunying_archive::query_keys::recorded_keys(keys.iter().map(|(t, v)| (*t, v.as_str())));
        assert_eq!(serde_json::Value::Object(kept), json!({"ModalitiesInStudy": "CT\\MR"}));
        assert_eq!(withheld, ["PatientName", "PatientID", "OtherPatientIDsSequence"]);
    }

    #[test]
    fn statuses_read_as_results() {
        assert_eq!(result_of(0x0000), "ok");
        assert_eq!(result_of(0xB000), "ok");
        assert_eq!(result_of(NOT_AUTHORIZED), "denied");
        assert_eq!(result_of(0xA801), "failed");
    }
}
