//! Remote reading over HTTP (`/api/reading/*`): relationships and
//! templates for the system administrator, requests from the requesting
//! institution (its HIS key, technologists, doctors), the worklist,
//! claims, reports, signing and amendments for the reading centre, and
//! the statistics (JSON or CSV). Every rule is `yunying-reading`'s (`*_as`,
//! which also records each step in the ledger); this file maps JSON to
//! it. State changes are same-origin JSON (or a bearer key).

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::json;
use yunying_reading::stats::StatsRequest;
use yunying_reading::{NewRequest, ReadingError, Relationship, ReportContent, Template, WorklistFilter};

use crate::AppState;
use crate::auth::{Signed, denied};
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::film::Client;

pub(crate) fn routes() -> Router<AppState> {
    let changes = Router::new()
        .route("/api/reading/relationships", put(put_relationship))
        .route("/api/reading/relationships/{requesting}/{reading}", axum::routing::delete(remove_relationship))
        .route("/api/reading/templates/{id}", put(put_template).delete(remove_template))
        .route("/api/reading/requests", post(request))
        .route("/api/reading/requests/{id}/claim", post(claim))
        .route("/api/reading/requests/{id}/release", post(release))
        .route("/api/reading/requests/{id}/cancel", post(cancel))
        .route("/api/reading/requests/{id}/report", put(save))
        .route("/api/reading/requests/{id}/sign", post(sign))
        .route("/api/reading/requests/{id}/amend", post(amend))
        .route_layer(axum::middleware::from_fn(crate::people::same_origin_json));
    Router::new()
        .route("/api/reading/relationships", get(relationships))
        .route("/api/reading/templates", get(templates))
        .route("/api/reading/worklist", get(worklist))
        .route("/api/reading/requests/{id}", get(detail))
        .route("/api/reading/statistics", get(statistics))
        .merge(changes)
}

fn disabled() -> Response {
    ApiError::new(StatusCode::NOT_FOUND, "remote reading is not enabled on this node").into_response()
}

/// A reading error as a response.
fn refused(e: ReadingError) -> Response {
    match e {
        ReadingError::Denied(d) => denied(d),
        ReadingError::Index(e) => denied(e.into()),
        ReadingError::Invalid(m) => ApiError::bad_request(&m).into_response(),
        ReadingError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, &m).into_response(),
        ReadingError::Unavailable(m) => {
            tracing::error!(error = %m, "remote reading failed");
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, &m).into_response()
        }
    }
}

/// `Ok(v)` as JSON with `status`, an error as its response.
fn answer<T: serde::Serialize>(status: StatusCode, r: Result<T, ReadingError>) -> Response {
    match r {
        Ok(v) => (status, axum::Json(v)).into_response(),
        Err(e) => refused(e),
    }
}

macro_rules! reading_or_return {
    ($s:expr) => {
        match $s.reading.as_ref() {
            Some(r) => r,
            None => return disabled(),
        }
    };
}

async fn relationships(State(s): State<AppState>, Signed(who): Signed) -> Response {
    let r = reading_or_return!(s);
    answer(StatusCode::OK, r.relationships_as(&who).await)
}

async fn put_relationship(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,
    Json(rel): Json<Relationship>,
) -> Response {
    let r = reading_or_return!(s);
    answer(StatusCode::OK, r.put_relationship_as(&who, rel, &client).await.map(|()| json!({"ok": true})))
}

async fn remove_relationship(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,
    Path((requesting, reading)): Path<(String, String)>,
) -> Response {
    let r = reading_or_return!(s);
    answer(StatusCode::OK, r.remove_relationship_as(&who, &requesting, &reading, &client).await.map(|()| json!({"ok": true})))
}

async fn templates(State(s): State<AppState>, Signed(who): Signed) -> Response {
    let r = reading_or_return!(s);
    answer(StatusCode::OK, r.templates_as(&who).await)
}

async fn put_template(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,
    Path(id): Path<String>,
    Json(t): Json<Template>,
) -> Response {
    let r = reading_or_return!(s);
    if t.id != id {
        return ApiError::bad_request("the template's id is the one in the path").into_response();
    }
    answer(StatusCode::OK, r.put_template_as(&who, t, &client).await.map(|()| json!({"ok": true})))
}

async fn remove_template(State(s): State<AppState>, Signed(who): Signed, Client(client): Client, Path(id): Path<String>) -> Response {
    let r = reading_or_return!(s);
    answer(StatusCode::OK, r.remove_template_as(&who, &id, &client).await.map(|()| json!({"ok": true})))
}

async fn request(State(s): State<AppState>, Signed(who): Signed, Client(client): Client, Json(new): Json<NewRequest>) -> Response {
    let r = reading_or_return!(s);
    answer(StatusCode::CREATED, r.request_as(&who, new, &client).await)
}

async fn worklist(State(s): State<AppState>, Signed(who): Signed, Query(f): Query<WorklistFilter>) -> Response {
    let r = reading_or_return!(s);
    answer(StatusCode::OK, r.worklist_as(&who, &f).await)
}

async fn detail(State(s): State<AppState>, Signed(who): Signed, Path(id): Path<String>) -> Response {
    let r = reading_or_return!(s);
    answer(StatusCode::OK, r.detail_as(&who, &id).await)
}

async fn claim(State(s): State<AppState>, Signed(who): Signed, Client(client): Client, Path(id): Path<String>) -> Response {
    let r = reading_or_return!(s);
    answer(StatusCode::OK, r.claim_as(&who, &id, &client).await.map(|()| json!({"ok": true})))
}

async fn release(State(s): State<AppState>, Signed(who): Signed, Client(client): Client, Path(id): Path<String>) -> Response {
    let r = reading_or_return!(s);
    answer(StatusCode::OK, r.release_as(&who, &id, &client).await.map(|()| json!({"ok": true})))
}

async fn cancel(State(s): State<AppState>, Signed(who): Signed, Client(client): Client, Path(id): Path<String>) -> Response {
    let r = reading_or_return!(s);
    answer(StatusCode::OK, r.cancel_as(&who, &id, &client).await.map(|()| json!({"ok": true})))
}

/// A report as the viewer saves it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SaveBody {
    content: ReportContent,
    /// Hand the draft to review.
    #[serde(default)]
    submit: bool,
}

async fn save(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,
    Path(id): Path<String>,
    Json(b): Json<SaveBody>,
) -> Response {
    let r = reading_or_return!(s);
    answer(StatusCode::OK, r.save_as(&who, &id, b.content, b.submit, &client).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignBody {
    /// The version the signer read.
    version: i64,
    /// Its `updated_ms` as read: a correction saved since is a conflict.
    #[serde(default)]
    updated_ms: Option<i64>,
}

async fn sign(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,
    Path(id): Path<String>,
    Json(b): Json<SignBody>,
) -> Response {
    let r = reading_or_return!(s);
    answer(StatusCode::OK, r.sign_as(&who, &id, b.version, b.updated_ms, &client).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AmendBody {
    reason: String,
}

async fn amend(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,
    Path(id): Path<String>,
    Json(b): Json<AmendBody>,
) -> Response {
    let r = reading_or_return!(s);
    answer(StatusCode::CREATED, r.amend_as(&who, &id, &b.reason, &client).await)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StatsParams {
    #[serde(default)]
    by: String,
    #[serde(default)]
    side: String,
    from_ms: Option<i64>,
    to_ms: Option<i64>,
    format: Option<String>,
}

async fn statistics(State(s): State<AppState>, Signed(who): Signed, headers: HeaderMap, Query(p): Query<StatsParams>) -> Response {
    let r = reading_or_return!(s);
    let q = StatsRequest { by: p.by, side: p.side, from_ms: p.from_ms, to_ms: p.to_ms };
    let stats = match r.stats_as(&who, &q).await {
        Ok(stats) => stats,
        Err(e) => return refused(e),
    };
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
    if p.format.as_deref() == Some("csv") || accept.contains("text/csv") {
        let mut response = yunying_reading::to_csv(&stats).into_response();
        response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
        response
            .headers_mut()
            .insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"reading-statistics.csv\""));
        return response;
    }
    axum::Json(stats).into_response()
}
