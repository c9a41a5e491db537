//! Retention and deletion: what is kept how long, what may never go, and
//! the one audited way anything goes.
//!
//! Yunying never deletes quietly. Every deletion is a request (studies or
//! series, with a reason) by one person and an approval by another
//! (`deletion.rs`); a request not decided within `request_ttl_days`
//! expires. Requests also come from a retention run over the policy table
//! (`policy.rs`, origin `policy`: studies past their keep period) and from
//! IOCM rejection notes (`iocm.rs`, origin `iocm`: the rejected instances
//! are hidden at once, their deletion still waits for approval). Legal
//! holds (`holds.rs`) on a patient or a study stop everything: a held
//! study is never requested, approved into deletion or purged. The purge
//! (`purge.rs`) executes approved requests, one node at a time under a
//! lease, and deletes the objects their rows held.
//!
//! Who may: `ManageRetention` (policies, classes, holds), `RequestDeletion`
//! and `ApproveDeletion` (system administrators; institution
//! administrators within their institution). The audit administrator may
//! only read. Every step is an access event ([`Access::record`]).
//!
//! Architecture invariant: no HTTP and no DICOM networking; faces map
//! [`Denied`] to their statuses.

mod deletion;
mod holds;
mod iocm;
pub mod policy;
mod purge;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use yunying_access::{Access, Action, Denied, Principal};
use yunying_archive::Archive;

pub use deletion::NewDeletion;
pub use holds::HoldTarget;
pub use policy::{Defaults, PatientClass, Policies};
pub use purge::{PurgeReport, ScanReport};
pub use yunying_index::{DeletionRequestRow, HoldRow, PolicyRow};

/// Settings (`[retention]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    /// Years kept when no policy row applies.
    pub outpatient_years: i64,
    pub inpatient_years: i64,
    pub unknown_years: i64,
    /// A deletion request not decided within this many days expires.
    pub request_ttl_days: i64,
    /// How often `serve` runs the purge (expire requests, execute approved
    /// ones, delete queued objects); 0: never (`yunying purge` only).
    pub purge_interval_secs: u64,
    /// How often `serve` runs the retention scan (requests for expired
    /// studies, which still need approval); 0: never.
    pub scan_interval_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        let d = Defaults::default();
        RetentionConfig {
            outpatient_years: d.outpatient_years,
            inpatient_years: d.inpatient_years,
            unknown_years: d.unknown_years,
            request_ttl_days: 7,
            purge_interval_secs: 60,
            scan_interval_secs: 86_400,
        }
    }
}

impl RetentionConfig {
    pub fn defaults(&self) -> Defaults {
        Defaults { outpatient_years: self.outpatient_years, inpatient_years: self.inpatient_years, unknown_years: self.unknown_years }
    }

    /// Refuse settings that cannot be meant.
    pub fn validate(&self) -> Result<(), String> {
        for (name, years) in [("outpatient", self.outpatient_years), ("inpatient", self.inpatient_years), ("unknown", self.unknown_years)] {
            if !(1..=MAX_YEARS).contains(&years) {
                return Err(format!("retention.{name}_years must be 1 to {MAX_YEARS}"));
            }
        }
        if !(1..=90).contains(&self.request_ttl_days) {
            return Err("retention.request_ttl_days must be 1 to 90".into());
        }
        Ok(())
    }
}

/// Longest keep period a policy may set.
pub const MAX_YEARS: i64 = 100;
/// Longest reason or note, in characters.
pub const MAX_REASON_CHARS: usize = 1000;
/// Most items one list answers.
pub const MAX_LIST: i64 = 500;

/// The retention service: what the HTTP face, the CLI and `serve` call.
#[derive(Clone)]
pub struct Retention {
    archive: Archive,
    access: Access,
    config: Arc<RetentionConfig>,
}

impl Retention {
    pub fn new(archive: Archive, access: Access, config: RetentionConfig) -> Retention {
        Retention { archive, access, config: Arc::new(config) }
    }

    pub fn config(&self) -> &RetentionConfig {
        &self.config
    }

    /// Install IOCM rejection on the archive: a rejection note stored any
    /// way hides what it names and asks for its deletion.
    pub fn handle_rejections(&self) {
        self.archive.set_rejection_handler(Arc::new(self.clone()));
    }

    fn index(&self) -> &yunying_index::Index {
        self.archive.index()
    }

    /// The policy table with the configured defaults.
    pub async fn policies(&self) -> Result<Policies, Denied> {
        Ok(Policies::new(self.index().retention_policies().await?, self.config.defaults()))
    }
}

/// Refuse unless `p` may do one of `actions`.
fn require_any(access: &Access, p: &Principal, actions: &[Action]) -> Result<(), Denied> {
    if actions.iter().any(|a| p.may(*a)) {
        return Ok(());
    }
    access.require(p, actions[0])
}

/// An institution's principal acts only on its institution's patients;
/// a platform principal (no institution) on every institution's.
fn within(p: &Principal, issuer: &str) -> Result<(), Denied> {
    match &p.institution {
        Some(own) if own != issuer => Err(Denied::Forbidden(format!("{} acts only within institution {own}", p.name))),
        _ => Ok(()),
    }
}

/// A reason or note: trimmed, at most [`MAX_REASON_CHARS`].
fn bounded_text(what: &str, text: &str, required: bool) -> Result<String, Denied> {
    let text = text.trim();
    if required && text.is_empty() {
        return Err(Denied::Invalid(format!("a {what} is required")));
    }
    if text.chars().count() > MAX_REASON_CHARS {
        return Err(Denied::Invalid(format!("a {what} is at most {MAX_REASON_CHARS} characters")));
    }
    Ok(text.to_string())
}

/// A UID or code from a caller: bounded and plain.
fn bounded_id(what: &str, text: &str) -> Result<String, Denied> {
    let t = text.trim();
    if t.is_empty() || t.len() > 64 || !t.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Denied::Invalid(format!("not a valid {what}")));
    }
    Ok(t.to_string())
}
