//! Retention and deletion over HTTP: `/api/admin/retention/*` (the policy
//! table, a study's patient class, legal holds) and
//! `/api/admin/deletions/*` (two-person deletion requests). JSON in and
//! out, state changes same-origin JSON only; every rule is
//! `yunying-retention`'s, this file only maps.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use yunying_access::Denied;
use yunying_retention::{HoldTarget, NewDeletion};

use crate::AppState;
use crate::auth::{Signed, denied};
use crate::extract::{Json, Path, Query};
use crate::film::Client;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/admin/retention/policies", get(policies).post(set_policy))
        .route("/api/admin/retention/policies/remove", post(remove_policy))
        .route("/api/admin/retention/studies/{study}/class", post(set_class))
        .route("/api/admin/retention/holds", get(holds).post(set_hold))
        .route("/api/admin/retention/holds/{id}/lift", post(lift_hold))
        .route("/api/admin/deletions", get(deletions).post(request_deletion))
        .route("/api/admin/deletions/{id}", get(deletion))
        .route("/api/admin/deletions/{id}/approve", post(approve))
        .route("/api/admin/deletions/{id}/refuse", post(refuse))
        .route_layer(axum::middleware::from_fn(crate::people::same_origin_json))
}

fn answer<T: serde::Serialize>(result: Result<T, Denied>) -> Response {
    match result {
        Ok(body) => Json(body).into_response(),
        Err(e) => denied(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyBody {
    institution: String,
    class: String,
    #[serde(default)]
    keep_years: i64,
}

async fn policies(State(s): State<AppState>, Signed(who): Signed) -> Response {
    answer(s.retention.policy_rows(&who).await.map(|rows| json!({ "policies": rows })))
}

async fn set_policy(State(s): State<AppState>, Signed(who): Signed, Client(client): Client, Json(b): Json<PolicyBody>) -> Response {
    answer(s.retention.set_policy(&who, &b.institution, &b.class, b.keep_years, &client).await)
}

async fn remove_policy(State(s): State<AppState>, Signed(who): Signed, Client(client): Client, Json(b): Json<PolicyBody>) -> Response {
    match s.retention.remove_policy(&who, &b.institution, &b.class, &client).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => denied(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClassBody {
    class: String,
}

async fn set_class(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,
    Path(study): Path<String>,
    Json(b): Json<ClassBody>,
) -> Response {
    match s.retention.set_class(&who, &study, &b.class, &client).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => denied(e),
    }
}

#[derive(Deserialize)]
struct HoldsQuery {
    #[serde(default)]
    all: bool,
}

async fn holds(State(s): State<AppState>, Signed(who): Signed, Query(q): Query<HoldsQuery>) -> Response {
    answer(s.retention.holds(&who, !q.all).await.map(|holds| json!({ "holds": holds })))
}

/// A hold on a study (`study_instance_uid`) or a patient (`issuer` and
/// `patient_id`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HoldBody {
    #[serde(default)]
    study_instance_uid: Option<String>,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    patient_id: Option<String>,
    reason: String,
}

async fn set_hold(State(s): State<AppState>, Signed(who): Signed, Client(client): Client, Json(b): Json<HoldBody>) -> Response {
    let target = match (b.study_instance_uid, b.issuer, b.patient_id) {
        (Some(study_instance_uid), None, None) => HoldTarget::Study { study_instance_uid },
        (None, Some(issuer), Some(patient_id)) => HoldTarget::Patient { issuer, patient_id },
        _ => return denied(Denied::Invalid("name a study_instance_uid, or an issuer and a patient_id".into())),
    };
    match s.retention.set_hold(&who, target, &b.reason, &client).await {
        Ok(hold) => (StatusCode::CREATED, Json(hold)).into_response(),
        Err(e) => denied(e),
    }
}

async fn lift_hold(State(s): State<AppState>, Signed(who): Signed, Client(client): Client, Path(id): Path<String>) -> Response {
    answer(s.retention.lift_hold(&who, &id, &client).await)
}

#[derive(Deserialize)]
struct DeletionsQuery {
    #[serde(default)]
    state: Option<String>,
}

async fn deletions(State(s): State<AppState>, Signed(who): Signed, Query(q): Query<DeletionsQuery>) -> Response {
    answer(s.retention.deletion_requests(&who, q.state.as_deref()).await.map(|requests| json!({ "requests": requests })))
}

async fn deletion(State(s): State<AppState>, Signed(who): Signed, Path(id): Path<String>) -> Response {
    answer(s.retention.deletion_request(&who, &id).await)
}

async fn request_deletion(State(s): State<AppState>, Signed(who): Signed, Client(client): Client, Json(b): Json<NewDeletion>) -> Response {
    match s.retention.request_deletion(&who, b, &client).await {
        Ok(request) => (StatusCode::CREATED, Json(request)).into_response(),
        Err(e) => denied(e),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct DecisionBody {
    #[serde(default)]
    note: String,
}

async fn approve(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,
    Path(id): Path<String>,
    Json(b): Json<DecisionBody>,
) -> Response {
    answer(s.retention.approve_deletion(&who, &id, &b.note, &client).await)
}

async fn refuse(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,
    Path(id): Path<String>,
    Json(b): Json<DecisionBody>,
) -> Response {
    answer(s.retention.refuse_deletion(&who, &id, &b.note, &client).await)
}
