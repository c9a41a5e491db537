//! The one event schema: everything security-relevant, from a sign-in to
//! an instance ingested, is an [`Event`].
//!
//! An event's body is its JSON in field order (`serde_json` of this
//! struct; maps sorted). The ledger hashes the body exactly as stored, so
//! a reader never has to re-serialise to check it.
//!
//! No patient data: a patient appears as the index's key and a keyed
//! digest of (issuer, PatientID), never as a name or an ID.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The schema's version, first in every body.
pub const SCHEMA_VERSION: u32 = 1;

/// Longest free-text detail kept in an event (characters).
pub const MAX_DETAIL_CHARS: usize = 2_000;

/// Most studies one event names (a query answering more names none).
pub const MAX_EVENT_STUDIES: usize = 1_000;

/// One security-relevant event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// Schema version ([`SCHEMA_VERSION`]).
    pub v: u32,
    /// When, in milliseconds since the Unix epoch.
    pub at_ms: i64,
    /// Which node recorded it.
    pub node: String,
    /// What happened (`sign-in`, `study-viewed`, `query`, `ingest`, …).
    pub event: String,
    /// `ok`, `denied`, `refused`, `failed`, `started`.
    pub result: String,
    /// Who: `person:ID`, `key:ID`, `ae:TITLE`, `film:ID`, `config:NAME`,
    /// `anonymous`, `system`, `unknown`.
    pub principal: String,
    /// The principal's institution (issuer), or "" for the platform.
    pub institution: String,
    /// Through what: `grant:ID`, `session:ID`, or "".
    pub via: String,
    /// Client address (or the calling AE's address).
    pub client: String,
    /// Studies the event concerns.
    pub studies: Vec<String>,
    /// Patients the event concerns.
    pub patients: Vec<PatientRef>,
    /// Free text: reasons typed by the actor, ids, counts. Never patient data.
    pub detail: String,
    /// Structured facts of the event kind: a query's keys and count, an
    /// instance's digests and sender, a rendition's size.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub facts: BTreeMap<String, serde_json::Value>,
}

/// A patient named by an event: the index's key and a keyed digest of
/// (issuer, PatientID) that stays the same when the index row goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PatientRef {
    pub key: i64,
    pub digest: String,
}

impl Event {
    /// A new event of kind `event` by `principal` with result `result`.
    pub fn new(event: &str, principal: &str, result: &str) -> Event {
        Event {
            v: SCHEMA_VERSION,
            event: event.to_string(),
            principal: principal.to_string(),
            result: result.to_string(),
            ..Default::default()
        }
    }

    pub fn institution(mut self, institution: Option<&str>) -> Event {
        self.institution = institution.unwrap_or_default().to_string();
        self
    }

    pub fn via(mut self, via: &str) -> Event {
        self.via = via.to_string();
        self
    }

    pub fn client(mut self, client: &str) -> Event {
        self.client = client.to_string();
        self
    }

    pub fn studies(mut self, studies: &[String]) -> Event {
        self.studies = studies.to_vec();
        self
    }

    pub fn detail(mut self, detail: &str) -> Event {
        self.detail = detail.to_string();
        self
    }

    pub fn fact(mut self, name: &str, value: impl Into<serde_json::Value>) -> Event {
        self.facts.insert(name.to_string(), value.into());
        self
    }

    /// Bring the event within its bounds (detail length, studies count).
    pub(crate) fn bound(&mut self) {
        if self.detail.chars().count() > MAX_DETAIL_CHARS {
            self.detail = self.detail.chars().take(MAX_DETAIL_CHARS).collect::<String>() + "…";
        }
        if self.studies.len() > MAX_EVENT_STUDIES {
            let n = self.studies.len();
            self.studies.truncate(MAX_EVENT_STUDIES);
            self.facts.insert("studies_total".into(), n.into());
        }
    }

    /// The canonical body (what the ledger hashes).
    pub fn body(&self) -> String {
        serde_json::to_string(self).expect("an event always serialises")
    }

    /// An event from its body.
    pub fn parse(body: &str) -> Result<Event, serde_json::Error> {
        serde_json::from_str(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_reads_back_as_the_same_event_and_is_stable() {
        let e = Event::new("query", "person:u1", "ok")
            .institution(Some("H1"))
            .client("10.0.0.1")
            .studies(&["1.2.3".into()])
            .fact("count", 3)
            .fact("level", "STUDY");
        let body = e.body();
        assert_eq!(Event::parse(&body).unwrap(), e);
        assert_eq!(Event::parse(&body).unwrap().body(), body, "serialising again gives the same bytes");
        assert!(body.starts_with("{\"v\":1,"), "{body}");
    }

    #[test]
    fn an_event_is_bounded() {
        let mut e = Event::new("x", "p", "ok").detail(&"长".repeat(5000));
        e.studies = (0..1500).map(|i| format!("1.2.{i}")).collect();
        e.bound();
        assert_eq!(e.detail.chars().count(), MAX_DETAIL_CHARS + 1);
        assert_eq!(e.studies.len(), MAX_EVENT_STUDIES);
        assert_eq!(e.facts["studies_total"], 1500);
    }
}
