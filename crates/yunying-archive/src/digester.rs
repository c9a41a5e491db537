//! SM3 off the acknowledgement path.
//!
//! Ingest acknowledges an instance once its object is fsynced and its index
//! row (with the SHA-256) committed; the row's SM3 is left empty, and the
//! empty column is the queue ([`yunying_index::PendingDigest`]): it
//! survives a crash. The digester reads each such object back, checks that
//! it still has the SHA-256 the row records, computes its SM3 and records
//! it; the caller of [`run`] is told what was recorded (the node records it
//! in the audit ledger beside the instance's `ingest` event).
//!
//! Work comes two ways: instances this node just stored, handed over at
//! once in memory ([`Archive::digest_later`], at most [`QUEUE`] waiting;
//! past that they wait for the sweep), and a sweep of rows without an SM3
//! older than `[archive] digest_grace_secs` (from before a crash, from a
//! node that stopped, or from the queue's overflow), every half of that
//! (at most [`SWEEP`]). Hashing runs on one
//! thread of its own at the lowest CPU priority: when the machine is busy
//! receiving, the senders come first and the digests catch up after.
//! Two nodes may hash the same row; the index records the first and the
//! second is not reported again.

use std::io;
use std::sync::Mutex;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{mpsc, oneshot};
use yunying_index::PendingDigest;

use crate::digests::ObjectHasher;
use crate::{Archive, ObjectReader};

/// Instances waiting in memory for their SM3 at most; past it they are
/// found by the sweep.
pub const QUEUE: usize = 10_000;

/// Instances hashed, then recorded in one index transaction, at most.
pub const BATCH: usize = 64;

/// Instances handed over are gathered this long (or until [`BATCH`]) before
/// they are hashed and recorded: one index commit and one ledger event for
/// many, instead of an fsync or two per instance beside the ingest's own.
pub const GATHER: Duration = Duration::from_secs(1);

/// Rows without an SM3 are looked for at least this often.
pub const SWEEP: Duration = Duration::from_secs(30);

/// An SM3 computed and recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digested {
    pub sop_instance_uid: String,
    pub study_instance_uid: String,
    /// SHA-256 (hex) the object still has.
    pub sha256: String,
    /// SM3 (hex) of the same bytes.
    pub sm3: String,
}

/// The in-memory hand-over from ingest to the digester.
pub(crate) struct Queue {
    tx: mpsc::Sender<PendingDigest>,
    rx: Mutex<Option<mpsc::Receiver<PendingDigest>>>,
}

impl Default for Queue {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        Queue { tx, rx: Mutex::new(Some(rx)) }
    }
}

impl Archive {
    /// Hand a just-stored instance to the digester. Never waits: when the
    /// queue is full (or no digester runs) the sweep finds the row later.
    pub(crate) fn digest_later(&self, pending: PendingDigest) {
        let _ = self.inner.digests.tx.try_send(pending);
    }
}

/// Compute and record the SM3 of every instance stored without one, until
/// `stop`; `recorded` is called with each batch recorded. Only the first
/// call per archive runs (the others return at once).
pub async fn run<F, Fut>(archive: Archive, stop: impl std::future::Future<Output = ()>, recorded: F)
where
    F: Fn(Vec<Digested>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let Some(mut rx) = archive.inner.digests.rx.lock().expect("digest queue lock").take() else {
        return;
    };
    let hasher = Hasher::start(archive.clone());
    let grace_ms = archive.config().digest_grace_secs.saturating_mul(1000).min(i64::MAX as u64) as i64;
    let every = Duration::from_millis((grace_ms as u64 / 2).max(1_000)).min(SWEEP);
    let mut sweep = tokio::time::interval(every);
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    let mut queued = Vec::with_capacity(BATCH);
    // Where the sweep goes on from (0: a new pass).
    let mut cursor = 0;
    loop {
        let batch = tokio::select! {
            biased;
            _ = &mut stop => break,
            n = rx.recv_many(&mut queued, BATCH) => {
                if n == 0 {
                    break;
                }
                let until = tokio::time::Instant::now() + GATHER;
                while queued.len() < BATCH {
                    let room = BATCH - queued.len();
                    match tokio::time::timeout_at(until, rx.recv_many(&mut queued, room)).await {
                        Ok(n) if n > 0 => {}
                        _ => break,
                    }
                }
                std::mem::take(&mut queued)
            }
            _ = sweep.tick() => {
                let before = now_ms().saturating_sub(grace_ms);
                match archive.index().pending_digests(cursor, before, BATCH as i64).await {
                    Ok(rows) if rows.len() == BATCH => {
                        // More to come: go on at once from the last row.
                        cursor = rows.last().map_or(0, |r| r.id);
                        sweep.reset_immediately();
                        rows
                    }
                    Ok(rows) => {
                        cursor = 0;
                        rows
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "could not look for instances without an SM3");
                        continue;
                    }
                }
            }
        };
        if batch.is_empty() {
            continue;
        }
        let Some(done) = hasher.hash(batch).await else { break };
        if done.is_empty() {
            continue;
        }
        let entries: Vec<(String, String, String)> =
            done.iter().map(|(p, sm3)| (p.sop_instance_uid.clone(), p.object_key.clone(), sm3.clone())).collect();
        match archive.index().record_digests(&entries).await {
            Ok(set) => {
                let recorded_now: Vec<Digested> = done
                    .into_iter()
                    .zip(set)
                    .filter(|(_, set)| *set)
                    .map(|((p, sm3), _)| Digested {
                        sop_instance_uid: p.sop_instance_uid,
                        study_instance_uid: p.study_instance_uid,
                        sha256: p.sha256,
                        sm3,
                    })
                    .collect();
                archive.metrics().digests_recorded_total.fetch_add(recorded_now.len() as u64, Relaxed);
                if !recorded_now.is_empty() {
                    recorded(recorded_now).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not record SM3 digests; the sweep tries again"),
        }
    }
}

type Job = (Vec<PendingDigest>, oneshot::Sender<Vec<(PendingDigest, String)>>);

/// The hashing thread, at the lowest CPU priority.
struct Hasher {
    tx: std::sync::mpsc::Sender<Job>,
}

impl Hasher {
    fn start(archive: Archive) -> Hasher {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let spawned = std::thread::Builder::new().name("yunying-sm3".into()).spawn(move || {
            lowest_priority();
            while let Ok((batch, reply)) = rx.recv() {
                let done = batch.into_iter().filter_map(|p| digest(&archive, p)).collect();
                let _ = reply.send(done);
            }
        });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the SM3 thread; digests wait for the next start");
        }
        Hasher { tx }
    }

    /// The SM3 of each object that still has its recorded SHA-256; `None`
    /// when the thread is gone.
    async fn hash(&self, batch: Vec<PendingDigest>) -> Option<Vec<(PendingDigest, String)>> {
        let (reply, done) = oneshot::channel();
        self.tx.send((batch, reply)).ok()?;
        done.await.ok()
    }
}

/// Read the object back and hash it; `None` when it is gone (deleted or
/// replaced since) or no longer what was stored.
fn digest(archive: &Archive, pending: PendingDigest) -> Option<(PendingDigest, String)> {
    let read = || -> io::Result<crate::digests::ObjectDigests> {
        let mut reader = ObjectReader::open(&**archive.store(), &pending.object_key)?;
        let mut hasher = ObjectHasher::new();
        io::copy(&mut reader, &mut hasher)?;
        Ok(hasher.finalize())
    };
    match read() {
        Ok(d) if d.sha256_hex() == pending.sha256 => {
            let sm3 = d.sm3_hex();
            Some((pending, sm3))
        }
        Ok(_) => {
            archive.metrics().digest_mismatches_total.fetch_add(1, Relaxed);
            tracing::warn!("an object read back for its SM3 no longer has its recorded SHA-256; `yunying verify` names it");
            None
        }
        Err(e) => {
            tracing::debug!(error = %e, "an object waiting for its SM3 could not be read (deleted or replaced since?)");
            None
        }
    }
}

/// Lower the calling thread's CPU priority as far as it goes (Linux keeps
/// a nice value per thread).
#[cfg(target_os = "linux")]
fn lowest_priority() {
    // SAFETY: setpriority with the calling thread's id changes only that
    // thread's nice value; a failure leaves it as it was.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 19);
    }
}

#[cfg(not(target_os = "linux"))]
fn lowest_priority() {}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
