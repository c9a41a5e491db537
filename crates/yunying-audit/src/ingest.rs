//! Instances received, as `ingest` events: who sent them (principal,
//! calling AE, client), into which studies, and per instance its SOP
//! Instance UID, SOP Class UID and digests. Never patient data.
//!
//! STOW-RS records one event per request and result ([`event`]); C-STORE
//! instances are gathered per association, study and result
//! ([`Batches`]) and recorded when the association ends, when a batch
//! holds [`MAX_INSTANCES`], or [`FLUSH_MS`] after its first instance.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use serde::Serialize;

use crate::event::Event;

/// Most instances one `ingest` event names.
pub const MAX_INSTANCES: usize = 1_000;

/// A C-STORE batch is recorded at most this long after its first instance.
pub const FLUSH_MS: i64 = 5_000;

/// Most batches held at once (every association, study and result);
/// beyond it every batch is recorded at the next tick.
pub const MAX_BATCHES: usize = 10_000;

/// One instance received (stored, or refused).
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Received {
    pub sop_instance_uid: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sop_class_uid: String,
    /// SHA-256 of the stored object, hex ("" when refused).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub sha256: String,
    /// SM3 (GB/T 32905) of the stored object, hex. Computed after the
    /// sender heard success, so an `ingest` event has none; the
    /// `digest-recorded` event ([`digests_event`]) names it with the
    /// SHA-256 it belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sm3: Option<String>,
    /// The same SOP Instance UID was already stored and kept.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub duplicate: bool,
    /// The DIMSE status of a refusal (e.g. 0124, A700, C000), hex.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// The study it belongs to ("" when refused before it was read).
    #[serde(skip)]
    pub study: String,
}

/// Who sent a batch of instances, and how.
#[derive(Debug, Clone, Default, Hash, PartialEq, Eq)]
pub struct Sender {
    pub principal: String,
    pub institution: Option<String>,
    /// The calling AE title (C-STORE), or "" (STOW-RS).
    pub calling_ae: String,
    pub client: String,
    /// `c-store` or `stow-rs`.
    pub face: &'static str,
}

/// The `ingest` event of `instances` sent by `sender`: result `ok` for
/// stored instances, `refused` for refused ones.
pub fn event(sender: &Sender, result: &str, instances: &[Received]) -> Event {
    let studies: BTreeSet<&str> = instances.iter().map(|r| r.study.as_str()).filter(|s| !s.is_empty()).collect();
    let studies: Vec<String> = studies.into_iter().map(str::to_string).collect();
    let mut e = Event::new("ingest", &sender.principal, result)
        .institution(sender.institution.as_deref())
        .client(&sender.client)
        .studies(&studies)
        .fact("face", sender.face)
        .fact("count", instances.len())
        .fact("instances", serde_json::to_value(instances).unwrap_or_default());
    if !sender.calling_ae.is_empty() {
        e = e.fact("calling_ae", sender.calling_ae.as_str());
    }
    e
}

/// The `digest-recorded` event of instances whose SM3 was computed after
/// ingest (principal `system`): per instance its SOP Instance UID, the
/// SHA-256 its `ingest` event named and the SM3 of the same bytes.
pub fn digests_event(instances: &[Received]) -> Event {
    let studies: BTreeSet<&str> = instances.iter().map(|r| r.study.as_str()).filter(|s| !s.is_empty()).collect();
    let studies: Vec<String> = studies.into_iter().map(str::to_string).collect();
    Event::new("digest-recorded", "system", "ok")
        .studies(&studies)
        .fact("algorithm", "sm3")
        .fact("count", instances.len())
        .fact("instances", serde_json::to_value(instances).unwrap_or_default())
}

#[derive(Hash, PartialEq, Eq, Clone)]
struct Key {
    association: u64,
    study: String,
    refused: bool,
    sender: Sender,
}

struct Batch {
    first_ms: i64,
    instances: Vec<Received>,
}

/// C-STORE instances waiting to be recorded, per association, study and
/// result.
#[derive(Default)]
pub struct Batches {
    batches: Mutex<HashMap<Key, Batch>>,
}

impl Batches {
    /// Add one instance; the events of batches that are full.
    pub fn add(&self, association: u64, sender: &Sender, received: Received, now: i64) -> Vec<Event> {
        let key = Key { association, study: received.study.clone(), refused: !received.status.is_empty(), sender: sender.clone() };
        let mut batches = self.batches.lock().expect("ingest batches lock");
        let batch = batches.entry(key.clone()).or_insert_with(|| Batch { first_ms: now, instances: Vec::new() });
        batch.instances.push(received);
        if batch.instances.len() < MAX_INSTANCES {
            return Vec::new();
        }
        let batch = batches.remove(&key).expect("just added");
        vec![batch_event(&key, batch)]
    }

    /// The events of batches that are due at `now`: those of `association`
    /// (it ended), those older than [`FLUSH_MS`], or all when `all`.
    pub fn take(&self, association: Option<u64>, all: bool, now: i64) -> Vec<Event> {
        let mut batches = self.batches.lock().expect("ingest batches lock");
        let all = all || batches.len() > MAX_BATCHES;
        let due: Vec<Key> = batches
            .iter()
            .filter(|(k, b)| all || Some(k.association) == association || now - b.first_ms >= FLUSH_MS)
            .map(|(k, _)| k.clone())
            .collect();
        due.into_iter().filter_map(|k| batches.remove(&k).map(|b| batch_event(&k, b))).collect()
    }
}

fn batch_event(key: &Key, batch: Batch) -> Event {
    let mut e = event(&key.sender, if key.refused { "refused" } else { "ok" }, &batch.instances);
    e.at_ms = batch.first_ms;
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sender() -> Sender {
        Sender { principal: "ae:CT1".into(), calling_ae: "CT1".into(), client: "10.0.0.5".into(), face: "c-store", ..Default::default() }
    }

    fn instance(study: &str, n: usize) -> Received {
        Received {
            sop_instance_uid: format!("1.2.3.{n}"),
            sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
            sha256: "ab".repeat(32),
            study: study.into(),
            ..Default::default()
        }
    }

    #[test]
    fn an_association_is_one_event_per_study_and_result() {
        let b = Batches::default();
        for n in 0..10 {
            assert!(b.add(1, &sender(), instance("1.2.1", n), 0).is_empty());
        }
        b.add(1, &sender(), instance("1.2.2", 99), 0);
        b.add(1, &sender(), Received { status: "0124".into(), ..instance("", 100) }, 0);
        b.add(2, &sender(), instance("1.2.1", 200), 0);
        assert!(b.take(None, false, 1_000).is_empty(), "not due yet");
        let mut events = b.take(Some(1), false, 1_000);
        events.sort_by_key(|e| (e.result.clone(), e.studies.clone()));
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].studies, vec!["1.2.1".to_string()]);
        assert_eq!(events[0].facts["count"], 10);
        assert_eq!(events[0].facts["calling_ae"], "CT1");
        assert_eq!(events[0].facts["instances"][0]["sop_instance_uid"], "1.2.3.0");
        assert_eq!(events[2].result, "refused");
        assert!(events[2].studies.is_empty());
        assert_eq!(events[2].facts["instances"][0]["status"], "0124");
        assert_eq!(b.take(None, false, FLUSH_MS).len(), 1, "the other association's batch, once due");
    }

    #[test]
    fn a_batch_holds_at_most_a_thousand_instances() {
        let b = Batches::default();
        let mut events = Vec::new();
        for n in 0..2_500 {
            events.extend(b.add(1, &sender(), instance("1.2.1", n), 0));
        }
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|e| e.facts["count"] == MAX_INSTANCES));
        assert_eq!(b.take(Some(1), false, 0)[0].facts["count"], 500);
    }
}
