//! Checkpoints (`c2sp.org/tlog-checkpoint`): a signed note whose text is
//! `<origin>\n<size>\n<base64 root>\n` and optional extension lines.
//!
//! The time of a checkpoint is not an extension line (the spec calls those
//! NOT RECOMMENDED, and monitors cannot audit them): the log signs with a
//! timestamped signature type ([`SigType::Ed25519Cosignature`] or
//! [`SigType::Sm2Cosignature`]), whose `cosignature/v1` message carries the
//! time, as tlog-checkpoint recommends logs sign. The note text stays the
//! three standard lines, so any checkpoint parser reads it, and any verifier
//! that does not know the log's key type ignores that signature, as
//! signed-note requires.

use crate::hash::Hash;
use crate::keys::{KeyError, Signer, VerifierKey};
use crate::note::{Note, NoteError};

/// The longest origin line accepted, in bytes.
pub const MAX_ORIGIN_BYTES: usize = 256;
/// The most extension lines accepted.
pub const MAX_EXTENSION_LINES: usize = 16;
/// The longest extension line accepted, in bytes.
pub const MAX_EXTENSION_BYTES: usize = 1024;

/// Why a checkpoint is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    /// The signed note is malformed.
    #[error("malformed note: {0}")]
    Note(#[from] NoteError),
    /// The note text is not a checkpoint body.
    #[error("malformed checkpoint body: {0}")]
    Body(&'static str),
    /// The origin is not the log key's name.
    #[error("the checkpoint's origin is not the log key's name")]
    WrongOrigin,
    /// No valid signature of the log's key.
    #[error("the checkpoint carries no valid signature of the log")]
    NoLogSignature,
    /// A signature of a known key does not verify (the whole note is refused).
    #[error("a signature of {0} does not verify")]
    BadSignature(String),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Key(#[from] KeyError),
}

/// A checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin line.
    pub origin: String,
    /// The tree size.
    pub size: u64,
    /// The root hash at that size.
    pub root: Hash,
    /// Extension lines (opaque; Yunying's logs write none).
    pub extensions: Vec<String>,
}

/// A verified cosignature (or the log's own timestamped signature).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosigned {
    /// The key name.
    pub name: String,
    /// The signature's timestamp (POSIX seconds), for timestamped types.
    pub timestamp: Option<u64>,
}

/// A checkpoint whose log signature verified, with the witness cosignatures
/// that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The body.
    pub checkpoint: Checkpoint,
    /// The whole note as parsed.
    pub note: Note,
    /// The time in the log's signature, if its type carries one.
    pub log_time: Option<u64>,
    /// The witnesses (among those given) whose cosignature verified, one per key.
    pub cosignatures: Vec<Cosigned>,
}

impl Checkpoint {
    /// The note text: origin, size, base64 root and extension lines, each
    /// ending in a newline.
    pub fn to_text(&self) -> String {
        let mut out = format!("{}\n{}\n{}\n", self.origin, self.size, self.root.to_base64());
        for e in &self.extensions {
            out.push_str(e);
            out.push('\n');
        }
        out
    }

    /// Parses a checkpoint body (the note text, final newline included).
    pub fn parse(text: &str) -> Result<Checkpoint, CheckpointError> {
        let body = text.strip_suffix('\n').ok_or(CheckpointError::Body("no final newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty()).ok_or(CheckpointError::Body("empty origin"))?;
        if origin.len() > MAX_ORIGIN_BYTES {
            return Err(CheckpointError::Body("origin too long"));
        }
        let size = lines.next().ok_or(CheckpointError::Body("no size line"))?;
        let size = parse_decimal(size).ok_or(CheckpointError::Body("size is not a decimal without leading zeroes"))?;
        let root = lines.next().ok_or(CheckpointError::Body("no root line"))?;
        let root = Hash::from_base64(root).map_err(|_| CheckpointError::Body("root is not a base64 32-byte hash"))?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.len() > MAX_EXTENSION_LINES || extensions.iter().any(|e| e.is_empty() || e.len() > MAX_EXTENSION_BYTES) {
            return Err(CheckpointError::Body("bad extension lines"));
        }
        Ok(Checkpoint { origin: origin.to_string(), size, root, extensions })
    }

    /// The signed note of this checkpoint: signed by `signer` (whose name
    /// must be the origin) at `timestamp` (POSIX seconds).
    pub fn sign(&self, signer: &Signer, timestamp: u64) -> Result<String, CheckpointError> {
        if signer.name() != self.origin {
            return Err(CheckpointError::WrongOrigin);
        }
        let text = self.to_text();
        crate::note::check_text(&text)?;
        // An origin or extension with a newline would sign another checkpoint.
        if Checkpoint::parse(&text)? != *self {
            return Err(CheckpointError::Body("the checkpoint does not read back as itself"));
        }
        let sig = signer.sign(&text, timestamp)?;
        Ok(Note { text, signatures: vec![sig] }.to_text())
    }
}

/// Parses an ASCII decimal with no leading zeroes (`0` alone for zero), at
/// most 2^63 − 1.
pub fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse::<u64>().ok().filter(|n| *n <= i64::MAX as u64)
}

/// Opens a signed checkpoint: the note must parse, its origin must be the log
/// key's name, the log's signature must verify, and every signature of a
/// key among `log_key` and `witness_keys` must verify (one that does not
/// refuses the whole note); others are ignored.
pub fn open(note_text: &str, log_key: &VerifierKey, witness_keys: &[VerifierKey]) -> Result<SignedCheckpoint, CheckpointError> {
    let note = Note::parse(note_text)?;
    let checkpoint = Checkpoint::parse(&note.text)?;
    if checkpoint.origin != log_key.name() {
        return Err(CheckpointError::WrongOrigin);
    }
    let mut log_time = None;
    let mut log_ok = false;
    let mut cosignatures: Vec<Cosigned> = Vec::new();
    let mut seen: Vec<usize> = Vec::new();
    for sig in &note.signatures {
        if log_key.matches(sig) {
            let t = log_key.verify(&note.text, &sig.signature).map_err(|_| CheckpointError::BadSignature(sig.name.clone()))?;
            log_ok = true;
            log_time = log_time.or(t);
            continue;
        }
        for (i, w) in witness_keys.iter().enumerate() {
            if w.matches(sig) {
                let t = w.verify(&note.text, &sig.signature).map_err(|_| CheckpointError::BadSignature(sig.name.clone()))?;
                if !seen.contains(&i) {
                    seen.push(i);
                    cosignatures.push(Cosigned { name: sig.name.clone(), timestamp: t });
                }
            }
        }
    }
    if !log_ok {
        return Err(CheckpointError::NoLogSignature);
    }
    Ok(SignedCheckpoint { checkpoint, note, log_time, cosignatures })
}
