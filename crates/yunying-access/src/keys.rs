//! API keys for systems: a HIS, a PACS, an OHIF deployment.
//!
//! A key is `yk_<id>_<secret>`: the id (8 random bytes, hex) finds its row,
//! the secret (32 random bytes) proves it. Only the SHA-256 of the whole
//! key is stored (the secret has 256 bits of entropy, so a fast digest is
//! as strong as a slow one), the key is shown once when created, and it is
//! never logged. A key speaks for an institution (or the platform) with
//! scopes: `dicomweb:read`, `stow`, `films:create`, `empi`.

use sha2::{Digest, Sha256};
use yunying_index::ApiKeyRow;

use crate::principal::scope_actions;
use crate::{Access, Action, Denied, Kind, Principal, Reach, now_ms, random_id};

/// What every key starts with.
pub const PREFIX: &str = "yk_";

/// How stale a key's last-used time may get before it is written again.
const TOUCH_EVERY_MS: i64 = 60_000;

/// The principal a key proves, if it is a live key.
pub(crate) async fn authenticate(access: &Access, token: &str) -> Result<Principal, Denied> {
    let invalid = || Denied::Unauthenticated("invalid API key".into());
    let rest = token.strip_prefix(PREFIX).ok_or_else(invalid)?;
    let (key_id, _secret) = rest.split_once('_').ok_or_else(invalid)?;
    if key_id.len() != 16 || !key_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(invalid());
    }
    let row = match access.cache().key(key_id) {
        Some(row) => row,
        None => {
            let generation = access.cache().generation();
            let row = access.index().api_key(key_id).await?.ok_or_else(invalid)?;
            access.cache().put_key(generation, row.clone());
            row
        }
    };
    let digest = hex::encode(Sha256::digest(token.as_bytes()));
    // Both are hex digests of equal length: compare every byte.
    let same = row.digest.len() == digest.len() && row.digest.bytes().zip(digest.bytes()).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0;
    if !same {
        return Err(invalid());
    }
    if row.revoked_ms.is_some() {
        return Err(Denied::Unauthenticated("this API key has been revoked".into()));
    }
    let now = now_ms();
    if row.last_used_ms.is_none_or(|t| now - t > TOUCH_EVERY_MS) {
        // Remembered with its new time, so the requests that follow (which
        // read the remembered row) do not write it again.
        let generation = access.cache().generation();
        match access.index().touch_api_key(key_id, now).await {
            Ok(()) => access.cache().put_key(generation, ApiKeyRow { last_used_ms: Some(now), ..row.clone() }),
            Err(e) => tracing::warn!(key_id, error = %e, "API key's last use not recorded"),
        }
    }
    principal_of(&row)
}

fn principal_of(row: &ApiKeyRow) -> Result<Principal, Denied> {
    let actions = scope_actions(&row.scopes).map_err(Denied::Unavailable)?;
    Ok(Principal {
        id: format!("key:{}", row.key_id),
        name: row.name.clone(),
        kind: Kind::Key { key_id: row.key_id.clone() },
        institution: row.institution.clone(),
        actions,
        reach: match &row.institution {
            Some(code) => Reach::Institution(code.clone()),
            None => Reach::All,
        },
    })
}

/// A key as shown after creation: its public parts only.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    pub key_id: String,
    pub name: String,
    pub institution: Option<String>,
    pub scopes: String,
    pub created_ms: i64,
    pub created_by: String,
    pub last_used_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
}

impl From<ApiKeyRow> for KeyInfo {
    fn from(r: ApiKeyRow) -> Self {
        KeyInfo {
            key_id: r.key_id,
            name: r.name,
            institution: r.institution,
            scopes: r.scopes,
            created_ms: r.created_ms,
            created_by: r.created_by,
            last_used_ms: r.last_used_ms,
            revoked_ms: r.revoked_ms,
        }
    }
}

impl Access {
    /// Create a key: the security administrator's job (`by` = `None`: the
    /// command line on the server itself). Returns the key, to be shown
    /// once, and its public parts.
    pub async fn create_key(
        &self,
        by: Option<&Principal>,
        name: &str,
        institution: Option<&str>,
        scopes: &str,
        client: &str,
    ) -> Result<(String, KeyInfo), Denied> {
        if let Some(p) = by {
            self.require(p, Action::ManageKeys)?;
        }
        let name = name.trim();
        if name.is_empty() || name.len() > 128 {
            return Err(Denied::Invalid("a key needs a name of at most 128 bytes".into()));
        }
        let actions = scope_actions(scopes).map_err(Denied::Invalid)?;
        if actions.is_empty() {
            return Err(Denied::Invalid(
                "a key needs at least one scope (dicomweb:read, stow, films:create, empi, recognition, reading)".into(),
            ));
        }
        let key_id = random_id(8);
        let secret: [u8; 32] = rand::random();
        let key = format!("{PREFIX}{key_id}_{}", hex::encode(secret));
        let creator = by.map_or("cli".to_string(), |p| p.id.clone());
        let row = ApiKeyRow {
            key_id: key_id.clone(),
            digest: hex::encode(Sha256::digest(key.as_bytes())),
            name: name.to_string(),
            institution: institution.map(str::to_string).filter(|s| !s.is_empty()),
            scopes: scopes.split(',').map(str::trim).filter(|s| !s.is_empty()).collect::<Vec<_>>().join(","),
            created_ms: now_ms(),
            created_by: creator.clone(),
            last_used_ms: None,
            revoked_ms: None,
        };
        self.index().insert_api_key(&row).await?;
        self.record(&creator, "key-created", &[], "", client, "ok", &format!("key {key_id} scopes {}", row.scopes)).await;
        Ok((key, row.into()))
    }

    /// Every key's public parts.
    pub async fn keys(&self, by: &Principal) -> Result<Vec<KeyInfo>, Denied> {
        self.require(by, Action::ManageKeys)?;
        Ok(self.index().api_keys().await?.into_iter().map(KeyInfo::from).collect())
    }

    /// Revoke a key; it stops working on its next request.
    pub async fn revoke_key(&self, by: Option<&Principal>, key_id: &str, client: &str) -> Result<(), Denied> {
        if let Some(p) = by {
            self.require(p, Action::ManageKeys)?;
        }
        if !self.index().revoke_api_key(key_id, now_ms()).await? {
            return Err(Denied::NotFound(format!("no live key {key_id}")));
        }
        let who = by.map_or("cli".to_string(), |p| p.id.clone());
        self.record(&who, "key-revoked", &[], "", client, "ok", &format!("key {key_id}")).await;
        Ok(())
    }
}
