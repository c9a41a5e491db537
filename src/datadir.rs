//! The data directory: checked before anything is written under it, and
//! locked by the server that uses it.
//!
//! `serve` holds an exclusive advisory lock on `<data dir>/serve.lock` for
//! its whole life (the kernel drops it when the process ends, however it
//! ends). Commands that must not run beside a server (`reindex`) take the
//! same lock and refuse when a server holds it. Other commands (`ae`,
//! `key`, `import`, `verify`, …) are made to run next to a serving process
//! and take no lock.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The lock file's name in the data directory.
const LOCK_FILE: &str = "serve.lock";

/// Fail with a message that names the data directory when it cannot be
/// one: it exists and is not a directory, or the nearest existing
/// ancestor is a file (`mkdir -p` would fail with "Not a directory" on
/// some file inside it).
pub fn check(data_dir: &Path) -> anyhow::Result<()> {
    if data_dir.as_os_str().is_empty() {
        anyhow::bail!("the data directory is empty: set data_dir (or --data-dir)");
    }
    let mut at: Option<&Path> = Some(data_dir);
    while let Some(path) = at {
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => return Ok(()),
            Ok(_) if path == data_dir => {
                anyhow::bail!("the data directory {} is a file, not a directory", data_dir.display())
            }
            Ok(_) => {
                anyhow::bail!("the data directory {} cannot be created: {} is a file, not a directory", data_dir.display(), path.display())
            }
            // Not found, or a file on the way ("Not a directory"): look
            // further up for what is in the way.
            Err(e) if matches!(e.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory) => {
                at = path.parent().filter(|p| !p.as_os_str().is_empty())
            }
            Err(e) => return Err(e).with_context(|| format!("checking the data directory {}", data_dir.display())),
        }
    }
    Ok(())
}

/// The lock a running server holds on its data directory.
#[derive(Debug)]
pub struct ServeLock {
    _file: File,
}

/// Take the data directory's lock for a server, or say which process
/// holds it.
pub fn lock_for_serving(data_dir: &Path) -> anyhow::Result<ServeLock> {
    try_lock(data_dir)?
        .ok_or_else(|| anyhow::anyhow!("another yunying server is using the data directory {}{}", data_dir.display(), holder(data_dir)))
}

/// Refuse when a server is running on `data_dir`; otherwise hold the lock
/// (so no server starts) until the returned guard is dropped.
pub fn lock_for_maintenance(data_dir: &Path, what: &str) -> anyhow::Result<ServeLock> {
    try_lock(data_dir)?.ok_or_else(|| {
        anyhow::anyhow!(
            "a yunying server is running on the data directory {}{}: stop it before {what}",
            data_dir.display(),
            holder(data_dir)
        )
    })
}

/// The lock, or `None` when another process holds it.
fn try_lock(data_dir: &Path) -> anyhow::Result<Option<ServeLock>> {
    let file = open_lock(data_dir)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(ServeLock { _file: file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(e).with_context(|| format!("locking {}", lock_path(data_dir).display())),
    }
}

fn lock_path(data_dir: &Path) -> PathBuf {
    data_dir.join(LOCK_FILE)
}

fn open_lock(data_dir: &Path) -> anyhow::Result<File> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating data directory {}", data_dir.display()))?;
    let path = lock_path(data_dir);
    OpenOptions::new().create(true).truncate(false).write(true).open(&path).with_context(|| format!("opening {}", path.display()))
}

/// " (pid N)" from the holder's `serving.json`, when it says.
fn holder(data_dir: &Path) -> String {
    std::fs::read_to_string(data_dir.join("serving.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|v| v["pid"].as_u64())
        .map(|pid| format!(" (pid {pid})"))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_in_the_way_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("plain");
        std::fs::write(&file, "x").unwrap();
        let err = check(&file.join("a/b")).unwrap_err().to_string();
        assert!(err.contains("is a file") && err.contains(&file.display().to_string()), "{err}");
        let err = check(&file).unwrap_err().to_string();
        assert!(err.contains("is a file, not a directory"), "{err}");
        check(&tmp.path().join("new/dir")).unwrap();
    }

    #[test]
    fn maintenance_is_refused_while_a_server_holds_the_lock() {
        let tmp = tempfile::tempdir().unwrap();
        let serving = lock_for_serving(tmp.path()).unwrap();
        let err = lock_for_maintenance(tmp.path(), "reindexing").unwrap_err().to_string();
        assert!(err.contains("stop it before reindexing"), "{err}");
        assert!(lock_for_serving(tmp.path()).is_err(), "a second server is refused");
        drop(serving);
        let maintenance = lock_for_maintenance(tmp.path(), "reindexing").unwrap();
        assert!(lock_for_serving(tmp.path()).is_err(), "no server starts during maintenance");
        drop(maintenance);
        lock_for_serving(tmp.path()).unwrap();
    }
}
