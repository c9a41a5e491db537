//! The patient index over HTTP: a hospital MPI's REST feed and person
//! lookups (`/api/empi/*`), and IHE PIXm (`/fhir/Patient/$ihe-pix`: which
//! identifiers a person has at other institutions). Every rule is
//! `yunying-persons`'; this file maps JSON and FHIR to it. State changes
//! are same-origin JSON (or a bearer key).

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use yunying_persons::{IdentityInput, Persons};

use crate::AppState;
use crate::auth::{Signed, denied};
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};

pub(crate) fn routes() -> Router<AppState> {
    let changes = Router::new()
        .route("/api/empi/identities", post(feed))
        .route("/api/empi/merge", post(merge))
        .route("/api/empi/operations/{op}/undo", post(undo))
        .route("/api/empi/reviews/{id}", post(decide_review))
        .route_layer(axum::middleware::from_fn(crate::people::same_origin_json));
    Router::new()
        .route("/api/empi/person", get(person))
        .route("/api/empi/reviews", get(reviews))
        .route("/api/studies/{study}/priors", get(priors))
        .route("/fhir/Patient/$ihe-pix", get(pix))
        .route("/fhir/Patient/$match", post(crate::pdqm::patient_match))
        .merge(changes)
}

fn disabled() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "the patient index is not enabled on this node").into_response()
}

fn persons(s: &AppState) -> Option<&Persons> {
    s.persons.as_ref()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityKey {
    issuer: String,
    patient_id: String,
}

async fn feed(State(s): State<AppState>, Signed(who): Signed, Json(input): Json<IdentityInput>) -> Response {
    let Some(persons) = persons(&s) else { return disabled() };
    match persons.feed_as(&who, &input).await {
        Ok(id) => (StatusCode::ACCEPTED, Json(json!({ "identity": id }))).into_response(),
        Err(e) => denied(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MergeBody {
    prior: IdentityKey,
    survivor: IdentityKey,
}

async fn merge(State(s): State<AppState>, Signed(who): Signed, Json(b): Json<MergeBody>) -> Response {
    let Some(persons) = persons(&s) else { return disabled() };
    match persons.merge_as(&who, (&b.prior.issuer, &b.prior.patient_id), (&b.survivor.issuer, &b.survivor.patient_id)).await {
        Ok(op) => Json(json!({ "operation": op })).into_response(),
        Err(e) => denied(e),
    }
}

async fn undo(State(s): State<AppState>, Signed(who): Signed, Path(op): Path<String>) -> Response {
    let Some(persons) = persons(&s) else { return disabled() };
    if op.len() > 64 {
        return ApiError::bad_request("no such operation").into_response();
    }
    match persons.unmerge_as(&who, &op).await {
        Ok(undo) => Json(json!({ "operation": undo })).into_response(),
        Err(e) => denied(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewsQuery {
    /// `false`: decided ones too.
    #[serde(default = "open_only")]
    open: bool,
}

fn open_only() -> bool {
    true
}

/// The review queue (identities scored between the thresholds).
async fn reviews(State(s): State<AppState>, Signed(who): Signed, Query(q): Query<ReviewsQuery>) -> Response {
    let Some(persons) = persons(&s) else { return disabled() };
    match persons.reviews_as(&who, q.open).await {
        Ok(list) => Json(json!({ "reviews": list })).into_response(),
        Err(e) => denied(e),
    }
}

/// A reviewer decides: `{"same_as": PERSON}` or `{"same_as": null}`.
async fn decide_review(
    State(s): State<AppState>,
    Signed(who): Signed,
    Path(id): Path<i64>,
    Json(d): Json<yunying_persons::review::ReviewDecision>,
) -> Response {
    let Some(persons) = persons(&s) else { return disabled() };
    match persons.decide_review_as(&who, id, &d).await {
        Ok(op) => Json(json!({ "review": id, "operation": op })).into_response(),
        Err(e) => denied(e),
    }
}

async fn person(State(s): State<AppState>, Signed(who): Signed, Query(q): Query<IdentityKey>) -> Response {
    let Some(persons) = persons(&s) else { return disabled() };
    match persons.person_as(&who, &q.issuer, &q.patient_id).await {
        Ok(view) => Json(view).into_response(),
        Err(e) => denied(e),
    }
}

/// The FHIR identifier system of an institution's Patient IDs.
const SYSTEM: &str = "urn:yunying:issuer:";

/// The query of a PIXm request: the first `sourceIdentifier` and
/// `targetSystem` (read by hand, so a missing or repeated parameter is
/// answered as FHIR asks, with an `OperationOutcome`).
fn pix_query(raw: Option<&str>) -> (Option<String>, Option<String>) {
    let (mut source, mut target) = (None, None);
    for (name, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
        match name.as_ref() {
            "sourceIdentifier" if source.is_none() => source = Some(value.into_owned()),
            "targetSystem" if target.is_none() => target = Some(value.into_owned()),
            _ => {}
        }
    }
    (source, target)
}

/// PIXm: `sourceIdentifier=urn:yunying:issuer:HOSP_A|A123` (or the bare
/// institution code as the system) → a FHIR `Parameters` resource with a
/// `targetIdentifier` for each other identity of the person (only those
/// of `targetSystem` when given). An identity the index does not know is
/// 404 with an `OperationOutcome`, as PIXm asks.
async fn pix(State(s): State<AppState>, Signed(who): Signed, RawQuery(raw): RawQuery) -> Response {
    let Some(persons) = persons(&s) else { return disabled() };
    let (source, target_system) = pix_query(raw.as_deref());
    let Some(source) = source else {
        return outcome(StatusCode::BAD_REQUEST, "required", "sourceIdentifier is required");
    };
    let Some((system, value)) = source.split_once('|') else {
        return outcome(StatusCode::BAD_REQUEST, "invalid", "sourceIdentifier is system|value");
    };
    let issuer = system.strip_prefix(SYSTEM).unwrap_or(system);
    let target = target_system.as_deref().map(|t| t.strip_prefix(SYSTEM).unwrap_or(t).to_string());
    let view = match persons.person_as(&who, issuer, value).await {
        Ok(view) => view,
        Err(yunying_access::Denied::NotFound(_)) => {
            return outcome(StatusCode::NOT_FOUND, "not-found", "sourceIdentifier Patient Identifier not found");
        }
        Err(e) => return denied(e),
    };
    let parameters: Vec<serde_json::Value> = view
        .identities
        .iter()
        .filter(|i| !(i.issuer == issuer && i.patient_id == value))
        .filter(|i| target.as_deref().is_none_or(|t| t == i.issuer))
        .map(|i| json!({"name": "targetIdentifier", "valueIdentifier": {"system": format!("{SYSTEM}{}", i.issuer), "value": i.patient_id}}))
        .collect();
    let body = json!({"resourceType": "Parameters", "parameter": parameters});
    ([(axum::http::header::CONTENT_TYPE, "application/fhir+json")], body.to_string()).into_response()
}

fn outcome(status: StatusCode, code: &str, text: &str) -> Response {
    let body = json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]});
    (status, [(axum::http::header::CONTENT_TYPE, "application/fhir+json")], body.to_string()).into_response()
}

/// The other studies of a study's patient the asker reaches, across
/// institutions when the EMPI links the patient (the viewer's priors and
/// timeline).
async fn priors(State(s): State<AppState>, Signed(who): Signed, Path(study): Path<String>) -> Response {
    let Some(persons) = s.persons.as_ref() else {
        return ApiError::new(StatusCode::NOT_FOUND, "the patient index is not enabled on this node").into_response();
    };
    if study.len() > 64 {
        return ApiError::bad_request("a Study Instance UID is at most 64 characters").into_response();
    }
    match persons.priors_as(&s.access, &who, &study).await {
        Ok(priors) => Json(priors).into_response(),
        Err(e) => denied(e),
    }
}
