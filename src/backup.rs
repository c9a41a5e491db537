//! `yunying backup` and `yunying restore` for the embedded archive (SQLite
//! index, any object store).
//!
//! A backup directory holds `index.sqlite` (a `VACUUM INTO` copy: one read
//! transaction, made while the server runs), `store/` (a filesystem store
//! holding every object that copy names, encrypted as the live store is),
//! `keys/` (the node's key files that live under the data directory) and
//! `backup.json`. A repeat run copies only what the directory lacks and
//! removes what the new index copy no longer names. The copy of the index
//! replaces the previous one only after every object it names is in
//! `store/`, so an interrupted or failed run leaves the previous backup whole.
//!
//! `restore` copies the objects first, then the keys, then the index, so
//! the index it puts in place never names a missing object; then it
//! re-reads every object against that index, as `verify` does.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use serde::{Deserialize, Serialize};
use yunying_archive::maintenance::{copy_object, for_each_parallel};
use yunying_archive::orphans::{LIST_PAGE, scan_page};
use yunying_index::Index;
use yunying_store::{ObjectStore, StoreConfig};

use crate::config::Config;
use crate::datadir;
use crate::import::progress_bar;
use crate::storetools::{copy_spool_for, open_index, open_store, spool_for, verify_store};

const INDEX: &str = "index.sqlite";
const PARTIAL: &str = "index.sqlite.partial";
const STORE: &str = "store";
const KEYS: &str = "keys";
const MANIFEST: &str = "backup.json";
/// Instances per page of the index.
const PAGE: i64 = 1000;

/// What `backup.json` says about a backup.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// `yunying-backup/1`.
    pub format: String,
    /// When the index copy was taken (RFC 3339, UTC).
    pub taken: String,
    pub version: String,
    pub instances: u64,
    pub objects: u64,
    pub bytes: u64,
    /// The objects are encrypted under the live store's master keys (which
    /// are never in a backup).
    pub encrypted: bool,
    /// Key files in `keys/`, by their place under the data directory.
    pub keys: Vec<String>,
}

const FORMAT: &str = "yunying-backup/1";
/// A manifest is a few hundred bytes; a larger file is not one.
const MAX_MANIFEST_BYTES: u64 = 64 * 1024;

/// The manifest of the backup in `dir`, read within its bound.
fn read_manifest(dir: &Path) -> anyhow::Result<Manifest> {
    use std::io::Read;
    let path = dir.join(MANIFEST);
    let file = std::fs::File::open(&path).with_context(|| format!("{} holds no backup ({MANIFEST})", dir.display()))?;
    let mut bytes = Vec::new();
    file.take(MAX_MANIFEST_BYTES + 1).read_to_end(&mut bytes).with_context(|| format!("reading {}", path.display()))?;
    anyhow::ensure!(bytes.len() as u64 <= MAX_MANIFEST_BYTES, "{} is larger than a backup manifest can be", path.display());
    let manifest: Manifest = serde_json::from_slice(&bytes).with_context(|| format!("reading {}", path.display()))?;
    anyhow::ensure!(manifest.format == FORMAT, "{} is a backup of another format ({})", dir.display(), manifest.format);
    Ok(manifest)
}

pub struct BackupOptions {
    pub to: PathBuf,
    pub jobs: usize,
    pub quiet: bool,
}

/// Counts of one pass over an index's objects.
#[derive(Default)]
struct Pass {
    instances: AtomicU64,
    objects: AtomicU64,
    bytes: AtomicU64,
    copied: AtomicU64,
    copied_bytes: AtomicU64,
    failed: Mutex<Vec<String>>,
}

fn embedded(config: &Config, what: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !config.index_url.starts_with("postgres"),
        "{what} is for the embedded index (SQLite); a PostgreSQL index is backed up with PostgreSQL's tools \
         (pg_basebackup and WAL archiving) and its buckets with S3 versioning or replication: see docs/en/backup-restore.md"
    );
    Ok(())
}

/// The backup directory's filesystem store, encrypted like `config`'s.
fn backup_store_config(dir: &Path, encrypted: bool, config: &Config) -> anyhow::Result<StoreConfig> {
    let spec = StoreConfig::from_spec(&format!("fs:{}", dir.join(STORE).display())).map_err(anyhow::Error::msg)?;
    crate::storecrypt::encrypted_if(spec, encrypted, config)
}

/// The node's key files under the data directory (or where the
/// configuration moves them), by the name they get in `keys/`.
fn key_files(config: &Config) -> Vec<(&'static str, PathBuf)> {
    let data = &config.data_dir;
    let signing = config.audit.signing_key_path(data);
    vec![
        ("film.key", data.join("film.key")),
        ("audit/signing-key.pem", signing.clone()),
        ("audit/signing-key.pub", signing.with_extension("pub")),
        ("audit/patient-key", config.audit.patient_key_path(data)),
        ("audit/witness-key.pem", config.audit.witness_key_path(data)),
        ("empi/platform-key", config.empi.key_path(data)),
    ]
}

/// Write `bytes` to `path` whole or not at all, readable by the owner only.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    let tmp = path.with_extension("tmp-write");
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))?;
    sync_dir(path)
}

fn sync_dir(path: &Path) -> anyhow::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::File::open(dir).and_then(|d| d.sync_all()).with_context(|| format!("syncing {}", dir.display()))
}

/// Copy every object `index` names from `from` to `to` unless `to` holds it
/// with the same size already (objects never change once written), checking
/// originals against their SHA-256 on the way.
async fn copy_named(
    index: &Index,
    from: &Arc<dyn ObjectStore>,
    to: &Arc<dyn ObjectStore>,
    spool: &Path,
    jobs: usize,
    quiet: bool,
) -> anyhow::Result<Pass> {
    let bar = progress_bar(index.counts().await?.instances as u64, quiet);
    let pass = Pass::default();
    let mut after = 0;
    loop {
        let page = index.objects_page(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let mut objects: Vec<(&str, u64, Option<&str>)> = Vec::new();
        for o in &page {
            objects.push((&o.key, o.size, Some(&o.digest)));
            objects.extend(o.renditions.iter().map(|(k, size)| (k.as_str(), *size, None)));
        }
        pass.instances.fetch_add(page.len() as u64, Relaxed);
        let (pass, bar) = (&pass, bar.clone());
        tokio::task::block_in_place(|| {
            for_each_parallel(&objects, jobs, |&(key, size, digest)| {
                pass.objects.fetch_add(1, Relaxed);
                pass.bytes.fetch_add(size, Relaxed);
                if digest.is_some() {
                    bar.inc(1);
                }
                if to.size(key).ok() == Some(size) {
                    return;
                }
                match copy_object(&**from, &**to, key, digest, spool) {
                    Ok(n) => {
                        pass.copied.fetch_add(1, Relaxed);
                        pass.copied_bytes.fetch_add(n, Relaxed);
                    }
                    Err(e) => pass.failed.lock().unwrap().push(format!("{key}: {e}")),
                }
            })
        });
    }
    bar.finish_and_clear();
    Ok(pass)
}

/// Delete from the backup's store what `index` no longer names (deleted
/// under retention, replaced), walking it a page at a time as `verify`
/// walks a live store for unreferenced objects. Returns the count.
async fn prune(index: &Index, store: &Arc<dyn ObjectStore>) -> anyhow::Result<u64> {
    // Every object there was written before now: none is left out for age.
    let cutoff = std::time::SystemTime::now();
    let (mut after, mut pruned) = (None::<String>, 0);
    loop {
        let page = scan_page(index, store, after.as_deref(), cutoff, LIST_PAGE).await?;
        for object in &page.unreferenced {
            store.delete(&object.key).with_context(|| format!("removing {} from the backup", object.key))?;
            pruned += 1;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(pruned),
        }
    }
}

/// `yunying backup --to DIR`: beside a running server or not.
pub async fn backup(config: &Config, options: BackupOptions) -> anyhow::Result<()> {
    embedded(config, "yunying backup")?;
    let dir = &options.to;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let (dir_real, data_real) = (dir.canonicalize()?, config.data_dir.canonicalize()?);
    anyhow::ensure!(
        !dir_real.starts_with(&data_real) && !data_real.starts_with(&dir_real),
        "the backup directory {} and the data directory {} must not contain each other",
        dir.display(),
        config.data_dir.display()
    );
    // One run at a time per backup directory.
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join("backup.lock"))?;
    anyhow::ensure!(lock.try_lock().is_ok(), "another yunying backup is writing to {}", dir.display());

    let live_index = open_index(config).await?;
    let live = open_store(&config.store, config.data_dir.join("store")).await?;
    let encrypted = config.store.encryption.enabled;
    let copy = open_store(&backup_store_config(dir, encrypted, config)?, dir.join(STORE)).await?;

    // What a run that was killed left: its unfinished copies.
    let spool = spool_for(&copy, config);
    if let Ok(entries) = std::fs::read_dir(&spool) {
        for entry in entries.flatten().filter(|e| e.file_name().to_string_lossy().starts_with(".copy-")) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let partial = dir.join(PARTIAL);
    for stale in [partial.clone(), dir.join(format!("{PARTIAL}-wal")), dir.join(format!("{PARTIAL}-shm"))] {
        let _ = std::fs::remove_file(stale);
    }
    let taken = yunying_atna::rfc3339_utc(std::time::SystemTime::now());
    live_index.snapshot_into(&partial).await.context("copying the index")?;
    let snapshot = Index::open_sqlite(&partial).await.context("opening the index copy")?;
    let pass = copy_named(&snapshot, &live, &copy, &spool, options.jobs, options.quiet).await;
    let pass = match pass {
        Ok(pass) if pass.failed.lock().unwrap().is_empty() => pass,
        outcome => {
            snapshot.close().await;
            let _ = std::fs::remove_file(&partial);
            live_index.close().await;
            let failed = outcome?.failed.into_inner().unwrap();
            for f in &failed {
                eprintln!("not copied: {f}");
            }
            anyhow::bail!(
                "{} objects could not be copied (listed above); the backup in {} is left as it was: run again",
                failed.len(),
                dir.display()
            );
        }
    };
    // The copy becomes the backup's index only now that its objects are there.
    snapshot.close().await;
    std::fs::File::open(&partial)?.sync_all()?;
    std::fs::rename(&partial, dir.join(INDEX)).context("putting the index copy in place")?;
    sync_dir(&dir.join(INDEX))?;
    let snapshot = Index::open_sqlite(&dir.join(INDEX)).await?;
    let pruned = prune(&snapshot, &copy).await;
    snapshot.close().await;
    let pruned = pruned?;

    let mut keys = Vec::new();
    for (name, path) in key_files(config) {
        match std::fs::read(&path) {
            Ok(bytes) => {
                write_private(&dir.join(KEYS).join(name), &bytes)?;
                keys.push(name.to_string());
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let _ = std::fs::remove_file(dir.join(KEYS).join(name));
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        taken,
        version: env!("CARGO_PKG_VERSION").into(),
        instances: pass.instances.load(Relaxed),
        objects: pass.objects.load(Relaxed),
        bytes: pass.bytes.load(Relaxed),
        encrypted,
        keys: keys.clone(),
    };
    write_private(&dir.join(MANIFEST), &serde_json::to_vec_pretty(&manifest)?)?;

    let (copied, copied_bytes) = (pass.copied.load(Relaxed), pass.copied_bytes.load(Relaxed));
    let audit = crate::recorder::recorder(config, &live_index)?;
    let event = yunying_audit::Event::new("backup-made", "cli", "ok")
        .detail(&format!("{} instances, {copied} objects copied, {pruned} removed", manifest.instances))
        .fact("face", "cli")
        .fact("to", dir_real.display().to_string())
        .fact("instances", manifest.instances)
        .fact("copied", copied)
        .fact("removed", pruned);
    let recorded = audit.record(event).await.context("recording backup-made in the audit ledger");
    live_index.close().await;
    recorded?;
    println!(
        "backed up {} instances as of {}: {} objects ({:.1} MB), {copied} copied now ({:.1} MB), {} already there, {pruned} no longer named removed",
        manifest.instances,
        manifest.taken,
        manifest.objects,
        manifest.bytes as f64 / 1e6,
        copied_bytes as f64 / 1e6,
        manifest.objects - copied,
    );
    println!("keys copied to {}: {}", dir.join(KEYS).display(), if keys.is_empty() { "none".to_string() } else { keys.join(", ") });
    if encrypted {
        println!("the objects are encrypted: keep the master keys of [store.encryption] apart from this backup; a restore needs them");
    }
    Ok(())
}

pub struct RestoreOptions {
    pub from: PathBuf,
    /// Replace an index (and differing key files) already there.
    pub force: bool,
    pub jobs: usize,
    pub quiet: bool,
}

/// `yunying restore --from DIR`: into the configured data directory and
/// store, with no server running on them.
pub async fn restore(config: &Config, options: RestoreOptions) -> anyhow::Result<()> {
    embedded(config, "yunying restore")?;
    let dir = &options.from;
    let manifest = read_manifest(dir)?;
    anyhow::ensure!(
        !manifest.encrypted || config.store.encryption.enabled,
        "the backup's objects are encrypted: configure [store.encryption] with the master keys they were written under"
    );
    let _lock = datadir::lock_for_maintenance(&config.data_dir, "restoring")?;
    let target = config.data_dir.join(INDEX);
    anyhow::ensure!(
        options.force || !target.exists(),
        "{} already has an index ({}): a restore replaces it; give --force to do so",
        config.data_dir.display(),
        target.display()
    );

    // The copy is opened (and migrated, if this binary is newer) as the
    // file it will be, never in the backup directory.
    let restoring = config.data_dir.join("index.sqlite.restoring");
    for stale in [restoring.clone(), restoring.with_extension("restoring-wal"), restoring.with_extension("restoring-shm")] {
        let _ = std::fs::remove_file(stale);
    }
    std::fs::copy(dir.join(INDEX), &restoring).with_context(|| format!("copying {}", dir.join(INDEX).display()))?;
    let index = Index::open_sqlite(&restoring).await.context("opening the backup's index")?;
    let from = open_store(&backup_store_config(dir, manifest.encrypted, config)?, dir.join(STORE)).await?;
    let store = open_store(&config.store, config.data_dir.join("store")).await?;
    let pass = copy_named(&index, &from, &store, &copy_spool_for(&store, config), options.jobs, options.quiet).await;
    index.close().await;
    let pass = pass?;
    let failed = pass.failed.into_inner().unwrap();
    if !failed.is_empty() {
        let _ = std::fs::remove_file(&restoring);
        for f in &failed {
            eprintln!("not restored: {f}");
        }
        anyhow::bail!("{} objects could not be restored (listed above); the index was not replaced", failed.len());
    }

    let places: std::collections::HashMap<&str, PathBuf> = key_files(config).into_iter().collect();
    for name in &manifest.keys {
        let Some(path) = places.get(name.as_str()) else { anyhow::bail!("the backup holds an unknown key file {name}") };
        let bytes = std::fs::read(dir.join(KEYS).join(name)).with_context(|| format!("reading the backup's key {name}"))?;
        match std::fs::read(path) {
            Ok(there) if there == bytes => {}
            Ok(_) if !options.force => anyhow::bail!(
                "{} differs from the backup's {name}: give --force to replace it (what it protected is then unreadable)",
                path.display()
            ),
            _ => write_private(path, &bytes)?,
        }
    }

    for stale in ["index.sqlite-wal", "index.sqlite-shm"] {
        let _ = std::fs::remove_file(config.data_dir.join(stale));
    }
    std::fs::File::open(&restoring)?.sync_all()?;
    std::fs::rename(&restoring, &target).context("putting the index in place")?;
    sync_dir(&target)?;
    println!(
        "restored {} instances taken {}: {} objects copied ({:.1} MB), {} already there; keys: {}",
        pass.instances.load(Relaxed),
        manifest.taken,
        pass.copied.load(Relaxed),
        pass.copied_bytes.load(Relaxed) as f64 / 1e6,
        pass.objects.load(Relaxed) - pass.copied.load(Relaxed),
        if manifest.keys.is_empty() { "none".to_string() } else { manifest.keys.join(", ") },
    );

    let index = open_index(config).await?;
    let report = verify_store(&index, &store, options.jobs, None, options.quiet).await;
    index.close().await;
    let report = report?;
    report.print_problems();
    println!("verified: {}", report.summary());
    anyhow::ensure!(report.clean(), "the restored store does not match the restored index");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_is_read_within_its_bound_and_its_format_checked() {
        let dir = tempfile::tempdir().unwrap();
        let err = read_manifest(dir.path()).unwrap_err().to_string();
        assert!(err.contains("holds no backup"), "{err}");
        std::fs::write(dir.path().join(MANIFEST), vec![b' '; MAX_MANIFEST_BYTES as usize + 1]).unwrap();
        let err = read_manifest(dir.path()).unwrap_err().to_string();
        assert!(err.contains("larger than a backup manifest"), "{err}");
        let other = r#"{"format":"other/9","taken":"","version":"","instances":0,"objects":0,"bytes":0,"encrypted":false,"keys":[]}"#;
        std::fs::write(dir.path().join(MANIFEST), other).unwrap();
        let err = read_manifest(dir.path()).unwrap_err().to_string();
        assert!(err.contains("another format (other/9)"), "{err}");
        std::fs::write(dir.path().join(MANIFEST), other.replace("other/9", FORMAT)).unwrap();
        assert_eq!(read_manifest(dir.path()).unwrap().format, FORMAT);
    }
}
