//! Signing in with a password (and a TOTP code), and the browser sessions
//! it starts.
//!
//! A sign-in is counted twice before its password is compared: on the
//! account (the lockout) and on the client address (password spraying
//! across accounts), both in the index. Whatever went wrong (no such
//! account, disabled, locked, wrong password) the client hears the same
//! words; the record says which.
//!
//! A session token is 32 random bytes; the index keeps its SHA-256. Every
//! request reads the session and its account afresh: idle and absolute
//! limits, revocation, a disabled account, changed roles all apply at once.

use base64::Engine;
use serde::Serialize;
use sha2::{Digest, Sha256};
use yunying_index::{SessionRow, UserRow};

use super::{UserInfo, needs_second_factor, password, principal_of, roles_of, totp};
use crate::{Access, Actions, Denied, Kind, Principal, Reach, now_ms, random_id};

/// Longest username looked up (longer ones are no account).
const MAX_USERNAME_BYTES: usize = 128;
/// Most characters of a User-Agent kept with a session.
const MAX_USER_AGENT_CHARS: usize = 200;

/// The one answer to every failed sign-in.
pub const REFUSED: &str = "wrong username or password / 用户名或密码错误";

/// The outcome of a sign-in.
#[derive(Debug)]
pub enum Login {
    /// A session began.
    SignedIn(Box<SignedIn>),
    /// The password was right; the account needs a TOTP code too. (The
    /// sign-in stays counted: a right guess costs an attacker as much as a
    /// wrong one.)
    TotpRequired,
    /// Wrong username or password, or an account that cannot sign in now.
    Refused,
    /// Too many failures from this client address.
    Throttled,
}

/// A session just begun: its token, for the cookie, shown this once.
#[derive(Debug)]
pub struct SignedIn {
    pub token: String,
    pub session: SessionInfo,
}

/// An open session and who it is now.
#[derive(Debug, Clone)]
pub struct SessionInfo {
    pub session_id: String,
    pub principal: Principal,
    pub user: UserInfo,
    /// May enrol a second factor and nothing else (an administrator
    /// without one).
    pub enrolment_only: bool,
    pub absolute_expires_ms: i64,
    token_digest: String,
}

/// A session as the admin API lists it: no token, no digest.
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    pub session_id: String,
    pub user_id: String,
    pub username: String,
    pub institution: Option<String>,
    pub created_ms: i64,
    pub last_seen_ms: i64,
    pub idle_expires_ms: i64,
    pub absolute_expires_ms: i64,
    pub client: String,
    pub user_agent: String,
    pub enrolment_only: bool,
}

pub(crate) fn digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

impl Access {
    /// Sign in with a username and password (and a TOTP code when the
    /// account has a second factor). `client` is the caller's address.
    pub async fn login(&self, username: &str, password: &str, code: Option<&str>, client: &str, user_agent: &str) -> Result<Login, Denied> {
        let policy = &self.config().accounts;
        let now = now_ms();
        let window = policy.failed_window_minutes as i64 * 60_000;
        let index = self.index();
        let Some(slot) = index.reserve_slot(&format!("login:{client}"), now - window, now, policy.client_max_failed_logins).await? else {
            self.record("unknown", "sign-in", &[], "", client, "denied", "client address throttled").await;
            return Ok(Login::Throttled);
        };
        let user = if username.is_empty() || username.len() > MAX_USERNAME_BYTES { None } else { index.user_by_name(username).await? };
        let Some(user) = user.filter(|u| u.password_hash.is_some()) else {
            // The name typed is not recorded: people type passwords there.
            password::verify(password, None).await;
            self.record("unknown", "sign-in", &[], "", client, "denied", "no such local account").await;
            return Ok(Login::Refused);
        };
        let who = format!("person:{}", user.user_id);
        if user.disabled {
            password::verify(password, None).await;
            self.record(&who, "sign-in", &[], "", client, "denied", "account disabled").await;
            return Ok(Login::Refused);
        }
        if !index.reserve_login(&user.user_id, now, now - window, policy.max_failed_logins).await? {
            password::verify(password, None).await;
            tracing::warn!(user = %user.user_id, client, "sign-in to a locked account");
            self.record(&who, "sign-in", &[], "", client, "denied", "account locked").await;
            return Ok(Login::Refused);
        }
        let wrong = if !password::verify(password, user.password_hash.as_deref()).await {
            Some("wrong password")
        } else if !user.totp_confirmed {
            None
        } else {
            match code.map(str::trim).filter(|c| !c.is_empty()) {
                None => Some("second factor required"),
                Some(code) => match totp::matching_step(user.totp_secret.as_deref().unwrap_or(""), code, now) {
                    None => Some("wrong second factor"),
                    Some(step) if !index.use_totp_step(&user.user_id, step).await? => Some("second factor code reused"),
                    Some(_) => None,
                },
            }
        };
        if let Some(why) = wrong {
            let lock_until = now + policy.lockout_minutes as i64 * 60_000;
            if index.login_failed(&user.user_id, policy.max_failed_logins, lock_until).await? {
                tracing::warn!(user = %user.user_id, client, "account locked after failed sign-ins");
                self.record(&who, "account-locked", &[], "", client, "ok", &format!("{} failed sign-ins", policy.max_failed_logins)).await;
            }
            self.record(&who, "sign-in", &[], "", client, "denied", why).await;
            return Ok(if why == "second factor required" { Login::TotpRequired } else { Login::Refused });
        }
        if !index.login_succeeded(&user.user_id, now).await? {
            self.record(&who, "sign-in", &[], "", client, "denied", "account locked").await;
            return Ok(Login::Refused);
        }
        index.release_slot(slot).await?;
        let enrolment_only = needs_second_factor(&user) && !user.totp_confirmed;
        let how = if user.totp_confirmed {
            "password and second factor"
        } else if enrolment_only {
            "password; enrolment only: no second factor yet"
        } else {
            "password"
        };
        Ok(Login::SignedIn(Box::new(self.start_session(&user, enrolment_only, client, user_agent, how).await?)))
    }

    /// Begin a session for `user` (recorded as a sign-in by `how`).
    pub(crate) async fn start_session(
        &self,
        user: &UserRow,
        enrolment_only: bool,
        client: &str,
        user_agent: &str,
        how: &str,
    ) -> Result<SignedIn, Denied> {
        let policy = &self.config().accounts;
        let now = now_ms();
        let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let row = SessionRow {
            token_digest: digest(&token),
            session_id: random_id(12),
            user_id: user.user_id.clone(),
            created_ms: now,
            last_seen_ms: now,
            idle_expires_ms: now + policy.session_idle_secs as i64 * 1000,
            absolute_expires_ms: now + policy.session_max_secs as i64 * 1000,
            client: client.to_string(),
            user_agent: user_agent.chars().filter(|c| !c.is_control()).take(MAX_USER_AGENT_CHARS).collect(),
            enrolment_only,
            revoked_ms: None,
        };
        self.index().insert_session(&row).await?;
        self.record(&format!("person:{}", user.user_id), "sign-in", &[], &format!("session:{}", row.session_id), client, "ok", how).await;
        Ok(SignedIn { token, session: session_info(&row, user, now) })
    }

    /// The open session a cookie's token names, and who it is now.
    pub async fn session(&self, token: &str) -> Result<SessionInfo, Denied> {
        let gone = |why: &str| Denied::Unauthenticated(format!("{why}: sign in again / 请重新登录"));
        if token.is_empty() || token.len() > 128 {
            return Err(gone("no session"));
        }
        let now = now_ms();
        let index = self.index();
        let key = digest(token);
        // The session and its account, remembered for a moment (`cache.rs`:
        // a sign-out, a role change or a disabled account through this node
        // forgets them at once).
        let (s, user) = match self.cache().session(&key) {
            Some(pair) => pair,
            None => {
                let generation = self.cache().generation();
                let Some(s) = index.session(&key).await? else { return Err(gone("no session")) };
                let Some(user) = index.user(&s.user_id).await? else { return Err(gone("account disabled")) };
                self.cache().put_session(generation, key.clone(), (s.clone(), user.clone()));
                (s, user)
            }
        };
        if s.revoked_ms.is_some() {
            return Err(gone("signed out"));
        }
        if now >= s.absolute_expires_ms || now >= s.idle_expires_ms {
            return Err(gone("session expired"));
        }
        if user.disabled {
            return Err(gone("account disabled"));
        }
        let idle_ms = self.config().accounts.session_idle_secs as i64 * 1000;
        // Written at most every tenth of the idle time (and once a minute).
        let mut s = s;
        if now - s.last_seen_ms >= (idle_ms / 10).min(60_000) {
            let generation = self.cache().generation();
            index.touch_session(&s.token_digest, now, now + idle_ms).await?;
            (s.last_seen_ms, s.idle_expires_ms) = (now, now + idle_ms);
            self.cache().put_session(generation, key, (s.clone(), user.clone()));
        }
        Ok(session_info(&s, &user, now))
    }

    /// The principal a session cookie's token proves.
    pub async fn authenticate_session(&self, token: &str) -> Result<Principal, Denied> {
        Ok(self.session(token).await?.principal)
    }

    /// End this session.
    pub async fn logout(&self, session: &SessionInfo, client: &str) -> Result<(), Denied> {
        self.index().revoke_session(&session.token_digest, now_ms()).await?;
        self.record(&session.principal.id, "sign-out", &[], &format!("session:{}", session.session_id), client, "ok", "").await;
        Ok(())
    }

    /// End every session of the session's account, this one included.
    pub async fn logout_everywhere(&self, session: &SessionInfo, client: &str) -> Result<u64, Denied> {
        let n = self.index().revoke_user_sessions(&session.user.user_id, now_ms()).await?;
        self.record(&session.principal.id, "sign-out-everywhere", &[], "", client, "ok", &format!("{n} sessions")).await;
        Ok(n)
    }

    /// Open sessions of the accounts `by` manages, newest first.
    pub async fn open_sessions(&self, by: &Principal) -> Result<Vec<SessionView>, Denied> {
        super::may_manage(by, by.institution.as_deref(), &[])?;
        let mut out = Vec::new();
        let mut users: std::collections::HashMap<String, Option<UserRow>> = std::collections::HashMap::new();
        for s in self.index().open_sessions(now_ms(), 10_000).await? {
            if !users.contains_key(&s.user_id) {
                users.insert(s.user_id.clone(), self.index().user(&s.user_id).await?);
            }
            let Some(u) = users[&s.user_id].as_ref() else { continue };
            if super::may_manage(by, u.institution.as_deref(), &roles_of(&u.roles)).is_err() {
                continue;
            }
            out.push(SessionView {
                session_id: s.session_id,
                user_id: s.user_id,
                username: u.username.clone(),
                institution: u.institution.clone(),
                created_ms: s.created_ms,
                last_seen_ms: s.last_seen_ms,
                idle_expires_ms: s.idle_expires_ms,
                absolute_expires_ms: s.absolute_expires_ms,
                client: s.client,
                user_agent: s.user_agent,
                enrolment_only: s.enrolment_only,
            });
        }
        Ok(out)
    }

    /// End a session by its public id (an administrator).
    pub async fn end_session(&self, by: &Principal, session_id: &str, client: &str) -> Result<(), Denied> {
        let not_found = || Denied::NotFound(format!("no open session {session_id}"));
        let s = self.index().session_by_id(session_id).await?.ok_or_else(not_found)?;
        let u = self.account(&s.user_id).await?;
        super::may_manage(by, u.institution.as_deref(), &roles_of(&u.roles))?;
        if !self.index().revoke_session_by_id(session_id, now_ms()).await? {
            return Err(not_found());
        }
        self.record(&by.id, "session-ended", &[], &format!("session:{session_id}"), client, "ok", &format!("account {}", u.user_id)).await;
        Ok(())
    }
}

fn session_info(s: &SessionRow, user: &UserRow, now: i64) -> SessionInfo {
    // An account given an administrator role since it last enrolled (or a
    // session begun before the role) has only what enrolment needs until a
    // second factor is confirmed. Accounts an identity provider vouches for
    // rely on the provider's own second factor.
    let enrolment_only = s.enrolment_only || (user.oidc_issuer.is_none() && needs_second_factor(user) && !user.totp_confirmed);
    let principal = if enrolment_only {
        Principal {
            id: format!("person:{}", user.user_id),
            name: user.username.clone(),
            kind: Kind::Person { user_id: user.user_id.clone(), roles: Vec::new() },
            institution: user.institution.clone(),
            actions: Actions::NONE,
            reach: Reach::Granted,
        }
    } else {
        principal_of(user)
    };
    SessionInfo {
        session_id: s.session_id.clone(),
        principal,
        user: UserInfo::of(user, now),
        enrolment_only,
        absolute_expires_ms: s.absolute_expires_ms,
        token_digest: s.token_digest.clone(),
    }
}

impl SessionInfo {
    /// The digest of the session's token (to keep this session when others end).
    pub(crate) fn token_digest(&self) -> &str {
        &self.token_digest
    }
}
