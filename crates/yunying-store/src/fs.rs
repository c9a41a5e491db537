//! Filesystem object store: one file per object under `root/objects/`.
//!
//! Writes are atomic and durable: bytes go to a temporary file in
//! `root/spool/`, are flushed (`fdatasync`: data and size), renamed into
//! place, and the parent directory is fsynced. A crash leaves either the old
//! object or the new one, never a torn file; leftover temporaries in the
//! spool are removed by
//! [`clean_spool`](crate::clean_spool) when the server starts.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::{ObjectInfo, ObjectStore, Result, StoreError, validate_key};

/// An [`ObjectStore`] on a local filesystem.
#[derive(Debug)]
pub struct FsStore {
    objects: PathBuf,
    spool: PathBuf,
    counter: AtomicU64,
}

impl FsStore {
    /// Open (creating if needed) a store rooted at `root`. The spool is left
    /// alone: another process (a server) may be writing to it.
    pub fn open(root: impl AsRef<Path>) -> Result<FsStore> {
        let root = root.as_ref();
        let objects = root.join("objects");
        let spool = root.join("spool");
        for dir in [&objects, &spool] {
            fs::create_dir_all(dir).map_err(|e| StoreError::io(&dir.display().to_string(), e))?;
        }
        Ok(FsStore { objects, spool, counter: AtomicU64::new(0) })
    }

    /// The path an object lives at.
    pub fn path_of(&self, key: &str) -> Result<PathBuf> {
        validate_key(key)?;
        Ok(self.objects.join(key))
    }

    fn temp_path(&self) -> PathBuf {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        self.spool.join(format!("put-{}-{n}.tmp", std::process::id()))
    }

    /// Create the object's parent directories, fsyncing each parent that
    /// gained an entry so the new directories survive a crash.
    fn ensure_parent(&self, path: &Path, key: &str) -> Result<()> {
        let parent = path.parent().expect("object path has a parent");
        if parent.is_dir() {
            return Ok(());
        }
        let mut missing = Vec::new();
        let mut dir = parent;
        while !dir.is_dir() {
            missing.push(dir.to_path_buf());
            dir = dir.parent().expect("objects root exists");
        }
        for dir in missing.iter().rev() {
            match fs::create_dir(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(StoreError::io(key, e)),
            }
            fsync_dir(dir.parent().unwrap()).map_err(|e| StoreError::io(key, e))?;
        }
        Ok(())
    }

    fn commit(&self, key: &str, tmp: &Path) -> Result<()> {
        let path = self.path_of(key)?;
        self.ensure_parent(&path, key)?;
        fs::rename(tmp, &path).map_err(|e| StoreError::io(key, e))?;
        fsync_dir(path.parent().unwrap()).map_err(|e| StoreError::io(key, e))
    }
}

impl ObjectStore for FsStore {
    fn put_file(&self, key: &str, local: &Path) -> Result<()> {
        validate_key(key)?;
        let file = File::open(local).map_err(|e| StoreError::io(key, e))?;
        // fdatasync: the bytes and what reading them needs (the size), not
        // the timestamps; ingest has usually flushed them already.
        file.sync_data().map_err(|e| StoreError::io(key, e))?;
        drop(file);
        match self.commit(key, local) {
            Err(StoreError::Io { source, .. }) if source.raw_os_error() == Some(18) => {
                // EXDEV: the spool is on another filesystem; copy instead.
                let bytes = fs::read(local).map_err(|e| StoreError::io(key, e))?;
                self.put_bytes(key, &bytes)?;
                fs::remove_file(local).map_err(|e| StoreError::io(key, e))
            }
            other => other,
        }
    }

    fn put_bytes(&self, key: &str, bytes: &[u8]) -> Result<()> {
        validate_key(key)?;
        let tmp = self.temp_path();
        let result = (|| {
            let mut f = File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_data()
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(StoreError::io(key, e));
        }
        self.commit(key, &tmp).inspect_err(|_| {
            let _ = fs::remove_file(&tmp);
        })
    }

    fn get(&self, key: &str) -> Result<Vec<u8>> {
        fs::read(self.path_of(key)?).map_err(|e| StoreError::io(key, e))
    }

    fn get_range(&self, key: &str, start: u64, len: u64) -> Result<Vec<u8>> {
        let mut f = File::open(self.path_of(key)?).map_err(|e| StoreError::io(key, e))?;
        let size = f.metadata().map_err(|e| StoreError::io(key, e))?.len();
        let end = start.checked_add(len).filter(|&end| end <= size);
        let Some(end) = end else {
            return Err(StoreError::InvalidRange { start, end: start.saturating_add(len), len: size });
        };
        f.seek(SeekFrom::Start(start)).map_err(|e| StoreError::io(key, e))?;
        let mut buf = vec![0; (end - start) as usize];
        f.read_exact(&mut buf).map_err(|e| StoreError::io(key, e))?;
        Ok(buf)
    }

    fn open_local(&self, key: &str) -> Result<Option<File>> {
        File::open(self.path_of(key)?).map(Some).map_err(|e| StoreError::io(key, e))
    }

    fn size(&self, key: &str) -> Result<u64> {
        let meta = fs::metadata(self.path_of(key)?).map_err(|e| StoreError::io(key, e))?;
        Ok(meta.len())
    }

    fn delete(&self, key: &str) -> Result<()> {
        let path = self.path_of(key)?;
        match fs::remove_file(&path) {
            Ok(()) => fsync_dir(path.parent().unwrap()).map_err(|e| StoreError::io(key, e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StoreError::io(key, e)),
        }
    }

    fn list_page(&self, prefix: &str, after: Option<&str>, limit: usize) -> Result<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        if limit > 0 {
            walk_page(&self.objects, &self.objects, prefix, after, limit, &mut out).map_err(|e| StoreError::io(prefix, e))?;
        }
        Ok(out)
    }

    fn local_spool_dir(&self) -> Option<&Path> {
        Some(&self.spool)
    }
}

/// Visit `dir` in key order, skipping directories whose keys all sort at
/// or before `after`, until `out` holds `limit` objects. Only the
/// directories on the way to `after` are read in full, one at a time.
fn walk_page(root: &Path, dir: &Path, prefix: &str, after: Option<&str>, limit: usize, out: &mut Vec<ObjectInfo>) -> std::io::Result<()> {
    // (key of a file, or of a directory with its trailing `/`; is a directory)
    let mut entries: Vec<(String, bool, std::path::PathBuf)> = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let rel = path.strip_prefix(root).expect("walk stays under root");
        let key = rel.to_string_lossy().replace(std::path::MAIN_SEPARATOR, "/");
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            let dir_key = format!("{key}/");
            let under_prefix = dir_key.starts_with(prefix) || prefix.starts_with(&dir_key);
            // Every key under it sorts at or before `after` unless `after`
            // is itself under it or sorts before it.
            let past = after.is_some_and(|a| !a.starts_with(&dir_key) && a > dir_key.as_str());
            if under_prefix && !past {
                entries.push((dir_key, true, path));
            }
        } else if file_type.is_file() && key.starts_with(prefix) && after.is_none_or(|a| key.as_str() > a) {
            entries.push((key, false, path));
        }
    }
    // A directory sorts as its keys do (`a.b` before `a/…`).
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, is_dir, path) in entries {
        if out.len() >= limit {
            break;
        }
        if is_dir {
            walk_page(root, &path, prefix, after, limit, out)?;
        } else {
            match fs::metadata(&path) {
                Ok(meta) => out.push(ObjectInfo { key, size: meta.len(), modified: meta.modified().ok() }),
                // Deleted since the directory was read: not listed.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(())
}

/// fsync a directory so entries created or renamed in it are durable.
pub(crate) fn fsync_dir(dir: &Path) -> std::io::Result<()> {
    OpenOptions::new().read(true).open(dir)?.sync_all()
}
