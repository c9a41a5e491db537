//! Offline proof bundles (`c2sp.org/tlog-proof`): what a patient or an
//! auditor keeps to show, without any server, that an event is in the log
//! and that witnesses saw the same log.
//!
//! ```text
//! c2sp.org/tlog-proof@v1
//! [extra <base64>]
//! index <n>
//! <inclusion proof hashes, base64, one a line, leaf's sibling first>
//!
//! <signed checkpoint with cosignatures>
//! ```
//!
//! The spec says SHA-256; an SM3 log writes SM3 hashes in the same places,
//! and the verifier is told the log's hash function with its key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::checkpoint::{self, CheckpointError, SignedCheckpoint, parse_decimal};
use crate::hash::{Hash, HashAlg};
use crate::keys::VerifierKey;
use crate::note::MAX_NOTE_BYTES;
use crate::proof::{MAX_PROOF_HASHES, ProofError, verify_inclusion};
use crate::tree::{Tree, TreeError};

const HEADER: &str = "c2sp.org/tlog-proof@v1";
/// The largest extra data accepted, decoded.
pub const MAX_EXTRA_BYTES: usize = 64 * 1024;

/// Why a bundle does not prove what it should.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// The text is not a tlog-proof.
    #[error("malformed proof bundle: {0}")]
    Malformed(&'static str),
    /// The checkpoint is malformed or not signed by the log.
    #[error("checkpoint: {0}")]
    Checkpoint(#[from] CheckpointError),
    /// Fewer valid witness cosignatures than required.
    #[error("{have} valid witness cosignatures; {need} required")]
    TooFewCosignatures {
        /// Valid cosignatures of distinct trusted witnesses.
        have: usize,
        /// The policy's minimum.
        need: usize,
    },
    /// The inclusion proof does not put the leaf in the checkpointed tree.
    #[error("inclusion proof: {0}")]
    Inclusion(#[from] ProofError),
}

/// A parsed tlog-proof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bundle {
    /// Opaque, unauthenticated extra data.
    pub extra: Option<Vec<u8>>,
    /// The leaf index.
    pub index: u64,
    /// The inclusion proof.
    pub proof: Vec<Hash>,
    /// The signed checkpoint, verbatim.
    pub checkpoint: String,
}

impl Bundle {
    /// A bundle for leaf `index` of `tree`, under a signed checkpoint whose
    /// size is `size` (the caller signed it over `tree.root_at(size)`).
    pub fn build(tree: &Tree, index: u64, size: u64, checkpoint_note: &str) -> Result<Bundle, TreeError> {
        Ok(Bundle { extra: None, index, proof: tree.inclusion_proof(index, size)?, checkpoint: checkpoint_note.to_string() })
    }

    /// The bundle as text.
    pub fn to_text(&self) -> String {
        let mut out = format!("{HEADER}\n");
        if let Some(e) = &self.extra {
            out.push_str(&format!("extra {}\n", STANDARD.encode(e)));
        }
        out.push_str(&format!("index {}\n", self.index));
        for h in &self.proof {
            out.push_str(&h.to_base64());
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&self.checkpoint);
        out
    }

    /// Parses a bundle (strictly; at most 1 MiB of checkpoint, 64 proof hashes).
    pub fn parse(text: &str) -> Result<Bundle, BundleError> {
        if text.len() > MAX_NOTE_BYTES + 2 * MAX_EXTRA_BYTES + 64 * 64 {
            return Err(BundleError::Malformed("too large"));
        }
        let mut rest = text;
        let mut line = || -> Result<&str, BundleError> {
            let (l, after) = rest.split_once('\n').ok_or(BundleError::Malformed("truncated"))?;
            rest = after;
            Ok(l)
        };
        if line()? != HEADER {
            return Err(BundleError::Malformed("first line is not c2sp.org/tlog-proof@v1"));
        }
        let mut next = line()?;
        let mut extra = None;
        if let Some(e) = next.strip_prefix("extra ") {
            let bytes = STANDARD.decode(e).map_err(|_| BundleError::Malformed("bad extra data"))?;
            if bytes.len() > MAX_EXTRA_BYTES {
                return Err(BundleError::Malformed("extra data too large"));
            }
            extra = Some(bytes);
            next = line()?;
        }
        let index = next.strip_prefix("index ").and_then(parse_decimal).ok_or(BundleError::Malformed("bad index line"))?;
        let mut proof = Vec::new();
        loop {
            let l = line()?;
            if l.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_HASHES {
                return Err(BundleError::Malformed("too many proof hashes"));
            }
            proof.push(Hash::from_base64(l).map_err(|_| BundleError::Malformed("bad proof hash"))?);
        }
        Ok(Bundle { extra, index, proof, checkpoint: rest.to_string() })
    }
}

/// What a verified bundle shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBundle {
    /// The leaf index.
    pub index: u64,
    /// The checkpoint, its log time and the cosignatures that verified.
    pub checkpoint: SignedCheckpoint,
    /// The bundle's extra data (unauthenticated).
    pub extra: Option<Vec<u8>>,
}

/// Verifies a bundle for `leaf_data` (the entry's bytes, hashed here as a
/// leaf): the checkpoint is signed by `log_key` (its origin is the key's
/// name), at least `min_cosignatures` distinct keys of `witness_keys`
/// cosigned it (a signature of a known key that fails refuses the bundle),
/// and the inclusion proof puts the leaf at its index in that tree.
/// Returns `(index, tree size)`.
pub fn verify_bundle(
    bundle_text: &str,
    leaf_data: &[u8],
    hash: HashAlg,
    log_key: &VerifierKey,
    witness_keys: &[VerifierKey],
    min_cosignatures: usize,
) -> Result<(u64, u64), BundleError> {
    let v = open_bundle(bundle_text, leaf_data, hash, log_key, witness_keys, min_cosignatures)?;
    Ok((v.index, v.checkpoint.checkpoint.size))
}

/// [`verify_bundle`], returning the checkpoint as verified (its time, which
/// witnesses cosigned and when).
pub fn open_bundle(
    bundle_text: &str,
    leaf_data: &[u8],
    hash: HashAlg,
    log_key: &VerifierKey,
    witness_keys: &[VerifierKey],
    min_cosignatures: usize,
) -> Result<VerifiedBundle, BundleError> {
    let bundle = Bundle::parse(bundle_text)?;
    let signed = checkpoint::open(&bundle.checkpoint, log_key, witness_keys)?;
    if signed.cosignatures.len() < min_cosignatures {
        return Err(BundleError::TooFewCosignatures { have: signed.cosignatures.len(), need: min_cosignatures });
    }
    let cp = &signed.checkpoint;
    verify_inclusion(hash, bundle.index, cp.size, &hash.leaf_hash(leaf_data), &bundle.proof, &cp.root)?;
    Ok(VerifiedBundle { index: bundle.index, checkpoint: signed, extra: bundle.extra })
}
