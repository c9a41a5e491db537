//! Events recorded just after the answer instead of before it: a search
//! (QIDO-RS, C-FIND) is answered without waiting for its `query` event's
//! commit, and the batching task ([`crate::Audit::run_batcher`]) appends
//! every waiting event at once, so concurrent searches share one commit
//! (one fsync) instead of each paying for its own.
//!
//! The task waits [`HOLD_MS`] after the first event of a group arrives,
//! and events in a group that are the same but for their time (a viewer's
//! worklist asked again and again by the same person from the same place,
//! with the same answer count) become one event that says how many times
//! and until when (`times`, `last_ms`): a search repeated 300 times in a
//! quarter second is one record, not 300, as a series scrolled in the
//! viewer is one `study-viewed` event.
//!
//! Bounded: at most [`MAX_WAITING`] events wait; past that an event is
//! recorded before the answer, as any other (the caller waits: nothing is
//! dropped). Without a running batching task (the command line, tests of
//! the library) nothing waits at all. A node that crashes loses the events
//! of the last commit in flight, as it loses the views of a sitting not yet
//! closed ([`crate::batch`]); a graceful stop records them.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use crate::event::Event;

/// Most events waiting at once.
pub const MAX_WAITING: usize = 10_000;

/// Most events taken for one commit.
pub const MAX_GROUP: usize = 500;

/// How long the batching task lets events gather before it records them.
pub const HOLD_MS: u64 = 250;

/// The waiting events and the batching task's wake-up.
#[derive(Default)]
pub struct Soon {
    waiting: Mutex<VecDeque<Event>>,
    wake: Notify,
    /// A batching task is running and will drain the queue.
    draining: AtomicBool,
}

impl Soon {
    /// Queue `event`; gives it back when it must be recorded now (no
    /// batching task, or the queue is full).
    pub fn push(&self, event: Event) -> Option<Event> {
        if !self.draining.load(Ordering::Acquire) {
            return Some(event);
        }
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if waiting.len() >= MAX_WAITING {
            return Some(event);
        }
        waiting.push_back(event);
        drop(waiting);
        self.wake.notify_one();
        None
    }

    /// The next events to record (at most [`MAX_GROUP`] taken), oldest
    /// first, repeats folded into one ([`fold`]).
    pub fn take(&self) -> Vec<Event> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let n = waiting.len().min(MAX_GROUP);
        let group: Vec<Event> = waiting.drain(..n).collect();
        drop(waiting);
        fold(group)
    }

    /// Wait until an event is queued.
    pub async fn queued(&self) {
        self.wake.notified().await
    }

    /// The batching task started (`true`) or stopped (`false`): events
    /// pushed after it stopped are recorded by their callers.
    pub fn set_draining(&self, on: bool) {
        self.draining.store(on, Ordering::Release);
    }
}

/// Events that are the same but for their time, as one: the first's,
/// with `times` (how many) and `last_ms` (the last one's time). Order is
/// that of each one's first.
fn fold(group: Vec<Event>) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::with_capacity(group.len());
    let mut seen: HashMap<String, usize> = HashMap::new();
    for event in group {
        let at_ms = event.at_ms;
        let key = Event { at_ms: 0, ..event.clone() }.body();
        match seen.get(&key) {
            Some(&i) => {
                let first = &mut out[i];
                let times = first.facts.get("times").and_then(|t| t.as_u64()).unwrap_or(1) + 1;
                first.facts.insert("times".into(), times.into());
                first.facts.insert("last_ms".into(), at_ms.max(first.at_ms).into());
            }
            None => {
                seen.insert(key, out.len());
                out.push(event);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_drain_nothing_waits_and_a_full_queue_gives_the_event_back() {
        let soon = Soon::default();
        assert!(soon.push(Event::new("query", "p", "ok")).is_some(), "no batching task: recorded by the caller");
        soon.set_draining(true);
        for i in 0..MAX_WAITING {
            assert!(soon.push(Event::new("query", &format!("p{i}"), "ok")).is_none());
        }
        let back = soon.push(Event::new("query", "last", "ok")).expect("the queue is full: the caller records it");
        assert_eq!(back.principal, "last");
        let first = soon.take();
        assert_eq!(first.len(), MAX_GROUP);
        assert_eq!(first[0].principal, "p0", "oldest first");
        let mut rest = 0;
        loop {
            let group = soon.take();
            if group.is_empty() {
                break;
            }
            rest += group.len();
        }
        assert_eq!(rest, MAX_WAITING - MAX_GROUP);
    }

    fn query(principal: &str, at_ms: i64, count: u64) -> Event {
        let mut e = Event::new("query", principal, "ok").client("10.0.0.7").fact("keys", serde_json::json!({"ModalitiesInStudy": "CT"}));
        e = e.fact("count", count);
        e.at_ms = at_ms;
        e
    }

    #[test]
    fn repeats_in_a_group_are_one_event_that_says_how_many_and_until_when() {
        let soon = Soon::default();
        soon.set_draining(true);
        for (principal, at, count) in [("p", 100, 5), ("q", 110, 5), ("p", 120, 5), ("p", 130, 4), ("p", 140, 5)] {
            assert!(soon.push(query(principal, at, count)).is_none());
        }
        let got = soon.take();
        type Summary = (String, i64, Option<u64>, Option<i64>, u64);
        let summary: Vec<Summary> = got
            .iter()
            .map(|e| {
                (
                    e.principal.clone(),
                    e.at_ms,
                    e.facts.get("times").and_then(|t| t.as_u64()),
                    e.facts.get("last_ms").and_then(|t| t.as_i64()),
                    e.facts["count"].as_u64().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [("p".into(), 100, Some(3), Some(140), 5), ("q".into(), 110, None, None, 5), ("p".into(), 130, None, None, 4)],
            "same person, query and answer: one event; another person or another answer count: their own"
        );
    }
}
