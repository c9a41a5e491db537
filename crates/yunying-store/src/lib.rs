//! Object storage for Yunying: originals and renditions, addressed by keys.
//!
//! The whole seam is the [`ObjectStore`] trait: put, get, get a byte range,
//! delete, list. The filesystem implementation ([`FsStore`]) is the embedded
//! default; an S3 implementation plugs in behind the same trait.
//!
//! # Key layout
//!
//! Keys are `/`-separated, ASCII, and never start with `/`. They are chosen so
//! the same key works as a filesystem path and as an S3 object key:
//!
//! ```text
//! originals/{StudyInstanceUID}/{SeriesInstanceUID}/{SOPInstanceUID}.{version}.dcm
//! ```
//!
//! `version` is the first 16 hex digits of the SHA-256 of the stored bytes.
//! Those include the file meta the archive writes, whose provenance record
//! names the arrival time, so every receipt of an instance (a resend of the
//! same data, the same instance reaching two nodes at once) has a key of
//! its own, and no receipt ever overwrites the object the index points to;
//! the index decides which receipt's object is kept.
//! Grouping by study lets a whole study be listed or deleted by prefix.
//! Renditions live under `renditions/` with the same study/series grouping.
//!
//! Architecture invariant: a reader never sees a partial object. `put_file`
//! makes an object visible only once its bytes are durable.

pub mod encrypted;
mod fs;
mod s3;
mod traced;

pub use encrypted::{EncryptedStore, EncryptionConfig, KeyWrapper, LocalMasterKeys};
pub use fs::FsStore;
pub use s3::{S3Config, S3Store};
pub use traced::TracedStore;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// Which object store to use (`[store]` in the configuration).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// `fs` (the embedded default) or `s3`.
    pub kind: StoreKind,
    /// Root of the filesystem store; empty means `store/` under the data
    /// directory.
    pub path: PathBuf,
    /// The S3 service, when `kind = "s3"`.
    pub s3: S3Config,
    /// Encryption at rest (SM4-GCM), off by default.
    pub encryption: EncryptionConfig,
}

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    #[default]
    Fs,
    S3,
}

impl StoreKind {
    /// The kind as configured: `fs` or `s3`.
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Fs => "fs",
            StoreKind::S3 => "s3",
        }
    }
}

impl StoreConfig {
    /// Open the configured store; `default_root` is used by a filesystem
    /// store without a path. An S3 store is checked (buckets reachable,
    /// credentials accepted) before it is returned. Every call on it is a
    /// span for the OpenTelemetry traces ([`TracedStore`]; free when they
    /// are off).
    pub fn open(&self, default_root: &Path) -> std::io::Result<Arc<dyn ObjectStore>> {
        let inner = self.open_plain(default_root)?;
        if !self.encryption.enabled {
            return Ok(Arc::new(TracedStore::new(inner, self.kind.name())));
        }
        let keys = self.encryption.load().map_err(std::io::Error::other)?;
        let kind = match self.kind {
            StoreKind::Fs => "fs+sm4",
            StoreKind::S3 => "s3+sm4",
        };
        Ok(Arc::new(TracedStore::new(Arc::new(EncryptedStore::new(inner, Arc::new(keys))), kind)))
    }

    /// The configured store without its encryption (the ciphertext as
    /// stored, for tools that move it as it is).
    pub fn open_plain(&self, default_root: &Path) -> std::io::Result<Arc<dyn ObjectStore>> {
        match self.kind {
            StoreKind::Fs => {
                let root = if self.path.as_os_str().is_empty() { default_root.to_path_buf() } else { self.path.clone() };
                let store = FsStore::open(&root).map_err(std::io::Error::other)?;
                Ok(Arc::new(store))
            }
            StoreKind::S3 => {
                let store = S3Store::new(&self.s3)?;
                store.check().map_err(std::io::Error::other)?;
                Ok(Arc::new(store))
            }
        }
    }

    /// A store named on the command line (`migrate-store`, `verify`):
    ///
    /// * `fs:PATH` or a plain path: a filesystem store rooted at PATH;
    /// * `s3://BUCKET[/PREFIX][?endpoint=URL&region=R&renditions=BUCKET[/PREFIX]&path_style=false]`:
    ///   an S3 store; credentials come from the environment
    ///   (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`), never from the
    ///   command line.
    pub fn from_spec(spec: &str) -> std::result::Result<StoreConfig, String> {
        let spec = spec.trim();
        if spec.is_empty() {
            return Err("an empty store name: expected fs:PATH or s3://BUCKET/PREFIX".into());
        }
        let Some(rest) = spec.strip_prefix("s3://") else {
            let path = spec.strip_prefix("fs:").unwrap_or(spec);
            if path.contains("://") {
                return Err(format!("unknown store {spec:?}: expected fs:PATH or s3://BUCKET/PREFIX"));
            }
            // `s3:bucket` (no `//`) would otherwise be a local directory
            // named "s3:bucket": a scheme-like prefix is refused unless the
            // path is explicitly local.
            if let Some((scheme, rest)) = spec.split_once(':').filter(|_| !spec.starts_with("fs:"))
                && !scheme.is_empty()
                && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b"+.-".contains(&b))
                && scheme.as_bytes()[0].is_ascii_alphabetic()
            {
                let hint = if scheme.eq_ignore_ascii_case("s3") { format!(" (did you mean s3://{rest}?)") } else { String::new() };
                return Err(format!(
                    "{spec:?} looks like a URL without \"//\"{hint}: name stores fs:PATH or s3://BUCKET/PREFIX (a local path with a colon: fs:{spec})"
                ));
            }
            return Ok(StoreConfig { kind: StoreKind::Fs, path: PathBuf::from(path), ..StoreConfig::default() });
        };
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        let split = |l: &str| -> (String, String) {
            let (bucket, prefix) = l.split_once('/').unwrap_or((l, ""));
            (bucket.to_string(), prefix.to_string())
        };
        let (bucket, prefix) = split(location);
        if bucket.is_empty() {
            return Err(format!("{spec:?} names no bucket"));
        }
        let mut s3 = S3Config { bucket, prefix, ..S3Config::default() };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            match name {
                "endpoint" => s3.endpoint = value.to_string(),
                "region" => s3.region = value.to_string(),
                "renditions" => (s3.renditions_bucket, s3.renditions_prefix) = split(value),
                "path_style" => {
                    s3.path_style = match value {
                        "true" | "1" | "" => true,
                        "false" | "0" => false,
                        _ => return Err(format!("path_style={value:?}: expected true or false")),
                    }
                }
                "access_key_id" | "secret_access_key" => {
                    return Err("credentials do not belong in a store name: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into());
                }
                _ => return Err(format!("unknown S3 store option {name:?} (endpoint, region, renditions, path_style)")),
            }
        }
        Ok(StoreConfig { kind: StoreKind::S3, s3, ..StoreConfig::default() })
    }

    /// A short description for logs (no secrets).
    pub fn describe(&self, default_root: &Path) -> String {
        let place = self.describe_place(default_root);
        if self.encryption.enabled { format!("{place}, encrypted (SM4-GCM, master key {:?})", self.encryption.key_id) } else { place }
    }

    /// Where the objects are, whether encrypted or not.
    pub fn describe_place(&self, default_root: &Path) -> String {
        match self.kind {
            StoreKind::Fs => {
                let root = if self.path.as_os_str().is_empty() { default_root } else { &self.path };
                format!("filesystem {}", root.display())
            }
            StoreKind::S3 => format!(
                "s3 {} bucket {}",
                if self.s3.endpoint.is_empty() { "(default endpoint)" } else { &self.s3.endpoint },
                self.s3.bucket
            ),
        }
    }
}

/// Errors from an object store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The key names no object.
    #[error("object not found: {key}")]
    NotFound { key: String },
    /// The key is not a valid object key (empty, absolute, `..`, non-ASCII).
    #[error("invalid object key: {key}")]
    InvalidKey { key: String },
    /// The requested range lies outside the object.
    #[error("range {start}..{end} outside object of {len} bytes")]
    InvalidRange { start: u64, end: u64, len: u64 },
    /// An encrypted object that does not decrypt: damaged, truncated,
    /// reordered, moved from another key, or wrapped under a master key
    /// that is not loaded. Never answered with wrong bytes.
    #[error("object {key} does not decrypt: {reason}")]
    Undecryptable { key: String, reason: String },
    /// An I/O error from the backing storage.
    #[error("storage I/O error on {key}: {source}")]
    Io {
        key: String,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    pub(crate) fn io(key: &str, source: std::io::Error) -> Self {
        if source.kind() == std::io::ErrorKind::NotFound {
            StoreError::NotFound { key: key.to_string() }
        } else {
            StoreError::Io { key: key.to_string(), source }
        }
    }

    /// The error without the object's key (keys carry UIDs): for log lines.
    pub fn without_key(&self) -> String {
        match self {
            StoreError::NotFound { .. } => "object not found".into(),
            StoreError::InvalidKey { .. } => "invalid object key".into(),
            StoreError::InvalidRange { .. } => self.to_string(),
            StoreError::Undecryptable { reason, .. } => format!("object does not decrypt: {reason}"),
            StoreError::Io { source, .. } => format!("storage I/O error: {source}"),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Metadata of a stored object, as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// When the object was last written, when the store says (a file's
    /// modification time, an S3 object's `LastModified`). `verify` and the
    /// sweep never touch an unreferenced object without one, or one newer
    /// than their grace period: an ingest commits its object before its row.
    pub modified: Option<std::time::SystemTime>,
}

/// A store of immutable objects addressed by key.
///
/// All methods are blocking: call them from `spawn_blocking` or a worker
/// thread, never directly on the async runtime.
pub trait ObjectStore: Send + Sync + 'static {
    /// Durably store the file at `local` under `key`, consuming the file.
    ///
    /// When this returns `Ok`, the object survives a crash of the process
    /// and of the machine. An existing object under `key` is replaced
    /// atomically. `local` must be a file the caller owns; the store may move
    /// it (filesystem) or upload and delete it (S3).
    fn put_file(&self, key: &str, local: &Path) -> Result<()>;

    /// [`put_file`](Self::put_file) for a file whose SHA-256 the caller
    /// already knows (ingest hashes the data set as it arrives). A store
    /// whose server checks uploads sends this digest instead of hashing the
    /// file again, so the server refuses an object whose bytes differ from
    /// the digest the index records; other stores ignore it.
    fn put_file_hashed(&self, key: &str, local: &Path, sha256: &[u8; 32]) -> Result<()> {
        let _ = sha256;
        self.put_file(key, local)
    }

    /// Durably store `bytes` under `key`.
    fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<()>;

    /// Read a whole object.
    fn get(&self, key: &str) -> Result<Vec<u8>>;

    /// Read `len` bytes from `start`.
    fn get_range(&self, key: &str, start: u64, len: u64) -> Result<Vec<u8>>;

    /// Size of an object in bytes.
    fn size(&self, key: &str) -> Result<u64>;

    /// Delete an object. Deleting a missing object is not an error.
    fn delete(&self, key: &str) -> Result<()>;

    /// List every object whose key starts with `prefix`, in key order (one
    /// unbounded [`list_page`](Self::list_page): for tools that walk a store
    /// they hold in full anyway).
    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        self.list_page(prefix, None, usize::MAX)
    }

    /// One page of [`list`](Self::list): at most `limit` objects whose key
    /// starts with `prefix` and sorts after `after` (from the start when
    /// `None`), in key order. Pass the last key of a page to get the next;
    /// a page shorter than `limit` is the last. What a caller holds stays
    /// bounded however large the store is.
    fn list_page(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<ObjectInfo>>;

    /// A directory on the same filesystem as the store where callers may
    /// spool files that will be handed to [`put_file`](Self::put_file), so a
    /// put is a rename instead of a copy. `None` for remote stores.
    fn local_spool_dir(&self) -> Option<&Path> {
        None
    }

    /// The object as an open local file, for stores that keep objects on a
    /// local filesystem (a sender can then hand its pages to the socket
    /// without reading them); `Ok(None)` for remote stores.
    fn open_local(&self, key: &str) -> Result<Option<std::fs::File>> {
        let _ = key;
        Ok(None)
    }
}

/// Delete the files a crashed process left in a spool directory (they were
/// never acknowledged to anyone); returns how many. Only the process that
/// owns the spool calls this, when it starts: a spool is never shared by
/// two running processes' ingest, but other commands may open the store
/// while a server runs.
pub fn clean_spool(dir: &Path) -> std::io::Result<u64> {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::remove_file(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

/// Check that a key is safe as both a relative path and an S3 key.
pub fn validate_key(key: &str) -> Result<()> {
    let bad = key.is_empty()
        || key.starts_with('/')
        || key.ends_with('/')
        || !key.is_ascii()
        || key.split('/').any(|c| c.is_empty() || c == "." || c == "..")
        || key.bytes().any(|b| b.is_ascii_control() || b == b'\\');
    if bad {
        return Err(StoreError::InvalidKey { key: key.to_string() });
    }
    Ok(())
}

/// Key of an original instance (see the module docs for the layout).
pub fn original_key(study_uid: &str, series_uid: &str, sop_uid: &str, version: &str) -> String {
    format!("originals/{study_uid}/{series_uid}/{sop_uid}.{version}.dcm")
}

/// The prefix under which all originals live.
pub const ORIGINALS_PREFIX: &str = "originals/";

/// Key of a rendition of an instance (`name`: `thumbnail.jpg`,
/// `preview-1.jpg`, `htj2k.dcm`). Renditions live under their own prefix so
/// that lifecycle rules (and buckets) can differ from the originals'.
pub fn rendition_key(study_uid: &str, series_uid: &str, sop_uid: &str, name: &str) -> String {
    format!("renditions/{study_uid}/{series_uid}/{sop_uid}/{name}")
}

/// The prefix under which all renditions live.
pub const RENDITIONS_PREFIX: &str = "renditions/";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_escape_the_store_are_rejected() {
        for bad in ["", "/abs", "a/../b", "a//b", "a/./b", "trailing/", "a\\b", "é", "a\nb"] {
            assert!(validate_key(bad).is_err(), "{bad:?} should be rejected");
        }
        validate_key(&original_key("1.2.3", "1.2.3.4", "1.2.3.4.5", "00ff")).unwrap();
    }

    #[test]
    fn stores_named_on_the_command_line() {
        let fs = StoreConfig::from_spec("/var/lib/yunying/store").unwrap();
        assert_eq!((fs.kind, fs.path), (StoreKind::Fs, PathBuf::from("/var/lib/yunying/store")));
        assert_eq!(StoreConfig::from_spec("fs:rel/dir").unwrap().path, PathBuf::from("rel/dir"));
        assert_eq!(StoreConfig::from_spec("fs:s3:odd").unwrap().path, PathBuf::from("s3:odd"), "explicitly local");
        assert_eq!(StoreConfig::from_spec("./s3:odd").unwrap().path, PathBuf::from("./s3:odd"));
        let err = StoreConfig::from_spec("s3:mybucket").unwrap_err();
        assert!(err.contains("did you mean s3://mybucket"), "{err}");

        let s3 =
            StoreConfig::from_spec("s3://pacs/city/a?endpoint=http://127.0.0.1:3900&region=garage&renditions=thumbs/r&path_style=false")
                .unwrap();
        assert_eq!(s3.kind, StoreKind::S3);
        assert_eq!((s3.s3.bucket.as_str(), s3.s3.prefix.as_str()), ("pacs", "city/a"));
        assert_eq!((s3.s3.renditions_bucket.as_str(), s3.s3.renditions_prefix.as_str()), ("thumbs", "r"));
        assert_eq!((s3.s3.endpoint.as_str(), s3.s3.region.as_str(), s3.s3.path_style), ("http://127.0.0.1:3900", "garage", false));

        for bad in [
            "",
            "s3://",
            "s3://b?secret_access_key=x",
            "s3://b?colour=red",
            "http://host/x",
            "s3://b?path_style=maybe",
            "s3:mybucket",
            "S3:b/p",
        ] {
            assert!(StoreConfig::from_spec(bad).is_err(), "{bad:?} should be refused");
        }
    }
}

/// The behaviour every [`ObjectStore`] implementation must show. The
/// filesystem store runs it in its tests; other implementations call the same
/// functions against a real server.
pub mod conformance {
    use super::*;

    /// Run every check against `store`, which must be empty under `prefix`.
    pub fn run_all(store: &dyn ObjectStore, prefix: &str) {
        put_get_roundtrip(store, prefix);
        put_replaces_atomically(store, prefix);
        ranges(store, prefix);
        missing_objects(store, prefix);
        list_by_prefix(store, prefix);
        list_in_pages(store, prefix);
        put_file_consumes_the_file(store, prefix);
    }

    fn put_get_roundtrip(store: &dyn ObjectStore, p: &str) {
        let key = format!("{p}a/b/c.bin");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        store.put_bytes(&key, &data).unwrap();
        assert_eq!(store.get(&key).unwrap(), data);
        assert_eq!(store.size(&key).unwrap(), data.len() as u64);
    }

    fn put_replaces_atomically(store: &dyn ObjectStore, p: &str) {
        let key = format!("{p}replace/x");
        store.put_bytes(&key, b"first").unwrap();
        store.put_bytes(&key, b"second version").unwrap();
        assert_eq!(store.get(&key).unwrap(), b"second version");
    }

    fn ranges(store: &dyn ObjectStore, p: &str) {
        let key = format!("{p}range/obj");
        store.put_bytes(&key, b"0123456789").unwrap();
        assert_eq!(store.get_range(&key, 2, 3).unwrap(), b"234");
        assert_eq!(store.get_range(&key, 0, 10).unwrap(), b"0123456789");
        assert_eq!(store.get_range(&key, 10, 0).unwrap(), b"");
        assert!(matches!(store.get_range(&key, 8, 5), Err(StoreError::InvalidRange { .. })));
    }

    fn missing_objects(store: &dyn ObjectStore, p: &str) {
        let key = format!("{p}missing/none");
        assert!(matches!(store.get(&key), Err(StoreError::NotFound { .. })));
        assert!(matches!(store.size(&key), Err(StoreError::NotFound { .. })));
        store.delete(&key).unwrap();
        assert!(matches!(store.get("../etc/passwd"), Err(StoreError::InvalidKey { .. })));
    }

    fn list_by_prefix(store: &dyn ObjectStore, p: &str) {
        for k in ["list/s1/a", "list/s1/b", "list/s2/a", "listx/a"] {
            store.put_bytes(&format!("{p}{k}"), k.as_bytes()).unwrap();
        }
        let keys: Vec<String> = store.list(&format!("{p}list/s1/")).unwrap().into_iter().map(|o| o.key).collect();
        assert_eq!(keys, vec![format!("{p}list/s1/a"), format!("{p}list/s1/b")]);
        let all = store.list(&format!("{p}list/")).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].size, "list/s1/a".len() as u64);
        store.delete(&format!("{p}list/s1/a")).unwrap();
        assert_eq!(store.list(&format!("{p}list/s1/")).unwrap().len(), 1);
    }

    fn list_in_pages(store: &dyn ObjectStore, p: &str) {
        // Keys whose order differs from their directories' names' order
        // (`a.b` sorts before `a/…`), across both key spaces.
        let keys = [
            "originals/pages/1/a.b",
            "originals/pages/1/a/x",
            "originals/pages/1/a/y",
            "originals/pages/1/b",
            "originals/pages/2/c",
            "renditions/pages/1/a/t.jpg",
            "renditions/pages/1/a/u.jpg",
        ];
        for k in keys.iter().rev() {
            store.put_bytes(&format!("{p}{k}"), k.as_bytes()).unwrap();
        }
        for prefix in ["originals/pages/", "renditions/pages/", "originals/pages/1/a"] {
            let prefix = format!("{p}{prefix}");
            let expected: Vec<String> = keys.iter().map(|k| format!("{p}{k}")).filter(|k| k.starts_with(&prefix)).collect();
            assert_eq!(store.list(&prefix).unwrap().into_iter().map(|o| o.key).collect::<Vec<_>>(), expected);
            for limit in [1, 2, 3, 100] {
                let (mut got, mut after) = (Vec::new(), None::<String>);
                loop {
                    let page = store.list_page(&prefix, after.as_deref(), limit).unwrap();
                    assert!(page.len() <= limit);
                    got.extend(page.iter().map(|o| o.key.clone()));
                    if page.len() < limit {
                        break;
                    }
                    after = page.last().map(|o| o.key.clone());
                }
                assert_eq!(got, expected, "pages of {limit} under {prefix}");
            }
        }
        let from_middle = store.list_page(&format!("{p}originals/pages/"), Some(&format!("{p}originals/pages/1/a/x")), 2).unwrap();
        assert_eq!(from_middle.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(), [format!("{p}{}", keys[2]), format!("{p}{}", keys[3])]);
        assert_eq!(from_middle[0].size, keys[2].len() as u64);
        assert!(from_middle[0].modified.is_some(), "listed objects carry their time");
        // A position between keys, or past them all.
        let between = store.list_page(&format!("{p}originals/pages/"), Some(&format!("{p}originals/pages/1/a/")), 1).unwrap();
        assert_eq!(between[0].key, format!("{p}{}", keys[1]));
        assert!(store.list_page(&format!("{p}originals/pages/"), Some(&format!("{p}originals/pages/3")), 10).unwrap().is_empty());
        for k in keys {
            store.delete(&format!("{p}{k}")).unwrap();
        }
    }

    fn put_file_consumes_the_file(store: &dyn ObjectStore, p: &str) {
        let dir = store.local_spool_dir().map(Path::to_path_buf).unwrap_or_else(std::env::temp_dir);
        let local = dir.join(format!("conformance-{}.tmp", std::process::id()));
        std::fs::write(&local, b"spooled bytes").unwrap();
        let key = format!("{p}files/one.dcm");
        store.put_file(&key, &local).unwrap();
        assert_eq!(store.get(&key).unwrap(), b"spooled bytes");
        assert!(!local.exists(), "put_file must take ownership of the local file");
    }
}
