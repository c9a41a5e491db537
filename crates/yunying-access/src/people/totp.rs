//! The second factor: TOTP (RFC 6238) as authenticator apps compute it:
//! HMAC-SHA-1, 6 digits, 30-second steps, one step of drift either way.
//!
//! Enrolment shows the secret once (an `otpauth://` URI for a QR code) and
//! stores it pending until a code from the app confirms it. Every accepted
//! code spends its time step in the index (`totp_last_step` only grows), so
//! a code overheard or replayed is refused even within its 30 seconds.

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha1::Sha1;

use super::sessions::{SessionInfo, SignedIn};
use crate::{Access, Denied, now_ms};

/// Seconds per step.
pub const STEP_SECS: i64 = 30;
/// Bytes of a new secret (160 bits, as RFC 4226 recommends).
const SECRET_BYTES: usize = 20;

/// The code of `secret` (raw bytes) at time step `step`.
pub fn code_at(secret: &[u8], step: i64) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let bin = u32::from_be_bytes([digest[offset] & 0x7f, digest[offset + 1], digest[offset + 2], digest[offset + 3]]);
    format!("{:06}", bin % 1_000_000)
}

/// The time step of `ms` since the epoch.
pub fn step_of(ms: i64) -> i64 {
    ms.div_euclid(1000 * STEP_SECS)
}

/// The step (now, one before or one after) whose code `code` is; `None`.
pub fn matching_step(secret_b32: &str, code: &str, now: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let secret = base32_decode(secret_b32)?;
    let now = step_of(now);
    let mut found = None;
    // Every candidate is computed and compared whole: timing says nothing
    // of which matched.
    for step in [now - 1, now, now + 1] {
        let c = code_at(&secret, step);
        if c.bytes().zip(code.bytes()).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0 {
            found = Some(step);
        }
    }
    found
}

const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding (what `otpauth://` URIs carry).
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut buffer, mut bits) = (0u32, 0);
    for c in text.bytes().filter(|&c| c != b'=' && c != b' ') {
        let v = ALPHABET.iter().position(|&a| a == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    Some(out)
}

/// Percent-encoding of everything but unreserved characters (RFC 3986).
pub(crate) fn percent(text: &str) -> String {
    text.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-._~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}

/// What enrolment shows, once.
#[derive(Debug, Clone, Serialize)]
pub struct Enrolment {
    /// Base32, for typing into an app.
    pub secret: String,
    /// `otpauth://totp/…`, for a QR code.
    pub uri: String,
}

impl Access {
    /// Start enrolling a second factor for the session's account: a new
    /// pending secret (replacing an unconfirmed one). An account with a
    /// confirmed factor must have it reset by an administrator first.
    pub async fn enrol_totp(&self, session: &SessionInfo, client: &str) -> Result<Enrolment, Denied> {
        let user = self.account(&session.user.user_id).await?;
        if user.totp_confirmed {
            return Err(Denied::Invalid("a second factor is set up already: an administrator resets it first / 已绑定动态口令".into()));
        }
        let secret = base32_encode(&rand::random::<[u8; SECRET_BYTES]>());
        if !self.index().set_pending_totp(&user.user_id, &secret).await? {
            return Err(Denied::Invalid("a second factor is set up already".into()));
        }
        let issuer = &self.config().accounts.totp_issuer;
        let uri = format!(
            "otpauth://totp/{}:{}?secret={secret}&issuer={}&algorithm=SHA1&digits=6&period={STEP_SECS}",
            percent(issuer),
            percent(&user.username),
            percent(issuer)
        );
        self.record(&session.principal.id, "totp-enrolment-started", &[], "", client, "ok", "").await;
        Ok(Enrolment { secret, uri })
    }

    /// Confirm the pending secret with a code from the app. Every session of
    /// the account ends (an enrolment-only one included: an administrator
    /// who had no second factor) and a full one begins, returned for the
    /// cookie: a session's powers never grow under the same token.
    pub async fn confirm_totp(&self, session: &SessionInfo, code: &str, client: &str, user_agent: &str) -> Result<SignedIn, Denied> {
        let user = self.account(&session.user.user_id).await?;
        let Some(secret) = user.totp_secret.clone().filter(|_| !user.totp_confirmed) else {
            return Err(Denied::Invalid("no second factor is waiting for confirmation: enrol first".into()));
        };
        let now = now_ms();
        let confirmed = match matching_step(&secret, code, now) {
            Some(step) => self.index().confirm_totp(&user.user_id, &secret, step).await?,
            None => false,
        };
        if !confirmed {
            self.record(&session.principal.id, "totp-enrolled", &[], "", client, "denied", "wrong code").await;
            return Err(Denied::Invalid("wrong code: check the app's clock and try the next code / 动态口令错误".into()));
        }
        self.index().revoke_user_sessions(&user.user_id, now).await?;
        self.record(&session.principal.id, "totp-enrolled", &[], "", client, "ok", "other sessions ended").await;
        let fresh = self.index().user(&user.user_id).await?.ok_or_else(|| Denied::NotFound("the account is gone".into()))?;
        self.start_session(&fresh, false, client, user_agent, "totp enrolled").await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_sha1_vectors() {
        // RFC 6238 appendix B (SHA-1 seed), last six of the eight digits.
        let seed = b"12345678901234567890";
        for (t, code) in [(59, "287082"), (1111111109, "081804"), (1111111111, "050471"), (1234567890, "005924"), (2000000000, "279037")] {
            assert_eq!(code_at(seed, t / 30), code, "T = {t}");
        }
    }

    #[test]
    fn base32_round_trips_and_matches_rfc4648() {
        assert_eq!(base32_encode(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("MZXW6YTBOI").unwrap(), b"foobar");
        let secret: [u8; 20] = rand::random();
        assert_eq!(base32_decode(&base32_encode(&secret)).unwrap(), secret);
        assert!(base32_decode("not base32!").is_none());
    }

    #[test]
    fn a_code_matches_its_step_and_its_neighbours_only() {
        let secret = base32_encode(b"12345678901234567890");
        let now = 1_111_111_111_000;
        let step = step_of(now);
        let raw = base32_decode(&secret).unwrap();
        assert_eq!(matching_step(&secret, &code_at(&raw, step), now), Some(step));
        assert_eq!(matching_step(&secret, &code_at(&raw, step - 1), now), Some(step - 1));
        assert_eq!(matching_step(&secret, &code_at(&raw, step + 1), now), Some(step + 1));
        assert_eq!(matching_step(&secret, &code_at(&raw, step - 2), now), None);
        assert_eq!(matching_step(&secret, "12345", now), None);
    }
}
