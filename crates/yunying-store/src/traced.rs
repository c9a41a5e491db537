//! Spans around every object store call (`[tracing]`): one per put, get,
//! ranged get, size, delete and list page, named `store.<operation>`, with
//! the store's kind, the bytes moved and whether it failed.
//!
//! Never the key: keys are made of study, series and instance UIDs, which
//! identify a patient's examination. Nor the error's text, which names the
//! key; only its kind (`not_found`, `io`, …).
//!
//! The spans are on the target `yunying::trace`, which only the OpenTelemetry
//! layer listens to: with tracing off they are disabled at their call site
//! and cost a branch. A call outside any span (background work) makes none.

use std::path::Path;
use std::sync::Arc;

use tracing::field::Empty;

use crate::{ObjectInfo, ObjectStore, Result, StoreError};

/// An [`ObjectStore`] that makes a span of each call to the one it wraps.
pub struct TracedStore {
    inner: Arc<dyn ObjectStore>,
    kind: &'static str,
}

impl TracedStore {
    /// Wrap `inner`; `kind` (`fs`, `s3`, `fs+sm4`…) is recorded on each span.
    pub fn new(inner: Arc<dyn ObjectStore>, kind: &'static str) -> TracedStore {
        TracedStore { inner, kind }
    }
}

/// The span of one call: a child of the operation that made it, or none
/// (background work outside any traced operation, such as renditions or
/// the digester, would otherwise make a trace of every call).
macro_rules! store_span {
    ($name:literal, $kind:expr) => {
        if tracing::Span::current().is_none() {
            tracing::Span::none()
        } else {
            tracing::info_span!(target: "yunying::trace", $name, store.kind = $kind, store.bytes = Empty, otel.status_code = Empty, error.kind = Empty)
        }
    };
}

/// Record the outcome of a call on its span: bytes moved, or the error's kind.
fn outcome<T>(span: &tracing::Span, result: &Result<T>, bytes: impl FnOnce(&T) -> u64) {
    if span.is_disabled() {
        return;
    }
    match result {
        Ok(value) => {
            span.record("store.bytes", bytes(value));
        }
        Err(e) => {
            span.record("otel.status_code", "ERROR");
            span.record("error.kind", error_kind(e));
        }
    }
}

/// A stable name for an error, free of the key it names.
fn error_kind(e: &StoreError) -> &'static str {
    match e {
        StoreError::NotFound { .. } => "not_found",
        StoreError::Io { .. } => "io",
        StoreError::InvalidKey { .. } => "invalid_key",
        StoreError::InvalidRange { .. } => "invalid_range",
        StoreError::Undecryptable { .. } => "undecryptable",
    }
}

impl ObjectStore for TracedStore {
    fn put_file(&self, key: &str, local: &Path) -> Result<()> {
        let span = store_span!("store.put", self.kind);
        let size = if span.is_disabled() { 0 } else { std::fs::metadata(local).map_or(0, |m| m.len()) };
        let result = span.in_scope(|| self.inner.put_file(key, local));
        outcome(&span, &result, |_| size);
        result
    }

    fn put_file_hashed(&self, key: &str, local: &Path, sha256: &[u8; 32]) -> Result<()> {
        let span = store_span!("store.put", self.kind);
        let size = if span.is_disabled() { 0 } else { std::fs::metadata(local).map_or(0, |m| m.len()) };
        let result = span.in_scope(|| self.inner.put_file_hashed(key, local, sha256));
        outcome(&span, &result, |_| size);
        result
    }

    fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<()> {
        let span = store_span!("store.put", self.kind);
        let result = span.in_scope(|| self.inner.put_bytes(key, bytes));
        outcome(&span, &result, |_| bytes.len() as u64);
        result
    }

    fn get(&self, key: &str) -> Result<Vec<u8>> {
        let span = store_span!("store.get", self.kind);
        let result = span.in_scope(|| self.inner.get(key));
        outcome(&span, &result, |b| b.len() as u64);
        result
    }

    fn get_range(&self, key: &str, start: u64, len: u64) -> Result<Vec<u8>> {
        let span = store_span!("store.get_range", self.kind);
        let result = span.in_scope(|| self.inner.get_range(key, start, len));
        outcome(&span, &result, |b| b.len() as u64);
        result
    }

    fn size(&self, key: &str) -> Result<u64> {
        let span = store_span!("store.size", self.kind);
        let result = span.in_scope(|| self.inner.size(key));
        outcome(&span, &result, |_| 0);
        result
    }

    fn delete(&self, key: &str) -> Result<()> {
        let span = store_span!("store.delete", self.kind);
        let result = span.in_scope(|| self.inner.delete(key));
        outcome(&span, &result, |_| 0);
        result
    }

    fn list_page(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<ObjectInfo>> {
        let span = store_span!("store.list", self.kind);
        let result = span.in_scope(|| self.inner.list_page(prefix, after, limit));
        outcome(&span, &result, |_| 0);
        result
    }

    fn local_spool_dir(&self) -> Option<&Path> {
        self.inner.local_spool_dir()
    }

    fn open_local(&self, key: &str) -> Result<Option<std::fs::File>> {
        let span = store_span!("store.open_local", self.kind);
        let result = span.in_scope(|| self.inner.open_local(key));
        outcome(&span, &result, |_| 0);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FsStore;

    #[test]
    fn the_traced_store_passes_the_store_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = TracedStore::new(Arc::new(FsStore::open(dir.path()).unwrap()), "fs");
        crate::conformance::run_all(&store, "traced");
    }
}
