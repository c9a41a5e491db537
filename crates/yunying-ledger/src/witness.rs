//! A witness (`c2sp.org/tlog-witness`): for each log it trusts (origin, key,
//! hash function) it remembers the latest checkpoint it cosigned, and cosigns
//! a new one only after checking the log's signature and a consistency proof
//! from that one. Errors mirror the protocol's statuses
//! ([`WitnessError::http_status`]); [`WitnessError::Fork`] carries the two
//! signed checkpoints that prove the log showed two histories.
//!
//! The state is a small serde struct the caller persists *before* handing
//! out the cosignature, under one lock with the check (the spec's race).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::checkpoint::{self, Checkpoint, CheckpointError, parse_decimal};
use crate::hash::{Hash, HashAlg};
use crate::keys::{KeyError, SigType, Signer, VerifierKey};
use crate::note::{MAX_NOTE_BYTES, NoteSignature};
use crate::proof::{MAX_PROOF_HASHES, verify_consistency};

/// The most consistency proof lines a request may carry (the spec's 63).
pub const MAX_REQUEST_PROOF_LINES: usize = 63;

/// What a witness remembers of one log: its latest cosigned checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogState {
    /// Tree size of the latest cosigned checkpoint.
    pub size: u64,
    /// Its root.
    pub root: Hash,
    /// The signed checkpoint itself (kept as evidence should the log fork).
    pub checkpoint: String,
}

/// Everything a witness must persist, keyed by log origin.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WitnessState {
    /// Per origin, the latest cosigned checkpoint.
    pub logs: BTreeMap<String, LogState>,
}

/// A log a witness follows.
#[derive(Debug, Clone)]
pub struct TrustedLog {
    /// The log's key; its name is the log's origin.
    pub key: VerifierKey,
    /// The log's hash function.
    pub hash: HashAlg,
}

/// Two signed checkpoints of one log that cannot both be true.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForkEvidence {
    /// The log.
    pub origin: String,
    /// The checkpoint the witness had cosigned (signed note).
    pub cosigned: String,
    /// The conflicting checkpoint, also validly signed by the log.
    pub conflicting: String,
}

/// Why a witness refuses to cosign.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WitnessError {
    /// The request or checkpoint is malformed (400).
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The checkpoint's origin is not a log this witness follows (404).
    #[error("unknown log")]
    UnknownLog,
    /// No valid signature of the log's key (403).
    #[error("the checkpoint is not validly signed by the log")]
    BadSignature,
    /// The old size is larger than the checkpoint's size (400).
    #[error("old size {old} is larger than the checkpoint size {size}")]
    OldSizeTooLarge {
        /// The old size sent.
        old: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// The old size is not the size of the latest cosigned checkpoint (409;
    /// the body is `latest` in decimal, `text/x.tlog.size`).
    #[error("old size does not match; the latest cosigned size is {latest}")]
    OldSizeMismatch {
        /// The size of the latest cosigned checkpoint.
        latest: u64,
    },
    /// The consistency proof does not verify (422). Both checkpoints are
    /// kept: the refused one is validly signed by the log, and if no valid
    /// proof between them ever comes, they are a suspected fork (a bad proof
    /// alone proves nothing: the sender may be at fault, not the log).
    #[error("the consistency proof does not verify")]
    BadProof {
        /// The refused signed checkpoint.
        checkpoint: String,
        /// The latest checkpoint the witness cosigned for the log, if any.
        cosigned: Option<String>,
    },
    /// The log signed two different roots for one size (409).
    #[error("the log forked: two signed checkpoints disagree")]
    Fork(Box<ForkEvidence>),
    /// The witness's own key cannot cosign.
    #[error("witness key: {0}")]
    Key(#[from] KeyError),
}

impl WitnessError {
    /// The HTTP status tlog-witness gives this error.
    pub fn http_status(&self) -> u16 {
        match self {
            WitnessError::Malformed(_) | WitnessError::OldSizeTooLarge { .. } => 400,
            WitnessError::BadSignature => 403,
            WitnessError::UnknownLog => 404,
            WitnessError::OldSizeMismatch { .. } | WitnessError::Fork(_) => 409,
            WitnessError::BadProof { .. } => 422,
            WitnessError::Key(_) => 500,
        }
    }
}

/// A witness: its cosigning key, the logs it follows, and its state.
#[derive(Debug)]
pub struct Witness {
    signer: Signer,
    logs: BTreeMap<String, TrustedLog>,
    state: WitnessState,
}

impl Witness {
    /// A witness with a timestamped cosigning key
    /// ([`SigType::Ed25519Cosignature`] or [`SigType::Sm2Cosignature`]).
    pub fn new(signer: Signer, logs: Vec<TrustedLog>, state: WitnessState) -> Result<Witness, WitnessError> {
        if signer.verifier().kind() == SigType::Ed25519 {
            return Err(WitnessError::Key(KeyError::UnknownType));
        }
        let logs = logs.into_iter().map(|l| (l.key.name().to_string(), l)).collect();
        Ok(Witness { signer, logs, state })
    }

    /// The state to persist.
    pub fn state(&self) -> &WitnessState {
        &self.state
    }

    /// The witness's verifier key (what clients configure).
    pub fn verifier(&self) -> &VerifierKey {
        self.signer.verifier()
    }

    /// Checks a signed checkpoint against the latest one cosigned for its
    /// log and, if it is consistent, records it and returns the cosignature
    /// (timestamped `now`, POSIX seconds).
    pub fn add_checkpoint(
        &mut self,
        checkpoint_note: &str,
        old_size: u64,
        proof: &[Hash],
        now: u64,
    ) -> Result<NoteSignature, WitnessError> {
        if checkpoint_note.len() > MAX_NOTE_BYTES {
            return Err(WitnessError::Malformed("checkpoint too large".into()));
        }
        if proof.len() > MAX_REQUEST_PROOF_LINES.min(MAX_PROOF_HASHES) {
            return Err(WitnessError::Malformed("too many proof lines".into()));
        }
        let note = crate::note::Note::parse(checkpoint_note).map_err(|e| WitnessError::Malformed(e.to_string()))?;
        let body = Checkpoint::parse(&note.text).map_err(|e| WitnessError::Malformed(e.to_string()))?;
        let log = self.logs.get(&body.origin).ok_or(WitnessError::UnknownLog)?;
        let signed = checkpoint::open(checkpoint_note, &log.key, &[]).map_err(|e| match e {
            CheckpointError::Note(_) | CheckpointError::Body(_) => WitnessError::Malformed(e.to_string()),
            _ => WitnessError::BadSignature,
        })?;
        let cp = signed.checkpoint;
        let latest = self.state.logs.get(&cp.origin);
        if let Some(l) = latest
            && l.size == cp.size
            && l.root != cp.root
        {
            return Err(WitnessError::Fork(Box::new(ForkEvidence {
                origin: cp.origin.clone(),
                cosigned: l.checkpoint.clone(),
                conflicting: checkpoint_note.to_string(),
            })));
        }
        if old_size > cp.size {
            return Err(WitnessError::OldSizeTooLarge { old: old_size, size: cp.size });
        }
        let latest_size = latest.map_or(0, |l| l.size);
        if old_size != latest_size {
            return Err(WitnessError::OldSizeMismatch { latest: latest_size });
        }
        let old_root = latest.map_or_else(|| log.hash.empty_root(), |l| l.root);
        let empty_ok = cp.size != 0 || cp.root == log.hash.empty_root();
        if !empty_ok || verify_consistency(log.hash, old_size, cp.size, proof, &old_root, &cp.root).is_err() {
            return Err(WitnessError::BadProof { checkpoint: checkpoint_note.to_string(), cosigned: latest.map(|l| l.checkpoint.clone()) });
        }
        let cosignature = self.signer.sign(&note.text, now)?;
        self.state.logs.insert(cp.origin.clone(), LogState { size: cp.size, root: cp.root, checkpoint: checkpoint_note.to_string() });
        Ok(cosignature)
    }

    /// Serves an `add-checkpoint` request body; the response body is the
    /// cosignature line.
    pub fn add_checkpoint_request(&mut self, body: &str, now: u64) -> Result<String, WitnessError> {
        let (old, proof, note) = parse_add_checkpoint(body)?;
        Ok(self.add_checkpoint(note, old, &proof, now)?.to_line())
    }
}

/// Formats an `add-checkpoint` request body: `old <size>`, the proof
/// hashes, a blank line, the signed checkpoint.
pub fn format_add_checkpoint(old_size: u64, proof: &[Hash], checkpoint_note: &str) -> String {
    let mut out = format!("old {old_size}\n");
    for h in proof {
        out.push_str(&h.to_base64());
        out.push('\n');
    }
    out.push('\n');
    out.push_str(checkpoint_note);
    out
}

/// Parses an `add-checkpoint` request body into the old size, the proof and
/// the signed checkpoint.
pub fn parse_add_checkpoint(body: &str) -> Result<(u64, Vec<Hash>, &str), WitnessError> {
    let bad = |m: &str| WitnessError::Malformed(m.to_string());
    if body.len() > MAX_NOTE_BYTES + 64 * 64 {
        return Err(bad("request too large"));
    }
    let (first, mut rest) = body.split_once('\n').ok_or_else(|| bad("no old size line"))?;
    let old = first.strip_prefix("old ").and_then(parse_decimal).ok_or_else(|| bad("bad old size line"))?;
    let mut proof = Vec::new();
    loop {
        let (line, after) = rest.split_once('\n').ok_or_else(|| bad("no blank line before the checkpoint"))?;
        rest = after;
        if line.is_empty() {
            break;
        }
        if proof.len() == MAX_REQUEST_PROOF_LINES {
            return Err(bad("too many proof lines"));
        }
        proof.push(Hash::from_base64(line).map_err(|_| bad("bad proof line"))?);
    }
    if old == 0 && !proof.is_empty() {
        return Err(bad("a proof from size 0 must be empty"));
    }
    Ok((old, proof, rest))
}
