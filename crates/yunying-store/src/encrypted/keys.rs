//! Master keys: they wrap each object's data key. The seam is the
//! [`KeyWrapper`] trait (a KMS can implement it later); [`LocalMasterKeys`]
//! holds 128-bit SM4 keys read from files or environment variables, as
//! `[store.encryption]` names them. Several keys can be loaded: new data
//! keys are wrapped under the current one, objects wrapped under an older
//! one stay readable until `yunying rotate-store-key` re-wraps them.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::format::{KEY_ID_MAX, Sm4Gcm, WRAPPED_MAX};

/// Why a data key could not be wrapped or unwrapped, or a master key loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// No master key with this id is loaded.
    #[error("master key {0:?} is not loaded")]
    UnknownKey(String),
    /// The wrapped key does not open (wrong key, or a damaged or moved header).
    #[error("the data key does not unwrap under master key {0:?}")]
    Unwrap(String),
    /// The configuration does not give a usable key.
    #[error("{0}")]
    Config(String),
}

/// Wraps and unwraps data keys under master keys.
pub trait KeyWrapper: Send + Sync + 'static {
    /// Id of the master key new data keys are wrapped under.
    fn current_key_id(&self) -> &str;
    /// Whether the master key `key_id` is available for unwrapping.
    fn has_key(&self, key_id: &str) -> bool;
    /// Wrap `data_key` under the current master key, bound to `aad`. At
    /// most [`WRAPPED_MAX`] bytes.
    fn wrap(&self, data_key: &[u8; 16], aad: &[u8]) -> Result<Vec<u8>, KeyError>;
    /// Unwrap what [`wrap`](Self::wrap) made under `key_id` with the same `aad`.
    fn unwrap(&self, key_id: &str, wrapped: &[u8], aad: &[u8]) -> Result<[u8; 16], KeyError>;
}

/// One master key: its id and where its 32 hex digits are read from.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct MasterKeySource {
    /// The id written in every object header it wraps (1 to 32 characters,
    /// letters, digits, `-`, `_`, `.`).
    pub key_id: String,
    /// A file holding the key as 32 hex digits (mode 0600, owned by the
    /// service user).
    pub master_key_file: Option<PathBuf>,
    /// Or an environment variable holding it.
    pub master_key_env: Option<String>,
}

/// `[store.encryption]`: SM4-GCM encryption of every object at rest.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct EncryptionConfig {
    /// Encrypt new objects and decrypt on read. An encrypted store is only
    /// readable with encryption on (`migrate-store --encrypt` converts one).
    pub enabled: bool,
    /// Id of the current master key (wraps new data keys).
    pub key_id: String,
    /// File holding the current master key (32 hex digits).
    pub master_key_file: Option<PathBuf>,
    /// Or the environment variable holding it.
    pub master_key_env: Option<String>,
    /// Older master keys, still used to read objects wrapped under them.
    pub previous: Vec<MasterKeySource>,
}

impl EncryptionConfig {
    /// The current key's source.
    pub fn current(&self) -> MasterKeySource {
        MasterKeySource {
            key_id: self.key_id.clone(),
            master_key_file: self.master_key_file.clone(),
            master_key_env: self.master_key_env.clone(),
        }
    }

    /// Load every configured master key.
    pub fn load(&self) -> Result<LocalMasterKeys, KeyError> {
        let mut keys = LocalMasterKeys::new(&self.key_id, read_key(&self.current())?)?;
        for source in &self.previous {
            keys.add(&source.key_id, read_key(source)?)?;
        }
        Ok(keys)
    }
}

fn read_key(source: &MasterKeySource) -> Result<[u8; 16], KeyError> {
    let id = &source.key_id;
    let text = match (&source.master_key_file, &source.master_key_env) {
        (Some(path), None) => std::fs::read_to_string(path)
            .map_err(|e| KeyError::Config(format!("master key {id:?}: cannot read {}: {e}", path.display())))?,
        (None, Some(var)) => std::env::var(var).map_err(|_| KeyError::Config(format!("master key {id:?}: ${var} is not set")))?,
        _ => return Err(KeyError::Config(format!("master key {id:?}: give exactly one of master_key_file and master_key_env"))),
    };
    let mut key = [0u8; 16];
    hex::decode_to_slice(text.trim(), &mut key)
        .map_err(|_| KeyError::Config(format!("master key {id:?}: expected 32 hex digits (128 bits)")))?;
    Ok(key)
}

/// Master keys held in memory.
pub struct LocalMasterKeys {
    current: String,
    keys: HashMap<String, Sm4Gcm>,
}

impl std::fmt::Debug for LocalMasterKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut ids: Vec<&String> = self.keys.keys().collect();
        ids.sort();
        f.debug_struct("LocalMasterKeys").field("current", &self.current).field("ids", &ids).finish_non_exhaustive()
    }
}

impl LocalMasterKeys {
    /// Keys with `current` as the one that wraps.
    pub fn new(current: &str, key: [u8; 16]) -> Result<Self, KeyError> {
        let mut keys = LocalMasterKeys { current: current.to_string(), keys: HashMap::new() };
        keys.add(current, key)?;
        Ok(keys)
    }

    /// Add a key for unwrapping (an older one).
    pub fn add(&mut self, key_id: &str, key: [u8; 16]) -> Result<(), KeyError> {
        let valid = !key_id.is_empty()
            && key_id.len() <= KEY_ID_MAX
            && key_id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
        if !valid {
            return Err(KeyError::Config(format!("master key id {key_id:?}: 1 to 32 letters, digits, '-', '_' or '.'")));
        }
        if self.keys.contains_key(key_id) {
            return Err(KeyError::Config(format!("master key id {key_id:?} is configured twice")));
        }
        self.keys.insert(key_id.to_string(), Sm4Gcm::new(&key));
        Ok(())
    }
}

impl KeyWrapper for LocalMasterKeys {
    fn current_key_id(&self) -> &str {
        &self.current
    }

    fn has_key(&self, key_id: &str) -> bool {
        self.keys.contains_key(key_id)
    }

    /// SM4-GCM under the master key: nonce (12) ‖ sealed key (16) ‖ tag (16).
    fn wrap(&self, data_key: &[u8; 16], aad: &[u8]) -> Result<Vec<u8>, KeyError> {
        let cipher = self.keys.get(&self.current).ok_or_else(|| KeyError::UnknownKey(self.current.clone()))?;
        let nonce: [u8; 12] = rand::random();
        let sealed = cipher.seal(&nonce, aad, data_key).map_err(|_| KeyError::Unwrap(self.current.clone()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        debug_assert!(out.len() <= WRAPPED_MAX);
        Ok(out)
    }

    fn unwrap(&self, key_id: &str, wrapped: &[u8], aad: &[u8]) -> Result<[u8; 16], KeyError> {
        let cipher = self.keys.get(key_id).ok_or_else(|| KeyError::UnknownKey(key_id.to_string()))?;
        if wrapped.len() != 12 + 16 + 16 {
            return Err(KeyError::Unwrap(key_id.to_string()));
        }
        let (nonce, sealed) = wrapped.split_at(12);
        let key = cipher.open(nonce.try_into().expect("12-byte nonce"), aad, sealed).map_err(|_| KeyError::Unwrap(key_id.to_string()))?;
        key.try_into().map_err(|_| KeyError::Unwrap(key_id.to_string()))
    }
}
