//! `yunying migrate-store` and `yunying verify`: move the object store
//! between the filesystem and S3, and check every stored object against the
//! digests in the index.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use serde::Serialize;
use yunying_archive::Archive;
use yunying_archive::maintenance::{check_object, copy_object, for_each_parallel, key_version, plan_copy, remove_dead_copies};
use yunying_archive::orphans::OrphanAction;
use yunying_index::Index;
use yunying_store::{ObjectStore, StoreConfig, StoreKind};

use crate::config::Config;
use crate::import::progress_bar;

/// Objects checked per index page.
const PAGE: i64 = 1000;

/// Open a store (every subcommand opens the configured one this way).
pub async fn open_store(config: &StoreConfig, default_root: std::path::PathBuf) -> anyhow::Result<Arc<dyn ObjectStore>> {
    let (owned, described) = (config.clone(), config.describe(&default_root));
    // An S3 store runs a runtime of its own: open it off this one.
    tokio::task::spawn_blocking(move || owned.open(&default_root)).await?.with_context(|| format!("opening the object store ({described})"))
}

/// Open the configured index; errors name it without its password.
pub async fn open_index(config: &Config) -> anyhow::Result<Index> {
    Index::open(&config.index_url())
        .await
        .with_context(|| format!("opening the index {}", crate::config::redact_url_password(&config.index_url())))
}

/// Where copies into `store` are spooled: beside it for the filesystem (a
/// put is then a rename), under the data directory for remote stores.
pub(crate) fn spool_for(store: &Arc<dyn ObjectStore>, config: &Config) -> std::path::PathBuf {
    store.local_spool_dir().map(ToOwned::to_owned).unwrap_or_else(|| config.data_dir.join("spool"))
}

/// The spool a copying command (`migrate-store`, `verify --repair-from`,
/// `restore`) writes through, cleared first of what killed runs left there.
pub(crate) fn copy_spool_for(store: &Arc<dyn ObjectStore>, config: &Config) -> std::path::PathBuf {
    let spool = spool_for(store, config);
    let removed = remove_dead_copies(&spool);
    if removed > 0 {
        eprintln!("removed {removed} unfinished copies an interrupted run left in {}", spool.display());
    }
    spool
}

fn parse_spec(spec: &str) -> anyhow::Result<StoreConfig> {
    StoreConfig::from_spec(spec).map_err(anyhow::Error::msg)
}

/// The digest to hold an object to: the index's for an original it knows,
/// else the prefix its key carries; renditions have none.
fn expected_digest(index: &Index, runtime: &tokio::runtime::Handle, key: &str) -> Option<String> {
    let version = key_version(key)?;
    let sop = key.rsplit('/').next()?.strip_suffix(&format!(".{version}.dcm"))?;
    match runtime.block_on(index.instance(sop)) {
        Ok(Some(stored)) if stored.object_key == key => Some(stored.digest),
        _ => Some(version.to_string()),
    }
}

pub struct MigrateOptions {
    pub from: Option<String>,
    /// The `--from` store is encrypted under the configured master keys.
    pub from_encrypted: bool,
    pub to: String,
    /// Encrypt the destination under the configured master keys.
    pub encrypt: bool,
    pub jobs: usize,
    pub limit: Option<u64>,
    pub verify: bool,
    pub quiet: bool,
}

/// Copy every original and rendition from one store to another. Objects
/// already in the destination with the same size are skipped, so a run that
/// was interrupted (or stopped by `--limit`) resumes where it stopped.
pub async fn migrate(config: &Config, options: MigrateOptions) -> anyhow::Result<()> {
    let root = config.data_dir.join("store");
    let from_config = match &options.from {
        Some(spec) => crate::storecrypt::encrypted_if(parse_spec(spec)?, options.from_encrypted, config)?,
        None => config.store.clone(),
    };
    let to_config = crate::storecrypt::encrypted_if(parse_spec(&options.to)?, options.encrypt, config)?;
    let (from_name, to_name) = (from_config.describe(&root), to_config.describe(&root));
    anyhow::ensure!(
        from_config.describe_place(&root) != to_config.describe_place(&root),
        "--from and --to name the same store ({from_name}): copy to a new place, then point [store] at it"
    );
    let from = open_store(&from_config, root.clone()).await?;
    let to = open_store(&to_config, root.clone()).await?;
    let index = open_index(config).await?;
    println!("migrating {from_name} -> {to_name}");

    let plan = {
        let (from, to) = (from.clone(), to.clone());
        tokio::task::spawn_blocking(move || plan_copy(&*from, &*to)).await??
    };
    let mut to_copy = plan.to_copy;
    if plan.present > 0 {
        println!("{} objects ({:.1} MB) are already there (an earlier run)", plan.present, plan.present_bytes as f64 / 1e6);
    }
    let total = to_copy.len();
    if let Some(limit) = options.limit {
        to_copy.truncate(limit as usize);
    }
    let bar = progress_bar(to_copy.iter().map(|o| o.size).sum(), options.quiet);
    let spool = copy_spool_for(&to, config);
    let (copied, bytes, failed) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let runtime = tokio::runtime::Handle::current();
    let started = std::time::Instant::now();
    {
        let (copied, bytes, failed) = (&copied, &bytes, &failed);
        tokio::task::block_in_place(|| {
            for_each_parallel(&to_copy, options.jobs, |object| {
                let expected = expected_digest(&index, &runtime, &object.key);
                match copy_object(&*from, &*to, &object.key, expected.as_deref(), &spool) {
                    Ok(n) => {
                        copied.fetch_add(1, Relaxed);
                        bytes.fetch_add(n, Relaxed);
                    }
                    Err(e) => {
                        bar.suspend(|| eprintln!("not copied: {}: {e}", object.key));
                        failed.fetch_add(1, Relaxed);
                    }
                }
                bar.inc(object.size);
                bar.set_message(format!("{} objects", copied.load(Relaxed)));
            })
        });
    }
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64().max(1e-3);
    let (copied, bytes, failed) = (copied.into_inner(), bytes.into_inner(), failed.into_inner());
    println!(
        "copied {copied} objects ({:.1} MB) in {secs:.1} s, {:.1} MB/s; {failed} failed",
        bytes as f64 / 1e6,
        bytes as f64 / 1e6 / secs
    );
    let left = total - to_copy.len();
    if left > 0 {
        println!("stopped after {} objects (--limit); {left} still to copy: run the same command again to continue", to_copy.len());
    }
    anyhow::ensure!(failed == 0, "{failed} objects could not be copied (listed above); run again to retry them");
    if left == 0 && options.verify {
        let report = verify_store(&index, &to, options.jobs, None, options.quiet).await?;
        report.print_problems();
        println!("verified {to_name}: {}", report.summary());
        anyhow::ensure!(report.clean(), "the copy does not match the index");
    }
    if left == 0 {
        println!("done. To run on the new store, set in the configuration:\n{}", store_toml(&to_config));
    }
    index.close().await;
    Ok(())
}

/// The `[store]` section that selects `store` (no secrets: credentials come
/// from the environment or are added by hand).
fn store_toml(store: &StoreConfig) -> String {
    let place = store_place_toml(store);
    if !store.encryption.enabled {
        return place;
    }
    format!("{place}\n{}", crate::storecrypt::encryption_toml(&store.encryption))
}

fn store_place_toml(store: &StoreConfig) -> String {
    match store.kind {
        StoreKind::Fs => format!("[store]\nkind = \"fs\"\npath = {:?}", store.path.display().to_string()),
        StoreKind::S3 => {
            let s3 = &store.s3;
            format!(
                "[store]\nkind = \"s3\"\n[store.s3]\nendpoint = {:?}\nregion = {:?}\nbucket = {:?}\nprefix = {:?}\nrenditions_bucket = {:?}\nrenditions_prefix = {:?}\npath_style = {}",
                s3.endpoint, s3.region, s3.bucket, s3.prefix, s3.renditions_bucket, s3.renditions_prefix, s3.path_style
            )
        }
    }
}

#[derive(Debug, Default, Serialize)]
pub struct VerifyReport {
    pub originals: u64,
    pub original_bytes: u64,
    pub renditions: u64,
    pub problems: Vec<Finding>,
    /// Objects no index row refers to (`verify` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unreferenced: Option<crate::unreferenced::UnreferencedReport>,
}

#[derive(Debug, Serialize)]
pub struct Finding {
    pub key: String,
    /// `original` or `rendition`.
    pub object: &'static str,
    /// `missing`, `corrupt`, `wrong-size` or `error`.
    pub problem: &'static str,
    pub detail: String,
    /// Whether `--repair-from` put a good copy back.
    pub repaired: bool,
}

impl VerifyReport {
    pub fn clean(&self) -> bool {
        self.problems.iter().all(|f| f.repaired)
    }

    fn count(&self, problem: &str) -> usize {
        self.problems.iter().filter(|f| f.problem == problem).count()
    }

    pub fn summary(&self) -> String {
        let repaired = self.problems.iter().filter(|f| f.repaired).count();
        format!(
            "{} originals ({:.1} MB) and {} renditions checked: {} missing, {} corrupt, {} wrong size, {} unreadable; {repaired} repaired",
            self.originals,
            self.original_bytes as f64 / 1e6,
            self.renditions,
            self.count("missing"),
            self.count("corrupt"),
            self.count("wrong-size"),
            self.count("error"),
        )
    }

    pub fn print_problems(&self) {
        for f in &self.problems {
            let state = if f.repaired { " (repaired)" } else { "" };
            eprintln!("{} {}: {}{state}", f.object, f.key, f.detail);
        }
    }
}

/// Re-read every original the index knows and compare its SHA-256 and SM3
/// (when recorded) with the index; check every recorded rendition exists with its recorded size. With
/// `repair`, a missing or damaged object is copied back from that store
/// (only if the copy there matches the index).
pub(crate) async fn verify_store(
    index: &Index,
    store: &Arc<dyn ObjectStore>,
    jobs: usize,
    repair: Option<(Arc<dyn ObjectStore>, std::path::PathBuf)>,
    quiet: bool,
) -> anyhow::Result<VerifyReport> {
    let counts = index.counts().await?;
    let bar = progress_bar(counts.instances as u64, quiet);
    let report = Mutex::new(VerifyReport::default());
    let mut after = 0;
    loop {
        let page = index.objects_page(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        // (key, object kind, expected size, expected SHA-256, expected SM3:
        // none for rows indexed before SM3 was recorded)
        type Check<'a> = (&'a str, &'static str, u64, Option<&'a str>, Option<&'a str>);
        let mut checks: Vec<Check> = Vec::new();
        for o in &page {
            checks.push((&o.key, "original", o.size, Some(&o.digest), o.sm3.as_deref()));
            checks.extend(o.renditions.iter().map(|(k, size)| (k.as_str(), "rendition", *size, None, None)));
        }
        let (store, report, bar, repair) = (store.clone(), &report, bar.clone(), &repair);
        tokio::task::block_in_place(|| {
            for_each_parallel(&checks, jobs, |&(key, object, size, digest, sm3)| {
                let result = check_object(&*store, key, Some(size), digest, sm3);
                {
                    let mut tally = report.lock().unwrap();
                    if object == "original" {
                        tally.originals += 1;
                        tally.original_bytes += size;
                        bar.inc(1);
                    } else {
                        tally.renditions += 1;
                    }
                }
                let Err(problem) = result else { return };
                let repaired = repair.as_ref().map(|(source, spool)| {
                    copy_object(&**source, &*store, key, digest, spool).and_then(|_| check_object(&*store, key, Some(size), digest, sm3))
                });
                let detail = match &repaired {
                    Some(Err(e)) => format!("{problem}; not repaired: {e}"),
                    _ => problem.to_string(),
                };
                report.lock().unwrap().problems.push(Finding {
                    key: key.to_string(),
                    object,
                    problem: problem.kind(),
                    detail,
                    repaired: matches!(repaired, Some(Ok(_))),
                });
            })
        });
    }
    bar.finish_and_clear();
    let mut report = report.into_inner().unwrap();
    report.problems.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(report)
}

pub struct VerifyOptions {
    pub repair_from: Option<String>,
    /// What to do with objects no index row refers to.
    pub unreferenced: OrphanAction,
    /// Only objects last written longer ago than this are considered.
    pub grace: std::time::Duration,
    /// Unreferenced objects handled at most (the rest are counted).
    pub max_unreferenced: usize,
    pub jobs: usize,
    pub json: bool,
    pub quiet: bool,
}

/// `yunying verify`: check the configured store against the index, then
/// walk the store for objects no row refers to. Exit status 1 when a
/// stored object is missing or damaged, or an unreferenced object could
/// not be handled (`failed`); unreferenced objects alone do not fail it
/// (the durability contract allows them).
pub async fn verify(config: &Config, options: VerifyOptions) -> anyhow::Result<()> {
    let root = config.data_dir.join("store");
    let store = open_store(&config.store, root.clone()).await?;
    let index = open_index(config).await?;
    let repair = match &options.repair_from {
        Some(spec) => {
            let source_config = parse_spec(spec)?;
            anyhow::ensure!(source_config.describe(&root) != config.store.describe(&root), "--repair-from names the store being verified");
            Some((open_store(&source_config, root.clone()).await?, copy_spool_for(&store, config)))
        }
        None => None,
    };
    let mut report = verify_store(&index, &store, options.jobs, repair, options.quiet || options.json).await?;
    let archive = Archive::new(store.clone(), index.clone(), config.archive.clone(), spool_for(&store, config));
    let walked = crate::unreferenced::walk(&archive, options.grace, options.unreferenced, options.max_unreferenced).await;
    let recorded = match &walked {
        Ok(unreferenced) => record(config, &index, options.unreferenced, &unreferenced.objects).await,
        Err(_) => Ok(()),
    };
    index.close().await;
    let unreferenced = walked?;
    recorded?;
    let failed = unreferenced.tally("failed");
    if options.json {
        report.unreferenced = Some(unreferenced);
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        report.print_problems();
        unreferenced.print_objects();
        println!("{}", report.summary());
        println!("{}", unreferenced.summary());
    }
    let unrepaired = report.problems.iter().filter(|f| !f.repaired).count();
    anyhow::ensure!(unrepaired == 0, "{unrepaired} stored objects are missing or damaged");
    anyhow::ensure!(failed == 0, "{failed} unreferenced objects could not be handled");
    Ok(())
}

/// Record in the ledger what `verify` adopted or deleted.
pub async fn record(
    config: &Config,
    index: &Index,
    action: OrphanAction,
    outcomes: &[yunying_archive::orphans::Outcome],
) -> anyhow::Result<()> {
    let events = crate::unreferenced::events("cli", "verify", action, outcomes);
    if events.is_empty() {
        return Ok(());
    }
    let audit = crate::recorder::recorder(config, index)?;
    for event in events {
        audit.record(event).await.context("recording unreferenced-objects in the audit ledger")?;
    }
    Ok(())
}
