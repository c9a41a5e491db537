//! Managing accounts: creating them, giving roles, disabling, unlocking,
//! resetting passwords and second factors.
//!
//! Who may do what: account management (`Action::ManageAccounts`) is the
//! system administrator's for every account and an institution
//! administrator's for the clinical accounts of their institution; roles are
//! the security administrator's to give (an institution administrator's for
//! clinical roles in their institution), never one's own
//! ([`crate::roles::may_assign`]). `by = None` is the server's own command
//! line, the platform's bootstrap (how the first security administrator
//! comes to exist), recorded as `cli`.

use yunying_index::UserRow;

use super::{UserInfo, may_manage, password, roles_of, roles_text};
use crate::roles::{check_role_set, may_assign};
use crate::{Access, Action, Denied, Principal, Role, now_ms, random_id};

/// An account someone asks to create.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub institution: Option<String>,
    pub roles: Vec<Role>,
    /// `None`: a password is generated and returned, to be handed over once.
    pub password: Option<String>,
}

/// Usernames: 1 to 64 of letters, digits and `._@-`.
fn check_username(name: &str) -> Result<(), Denied> {
    if name.is_empty() || name.len() > 64 || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._@-".contains(&b)) {
        return Err(Denied::Invalid("a username is 1 to 64 letters, digits or . _ @ -".into()));
    }
    Ok(())
}

impl Access {
    /// Create a local account. Returns it and the password when one was
    /// generated (shown once, never stored or logged).
    pub async fn create_user(&self, by: Option<&Principal>, new: NewUser, client: &str) -> Result<(UserInfo, Option<String>), Denied> {
        let username = new.username.trim().to_string();
        check_username(&username)?;
        let institution = new.institution.map(|i| i.trim().to_string()).filter(|i| !i.is_empty());
        if let Some(by) = by {
            may_manage(by, institution.as_deref(), &[])?;
            if !new.roles.is_empty() {
                may_assign(by.roles(), by.institution.as_deref(), false, institution.as_deref(), &new.roles).map_err(Denied::Forbidden)?;
            }
        } else {
            check_role_set(&new.roles).map_err(Denied::Invalid)?;
        }
        let generated = new.password.is_none().then(password::generate);
        let chosen = new.password.as_deref().or(generated.as_deref()).unwrap_or_default();
        self.config().accounts.password.check(&username, chosen)?;
        let now = now_ms();
        let row = UserRow {
            user_id: format!("u{}", random_id(8)),
            username: username.clone(),
            display_name: new.display_name.trim().chars().take(128).collect(),
            institution,
            password_hash: Some(password::hash(chosen).await?),
            roles: roles_text(&new.roles),
            created_ms: now,
            created_by: Self::actor(by),
            password_changed_ms: Some(now),
            ..Default::default()
        };
        if !self.index().insert_user(&row).await? {
            return Err(Denied::Invalid(format!("the username {username} is taken / 用户名已存在")));
        }
        let detail = format!("account {} institution {} roles {}", row.user_id, row.institution.as_deref().unwrap_or("-"), row.roles);
        self.record(&row.created_by, "account-created", &[], "", client, "ok", &detail).await;
        Ok((UserInfo::of(&row, now), generated))
    }

    /// The accounts `by` may see: every one for a system or security
    /// administrator, their institution's for an institution administrator.
    pub async fn users(&self, by: Option<&Principal>) -> Result<Vec<UserInfo>, Denied> {
        let filter = match by {
            None => None,
            Some(p) if p.roles().contains(&Role::SystemAdmin) || p.may(Action::AssignRoles) => None,
            Some(p) => {
                may_manage(p, p.institution.as_deref(), &[])?;
                Some(p.institution.clone().unwrap_or_default())
            }
        };
        let now = now_ms();
        Ok(self.index().users(filter.as_deref()).await?.iter().map(|u| UserInfo::of(u, now)).collect())
    }

    /// An account by username (the command line).
    pub async fn user_named(&self, username: &str) -> Result<UserInfo, Denied> {
        let u = self.index().user_by_name(username).await?.ok_or_else(|| Denied::NotFound(format!("no account named {username}")))?;
        Ok(UserInfo::of(&u, now_ms()))
    }

    /// Set an account's roles. Takes effect on its next request.
    pub async fn set_roles(&self, by: Option<&Principal>, user_id: &str, roles: &[Role], client: &str) -> Result<UserInfo, Denied> {
        let target = self.account(user_id).await?;
        let actor = Self::actor(by);
        if let Some(by) = by {
            let same = by.user_id() == Some(user_id);
            let old = roles_of(&target.roles);
            let check = may_assign(by.roles(), by.institution.as_deref(), same, target.institution.as_deref(), roles).and_then(|_| {
                // Taking a role away is giving one too: an institution
                // administrator may not touch an account holding others.
                match old.iter().find(|r| !r.is_clinical()) {
                    Some(r) if !by.roles().contains(&Role::SecurityAdmin) => {
                        Err(format!("an institution administrator may not change the roles of an account holding {r}"))
                    }
                    _ => Ok(()),
                }
            });
            if let Err(why) = check {
                self.record(&actor, "roles-changed", &[], "", client, "denied", &format!("account {user_id}: {why}")).await;
                return Err(Denied::Forbidden(why));
            }
        } else {
            check_role_set(roles).map_err(Denied::Invalid)?;
        }
        let text = roles_text(roles);
        self.index().set_user_roles(user_id, &text).await?;
        let detail = format!(
            "account {user_id}: {} -> {}",
            if target.roles.is_empty() { "-" } else { &target.roles },
            if text.is_empty() { "-" } else { &text }
        );
        self.record(&actor, "roles-changed", &[], "", client, "ok", &detail).await;
        tracing::info!(actor, account = user_id, roles = %text, "roles changed");
        self.user_info(user_id).await
    }

    /// The account, once `by` is allowed to manage it.
    async fn managed(&self, by: Option<&Principal>, user_id: &str) -> Result<UserRow, Denied> {
        let target = self.account(user_id).await?;
        if let Some(by) = by {
            may_manage(by, target.institution.as_deref(), &roles_of(&target.roles))?;
        }
        Ok(target)
    }

    /// Disable an account (its sessions end at once) or enable it again.
    pub async fn set_disabled(&self, by: Option<&Principal>, user_id: &str, disabled: bool, client: &str) -> Result<UserInfo, Denied> {
        self.managed(by, user_id).await?;
        if disabled && by.and_then(Principal::user_id) == Some(user_id) {
            return Err(Denied::Forbidden("no one disables their own account".into()));
        }
        self.index().set_user_disabled(user_id, disabled, now_ms()).await?;
        let event = if disabled { "account-disabled" } else { "account-enabled" };
        self.record(&Self::actor(by), event, &[], "", client, "ok", &format!("account {user_id}")).await;
        self.user_info(user_id).await
    }

    /// Clear an account's failed sign-ins and lock.
    pub async fn unlock(&self, by: Option<&Principal>, user_id: &str, client: &str) -> Result<UserInfo, Denied> {
        self.managed(by, user_id).await?;
        self.index().unlock_user(user_id).await?;
        self.record(&Self::actor(by), "account-unlocked", &[], "", client, "ok", &format!("account {user_id}")).await;
        self.user_info(user_id).await
    }

    /// Set a new password (generated when `None`, and returned to be handed
    /// over once); the account's sessions end and its lock is cleared.
    pub async fn reset_password(
        &self,
        by: Option<&Principal>,
        user_id: &str,
        new: Option<&str>,
        client: &str,
    ) -> Result<Option<String>, Denied> {
        let target = self.managed(by, user_id).await?;
        if target.oidc_issuer.is_some() && target.password_hash.is_none() {
            return Err(Denied::Invalid("this account signs in through its identity provider: it has no password here".into()));
        }
        let generated = new.is_none().then(password::generate);
        let chosen = new.or(generated.as_deref()).unwrap_or_default();
        self.config().accounts.password.check(&target.username, chosen)?;
        self.index().set_password(user_id, &password::hash(chosen).await?, now_ms(), None).await?;
        self.index().unlock_user(user_id).await?;
        self.record(&Self::actor(by), "password-reset", &[], "", client, "ok", &format!("account {user_id}")).await;
        Ok(generated)
    }

    /// Forget an account's second factor (it enrols again at its next
    /// sign-in); its sessions end.
    pub async fn reset_totp(&self, by: Option<&Principal>, user_id: &str, client: &str) -> Result<UserInfo, Denied> {
        self.managed(by, user_id).await?;
        self.index().reset_totp(user_id).await?;
        self.index().revoke_user_sessions(user_id, now_ms()).await?;
        self.record(&Self::actor(by), "totp-reset", &[], "", client, "ok", &format!("account {user_id}")).await;
        self.user_info(user_id).await
    }

    /// A person changes their own password, proving the current one; their
    /// other sessions end.
    pub async fn change_password(&self, session: &super::SessionInfo, current: &str, new: &str, client: &str) -> Result<(), Denied> {
        let user = self.account(&session.user.user_id).await?;
        if !password::verify(current, user.password_hash.as_deref()).await {
            self.record(&session.principal.id, "password-changed", &[], "", client, "denied", "wrong current password").await;
            return Err(Denied::Forbidden("the current password is wrong / 当前密码错误".into()));
        }
        self.config().accounts.password.check(&user.username, new)?;
        self.index().set_password(&user.user_id, &password::hash(new).await?, now_ms(), Some(session.token_digest())).await?;
        self.record(&session.principal.id, "password-changed", &[], "", client, "ok", "other sessions ended").await;
        Ok(())
    }
}
