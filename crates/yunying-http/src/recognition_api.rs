//! Mutual recognition of exams (检查互认) over HTTP, for the HIS and the
//! doctors (`/api/recognition/*`): an order's candidates among the
//! person's studies at every institution, a doctor's decision, the
//! statistics (JSON or CSV). Every rule is `yunying-recognition`'s
//! (`*_as`); this file maps JSON to it, asks the patient index for the
//! person's studies and records `recognition-offered` and
//! `recognition-decided` in the ledger (ids, item, outcome and reason;
//! no patient data). State changes are same-origin JSON (or a bearer key).

use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use yunying_access::Principal;
use yunying_recognition::{DecisionRequest, OrderRequest, Recognition, StatsQuery, dimension_of, ordering_institution};

use crate::AppState;
use crate::auth::{Signed, denied};
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::film::Client;

/// Longest path segment or query value read here.
const MAX_VALUE: usize = 256;
/// Largest catalogue or list of marks accepted (200,000 marks fit).
const MAX_CATALOGUE_BYTES: usize = 64 << 20;

pub(crate) fn routes() -> Router<AppState> {
    let changes = Router::new()
        .route("/api/recognition/candidates", post(candidates))
        .route("/api/recognition/orders/{id}/decisions", post(decide))
        .route("/api/recognition/orders/{id}/open", post(open))
        .route("/api/recognition/catalogue", axum::routing::put(replace_catalogue).layer(DefaultBodyLimit::max(MAX_CATALOGUE_BYTES)))
        .route("/api/recognition/marks", axum::routing::put(replace_marks).layer(DefaultBodyLimit::max(MAX_CATALOGUE_BYTES)))
        .route_layer(axum::middleware::from_fn(crate::people::same_origin_json));
    Router::new()
        .route("/api/recognition/statistics", get(statistics))
        .route("/api/recognition/orders/{id}", get(order))
        .route("/api/recognition/catalogue", get(catalogue))
        .route("/api/recognition/orders/{id}/record", get(signed_record))
        .merge(changes)
}

fn disabled() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "recognition is not configured on this node").into_response()
}

fn recognition(s: &AppState) -> Option<&Arc<Recognition>> {
    s.recognition.as_ref()
}

/// Records a recognition event; a ledger that cannot take it is logged,
/// the answer already decided stands.
async fn record(s: &AppState, who: &Principal, event: yunying_audit::Event) {
    let event = event.institution(who.institution.as_deref()).via("http");
    if let Err(e) = s.access.audit().record(event).await {
        tracing::error!(error = %e, "recognition event not recorded");
    }
}

async fn candidates(State(s): State<AppState>, Signed(who): Signed, Json(order): Json<OrderBody>) -> Response {
    let Some(recognition) = recognition(&s) else { return disabled() };
    // Who may ask is decided before the patient is looked up.
    if let Err(e) = ordering_institution(&who, &order.issuer) {
        return denied(e);
    }
    if order.issuer.len() > MAX_VALUE || order.patient_id.len() > MAX_VALUE {
        return ApiError::bad_request("issuer and patient_id are at most 256 bytes").into_response();
    }
    let studies = match person_studies(&s, &order.issuer, &order.patient_id).await {
        Ok(studies) => studies,
        Err(response) => return response,
    };
    let offer = match recognition.candidates_as(&who, &order.request(), &studies, yunying_access::now_ms()).await {
        Ok(offer) => offer,
        Err(e) => return denied(e),
    };
    let uids: Vec<String> = offer.candidates.iter().map(|c| c.study_instance_uid.clone()).collect();
    let event = yunying_audit::Event::new("recognition-offered", &who.id, "ok")
        .studies(&uids)
        .fact("order_id", offer.order_id.as_str())
        .fact("item", order.item_code.as_str())
        .fact("candidates", uids.len());
    record(&s, &who, event).await;
    let candidates: Vec<serde_json::Value> = offer
        .candidates
        .iter()
        .map(|c| {
            json!({
                "study_instance_uid": c.study_instance_uid,
                "institution": c.institution,
                "study_date": c.study_date,
                "age_days": c.age_days,
                "item_code": c.item_code,
                "hr": c.hr,
                "hr_scope": c.hr_scope,
                "viewer": format!("/viewer/#/recognition/{}?study={}", offer.order_id, c.study_instance_uid),
            })
        })
        .collect();
    Json(json!({ "order_id": offer.order_id, "candidates": candidates })).into_response()
}

/// The studies of every identity linked to the patient's person; only the
/// identity's own when it is not linked (yet), none when it is unknown.
async fn person_studies(s: &AppState, issuer: &str, patient_id: &str) -> Result<Vec<String>, Response> {
    let Some(persons) = s.persons.as_ref() else {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "the patient index is not enabled on this node").into_response());
    };
    let unavailable = |e: yunying_persons::PersonsError| denied(e.into());
    let Some(person) = persons.person_of(issuer, patient_id).await.map_err(unavailable)? else { return Ok(Vec::new()) };
    let view = persons.person(person).await.map_err(unavailable)?;
    Ok(view.studies.into_iter().map(|st| st.study_instance_uid).collect())
}

/// The order as the HIS sends it: the patient's identity and the order.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderBody {
    issuer: String,
    patient_id: String,
    item_code: String,
    order_date: String,
    #[serde(default)]
    his_order_id: String,
    #[serde(default)]
    department: String,
    #[serde(default)]
    doctor: String,
}

impl OrderBody {
    fn request(&self) -> OrderRequest {
        OrderRequest {
            issuer: self.issuer.clone(),
            item_code: self.item_code.clone(),
            order_date: self.order_date.clone(),
            his_order_id: self.his_order_id.clone(),
            department: self.department.clone(),
            doctor: self.doctor.clone(),
        }
    }
}

async fn decide(State(s): State<AppState>, Signed(who): Signed, Path(order_id): Path<String>, Json(d): Json<DecisionRequest>) -> Response {
    let Some(recognition) = recognition(&s) else { return disabled() };
    match recognition.decide_as(&s.access, &who, &order_id, &d, yunying_access::now_ms()).await {
        Ok(made) => {
            let mut event = yunying_audit::Event::new("recognition-decided", &who.id, "ok")
                .studies(std::slice::from_ref(&made.study_instance_uid))
                .fact("order_id", made.order_id.as_str())
                .fact("outcome", made.outcome.code())
                .fact("version", made.version)
                .fact("patient_informed", made.patient_informed)
                .fact("opened_ms", made.opened_ms);
            if let Some(reason) = &made.reason {
                event = event.fact("reason", reason.as_str());
            }
            record(&s, &who, event).await;
            (StatusCode::CREATED, Json(made)).into_response()
        }
        Err(e) => denied(e),
    }
}

/// An order of the asker's institution: candidates and decisions.
async fn order(State(s): State<AppState>, Signed(who): Signed, Path(order_id): Path<String>) -> Response {
    let Some(recognition) = recognition(&s) else { return disabled() };
    match recognition.order_as(&who, &order_id).await {
        Ok(view) => Json(view).into_response(),
        Err(e) => denied(e),
    }
}

async fn catalogue(State(s): State<AppState>, Signed(who): Signed) -> Response {
    let Some(recognition) = recognition(&s) else { return disabled() };
    match recognition.catalogue_as(&who).await {
        Ok(view) => Json(view).into_response(),
        Err(e) => denied(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueBody {
    items: Vec<yunying_recognition::Item>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MarksBody {
    marks: Vec<yunying_recognition::MarkConfig>,
}

/// Stored studies are classified again in the background after a change
/// (one pass over the index; what an order asks about meanwhile is
/// classified then).
fn reclassify_soon(s: &AppState, recognition: &Arc<Recognition>) {
    let (recognition, stopping) = (recognition.clone(), s.background.stopping());
    s.background.spawn(async move {
        tokio::select! {
            done = recognition.reclassify(500) => match done {
                Ok(done) => tracing::info!(studies = done.studies, changed = done.changed, "recognition: studies classified again"),
                Err(e) => tracing::warn!(error = %e, "recognition: classifying studies again failed"),
            },
            // What is left is classified when an order asks about it.
            _ = stopping => tracing::warn!("recognition: classifying studies again interrupted by the shutdown"),
        }
    });
}

async fn replace_catalogue(State(s): State<AppState>, Signed(who): Signed, Json(body): Json<CatalogueBody>) -> Response {
    let Some(recognition) = recognition(&s) else { return disabled() };
    match recognition.replace_catalogue_as(&who, body.items, yunying_access::now_ms()).await {
        Ok(n) => {
            record(&s, &who, yunying_audit::Event::new("recognition-catalogue-replaced", &who.id, "ok").fact("items", n)).await;
            reclassify_soon(&s, recognition);
            Json(json!({ "items": n })).into_response()
        }
        Err(e) => denied(e),
    }
}

async fn replace_marks(State(s): State<AppState>, Signed(who): Signed, Json(body): Json<MarksBody>) -> Response {
    let Some(recognition) = recognition(&s) else { return disabled() };
    match recognition.replace_marks_as(&who, &body.marks).await {
        Ok(n) => {
            record(&s, &who, yunying_audit::Event::new("recognition-marks-replaced", &who.id, "ok").fact("marks", n)).await;
            reclassify_soon(&s, recognition);
            Json(json!({ "marks": n })).into_response()
        }
        Err(e) => denied(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordParams {
    study: String,
}

/// The signed record of a decision (JSON text and its signature line):
/// what the ordering institution archives; `/api/audit/checkpoints`'
/// `log_key` checks it offline.
async fn signed_record(
    State(s): State<AppState>,
    Signed(who): Signed,
    Path(order_id): Path<String>,
    Query(p): Query<RecordParams>,
) -> Response {
    let Some(recognition) = recognition(&s) else { return disabled() };
    if p.study.len() > 64 {
        return ApiError::bad_request("study is at most 64 characters").into_response();
    }
    match recognition.signed_record_as(&who, &order_id, &p.study, yunying_access::now_ms()).await {
        Ok(signed) => Json(json!({ "record": signed.record, "signature": signed.signature })).into_response(),
        Err(e) => denied(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenBody {
    study_instance_uid: String,
}

/// A doctor opens a candidate: the recognition-request grant (recorded
/// by the access layer as `grant-given`), or nothing for an own study.
async fn open(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,
    Path(order_id): Path<String>,
    Json(body): Json<OpenBody>,
) -> Response {
    let Some(recognition) = recognition(&s) else { return disabled() };
    if body.study_instance_uid.len() > 64 {
        return ApiError::bad_request("study_instance_uid is at most 64 characters").into_response();
    }
    match recognition.open_as(&s.access, &who, &order_id, &body.study_instance_uid, &client).await {
        Ok(grant) => Json(json!({
            "study_instance_uid": body.study_instance_uid,
            "grant_id": grant.as_ref().map(|g| g.grant_id.clone()),
            "not_after_ms": grant.as_ref().map(|g| g.not_after_ms),
        }))
        .into_response(),
        Err(e) => denied(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsParams {
    from: String,
    to: String,
    /// Comma-separated dimensions.
    #[serde(default)]
    group: String,
    #[serde(default)]
    format: Option<String>,
    #[serde(default)]
    institution: Option<String>,
    #[serde(default)]
    department: Option<String>,
    #[serde(default)]
    doctor: Option<String>,
    #[serde(default)]
    item: Option<String>,
}

async fn statistics(State(s): State<AppState>, Signed(who): Signed, headers: HeaderMap, Query(p): Query<StatsParams>) -> Response {
    let Some(recognition) = recognition(&s) else { return disabled() };
    let mut group_by = Vec::new();
    for name in p.group.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match dimension_of(name) {
            Some(d) if !group_by.contains(&d) => group_by.push(d),
            Some(_) => {}
            None => return ApiError::bad_request("group by region, institution, department, doctor, item or month").into_response(),
        }
    }
    let mut filters = Vec::new();
    for (name, value) in [("institution", &p.institution), ("department", &p.department), ("doctor", &p.doctor), ("item", &p.item)] {
        if let Some(value) = value {
            filters.push((dimension_of(name).expect("a known dimension"), value.clone()));
        }
    }
    let query = StatsQuery { from_month: p.from, to_month: p.to, filters, group_by };
    let rows = match recognition.statistics_as(&who, &query).await {
        Ok(rows) => rows,
        Err(e) => return denied(e),
    };
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if p.format.as_deref() == Some("csv") || accept.contains("text/csv") {
        let mut response = recognition.statistics_csv(&rows, &query).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"recognition-statistics.csv\""));
        return response;
    }
    let names: Vec<&str> = query.group_by.iter().map(|d| dimension_name(*d)).collect();
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let key: serde_json::Map<String, serde_json::Value> =
                names.iter().zip(&r.key).map(|(n, v)| (n.to_string(), json!(v))).collect();
            json!({
                "key": key,
                "offered": r.offered,
                "decided": r.decided,
                "recognised": r.recognised,
                "partial": r.partial,
                "not_recognised": r.not_recognised,
                "reasons": r.reasons,
                "saved_fen": r.saved_fen,
                "unopened": r.unopened,
            })
        })
        .collect();
    let labels: serde_json::Map<String, serde_json::Value> =
        recognition.reasons().all().into_iter().map(|(code, label)| (code, json!(label))).collect();
    Json(json!({ "from": query.from_month, "to": query.to_month, "group": names, "rows": rows, "reason_labels": labels })).into_response()
}

fn dimension_name(d: yunying_recognition::StatsDimension) -> &'static str {
    use yunying_recognition::StatsDimension::*;
    match d {
        Region => "region",
        Institution => "institution",
        Department => "department",
        Doctor => "doctor",
        Item => "item",
        Month => "month",
    }
}
