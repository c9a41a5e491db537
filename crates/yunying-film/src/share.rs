//! Onward sharing: the patient, from their own film, gives a doctor a
//! derived link. The share is a film of its own (kind `share`) that lives
//! shorter than the patient's film and never past it, opens with a
//! six-digit access code the patient passes on separately, can be revoked
//! by the patient (and goes with the patient's film when that is revoked),
//! and is itself the consent record: who shared, to whom, which studies,
//! for what purpose, until when. The parent film's `shared` event repeats
//! the consent for the ledger.

use yunying_index::Film;

use crate::secrets::{answer_hash, new_code, new_film_id, new_token, token_hash};
use crate::{FilmError, Films, Result, event, now_ms};

/// A share just made: its link token and access code are shown to the
/// patient once and stored only as digests.
#[derive(Debug, Clone)]
pub struct Shared {
    pub film: Film,
    pub token: String,
    pub code: String,
}

/// Whether a film can still be opened (not withdrawn, not expired).
pub fn is_open(film: &Film, now: i64) -> bool {
    film.revoked_at_ms.is_none() && film.expires_at_ms > now
}

impl Films {
    /// The patient shares `parent` (their session's film) with `recipient`
    /// for `hours` (the policy's default when `None`).
    pub async fn share(&self, parent: &Film, recipient: &str, purpose: &str, hours: Option<u64>, client: &str) -> Result<Shared> {
        if parent.kind != "patient" {
            return Err(FilmError::Forbidden("only the patient's own film can be shared / 仅患者本人的胶片可以分享".into()));
        }
        let recipient = recipient.trim();
        if recipient.is_empty() || recipient.chars().count() > 128 || purpose.chars().count() > 256 {
            return Err(FilmError::Invalid("recipient (1 to 128 characters) is required; purpose is at most 256 characters".into()));
        }
        let hours = hours.unwrap_or(self.policy.share_hours);
        if hours == 0 || hours > self.policy.share_max_hours {
            return Err(FilmError::Invalid(format!("a share lives 1 to {} hours", self.policy.share_max_hours)));
        }
        let now = now_ms();
        let film_id = new_film_id();
        let code = new_code();
        let token = new_token();
        let film = Film {
            token_hash: token_hash(&token),
            parent_film_id: parent.film_id.clone(),
            kind: "share".into(),
            studies: parent.studies.clone(),
            issuer: parent.issuer.clone(),
            patient_id: parent.patient_id.clone(),
            created_by: "patient".into(),
            recipient: recipient.to_string(),
            purpose: purpose.trim().to_string(),
            created_at_ms: now,
            // Never past the patient's own film.
            expires_at_ms: (now + hours as i64 * 3_600_000).min(parent.expires_at_ms),
            revoked_at_ms: None,
            max_views: None,
            views: 0,
            download: parent.download,
            verify_method: "access_code".into(),
            verify_hash: answer_hash(&film_id, &code),
            verify_hint: String::new(),
            code_expires_ms: None,
            code_sent_ms: None,
            failed_attempts: 0,
            locked_at_ms: None,
            report: parent.report,
            report_key: String::new(),
            report_type: String::new(),
            film_id,
        };
        let consent = serde_json::json!({
            "share": film.film_id,
            "by": "patient",
            "to": film.recipient,
            "purpose": film.purpose,
            "studies": film.studies,
            "expires_at_ms": film.expires_at_ms,
        })
        .to_string();
        let created = event(&film, "patient", "created", client, "ok", consent.clone());
        self.index().create_film(&film, &created).await?;
        self.audit(&created, None).await;
        self.record(parent, "patient", "shared", client, "ok", consent).await?;
        Ok(Shared { film, token, code })
    }

    /// The shares made from `parent`, oldest first.
    pub async fn shares(&self, parent: &Film) -> Result<Vec<Film>> {
        Ok(self.index().films_shared_from(&parent.film_id).await?)
    }

    /// The patient withdraws a share of their film.
    pub async fn revoke_share(&self, parent: &Film, share_id: &str, client: &str) -> Result<()> {
        let share = self.film(share_id).await?;
        if share.parent_film_id != parent.film_id {
            return Err(FilmError::NotFound("no such share of this film".into()));
        }
        let e = event(&share, "patient", "revoked", client, "ok", "withdrawn by the patient");
        self.index().revoke_film(&share.film_id, now_ms(), &e).await?;
        self.audit(&e, None).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::film;

    #[test]
    fn a_share_is_open_until_withdrawn_or_expired() {
        let mut f = film("share");
        assert!(is_open(&f, 999) && !is_open(&f, 1000));
        f.revoked_at_ms = Some(1);
        assert!(!is_open(&f, 0));
    }
}
