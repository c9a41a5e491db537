//! Staff's side: making a film of a study (its priors by exact identity),
//! and revoking, shortening, unlocking and reading the record of one.
//!
//! A film is its institution's: staff see and change only films of the
//! patients their institution issued the IDs of (a platform credential,
//! every film), and put into a film only studies they reach themselves.

use yunying_access::{Action, Principal, Reach};
use yunying_archive::is_valid_uid;
use yunying_index::{Film, FilmEvent};

use crate::secrets::{answer_hash, digits_suffix, new_film_id, new_token, normalise_date, token_hash};
use crate::{FilmConfig, FilmError, Films, Result, event, now_ms, sealed};

const HOUR_MS: i64 = 3_600_000;

/// A film staff ask for.
#[derive(Debug, Clone, Default)]
pub struct NewFilm {
    pub study: String,
    pub include_priors: bool,
    /// `patient` (default) or `share`.
    pub kind: Option<String>,
    pub expires_hours: Option<u64>,
    /// `birth_date` (default), `phone_suffix`, `id_suffix` or `sms`.
    pub verify: Option<String>,
    /// The phone or ID number for the suffix methods (only its last four
    /// characters are kept, as a digest), the phone number for `sms`.
    pub verify_value: Option<String>,
    pub max_views: Option<i64>,
    pub download: Option<bool>,
    pub created_by: String,
    pub recipient: String,
    pub purpose: String,
    /// Show the study's reports. Default true.
    pub report: Option<bool>,
}

/// A film just made, with the link token: shown once, never stored.
#[derive(Debug, Clone)]
pub struct Made {
    /// As staff see it (the hint masked).
    pub film: Film,
    pub token: String,
}

/// How long a film of `kind` lives, in hours: a patient's own film up to
/// the retention period (and that by default), a share the policy's
/// default and at most its maximum; never zero.
pub fn lifetime_hours(policy: &FilmConfig, kind: &str, requested: Option<u64>) -> Result<u64> {
    let hours = match kind {
        "patient" => {
            let max = policy.patient_days * 24;
            let h = requested.unwrap_or(max);
            if h > max {
                return Err(FilmError::Invalid(format!("a patient's film lives at most {} days", policy.patient_days)));
            }
            h
        }
        "share" => {
            let h = requested.unwrap_or(policy.share_hours);
            if h > policy.share_max_hours {
                return Err(FilmError::Invalid(format!("a share lives at most {} hours", policy.share_max_hours)));
            }
            h
        }
        other => return Err(FilmError::Invalid(format!("kind must be patient or share, not {other:?}"))),
    };
    if hours == 0 {
        return Err(FilmError::Invalid("expires_hours must be at least 1".into()));
    }
    Ok(hours)
}

/// What a film of `film_id` keeps to check its second factor: the answer's
/// digest and the hint (for SMS, the phone number sealed with `data_key`;
/// nothing to compare until a code is sent). `birth_date` is the patient's
/// on record.
pub(crate) fn verification(
    method: &str,
    film_id: &str,
    value: Option<&str>,
    birth_date: &str,
    data_key: Option<&str>,
) -> Result<(String, String)> {
    match method {
        "birth_date" => {
            let birth = normalise_date(birth_date);
            if birth.len() != 8 {
                return Err(FilmError::Unprocessable("the patient has no birth date on record: choose another verification method".into()));
            }
            Ok((answer_hash(film_id, &birth), String::new()))
        }
        "phone_suffix" | "id_suffix" => {
            let suffix = value
                .and_then(digits_suffix)
                .ok_or_else(|| FilmError::Invalid(format!("{method} needs verify_value (the phone or ID number)")))?;
            Ok((answer_hash(film_id, &suffix), String::new()))
        }
        "sms" => {
            let phone: String = value.unwrap_or("").chars().filter(|c| c.is_ascii_digit() || *c == '+').collect();
            if phone.len() < 7 {
                return Err(FilmError::Invalid("sms needs verify_value (the phone number codes go to)".into()));
            }
            let key =
                data_key.ok_or_else(|| FilmError::Unprocessable("SMS verification needs http.film.data_key (YUNYING_FILM_KEY)".into()))?;
            Ok((String::new(), sealed::seal(key, film_id, &phone).map_err(FilmError::Internal)?))
        }
        other => Err(FilmError::Invalid(format!("unknown verification method {other:?}"))),
    }
}

impl Films {
    /// Refuse principals that may not make films.
    pub fn require_films(&self, who: &Principal) -> Result<()> {
        Ok(self.access.require(who, Action::Films)?)
    }

    /// Make a film of `req.study`. Its priors are the studies of the same
    /// person when the EMPI links the patient's identity (every
    /// institution's), else of the same issuer and Patient ID compared
    /// exactly (a study without a Patient ID has none); only priors the
    /// maker reaches go into the film.
    pub async fn create(&self, who: &Principal, req: NewFilm, client: &str) -> Result<Made> {
        self.require_films(who)?;
        if !is_valid_uid(&req.study) {
            return Err(FilmError::Invalid("study must be a Study Instance UID".into()));
        }
        self.access.check_study(who, Action::Films, &req.study).await?;
        let found = self.studies_matching(vec![(0x0020_000D, req.study.clone())]).await?;
        let Some(study) = found.first() else {
            return Err(FilmError::NotFound(format!("no study {}", req.study)));
        };
        let issuer = study.text(0x0010_0021).to_string();
        let patient_id = study.text(0x0010_0020).to_string();
        let mut studies = vec![req.study.clone()];
        if req.include_priors {
            let (_, priors) = self.index().person_studies_of_identity(&issuer, &patient_id).await?;
            for uid in priors.into_iter().map(|s| s.study_instance_uid) {
                if !studies.contains(&uid) && self.access.check_study(who, Action::Films, &uid).await.is_ok() {
                    studies.push(uid);
                }
            }
        }
        let kind = req.kind.as_deref().unwrap_or("patient");
        let hours = lifetime_hours(&self.policy, kind, req.expires_hours)?;
        if req.max_views.is_some_and(|v| v < 1) {
            return Err(FilmError::Invalid("max_views must be at least 1".into()));
        }
        let film_id = new_film_id();
        let method = req.verify.as_deref().unwrap_or("birth_date").to_string();
        let (verify_hash, verify_hint) =
            verification(&method, &film_id, req.verify_value.as_deref(), study.text(0x0010_0030), self.policy.data_key.as_deref())?;
        let token = new_token();
        let now = now_ms();
        let film = Film {
            film_id,
            token_hash: token_hash(&token),
            parent_film_id: String::new(),
            kind: kind.into(),
            studies,
            issuer,
            patient_id,
            created_by: req.created_by,
            recipient: req.recipient,
            purpose: req.purpose,
            created_at_ms: now,
            expires_at_ms: now + hours as i64 * HOUR_MS,
            revoked_at_ms: None,
            max_views: req.max_views,
            views: 0,
            download: req.download.unwrap_or(true),
            verify_method: method,
            verify_hash,
            verify_hint,
            code_expires_ms: None,
            code_sent_ms: None,
            failed_attempts: 0,
            locked_at_ms: None,
            report: req.report.unwrap_or(true),
            report_key: String::new(),
            report_type: String::new(),
        };
        let actor = if film.created_by.is_empty() { "api".to_string() } else { format!("staff:{}", film.created_by) };
        let created = event(&film, &actor, "created", client, "ok", format!("{} film, {} studies", film.kind, film.studies.len()));
        self.index().create_film(&film, &created).await?;
        self.audit(&created, Some(who)).await;
        Ok(Made { film: self.shown(film), token })
    }

    /// A film for staff: they may make films, and the film is of their
    /// institution's patients (or they speak for the platform). Another
    /// institution's film is not found, not forbidden: its id says nothing.
    pub async fn staff_film(&self, who: &Principal, film_id: &str) -> Result<Film> {
        self.require_films(who)?;
        let film = self.film(film_id).await?;
        if who.reach != Reach::All && who.institution.as_deref() != Some(film.issuer.as_str()) {
            return Err(FilmError::NotFound(format!("no film {film_id}")));
        }
        Ok(film)
    }

    /// A film as staff see it.
    pub async fn show(&self, who: &Principal, film_id: &str) -> Result<Film> {
        Ok(self.shown(self.staff_film(who, film_id).await?))
    }

    /// Revoke a film and every film shared from it; the films revoked now.
    pub async fn revoke(&self, who: &Principal, film_id: &str, client: &str) -> Result<Vec<String>> {
        let film = self.staff_film(who, film_id).await?;
        let e = event(&film, "api", "revoked", client, "ok", "");
        let revoked = self.index().revoke_film(film_id, now_ms(), &e).await?;
        self.audit(&e, Some(who)).await;
        Ok(revoked)
    }

    /// End a film (and its shares) at `at_ms`, or now if that has passed.
    /// A film's life is never lengthened: that is a new film.
    pub async fn shorten(&self, who: &Principal, film_id: &str, at_ms: i64, client: &str) -> Result<Film> {
        let film = self.staff_film(who, film_id).await?;
        let at = at_ms.max(0);
        if at > film.expires_at_ms {
            return Err(FilmError::Invalid("a film's life can be shortened, not lengthened: make a new film".into()));
        }
        let e = event(&film, "api", "expiry-shortened", client, "ok", format!("expires at {at}"));
        self.index().shorten_film(&film.film_id, at, &e).await?;
        self.audit(&e, Some(who)).await;
        Ok(self.shown(self.film(film_id).await?))
    }

    /// Unlock a film locked by wrong answers.
    pub async fn unlock(&self, who: &Principal, film_id: &str, client: &str) -> Result<()> {
        let film = self.staff_film(who, film_id).await?;
        let e = event(&film, "api", "unlocked", client, "ok", "");
        self.index().unlock_film(film_id, &e).await?;
        self.audit(&e, Some(who)).await;
        Ok(())
    }

    /// A film's record, oldest first.
    pub async fn events(&self, who: &Principal, film_id: &str) -> Result<Vec<FilmEvent>> {
        self.staff_film(who, film_id).await?;
        Ok(self.index().film_events(film_id).await?)
    }

    /// The record of every film that shows `study`.
    pub async fn study_events(&self, who: &Principal, study: &str) -> Result<Vec<FilmEvent>> {
        self.require_films(who)?;
        if !is_valid_uid(study) {
            return Err(FilmError::Invalid("not a Study Instance UID".into()));
        }
        Ok(self.index().film_events_of_study(study).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_by_kind() {
        let policy = FilmConfig::default();
        assert_eq!(lifetime_hours(&policy, "patient", None).unwrap(), 15 * 365 * 24, "a patient's film: the retention period");
        assert_eq!(lifetime_hours(&policy, "patient", Some(48)).unwrap(), 48);
        assert!(matches!(lifetime_hours(&policy, "patient", Some(15 * 365 * 24 + 1)), Err(FilmError::Invalid(_))));
        assert_eq!(lifetime_hours(&policy, "share", None).unwrap(), 72, "a share: 72 hours by default");
        assert_eq!(lifetime_hours(&policy, "share", Some(30 * 24)).unwrap(), 30 * 24);
        assert!(matches!(lifetime_hours(&policy, "share", Some(31 * 24)), Err(FilmError::Invalid(_))), "never past 30 days");
        assert!(matches!(lifetime_hours(&policy, "share", Some(0)), Err(FilmError::Invalid(_))));
        assert!(matches!(lifetime_hours(&policy, "forever", None), Err(FilmError::Invalid(_))));
    }

    const KEY: &str = "0123456789abcdeffedcba9876543210";

    #[test]
    fn verification_methods_keep_digests_and_a_sealed_phone() {
        let (hash, hint) = verification("birth_date", "F1", None, "19610115", None).unwrap();
        assert_eq!((hash.as_str(), hint.as_str()), (answer_hash("F1", "19610115").as_str(), ""));
        assert!(matches!(verification("birth_date", "F1", None, "", None), Err(FilmError::Unprocessable(_))), "no birth date on record");
        let (hash, hint) = verification("id_suffix", "F1", Some("11010519491231002x"), "", None).unwrap();
        assert_eq!(hash, answer_hash("F1", "002X"));
        assert!(hint.is_empty(), "an ID number leaves nothing but the digest of its suffix");
        assert!(matches!(verification("phone_suffix", "F1", Some("12"), "", None), Err(FilmError::Invalid(_))));
        // SMS: nothing to compare until a code is sent; the phone sealed.
        let (hash, hint) = verification("sms", "F1", Some("138 1234 5678"), "", Some(KEY)).unwrap();
        assert!(hash.is_empty());
        assert!(hint.starts_with("sm4gcm:") && !hint.contains("5678"), "{hint}");
        assert_eq!(sealed::open(KEY, "F1", &hint).unwrap(), "13812345678");
        assert!(matches!(verification("sms", "F1", Some("13812345678"), "", None), Err(FilmError::Unprocessable(_))), "no key");
        assert!(matches!(verification("sms", "F1", Some("123"), "", Some(KEY)), Err(FilmError::Invalid(_))));
        assert!(matches!(verification("telepathy", "F1", None, "", None), Err(FilmError::Invalid(_))));
    }

    #[test]
    fn hints_show_a_masked_phone_and_nothing_else() {
        use crate::mask::mask_phone;
        let (_, hint) = verification("sms", "F1", Some("+86 138 1234 5678"), "", Some(KEY)).unwrap();
        assert_eq!(mask_phone(&sealed::open(KEY, "F1", &hint).unwrap()), "+86*******5678");
        assert_eq!(mask_phone("13812345678"), "138****5678");
    }
}
