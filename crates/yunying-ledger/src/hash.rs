//! Hashes of the log (RFC 9162 §2.1): leaf `H(0x00 || data)`, interior node
//! `H(0x01 || left || right)`, and the empty tree `H("")`, with SM3 (the
//! default, GB/T 32905) or SHA-256 (RFC 6962's, for the published vectors and
//! tools that know nothing else).

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Digest as _;

/// The hash function of a log. One log uses one, for ever: it is part of
/// what a verifier is told about the log, with its key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HashAlg {
    /// SM3 (GB/T 32905-2016), 256 bits.
    #[default]
    Sm3,
    /// SHA-256 (FIPS 180-4), as in RFC 6962 and C2SP.
    Sha256,
}

/// A 32-byte hash: a leaf hash, a subtree hash or a tree root.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Hash(pub [u8; 32]);

/// A string that is not a base64 32-byte hash (or not a hash algorithm name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a base64 32-byte hash")]
pub struct BadHash;

impl HashAlg {
    /// The hash of `parts`, concatenated.
    pub fn digest(self, parts: &[&[u8]]) -> Hash {
        match self {
            HashAlg::Sm3 => {
                let mut h = sm3::Sm3::new();
                for p in parts {
                    h.update(p);
                }
                Hash(h.finalize().into())
            }
            HashAlg::Sha256 => {
                let mut h = sha2::Sha256::new();
                for p in parts {
                    h.update(p);
                }
                Hash(h.finalize().into())
            }
        }
    }

    /// The leaf hash of an entry: `H(0x00 || data)`.
    pub fn leaf_hash(self, data: &[u8]) -> Hash {
        self.digest(&[&[0x00], data])
    }

    /// The hash of an interior node: `H(0x01 || left || right)`.
    pub fn node_hash(self, left: &Hash, right: &Hash) -> Hash {
        self.digest(&[&[0x01], &left.0, &right.0])
    }

    /// The root of the empty tree: `H("")`.
    pub fn empty_root(self) -> Hash {
        self.digest(&[])
    }

    /// The name used in files and on command lines: `sm3` or `sha256`.
    pub fn name(self) -> &'static str {
        match self {
            HashAlg::Sm3 => "sm3",
            HashAlg::Sha256 => "sha256",
        }
    }
}

impl FromStr for HashAlg {
    type Err = BadHash;
    fn from_str(s: &str) -> Result<Self, BadHash> {
        match s {
            "sm3" => Ok(HashAlg::Sm3),
            "sha256" | "sha-256" => Ok(HashAlg::Sha256),
            _ => Err(BadHash),
        }
    }
}

impl Hash {
    /// Standard base64 (RFC 4648 §4), as in checkpoints and proofs.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.0)
    }

    /// Parses standard base64 of exactly 32 bytes, canonical (re-encoding
    /// gives the same text), so one hash has one spelling.
    pub fn from_base64(text: &str) -> Result<Hash, BadHash> {
        if text.len() != 44 {
            return Err(BadHash);
        }
        let bytes = STANDARD.decode(text).map_err(|_| BadHash)?;
        let hash = Hash(bytes.try_into().map_err(|_| BadHash)?);
        if hash.to_base64() != text {
            return Err(BadHash);
        }
        Ok(hash)
    }

    /// Lower-case hex, for messages and tests.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

impl fmt::Debug for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hash({})", self.to_hex())
    }
}

impl fmt::Display for Hash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64())
    }
}

impl Serialize for Hash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_base64())
    }
}

impl<'de> Deserialize<'de> for Hash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Hash::from_base64(&text).map_err(serde::de::Error::custom)
    }
}
