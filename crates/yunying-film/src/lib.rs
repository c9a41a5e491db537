//! Cloud films (云胶片): share links to a patient's studies, as a domain
//! with no HTTP in it.
//!
//! Staff or the hospital information system make a film of a study (and
//! the same patient's priors); its link carries a token whose digest is the
//! film's key. Whoever holds the link answers a second factor (birth date,
//! the last digits of a phone or ID number, an SMS code, or a share's
//! access code) under two lockouts, and a right answer starts a session
//! for that film only. The patient may share the film onward (a child film
//! that is the consent record), a doctor may import it into their own
//! archive, and every step is a film event in the index.
//!
//! [`Films`] is the service the faces call: it holds the archive (index
//! and store), the access layer (who may make films, and which studies they
//! reach) and the policy. Its answers are plain data and a [`FilmError`];
//! the HTTP face turns those into routes, JSON, cookies and status codes
//! in one place.
//!
//! Architecture invariant: no HTTP here (no axum, hyper or status codes);
//! secrets are kept as digests only, and the one reversible value, the
//! phone number SMS codes go to, only sealed ([`sealed`]).

mod config;
mod contents;
mod download;
mod import;
mod make;
pub mod mask;
mod report;
pub mod sealed;
pub mod secrets;
mod share;
mod verify;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use yunying_access::{Access, Denied, Principal};
use yunying_archive::{Archive, Index, RetrieveError};
use yunying_index::{Film, FilmEvent};

pub use config::{FilmConfig, LogSender, SmsSender, StowDestination};
pub use contents::{FilmContents, FilmReport, Patient, SeriesContents, StudyContents, is_report_class};
pub use download::DownloadPlan;
pub use import::{Destination, Imports, Job, Started, Target};
pub use make::{Made, NewFilm, lifetime_hours};
pub use report::{ENCAPSULATED_PDF, MAX_UPLOAD, sr_text};
pub use share::{Shared, is_open};
pub use verify::{CodeSent, Opened, Session, attempts_left, closed, refusal};

/// Why a film request is refused. The HTTP face maps each to one status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilmError {
    /// No such film, share, report or destination (or one the asker may
    /// not know of).
    #[error("{0}")]
    NotFound(String),
    /// The film is withdrawn, has expired or has been opened as often as
    /// it allows: gone for good.
    #[error("{0}")]
    Gone(String),
    /// Too many wrong answers: staff must unlock it.
    #[error("too many wrong answers: this film is locked; ask the hospital to unlock it / 验证失败次数过多，胶片已锁定，请联系医院解锁")]
    Locked,
    /// A wrong answer, counted; this many are left before the film locks.
    #[error("wrong answer: {attempts_left} attempts left / 验证失败，还可尝试 {attempts_left} 次")]
    WrongAnswer { attempts_left: i64 },
    /// No credentials that prove anything: no session, or a denied key.
    #[error("{0}")]
    Unauthenticated(String),
    /// Known, but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// A request that cannot be right.
    #[error("{0}")]
    Invalid(String),
    /// Right in form, but not for this film or patient (no birth date on
    /// record, no key to seal a phone number with).
    #[error("{0}")]
    Unprocessable(String),
    /// A report that is neither PDF nor text.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// A rate limit: the client address, an SMS code, imports per film.
    #[error("{0}")]
    TooMany(String),
    /// The SMS gateway failed.
    #[error("{0}")]
    Upstream(String),
    /// The index or the object store could not answer.
    #[error("{0}")]
    Unavailable(String),
    /// A fault of ours (a key that does not open a stored value).
    #[error("{0}")]
    Internal(String),
}

impl From<yunying_index::IndexError> for FilmError {
    fn from(e: yunying_index::IndexError) -> Self {
        if e.is_invalid_text() {
            return FilmError::Invalid(yunying_index::INVALID_TEXT.into());
        }
        FilmError::Unavailable(format!("index unavailable: {e}"))
    }
}

impl From<Denied> for FilmError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::Unauthenticated(m) => FilmError::Unauthenticated(m),
            Denied::Forbidden(m) => FilmError::Forbidden(m),
            Denied::NotFound(m) => FilmError::NotFound(m),
            Denied::Invalid(m) => FilmError::Invalid(m),
            Denied::Unavailable(m) => FilmError::Unavailable(m),
        }
    }
}

impl From<RetrieveError> for FilmError {
    fn from(e: RetrieveError) -> Self {
        match &e {
            RetrieveError::NoSuchFrame { .. } | RetrieveError::NoPixelData | RetrieveError::NoSuchBulkData(_) => {
                FilmError::NotFound(e.to_string())
            }
            RetrieveError::Transcode(_) | RetrieveError::Corrupt(_) => FilmError::Unprocessable(e.to_string()),
            RetrieveError::Store(_) => FilmError::Internal(e.to_string()),
        }
    }
}

pub type Result<T, E = FilmError> = std::result::Result<T, E>;

/// The film service: what the faces call.
#[derive(Clone)]
pub struct Films {
    archive: Archive,
    access: Access,
    policy: Arc<FilmConfig>,
    sms: Arc<dyn SmsSender>,
    imports: Imports,
}

impl Films {
    pub fn new(archive: Archive, access: Access, policy: FilmConfig, sms: Arc<dyn SmsSender>) -> Films {
        Films { archive, access, policy: Arc::new(policy), sms, imports: Imports::default() }
    }

    pub fn policy(&self) -> &FilmConfig {
        &self.policy
    }

    pub fn archive(&self) -> &Archive {
        &self.archive
    }

    fn index(&self) -> &Index {
        self.archive.index()
    }

    /// Import jobs of this node (the page polls the node it started on).
    pub fn imports(&self) -> &Imports {
        &self.imports
    }

    /// A film by its id, or `NotFound`.
    pub async fn film(&self, film_id: &str) -> Result<Film> {
        self.index().film(film_id).await?.ok_or_else(|| FilmError::NotFound(format!("no film {film_id}")))
    }

    /// Record an event on a film's record (and on the audit record).
    pub async fn record(&self, film: &Film, actor: &str, what: &str, client: &str, result: &str, detail: impl Into<String>) -> Result<()> {
        let e = event(film, actor, what, client, result, detail);
        self.index().record_film_event(&e).await?;
        self.audit(&e, None).await;
        Ok(())
    }

    /// Put a film event on the audit record too, as `film-<event>`: the
    /// principal is the staff member or system that acted (`who`), else
    /// the film itself (its link or session: the patient, a recipient);
    /// via the film; the film's studies. The film's own record is
    /// unchanged. A failure is logged by the recorder.
    pub(crate) async fn audit(&self, e: &FilmEvent, who: Option<&Principal>) {
        let film = format!("film:{}", e.film_id);
        let (principal, institution) = match who {
            Some(p) => (p.id.clone(), p.institution.clone()),
            None => (film.clone(), None),
        };
        // The masked phone number of an SMS code is the patient's: not on
        // the audit record.
        let detail = if e.event == "code-sent" { "" } else { e.detail.as_str() };
        let event = yunying_audit::Event::new(&format!("film-{}", e.event), &principal, &e.result)
            .institution(institution.as_deref())
            .via(&film)
            .client(&e.client)
            .studies(&e.studies)
            .detail(detail)
            .fact("actor", e.actor.as_str());
        let _ = self.access.audit().record(event).await;
    }

    /// Its viewer looked at part of a film (`film page`, `report`).
    pub async fn viewed(&self, film: &Film, client: &str, what: &str) -> Result<()> {
        self.record(film, viewer_actor(film), "viewed", client, "ok", what).await
    }

    /// The principal a film session acts as inside the film's DICOMweb
    /// reads: the film's studies, and originals only when it allows download.
    pub fn principal(film: &Film) -> Principal {
        Principal::film(&film.film_id, film.studies.clone(), film.download)
    }

    /// May a film session read `study` (`None`: a search, scoped to the
    /// film's studies by the principal), and whole originals (`retrieve`)?
    pub fn check_read(film: &Film, study: Option<&str>, retrieve: bool) -> Result<()> {
        if let Some(study) = study
            && !film.studies.iter().any(|u| u == study)
        {
            return Err(FilmError::Forbidden("this study is not in the film".into()));
        }
        if retrieve && !film.download {
            return Err(no_download());
        }
        Ok(())
    }

    /// The phone number SMS codes of a film go to (unsealed).
    fn phone_of(&self, film: &Film) -> Result<String> {
        if !sealed::is_sealed(&film.verify_hint) {
            return Ok(film.verify_hint.clone());
        }
        let key = self
            .policy
            .data_key
            .as_deref()
            .ok_or_else(|| FilmError::Internal("http.film.data_key is not set: SMS films cannot be read".into()))?;
        sealed::open(key, &film.film_id, &film.verify_hint).map_err(FilmError::Internal)
    }

    /// The verification hint as shown: the phone number masked.
    pub fn shown_hint(&self, film: &Film) -> String {
        match self.phone_of(film) {
            Ok(phone) => mask::mask_phone(&phone),
            Err(_) => "***".into(),
        }
    }

    /// A film as staff see it: its hint masked.
    pub fn shown(&self, mut film: Film) -> Film {
        film.verify_hint = self.shown_hint(&film);
        film
    }
}

fn no_download() -> FilmError {
    FilmError::Forbidden("this film does not allow downloading originals / 此胶片不允许下载原始影像".into())
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Who looks at a film: its patient, or the third party it was shared to.
pub fn viewer_actor(film: &Film) -> &'static str {
    if film.kind == "share" { "recipient" } else { "patient" }
}

/// An event on a film's record, carrying the film's studies (the ledger's
/// shape: each event names what it touched).
pub fn event(film: &Film, actor: &str, what: &str, client: &str, result: &str, detail: impl Into<String>) -> FilmEvent {
    FilmEvent {
        seq: 0,
        film_id: film.film_id.clone(),
        studies: film.studies.clone(),
        at_ms: now_ms(),
        actor: actor.into(),
        event: what.into(),
        client: client.into(),
        result: result.into(),
        detail: detail.into(),
    }
}

#[cfg(test)]
pub(crate) mod testing {
    use yunying_index::Film;

    /// A film as the index would hold it, for the rules' tests.
    pub fn film(kind: &str) -> Film {
        Film {
            film_id: "F1".into(),
            token_hash: String::new(),
            parent_film_id: String::new(),
            kind: kind.into(),
            studies: vec!["1.2.3".into(), "1.2.4".into()],
            issuer: "A".into(),
            patient_id: "P1".into(),
            created_by: String::new(),
            recipient: String::new(),
            purpose: String::new(),
            created_at_ms: 0,
            expires_at_ms: 1000,
            revoked_at_ms: None,
            max_views: None,
            views: 0,
            download: true,
            verify_method: "birth_date".into(),
            verify_hash: String::new(),
            verify_hint: String::new(),
            code_expires_ms: None,
            code_sent_ms: None,
            failed_attempts: 0,
            locked_at_ms: None,
            report: true,
            report_key: String::new(),
            report_type: String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_reads_its_films_studies_and_originals_only_when_allowed() {
        let mut film = testing::film("patient");
        assert!(Films::check_read(&film, Some("1.2.3"), true).is_ok());
        assert!(Films::check_read(&film, None, false).is_ok(), "searches are scoped by the principal");
        assert!(matches!(Films::check_read(&film, Some("1.2.3.4"), false), Err(FilmError::Forbidden(_))), "exact studies only");
        film.download = false;
        assert!(matches!(Films::check_read(&film, Some("1.2.3"), true), Err(FilmError::Forbidden(_))));
        assert!(Films::check_read(&film, Some("1.2.3"), false).is_ok());
        let p = Films::principal(&film);
        assert_eq!(p.id, "film:F1");
        assert!(!p.may(yunying_access::Action::Retrieve) && p.may(yunying_access::Action::View));
    }

    #[test]
    fn events_carry_the_films_studies() {
        let film = testing::film("share");
        let e = event(&film, viewer_actor(&film), "viewed", "203.0.113.1", "ok", "film page");
        assert_eq!((e.actor.as_str(), e.studies.len(), e.film_id.as_str()), ("recipient", 2, "F1"));
        assert_eq!(viewer_actor(&testing::film("patient")), "patient");
    }
}
