//! The archive core: ingest of DICOM instances into the object store and the
//! index, shared by every way an instance arrives (C-STORE, STOW-RS, import).
//!
//! An [`Incoming`] instance is streamed to a spool file behind a Part 10 meta
//! header as its bytes arrive (bounded memory, whatever its size), then
//! [`Incoming::finish`] validates the dataset structure, extracts the indexed
//! attributes (text decoded to UTF-8 with the dataset's character set),
//! commits the object durably, records it in the index, and only then
//! reports success.
//!
//! Architecture invariant: this crate knows nothing of DIMSE, HTTP or JSON.
//! Callers map [`IngestError`] to their protocol's status.

mod config;
pub mod dicomdir;
pub mod digester;
pub mod digests;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod ingest;
pub mod maintenance;
pub mod meta;
pub mod metadata;
mod metrics;
pub mod orphans;
pub mod query_keys;
mod raw;
mod reader;
mod rebuild;
mod record;
pub mod rejection;
mod retrieve;
pub mod syntax;
pub mod walker;

pub use config::{ArchiveConfig, Caller, InstitutionConfig};
pub use error::IngestError;
pub use ingest::{Incoming, StoreContext, Stored};
pub use metrics::Metrics;
pub use reader::ObjectReader;
pub use rebuild::{ImportError, import_bytes, import_file, reindex_object};
pub use record::is_valid_uid;
pub use record::{deflate, extract_record, inflate};
pub use retrieve::{NetworkDataset, RetrieveError, pixel_info, read_pixels, to_explicit_le, with_encapsulated_frames};
pub use yunying_index::InstanceData;
pub use yunying_index::{DuplicatePolicy, Index, IndexCounts, InsertOutcome, InstanceRecord};
pub use yunying_store::ObjectStore;

use std::path::PathBuf;
use std::sync::Arc;

/// The archive: store, index, configuration and metrics. Cheap to clone.
#[derive(Clone)]
pub struct Archive {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn ObjectStore>,
    index: Index,
    config: ArchiveConfig,
    spool_dir: PathBuf,
    metrics: Metrics,
    /// What a stored rejection note does (IOCM), once installed.
    rejections: std::sync::OnceLock<Arc<dyn rejection::RejectionHandler>>,
    /// Instances stored here waiting for their SM3 ([`digester`]).
    digests: digester::Queue,
}

impl Archive {
    /// Assemble an archive. `fallback_spool` is used when the store has no
    /// local spool directory of its own (remote stores). The configuration's
    /// limits become the process's ([`ArchiveConfig::apply_limits`]).
    pub fn new(store: Arc<dyn ObjectStore>, index: Index, config: ArchiveConfig, fallback_spool: PathBuf) -> Archive {
        let spool_dir = store.local_spool_dir().map(PathBuf::from).unwrap_or(fallback_spool);
        config.apply_limits();
        Archive {
            inner: Arc::new(Inner {
                store,
                index,
                config,
                spool_dir,
                metrics: Metrics::default(),
                rejections: Default::default(),
                digests: Default::default(),
            }),
        }
    }

    pub fn index(&self) -> &Index {
        &self.inner.index
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner.store
    }

    pub fn config(&self) -> &ArchiveConfig {
        &self.inner.config
    }

    /// Where incoming instances are spooled before they are committed.
    pub fn spool_dir(&self) -> &std::path::Path {
        &self.inner.spool_dir
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Install what a stored IOCM rejection note does (every clone of this
    /// archive shares it). Only the first call counts.
    pub fn set_rejection_handler(&self, handler: Arc<dyn rejection::RejectionHandler>) {
        let _ = self.inner.rejections.set(handler);
    }

    pub(crate) fn rejection_handler(&self) -> Option<&Arc<dyn rejection::RejectionHandler>> {
        self.inner.rejections.get()
    }

    /// Start receiving one instance. A refusal here, in
    /// [`Incoming::write`] or in [`Incoming::finish`] is counted in the
    /// metrics by its reason, whichever face received the instance.
    pub async fn begin(&self, ctx: StoreContext) -> Result<Incoming, IngestError> {
        let begun = Incoming::begin(self.clone(), ctx).await;
        if let Err(e) = &begun {
            self.metrics().failed(e.reason());
        }
        begun
    }
}
