//! `yunying user …`: accounts from the server's own command line.
//!
//! Whoever can run the binary on the server with its configuration holds
//! the platform already (the database and the store are theirs), so the
//! command line is the bootstrap: it creates the first security, system
//! and audit administrators, and acts with no role check (the role set
//! rules still hold). Every change is recorded as actor `cli`.

use std::io::Read;

use anyhow::Context;
use clap::Subcommand;
use yunying_access::Access;
use yunying_access::people::{NewUser, UserInfo, parse_roles};

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a local account; prints a generated password unless one is
    /// given on standard input.
    Add {
        username: String,
        /// Institution code (the issuer of its patients' IDs); none: the platform.
        #[arg(long)]
        institution: Option<String>,
        /// Comma-separated roles: radiologist, referring, technologist,
        /// institution-admin, system-admin, security-admin, audit-admin.
        #[arg(long, default_value = "")]
        roles: String,
        #[arg(long, default_value = "")]
        display_name: String,
        /// Read the password from standard input (first line) instead of
        /// generating one.
        #[arg(long)]
        password_stdin: bool,
    },
    /// List the accounts.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Set an account's roles (comma-separated; "" for none).
    Roles { username: String, roles: String },
    /// Clear an account's failed sign-ins and lock.
    Unlock { username: String },
    /// Disable an account; its sessions end at once.
    Disable { username: String },
    /// Enable a disabled account.
    Enable { username: String },
    /// Set a new password (generated and printed, or from standard input);
    /// the account's sessions end.
    ResetPassword {
        username: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Forget the account's second factor: it enrols again at next sign-in.
    ResetTotp { username: String },
}

fn stdin_password() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).context("reading the password from standard input")?;
    let line = text.lines().next().unwrap_or("").to_string();
    anyhow::ensure!(!line.is_empty(), "no password on standard input");
    Ok(line)
}

fn show(u: &UserInfo) -> String {
    let mut state = Vec::new();
    if u.disabled {
        state.push("disabled");
    }
    if u.locked_until_ms.is_some() {
        state.push("locked");
    }
    if u.totp {
        state.push("totp");
    }
    if u.oidc_issuer.is_some() {
        state.push("oidc");
    }
    format!("{:<24}  {:<12}  {:<40}  {}", u.username, u.institution.as_deref().unwrap_or("-"), u.roles.join(","), state.join(","))
}

pub async fn run(access: &Access, command: UserCommand) -> anyhow::Result<()> {
    let id_of = |name: String| async move { access.user_named(&name).await.map(|u| u.user_id).map_err(anyhow::Error::msg) };
    match command {
        UserCommand::Add { username, institution, roles, display_name, password_stdin } => {
            let roles = parse_roles(&roles).map_err(anyhow::Error::msg)?;
            let password = if password_stdin { Some(stdin_password()?) } else { None };
            let new = NewUser { username, display_name, institution, roles, password };
            let (user, generated) = access.create_user(None, new, "cli").await.map_err(anyhow::Error::msg)?;
            println!("created {}", show(&user));
            if let Some(p) = generated {
                println!("password: {p}");
                println!("(shown once: hand it over in person; administrators set up a second factor at first sign-in)");
            }
        }
        UserCommand::List { json } => {
            let users = access.users(None).await.map_err(anyhow::Error::msg)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else if users.is_empty() {
                println!("no accounts (create the first administrators with `yunying user add NAME --roles security-admin`)");
            } else {
                println!("{:<24}  {:<12}  {:<40}  state", "username", "institution", "roles");
                for u in &users {
                    println!("{}", show(u));
                }
            }
        }
        UserCommand::Roles { username, roles } => {
            let roles = parse_roles(&roles).map_err(anyhow::Error::msg)?;
            let id = id_of(username).await?;
            let user = access.set_roles(None, &id, &roles, "cli").await.map_err(anyhow::Error::msg)?;
            println!("{}", show(&user));
        }
        UserCommand::Unlock { username } => {
            let user = access.unlock(None, &id_of(username).await?, "cli").await.map_err(anyhow::Error::msg)?;
            println!("unlocked {}", user.username);
        }
        UserCommand::Disable { username } => {
            let user = access.set_disabled(None, &id_of(username).await?, true, "cli").await.map_err(anyhow::Error::msg)?;
            println!("disabled {} (its sessions have ended)", user.username);
        }
        UserCommand::Enable { username } => {
            let user = access.set_disabled(None, &id_of(username).await?, false, "cli").await.map_err(anyhow::Error::msg)?;
            println!("enabled {}", user.username);
        }
        UserCommand::ResetPassword { username, password_stdin } => {
            let password = if password_stdin { Some(stdin_password()?) } else { None };
            let id = id_of(username.clone()).await?;
            let generated = access.reset_password(None, &id, password.as_deref(), "cli").await.map_err(anyhow::Error::msg)?;
            println!("new password set for {username} (its sessions have ended)");
            if let Some(p) = generated {
                println!("password: {p}");
            }
        }
        UserCommand::ResetTotp { username } => {
            let user = access.reset_totp(None, &id_of(username).await?, "cli").await.map_err(anyhow::Error::msg)?;
            println!("second factor of {} reset: it enrols again at the next sign-in", user.username);
        }
    }
    Ok(())
}
