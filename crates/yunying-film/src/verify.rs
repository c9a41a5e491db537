//! The link holder's side before the images: opening a link, sending an
//! SMS code, checking the second factor under both lockouts, and the
//! session a pass starts (kept as its digest; the face carries the token).
//!
//! Both limits (wrong answers per film, failures per client address over
//! all films) count an attempt before its answer is compared, in the index
//! (`attempts.rs` there), so answers sent at once to one node or several
//! are never compared more often than the limits allow, and a right answer
//! opens a session only if the film is still unlocked once they are counted.

use yunying_index::{Film, Verified};

use crate::mask::mask_phone;
use crate::secrets::{answer_hash, new_code, new_token, normalise_answer, token_hash};
use crate::{FilmError, Films, Result, event, now_ms};

/// Longest token looked up (anything longer was never made by us).
const MAX_TOKEN: usize = 64;

/// What the page needs to ask for the second factor.
#[derive(Debug, Clone)]
pub struct Opened {
    pub film: Film,
    /// The verification hint as shown (a masked phone number, or '').
    pub hint: String,
    /// The institution of the film's first study.
    pub institution: String,
}

/// An SMS code on its way.
#[derive(Debug, Clone)]
pub struct CodeSent {
    pub sent_to: String,
    pub expires_at_ms: i64,
}

/// A verified session: the token goes to the client once, its digest
/// stays in the index.
#[derive(Debug, Clone)]
pub struct Session {
    pub film: Film,
    pub token: String,
    pub expires_at_ms: i64,
    /// Its lifetime, for the cookie.
    pub max_age_secs: u64,
}

/// Why a film cannot be opened now: withdrawn or expired.
pub fn closed(film: &Film, now: i64) -> Option<FilmError> {
    if film.revoked_at_ms.is_some() {
        return Some(FilmError::Gone("this link has been withdrawn / 此链接已被撤销".into()));
    }
    if film.expires_at_ms <= now {
        return Some(FilmError::Gone("this link has expired / 此链接已过期".into()));
    }
    None
}

/// Why a film cannot be opened or verified now: closed, or locked.
pub fn refusal(film: &Film, now: i64) -> Option<FilmError> {
    closed(film, now).or_else(|| film.locked_at_ms.map(|_| FilmError::Locked))
}

/// Wrong answers left before a film with `failed` failures locks.
pub fn attempts_left(max_failures: i64, failed: i64) -> i64 {
    (max_failures - failed).max(0)
}

/// Whether `answer` (as typed) is the film's: a live code for SMS films,
/// a digest to compare with, and an answer at all.
pub(crate) fn is_right(film: &Film, answer: &str, now: i64) -> bool {
    let answer = normalise_answer(&film.verify_method, answer);
    let code_live = film.verify_method != "sms" || film.code_expires_ms.is_some_and(|t| t > now);
    code_live && !film.verify_hash.is_empty() && !answer.is_empty() && answer_hash(&film.film_id, &answer) == film.verify_hash
}

impl Films {
    /// The film a link token opens. Malformed tokens never reach the index
    /// (and are never echoed); unknown ones are a plain `NotFound`.
    pub async fn film_of_token(&self, token: &str, client: &str) -> Result<Film> {
        let not_found = || FilmError::NotFound("no such film / 胶片不存在".into());
        if token.len() > MAX_TOKEN || token.is_empty() {
            return Err(not_found());
        }
        match self.index().film_by_token(&token_hash(token)).await? {
            Some(film) => Ok(film),
            None => {
                tracing::info!(client, "film link with an unknown token");
                Err(not_found())
            }
        }
    }

    /// A link is opened: recorded, refused when the film is closed or locked.
    pub async fn open(&self, token: &str, client: &str) -> Result<Opened> {
        let film = self.film_of_token(token, client).await?;
        let refused = refusal(&film, now_ms());
        let result = if refused.is_some() { "refused" } else { "ok" };
        self.record(&film, "client", "opened", client, result, "").await?;
        if let Some(e) = refused {
            return Err(e);
        }
        let institution = self
            .studies_matching(vec![(0x0020_000D, film.studies[0].clone())])
            .await?
            .first()
            .map(|m| m.text(0x0008_0080).to_string())
            .unwrap_or_default();
        Ok(Opened { hint: self.shown_hint(&film), film, institution })
    }

    /// Send an SMS code (films verified by SMS), at most one per
    /// `code_interval_seconds`.
    pub async fn send_code(&self, token: &str, client: &str) -> Result<CodeSent> {
        let film = self.film_of_token(token, client).await?;
        let now = now_ms();
        if let Some(e) = refusal(&film, now) {
            return Err(e);
        }
        if film.verify_method != "sms" {
            return Err(FilmError::Invalid("this film is not verified by SMS".into()));
        }
        let interval = self.policy.code_interval_seconds as i64 * 1000;
        if film.code_sent_ms.is_some_and(|t| now - t < interval) {
            return Err(FilmError::TooMany("a code was sent a moment ago: wait before asking again / 验证码已发送，请稍后再试".into()));
        }
        let code = new_code();
        let expires = now + self.policy.code_minutes as i64 * 60_000;
        let phone = self.phone_of(&film)?;
        let e = event(&film, "client", "code-sent", client, "ok", mask_phone(&phone));
        self.index().set_film_code(&film.film_id, &answer_hash(&film.film_id, &code), now, expires, &e).await?;
        self.audit(&e, None).await;
        self.sms.send(&film.film_id, &phone, &code).map_err(|e| FilmError::Upstream(format!("the SMS could not be sent: {e}")))?;
        Ok(CodeSent { sent_to: mask_phone(&phone), expires_at_ms: expires })
    }

    /// Check the second factor; a pass starts a session for this film only.
    pub async fn verify(&self, token: &str, answer: &str, client: &str) -> Result<Session> {
        let policy = &self.policy;
        let now = now_ms();
        let index = self.index();
        let film = self.film_of_token(token, client).await?;
        if let Some(e) = refusal(&film, now) {
            let why = if closed(&film, now).is_some() { "closed" } else { "locked" };
            self.record(&film, "client", "verify", client, "refused", why).await?;
            return Err(e);
        }
        let since = now - policy.client_window_minutes as i64 * 60_000;
        let Some(held) = index.reserve_slot(&format!("verify:{client}"), since, now, policy.client_max_failures).await? else {
            self.record(&film, "client", "verify", client, "refused", "client address blocked").await?;
            return Err(FilmError::TooMany(format!(
                "too many failed verifications from this address: try again in {} minutes / 验证失败次数过多，请稍后再试",
                policy.client_window_minutes
            )));
        };
        if !index.reserve_film_attempt(&film.film_id, policy.max_failures).await? {
            index.release_slot(held).await?;
            self.record(&film, "client", "verify", client, "refused", "locked").await?;
            return Err(FilmError::Locked);
        }
        if !is_right(&film, answer, now) {
            // The address's place stays taken: it was a failure.
            let e = event(&film, "client", "verify", client, "failed", "");
            let attempts = index.film_verification_failed(&film.film_id, policy.max_failures, now, &e).await?;
            self.audit(&e, None).await;
            if attempts.locked {
                return Err(FilmError::Locked);
            }
            return Err(FilmError::WrongAnswer { attempts_left: attempts_left(policy.max_failures, attempts.failed) });
        }
        index.release_slot(held).await?;
        let token = new_token();
        let expires = now + policy.session_minutes as i64 * 60_000;
        let e = event(&film, "client", "verify", client, "ok", "");
        match index.film_verified(&film.film_id, &token_hash(&token), now, expires, &e).await? {
            Verified::Session => self.audit(&e, None).await,
            Verified::Locked => {
                self.record(&film, "client", "verify", client, "refused", "locked").await?;
                return Err(FilmError::Locked);
            }
            Verified::ViewsUsedUp => {
                self.record(&film, "client", "verify", client, "refused", "views used up").await?;
                return Err(FilmError::Gone("this link has been opened as often as allowed / 此链接的查看次数已用完".into()));
            }
        }
        Ok(Session { film, token, expires_at_ms: expires, max_age_secs: policy.session_minutes * 60 })
    }

    /// The film `film_id`, if one of `tokens` (the client's session
    /// cookies) is a live session of it and the film is still open.
    pub async fn session_film(&self, tokens: &[&str], film_id: &str) -> Result<Film> {
        let now = now_ms();
        let mut found = false;
        for token in tokens {
            if token.len() <= MAX_TOKEN && self.index().film_of_session(&token_hash(token), now).await?.is_some_and(|id| id == film_id) {
                found = true;
            }
        }
        if !found {
            return Err(FilmError::Unauthenticated("verify first: no session for this film / 请先完成验证".into()));
        }
        let film = self.film(film_id).await?;
        if let Some(e) = closed(&film, now) {
            return Err(e);
        }
        Ok(film)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::film;

    #[test]
    fn closed_locked_and_open_films() {
        let mut f = film("patient");
        assert!(refusal(&f, 999).is_none());
        assert!(matches!(refusal(&f, 1000), Some(FilmError::Gone(m)) if m.contains("expired")), "expiry is exclusive");
        f.locked_at_ms = Some(5);
        assert_eq!(refusal(&f, 10), Some(FilmError::Locked));
        assert!(closed(&f, 10).is_none(), "a locked film is not closed: its sessions go on");
        f.revoked_at_ms = Some(7);
        assert!(matches!(refusal(&f, 10), Some(FilmError::Gone(m)) if m.contains("withdrawn")), "withdrawn wins over locked");
    }

    #[test]
    fn lockout_arithmetic() {
        assert_eq!(attempts_left(5, 1), 4);
        assert_eq!(attempts_left(5, 5), 0);
        assert_eq!(attempts_left(5, 9), 0, "held reservations may push the count past the limit");
    }

    #[test]
    fn answers_are_right_only_against_a_digest_and_a_live_code() {
        let mut f = film("patient");
        f.verify_hash = answer_hash("F1", "19610115");
        assert!(is_right(&f, "1961-01-15", 0));
        assert!(!is_right(&f, "1961-01-16", 0));
        assert!(!is_right(&f, "", 0));
        f.verify_hash = String::new();
        assert!(!is_right(&f, "", 0), "no digest: nothing is right, the empty answer included");
        f.verify_method = "sms".into();
        f.verify_hash = answer_hash("F1", "123456");
        assert!(!is_right(&f, "123456", 0), "no code sent");
        f.code_expires_ms = Some(100);
        assert!(is_right(&f, "123456", 99));
        assert!(!is_right(&f, "123456", 100), "the code expired");
    }
}
