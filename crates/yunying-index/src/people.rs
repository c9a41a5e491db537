//! People: accounts (local, or linked to an OpenID Connect identity), their
//! browser sessions, and sign-ins waiting for an identity provider.
//!
//! The rules (password policy, lockout limits, the second factor, who may
//! give which role) live in `yunying-access`; this module stores and finds
//! rows. It holds an Argon2id hash of each password and SHA-256 digests of
//! session tokens and OIDC `state` values, never the secrets themselves.
//!
//! Lockout is counted here so that every node agrees: a sign-in takes its
//! place in the account's count in one conditional statement *before* the
//! password is compared (the row lock serialises it on PostgreSQL, the
//! write transaction on SQLite), so however many guesses arrive at once, no
//! more than the limit are ever compared in a window.

use sqlx::Row;
use sqlx::any::AnyRow;

use crate::{Index, Result};

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserRow {
    pub user_id: String,
    pub username: String,
    pub display_name: String,
    /// Code of the institution the person works for; `None`: the platform.
    pub institution: Option<String>,
    /// PHC string (`$argon2id$…`); `None`: no local password (OIDC only).
    pub password_hash: Option<String>,
    /// Base32 TOTP secret, pending until `totp_confirmed`.
    pub totp_secret: Option<String>,
    pub totp_confirmed: bool,
    /// The last TOTP time step accepted (a code is good once).
    pub totp_last_step: i64,
    /// Comma-separated role names.
    pub roles: String,
    pub disabled: bool,
    /// Sign-ins counted in the current window (held ones included).
    pub failed_logins: i64,
    /// When the current window began.
    pub failed_since_ms: i64,
    pub locked_until_ms: Option<i64>,
    pub oidc_issuer: Option<String>,
    pub oidc_subject: Option<String>,
    pub created_ms: i64,
    pub created_by: String,
    pub password_changed_ms: Option<i64>,
}

/// A browser session as stored: the digest of its token, never the token.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionRow {
    /// Hex SHA-256 of the cookie's token.
    pub token_digest: String,
    /// Public name of the session (the admin API lists and ends sessions by it).
    pub session_id: String,
    pub user_id: String,
    pub created_ms: i64,
    pub last_seen_ms: i64,
    pub idle_expires_ms: i64,
    pub absolute_expires_ms: i64,
    pub client: String,
    pub user_agent: String,
    /// An administrator without a confirmed second factor: the session may
    /// enrol one and do nothing else.
    pub enrolment_only: bool,
    pub revoked_ms: Option<i64>,
}

/// A browser sign-in sent to an identity provider, waiting for its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcLogin {
    /// Hex SHA-256 of the `state` parameter.
    pub state_digest: String,
    pub provider: String,
    pub nonce: String,
    /// PKCE code verifier.
    pub verifier: String,
    pub created_ms: i64,
}

const USER_COLUMNS: &str = "user_id, username, display_name, institution, password_hash, totp_secret, totp_confirmed, totp_last_step, roles, \
     disabled, failed_logins, failed_since_ms, locked_until_ms, oidc_issuer, oidc_subject, created_ms, created_by, password_changed_ms";

const SESSION_COLUMNS: &str = "token_digest, session_id, user_id, created_ms, last_seen_ms, idle_expires_ms, absolute_expires_ms, client, \
     user_agent, enrolment_only, revoked_ms";

/// Sessions that ended more than this long ago are deleted.
const KEEP_ENDED_SESSIONS_MS: i64 = 24 * 3600 * 1000;

impl Index {
    /// Store a new account; false when its username (or OIDC identity) is taken.
    pub async fn insert_user(&self, u: &UserRow) -> Result<bool> {
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
             ON CONFLICT DO NOTHING"
        )))
        .bind(&u.user_id)
        .bind(&u.username)
        .bind(&u.display_name)
        .bind(&u.institution)
        .bind(&u.password_hash)
        .bind(&u.totp_secret)
        .bind(i64::from(u.totp_confirmed))
        .bind(u.totp_last_step)
        .bind(&u.roles)
        .bind(i64::from(u.disabled))
        .bind(u.failed_logins)
        .bind(u.failed_since_ms)
        .bind(u.locked_until_ms)
        .bind(&u.oidc_issuer)
        .bind(&u.oidc_subject)
        .bind(u.created_ms)
        .bind(&u.created_by)
        .bind(u.password_changed_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn user_where(&self, condition: &str, a: &str, b: Option<&str>) -> Result<Option<UserRow>> {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE {condition}"))).bind(a);
        if let Some(b) = b {
            q = q.bind(b);
        }
        q.fetch_optional(&self.pool).await?.as_ref().map(user_of).transpose()
    }

    pub async fn user(&self, user_id: &str) -> Result<Option<UserRow>> {
        self.user_where("user_id = $1", user_id, None).await
    }

    pub async fn user_by_name(&self, username: &str) -> Result<Option<UserRow>> {
        self.user_where("username = $1", username, None).await
    }

    /// The account linked to this identity provider's subject.
    pub async fn user_by_oidc(&self, issuer: &str, subject: &str) -> Result<Option<UserRow>> {
        self.user_where("oidc_issuer = $1 AND oidc_subject = $2", issuer, Some(subject)).await
    }

    /// Every account, or those of one institution, by username.
    pub async fn users(&self, institution: Option<&str>) -> Result<Vec<UserRow>> {
        let rows = match institution {
            Some(code) => {
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users WHERE institution = $1 ORDER BY username")))
                    .bind(code)
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {USER_COLUMNS} FROM users ORDER BY username")))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(user_of).collect()
    }

    /// Set an account's roles (comma-separated names); false: no such account.
    pub async fn set_user_roles(&self, user_id: &str, roles: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE users SET roles = $2 WHERE user_id = $1").bind(user_id).bind(roles).execute(&self.pool).await?;
        Ok(done.rows_affected() == 1)
    }

    /// What an identity provider says of a linked account, at each sign-in:
    /// `None` leaves a value as it is.
    pub async fn refresh_user(
        &self,
        user_id: &str,
        display_name: &str,
        institution: Option<Option<&str>>,
        roles: Option<&str>,
    ) -> Result<()> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        sqlx::query("UPDATE users SET display_name = $2 WHERE user_id = $1").bind(user_id).bind(display_name).execute(&mut *tx).await?;
        if let Some(institution) = institution {
            sqlx::query("UPDATE users SET institution = $2 WHERE user_id = $1").bind(user_id).bind(institution).execute(&mut *tx).await?;
        }
        if let Some(roles) = roles {
            sqlx::query("UPDATE users SET roles = $2 WHERE user_id = $1").bind(user_id).bind(roles).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Disable or enable an account; disabling also ends its sessions (in
    /// the same transaction). False: no such account.
    pub async fn set_user_disabled(&self, user_id: &str, disabled: bool, now_ms: i64) -> Result<bool> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        let done = sqlx::query("UPDATE users SET disabled = $2 WHERE user_id = $1")
            .bind(user_id)
            .bind(i64::from(disabled))
            .execute(&mut *tx)
            .await?;
        if disabled {
            sqlx::query("UPDATE sessions SET revoked_ms = $2 WHERE user_id = $1 AND revoked_ms IS NULL")
                .bind(user_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Clear an account's failures and lock.
    pub async fn unlock_user(&self, user_id: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE users SET failed_logins = 0, failed_since_ms = 0, locked_until_ms = NULL WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Replace an account's password hash; its sessions end (in the same
    /// transaction) unless `keep_session` names one to keep.
    pub async fn set_password(&self, user_id: &str, hash: &str, now_ms: i64, keep_session: Option<&str>) -> Result<bool> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        let done = sqlx::query("UPDATE users SET password_hash = $2, password_changed_ms = $3 WHERE user_id = $1")
            .bind(user_id)
            .bind(hash)
            .bind(now_ms)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE sessions SET revoked_ms = $2 WHERE user_id = $1 AND revoked_ms IS NULL AND token_digest <> $3")
            .bind(user_id)
            .bind(now_ms)
            .bind(keep_session.unwrap_or(""))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(done.rows_affected() == 1)
    }

    /// Store a new, unconfirmed TOTP secret; false when one is confirmed
    /// already (it must be reset first).
    pub async fn set_pending_totp(&self, user_id: &str, secret: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE users SET totp_secret = $2, totp_last_step = 0 WHERE user_id = $1 AND totp_confirmed = 0")
            .bind(user_id)
            .bind(secret)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Confirm the pending secret with a code of time step `step`.
    pub async fn confirm_totp(&self, user_id: &str, secret: &str, step: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE users SET totp_confirmed = 1, totp_last_step = $3 WHERE user_id = $1 AND totp_secret = $2 AND totp_confirmed = 0",
        )
        .bind(user_id)
        .bind(secret)
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Spend a TOTP time step: false when it (or a later one) was used, so
    /// a code is good once even if two requests carry it at once.
    pub async fn use_totp_step(&self, user_id: &str, step: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE users SET totp_last_step = $2 WHERE user_id = $1 AND totp_last_step < $2")
            .bind(user_id)
            .bind(step)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Forget an account's second factor (it enrols again).
    pub async fn reset_totp(&self, user_id: &str) -> Result<bool> {
        let done = sqlx::query("UPDATE users SET totp_secret = NULL, totp_confirmed = 0, totp_last_step = 0 WHERE user_id = $1")
            .bind(user_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Count a sign-in on an account before its password is compared: false
    /// (nothing counted) when the account is locked or `limit` sign-ins are
    /// counted in the window that began after `window_start_ms`. A lock that
    /// has run out, or a window that has passed, starts a new count.
    pub async fn reserve_login(&self, user_id: &str, now_ms: i64, window_start_ms: i64, limit: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE users SET
                failed_logins = CASE WHEN failed_since_ms < $3 OR locked_until_ms <= $2 THEN 1 ELSE failed_logins + 1 END,
                failed_since_ms = CASE WHEN failed_since_ms < $3 OR locked_until_ms <= $2 THEN $2 ELSE failed_since_ms END,
                locked_until_ms = CASE WHEN locked_until_ms <= $2 THEN NULL ELSE locked_until_ms END
             WHERE user_id = $1 AND (locked_until_ms IS NULL OR locked_until_ms <= $2)
               AND (failed_since_ms < $3 OR locked_until_ms <= $2 OR failed_logins < $4)",
        )
        .bind(user_id)
        .bind(now_ms)
        .bind(window_start_ms)
        .bind(limit)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A counted sign-in was wrong: it stays counted, and at `limit` the
    /// account locks until `lock_until_ms`. True when this call locked it.
    pub async fn login_failed(&self, user_id: &str, limit: i64, lock_until_ms: i64) -> Result<bool> {
        let done =
            sqlx::query("UPDATE users SET locked_until_ms = $3 WHERE user_id = $1 AND failed_logins >= $2 AND locked_until_ms IS NULL")
                .bind(user_id)
                .bind(limit)
                .bind(lock_until_ms)
                .execute(&self.pool)
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A counted sign-in was right: unless the account locked meanwhile,
    /// its count starts again. False when it is locked.
    pub async fn login_succeeded(&self, user_id: &str, now_ms: i64) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE users SET failed_logins = 0, failed_since_ms = 0
             WHERE user_id = $1 AND (locked_until_ms IS NULL OR locked_until_ms <= $2)",
        )
        .bind(user_id)
        .bind(now_ms)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Store a new session (and drop sessions that ended a day ago).
    pub async fn insert_session(&self, s: &SessionRow) -> Result<()> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        let stale = s.created_ms - KEEP_ENDED_SESSIONS_MS;
        sqlx::query("DELETE FROM sessions WHERE absolute_expires_ms < $1 OR idle_expires_ms < $1 OR revoked_ms < $1")
            .bind(stale)
            .execute(&mut *tx)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
        )))
        .bind(&s.token_digest)
        .bind(&s.session_id)
        .bind(&s.user_id)
        .bind(s.created_ms)
        .bind(s.last_seen_ms)
        .bind(s.idle_expires_ms)
        .bind(s.absolute_expires_ms)
        .bind(&s.client)
        .bind(&s.user_agent)
        .bind(i64::from(s.enrolment_only))
        .bind(s.revoked_ms)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// A session by its token's digest, ended or not.
    pub async fn session(&self, token_digest: &str) -> Result<Option<SessionRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE token_digest = $1")))
            .bind(token_digest)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session_of).transpose()
    }

    /// Note a session's use: it stays open until `idle_expires_ms`.
    pub async fn touch_session(&self, token_digest: &str, now_ms: i64, idle_expires_ms: i64) -> Result<()> {
        sqlx::query("UPDATE sessions SET last_seen_ms = $2, idle_expires_ms = $3 WHERE token_digest = $1 AND revoked_ms IS NULL")
            .bind(token_digest)
            .bind(now_ms)
            .bind(idle_expires_ms)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// End a session by its token's digest; false if it was not open.
    pub async fn revoke_session(&self, token_digest: &str, now_ms: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE sessions SET revoked_ms = $2 WHERE token_digest = $1 AND revoked_ms IS NULL")
            .bind(token_digest)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// End a session by its public id; false if it was not open.
    pub async fn revoke_session_by_id(&self, session_id: &str, now_ms: i64) -> Result<bool> {
        let done = sqlx::query("UPDATE sessions SET revoked_ms = $2 WHERE session_id = $1 AND revoked_ms IS NULL")
            .bind(session_id)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// A session by its public id.
    pub async fn session_by_id(&self, session_id: &str) -> Result<Option<SessionRow>> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE session_id = $1")))
            .bind(session_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(session_of).transpose()
    }

    /// End every open session of an account; how many were open.
    pub async fn revoke_user_sessions(&self, user_id: &str, now_ms: i64) -> Result<u64> {
        let done = sqlx::query("UPDATE sessions SET revoked_ms = $2 WHERE user_id = $1 AND revoked_ms IS NULL")
            .bind(user_id)
            .bind(now_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// Sessions open at `now_ms`, newest first, at most `limit`.
    pub async fn open_sessions(&self, now_ms: i64, limit: i64) -> Result<Vec<SessionRow>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SESSION_COLUMNS} FROM sessions
             WHERE revoked_ms IS NULL AND idle_expires_ms > $1 AND absolute_expires_ms > $1
             ORDER BY created_ms DESC, session_id LIMIT $2"
        )))
        .bind(now_ms)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(session_of).collect()
    }

    /// Remember a sign-in sent to an identity provider, after dropping those
    /// begun before `expired_before_ms`; false (nothing stored) when
    /// `max_pending` are waiting already.
    pub async fn insert_oidc_login(&self, login: &OidcLogin, expired_before_ms: i64, max_pending: i64) -> Result<bool> {
        let mut tx = self.dialect.begin_write(&self.pool).await?;
        sqlx::query("DELETE FROM oidc_logins WHERE created_ms < $1").bind(expired_before_ms).execute(&mut *tx).await?;
        let waiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM oidc_logins").fetch_one(&mut *tx).await?;
        if waiting >= max_pending {
            tx.commit().await?;
            return Ok(false);
        }
        sqlx::query("INSERT INTO oidc_logins (state_digest, provider, nonce, verifier, created_ms) VALUES ($1, $2, $3, $4, $5)")
            .bind(&login.state_digest)
            .bind(&login.provider)
            .bind(&login.nonce)
            .bind(&login.verifier)
            .bind(login.created_ms)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Take a waiting sign-in by its state's digest: it is deleted, so a
    /// `state` answers once.
    pub async fn take_oidc_login(&self, state_digest: &str) -> Result<Option<OidcLogin>> {
        let row: Option<(String, String, String, String, i64)> =
            sqlx::query_as("DELETE FROM oidc_logins WHERE state_digest = $1 RETURNING state_digest, provider, nonce, verifier, created_ms")
                .bind(state_digest)
                .fetch_optional(&self.pool)
                .await?;
        Ok(row.map(|(state_digest, provider, nonce, verifier, created_ms)| OidcLogin {
            state_digest,
            provider,
            nonce,
            verifier,
            created_ms,
        }))
    }
}

fn user_of(r: &AnyRow) -> Result<UserRow> {
    Ok(UserRow {
        user_id: r.try_get(0)?,
        username: r.try_get(1)?,
        display_name: r.try_get(2)?,
        institution: r.try_get(3)?,
        password_hash: r.try_get(4)?,
        totp_secret: r.try_get(5)?,
        totp_confirmed: r.try_get::<i64, _>(6)? != 0,
        totp_last_step: r.try_get(7)?,
        roles: r.try_get(8)?,
        disabled: r.try_get::<i64, _>(9)? != 0,
        failed_logins: r.try_get(10)?,
        failed_since_ms: r.try_get(11)?,
        locked_until_ms: r.try_get(12)?,
        oidc_issuer: r.try_get(13)?,
        oidc_subject: r.try_get(14)?,
        created_ms: r.try_get(15)?,
        created_by: r.try_get(16)?,
        password_changed_ms: r.try_get(17)?,
    })
}

fn session_of(r: &AnyRow) -> Result<SessionRow> {
    Ok(SessionRow {
        token_digest: r.try_get(0)?,
        session_id: r.try_get(1)?,
        user_id: r.try_get(2)?,
        created_ms: r.try_get(3)?,
        last_seen_ms: r.try_get(4)?,
        idle_expires_ms: r.try_get(5)?,
        absolute_expires_ms: r.try_get(6)?,
        client: r.try_get(7)?,
        user_agent: r.try_get(8)?,
        enrolment_only: r.try_get::<i64, _>(9)? != 0,
        revoked_ms: r.try_get(10)?,
    })
}
