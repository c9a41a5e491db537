//! The node's audit recorder: `[audit]` settings, the patient digest key,
//! the batching task (views, C-STORE instances), and the node's own
//! `node-started` / `node-stopped` events. `serve` calls [`start`] once
//! and [`Running::stop`] after every face has stopped, so what the faces
//! noted last is flushed.

use anyhow::Context;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use yunying_audit::{Audit, Event};

use crate::config::Config;

/// The recorder and its batching task.
pub struct Running {
    pub audit: Audit,
    stop: watch::Sender<bool>,
    batcher: JoinHandle<()>,
}

/// Make the node's recorder (`node`: the name the node goes by, as in its
/// leases), start its batcher and record `node-started`.
pub async fn start(config: &Config, index: &yunying_index::Index, node: &str) -> anyhow::Result<Running> {
    let key_path = config.audit.patient_key_path(&config.data_dir);
    let key = yunying_audit::load_or_make_patient_key(&key_path).with_context(|| format!("patient digest key {}", key_path.display()))?;
    let audit = Audit::new(index.clone(), node, key, config.audit.view_batch_secs);
    let (stop, stop_rx) = watch::channel(false);
    let batcher = tokio::spawn(audit.clone().run_batcher(stop_rx));
    audit.record(node_event("node-started", config)).await.context("recording node-started")?;
    Ok(Running { audit, stop, batcher })
}

impl Running {
    /// Flush what the batchers hold, then record `node-stopped`.
    pub async fn stop(self, config: &Config) {
        let _ = self.stop.send(true);
        let _ = self.batcher.await;
        let _ = self.audit.record(node_event("node-stopped", config)).await;
    }
}

/// A node event: the version and the SM3 of the effective configuration
/// as `--print-config` shows it (secrets are not in it).
fn node_event(kind: &str, config: &Config) -> Event {
    Event::new(kind, "system", "ok")
        .fact("version", env!("CARGO_PKG_VERSION"))
        .fact("config_sm3", yunying_audit::sm3_hex(config.to_toml().as_bytes()))
}
