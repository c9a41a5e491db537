//! The audit ledger: every security-relevant event on one verifiable record.
//!
//! The access layer and the faces record [`Event`]s through [`Audit`];
//! nothing else writes them and no event is an ad hoc log line. Any node
//! appends to a pending table; one sequencer at a time (a lease in the
//! database, [`sequencer`]) numbers them densely as the leaves of a Merkle
//! tree (RFC 9162, SM3 by default) and signs checkpoints of it. `audit
//! verify` ([`verify`]) recomputes the tree from the stored events and
//! checks every checkpoint; proofs show that an event is in the log and
//! that one checkpoint extends another.
//!
//! Views of one study by one principal are batched ([`batch`]): a series
//! scrolled through in the viewer is one `study-viewed` event, not 300.
//!
//! Architecture invariant: no HTTP and no DICOM here; patient identity is
//! the index's key and a keyed digest, never a name or an ID.

pub mod atna;
pub mod batch;
pub mod checkpoint;
pub mod event;
pub mod export;
pub mod ingest;
pub mod sequencer;
pub mod soon;
pub mod verify;
pub mod viewing;
pub mod witness;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Mac, digest::KeyInit};
use serde::{Deserialize, Serialize};
use yunying_index::Index;

pub use event::{Event, PatientRef};

/// Settings of the audit ledger (`[audit]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuditConfig {
    /// The log's name in its checkpoints (C2SP `origin`), e.g.
    /// `audit.imaging.example-city.cn`. Every node of one deployment uses
    /// the same.
    pub origin: String,
    /// Merkle hash: `sm3` (default) or `sha256`. One log keeps one.
    pub hash: yunying_ledger::HashAlg,
    /// Checkpoint signatures: `sm2` (default, with SM3) or `ed25519`.
    pub signature: checkpoint::SignatureKind,
    /// Key that signs checkpoints (PKCS#8 PEM). Empty: `<data>/audit/
    /// signing-key.pem`, made at first start. Nodes sharing an index share
    /// this file.
    pub signing_key_file: String,
    /// Key of the patient digests (32 random bytes, hex). Empty:
    /// `<data>/audit/patient-key`, made at first start. Nodes sharing an
    /// index share this file.
    pub patient_key_file: String,
    /// How often the sequencer moves pending events into the ledger (ms).
    pub sequence_ms: u64,
    /// How often a checkpoint is signed when the log has grown (seconds).
    pub checkpoint_secs: u64,
    /// Views of one study by one principal closer together than this are
    /// one event (seconds).
    pub view_batch_secs: u64,
    /// Send every event as an IHE ATNA audit message (DICOM PS3.15 A.5,
    /// RFC 5424 syslog over TLS) to the hospital's audit record
    /// repository (`[audit.atna]`: collector, ca_file, …).
    pub atna: Option<yunying_atna::AtnaConfig>,
    /// Witnesses every checkpoint is sent to (`[[audit.witnesses]]`:
    /// `kind = "dir"` with `dir`, or `kind = "http"` with `url` and `key`).
    pub witnesses: Vec<export::WitnessTarget>,
    /// Logs this node witnesses (`[[audit.witness_of]]`: `key`, `hash`);
    /// it serves `POST /audit/witness/add-checkpoint` for them.
    pub witness_of: Vec<witness::WitnessOf>,
    /// This node's cosigning key as a witness (PKCS#8 PEM, of the kind
    /// `signature` names). Empty: `<data>/audit/witness-key.pem`, made at
    /// first start.
    pub witness_key_file: String,
    /// The witness key's name. Empty: `<origin>/witness`.
    pub witness_name: String,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            origin: "yunying/audit".into(),
            hash: yunying_ledger::HashAlg::Sm3,
            signature: checkpoint::SignatureKind::Sm2,
            signing_key_file: String::new(),
            patient_key_file: String::new(),
            sequence_ms: 200,
            checkpoint_secs: 60,
            view_batch_secs: 10,
            atna: None,
            witnesses: Vec::new(),
            witness_of: Vec::new(),
            witness_key_file: String::new(),
            witness_name: String::new(),
        }
    }
}

impl AuditConfig {
    /// The signing key's path, given the data directory.
    pub fn signing_key_path(&self, data: &Path) -> PathBuf {
        if self.signing_key_file.is_empty() { data.join("audit").join("signing-key.pem") } else { PathBuf::from(&self.signing_key_file) }
    }

    /// The witness key's path, given the data directory.
    pub fn witness_key_path(&self, data: &Path) -> PathBuf {
        if self.witness_key_file.is_empty() { data.join("audit").join("witness-key.pem") } else { PathBuf::from(&self.witness_key_file) }
    }

    /// The witness key's name.
    pub fn witness_key_name(&self) -> String {
        if self.witness_name.is_empty() { format!("{}/witness", self.origin) } else { self.witness_name.clone() }
    }

    /// The patient digest key's path, given the data directory.
    pub fn patient_key_path(&self, data: &Path) -> PathBuf {
        if self.patient_key_file.is_empty() { data.join("audit").join("patient-key") } else { PathBuf::from(&self.patient_key_file) }
    }
}

/// Errors of the audit layer.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error(transparent)]
    Index(#[from] yunying_index::IndexError),
    #[error("{0}")]
    Key(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    /// The ledger's rows are not what the log says they were.
    #[error("the audit ledger is damaged: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Checkpoint(#[from] yunying_ledger::CheckpointError),
}

/// Records events. Cheap to clone (one reference count); every face holds
/// one.
#[derive(Clone)]
pub struct Audit(Arc<shared::Shared>);

mod shared {
    use super::*;

    /// What every clone of an [`Audit`] shares.
    #[derive(Clone)]
    pub struct Shared {
        pub(crate) index: Index,
        pub(crate) node: Arc<str>,
        pub(crate) patient_key: Arc<[u8; 32]>,
        pub(crate) batch: Arc<batch::Batcher>,
        pub(crate) ledger: Option<Arc<LedgerInfo>>,
        pub(crate) atna: Option<(Arc<yunying_atna::AuditSender>, yunying_atna::AuditSource)>,
        pub(crate) ingest: Arc<ingest::Batches>,
        pub(crate) soon: Arc<soon::Soon>,
        pub(crate) witness: Option<Arc<witness::WitnessService>>,
    }
}

impl std::ops::Deref for Audit {
    type Target = shared::Shared;

    fn deref(&self) -> &shared::Shared {
        &self.0
    }
}

/// What the faces need of this node's ledger: its hash, the key that
/// checks its checkpoints, and a way to ask the sequencer for one now.
#[derive(Clone)]
pub struct LedgerInfo {
    pub alg: yunying_ledger::HashAlg,
    pub verifier: yunying_ledger::VerifierKey,
    pub wake: Arc<tokio::sync::Notify>,
}

impl Audit {
    /// A recorder writing to `index`, naming patients with `patient_key`.
    pub fn new(index: Index, node: &str, patient_key: [u8; 32], view_batch_secs: u64) -> Audit {
        Audit(Arc::new(shared::Shared {
            index,
            node: node.into(),
            patient_key: Arc::new(patient_key),
            batch: Arc::new(batch::Batcher::new(view_batch_secs)),
            ledger: None,
            atna: None,
            ingest: Arc::default(),
            soon: Arc::default(),
            witness: None,
        }))
    }

    /// This recorder, knowing the node's ledger.
    pub fn with_ledger(mut self, ledger: LedgerInfo) -> Audit {
        Arc::make_mut(&mut self.0).ledger = Some(Arc::new(ledger));
        self
    }

    /// This recorder, sending every event to an ATNA audit record
    /// repository too (as this audit source).
    pub fn with_atna(mut self, sender: Arc<yunying_atna::AuditSender>, source: yunying_atna::AuditSource) -> Audit {
        Arc::make_mut(&mut self.0).atna = Some((sender, source));
        self
    }

    /// This recorder, serving as a witness of other logs.
    pub fn with_witness(mut self, witness: witness::WitnessService) -> Audit {
        Arc::make_mut(&mut self.0).witness = Some(Arc::new(witness));
        self
    }

    /// The node's witness service, when it witnesses other logs.
    pub fn witness(&self) -> Option<&witness::WitnessService> {
        self.witness.as_deref()
    }

    /// The node's ledger, when it runs one.
    pub fn ledger(&self) -> Option<&LedgerInfo> {
        self.ledger.as_deref()
    }

    /// A recorder with a key of its own (tests, tools that only read).
    pub fn ephemeral(index: Index) -> Audit {
        Audit::new(index, "local", rand::random(), 10)
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    /// Record `event` now: fill in time, node and the patients of its
    /// studies, and append it for the sequencer. A failure is logged (the
    /// request it describes has been decided) and returned.
    pub async fn record(&self, mut event: Event) -> Result<(), AuditError> {
        if event.at_ms == 0 {
            event.at_ms = now_ms();
        }
        event.node = self.node.to_string();
        event.bound();
        if event.patients.is_empty() && !event.studies.is_empty() {
            match self.index.patients_of_studies(&event.studies).await {
                Ok(found) => {
                    event.patients =
                        found.into_iter().map(|(key, issuer, id)| PatientRef { key, digest: self.patient_digest(&issuer, &id) }).collect()
                }
                Err(err) => tracing::warn!(error = %err, "patients of an audit event not found"),
            }
        }
        let result = self.index.append_audit_event(event.at_ms, &event.body()).await;
        if let Err(err) = &result {
            tracing::error!(error = %err, event = event.event, "audit event not recorded");
        }
        if let Some((sender, source)) = &self.atna
            && let Some(message) = atna::message(&event, source)
            && let Err(err) = sender.send(&message)
        {
            tracing::warn!(error = %err, event = event.event, "audit message not queued for the audit record repository");
        }
        Ok(result?)
    }

    /// Record `event` just after the answer: queued for the batching task,
    /// which commits every waiting event together ([`soon`]). For the
    /// frequent events of reads (searches); recorded now when no batching
    /// task runs or too many wait.
    pub async fn record_soon(&self, mut event: Event) {
        if event.at_ms == 0 {
            event.at_ms = now_ms();
        }
        if let Some(event) = self.soon.push(event) {
            let _ = self.record(event).await;
        }
    }

    /// Record every event [`Audit::record_soon`] queued, a group (one
    /// commit) at a time.
    async fn drain_soon(&self) {
        loop {
            let group = self.soon.take();
            if group.is_empty() {
                return;
            }
            let mut commits = tokio::task::JoinSet::new();
            for event in group {
                let audit = self.clone();
                commits.spawn(async move { audit.record(event).await });
            }
            while commits.join_next().await.is_some() {}
        }
    }

    /// Note that `principal` reached `study` (a view, a frame, metadata):
    /// batched, so one sitting is one `study-viewed` event.
    pub fn viewed(&self, seen: batch::Seen) {
        self.batch.add(seen);
    }

    /// Record every batch of views that has gone quiet (or all, when
    /// `all`). The batching task calls this; so does shutdown.
    pub async fn flush_views(&self, all: bool) {
        for e in self.batch.take(all, now_ms()) {
            let _ = self.record(e).await;
        }
    }

    /// Note one instance received over C-STORE on `association` (a
    /// number unique on this node): batched per association, study and
    /// result ([`ingest`]); a batch that is full is recorded now.
    pub async fn ingested(&self, association: u64, sender: &ingest::Sender, received: ingest::Received) {
        for e in self.ingest.add(association, sender, received, now_ms()) {
            let _ = self.record(e).await;
        }
    }

    /// Record what `association` received (it ended), or every batch that
    /// is due (`None`), or all (`all`).
    pub async fn flush_ingest(&self, association: Option<u64>, all: bool) {
        for e in self.ingest.take(association, all, now_ms()) {
            let _ = self.record(e).await;
        }
    }

    /// Run the view and ingest batchers and record what
    /// [`Audit::record_soon`] queues, until `shutdown`; then flush what they
    /// hold.
    pub async fn run_batcher(self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        self.soon.set_draining(true);
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    self.flush_views(false).await;
                    self.flush_ingest(None, false).await;
                }
                _ = self.soon.queued() => {
                    // Let repeats gather (`soon::HOLD_MS`), unless stopping.
                    tokio::select! {
                        _ = tokio::time::sleep(std::time::Duration::from_millis(soon::HOLD_MS)) => {}
                        _ = shutdown.changed() => break,
                    }
                    self.drain_soon().await
                }
                _ = shutdown.changed() => break,
            }
        }
        self.soon.set_draining(false);
        self.drain_soon().await;
        self.flush_views(true).await;
        self.flush_ingest(None, true).await;
    }

    /// The keyed digest naming a patient: HMAC-SM3 of issuer, NUL,
    /// PatientID, hex.
    pub fn patient_digest(&self, issuer: &str, patient_id: &str) -> String {
        let mut mac = <hmac::Hmac<sm3::Sm3> as KeyInit>::new_from_slice(&self.patient_key[..]).expect("HMAC takes any key length");
        mac.update(issuer.as_bytes());
        mac.update(&[0]);
        mac.update(patient_id.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Read the patient digest key at `path`, or make one there (0600).
pub fn load_or_make_patient_key(path: &Path) -> Result<[u8; 32], AuditError> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let mut key = [0u8; 32];
            hex::decode_to_slice(text.trim(), &mut key)
                .map_err(|_| AuditError::Key(format!("{} does not hold 64 hex digits", path.display())))?;
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key: [u8; 32] = rand::random();
            write_secret(path, hex::encode(key).as_bytes())?;
            Ok(key)
        }
        Err(e) => Err(e.into()),
    }
}

/// Write a secret file readable by its owner only, atomically.
pub fn write_secret(path: &Path, bytes: &[u8]) -> Result<(), AuditError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    {
        use std::io::Write;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut f = options.open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// SM3 of `bytes`, hex (e.g. the effective configuration a node started
/// with, in its `node-started` event).
pub fn sm3_hex(bytes: &[u8]) -> String {
    use sm3::Digest;
    hex::encode(sm3::Sm3::digest(bytes))
}
