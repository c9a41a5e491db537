//! Passwords: the rules a new one must meet, Argon2id hashing (OWASP's
//! parameters: 19 MiB, 2 passes, 1 lane) on a blocking thread, and
//! generated passwords for new accounts.
//!
//! Hashing costs ~20-50 ms of a core by design; it runs on tokio's blocking
//! pool so it never stalls the request loop. A sign-in to an account that
//! does not exist still verifies against a dummy hash, so timing does not
//! tell which usernames exist.

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};

use crate::Denied;

/// Longest password accepted (bytes): hashing is bounded work.
pub const MAX_PASSWORD_BYTES: usize = 256;

/// What a new password must be (`[access.accounts.password]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordRules {
    /// Fewest characters.
    pub min_length: usize,
    /// Fewest classes of characters among lower case, upper case, digits
    /// and others (0 to 4).
    pub min_classes: usize,
}

impl Default for PasswordRules {
    fn default() -> Self {
        PasswordRules { min_length: 12, min_classes: 3 }
    }
}

impl PasswordRules {
    /// Why `password` cannot be `username`'s new password.
    pub fn check(&self, username: &str, password: &str) -> Result<(), Denied> {
        let n = password.chars().count();
        if n < self.min_length {
            return Err(Denied::Invalid(format!(
                "a password has at least {} characters / 密码至少 {} 位",
                self.min_length, self.min_length
            )));
        }
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(Denied::Invalid(format!("a password has at most {MAX_PASSWORD_BYTES} bytes")));
        }
        let classes = [
            password.chars().any(|c| c.is_lowercase()),
            password.chars().any(|c| c.is_uppercase()),
            password.chars().any(|c| c.is_ascii_digit()),
            password.chars().any(|c| !c.is_alphanumeric()),
        ]
        .into_iter()
        .filter(|&b| b)
        .count();
        if classes < self.min_classes {
            return Err(Denied::Invalid(format!(
                "a password mixes at least {} of: lower case, upper case, digits, other characters / 密码需包含至少 {} 类字符",
                self.min_classes, self.min_classes
            )));
        }
        let (p, u) = (password.to_lowercase(), username.to_lowercase());
        if !u.is_empty() && (p == u || (u.chars().count() >= 4 && p.contains(&u))) {
            return Err(Denied::Invalid("a password may not contain the username / 密码不能包含用户名".into()));
        }
        Ok(())
    }
}

fn argon2() -> Argon2<'static> {
    // OWASP Password Storage Cheat Sheet: m = 19 MiB, t = 2, p = 1.
    Argon2::new(Algorithm::Argon2id, Version::V0x13, Params::new(19 * 1024, 2, 1, None).expect("valid Argon2 parameters"))
}

/// A hash to verify against when there is no account, so that a missing
/// account costs the same time as a wrong password.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| hash_now("no account has this password").expect("dummy hash"));

fn hash_now(password: &str) -> Result<String, Denied> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| Denied::Unavailable(format!("salt: {e}")))?;
    Ok(argon2().hash_password(password.as_bytes(), &salt).map_err(|e| Denied::Unavailable(format!("hashing: {e}")))?.to_string())
}

/// The Argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) of a password.
pub async fn hash(password: &str) -> Result<String, Denied> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || hash_now(&password)).await.map_err(|e| Denied::Unavailable(format!("hashing: {e}")))?
}

/// Whether `password` matches `stored` (a PHC string); `None` verifies
/// against a dummy hash and answers false, taking the same time.
pub async fn verify(password: &str, stored: Option<&str>) -> bool {
    let password = password.to_string();
    let stored = stored.map(str::to_string);
    tokio::task::spawn_blocking(move || {
        let real = stored.is_some();
        let text = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let Ok(parsed) = PasswordHash::new(&text) else { return false };
        // Parameters come from the stored hash: older hashes keep verifying
        // if the defaults are raised later.
        argon2().verify_password(password.as_bytes(), &parsed).is_ok() && real
    })
    .await
    .unwrap_or(false)
}

/// A new random password that meets the default rules: 20 characters from
/// an alphabet without look-alikes, with every class present.
pub fn generate() -> String {
    const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
    const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
    const DIGIT: &[u8] = b"23456789";
    const OTHER: &[u8] = b"-_.!+=";
    let all: Vec<u8> = [LOWER, UPPER, DIGIT, OTHER].concat();
    loop {
        let p: String = (0..20).map(|_| all[rand::random_range(0..all.len())] as char).collect();
        let has = |set: &[u8]| p.bytes().any(|b| set.contains(&b));
        if has(LOWER) && has(UPPER) && has(DIGIT) && has(OTHER) {
            return p;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        let r = PasswordRules::default();
        assert!(r.check("wang", "Short1!").is_err());
        assert!(r.check("wang", "alllowercaseletters").is_err(), "one class");
        assert!(r.check("wang", "Lower and UPPER words").is_ok(), "three classes: lower, upper, space");
        assert!(r.check("wangwei", "Wangwei-2024!x").is_err(), "contains the username");
        assert!(r.check("wangwei", "Wangwei").is_err());
        assert!(r.check("x", &"Aa1!".repeat(100)).is_err(), "too long");
        for _ in 0..20 {
            assert!(r.check("admin", &generate()).is_ok());
        }
    }

    #[tokio::test]
    async fn argon2id_hashes_verify() {
        let h = hash("Correct horse 9").await.unwrap();
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(verify("Correct horse 9", Some(&h)).await);
        assert!(!verify("correct horse 9", Some(&h)).await);
        assert!(!verify("Correct horse 9", None).await);
        assert_ne!(hash("Correct horse 9").await.unwrap(), h, "salted");
    }
}
