//! The sweep of unreferenced objects on a schedule (`[archive]
//! orphan_sweep`, `sweep_interval_secs`): one node at a time, the one that
//! holds the lease `unreferenced-sweep` (renewed after every page), walks
//! the store a page at a time from where the last run stopped (the key
//! cursor of the same name, so a run cut short by its cap or a restart is
//! continued by whichever node sweeps next) and handles at most
//! `sweep_max_objects` unreferenced objects a run.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use super::{LIST_PAGE, OrphanAction, OrphanError, Outcome, cutoff, handle, scan_page};
use crate::Archive;

/// The lease that makes one node at a time sweep, and its key cursor.
pub const SWEEP_LEASE: &str = "unreferenced-sweep";

/// How the sweep runs (from `[archive]`).
#[derive(Debug, Clone)]
pub struct SweepSettings {
    /// Between runs; zero turns the sweep off.
    pub interval: Duration,
    /// Objects written more recently are left alone.
    pub grace: Duration,
    pub action: OrphanAction,
    /// Unreferenced objects handled in one run, at most.
    pub max_objects: usize,
}

/// What one run did.
#[derive(Debug, Default)]
pub struct SweepRun {
    pub action: Option<OrphanAction>,
    /// Keys listed.
    pub listed: u64,
    /// One per unreferenced object handled, in key order.
    pub outcomes: Vec<Outcome>,
    /// The run reached the end of the store (the next starts afresh).
    pub complete: bool,
    /// Why the run stopped early, if it failed.
    pub error: Option<String>,
}

impl SweepRun {
    /// How many outcomes had `result`.
    pub fn count(&self, result: &str) -> usize {
        self.outcomes.iter().filter(|o| o.result == result).count()
    }
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default().as_millis() as i64
}

/// Take or renew the lease for most of an interval: the next node to try
/// after it runs out sweeps next, so the cluster sweeps about once an
/// interval.
async fn lease(archive: &Archive, settings: &SweepSettings, node: &str) -> Result<bool, OrphanError> {
    let now = now_ms();
    let span = (settings.interval.as_millis() as i64 * 9 / 10).max(1);
    Ok(archive.index().try_lease(SWEEP_LEASE, node, now, now + span).await?)
}

/// One run, if this node gets the lease (`None` otherwise). Stops between
/// pages once `stopping` is set. Objects handled before a failure are in
/// the run, with the failure.
pub async fn sweep_once(
    archive: &Archive,
    settings: &SweepSettings,
    node: &str,
    stopping: &AtomicBool,
) -> Result<Option<SweepRun>, OrphanError> {
    if !lease(archive, settings, node).await? {
        return Ok(None);
    }
    let index = archive.index();
    let mut run = SweepRun { action: Some(settings.action), ..Default::default() };
    let mut after = index.key_cursor(SWEEP_LEASE).await?;
    let (cutoff, max) = (cutoff(settings.grace), settings.max_objects.max(1));
    loop {
        let page = match scan_page(index, archive.store(), after.as_deref(), cutoff, LIST_PAGE).await {
            Ok(page) => page,
            Err(e) => {
                run.error = Some(e.to_string());
                return Ok(Some(run));
            }
        };
        run.listed += page.listed as u64;
        let mut found = page.unreferenced;
        let room = max - run.outcomes.len();
        if found.len() > room {
            // The next run starts right after the last object handled.
            found.truncate(room);
            after = found.last().map(|u| u.key.clone());
        } else {
            after = page.next;
        }
        run.outcomes.extend(handle(archive, found, settings.action).await);
        if after.is_none() || run.outcomes.len() >= max || stopping.load(Ordering::Relaxed) {
            break;
        }
        match lease(archive, settings, node).await {
            Ok(true) => {}
            // Another node took over (this one stalled past the lease): it
            // continues from the cursor, which stays as it was.
            Ok(false) => return Ok(Some(run)),
            Err(e) => {
                run.error = Some(e.to_string());
                return Ok(Some(run));
            }
        }
    }
    run.complete = after.is_none();
    if let Err(e) = index.set_key_cursor(SWEEP_LEASE, after.as_deref()).await {
        run.error = Some(e.to_string());
    }
    Ok(Some(run))
}

/// Sweep every `settings.interval` (the first run an interval after the
/// start) while this node holds the lease, until `stop` resolves; hand
/// every run to `record` (which records what changed in the ledger).
/// `node` names this process among the nodes sharing the index.
pub async fn run_sweeps<F, Fut>(
    archive: Archive,
    settings: SweepSettings,
    node: String,
    record: F,
    stop: impl std::future::Future<Output = ()>,
) where
    F: Fn(SweepRun) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if settings.interval.is_zero() {
        return;
    }
    tokio::pin!(stop);
    let stopping = Arc::new(AtomicBool::new(false));
    loop {
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(settings.interval) => {}
        }
        let result = {
            let running = sweep_once(&archive, &settings, &node, &stopping);
            tokio::pin!(running);
            loop {
                tokio::select! {
                    result = &mut running => break result,
                    // A run in progress ends after its page; what it did is
                    // still recorded.
                    _ = &mut stop, if !stopping.load(Ordering::Relaxed) => stopping.store(true, Ordering::Relaxed),
                }
            }
        };
        match result {
            Ok(Some(run)) => {
                log_run(&run);
                record(run).await;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "sweep of unreferenced objects: the index did not answer"),
        }
        if stopping.load(Ordering::Relaxed) {
            return;
        }
    }
}

/// Objects left in the store that one run names in the log; the rest are
/// counted.
const LOGGED_LEFT: usize = 20;

/// A run in the log: counts, and the first objects left (keys name UIDs
/// only).
fn log_run(run: &SweepRun) {
    for o in run.outcomes.iter().filter(|o| !o.changed()).take(LOGGED_LEFT) {
        tracing::warn!(key = %o.object.key, result = o.result, detail = %o.detail, "unreferenced object left in the store");
    }
    let action = run.action.unwrap_or_default().as_str();
    let (adopted, deleted) = (run.count("adopted"), run.count("deleted"));
    let left = run.outcomes.len() - adopted - deleted;
    match &run.error {
        Some(e) => tracing::warn!(action, listed = run.listed, adopted, deleted, left, error = %e, "sweep of unreferenced objects failed"),
        None => tracing::info!(action, listed = run.listed, adopted, deleted, left, complete = run.complete, "swept unreferenced objects"),
    }
}
