//! This node as a witness of other logs (`c2sp.org/tlog-witness`): it
//! cosigns a log's checkpoint only when it is consistent with the latest
//! one it cosigned for that origin, and raises the alarm on a fork.
//!
//! The state (per origin: size, root, note) lives in the index so every
//! node of the witnessing deployment agrees; it is advanced by
//! compare-and-swap, so two concurrent requests never both advance from
//! one old size. A fork (two roots for one size) or a checkpoint no valid
//! proof connects is refused, logged at ERROR (origins, sizes and roots:
//! no patient data exists here) and recorded as `witness-fork-detected`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use yunying_index::{Index, WitnessLogRow};
pub use yunying_ledger::WitnessError;
use yunying_ledger::witness::{LogState, TrustedLog, parse_add_checkpoint};
use yunying_ledger::{Checkpoint, HashAlg, Note, Signer, VerifierKey, Witness, WitnessState};

use crate::checkpoint::SignatureKind;
use crate::sequencer::parse_hex;
use crate::{Audit, AuditError, Event, now_ms};

/// The event recorded when a witness refuses a forked or inconsistent
/// checkpoint.
pub const FORK_EVENT: &str = "witness-fork-detected";

/// The largest `add-checkpoint` request body: 1 MiB.
pub const MAX_REQUEST_BYTES: usize = 1 << 20;

/// A log this node witnesses (`[[audit.witness_of]]`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WitnessOf {
    /// The log's verifier key (`name+id+base64`; the name is its origin).
    pub key: String,
    /// The log's Merkle hash.
    #[serde(default)]
    pub hash: HashAlg,
}

/// The witness's cosigning key at `path` (made there, 0600, when absent),
/// named `name`; its verifier is written beside it as `<file>.pub`.
pub fn load_or_make_key(path: &Path, name: &str, kind: SignatureKind) -> Result<Signer, AuditError> {
    let key = match std::fs::read_to_string(path) {
        Ok(pem) => Signer::from_pkcs8_pem(name, kind.sig_type(), &pem)
            .map_err(|e| AuditError::Key(format!("{}: {e} (is it a {kind:?} key?)", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = Signer::generate(name, kind.sig_type()).map_err(|e| AuditError::Key(e.to_string()))?;
            crate::write_secret(path, key.to_pkcs8_pem().map_err(|e| AuditError::Key(e.to_string()))?.as_bytes())?;
            key
        }
        Err(e) => return Err(e.into()),
    };
    let public = format!("{}\n", key.verifier());
    let pub_path: PathBuf = path.with_extension("pub");
    if std::fs::read_to_string(&pub_path).ok().as_deref() != Some(public.as_str()) {
        std::fs::write(&pub_path, public)?;
    }
    Ok(key)
}

/// Why a request was not cosigned.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The witness refused (its HTTP status: [`WitnessError::http_status`]).
    #[error(transparent)]
    Witness(#[from] WitnessError),
    /// The witness state could not be read or written (503: try again).
    #[error("the witness state is unavailable: {0}")]
    Unavailable(#[from] yunying_index::IndexError),
}

/// Serves `add-checkpoint` for the logs this node witnesses.
pub struct WitnessService {
    index: Index,
    signer: Signer,
    logs: Vec<TrustedLog>,
}

impl WitnessService {
    /// A witness cosigning with `signer` for the logs `of`.
    pub fn new(index: Index, signer: Signer, of: &[WitnessOf]) -> Result<WitnessService, AuditError> {
        let logs = of
            .iter()
            .map(|w| {
                let key = VerifierKey::parse(w.key.trim()).map_err(|e| AuditError::Key(format!("[[audit.witness_of]] key: {e}")))?;
                Ok(TrustedLog { key, hash: w.hash })
            })
            .collect::<Result<Vec<_>, AuditError>>()?;
        Witness::new(signer.clone(), logs.clone(), WitnessState::default()).map_err(|e| AuditError::Key(e.to_string()))?;
        Ok(WitnessService { index, signer, logs })
    }

    /// The key that checks this witness's cosignatures.
    pub fn verifier(&self) -> &VerifierKey {
        self.signer.verifier()
    }

    /// Serve one request body; the answer is the cosignature line. A fork
    /// or an inconsistent checkpoint is refused, logged and recorded
    /// through `audit`.
    pub async fn add_checkpoint(&self, audit: &Audit, body: &str) -> Result<String, ServeError> {
        if body.len() > MAX_REQUEST_BYTES {
            return Err(WitnessError::Malformed("request too large".into()).into());
        }
        let (old, proof, note_text) = parse_add_checkpoint(body)?;
        let note = Note::parse(note_text).map_err(|e| WitnessError::Malformed(e.to_string()))?;
        let origin = Checkpoint::parse(&note.text).map_err(|e| WitnessError::Malformed(e.to_string()))?.origin;
        let row = self.index.witness_logs().await?.into_iter().find(|r| r.origin == origin);
        let mut state = WitnessState::default();
        if let Some(r) = &row {
            let root = parse_hex(&r.root_hash).ok_or_else(|| WitnessError::Malformed("stored witness state is unreadable".into()))?;
            state.logs = BTreeMap::from([(origin.clone(), LogState { size: r.tree_size as u64, root, checkpoint: r.note.clone() })]);
        }
        let mut witness = Witness::new(self.signer.clone(), self.logs.clone(), state)?;
        let now = now_ms();
        let result = witness.add_checkpoint(note_text, old, &proof, (now / 1000) as u64);
        let cosignature = match result {
            Ok(c) => c,
            Err(e @ (WitnessError::Fork(_) | WitnessError::BadProof { .. })) => {
                self.alarm(audit, &e).await;
                return Err(e.into());
            }
            Err(e) => return Err(e.into()),
        };
        let new = &witness.state().logs[&origin];
        let advanced = WitnessLogRow {
            origin: origin.clone(),
            tree_size: new.size as i64,
            root_hash: new.root.to_hex(),
            note: new.checkpoint.clone(),
            at_ms: now,
        };
        let old_size = row.as_ref().map_or(0, |r| r.tree_size);
        if !self.index.advance_witness_log(old_size, &advanced).await? {
            // Another request advanced the log first: the sender retries
            // from the size it finds.
            let latest = self.index.witness_logs().await?.into_iter().find(|r| r.origin == origin);
            return Err(WitnessError::OldSizeMismatch { latest: latest.map_or(0, |r| r.tree_size as u64) }.into());
        }
        Ok(cosignature.to_line())
    }

    async fn alarm(&self, audit: &Audit, e: &WitnessError) {
        let (origin, cosigned, conflicting) = match e {
            WitnessError::Fork(f) => (f.origin.clone(), Some(f.cosigned.clone()), f.conflicting.clone()),
            WitnessError::BadProof { checkpoint, cosigned } => {
                let origin =
                    Note::parse(checkpoint).ok().and_then(|n| Checkpoint::parse(&n.text).ok()).map(|c| c.origin).unwrap_or_default();
                (origin, cosigned.clone(), checkpoint.clone())
            }
            _ => return,
        };
        let summary = |note: &str| {
            Note::parse(note).ok().and_then(|n| Checkpoint::parse(&n.text).ok()).map(|c| (c.size, c.root.to_hex())).unwrap_or_default()
        };
        let (old_size, old_root) = cosigned.as_deref().map(summary).unwrap_or_default();
        let (new_size, new_root) = summary(&conflicting);
        let kind = if matches!(e, WitnessError::Fork(_)) { "fork" } else { "inconsistent" };
        tracing::error!(origin, kind, old_size, old_root, new_size, new_root, "a witnessed log showed two histories: checkpoint refused");
        let event = Event::new(FORK_EVENT, "witness", "denied")
            .detail(&format!("{kind}: the log {origin} signed a checkpoint of {new_size} that does not extend the one of {old_size}"))
            .fact("origin", origin.clone())
            .fact("kind", kind)
            .fact("cosigned_size", old_size)
            .fact("cosigned_root", old_root)
            .fact("conflicting_size", new_size)
            .fact("conflicting_root", new_root)
            .fact("cosigned_note", cosigned.unwrap_or_default())
            .fact("conflicting_note", conflicting);
        let _ = audit.record(event).await;
    }
}
