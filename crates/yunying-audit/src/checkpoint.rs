//! Signing the ledger's checkpoints: C2SP `tlog-checkpoint` signed notes
//! (origin, tree size, root hash), signed with SM2 (SM3, the default) or
//! Ed25519, by a key every node of one deployment shares.
//!
//! The key lives in a PKCS#8 PEM file; its verifier key (the C2SP
//! `name+id+base64` text an auditor is given) is written beside it as
//! `<file>.pub` whenever the key is made or loaded.

use std::path::Path;

use serde::{Deserialize, Serialize};
use yunying_ledger::{Checkpoint, Hash, SigType, VerifierKey};

use crate::AuditError;

/// The signature algorithm of checkpoints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureKind {
    /// SM2 with SM3 (GB/T 32918), the national algorithm.
    #[default]
    Sm2,
    /// Ed25519 (RFC 8032), what C2SP tools know.
    Ed25519,
}

impl SignatureKind {
    pub(crate) fn sig_type(self) -> SigType {
        match self {
            SignatureKind::Sm2 => SigType::Sm2Cosignature,
            SignatureKind::Ed25519 => SigType::Ed25519Cosignature,
        }
    }
}

/// Signs checkpoints of one log.
pub struct Signer {
    origin: String,
    key: yunying_ledger::Signer,
}

impl Signer {
    /// The signer whose private key is at `path` (made there, 0600, when
    /// absent), for the log named `origin`.
    pub fn load_or_make(path: &Path, origin: &str, kind: SignatureKind) -> Result<Signer, AuditError> {
        let key = match std::fs::read_to_string(path) {
            Ok(pem) => yunying_ledger::Signer::from_pkcs8_pem(origin, kind.sig_type(), &pem)
                .map_err(|e| AuditError::Key(format!("{}: {e} (is it a {kind:?} key?)", path.display())))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = yunying_ledger::Signer::generate(origin, kind.sig_type()).map_err(|e| AuditError::Key(e.to_string()))?;
                let pem = key.to_pkcs8_pem().map_err(|e| AuditError::Key(e.to_string()))?;
                crate::write_secret(path, pem.as_bytes())?;
                key
            }
            Err(e) => return Err(e.into()),
        };
        let signer = Signer { origin: origin.to_string(), key };
        let public = format!("{}\n", signer.verifier());
        let pub_path = path.with_extension("pub");
        if std::fs::read_to_string(&pub_path).ok().as_deref() != Some(public.as_str()) {
            std::fs::write(&pub_path, public)?;
        }
        Ok(signer)
    }

    /// A signer with a fresh key (tests).
    pub fn ephemeral(origin: &str, kind: SignatureKind) -> Signer {
        let key = yunying_ledger::Signer::generate(origin, kind.sig_type()).expect("a key can be made");
        Signer { origin: origin.to_string(), key }
    }

    /// The key that checks this signer's checkpoints.
    pub fn verifier(&self) -> &VerifierKey {
        self.key.verifier()
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Signs any text with the log's key (a signed-note signature line;
    /// SM2 and Ed25519 cosignature types carry `timestamp`): for documents
    /// the deployment vouches for, such as recognition records, checked
    /// with the same log key as its checkpoints.
    pub fn sign_text(&self, text: &str, timestamp: u64) -> Result<yunying_ledger::note::NoteSignature, AuditError> {
        self.key.sign(text, timestamp).map_err(|e| AuditError::Key(e.to_string()))
    }

    /// The signed note of the tree of `size` leaves with this `root`, at
    /// `at_ms`.
    pub fn sign(&self, size: u64, root: &Hash, at_ms: i64) -> Result<String, AuditError> {
        let checkpoint = Checkpoint { origin: self.origin.clone(), size, root: *root, extensions: Vec::new() };
        Ok(checkpoint.sign(&self.key, (at_ms.max(0) / 1000) as u64)?)
    }
}
