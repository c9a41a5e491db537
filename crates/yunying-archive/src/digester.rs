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
//!
//! With a remote store (S3), reading each object back would be a GET the
//! S3 server serves for every instance stored, on the cores that receive.
//! So ingest keeps a [`LocalCopy`] of the bytes it uploaded (a second name
//! of the spool file, in `<data>/digest/`), and the digester hashes that
//! instead: the S3 server has checked the upload against the SHA-256 the
//! digester checks the copy against, so both are the same bytes. Copies
//! take at most [`COPIES_MAX_BYTES`] of disk; past that, or for instances
//! found by the sweep, the object is read back.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
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

/// Local copies of uploaded objects waiting for their SM3 take at most this
/// much disk (about 500 CT slices); past it, objects are read back.
pub const COPIES_MAX_BYTES: u64 = 256 << 20;

/// An instance waiting for its SM3, with a local copy of its bytes when
/// ingest kept one.
pub(crate) struct Job {
    pending: PendingDigest,
    copy: Option<LocalCopy>,
}

/// A second name of an uploaded spool file, read by the digester instead
/// of the object; removed (and its bytes given back to the budget) when
/// dropped, hashed or not.
pub(crate) struct LocalCopy {
    path: PathBuf,
    bytes: u64,
    budget: Arc<AtomicU64>,
}

impl Drop for LocalCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        self.budget.fetch_sub(self.bytes, Relaxed);
    }
}

/// The in-memory hand-over from ingest to the digester.
pub(crate) struct Queue {
    tx: mpsc::Sender<Job>,
    rx: Mutex<Option<mpsc::Receiver<Job>>>,
    /// A digester runs (it took `rx`): only then are copies worth making.
    running: AtomicBool,
    /// Bytes of the local copies that exist.
    copied: Arc<AtomicU64>,
    counter: AtomicU64,
}

impl Default for Queue {
    fn default() -> Self {
        let (tx, rx) = mpsc::channel(QUEUE);
        Queue { tx, rx: Mutex::new(Some(rx)), running: AtomicBool::new(false), copied: Arc::default(), counter: AtomicU64::new(0) }
    }
}

/// Where local copies live: beside the spool (the same filesystem, so a
/// copy is a hard link), never inside it.
fn copies_dir(spool: &Path) -> PathBuf {
    spool.parent().unwrap_or(spool).join("digest")
}

/// Remove the local copies a stopped or killed server left (their rows are
/// found by the sweep). Called by a server as it starts, before any ingest.
pub fn clean_copies(archive: &Archive) -> io::Result<u64> {
    match yunying_store::clean_spool(&copies_dir(archive.spool_dir())) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(0),
        cleaned => cleaned,
    }
}

impl Archive {
    /// Hand a just-stored instance to the digester. Never waits: when the
    /// queue is full (or no digester runs) the sweep finds the row later.
    pub(crate) fn digest_later(&self, pending: PendingDigest, copy: Option<LocalCopy>) {
        let _ = self.inner.digests.tx.try_send(Job { pending, copy });
    }

    /// Keep the spool file `spool` (`bytes` long) under a second name for
    /// the digester, before a remote store's upload removes it: `None` for
    /// a local store (the digester reads the object itself from the same
    /// disk), when no digester runs, when the copies' budget is spent, or
    /// when the link cannot be made.
    pub(crate) fn digest_copy(&self, spool: &Path, bytes: u64) -> Option<LocalCopy> {
        let q = &self.inner.digests;
        if self.store().local_spool_dir().is_some() || !q.running.load(Relaxed) {
            return None;
        }
        if q.copied.fetch_add(bytes, Relaxed) + bytes > COPIES_MAX_BYTES {
            q.copied.fetch_sub(bytes, Relaxed);
            return None;
        }
        let n = q.counter.fetch_add(1, Relaxed);
        let dir = copies_dir(self.spool_dir());
        let path = dir.join(format!("copy-{}-{n}", std::process::id()));
        let linked = std::fs::hard_link(spool, &path).or_else(|e| match e.kind() {
            // The directory is made on first use (and after a clean-up).
            io::ErrorKind::NotFound => std::fs::create_dir_all(&dir).and_then(|()| std::fs::hard_link(spool, &path)),
            _ => Err(e),
        });
        // Made or not, dropping it gives its bytes back to the budget.
        let copy = LocalCopy { path, bytes, budget: q.copied.clone() };
        match linked {
            Ok(()) => Some(copy),
            Err(e) => {
                tracing::debug!(error = %e, "no local copy for the SM3; the object will be read back");
                None
            }
        }
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
    archive.inner.digests.running.store(true, Relaxed);
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
                        rows.into_iter().map(|pending| Job { pending, copy: None }).collect()
                    }
                    Ok(rows) => {
                        cursor = 0;
                        rows.into_iter().map(|pending| Job { pending, copy: None }).collect()
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

type HashJob = (Vec<Job>, oneshot::Sender<Vec<(PendingDigest, String)>>);

/// The hashing thread, at the lowest CPU priority.
struct Hasher {
    tx: std::sync::mpsc::Sender<HashJob>,
}

impl Hasher {
    fn start(archive: Archive) -> Hasher {
        let (tx, rx) = std::sync::mpsc::channel::<HashJob>();
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
    async fn hash(&self, batch: Vec<Job>) -> Option<Vec<(PendingDigest, String)>> {
        let (reply, done) = oneshot::channel();
        self.tx.send((batch, reply)).ok()?;
        done.await.ok()
    }
}

/// Hash the instance's local copy, or else read the object back and hash
/// it; `None` when it is gone (deleted or replaced since) or no longer what
/// was stored.
fn digest(archive: &Archive, job: Job) -> Option<(PendingDigest, String)> {
    let Job { pending, copy } = job;
    let read = || -> io::Result<crate::digests::ObjectDigests> {
        let mut hasher = ObjectHasher::new();
        match &copy {
            Some(copy) => io::copy(&mut std::fs::File::open(&copy.path)?, &mut hasher)?,
            None => io::copy(&mut ObjectReader::open(&**archive.store(), &pending.object_key)?, &mut hasher)?,
        };
        Ok(hasher.finalize())
    };
    match read() {
        Ok(d) if d.sha256_hex() == pending.sha256 => {
            if copy.is_some() {
                archive.metrics().digests_from_copy_total.fetch_add(1, Relaxed);
            }
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
