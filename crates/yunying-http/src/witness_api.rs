//! Witness routes: `POST /audit/witness/add-checkpoint` (C2SP
//! tlog-witness; the log's signature authenticates the request, so it
//! takes no login), `GET /api/audit/witness/alarms` (`ReadAudit`: the
//! forks this node refused), and the HTTP client the exporter posts
//! checkpoints to other witnesses with.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use yunying_access::Action;
use yunying_audit::witness::{FORK_EVENT, MAX_REQUEST_BYTES, ServeError, WitnessError};
use yunying_index::LedgerFilter;

use crate::AppState;
use crate::auth::{Signed, refusal};
use crate::error::ApiError;

/// Most alarms listed.
const MAX_ALARMS: i64 = 1_000;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/audit/witness/add-checkpoint", post(add_checkpoint).layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES)))
        .route("/api/audit/witness/alarms", get(alarms))
}

/// `POST /audit/witness/add-checkpoint`: cosign a witnessed log's
/// checkpoint (the body: `old N`, proof lines, a blank line, the note).
async fn add_checkpoint(State(s): State<AppState>, body: Bytes) -> Response {
    let audit = s.access.audit();
    let Some(witness) = audit.witness() else {
        return (StatusCode::NOT_FOUND, "this node witnesses no log\n").into_response();
    };
    let Ok(text) = std::str::from_utf8(&body) else {
        return (StatusCode::BAD_REQUEST, "the body is not UTF-8\n").into_response();
    };
    match witness.add_checkpoint(audit, text).await {
        Ok(line) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], line).into_response(),
        Err(ServeError::Witness(WitnessError::OldSizeMismatch { latest })) => {
            (StatusCode::CONFLICT, [(header::CONTENT_TYPE, "text/x.tlog.size")], format!("{latest}\n")).into_response()
        }
        Err(ServeError::Unavailable(e)) => {
            tracing::warn!(error = %e, "witness state unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, "the witness state is unavailable; try again\n").into_response()
        }
        Err(ServeError::Witness(e)) => {
            let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
            (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{e}\n")).into_response()
        }
    }
}

/// `GET /api/audit/witness/alarms`: every fork or inconsistent checkpoint
/// this node refused as a witness, with the evidence.
async fn alarms(State(s): State<AppState>, Signed(who): Signed) -> Result<Response, ApiError> {
    s.access.require(&who, Action::ReadAudit).map_err(refusal)?;
    let filter = LedgerFilter { event: Some(FORK_EVENT.into()), limit: MAX_ALARMS, ..Default::default() };
    let entries = s.archive.index().search_ledger(&filter).await?;
    let list: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| {
            let body: serde_json::Value = serde_json::from_str(&e.body).unwrap_or_default();
            json!({"leaf_index": e.leaf_index, "at_ms": e.at_ms, "detail": body["detail"], "facts": body["facts"]})
        })
        .collect();
    Ok(Json(json!({"alarms": list})).into_response())
}

/// The exporter's HTTP client: POST the body, 30 s at most, the answer cut
/// at [`yunying_audit::export::MAX_RESPONSE_BYTES`]. Plain `http://` only
/// (put TLS in a local proxy).
pub fn witness_post() -> yunying_audit::export::Post {
    use http_body_util::{BodyExt, Full, Limited};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http::<Full<Bytes>>();
    std::sync::Arc::new(move |url: String, body: String| {
        let client = client.clone();
        Box::pin(async move {
            let uri: hyper::Uri = url.parse().map_err(|e| format!("bad witness URL: {e}"))?;
            if uri.scheme_str() != Some("http") {
                return Err("only http:// witness URLs are supported (put TLS in a local proxy)".to_string());
            }
            let request = hyper::Request::post(uri)
                .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(Full::new(Bytes::from(body)))
                .map_err(|e| e.to_string())?;
            let work = async {
                let response = client.request(request).await.map_err(|e| format!("witness: {e}"))?;
                let status = response.status().as_u16();
                let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                let bytes = Limited::new(response.into_body(), yunying_audit::export::MAX_RESPONSE_BYTES)
                    .collect()
                    .await
                    .map_err(|e| format!("witness response: {e}"))?
                    .to_bytes();
                Ok((status, content_type, String::from_utf8_lossy(&bytes).into_owned()))
            };
            tokio::time::timeout(Duration::from_secs(30), work).await.map_err(|_| "the witness did not answer in 30 s".to_string())?
        })
    })
}
