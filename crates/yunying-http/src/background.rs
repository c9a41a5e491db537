//! Work a request starts and leaves running after its answer: a film's
//! import into a hospital's PACS, a film ZIP's writer, reclassifying
//! studies. Shutdown waits for it, within a bound: such work is given
//! `grace` to finish after the node is asked to stop, then told to stop
//! (an import or download then ends as failed, "interrupted", and says
//! so on the film's record), and the node waits for it to do so.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

/// What work started by requests may still run after its answer.
#[derive(Clone)]
pub(crate) struct Background {
    tracker: TaskTracker,
    stop: Arc<watch::Sender<bool>>,
    /// When the node was asked to stop.
    stopped_at: Arc<OnceLock<Instant>>,
    grace: Duration,
}

/// How long background work may go on once the node is asked to stop.
pub(crate) const GRACE: Duration = Duration::from_secs(20);
/// How long a task told to stop may take to record how it ended.
const WIND_DOWN: Duration = Duration::from_secs(5);

impl Default for Background {
    fn default() -> Self {
        Background::new(GRACE)
    }
}

impl Background {
    pub(crate) fn new(grace: Duration) -> Background {
        Background { tracker: TaskTracker::new(), stop: Arc::new(watch::channel(false).0), stopped_at: Arc::default(), grace }
    }

    /// Run `task`; shutdown waits for it.
    pub(crate) fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task);
    }

    /// Resolves once the node has been asked to stop and `grace` has
    /// passed: a task selects on it to end early, recording why.
    pub(crate) fn stopping(&self) -> impl Future<Output = ()> + Send + 'static {
        let (mut stop, grace) = (self.stop.subscribe(), self.grace);
        async move {
            if stop.wait_for(|s| *s).await.is_err() {
                // The node is gone without a stop: nothing to wait for.
                return std::future::pending().await;
            }
            tokio::time::sleep(grace).await;
        }
    }

    /// The node is asked to stop: `grace` starts now.
    pub(crate) fn stop(&self) {
        self.stopped_at.get_or_init(Instant::now);
        self.stop.send_replace(true);
        self.tracker.close();
    }

    /// Wait for every task: at most `grace` plus a few seconds after
    /// [`Background::stop`] (called here if it was not). Returns how many
    /// were still running then (abandoned).
    pub(crate) async fn finish(&self) -> usize {
        self.stop();
        let deadline = *self.stopped_at.get().expect("set by stop") + self.grace + WIND_DOWN;
        match tokio::time::timeout_at(deadline, self.tracker.wait()).await {
            Ok(()) => 0,
            Err(_) => self.tracker.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[tokio::test(start_paused = true)]
    async fn shutdown_waits_for_tasks_and_tells_long_ones_to_stop_after_the_grace() {
        let background = Background::new(Duration::from_secs(20));
        let quick_done = Arc::new(AtomicBool::new(false));
        let interrupted = Arc::new(AtomicBool::new(false));
        let done = quick_done.clone();
        background.spawn(async move {
            tokio::time::sleep(Duration::from_secs(3)).await;
            done.store(true, Ordering::SeqCst);
        });
        let (told, stopping) = (interrupted.clone(), background.stopping());
        background.spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                _ = stopping => told.store(true, Ordering::SeqCst),
            }
        });
        let started = tokio::time::Instant::now();
        assert_eq!(background.finish().await, 0, "both ended");
        assert!(quick_done.load(Ordering::SeqCst), "the short task ran to its end");
        assert!(interrupted.load(Ordering::SeqCst), "the long one was told to stop");
        let waited = started.elapsed();
        assert!(waited >= Duration::from_secs(20) && waited < Duration::from_secs(21), "{waited:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_task_that_ignores_the_stop_is_abandoned_after_the_bound() {
        let background = Background::new(Duration::from_secs(20));
        background.spawn(tokio::time::sleep(Duration::from_secs(3600)));
        assert_eq!(background.finish().await, 1);
    }
}
