//! People: local accounts with Argon2id passwords, a TOTP second factor and
//! lockout; browser sessions; and people an OpenID Connect provider vouches
//! for (a browser sign-in, or a bearer access token).
//!
//! Everything a decision needs is read from the index on every request: a
//! session reads its account's current roles, institution and state, so a
//! role taken away, an account disabled or a session ended stops working on
//! the next request, on every node. Secrets never leave this module except
//! to the person they belong to (a session token in a cookie, a TOTP secret
//! once at enrolment, a generated password once): the index holds Argon2id
//! hashes and SHA-256 digests, and events and logs carry neither.

mod accounts;
pub(crate) mod idp;
pub mod oidc;
mod password;
mod sessions;
pub mod totp;

use serde::{Deserialize, Serialize};
use yunying_index::UserRow;

pub use accounts::NewUser;
pub use oidc::{OidcProvider, OidcRedirect};
pub use password::PasswordRules;
pub use sessions::{Login, REFUSED, SessionInfo, SessionView, SignedIn};
pub use totp::Enrolment;

use crate::{Access, Action, Denied, Principal, Role, now_ms};

/// Local accounts and sessions (`[access.accounts]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountsConfig {
    /// What a new password must be.
    pub password: PasswordRules,
    /// Failed sign-ins on one account within `failed_window_minutes` that
    /// lock it for `lockout_minutes`. Counted before each password is
    /// compared, in the index: no burst of guesses, to any node, compares
    /// more passwords than this.
    pub max_failed_logins: i64,
    pub failed_window_minutes: u64,
    pub lockout_minutes: u64,
    /// Failed sign-ins from one client address, over all accounts, in
    /// `failed_window_minutes`; more get 429 (password spraying).
    pub client_max_failed_logins: i64,
    /// A session ends after this long without a request (seconds).
    pub session_idle_secs: u64,
    /// A session ends this long after sign-in, used or not (seconds).
    pub session_max_secs: u64,
    /// The issuer name authenticator apps show next to the account.
    pub totp_issuer: String,
}

impl Default for AccountsConfig {
    fn default() -> Self {
        AccountsConfig {
            password: PasswordRules::default(),
            max_failed_logins: 5,
            failed_window_minutes: 15,
            lockout_minutes: 15,
            client_max_failed_logins: 50,
            session_idle_secs: 30 * 60,
            session_max_secs: 12 * 3600,
            totp_issuer: "Yunying".into(),
        }
    }
}

impl AccountsConfig {
    /// Refuse settings that would make accounts unsafe or unusable.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_failed_logins < 1 || self.client_max_failed_logins < 1 || self.failed_window_minutes == 0 || self.lockout_minutes == 0 {
            return Err("access.accounts: max_failed_logins, client_max_failed_logins, failed_window_minutes and lockout_minutes must be at least 1".into());
        }
        if self.session_idle_secs == 0 || self.session_max_secs < self.session_idle_secs {
            return Err("access.accounts: session_idle_secs must be at least 1 and session_max_secs at least as long".into());
        }
        if self.password.min_length < 8 || self.password.min_classes > 4 {
            return Err("access.accounts.password: min_length must be at least 8, min_classes at most 4".into());
        }
        Ok(())
    }
}

/// An account as administrators and its owner see it: no hash, no secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserInfo {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    pub institution: Option<String>,
    pub roles: Vec<String>,
    pub disabled: bool,
    /// Locked by failed sign-ins until then.
    pub locked_until_ms: Option<i64>,
    /// A second factor is confirmed.
    pub totp: bool,
    /// A local password is set.
    pub password: bool,
    /// The identity provider the account is linked to.
    pub oidc_issuer: Option<String>,
    pub created_ms: i64,
    pub created_by: String,
    pub password_changed_ms: Option<i64>,
}

impl UserInfo {
    pub(crate) fn of(u: &UserRow, now: i64) -> UserInfo {
        UserInfo {
            user_id: u.user_id.clone(),
            username: u.username.clone(),
            display_name: u.display_name.clone(),
            institution: u.institution.clone(),
            roles: roles_of(&u.roles).iter().map(|r| r.name().to_string()).collect(),
            disabled: u.disabled,
            locked_until_ms: u.locked_until_ms.filter(|t| *t > now),
            totp: u.totp_confirmed,
            password: u.password_hash.is_some(),
            oidc_issuer: u.oidc_issuer.clone(),
            created_ms: u.created_ms,
            created_by: u.created_by.clone(),
            password_changed_ms: u.password_changed_ms,
        }
    }
}

/// Three base64url parts joined by dots: a JWT (not an API key, not a
/// configured token).
pub fn looks_like_jwt(token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// The roles stored as `a,b`; names this version does not know are skipped.
pub(crate) fn roles_of(stored: &str) -> Vec<Role> {
    let mut roles: Vec<Role> = stored.split(',').map(str::trim).filter(|s| !s.is_empty()).filter_map(Role::parse).collect();
    roles.sort();
    roles.dedup();
    roles
}

/// Parse a comma-separated list of role names (the API and the CLI).
pub fn parse_roles(text: &str) -> Result<Vec<Role>, String> {
    let mut roles = Vec::new();
    for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let role = Role::parse(name).ok_or_else(|| {
            format!("unknown role {name:?} (known: {})", Role::ALL.iter().map(|r| r.name()).collect::<Vec<_>>().join(", "))
        })?;
        roles.push(role);
    }
    roles.sort();
    roles.dedup();
    Ok(roles)
}

pub(crate) fn roles_text(roles: &[Role]) -> String {
    roles.iter().map(|r| r.name()).collect::<Vec<_>>().join(",")
}

/// The principal an account is now.
pub(crate) fn principal_of(u: &UserRow) -> Principal {
    Principal::person(&u.user_id, &u.username, u.institution.as_deref(), roles_of(&u.roles))
}

/// Whether a password sign-in to this account needs the second factor.
pub(crate) fn needs_second_factor(u: &UserRow) -> bool {
    u.totp_confirmed || roles_of(&u.roles).iter().any(|r| r.requires_second_factor())
}

/// Whether `by` may manage the account of `target` (create, disable,
/// enable, unlock, reset its password or second factor, see and end its
/// sessions): a system administrator any account, an institution
/// administrator those of their own institution that hold no
/// administrator role.
pub(crate) fn may_manage(by: &Principal, target_institution: Option<&str>, target_roles: &[Role]) -> Result<(), Denied> {
    if !by.may(Action::ManageAccounts) {
        return Err(Denied::Forbidden(format!("{} may not {}", by.name, crate::describe(Action::ManageAccounts))));
    }
    let roles = by.roles();
    if roles.contains(&Role::SystemAdmin) {
        return Ok(());
    }
    if roles.contains(&Role::InstitutionAdmin) {
        if by.institution.is_none() || by.institution.as_deref() != target_institution {
            return Err(Denied::Forbidden("an institution administrator manages the accounts of their own institution only".into()));
        }
        if target_roles.iter().any(|r| !r.is_clinical()) {
            return Err(Denied::Forbidden("an institution administrator manages clinical accounts only".into()));
        }
        return Ok(());
    }
    Err(Denied::Forbidden("managing accounts is the system administrator's job".into()))
}

impl Access {
    /// The account `user_id`, or `NotFound`.
    pub(crate) async fn account(&self, user_id: &str) -> Result<UserRow, Denied> {
        self.index().user(user_id).await?.ok_or_else(|| Denied::NotFound(format!("no account {user_id}")))
    }

    /// Public parts of an account, for its owner.
    pub async fn user_info(&self, user_id: &str) -> Result<UserInfo, Denied> {
        Ok(UserInfo::of(&self.account(user_id).await?, now_ms()))
    }

    /// The record id of whoever acts (`cli` for the server's command line).
    pub(crate) fn actor(by: Option<&Principal>) -> String {
        by.map_or("cli".to_string(), |p| p.id.clone())
    }
}

/// Refuse account and provider settings that cannot work.
pub fn validate(config: &crate::AccessConfig) -> Result<(), String> {
    config.accounts.validate()?;
    for (i, p) in config.oidc.iter().enumerate() {
        p.validate()?;
        if config.oidc[..i].iter().any(|q| q.name == p.name) {
            return Err(format!("access.oidc: two providers are named {}", p.name));
        }
    }
    Ok(())
}
