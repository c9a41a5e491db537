//! Encryption at rest from the command line: `migrate-store --encrypt`
//! (a store named there takes the configured master keys) and
//! `yunying rotate-store-key`, which re-wraps every object's data key under
//! the current master key without re-encrypting bodies.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use anyhow::Context;
use yunying_archive::maintenance::for_each_parallel;
use yunying_store::{EncryptedStore, EncryptionConfig, ORIGINALS_PREFIX, ObjectStore, RENDITIONS_PREFIX, StoreConfig};

use crate::config::Config;
use crate::import::progress_bar;

/// `store` encrypted under the configured master keys when `encrypted`.
pub fn encrypted_if(mut store: StoreConfig, encrypted: bool, config: &Config) -> anyhow::Result<StoreConfig> {
    if encrypted {
        anyhow::ensure!(
            !config.store.encryption.key_id.is_empty(),
            "[store.encryption] names no master key (key_id with master_key_file or master_key_env)"
        );
        store.encryption = EncryptionConfig { enabled: true, ..config.store.encryption.clone() };
    }
    Ok(store)
}

/// The `[store.encryption]` section of `encryption` (names and places of
/// keys, never keys).
pub fn encryption_toml(encryption: &EncryptionConfig) -> String {
    let source = |file: &Option<std::path::PathBuf>, env: &Option<String>| match (file, env) {
        (Some(f), _) => format!("master_key_file = {:?}", f.display().to_string()),
        (None, Some(e)) => format!("master_key_env = {e:?}"),
        (None, None) => String::new(),
    };
    let mut text = format!(
        "[store.encryption]\nenabled = true\nkey_id = {:?}\n{}",
        encryption.key_id,
        source(&encryption.master_key_file, &encryption.master_key_env)
    );
    for old in &encryption.previous {
        text +=
            &format!("\n[[store.encryption.previous]]\nkey_id = {:?}\n{}", old.key_id, source(&old.master_key_file, &old.master_key_env));
    }
    text
}

pub struct RotateOptions {
    pub jobs: usize,
    pub quiet: bool,
}

/// `yunying rotate-store-key`: re-wrap the data key of every object not yet
/// under the current master key (`[store.encryption] key_id`), reading the
/// old ones with the keys in `previous`. Each object is re-put with its
/// new header and its body as it was; run again after an interruption.
/// Once it reports nothing left, the old keys can leave the configuration.
pub async fn rotate(config: &Config, options: RotateOptions) -> anyhow::Result<()> {
    let encryption = &config.store.encryption;
    anyhow::ensure!(encryption.enabled, "the configured store is not encrypted ([store.encryption] enabled = false)");
    let root = config.data_dir.join("store");
    let (plain_config, described) = (config.store.clone(), config.store.describe(&root));
    let inner: Arc<dyn ObjectStore> = tokio::task::spawn_blocking(move || plain_config.open_plain(&root))
        .await?
        .with_context(|| format!("opening the object store ({described})"))?;
    let keys = encryption.load().context("loading the master keys")?;
    let store = EncryptedStore::new(inner.clone(), Arc::new(keys));
    let spool = inner.local_spool_dir().map(ToOwned::to_owned).unwrap_or_else(|| config.data_dir.join("spool"));
    std::fs::create_dir_all(&spool).with_context(|| format!("creating {}", spool.display()))?;
    let objects = tokio::task::block_in_place(|| -> anyhow::Result<Vec<_>> {
        let mut all = store.list(ORIGINALS_PREFIX)?;
        all.extend(store.list(RENDITIONS_PREFIX)?);
        Ok(all)
    })?;
    println!("re-wrapping the data keys of {} objects under master key {:?}", objects.len(), encryption.key_id);
    let bar = progress_bar(objects.len() as u64, options.quiet);
    let (rewrapped, current, failed) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    tokio::task::block_in_place(|| {
        for_each_parallel(&objects, options.jobs, |object| {
            match store.rewrap(&object.key, &spool) {
                Ok(true) => rewrapped.fetch_add(1, Relaxed),
                Ok(false) => current.fetch_add(1, Relaxed),
                Err(e) => {
                    bar.suspend(|| eprintln!("not re-wrapped: {}: {e}", object.key));
                    failed.fetch_add(1, Relaxed)
                }
            };
            bar.inc(1);
        })
    });
    bar.finish_and_clear();
    let (rewrapped, current, failed) = (rewrapped.into_inner(), current.into_inner(), failed.into_inner());
    println!("{rewrapped} re-wrapped, {current} already under {:?}, {failed} failed", encryption.key_id);
    anyhow::ensure!(failed == 0, "{failed} objects were not re-wrapped (listed above); run again to retry them");
    println!("every object is under {:?}: the previous master keys may now be removed", encryption.key_id);
    Ok(())
}
