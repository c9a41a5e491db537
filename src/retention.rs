//! `yunying retention|hold|deletion|purge`: retention from the server's
//! command line.
//!
//! Changes are made as a named account (`--by USERNAME`), with that
//! account's roles and institution, so the rules are the API's: the
//! requester of a deletion is a person, and a different person approves
//! it. Lists and the purge act as the platform (`cli`).

use anyhow::Context;
use clap::Subcommand;
use yunying_access::people::parse_roles;
use yunying_access::{Access, Action, Actions, Kind, Principal, Reach};
use yunying_retention::{HoldTarget, NewDeletion, Retention};

#[derive(Subcommand)]
pub enum RetentionCommand {
    /// The policy table: how long studies are kept.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Set a study's patient class (outpatient, inpatient, unknown).
    Class {
        study: String,
        class: String,
        #[arg(long)]
        by: String,
    },
    /// Ask for the deletion of every expired study not under legal hold
    /// (requests that a person must still approve).
    Scan {
        /// Only list the expired studies.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Keep studies of INSTITUTION (or `*`) and CLASS this many years.
    Set {
        institution: String,
        class: String,
        keep_years: i64,
        #[arg(long)]
        by: String,
    },
    /// Remove a row: the `*` row or the default applies again.
    Remove {
        institution: String,
        class: String,
        #[arg(long)]
        by: String,
    },
    /// The rows, and the configured defaults.
    List,
}

#[derive(Subcommand)]
pub enum HoldCommand {
    /// Put a legal hold on a study (`--study`) or a patient (`--issuer`
    /// and `--patient-id`).
    Set {
        #[arg(long)]
        study: Option<String>,
        #[arg(long)]
        issuer: Option<String>,
        #[arg(long)]
        patient_id: Option<String>,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        by: String,
    },
    /// Lift a hold.
    Lift {
        hold_id: String,
        #[arg(long)]
        by: String,
    },
    /// Holds in force (`--all`: lifted ones too).
    List {
        #[arg(long)]
        all: bool,
    },
}

#[derive(Subcommand)]
pub enum DeletionCommand {
    /// Ask for studies or series to be deleted.
    Request {
        #[arg(long = "study")]
        studies: Vec<String>,
        #[arg(long = "series")]
        series: Vec<String>,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        by: String,
    },
    /// Approve someone else's request (the purge then executes it).
    Approve {
        request_id: String,
        #[arg(long)]
        by: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Refuse a request: nothing it names is deleted.
    Refuse {
        request_id: String,
        #[arg(long)]
        by: String,
        #[arg(long, default_value = "")]
        note: String,
    },
    /// Requests, newest first.
    List {
        /// pending, approved, refused, expired, executed or blocked.
        #[arg(long)]
        state: Option<String>,
    },
}

/// The platform reading its own records.
fn cli() -> Principal {
    Principal {
        id: "cli".into(),
        name: "command line".into(),
        kind: Kind::Configured,
        institution: None,
        actions: Actions::of(&[Action::ReadAudit]),
        reach: Reach::All,
    }
}

/// The account named, as the principal its roles make it.
async fn person(access: &Access, username: &str) -> anyhow::Result<Principal> {
    let user = access.user_named(username).await.map_err(anyhow::Error::msg)?;
    anyhow::ensure!(!user.disabled, "account {username} is disabled");
    let roles = parse_roles(&user.roles.join(",")).map_err(anyhow::Error::msg)?;
    Ok(Principal::person(&user.user_id, &user.username, user.institution.as_deref(), roles))
}

fn print<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

pub async fn retention(r: &Retention, access: &Access, command: RetentionCommand) -> anyhow::Result<()> {
    let fail = anyhow::Error::msg;
    match command {
        RetentionCommand::Policy { command: PolicyCommand::Set { institution, class, keep_years, by } } => {
            print(&r.set_policy(&person(access, &by).await?, &institution, &class, keep_years, "cli").await.map_err(fail)?)
        }
        RetentionCommand::Policy { command: PolicyCommand::Remove { institution, class, by } } => {
            r.remove_policy(&person(access, &by).await?, &institution, &class, "cli").await.map_err(fail)?;
            println!("removed");
            Ok(())
        }
        RetentionCommand::Policy { command: PolicyCommand::List } => {
            let rows = r.policy_rows(&cli()).await.map_err(fail)?;
            print(&serde_json::json!({ "policies": rows, "defaults": r.config().defaults() }))
        }
        RetentionCommand::Class { study, class, by } => {
            r.set_class(&person(access, &by).await?, &study, &class, "cli").await.map_err(fail)?;
            println!("study {study} is {class}");
            Ok(())
        }
        RetentionCommand::Scan { dry_run } => print(&r.scan(&holder(), dry_run).await.map_err(fail)?),
    }
}

pub async fn hold(r: &Retention, access: &Access, command: HoldCommand) -> anyhow::Result<()> {
    let fail = anyhow::Error::msg;
    match command {
        HoldCommand::Set { study, issuer, patient_id, reason, by } => {
            let target = match (study, issuer, patient_id) {
                (Some(study_instance_uid), None, None) => HoldTarget::Study { study_instance_uid },
                (None, Some(issuer), Some(patient_id)) => HoldTarget::Patient { issuer, patient_id },
                _ => anyhow::bail!("name --study, or --issuer and --patient-id"),
            };
            print(&r.set_hold(&person(access, &by).await?, target, &reason, "cli").await.map_err(fail)?)
        }
        HoldCommand::Lift { hold_id, by } => print(&r.lift_hold(&person(access, &by).await?, &hold_id, "cli").await.map_err(fail)?),
        HoldCommand::List { all } => print(&r.holds(&cli(), !all).await.map_err(fail)?),
    }
}

pub async fn deletion(r: &Retention, access: &Access, command: DeletionCommand) -> anyhow::Result<()> {
    let fail = anyhow::Error::msg;
    match command {
        DeletionCommand::Request { studies, series, reason, by } => {
            let new = NewDeletion { studies, series, reason };
            print(&r.request_deletion(&person(access, &by).await?, new, "cli").await.map_err(fail)?)
        }
        DeletionCommand::Approve { request_id, by, note } => {
            print(&r.approve_deletion(&person(access, &by).await?, &request_id, &note, "cli").await.map_err(fail)?)
        }
        DeletionCommand::Refuse { request_id, by, note } => {
            print(&r.refuse_deletion(&person(access, &by).await?, &request_id, &note, "cli").await.map_err(fail)?)
        }
        DeletionCommand::List { state } => print(&r.deletion_requests(&cli(), state.as_deref()).await.map_err(fail)?),
    }
}

/// `yunying purge`: one run, here and now (waits for no interval).
pub async fn purge(r: &Retention, dry_run: bool) -> anyhow::Result<()> {
    let report = r.purge(&holder(), dry_run).await.map_err(anyhow::Error::msg).context("purge")?;
    anyhow::ensure!(!report.busy, "another node is purging (the retention-purge lease is held): try again later");
    print(&report)
}

/// This process, for the purge lease.
pub fn holder() -> String {
    format!("cli:{}", std::process::id())
}
