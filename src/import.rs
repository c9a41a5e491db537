//! `yunying import` and `yunying reindex`.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::Semaphore;
use yunying_archive::{Archive, Caller, ImportError, InsertOutcome, import_file, reindex_object};

/// Import every file under `paths`, `jobs` at a time, with a progress bar.
pub async fn run(archive: &Archive, paths: &[PathBuf], institution: Option<String>, jobs: usize, quiet: bool) -> anyhow::Result<()> {
    let files = collect_files(paths)?;
    let total_bytes: u64 = files.iter().map(|(_, size)| size).sum();
    let bar = progress_bar(total_bytes, quiet);
    let caller = Caller {
        calling_ae: "IMPORT".to_string(),
        issuer: institution.unwrap_or_else(|| archive.config().default_institution.clone()),
        known: true,
        default_charset: archive.config().default_charset.clone(),
    };
    let (stored, duplicates, skipped, failed) =
        (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let slots = Arc::new(Semaphore::new(jobs));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (path, size) in files {
        let permit = slots.clone().acquire_owned().await?;
        let (archive, caller, bar) = (archive.clone(), caller.clone(), bar.clone());
        let (stored, duplicates, skipped, failed) = (stored.clone(), duplicates.clone(), skipped.clone(), failed.clone());
        tasks.spawn(async move {
            match import_file(&archive, &path, &caller).await {
                Ok(s) if s.duplicate => duplicates.fetch_add(1, Relaxed),
                Ok(_) => stored.fetch_add(1, Relaxed),
                Err(ImportError::NotDicom(e)) => {
                    bar.suspend(|| eprintln!("skipped: {}: {e}", path.display()));
                    skipped.fetch_add(1, Relaxed)
                }
                Err(e) => {
                    bar.suspend(|| eprintln!("failed: {}: {e}", path.display()));
                    failed.fetch_add(1, Relaxed)
                }
            };
            bar.inc(size);
            bar.set_message(format!("{} files", stored.load(Relaxed) + duplicates.load(Relaxed)));
            drop(permit);
        });
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
    bar.finish_and_clear();
    let secs = started.elapsed().as_secs_f64();
    let stored = stored.load(Relaxed);
    println!(
        "imported {stored} instances ({} already stored, {} not DICOM, {} failed) in {secs:.1} s: {:.0} instances/s, {:.1} MB/s",
        duplicates.load(Relaxed),
        skipped.load(Relaxed),
        failed.load(Relaxed),
        stored as f64 / secs,
        total_bytes as f64 / 1e6 / secs
    );
    anyhow::ensure!(failed.load(Relaxed) == 0, "some files failed to import");
    Ok(())
}

fn collect_files(paths: &[PathBuf]) -> anyhow::Result<Vec<(PathBuf, u64)>> {
    let mut files = Vec::new();
    for path in paths {
        for entry in walkdir::WalkDir::new(path).sort_by_file_name() {
            let entry = entry?;
            if entry.file_type().is_file() {
                files.push((entry.path().to_path_buf(), entry.metadata()?.len()));
            }
        }
    }
    Ok(files)
}

pub fn progress_bar(total_bytes: u64, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total_bytes);
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {msg}, {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta}",
        )
        .expect("valid template"),
    );
    bar
}

/// Rebuild the index from every original in the store.
pub async fn reindex(archive: &Archive) -> anyhow::Result<()> {
    let store = archive.store().clone();
    let mut objects = tokio::task::spawn_blocking(move || store.list(yunying_store::ORIGINALS_PREFIX)).await??;
    // Objects of rejected instances (withheld until their deletion is
    // decided) and of a purge under way stay out of the index.
    let retained: std::collections::HashSet<String> = archive.index().retained_object_keys().await?.into_iter().collect();
    objects.retain(|o| !retained.contains(&o.key));
    archive.index().clear().await?;
    let bar = progress_bar(objects.iter().map(|o| o.size).sum(), false);
    let (mut indexed, mut extra, mut failed) = (0u64, 0u64, 0u64);
    for object in &objects {
        match reindex_object(archive, &object.key).await {
            Ok(InsertOutcome::KeptExisting { .. }) => extra += 1,
            Ok(_) => indexed += 1,
            Err(e) => {
                bar.suspend(|| eprintln!("cannot index {}: {e}", object.key));
                failed += 1;
            }
        }
        bar.inc(object.size);
    }
    bar.finish_and_clear();
    println!("reindexed {indexed} instances; {extra} superseded copies; {failed} unreadable objects");
    Ok(())
}

/// Add to the index the originals it lacks, keeping every row it has
/// (`reindex --missing`): each unreferenced original that is a valid
/// instance becomes a row (recorded in the ledger as `verify` records
/// it); a second copy of an indexed instance, or an object that is no
/// instance, is named and left.
pub async fn reindex_missing(config: &crate::config::Config, archive: &Archive) -> anyhow::Result<()> {
    use yunying_archive::orphans::OrphanAction;
    // Outcomes are held for the report: a run handles a bounded number.
    const PER_RUN: usize = 100_000;
    let report = crate::unreferenced::walk(archive, std::time::Duration::ZERO, OrphanAction::Adopt, PER_RUN).await?;
    crate::storetools::record(config, archive.index(), OrphanAction::Adopt, &report.objects).await?;
    for o in report.objects.iter().filter(|o| o.result != "adopted" && o.object.object == "original") {
        eprintln!("left {} ({}): {}", o.object.key, o.result, o.detail);
    }
    let adopted = report.objects.iter().filter(|o| o.result == "adopted").count();
    println!("indexed {adopted} missing instances; existing rows kept");
    if report.not_handled > 0 {
        println!("{} more unreferenced objects not looked at in this run: run it again", report.not_handled);
    }
    Ok(())
}
