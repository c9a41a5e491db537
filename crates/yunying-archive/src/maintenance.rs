//! Moving and checking stored objects, for `yunying migrate-store` and
//! `yunying verify`: streaming digests, copies that refuse corrupt sources,
//! and a plan that makes an interrupted migration resumable.
//!
//! Everything here is blocking (it drives [`ObjectStore`]s); callers run it
//! on worker threads. Memory stays bounded whatever the object size: objects
//! are read in ranged chunks and copied through a spool file.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

use crate::digests::{ObjectDigests, ObjectHasher};

use yunying_store::{ORIGINALS_PREFIX, ObjectInfo, ObjectStore, RENDITIONS_PREFIX, StoreError};

/// Bytes per ranged read (one request each on S3).
const CHUNK: u64 = 8 << 20;

/// What is wrong with one object.
#[derive(Debug, thiserror::Error)]
pub enum ObjectProblem {
    #[error("missing")]
    Missing,
    /// The object's digest (`algorithm`: `SHA-256` or `SM3`) is not the
    /// one recorded.
    #[error("corrupt: {algorithm} {actual} where {expected} was expected")]
    Corrupt { algorithm: &'static str, expected: String, actual: String },
    #[error("wrong size: {actual} bytes where {expected} were recorded")]
    WrongSize { expected: u64, actual: u64 },
    #[error("{0}")]
    Store(StoreError),
    #[error("spool file: {0}")]
    Spool(std::io::Error),
}

impl ObjectProblem {
    /// A one-word name for reports (`missing`, `corrupt`, `wrong-size`,
    /// `error`).
    pub fn kind(&self) -> &'static str {
        match self {
            ObjectProblem::Missing => "missing",
            ObjectProblem::Corrupt { .. } => "corrupt",
            ObjectProblem::WrongSize { .. } => "wrong-size",
            ObjectProblem::Store(_) | ObjectProblem::Spool(_) => "error",
        }
    }
}

impl From<StoreError> for ObjectProblem {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { .. } => ObjectProblem::Missing,
            other => ObjectProblem::Store(other),
        }
    }
}

/// SHA-256 and SM3 and the size of an object, read in chunks; every chunk
/// is also written to `sink` when one is given.
pub fn hash_object(store: &dyn ObjectStore, key: &str, sink: Option<&mut dyn Write>) -> Result<(ObjectDigests, u64), ObjectProblem> {
    let len = store.size(key)?;
    Ok((hash_first(store, key, len, sink)?, len))
}

/// SHA-256 and SM3 of the first `len` bytes of an object (its size, already
/// known to the caller: no second size request), in one pass.
fn hash_first(store: &dyn ObjectStore, key: &str, len: u64, mut sink: Option<&mut dyn Write>) -> Result<ObjectDigests, ObjectProblem> {
    let mut hasher = ObjectHasher::new();
    let mut pos = 0;
    while pos < len {
        let n = CHUNK.min(len - pos);
        let bytes = store.get_range(key, pos, n)?;
        hasher.update(&bytes);
        if let Some(w) = sink.as_mut() {
            w.write_all(&bytes).map_err(ObjectProblem::Spool)?;
        }
        pos += n;
    }
    Ok(hasher.finalize())
}

/// The digest prefix an original's key carries (`….{16 hex}.dcm`, see
/// [`yunying_store::original_key`]); `None` for other keys.
pub fn key_version(key: &str) -> Option<&str> {
    let name = key.strip_prefix(ORIGINALS_PREFIX)?.rsplit('/').next()?.strip_suffix(".dcm")?;
    let version = name.rsplit('.').next()?;
    (version.len() == 16 && version.bytes().all(|b| b.is_ascii_hexdigit())).then_some(version)
}

/// Check one object: present, of the expected size (when given), with a
/// SHA-256 starting with `expected_digest` (when given: the full digest from
/// the index, or the prefix in an original's key) and with the SM3
/// `expected_sm3` (when the index recorded one). Both digests come from one
/// read, and only a digest check reads the object.
pub fn check_object(
    store: &dyn ObjectStore,
    key: &str,
    expected_size: Option<u64>,
    expected_digest: Option<&str>,
    expected_sm3: Option<&str>,
) -> Result<u64, ObjectProblem> {
    let size = store.size(key)?;
    if let Some(expected) = expected_size.filter(|&e| e != size) {
        return Err(ObjectProblem::WrongSize { expected, actual: size });
    }
    let expected_digest = expected_digest.filter(|d| !d.is_empty());
    let expected_sm3 = expected_sm3.filter(|d| !d.is_empty());
    if expected_digest.is_none() && expected_sm3.is_none() {
        return Ok(size);
    }
    let actual = hash_first(store, key, size, None)?;
    if let Some(expected) = expected_digest {
        let actual = actual.sha256_hex();
        if !actual.starts_with(expected) {
            return Err(ObjectProblem::Corrupt { algorithm: "SHA-256", expected: expected.to_string(), actual });
        }
    }
    if let Some(expected) = expected_sm3 {
        let actual = actual.sm3_hex();
        if actual != expected.to_ascii_lowercase() {
            return Err(ObjectProblem::Corrupt { algorithm: "SM3", expected: expected.to_string(), actual });
        }
    }
    Ok(size)
}

/// Delete the spool files (`.copy-PID-N`) of copies whose process is gone:
/// a `verify --repair-from`, `migrate-store` or `restore` that was killed
/// mid-copy. Copies of a running process (another of these commands, next
/// to a serving node on the same spool) are left alone. Returns how many
/// were removed. Where processes cannot be looked up (no `/proc`), none.
pub fn remove_dead_copies(spool: &Path) -> u64 {
    let proc = Path::new("/proc");
    let Ok(entries) = std::fs::read_dir(spool) else { return 0 };
    if !proc.join("self").exists() {
        return 0;
    }
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(".copy-")).and_then(|rest| rest.split('-').next()) else { continue };
        let alive = pid.parse::<u32>().map_or(true, |pid| proc.join(pid.to_string()).exists());
        if !alive && std::fs::remove_file(entry.path()).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Copy one object from `from` to `to` through a spool file in `spool`,
/// checking its digest against `expected_digest` (full or prefix) before the
/// destination sees it: a corrupt source is never copied. The destination
/// object appears whole or not at all. Returns the bytes copied.
pub fn copy_object(
    from: &dyn ObjectStore,
    to: &dyn ObjectStore,
    key: &str,
    expected_digest: Option<&str>,
    spool: &Path,
) -> Result<u64, ObjectProblem> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    std::fs::create_dir_all(spool).map_err(ObjectProblem::Spool)?;
    let tmp = spool.join(format!(".copy-{}-{}", std::process::id(), NEXT.fetch_add(1, Relaxed)));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp).map_err(ObjectProblem::Spool)?;
        let (digests, len) = hash_object(from, key, Some(&mut file))?;
        let digest = digests.sha256_hex();
        if let Some(expected) = expected_digest.filter(|d| !d.is_empty() && !digest.starts_with(*d)) {
            return Err(ObjectProblem::Corrupt { algorithm: "SHA-256", expected: expected.to_string(), actual: digest });
        }
        drop(file);
        // The destination checks the bytes it receives against the digest
        // just compared (S3 refuses a body that differs).
        to.put_file_hashed(key, &tmp, &digests.sha256)?;
        Ok(len)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// What a migration still has to do.
#[derive(Debug, Default)]
pub struct CopyPlan {
    /// Objects missing from the destination, or there with another size.
    pub to_copy: Vec<ObjectInfo>,
    /// Objects already in the destination with the same size (copied by an
    /// earlier, interrupted run: stores make objects visible only whole).
    pub present: u64,
    pub present_bytes: u64,
}

/// Compare the originals and renditions of two stores.
pub fn plan_copy(from: &dyn ObjectStore, to: &dyn ObjectStore) -> Result<CopyPlan, StoreError> {
    let mut plan = CopyPlan::default();
    for prefix in [ORIGINALS_PREFIX, RENDITIONS_PREFIX] {
        let there: HashMap<String, u64> = to.list(prefix)?.into_iter().map(|o| (o.key, o.size)).collect();
        for object in from.list(prefix)? {
            if there.get(&object.key) == Some(&object.size) {
                plan.present += 1;
                plan.present_bytes += object.size;
            } else {
                plan.to_copy.push(object);
            }
        }
    }
    Ok(plan)
}

/// Run `f` on every item with `jobs` threads (items are taken in order).
pub fn for_each_parallel<T: Sync>(items: &[T], jobs: usize, f: impl Fn(&T) + Sync) {
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..jobs.clamp(1, items.len().max(1)) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Relaxed);
                    let Some(item) = items.get(i) else { break };
                    f(item);
                }
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use yunying_store::{FsStore, original_key, rendition_key};

    fn digest(bytes: &[u8]) -> String {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(bytes))
    }

    #[test]
    fn key_versions_are_read_from_original_keys_only() {
        let key = original_key("1.2", "1.2.3", "1.2.3.4", "0123456789abcdef");
        assert_eq!(key_version(&key), Some("0123456789abcdef"));
        assert_eq!(key_version(&rendition_key("1.2", "1.2.3", "1.2.3.4", "thumbnail.jpg")), None);
        assert_eq!(key_version("originals/1/2/3.short.dcm"), None);
    }

    #[test]
    fn a_killed_copy_s_spool_file_is_removed_and_a_running_one_s_kept() {
        let dir = tempfile::tempdir().unwrap();
        // pid_max is at most 2^22: this process cannot exist.
        let dead = dir.path().join(".copy-4194305-7");
        let ours = dir.path().join(format!(".copy-{}-0", std::process::id()));
        let other = dir.path().join("ingest-0001.part");
        for f in [&dead, &ours, &other] {
            std::fs::write(f, b"partial").unwrap();
        }
        assert_eq!(remove_dead_copies(dir.path()), 1);
        assert!(!dead.exists() && ours.exists() && other.exists(), "only the dead process's copy goes");
    }

    #[test]
    fn copies_check_the_source_and_resume_from_what_is_there() {
        let dir = tempfile::tempdir().unwrap();
        let a = FsStore::open(dir.path().join("a")).unwrap();
        let b = FsStore::open(dir.path().join("b")).unwrap();
        let big: Vec<u8> = (0..(CHUNK as usize + 1000)).map(|i| (i * 7 % 251) as u8).collect();
        let keys = [
            original_key("1", "1.1", "1.1.1", &digest(&big)[..16]),
            original_key("1", "1.1", "1.1.2", &digest(b"small")[..16]),
            rendition_key("1", "1.1", "1.1.1", "thumbnail.jpg"),
        ];
        a.put_bytes(&keys[0], &big).unwrap();
        a.put_bytes(&keys[1], b"small").unwrap();
        a.put_bytes(&keys[2], b"jpeg").unwrap();

        // One object was copied before an interruption.
        copy_object(&a, &b, &keys[1], key_version(&keys[1]), &dir.path().join("spool")).unwrap();
        let plan = plan_copy(&a, &b).unwrap();
        assert_eq!(plan.present, 1);
        let mut left: Vec<_> = plan.to_copy.iter().map(|o| o.key.clone()).collect();
        left.sort();
        let mut expected = vec![keys[0].clone(), keys[2].clone()];
        expected.sort();
        assert_eq!(left, expected);
        for o in &plan.to_copy {
            copy_object(&a, &b, &o.key, key_version(&o.key), &dir.path().join("spool")).unwrap();
        }
        assert_eq!(b.get(&keys[0]).unwrap(), big, "a multi-chunk object arrives whole");
        assert_eq!(plan_copy(&a, &b).unwrap().to_copy.len(), 0);
        check_object(&b, &keys[0], Some(big.len() as u64), Some(&digest(&big)), None).unwrap();

        // A source that does not match its digest is not copied.
        let c = FsStore::open(dir.path().join("c")).unwrap();
        a.put_bytes(&keys[1], b"smal!").unwrap();
        let err = copy_object(&a, &c, &keys[1], key_version(&keys[1]), &dir.path().join("spool")).unwrap_err();
        assert_eq!(err.kind(), "corrupt");
        assert!(matches!(c.size(&keys[1]), Err(StoreError::NotFound { .. })));
        assert_eq!(std::fs::read_dir(dir.path().join("spool")).unwrap().count(), 0, "no spool file left behind");

        assert_eq!(check_object(&a, &keys[1], None, Some(&digest(b"small")), None).unwrap_err().kind(), "corrupt");
        assert_eq!(check_object(&a, &keys[1], Some(4), None, None).unwrap_err().kind(), "wrong-size");
        assert_eq!(check_object(&c, &keys[1], None, None, None).unwrap_err().kind(), "missing");

        // The SM3 is held to as well, and named when it alone differs.
        let sm3_of = |bytes: &[u8]| {
            let mut h = ObjectHasher::new();
            h.update(bytes);
            h.finalize().sm3_hex()
        };
        check_object(&a, &keys[1], Some(5), Some(&digest(b"smal!")), Some(&sm3_of(b"smal!"))).unwrap();
        let err = check_object(&a, &keys[1], Some(5), Some(&digest(b"smal!")), Some(&sm3_of(b"small"))).unwrap_err();
        assert!(matches!(err, ObjectProblem::Corrupt { algorithm: "SM3", .. }), "{err}");
    }
}
