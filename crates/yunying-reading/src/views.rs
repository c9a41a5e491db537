//! What the faces show of requests and reports (serialised as the API's
//! JSON).

use serde::{Deserialize, Serialize};
use yunying_index::{DeliveryRow, ReadingRequestRow, ReportRow, WorklistRow};

use crate::model::ReportContent;

/// A request as listed.
#[derive(Debug, Clone, Serialize)]
pub struct RequestView {
    pub request_id: String,
    pub study_instance_uid: String,
    pub requesting: String,
    pub requesting_name: String,
    pub reading: String,
    pub reading_name: String,
    pub priority: String,
    pub status: String,
    pub modality: String,
    pub body_part: String,
    pub clinical_info: String,
    pub his_order_id: String,
    pub source: String,
    pub claimed_by: String,
    /// Their display name, for the worklist ("" when nobody holds it).
    pub claimed_by_name: String,
    pub created_ms: i64,
    pub due_ms: i64,
    /// Past its turnaround target and not signed.
    pub overdue: bool,
    pub signed_ms: Option<i64>,
    pub returned_ms: Option<i64>,
    pub report_version: i64,
    pub critical: bool,
    pub critical_notified_ms: Option<i64>,
    /// From the index (empty when the study is not stored here).
    pub patient_name: String,
    pub patient_id: String,
    pub patient_sex: String,
    pub patient_birth_date: String,
    pub study_date: String,
    pub study_description: String,
    pub accession_number: String,
    pub num_instances: i64,
}

impl RequestView {
    pub(crate) fn of(row: WorklistRow, names: &dyn Fn(&str) -> String, now_ms: i64) -> RequestView {
        let r = row.request;
        RequestView {
            requesting_name: names(&r.requesting),
            reading_name: names(&r.reading),
            overdue: r.is_open && now_ms > r.due_ms,
            request_id: r.request_id,
            study_instance_uid: r.study_instance_uid,
            requesting: r.requesting,
            reading: r.reading,
            priority: r.priority,
            status: r.status,
            modality: r.modality,
            body_part: r.body_part,
            clinical_info: r.clinical_info,
            his_order_id: r.his_order_id,
            source: r.source,
            claimed_by: r.claimed_by,
            claimed_by_name: row.claimed_by_name,
            created_ms: r.created_ms,
            due_ms: r.due_ms,
            signed_ms: r.signed_ms,
            returned_ms: r.returned_ms,
            report_version: r.report_version,
            critical: r.critical,
            critical_notified_ms: r.critical_notified_ms,
            patient_name: row.patient_name,
            patient_id: row.patient_id,
            patient_sex: row.patient_sex,
            patient_birth_date: row.patient_birth_date,
            study_date: row.study_date,
            study_description: row.study_description,
            accession_number: row.accession_number,
            num_instances: row.num_instances,
        }
    }

    pub(crate) fn of_request(r: ReadingRequestRow, names: &dyn Fn(&str) -> String, now_ms: i64) -> RequestView {
        RequestView::of(WorklistRow { request: r, ..Default::default() }, names, now_ms)
    }
}

/// Which requests a worklist shows.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorklistFilter {
    /// `reading` (requests sent to the principal's institution, the
    /// default) or `requesting` (those it sent).
    pub side: String,
    /// Comma-separated statuses (empty: every open one).
    pub status: String,
    pub requesting: String,
    pub modality: String,
    pub body_part: String,
    pub priority: String,
    /// `me`: only those the principal holds.
    pub claimed: String,
    pub offset: i64,
    pub limit: i64,
}

/// A page of a worklist.
#[derive(Debug, Clone, Serialize)]
pub struct WorklistPage {
    pub total: i64,
    pub requests: Vec<RequestView>,
    /// How many of the institution's requests are in each status.
    pub counts: Vec<(String, i64)>,
}

/// One version of a report.
#[derive(Debug, Clone, Serialize)]
pub struct ReportView {
    pub version: i64,
    pub current: bool,
    pub state: String,
    pub content: ReportContent,
    pub author: String,
    pub author_name: String,
    pub verifier: String,
    pub verifier_name: String,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub signed_ms: Option<i64>,
    pub content_digest: String,
    pub signature: String,
    pub amend_reason: String,
    /// The DICOM objects it was stored as (UIDs), once signed.
    pub objects: serde_json::Value,
}

impl ReportView {
    pub(crate) fn of(r: ReportRow) -> ReportView {
        ReportView {
            version: r.version,
            current: r.is_current,
            state: r.state,
            content: serde_json::from_str(&r.body).unwrap_or_default(),
            author: r.author,
            author_name: r.author_name,
            verifier: r.verifier,
            verifier_name: r.verifier_name,
            created_ms: r.created_ms,
            updated_ms: r.updated_ms,
            signed_ms: r.signed_ms,
            content_digest: r.content_digest,
            signature: r.signature,
            amend_reason: r.amend_reason,
            objects: serde_json::from_str(&r.objects).unwrap_or(serde_json::Value::Null),
        }
    }
}

/// A delivery of a report.
#[derive(Debug, Clone, Serialize)]
pub struct DeliveryView {
    pub version: i64,
    pub channel: String,
    pub target: String,
    pub attempts: i64,
    pub done_ms: Option<i64>,
    pub error: String,
}

impl DeliveryView {
    pub(crate) fn of(d: DeliveryRow) -> DeliveryView {
        DeliveryView { version: d.version, channel: d.channel, target: d.target, attempts: d.attempts, done_ms: d.done_ms, error: d.error }
    }
}

/// A request with its reports, deliveries and the patient's priors.
#[derive(Debug, Clone, Serialize)]
pub struct RequestDetail {
    pub request: RequestView,
    pub reports: Vec<ReportView>,
    pub deliveries: Vec<DeliveryView>,
    /// Study Instance UIDs of the priors opened with the request.
    pub priors: Vec<String>,
    /// Whether the principal may write the report now, and sign it.
    pub may_write: bool,
    pub may_sign: bool,
    /// Which institution of the request the principal belongs to:
    /// `reading` or `requesting`.
    pub side: &'static str,
}
