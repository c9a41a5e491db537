//! The asynchronous sender: `send` formats a message and puts it in a
//! bounded queue without ever waiting; one task (owned by the sender,
//! joined by `shutdown`) takes messages off the queue and writes them to
//! the collector, reconnecting with exponential backoff when the
//! connection fails. Queued messages go out in batches of up to 64 KiB
//! (one write and flush); a message is taken off the queue only once
//! written, so a failed write is retried on the next connection (it may
//! then arrive twice: syslog has no acknowledgements).
//!
//! When the queue is full a message is dropped (the oldest or the new one,
//! as configured) and counted; a WARN line gives the count at most once per
//! `warn_interval_secs`. Log lines name the collector and counts, never a
//! message's content (it holds patient identifiers).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::config::{AtnaConfig, Overflow};
use crate::connect::{Connection, Dialer};
use crate::model::AuditMessage;
use crate::syslog::{self, Header};
use crate::{AtnaError, SendError};

const IO_TIMEOUT: Duration = Duration::from_secs(10);
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Messages written together (one TLS flush) after a burst or an outage.
const BATCH_BYTES: usize = 64 * 1024;

/// Counters since the sender started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages written to the collector.
    pub sent: u64,
    /// Messages dropped because the queue was full.
    pub dropped: u64,
    /// Messages still queued (at shutdown: given up on).
    pub queued: u64,
    /// Connections opened.
    pub connects: u64,
}

/// Sends audit messages to one collector. Create it inside a tokio
/// runtime; call `shutdown` to flush and stop it (dropping it stops the
/// task without flushing).
pub struct AuditSender {
    shared: Arc<Shared>,
    task: Mutex<Option<JoinHandle<()>>>,
}

struct Shared {
    queue: Mutex<VecDeque<Vec<u8>>>,
    wake: Notify,
    stop: Notify,
    capacity: usize,
    overflow: Overflow,
    max_bytes: usize,
    header: Header,
    closing: AtomicBool,
    deadline: Mutex<Option<Instant>>,
    sent: AtomicU64,
    dropped: AtomicU64,
    connects: AtomicU64,
}

impl AuditSender {
    /// Checks the configuration, reads the TLS files and starts the task
    /// (no connection is made until the first message).
    pub fn start(config: &AtnaConfig) -> Result<AuditSender, AtnaError> {
        let dialer = Dialer::new(config)?;
        let hostname = config.hostname.clone().unwrap_or_else(Header::local_hostname);
        let shared = Arc::new(Shared {
            queue: Mutex::new(VecDeque::new()),
            wake: Notify::new(),
            stop: Notify::new(),
            capacity: config.queue.capacity,
            overflow: config.queue.overflow,
            max_bytes: config.effective_max_message_bytes(),
            header: Header::new(&hostname, &config.app_name, &std::process::id().to_string()),
            closing: AtomicBool::new(false),
            deadline: Mutex::new(None),
            sent: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            connects: AtomicU64::new(0),
        });
        let warn_every = Duration::from_secs(config.queue.warn_interval_secs);
        let max_backoff = Duration::from_secs(config.queue.max_backoff_secs);
        let task = tokio::spawn(run(shared.clone(), dialer, warn_every, max_backoff));
        Ok(AuditSender { shared, task: Mutex::new(Some(task)) })
    }

    /// Queues `message`; never waits. A full queue drops a message (counted
    /// in `Stats::dropped`), which is not an error of this call.
    pub fn send(&self, message: &AuditMessage) -> Result<(), SendError> {
        self.send_xml(message.event.time, &message.to_xml())
    }

    /// Queues an already written audit message (XML).
    pub fn send_xml(&self, time: SystemTime, xml: &str) -> Result<(), SendError> {
        if self.shared.closing.load(Ordering::Acquire) {
            return Err(SendError::Closed);
        }
        let bytes = syslog::message(&self.shared.header, time, xml);
        if bytes.len() > self.shared.max_bytes {
            return Err(SendError::TooLarge { bytes: bytes.len(), max: self.shared.max_bytes });
        }
        let mut queue = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
        if queue.len() >= self.shared.capacity {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            match self.shared.overflow {
                Overflow::DropNewest => return Ok(()),
                Overflow::DropOldest => {
                    queue.pop_front();
                }
            }
        }
        queue.push_back(bytes);
        drop(queue);
        self.shared.wake.notify_one();
        Ok(())
    }

    /// The counters now.
    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Stops taking messages (`send` then answers `Closed`), sends what is
    /// queued for at most `timeout`, closes the connection and waits for
    /// the task. What could not be sent in time is counted in the returned
    /// `Stats::queued`. Takes `&self` so a sender shared in an `Arc` can be
    /// shut down; a second call only returns the counters.
    pub async fn shutdown(&self, timeout: Duration) -> Stats {
        *self.shared.deadline.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now() + timeout);
        self.shared.closing.store(true, Ordering::Release);
        self.shared.wake.notify_one();
        self.shared.stop.notify_one();
        let task = self.task.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(task) = task {
            let abort = task.abort_handle();
            if tokio::time::timeout(timeout + Duration::from_secs(3), task).await.is_err() {
                abort.abort();
            }
        }
        let stats = self.shared.stats();
        if stats.queued > 0 || stats.dropped > 0 {
            tracing::warn!(collector_unsent = stats.queued, dropped = stats.dropped, "atna: audit messages not delivered at shutdown");
        }
        stats
    }
}

impl Drop for AuditSender {
    fn drop(&mut self) {
        if let Some(task) = self.task.get_mut().unwrap_or_else(|p| p.into_inner()).take() {
            task.abort();
        }
    }
}

impl Shared {
    fn stats(&self) -> Stats {
        Stats {
            sent: self.sent.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            queued: self.queue.lock().unwrap_or_else(|p| p.into_inner()).len() as u64,
            connects: self.connects.load(Ordering::Relaxed),
        }
    }

    /// The oldest queued messages, up to `BATCH_BYTES` together (at least
    /// one), copied: they leave the queue only once written.
    fn batch(&self) -> Vec<Vec<u8>> {
        let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        let mut bytes = 0;
        let mut batch = Vec::new();
        for m in queue.iter() {
            if !batch.is_empty() && bytes + m.len() > BATCH_BYTES {
                break;
            }
            bytes += m.len();
            batch.push(m.clone());
        }
        batch
    }

    /// Removes the messages just written, unless the queue dropped them
    /// meanwhile (drop-oldest on a full queue).
    fn written(&self, batch: &[Vec<u8>]) {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        for message in batch {
            if queue.front().is_some_and(|m| m == message) {
                queue.pop_front();
            }
        }
        drop(queue);
        self.sent.fetch_add(batch.len() as u64, Ordering::Relaxed);
    }

    /// How long we may still wait, when shutting down.
    fn remaining(&self) -> Option<Duration> {
        let deadline = *self.deadline.lock().unwrap_or_else(|p| p.into_inner());
        deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }
}

async fn run(shared: Arc<Shared>, dialer: Dialer, warn_every: Duration, max_backoff: Duration) {
    let mut connection: Option<Connection> = None;
    let mut backoff = FIRST_BACKOFF;
    let mut failing_since: Option<Instant> = None;
    let mut last_warn = Instant::now();
    let mut dropped_reported = 0;
    loop {
        if last_warn.elapsed() >= warn_every {
            let dropped = shared.dropped.load(Ordering::Relaxed);
            if dropped > dropped_reported {
                tracing::warn!(
                    collector = dialer.address(),
                    dropped = dropped - dropped_reported,
                    total = dropped,
                    "atna: audit queue full, messages dropped"
                );
                dropped_reported = dropped;
            }
            last_warn = Instant::now();
        }
        let batch = shared.batch();
        if batch.is_empty() {
            if shared.closing.load(Ordering::Acquire) {
                break;
            }
            let _ = tokio::time::timeout(warn_every, shared.wake.notified()).await;
            continue;
        }
        if shared.remaining().is_some_and(|r| r.is_zero()) {
            break;
        }
        if let Some(c) = connection.as_mut()
            && c.closed_by_peer(Duration::ZERO).await
        {
            connection.take();
        }
        if connection.is_none() {
            match dialer.connect(IO_TIMEOUT.min(shared.remaining().unwrap_or(IO_TIMEOUT))).await {
                Ok(c) => {
                    shared.connects.fetch_add(1, Ordering::Relaxed);
                    if let Some(since) = failing_since.take() {
                        tracing::info!(
                            collector = dialer.address(),
                            down_secs = since.elapsed().as_secs(),
                            "atna: collector reachable again"
                        );
                    }
                    connection = Some(c);
                }
                Err(e) => {
                    if failing_since.is_none() || backoff >= max_backoff {
                        tracing::warn!(collector = dialer.address(), error = %e, queued = shared.stats().queued, "atna: cannot reach the audit collector");
                    }
                    failing_since.get_or_insert_with(Instant::now);
                    let wait = shared.remaining().map_or(backoff, |r| r.min(backoff));
                    wait_or_wake(&shared, wait).await;
                    backoff = (backoff * 2).min(max_backoff);
                    continue;
                }
            }
        }
        let Some(c) = connection.as_mut() else { continue };
        match c.send(&batch, IO_TIMEOUT).await {
            Ok(()) => {
                shared.written(&batch);
                backoff = FIRST_BACKOFF;
            }
            Err(e) => {
                tracing::warn!(collector = dialer.address(), error = %e, "atna: sending to the audit collector failed; reconnecting");
                connection.take();
                failing_since.get_or_insert_with(Instant::now);
            }
        }
    }
    if let Some(c) = connection {
        c.close().await;
    }
}

/// Sleeps for `wait`, or less when shutdown begins (so a flush does not
/// wait out a long backoff). New messages do not cut it short.
async fn wait_or_wake(shared: &Shared, wait: Duration) {
    let _ = tokio::time::timeout(wait, shared.stop.notified()).await;
}
