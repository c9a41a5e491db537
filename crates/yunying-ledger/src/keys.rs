//! Note keys: signers and verifiers of [`crate::note`] signatures.
//!
//! Three signature types:
//! - [`SigType::Ed25519`], type byte `0x01`: plain signed-note Ed25519 (what
//!   Go's `golang.org/x/mod/sumdb/note` signs and verifies).
//! - [`SigType::Ed25519Cosignature`], type byte `0x04`: `c2sp.org/tlog-cosignature`
//!   `cosignature/v1`, a timestamp and an Ed25519 signature over
//!   `cosignature/v1\ntime <t>\n<checkpoint>`.
//! - [`SigType::Sm2Cosignature`]: the same message and timestamp, signed with SM2
//!   (SM3, distinguishing ID `1234567812345678`). signed-note assigns SM2 no type
//!   byte, so its type is `0xff` followed by the identifier
//!   `sm2-sm3-cosignature/v1` (the spec's way for unassigned types); the public
//!   key is the 65-byte uncompressed SEC1 point.
//!
//! Verifier keys are text, `<name>+<key ID hex>+base64(type || public key)`
//! (as Go's note package writes them); private keys are PKCS#8 PEM.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use sha2::{Digest as _, Sha256};
use sm2::elliptic_curve::sec1::ToEncodedPoint;

use crate::note::{NoteSignature, check_name};

/// The SM2 distinguishing ID (GB/T 35276 default).
pub const SM2_DIST_ID: &str = "1234567812345678";
/// The type bytes of [`SigType::Sm2Cosignature`] in key IDs and verifier keys.
pub const SM2_COSIGNATURE_TYPE: &[u8] = b"\xffsm2-sm3-cosignature/v1";
/// The largest timestamp a cosignature may carry (2^63 − 1).
pub const MAX_TIMESTAMP: u64 = i64::MAX as u64;

/// A signature type of signed notes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SigType {
    /// Ed25519 over the note text (type `0x01`); carries no time.
    Ed25519,
    /// Timestamped Ed25519 `cosignature/v1` (type `0x04`).
    Ed25519Cosignature,
    /// Timestamped SM2 over the `cosignature/v1` message (type `0xff` + identifier).
    Sm2Cosignature,
}

impl SigType {
    /// The type bytes hashed into key IDs and prefixed to public keys.
    pub fn type_bytes(self) -> &'static [u8] {
        match self {
            SigType::Ed25519 => &[0x01],
            SigType::Ed25519Cosignature => &[0x04],
            SigType::Sm2Cosignature => SM2_COSIGNATURE_TYPE,
        }
    }

    /// Whether signatures of this type carry a timestamp.
    pub fn timestamped(self) -> bool {
        !matches!(self, SigType::Ed25519)
    }
}

/// A key that cannot be parsed, loaded or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not `name+hex+base64`, or a part of it is malformed.
    #[error("malformed verifier key")]
    Malformed,
    /// The key ID does not match the name, type and public key.
    #[error("the key ID does not match the key")]
    WrongKeyId,
    /// A type byte this library does not know.
    #[error("unknown signature type")]
    UnknownType,
    /// The public key bytes are not a valid key of the type.
    #[error("invalid public key")]
    BadPublicKey,
    /// The private key PEM is not a PKCS#8 key of the expected algorithm.
    #[error("the private key is not PKCS#8 PEM of the expected algorithm")]
    BadPrivateKey,
    /// The signature does not verify.
    #[error("the signature does not verify")]
    BadSignature,
    /// A timestamp above 2^63 − 1.
    #[error("timestamp out of range")]
    BadTimestamp,
}

#[derive(Clone, Debug)]
enum PublicKey {
    Ed25519(ed25519_dalek::VerifyingKey),
    Sm2(sm2::dsa::VerifyingKey),
}

#[derive(Clone)]
enum PrivateKey {
    Ed25519(ed25519_dalek::SigningKey),
    Sm2(sm2::dsa::SigningKey),
}

/// A public key that verifies note signatures of one name and type.
#[derive(Clone, Debug)]
pub struct VerifierKey {
    name: String,
    kind: SigType,
    key_id: u32,
    key: PublicKey,
}

/// A private key that signs notes under one name and type.
#[derive(Clone)]
pub struct Signer {
    key: PrivateKey,
    verifier: VerifierKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer").field("verifier", &self.verifier.to_string()).finish_non_exhaustive()
    }
}

/// `SHA-256(name || 0x0A || type || public key)[:4]`, big-endian.
pub fn key_id(name: &str, type_and_key: &[u8]) -> u32 {
    let h = Sha256::new().chain_update(name.as_bytes()).chain_update(b"\n").chain_update(type_and_key).finalize();
    u32::from_be_bytes(h[..4].try_into().expect("four bytes"))
}

/// The message a timestamped signature signs: `cosignature/v1\ntime <t>\n<text>`.
pub fn cosignature_message(timestamp: u64, text: &str) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{text}")
}

impl PublicKey {
    fn bytes(&self) -> Vec<u8> {
        match self {
            PublicKey::Ed25519(k) => k.to_bytes().to_vec(),
            PublicKey::Sm2(k) => k.as_affine().to_encoded_point(false).as_bytes().to_vec(),
        }
    }
}

impl VerifierKey {
    fn from_parts(name: &str, kind: SigType, key: PublicKey) -> Result<VerifierKey, KeyError> {
        check_name(name).map_err(|_| KeyError::Malformed)?;
        let mut tk = kind.type_bytes().to_vec();
        tk.extend(key.bytes());
        Ok(VerifierKey { name: name.to_string(), kind, key_id: key_id(name, &tk), key })
    }

    /// Parses `name+hex(key ID)+base64(type || public key)`, checking the key ID.
    pub fn parse(text: &str) -> Result<VerifierKey, KeyError> {
        let text = text.trim_end_matches(['\n', '\r']);
        if text.len() > 1024 {
            return Err(KeyError::Malformed);
        }
        let mut parts = text.splitn(3, '+');
        let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else { return Err(KeyError::Malformed) };
        check_name(name).map_err(|_| KeyError::Malformed)?;
        if id.len() != 8 || !id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            return Err(KeyError::Malformed);
        }
        let id = u32::from_str_radix(id, 16).map_err(|_| KeyError::Malformed)?;
        let tk = STANDARD.decode(b64).map_err(|_| KeyError::Malformed)?;
        if STANDARD.encode(&tk) != b64 {
            return Err(KeyError::Malformed);
        }
        let (kind, key) = if let Some(k) = tk.strip_prefix(SM2_COSIGNATURE_TYPE) {
            if k.len() != 65 || k[0] != 0x04 {
                return Err(KeyError::BadPublicKey);
            }
            (
                SigType::Sm2Cosignature,
                PublicKey::Sm2(sm2::dsa::VerifyingKey::from_sec1_bytes(SM2_DIST_ID, k).map_err(|_| KeyError::BadPublicKey)?),
            )
        } else {
            let kind = match tk.first() {
                Some(0x01) => SigType::Ed25519,
                Some(0x04) => SigType::Ed25519Cosignature,
                _ => return Err(KeyError::UnknownType),
            };
            let bytes: [u8; 32] = tk[1..].try_into().map_err(|_| KeyError::BadPublicKey)?;
            (kind, PublicKey::Ed25519(ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| KeyError::BadPublicKey)?))
        };
        if key_id(name, &tk) != id {
            return Err(KeyError::WrongKeyId);
        }
        Ok(VerifierKey { name: name.to_string(), kind, key_id: id, key })
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The signature type.
    pub fn kind(&self) -> SigType {
        self.kind
    }

    /// The 32-bit key ID.
    pub fn key_id(&self) -> u32 {
        self.key_id
    }

    /// Whether a signature line names this key (same name and key ID).
    pub fn matches(&self, sig: &NoteSignature) -> bool {
        sig.name == self.name && sig.key_id == self.key_id
    }

    /// Verifies a signature (without its key ID) over note `text`. Returns the
    /// signature's timestamp for timestamped types.
    pub fn verify(&self, text: &str, signature: &[u8]) -> Result<Option<u64>, KeyError> {
        let (timestamp, sig) = if self.kind.timestamped() {
            if signature.len() < 8 {
                return Err(KeyError::BadSignature);
            }
            let t = u64::from_be_bytes(signature[..8].try_into().expect("eight bytes"));
            if t > MAX_TIMESTAMP {
                return Err(KeyError::BadTimestamp);
            }
            (Some(t), &signature[8..])
        } else {
            (None, signature)
        };
        let message = match timestamp {
            Some(t) => cosignature_message(t, text),
            None => text.to_string(),
        };
        match &self.key {
            PublicKey::Ed25519(k) => {
                let sig = ed25519_dalek::Signature::from_slice(sig).map_err(|_| KeyError::BadSignature)?;
                k.verify_strict(message.as_bytes(), &sig).map_err(|_| KeyError::BadSignature)?;
            }
            PublicKey::Sm2(k) => {
                use sm2::dsa::signature::Verifier as _;
                let sig = sm2::dsa::Signature::from_slice(sig).map_err(|_| KeyError::BadSignature)?;
                k.verify(message.as_bytes(), &sig).map_err(|_| KeyError::BadSignature)?;
            }
        }
        Ok(timestamp)
    }
}

impl std::fmt::Display for VerifierKey {
    /// `name+hex(key ID)+base64(type || public key)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut tk = self.kind.type_bytes().to_vec();
        tk.extend(self.key.bytes());
        write!(f, "{}+{:08x}+{}", self.name, self.key_id, STANDARD.encode(tk))
    }
}

impl std::str::FromStr for VerifierKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, KeyError> {
        VerifierKey::parse(s)
    }
}

impl Signer {
    /// A new random key (from the operating system's generator).
    pub fn generate(name: &str, kind: SigType) -> Result<Signer, KeyError> {
        let key = match kind {
            SigType::Ed25519 | SigType::Ed25519Cosignature => {
                PrivateKey::Ed25519(ed25519_dalek::SigningKey::generate(&mut rand_core::OsRng))
            }
            SigType::Sm2Cosignature => {
                let secret = sm2::SecretKey::random(&mut rand_core::OsRng);
                PrivateKey::Sm2(sm2::dsa::SigningKey::new(SM2_DIST_ID, &secret).map_err(|_| KeyError::BadPrivateKey)?)
            }
        };
        Signer::from_key(name, kind, key)
    }

    fn from_key(name: &str, kind: SigType, key: PrivateKey) -> Result<Signer, KeyError> {
        let public = match &key {
            PrivateKey::Ed25519(k) => PublicKey::Ed25519(k.verifying_key()),
            PrivateKey::Sm2(k) => PublicKey::Sm2(k.verifying_key().clone()),
        };
        let verifier = VerifierKey::from_parts(name, kind, public)?;
        Ok(Signer { key, verifier })
    }

    /// Loads a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`): an
    /// Ed25519 key for the Ed25519 types, an SM2 key for SM2.
    pub fn from_pkcs8_pem(name: &str, kind: SigType, pem: &str) -> Result<Signer, KeyError> {
        if pem.len() > 16 * 1024 {
            return Err(KeyError::BadPrivateKey);
        }
        let key = match kind {
            SigType::Ed25519 | SigType::Ed25519Cosignature => {
                PrivateKey::Ed25519(ed25519_dalek::SigningKey::from_pkcs8_pem(pem).map_err(|_| KeyError::BadPrivateKey)?)
            }
            SigType::Sm2Cosignature => {
                let secret = sm2::SecretKey::from_pkcs8_pem(pem).map_err(|_| KeyError::BadPrivateKey)?;
                PrivateKey::Sm2(sm2::dsa::SigningKey::new(SM2_DIST_ID, &secret).map_err(|_| KeyError::BadPrivateKey)?)
            }
        };
        Signer::from_key(name, kind, key)
    }

    /// Loads a Go `note` private key, `PRIVATE+KEY+<name>+<id>+base64(0x01 || seed)`
    /// (type `0x01` only), for interoperability with Go's tools and vectors.
    pub fn from_go_private_key(text: &str) -> Result<Signer, KeyError> {
        let rest = text.trim_end().strip_prefix("PRIVATE+KEY+").ok_or(KeyError::BadPrivateKey)?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id), Some(b64)) = (parts.next(), parts.next(), parts.next()) else { return Err(KeyError::BadPrivateKey) };
        let raw = STANDARD.decode(b64).map_err(|_| KeyError::BadPrivateKey)?;
        let seed: [u8; 32] = raw.strip_prefix(&[0x01]).and_then(|s| s.try_into().ok()).ok_or(KeyError::BadPrivateKey)?;
        let signer = Signer::from_key(name, SigType::Ed25519, PrivateKey::Ed25519(ed25519_dalek::SigningKey::from_bytes(&seed)))?;
        if format!("{:08x}", signer.verifier.key_id) != id {
            return Err(KeyError::WrongKeyId);
        }
        Ok(signer)
    }

    /// The private key as PKCS#8 PEM. Keep it secret: write it with mode 0600.
    pub fn to_pkcs8_pem(&self) -> Result<String, KeyError> {
        let pem = match &self.key {
            PrivateKey::Ed25519(k) => k.to_pkcs8_pem(LineEnding::LF).map_err(|_| KeyError::BadPrivateKey)?,
            PrivateKey::Sm2(k) => {
                let secret = sm2::SecretKey::from_bytes(&k.to_bytes()).map_err(|_| KeyError::BadPrivateKey)?;
                secret.to_pkcs8_pem(LineEnding::LF).map_err(|_| KeyError::BadPrivateKey)?
            }
        };
        Ok(pem.to_string())
    }

    /// The verifier key of this signer.
    pub fn verifier(&self) -> &VerifierKey {
        &self.verifier
    }

    /// The key name.
    pub fn name(&self) -> &str {
        &self.verifier.name
    }

    /// Signs note `text`; timestamped types sign `timestamp` with it (POSIX
    /// seconds), the plain Ed25519 type ignores it.
    pub fn sign(&self, text: &str, timestamp: u64) -> Result<NoteSignature, KeyError> {
        if timestamp > MAX_TIMESTAMP {
            return Err(KeyError::BadTimestamp);
        }
        let timestamped = self.verifier.kind.timestamped();
        let message = if timestamped { cosignature_message(timestamp, text) } else { text.to_string() };
        let raw = match &self.key {
            PrivateKey::Ed25519(k) => {
                use ed25519_dalek::Signer as _;
                k.sign(message.as_bytes()).to_bytes().to_vec()
            }
            PrivateKey::Sm2(k) => {
                use sm2::dsa::signature::Signer as _;
                let sig: sm2::dsa::Signature = k.sign(message.as_bytes());
                sig.to_bytes().to_vec()
            }
        };
        let mut signature = Vec::with_capacity(8 + raw.len());
        if timestamped {
            signature.extend_from_slice(&timestamp.to_be_bytes());
        }
        signature.extend(raw);
        Ok(NoteSignature { name: self.verifier.name.clone(), key_id: self.verifier.key_id, signature })
    }
}
