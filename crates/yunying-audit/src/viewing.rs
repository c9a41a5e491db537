//! How long a principal looked at a study, from the record: the sittings
//! of its `study-viewed` events since a moment (those in the ledger, those
//! waiting for the sequencer, and the sitting still open, which this ends
//! and records). Evidence for a decision about what was seen, such as a
//! recognition decision's "images opened".
//!
//! A sitting lasts from its first request to its last, and at least 1 ms:
//! a study opened with one request was opened. A sitting still open when
//! asked (its last request within the quiet period, `view_batch_secs`)
//! lasts until now: a viewer fetches a study's images once and then shows
//! them, so the time since is time the images were on screen (at most one
//! quiet period more than the truth, when they were closed unseen).

use std::collections::BTreeMap;

use yunying_index::LedgerFilter;

use crate::{Audit, AuditError, Event};

/// Most recorded sittings read for one answer (a doctor's sittings of one
/// study are a handful; a ledger full of them is not read whole).
const MAX_SITTINGS_READ: i64 = 10_000;
/// Most events waiting for the sequencer that are looked through.
const MAX_PENDING_READ: i64 = 10_000;

/// What the record says of a principal's looks at a study.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Viewing {
    /// Sittings (one per quiet period, grant and client).
    pub sittings: u32,
    /// Their total length, ms (0: never opened).
    pub opened_ms: i64,
}

impl Audit {
    /// `principal`'s looks at `study` since `since_ms` (see the module
    /// comment). Ends and records the principal's open sitting of it.
    pub async fn viewing(&self, principal: &str, study: &str, since_ms: i64) -> Result<Viewing, AuditError> {
        let now = crate::now_ms();
        let open = self.batch.take_of(principal, study);
        for event in &open {
            self.record(event.clone()).await?;
        }
        // A sitting may move from waiting to the ledger between the two
        // reads: keyed by (grant, client, first request), it counts once.
        let mut spans: BTreeMap<(String, String, i64), i64> = BTreeMap::new();
        let mut add = |e: &Event| {
            if e.event != "study-viewed" || e.principal != principal || !e.studies.iter().any(|s| s == study) {
                return;
            }
            let (key, last) = sitting(e);
            let first = key.2;
            if first >= since_ms {
                spans.insert(key, (last - first).max(1));
            }
        };
        for pending in self.index.pending_audit_events(MAX_PENDING_READ).await? {
            if let Ok(e) = Event::parse(&pending.body) {
                add(&e);
            }
        }
        let filter = LedgerFilter {
            study: Some(study.to_string()),
            principal: Some(principal.to_string()),
            event: Some("study-viewed".into()),
            from_ms: Some(since_ms),
            limit: MAX_SITTINGS_READ,
            ..LedgerFilter::default()
        };
        for entry in self.index.search_ledger(&filter).await? {
            if let Ok(e) = Event::parse(&entry.body) {
                add(&e);
            }
        }
        for e in &open {
            let (key, _) = sitting(e);
            let first = key.2;
            if first >= since_ms {
                spans.insert(key, (now - first).max(1));
            }
        }
        Ok(Viewing { sittings: spans.len() as u32, opened_ms: spans.values().sum() })
    }
}

/// A `study-viewed` event's sitting: (grant, client, first request) and
/// its last request.
fn sitting(e: &Event) -> ((String, String, i64), i64) {
    let first = e.facts.get("first_ms").and_then(|v| v.as_i64()).unwrap_or(e.at_ms);
    let last = e.facts.get("last_ms").and_then(|v| v.as_i64()).unwrap_or(first);
    ((e.via.clone(), e.client.clone(), first), last)
}
