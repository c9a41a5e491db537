//! Receiving one instance: spool, validate, commit, index.
//!
//! The durability contract (see ARCHITECTURE.md): `finish` returns `Ok` only
//! after (1) the Part 10 object is flushed and atomically renamed into the
//! object store, its directory fsynced, and (2) its index row is committed
//! with an fsynced WAL. Object first, row second: a crash in between leaves a
//! complete object that no row points to (adopted by `reindex`), never a row
//! without its object. With a local store the row's statements run while
//! the object is flushed; only its commit waits for the flush.

use std::fs::{self, File};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tracing::Instrument;
use tracing::field::Empty;
use yunying_index::InsertOutcome;
use yunying_store::original_key;

use crate::meta::{FileMeta, Provenance};
use crate::record::{extract_record, is_valid_uid};
use crate::{Archive, Caller, IngestError};
use sha2::{Digest, Sha256};

/// What the sender said it is sending.
#[derive(Debug, Clone)]
pub struct StoreContext {
    pub caller: Caller,
    /// Affected SOP Class UID of the request (the presentation context's class).
    pub sop_class_uid: String,
    /// Affected SOP Instance UID of the request.
    pub sop_instance_uid: String,
    /// Transfer syntax of the dataset bytes.
    pub transfer_syntax_uid: String,
    /// `dimse`, `stow` or `import`.
    pub source: &'static str,
    /// The study the instance must belong to (STOW-RS to `/studies/{uid}`).
    pub expected_study_instance_uid: Option<String>,
    /// Who sends it, for records (`ae:<AE title>`, `person:<id>`,
    /// `key:<id>`, `import`): a rejection note is recorded as theirs.
    pub principal: String,
}

/// A durably stored instance.
#[derive(Debug, Clone)]
pub struct Stored {
    pub sop_instance_uid: String,
    pub sop_class_uid: String,
    pub study_instance_uid: String,
    pub object_key: String,
    /// Hex SHA-256 of the object as received (meta header and data set).
    pub sha256: String,
    /// For a kept duplicate (`duplicate`) the digest is of the bytes
    /// received, which are the kept object's only when its key is the same
    /// version. The SM3 of the same bytes is computed after the sender has
    /// heard success ([`crate::digester`]).
    /// True when an instance with this SOP Instance UID was already stored
    /// and kept (duplicate policy `keep-first`).
    pub duplicate: bool,
}

/// An instance being received. Dropping it without `finish` discards it.
pub struct Incoming {
    archive: Archive,
    ctx: StoreContext,
    spool_path: PathBuf,
    spool: Slot,
    /// Chunks received and not yet handed to the spool's writer.
    queued: Vec<Bytes>,
    queued_len: usize,
    meta_len: u64,
    dataset_len: u64,
    received_at_ms: i64,
    started: Instant,
    finished: bool,
}

/// The spool file and the running digest of everything written to it.
struct Spool {
    file: File,
    /// SHA-256 of everything written (SM3 comes later: [`crate::digester`]).
    sha256: Sha256,
    /// Start writing each chunk to disk as it arrives: the spool file
    /// becomes the object (filesystem store), so its bytes must reach the
    /// disk anyway and the final fsync then waits for little. Off when the
    /// store is remote: the spool is only read back for the upload, and
    /// writing it to disk would compete with the store for the disk.
    writeback: bool,
}

/// Where the spool is: at hand, or being written on a blocking thread
/// (the last batch of chunks: its write and hash overlap the arrival of
/// the next).
enum Slot {
    Idle(Spool),
    Busy(tokio::task::JoinHandle<std::io::Result<Spool>>),
    Closed,
}

static SPOOL_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Received bytes are handed to the spool's writer (a blocking thread) in
/// batches of about this size: fewer thread hops than one per PDU.
const WRITE_BATCH: usize = 256 * 1024;

impl Incoming {
    pub(crate) async fn begin(archive: Archive, ctx: StoreContext) -> Result<Incoming, IngestError> {
        let received_at_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let meta = FileMeta {
            sop_class_uid: ctx.sop_class_uid.clone(),
            sop_instance_uid: ctx.sop_instance_uid.clone(),
            transfer_syntax_uid: ctx.transfer_syntax_uid.clone(),
            source_ae: ctx.caller.calling_ae.clone(),
            provenance: Some(Provenance {
                issuer: ctx.caller.issuer.clone(),
                calling_ae: ctx.caller.calling_ae.clone(),
                received_at_ms,
                source: ctx.source.to_string(),
            }),
        }
        .encode();
        let n = SPOOL_COUNTER.fetch_add(1, Relaxed);
        let spool_path = archive.inner.spool_dir.join(format!("in-{}-{n}.part", std::process::id()));
        let path = spool_path.clone();
        let meta_len = meta.len() as u64;
        let writeback = archive.store().local_spool_dir().is_some();
        let spool = blocking(move || {
            let mut file = fs::OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
            file.write_all(&meta)?;
            let sha256 = Sha256::new_with_prefix(&meta);
            Ok(Spool { file, sha256, writeback })
        })
        .await
        .map_err(|e| IngestError::io("cannot create spool file", &e))?;
        Ok(Incoming {
            archive,
            ctx,
            spool_path,
            spool: Slot::Idle(spool),
            queued: Vec::new(),
            queued_len: 0,
            meta_len,
            dataset_len: 0,
            received_at_ms,
            started: Instant::now(),
            finished: false,
        })
    }

    /// Append dataset bytes as they arrive. After an error the instance is
    /// refused (and counted): drop this, do not write again.
    pub async fn write(&mut self, data: Bytes) -> Result<(), IngestError> {
        let written = self.append(data).await;
        if let Err(e) = &written {
            self.archive.metrics().failed(e.reason());
        }
        written
    }

    async fn append(&mut self, data: Bytes) -> Result<(), IngestError> {
        self.dataset_len += data.len() as u64;
        self.archive.metrics().bytes_received_total.fetch_add(data.len() as u64, Relaxed);
        let max = self.archive.config().max_instance_bytes;
        if self.dataset_len > max {
            return Err(IngestError::OutOfResources(format!("instance larger than the {max}-byte limit")));
        }
        self.queued_len += data.len();
        self.queued.push(data);
        if self.queued_len >= WRITE_BATCH {
            self.dispatch().await?;
        }
        Ok(())
    }

    /// Hand the queued chunks to the spool's writer. Not awaited: they are
    /// written and hashed while the next ones arrive; an error comes with
    /// the next call.
    async fn dispatch(&mut self) -> Result<(), IngestError> {
        if self.queued.is_empty() {
            return Ok(());
        }
        let mut spool = self.take_spool().await?;
        let (chunks, len) = (std::mem::take(&mut self.queued), std::mem::take(&mut self.queued_len) as u64);
        let offset = self.meta_len + self.dataset_len - len;
        self.spool = Slot::Busy(spawn_blocking_in_span(move || {
            for chunk in &chunks {
                spool.file.write_all(chunk)?;
                spool.sha256.update(chunk);
            }
            if spool.writeback {
                start_writeback(&spool.file, offset, len);
            }
            Ok(spool)
        }));
        Ok(())
    }

    /// The spool, once the chunk being written (if any) is written.
    async fn take_spool(&mut self) -> Result<Spool, IngestError> {
        match std::mem::replace(&mut self.spool, Slot::Closed) {
            Slot::Idle(spool) => Ok(spool),
            Slot::Busy(writing) => writing
                .await
                .map_err(std::io::Error::other)
                .and_then(|written| written)
                .map_err(|e| IngestError::io("spool write failed", &e)),
            Slot::Closed => Err(IngestError::OutOfResources("spool closed".into())),
        }
    }

    /// Validate, commit and index the instance. On success the instance is
    /// durable; on error nothing of it remains in the store or the index.
    ///
    /// One span, `archive.store_instance` (target `yunying::trace`), covers
    /// validation, the object store's put and the index insert: with the
    /// source, SOP class, transfer syntax and size, and the outcome; never
    /// an identifier of the patient, study or instance.
    pub async fn finish(mut self) -> Result<Stored, IngestError> {
        let span = tracing::info_span!(
            target: "yunying::trace",
            "archive.store_instance",
            source = self.ctx.source,
            dicom.sop_class = %self.ctx.sop_class_uid,
            dicom.transfer_syntax = %self.ctx.transfer_syntax_uid,
            bytes = self.meta_len + self.dataset_len,
            duplicate = Empty,
            otel.status_code = Empty,
            error.kind = Empty,
        );
        let result = self.commit().instrument(span.clone()).await;
        match &result {
            Ok(stored) => span.record("duplicate", stored.duplicate),
            Err(e) => span.record("otel.status_code", "ERROR").record("error.kind", e.reason()),
        };
        self.finished = true;
        let metrics = self.archive.metrics();
        match &result {
            Ok(stored) => {
                metrics.instances_stored_total.fetch_add(1, Relaxed);
                if stored.duplicate {
                    metrics.instances_duplicate_total.fetch_add(1, Relaxed);
                }
                metrics.observe_store(self.started.elapsed());
            }
            Err(e) => {
                metrics.failed(e.reason());
                let _ = fs::remove_file(&self.spool_path);
            }
        }
        result
    }

    async fn commit(&mut self) -> Result<Stored, IngestError> {
        if self.dataset_len == 0 {
            return Err(IngestError::CannotUnderstand("empty data set".into()));
        }
        self.dispatch().await?;
        let spool = self.take_spool().await?;
        let t0 = Instant::now();
        // The spool file becomes the object (local store): its bytes are
        // flushed while the data set is read, so the store's own flush
        // (which decides durability) finds little left to write.
        let early_flush =
            if spool.writeback { spool.file.try_clone().ok().map(|file| spawn_blocking_in_span(move || file.sync_data())) } else { None };
        let (start, end) = (self.meta_len, self.meta_len + self.dataset_len);
        let ts = self.ctx.transfer_syntax_uid.clone();
        let charset = self.ctx.caller.default_charset.clone();
        let (record, sha256) = blocking(move || {
            let Spool { mut file, sha256, .. } = spool;
            let sha256: [u8; 32] = sha256.finalize().into();
            Ok((extract_record(&mut file, start, end, &ts, charset.as_deref()), sha256))
        })
        .await
        .map_err(|e| IngestError::io("spool read failed", &e))?;
        let record = record?;
        let digest = hex::encode(sha256);
        self.check_identity(&record)?;
        if let Some(study) = &self.ctx.expected_study_instance_uid
            && record.study_instance_uid != *study
        {
            return Err(IngestError::SopClassMismatch(format!("instance belongs to study {}, not {study}", record.study_instance_uid)));
        }

        let key = original_key(&record.study_instance_uid, &record.series_instance_uid, &record.sop_instance_uid, &digest[..16]);
        let record = yunying_index::InstanceRecord {
            issuer: self.ctx.caller.issuer.clone(),
            transfer_syntax_uid: self.ctx.transfer_syntax_uid.clone(),
            calling_ae: self.ctx.caller.calling_ae.clone(),
            received_at_ms: self.received_at_ms,
            size_bytes: end as i64,
            digest: digest.clone(),
            object_key: key.clone(),
            ..record
        };

        // A rejection note is read before anything is stored: one that
        // cannot be applied is refused whole.
        let note = self.rejection_note(&record)?;
        if let Some(flush) = early_flush {
            let _ = flush.await;
        }
        let t_validated = t0.elapsed();
        let index = self.archive.index().clone();
        let sop_instance_uid = record.sop_instance_uid.clone();
        let (sop_class_uid, study_instance_uid) = (record.sop_class_uid.clone(), record.study_instance_uid.clone());
        let policy = self.archive.config().duplicate_policy;
        // Before a remote store's upload removes the spool file.
        let copy = self.archive.digest_copy(&self.spool_path, end);
        let put = async {
            let put = self.put(key.clone(), sha256).await;
            (put, t0.elapsed())
        };
        let ((put, t_put), insert) = if self.archive.store().local_spool_dir().is_some() {
            // A local store's flush takes about a millisecond: the row's
            // statements run meanwhile, and its commit waits for the flush
            // (the index holds the row back until `durable` says so).
            let (durable, gate) = tokio::sync::oneshot::channel();
            let put = async {
                let (put, at) = put.await;
                let _ = durable.send(put.as_ref().map(|_| ()).map_err(|e| e.to_string()));
                (put, at)
            };
            let insert = index.insert_when_durable(record, policy, gate);
            tokio::join!(put, insert.instrument(tracing::info_span!(target: "yunying::trace", "index.insert")))
        } else {
            // A remote store's PUT is not waited for inside a transaction.
            let (put, at) = put.await;
            put.map_err(|e| IngestError::io("object store", &e))?;
            let span = tracing::info_span!(target: "yunying::trace", "index.insert");
            ((Ok(()), at), index.insert(record, policy).instrument(span).await)
        };
        let t_indexed = t0.elapsed();
        put.map_err(|e| IngestError::io("object store", &e))?;
        let outcome = match insert {
            Ok(outcome) => outcome,
            Err(e) => {
                self.discard_unreferenced(&index, &sop_instance_uid, &key).await;
                return Err(index_error(e));
            }
        };
        tracing::debug!(
            received_us = (t0 - self.started).as_micros() as u64,
            validated_us = t_validated.as_micros() as u64,
            put_us = (t_put - t_validated).as_micros() as u64,
            indexed_us = (t_indexed - t_validated).as_micros() as u64,
            "instance committed"
        );
        let pending = yunying_index::PendingDigest {
            id: 0,
            sop_instance_uid: sop_instance_uid.clone(),
            study_instance_uid: study_instance_uid.clone(),
            object_key: key.clone(),
            sha256: digest.clone(),
        };
        let (object_key, duplicate) = match outcome {
            InsertOutcome::Inserted => {
                self.archive.digest_later(pending, copy);
                (key, false)
            }
            InsertOutcome::Replaced { old_key } => {
                if old_key != key {
                    self.delete_object(old_key).await;
                }
                self.archive.digest_later(pending, copy);
                (key, false)
            }
            InsertOutcome::KeptExisting { existing_key } => {
                if existing_key != key {
                    self.delete_object(key).await;
                }
                (existing_key, true)
            }
        };
        if let (Some(note), Some(handler)) = (note, self.archive.rejection_handler()) {
            // Before the store is acknowledged: the rejected instances are
            // hidden by the time the sender hears success. A note received
            // again (a retry) is applied again; nothing is hidden twice.
            handler.rejected(note).await.map_err(|e| IngestError::OutOfResources(format!("rejection note not applied: {e}")))?;
        }
        Ok(Stored { sop_instance_uid, sop_class_uid, study_instance_uid, object_key, sha256: digest, duplicate })
    }

    /// Make the spool file the object stored under `key`, durably.
    fn put(&self, key: String, sha256: [u8; 32]) -> impl Future<Output = std::io::Result<()>> + use<> {
        let (store, spool_path) = (self.archive.store().clone(), self.spool_path.clone());
        blocking(move || store.put_file_hashed(&key, &spool_path, &sha256).map_err(std::io::Error::other))
    }

    /// Remove the object just stored under `key` unless a row already
    /// points at it (an identical resend): a row must never lose its
    /// object. If the index cannot tell, keep it; `reindex` adopts or skips
    /// it.
    async fn discard_unreferenced(&self, index: &yunying_index::Index, sop_instance_uid: &str, key: &str) {
        let referenced = index.instance(sop_instance_uid).await.map(|row| row.is_some_and(|r| r.object_key == key));
        if let Ok(false) = referenced {
            self.delete_object(key.to_string()).await;
        }
    }

    /// The IOCM rejection note this instance is, if it is one.
    fn rejection_note(&self, record: &yunying_index::InstanceRecord) -> Result<Option<crate::rejection::RejectionNote>, IngestError> {
        if record.sop_class_uid != crate::rejection::KEY_OBJECT_SELECTION || self.archive.rejection_handler().is_none() {
            return Ok(None);
        }
        let json = crate::record::inflate(&record.metadata)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .unwrap_or_default();
        let parsed = crate::rejection::parse(&record.sop_class_uid, &json).map_err(IngestError::OutOfResources)?;
        Ok(parsed.map(|(code, instances)| crate::rejection::RejectionNote {
            note_sop_instance_uid: record.sop_instance_uid.clone(),
            code,
            instances,
            issuer: record.issuer.clone(),
            principal: self.ctx.principal.clone(),
        }))
    }

    /// The dataset must be what the request said it is.
    fn check_identity(&self, record: &yunying_index::InstanceRecord) -> Result<(), IngestError> {
        if record.sop_class_uid != self.ctx.sop_class_uid {
            return Err(IngestError::SopClassMismatch(format!("data set is {}, sent as {}", record.sop_class_uid, self.ctx.sop_class_uid)));
        }
        if is_valid_uid(&self.ctx.sop_instance_uid) && record.sop_instance_uid != self.ctx.sop_instance_uid {
            return Err(IngestError::SopClassMismatch("SOP Instance UID differs from the request".into()));
        }
        Ok(())
    }

    async fn delete_object(&self, key: String) {
        let store = self.archive.store().clone();
        let deleted = blocking(move || store.delete(&key).map_err(std::io::Error::other)).await;
        if let Err(e) = deleted {
            tracing::warn!(error = %e, "could not delete a superseded object; it stays unreferenced in the store");
        }
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if !self.finished {
            let _ = fs::remove_file(&self.spool_path);
        }
    }
}

/// Ask the kernel to start writing this range to disk now, so the fsync at
/// commit finds most of the instance already written while the rest was
/// still arriving. Advisory: errors are ignored (the fsync still decides).
#[cfg(target_os = "linux")]
fn start_writeback(file: &File, offset: u64, len: u64) {
    use std::os::fd::AsRawFd;
    // SAFETY: sync_file_range only reads its integer arguments; the fd is
    // open for the duration of the call.
    unsafe {
        libc::sync_file_range(file.as_raw_fd(), offset as i64, len as i64, libc::SYNC_FILE_RANGE_WRITE);
    }
}

#[cfg(not(target_os = "linux"))]
fn start_writeback(_file: &File, _offset: u64, _len: u64) {}

fn index_error(e: yunying_index::IndexError) -> IngestError {
    match e {
        yunying_index::IndexError::Conflict(why) => IngestError::NotAuthorized(why),
        e if e.is_storage_full() => IngestError::StorageFull(format!("index: {e}")),
        e => IngestError::OutOfResources(format!("index: {e}")),
    }
}

/// Run blocking file work off the async runtime, in the caller's span (the
/// store's spans are its children).
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> std::io::Result<T> + Send + 'static) -> std::io::Result<T> {
    spawn_blocking_in_span(f).await.map_err(std::io::Error::other)?
}

fn spawn_blocking_in_span<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> tokio::task::JoinHandle<std::io::Result<T>> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(f))
}
