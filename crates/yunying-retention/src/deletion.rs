//! Two-person deletion: one person asks (studies or series of one
//! institution, with a reason), another decides. The requester can never
//! approve their own request; anyone who may approve may refuse it (the
//! requester withdrawing it included). A request is decided once, while
//! pending and unexpired; execution is the purge's (`purge.rs`).

use serde::Deserialize;
use yunying_access::{Action, Denied, Principal, now_ms, random_id};
use yunying_index::{DeletionRequestRow, DeletionTarget};

use crate::{MAX_LIST, Retention, bounded_id, bounded_text, require_any, within};

/// Most studies and series one request names.
pub const MAX_TARGETS: usize = 1000;

/// A new manual request: what a person asks to delete, and why.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewDeletion {
    /// Whole studies (Study Instance UIDs).
    #[serde(default)]
    pub studies: Vec<String>,
    /// Single series (Series Instance UIDs).
    #[serde(default)]
    pub series: Vec<String>,
    pub reason: String,
}

impl Retention {
    /// Ask for studies or series to be deleted. Every one must exist,
    /// belong to one institution the requester acts for, and be under no
    /// legal hold.
    pub async fn request_deletion(&self, by: &Principal, new: NewDeletion, client: &str) -> Result<DeletionRequestRow, Denied> {
        self.access.require(by, Action::RequestDeletion)?;
        let reason = bounded_text("reason", &new.reason, true)?;
        let count = new.studies.len() + new.series.len();
        if count == 0 || count > MAX_TARGETS {
            return Err(Denied::Invalid(format!("name 1 to {MAX_TARGETS} studies or series")));
        }
        let mut targets = Vec::new();
        let mut issuers = Vec::new();
        for study in &new.studies {
            let study = bounded_id("Study Instance UID", study)?;
            let (issuer, _, _) = self.index().study_facts(&study).await?.ok_or_else(|| Denied::NotFound(format!("no study {study}")))?;
            issuers.push(issuer);
            targets.push(DeletionTarget { study_instance_uid: study, series_instance_uid: String::new(), sop_instance_uid: String::new() });
        }
        for series in &new.series {
            let series = bounded_id("Series Instance UID", series)?;
            let (study, issuer) =
                self.index().series_facts(&series).await?.ok_or_else(|| Denied::NotFound(format!("no series {series}")))?;
            issuers.push(issuer);
            targets.push(DeletionTarget { study_instance_uid: study, series_instance_uid: series, sop_instance_uid: String::new() });
        }
        issuers.sort();
        issuers.dedup();
        let [institution] = issuers.as_slice() else {
            return Err(Denied::Invalid("one request names one institution's studies".into()));
        };
        within(by, institution)?;
        for t in &targets {
            if self.index().is_held(&t.study_instance_uid).await? {
                return Err(Denied::Forbidden(format!("study {} is under legal hold", t.study_instance_uid)));
            }
        }
        let now = now_ms();
        let request = DeletionRequestRow {
            request_id: random_id(8),
            origin: "manual".into(),
            institution: institution.clone(),
            reason,
            requested_by: by.id.clone(),
            requested_ms: now,
            expires_ms: now + self.config.request_ttl_days * 86_400_000,
            state: "pending".into(),
            decided_by: None,
            decided_ms: None,
            note: String::new(),
            executed_ms: None,
            targets,
        };
        self.index().create_deletion_request(&request).await?;
        self.record_request(&request, client).await;
        Ok(request)
    }

    /// Record a new request (any origin).
    pub(crate) async fn record_request(&self, r: &DeletionRequestRow, client: &str) {
        let detail = format!("request {} ({}, {} targets, expires {})", r.request_id, r.origin, r.targets.len(), r.expires_ms);
        self.access.record(&r.requested_by, "deletion-requested", &studies_of(r), "retention", client, "ok", &detail).await;
    }

    /// Approve a pending request: the approver is not its requester.
    pub async fn approve_deletion(&self, by: &Principal, request_id: &str, note: &str, client: &str) -> Result<DeletionRequestRow, Denied> {
        self.decide(by, request_id, "approved", note, client).await
    }

    /// Refuse a pending request: nothing it names is deleted.
    pub async fn refuse_deletion(&self, by: &Principal, request_id: &str, note: &str, client: &str) -> Result<DeletionRequestRow, Denied> {
        self.decide(by, request_id, "refused", note, client).await
    }

    async fn decide(&self, by: &Principal, request_id: &str, state: &str, note: &str, client: &str) -> Result<DeletionRequestRow, Denied> {
        self.access.require(by, Action::ApproveDeletion)?;
        let note = bounded_text("note", note, false)?;
        let request = self.deletion(request_id).await?;
        within(by, &request.institution)?;
        let event = if state == "approved" { "deletion-approved" } else { "deletion-refused" };
        let studies = studies_of(&request);
        let refuse = async |why: String| {
            self.access.record(&by.id, event, &studies, "retention", client, "refused", &format!("request {request_id}: {why}")).await;
            Err(Denied::Forbidden(why))
        };
        if state == "approved" && request.requested_by == by.id {
            return refuse("the requester cannot approve their own deletion request / 申请人不能批准自己的删除申请".into()).await;
        }
        if request.state != "pending" {
            return refuse(format!("the request is {}, not pending", request.state)).await;
        }
        let now = now_ms();
        if request.expires_ms <= now {
            self.expire(now, client).await?;
            return refuse("the request has expired".into()).await;
        }
        if !self.index().decide_deletion(request_id, state, &by.id, now, &note).await? {
            return refuse("the request was decided or expired meanwhile".into()).await;
        }
        self.access.record(&by.id, event, &studies, "retention", client, "ok", &format!("request {request_id}")).await;
        self.deletion(request_id).await
    }

    /// One request, or `NotFound`.
    async fn deletion(&self, request_id: &str) -> Result<DeletionRequestRow, Denied> {
        let id = bounded_id("request id", request_id)?;
        self.index().deletion_request(&id).await?.ok_or_else(|| Denied::NotFound(format!("no deletion request {id}")))
    }

    /// One request, for someone who may see it.
    pub async fn deletion_request(&self, by: &Principal, request_id: &str) -> Result<DeletionRequestRow, Denied> {
        require_any(&self.access, by, &[Action::RequestDeletion, Action::ApproveDeletion, Action::ReadAudit])?;
        let request = self.deletion(request_id).await?;
        within(by, &request.institution)?;
        Ok(request)
    }

    /// Requests, newest first (of the caller's institution if it has one).
    pub async fn deletion_requests(&self, by: &Principal, state: Option<&str>) -> Result<Vec<DeletionRequestRow>, Denied> {
        require_any(&self.access, by, &[Action::RequestDeletion, Action::ApproveDeletion, Action::ReadAudit])?;
        if let Some(s) = state
            && !["pending", "approved", "refused", "expired", "executed", "blocked"].contains(&s)
        {
            return Err(Denied::Invalid(format!("no request state {s}")));
        }
        Ok(self.index().deletion_requests(state, by.institution.as_deref(), MAX_LIST).await?)
    }

    /// Mark requests past their time `expired`, each recorded.
    pub(crate) async fn expire(&self, now: i64, client: &str) -> Result<Vec<String>, Denied> {
        let expired = self.index().expire_deletion_requests(now).await?;
        for id in &expired {
            self.access.record("system:retention", "deletion-expired", &[], "retention", client, "ok", &format!("request {id}")).await;
        }
        Ok(expired)
    }
}

/// The studies a request names, once each.
pub(crate) fn studies_of(r: &DeletionRequestRow) -> Vec<String> {
    let mut studies: Vec<String> = r.targets.iter().map(|t| t.study_instance_uid.clone()).collect();
    studies.sort();
    studies.dedup();
    studies
}
