//! Who may do what: one access layer below every face.
//!
//! HTTP (DICOMweb, the viewer, films, the admin API) and DIMSE (C-STORE,
//! C-FIND, C-MOVE, C-GET, commitment) authenticate a caller into a
//! [`Principal`] and then ask [`Access`] one question: may it do this
//! [`Action`], on this study ([`Access::check_study`]) or within which
//! studies ([`Access::scope`], a [`Scope`] the index applies inside its
//! queries, so paging stays correct)? Neither face carries rules of its
//! own.
//!
//! A principal's studies are its institution's (the patients whose IDs the
//! institution issued) and those a grant in force opens to it or to its
//! institution ([`grants`]). Lookups are remembered for at most 2 s and
//! forgotten at once by any change through this node (`cache.rs`): a
//! revoked grant, role, key or session stops at this node's next request
//! and within 2 s on every other node.
//!
//! Architecture invariant: no HTTP and no DICOM here; faces map
//! [`Denied`] to their own status codes.

mod cache;
pub mod grants;
pub mod keys;
pub mod people;
pub mod principal;
pub mod roles;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use yunying_audit::{Audit, Event};
use yunying_index::Index;
use yunying_index::search::Scope;

pub use grants::{GrantKind, NewGrant};
pub use principal::{Kind, Principal, Reach};
pub use roles::{Action, Actions, Role};

/// Most granted studies one principal's scope carries into a query.
pub const MAX_GRANTED_STUDIES: i64 = 10_000;

/// Settings of the access layer (`[access]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// What a request with no credentials may do: `nobody` (the default:
    /// sign in first) or `loopback` (a request from this machine itself,
    /// not through a proxy, may search, view, retrieve and store for every
    /// institution: for trials and tests on one machine).
    pub anonymous: Anonymous,
    /// Longest break-glass access, in minutes.
    pub break_glass_max_minutes: u32,
    /// Longest grant a person may give, in days.
    pub grant_max_days: u32,
    /// Local accounts: password rules, lockout, sessions (`[access.accounts]`).
    pub accounts: people::AccountsConfig,
    /// OpenID Connect identity providers (`[[access.oidc]]`).
    pub oidc: Vec<people::OidcProvider>,
}

impl Default for AccessConfig {
    fn default() -> Self {
        AccessConfig {
            anonymous: Anonymous::Nobody,
            break_glass_max_minutes: 240,
            grant_max_days: 365,
            accounts: people::AccountsConfig::default(),
            oidc: Vec::new(),
        }
    }
}

/// What requests with no credentials get.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Anonymous {
    #[default]
    Nobody,
    Loopback,
}

/// Why a request is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denied {
    /// No credentials, or credentials that prove nothing (HTTP 401).
    #[error("{0}")]
    Unauthenticated(String),
    /// Known, but not allowed (HTTP 403, DIMSE 0124H).
    #[error("{0}")]
    Forbidden(String),
    /// No such study, grant or key (HTTP 404).
    #[error("{0}")]
    NotFound(String),
    /// A request that cannot be right (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// The index could not answer (HTTP 503).
    #[error("access check failed: {0}")]
    Unavailable(String),
}

impl From<yunying_index::IndexError> for Denied {
    fn from(e: yunying_index::IndexError) -> Self {
        if e.is_invalid_text() {
            return Denied::Invalid(yunying_index::INVALID_TEXT.into());
        }
        Denied::Unavailable(e.to_string())
    }
}

/// How a study was reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reached {
    /// The principal's own institution (or a platform principal).
    Own,
    /// Through this grant (`grant_id`).
    Grant(String),
}

/// A credential from the configuration file, kept as its digest.
#[derive(Clone)]
struct Configured {
    digest: [u8; 32],
    principal: Principal,
}

/// The access layer: authentication of keys, scopes, grants, events.
/// Cheap to clone (one reference count: every request's handler holds one).
#[derive(Clone)]
pub struct Access(Arc<shared::Shared>);

mod shared {
    use super::*;

    /// What every clone of an [`Access`] shares.
    #[derive(Clone)]
    pub struct Shared {
        pub(crate) index: Index,
        pub(crate) config: Arc<AccessConfig>,
        pub(crate) configured: Arc<Vec<Configured>>,
        /// Recent lookups (keys, sessions, grants, issuers): `cache.rs`.
        pub(crate) cache: Arc<cache::Cache>,
        /// When each (principal, study, grant) was last recorded as used.
        pub(crate) noted: Arc<std::sync::Mutex<Noted>>,
        /// Identity providers and what was learnt of them (keys, endpoints).
        pub(crate) idps: Arc<people::idp::Idps>,
        /// Where events go (the audit ledger).
        pub(crate) audit: Audit,
    }
}

impl std::ops::Deref for Access {
    type Target = shared::Shared;

    fn deref(&self) -> &shared::Shared {
        &self.0
    }
}

/// (principal, study, grant) → when it was last recorded as used.
type Noted = std::collections::HashMap<(String, String, String), std::time::Instant>;

/// A principal's use of a study through one grant is recorded at most this
/// often (per node): a series scrolled in the viewer is one event, not 300.
const NOTE_EVERY: std::time::Duration = std::time::Duration::from_secs(600);

impl Access {
    pub fn new(index: Index, config: AccessConfig) -> Access {
        let idps = Arc::new(people::idp::Idps::new(&config.oidc));
        let audit = Audit::ephemeral(index.clone());
        let shared = shared::Shared {
            index,
            config: Arc::new(config),
            configured: Arc::default(),
            cache: Arc::default(),
            noted: Arc::default(),
            idps,
            audit,
        };
        Access(Arc::new(shared))
    }

    /// Record events through `audit` (the node's recorder, with its key
    /// for patient digests) instead of a recorder of its own.
    pub fn with_audit(mut self, audit: Audit) -> Access {
        Arc::make_mut(&mut self.0).audit = audit;
        self
    }

    /// The audit recorder every face records through.
    pub fn audit(&self) -> &Audit {
        &self.audit
    }

    /// Accept a static bearer token from the configuration as a
    /// platform-wide credential with these actions (the `bearer_token` and
    /// `api_token` settings from before API keys). `setting` names it in
    /// records (`config:<setting>`).
    pub fn with_configured_token(mut self, setting: &str, token: &str, actions: &[Action]) -> Access {
        if token.is_empty() {
            return self;
        }
        let principal = Principal {
            id: format!("config:{setting}"),
            name: setting.to_string(),
            kind: Kind::Configured,
            institution: None,
            actions: Actions::of(actions),
            reach: Reach::All,
        };
        Arc::make_mut(&mut Arc::make_mut(&mut self.0).configured)
            .push(Configured { digest: Sha256::digest(token.as_bytes()).into(), principal });
        self
    }

    pub fn config(&self) -> &AccessConfig {
        &self.config
    }

    pub fn index(&self) -> &Index {
        &self.index
    }

    pub(crate) fn idps(&self) -> &people::idp::Idps {
        &self.idps
    }

    /// The principal a bearer token proves: an API key (`yk_…`), an
    /// identity provider's JWT access token, or a configured token.
    /// Anything else is refused.
    pub async fn authenticate_bearer(&self, token: &str) -> Result<Principal, Denied> {
        let token = token.trim();
        if token.starts_with(keys::PREFIX) {
            return keys::authenticate(self, token).await;
        }
        if people::looks_like_jwt(token) {
            return self.authenticate_jwt(token).await;
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Digests are compared whole, so timing tells nothing of the token.
        let mut found = None;
        for c in self.configured.iter() {
            if c.digest == digest {
                found = Some(c.principal.clone());
            }
        }
        found.ok_or_else(|| Denied::Unauthenticated("invalid bearer token".into()))
    }

    /// The principal of a request with no credentials from `client`
    /// (`None`: it must sign in). `via_proxy`: it came through a reverse
    /// proxy, so its address is not the proxy's machine.
    pub fn anonymous(&self, client: IpAddr, via_proxy: bool) -> Option<Principal> {
        match self.config.anonymous {
            Anonymous::Loopback if client.is_loopback() && !via_proxy => Some(Principal {
                id: "anonymous".into(),
                name: "anonymous (loopback)".into(),
                kind: Kind::Anonymous,
                institution: None,
                // Films stay behind a credential, as before access control.
                actions: Actions::of(&[Action::Search, Action::View, Action::Retrieve, Action::Store]),
                reach: Reach::All,
            }),
            _ => None,
        }
    }

    /// Refuse unless `principal` may do `action` at all.
    pub fn require(&self, principal: &Principal, action: Action) -> Result<(), Denied> {
        if principal.may(action) {
            Ok(())
        } else if principal.kind == Kind::Anonymous {
            // Credentials would change the answer: 401, not 403.
            Err(Denied::Unauthenticated(format!("sign in to {}", describe(action))))
        } else {
            Err(Denied::Forbidden(format!("{} may not {}", principal.name, describe(action))))
        }
    }

    /// The studies `principal` may do `action` on, for the index to apply
    /// inside a query; `None`: every study.
    pub async fn scope(&self, principal: &Principal, action: Action) -> Result<Option<Scope>, Denied> {
        self.require(principal, action)?;
        let (issuers, person, institution) = match &principal.reach {
            Reach::All => return Ok(None),
            Reach::Studies(studies) => return Ok(Some(Scope::studies(studies.clone()))),
            Reach::Institution(code) => (vec![code.clone()], principal.user_id(), Some(code.as_str())),
            Reach::Granted => (Vec::new(), principal.user_id(), None),
        };
        let granted = self.granted(person, institution).await?;
        Ok(Some(Scope { issuers, studies: granted.into_iter().map(|(s, _)| s).collect() }))
    }

    /// May `principal` save measurements and annotations into this study
    /// (new objects in it, as STOW-RS stores)? Those who store (`Store`) or
    /// read for reports (`Reading`), on a study they may view.
    pub async fn check_annotate(&self, principal: &Principal, study: &str) -> Result<Reached, Denied> {
        if !principal.may(Action::Store) && !principal.may(Action::Reading) {
            self.require(principal, Action::Store)?;
        }
        self.check_study(principal, Action::View, study).await
    }

    /// May `principal` do `action` on this study, and how does it reach it?
    /// `NotFound` when there is no such study.
    pub async fn check_study(&self, principal: &Principal, action: Action, study: &str) -> Result<Reached, Denied> {
        self.require(principal, action)?;
        let not_found = || Denied::NotFound(format!("no study {study}"));
        let (person, institution) = match &principal.reach {
            Reach::All => return Ok(Reached::Own),
            Reach::Studies(studies) => {
                return if studies.iter().any(|s| s == study) {
                    Ok(Reached::Own)
                } else {
                    Err(Denied::Forbidden("this study is not in the film".into()))
                };
            }
            Reach::Institution(code) => (principal.user_id(), Some(code.as_str())),
            Reach::Granted => (principal.user_id(), None),
        };
        let issuer = match self.cache.issuer(study) {
            Some(issuer) => issuer,
            None => {
                let issuer = self.index.study_issuer(study).await?.ok_or_else(not_found)?;
                self.cache.put_issuer(study, &issuer);
                issuer
            }
        };
        if institution == Some(issuer.as_str()) {
            return Ok(Reached::Own);
        }
        if let Some(grant) = grants::opening(self, person, institution, study).await? {
            return Ok(Reached::Grant(grant));
        }
        Err(Denied::Forbidden(
            "this study belongs to another institution and no grant opens it to you / 该检查属于其他机构，未获授权".into(),
        ))
    }

    /// Record that `principal` reached `study` through `grant` (another
    /// institution's study): once per principal, study and grant every ten
    /// minutes on this node.
    pub async fn note_grant_use(&self, principal: &Principal, study: &str, grant: &str, client: &str) {
        let key = (principal.id.clone(), study.to_string(), grant.to_string());
        {
            let mut noted = self.noted.lock().unwrap_or_else(|e| e.into_inner());
            let now = std::time::Instant::now();
            if noted.get(&key).is_some_and(|at| now.duration_since(*at) < NOTE_EVERY) {
                return;
            }
            if noted.len() >= 100_000 {
                noted.retain(|_, at| now.duration_since(*at) < NOTE_EVERY);
            }
            noted.insert(key, now);
        }
        self.record(&principal.id, "study-accessed", &[study.to_string()], &format!("grant:{grant}"), client, "ok", "").await;
    }

    /// The studies grants in force open to this person or institution,
    /// with the grant that opens each (remembered for a moment: `cache.rs`).
    pub(crate) async fn granted(&self, person: Option<&str>, institution: Option<&str>) -> Result<Vec<(String, String)>, Denied> {
        if let Some(granted) = self.cache.grants(person, institution) {
            return Ok(granted);
        }
        let generation = self.cache.generation();
        let granted = self.index.granted_studies(person, institution, now_ms(), MAX_GRANTED_STUDIES).await?;
        self.cache.put_grants(generation, person, institution, granted.clone());
        Ok(granted)
    }

    pub(crate) fn cache(&self) -> &cache::Cache {
        &self.cache
    }

    /// Record a security event (never with patient data in it). A failure
    /// to record is logged: the request it describes has been decided.
    #[allow(clippy::too_many_arguments)]
    pub async fn record(&self, principal: &str, event: &str, studies: &[String], via: &str, client: &str, result: &str, detail: &str) {
        // Every change to who may do what is recorded through here: what
        // this node remembers is forgotten (reads and refusals change
        // nothing and keep it).
        if result == "ok" && !matches!(event, "study-accessed" | "retrieve" | "dicomweb" | "sign-in") {
            self.cache.changed();
        }
        let institution = self.institution_of(principal).await;
        let e = Event::new(event, principal, result)
            .institution(institution.as_deref())
            .studies(studies)
            .via(via)
            .client(client)
            .detail(detail);
        let _ = self.audit.record(e).await;
    }

    /// The institution a principal id (`person:`, `key:`, `ae:`) belongs
    /// to, for its events (searching the record by institution finds
    /// them); `None` for others (`unknown`, `system`, `cli:`) or when it
    /// is not found.
    async fn institution_of(&self, principal: &str) -> Option<String> {
        let (kind, id) = principal.split_once(':')?;
        let found = match kind {
            "person" => self.index.user(id).await.ok().flatten().and_then(|u| u.institution),
            "key" => self.index.api_key(id).await.ok().flatten().and_then(|k| k.institution),
            "ae" => self.index.remote_ae(id).await.ok().flatten().map(|ae| ae.institution),
            _ => None,
        };
        found.filter(|i| !i.is_empty())
    }
}

/// An action in words, for refusals.
pub fn describe(action: Action) -> &'static str {
    match action {
        Action::Search => "search studies",
        Action::View => "view images",
        Action::Retrieve => "retrieve original instances",
        Action::Store => "store instances",
        Action::Commit => "request storage commitment",
        Action::Films => "make cloud films",
        Action::Grant => "give access to studies",
        Action::BreakGlass => "use emergency access",
        Action::ManageAccounts => "manage accounts",
        Action::ManageSystem => "manage the system",
        Action::AssignRoles => "assign roles",
        Action::ManageKeys => "manage API keys",
        Action::ReadAudit => "read access records",
        Action::ManageRetention => "manage retention policies and legal holds",
        Action::RequestDeletion => "request deletions",
        Action::ApproveDeletion => "approve deletions",
        Action::Patients => "manage the patient index",
        Action::Recognition => "recognise exams of other institutions",
        Action::Reading => "read studies sent for reading",
        Action::SignReports => "review and sign reading reports",
        Action::RequestReading => "ask another institution to read a study",
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// A new random id: `n` bytes, hex.
pub fn random_id(n: usize) -> String {
    let bytes: Vec<u8> = (0..n).map(|_| rand::random::<u8>()).collect();
    hex::encode(bytes)
}
