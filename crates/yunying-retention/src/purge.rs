//! The purge and the retention scan, cluster chores one node at a time
//! (the `retention-purge` lease of `leases.rs` in the index).
//!
//! A purge run: (1) deletes the objects the purge queue still holds (left
//! by a run that stopped, on any node); (2) expires undecided requests;
//! (3) executes each approved request in one index transaction (rows gone,
//! their object keys queued; a study under legal hold blocks its request
//! and changes nothing); (4) deletes the queued objects. A crash anywhere
//! leaves either nothing done or a queue the next run finishes: no row
//! ever names a missing object, and no queued object is forgotten.
//!
//! The scan pages through every study, computes its keep period and age
//! (`policy.rs`), and asks for the deletion of expired studies not under
//! hold and not already asked for: requests of origin `policy`, by
//! `system:retention`, which a person must still approve. Nothing is ever
//! purged by policy alone.

use std::time::Duration;

use serde::Serialize;
use yunying_access::{Denied, now_ms, random_id};
use yunying_index::{DeletionRequestRow, DeletionTarget, ExecuteOutcome};

use crate::Retention;
use crate::deletion::MAX_TARGETS;
use crate::policy::{Date, PatientClass, age_base, is_expired};

/// The lease only one node holds while it purges or scans.
const LEASE: &str = "retention-purge";
/// How long a lease is held before it must be renewed.
const LEASE_MS: i64 = 10 * 60 * 1000;
/// Keys deleted from the store per page of the queue.
const QUEUE_PAGE: i64 = 500;

/// What a purge run did (or, dry, would do).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PurgeReport {
    /// Another node holds the lease: this run did nothing.
    pub busy: bool,
    pub expired: Vec<String>,
    /// Requests executed (or, dry, approved and waiting), with their studies.
    pub executed: Vec<(String, Vec<String>)>,
    /// Requests a legal hold stopped.
    pub blocked: Vec<String>,
    pub objects_deleted: u64,
    /// Objects the store failed to delete (still queued: the next run tries again).
    pub objects_failed: u64,
}

/// What a retention scan found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanReport {
    pub busy: bool,
    pub studies_seen: u64,
    pub expired_studies: Vec<String>,
    pub held_skipped: u64,
    pub requests: Vec<String>,
}

impl Retention {
    /// Run the purge once (see the module docs). `holder` names this node
    /// for the lease; `dry_run` changes nothing and lists what would go.
    pub async fn purge(&self, holder: &str, dry_run: bool) -> Result<PurgeReport, Denied> {
        let mut report = PurgeReport::default();
        let now = now_ms();
        if !dry_run && !self.index().try_lease(LEASE, holder, now, now + LEASE_MS).await? {
            report.busy = true;
            return Ok(report);
        }
        if dry_run {
            for id in self.index().approved_deletions(crate::MAX_LIST).await? {
                if let Some(r) = self.index().deletion_request(&id).await? {
                    report.executed.push((id, crate::deletion::studies_of(&r)));
                }
            }
            return Ok(report);
        }
        let result = self.purge_held(&mut report, now).await;
        self.index().release_lease(LEASE, holder).await?;
        result.map(|()| report)
    }

    /// The purge, with the lease taken.
    async fn purge_held(&self, report: &mut PurgeReport, now: i64) -> Result<(), Denied> {
        self.drain(report).await?;
        report.expired = self.expire(now, "purge").await?;
        for id in self.index().approved_deletions(crate::MAX_LIST).await? {
            match self.index().execute_deletion(&id, now_ms()).await? {
                ExecuteOutcome::Executed { studies, objects } => {
                    let detail = format!("request {id}: {objects} objects queued for deletion");
                    self.access.record("system:purge", "study-deleted", &studies, "retention", "purge", "ok", &detail).await;
                    report.executed.push((id, studies));
                }
                ExecuteOutcome::Blocked { held } => {
                    let detail = format!("request {id}: under legal hold, nothing deleted");
                    self.access.record("system:purge", "deletion-blocked", &held, "retention", "purge", "refused", &detail).await;
                    report.blocked.push(id);
                }
                ExecuteOutcome::NotApproved => {}
            }
        }
        self.drain(report).await
    }

    /// Delete every queued object from the store, then its queue row.
    async fn drain(&self, report: &mut PurgeReport) -> Result<(), Denied> {
        let mut failed_keys = std::collections::HashSet::new();
        loop {
            let keys: Vec<String> = self
                .index()
                .purge_queue(QUEUE_PAGE + failed_keys.len() as i64)
                .await?
                .into_iter()
                .filter(|k| !failed_keys.contains(k))
                .collect();
            if keys.is_empty() {
                return Ok(());
            }
            for key in keys {
                let store = self.archive.store().clone();
                let k = key.clone();
                let deleted =
                    tokio::task::spawn_blocking(move || store.delete(&k)).await.map_err(|e| Denied::Unavailable(e.to_string()))?;
                match deleted {
                    Ok(()) => {
                        self.index().purged(&key).await?;
                        report.objects_deleted += 1;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "purge: object not deleted, kept in the queue");
                        report.objects_failed += 1;
                        failed_keys.insert(key);
                    }
                }
            }
        }
    }

    /// Run the retention scan once (see the module docs); `dry_run` only
    /// lists the expired studies.
    pub async fn scan(&self, holder: &str, dry_run: bool) -> Result<ScanReport, Denied> {
        let mut report = ScanReport::default();
        let now = now_ms();
        if !dry_run && !self.index().try_lease(LEASE, holder, now, now + LEASE_MS).await? {
            report.busy = true;
            return Ok(report);
        }
        let result = self.scan_held(&mut report, now, dry_run).await;
        if !dry_run {
            self.index().release_lease(LEASE, holder).await?;
        }
        result.map(|()| report)
    }

    /// The scan, with the lease taken (unless dry).
    async fn scan_held(&self, report: &mut ScanReport, now: i64, dry_run: bool) -> Result<(), Denied> {
        let policies = self.policies().await?;
        let today = Date::of_ms(now);
        // Expired studies per institution: one request each (chunked).
        let mut due: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        let mut after = 0;
        loop {
            let page = self.index().retention_candidates(after, 1000).await?;
            let Some(last) = page.last() else { break };
            after = last.pk;
            for study in page {
                report.studies_seen += 1;
                let keep = policies.keep_years(&study.issuer, PatientClass::of_study(&study.patient_class));
                let Some(base) = age_base(&study) else { continue };
                if !is_expired(base, keep, today) {
                    continue;
                }
                if self.index().is_held(&study.study_instance_uid).await? {
                    report.held_skipped += 1;
                    continue;
                }
                if self.index().study_has_open_request(&study.study_instance_uid).await? {
                    continue;
                }
                report.expired_studies.push(study.study_instance_uid.clone());
                due.entry(study.issuer).or_default().push(study.study_instance_uid);
            }
        }
        if dry_run {
            return Ok(());
        }
        for (institution, studies) in due {
            for chunk in studies.chunks(MAX_TARGETS) {
                let now = now_ms();
                let request = DeletionRequestRow {
                    request_id: random_id(8),
                    origin: "policy".into(),
                    institution: institution.clone(),
                    reason: "retention period expired / 保存期限已满".into(),
                    requested_by: "system:retention".into(),
                    requested_ms: now,
                    expires_ms: now + self.config.request_ttl_days * 86_400_000,
                    state: "pending".into(),
                    decided_by: None,
                    decided_ms: None,
                    note: String::new(),
                    executed_ms: None,
                    targets: chunk
                        .iter()
                        .map(|s| DeletionTarget {
                            study_instance_uid: s.clone(),
                            series_instance_uid: String::new(),
                            sop_instance_uid: String::new(),
                        })
                        .collect(),
                };
                self.index().create_deletion_request(&request).await?;
                self.record_request(&request, "scan").await;
                report.requests.push(request.request_id);
            }
        }
        Ok(())
    }

    /// `serve`'s loops: the purge every `purge_interval_secs` and the scan
    /// every `scan_interval_secs` (0: never), until `shutdown` is set.
    pub async fn run(self, holder: String, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let purge_every = self.config.purge_interval_secs;
        let scan_every = self.config.scan_interval_secs;
        if purge_every == 0 && scan_every == 0 {
            return;
        }
        let tick = Duration::from_secs([purge_every, scan_every].into_iter().filter(|s| *s > 0).min().unwrap_or(60));
        let (mut last_purge, mut last_scan) = (None::<std::time::Instant>, None::<std::time::Instant>);
        loop {
            let now = std::time::Instant::now();
            let due =
                |last: Option<std::time::Instant>, every: u64| every > 0 && last.is_none_or(|t| now.duration_since(t).as_secs() >= every);
            if due(last_scan, scan_every) {
                last_scan = Some(now);
                match self.scan(&holder, false).await {
                    Ok(r) if !r.requests.is_empty() => tracing::info!(requests = r.requests.len(), "retention scan asked for deletions"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "retention scan failed"),
                }
            }
            if due(last_purge, purge_every) {
                last_purge = Some(now);
                match self.purge(&holder, false).await {
                    Ok(r) if !r.executed.is_empty() || r.objects_deleted > 0 => {
                        tracing::info!(requests = r.executed.len(), objects = r.objects_deleted, "purge executed deletions")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "purge failed"),
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = shutdown.changed() => return,
            }
        }
    }
}
