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

/// Start the batcher of the node's recorder `audit` and record
/// `node-started`.
pub async fn start(audit: Audit, config: &Config) -> anyhow::Result<Running> {
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

/// The recorder of a command-line tool (`ae`, `key`, `user`): the node's
/// patient key and name, no batcher (nothing it records is batched).
pub fn recorder(config: &Config, index: &yunying_index::Index) -> anyhow::Result<Audit> {
    let key_path = config.audit.patient_key_path(&config.data_dir);
    let key = yunying_audit::load_or_make_patient_key(&key_path).with_context(|| format!("patient digest key {}", key_path.display()))?;
    Ok(Audit::new(index.clone(), &node_name(config), key, config.audit.view_batch_secs))
}

/// A change made on the command line (principal `cli`, like the access
/// layer's own command-line events).
pub async fn cli_event(audit: &Audit, kind: &str, detail: &str) -> anyhow::Result<()> {
    let e = Event::new(kind, "cli", "ok").detail(detail).fact("face", "cli");
    audit.record(e).await.with_context(|| format!("recording {kind}"))
}

/// The name this node goes by (`[renditions] node`, else the host name),
/// as in its leases.
pub fn node_name(config: &Config) -> String {
    if config.renditions.node.is_empty() { yunying_renditions::node_name() } else { config.renditions.node.clone() }
}

/// A node event: the version and the SM3 of the effective configuration
/// as `--print-config` shows it (secrets are not in it).
fn node_event(kind: &str, config: &Config) -> Event {
    Event::new(kind, "system", "ok")
        .fact("version", env!("CARGO_PKG_VERSION"))
        .fact("config_sm3", yunying_audit::sm3_hex(config.to_toml().as_bytes()))
}
