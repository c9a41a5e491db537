//! Events recorded just after the answer instead of before it: a search
//! (QIDO-RS, C-FIND) is answered without waiting for its `query` event's
//! commit, and the batching task ([`crate::Audit::run_batcher`]) appends
//! every waiting event at once, so concurrent searches share one commit
//! (one fsync) instead of each paying for its own.
//!
//! Bounded: at most [`MAX_WAITING`] events wait; past that an event is
//! recorded before the answer, as any other (the caller waits: nothing is
//! dropped). Without a running batching task (the command line, tests of
//! the library) nothing waits at all. A node that crashes loses the events
//! of the last commit in flight, as it loses the views of a sitting not yet
//! closed ([`crate::batch`]); a graceful stop records them.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::Notify;

use crate::event::Event;

/// Most events waiting at once.
pub const MAX_WAITING: usize = 10_000;

/// Most events taken for one commit.
pub const MAX_GROUP: usize = 500;

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

    /// The next events to record (at most [`MAX_GROUP`]), oldest first.
    pub fn take(&self) -> Vec<Event> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        let n = waiting.len().min(MAX_GROUP);
        waiting.drain(..n).collect()
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
}
