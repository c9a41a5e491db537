//! Onward sharing: the patient, from their own film, gives a doctor a
//! derived link. The share is a film of its own (kind `share`) that lives
//! shorter than the patient's film and never past it, opens with a
//! six-digit access code the patient passes on separately, can be revoked
//! by the patient (and goes with the patient's film when that is revoked),
//! and is itself the consent record: who shared, to whom, which studies,
//! for what purpose, until when. The parent film's `shared` event repeats
//! the consent for the ledger.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use yunying_index::Film;

use super::{Client, answer_hash, event, film_or_404, index_error, now_ms, public_base, qr, random_token, session_film, token_hash};
use crate::AppState;
use crate::error::ApiError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShareRequest {
    /// Who the share is for (a doctor's name and hospital, as the patient writes it).
    recipient: String,
    /// Why (`second opinion`, `复诊`).
    #[serde(default)]
    purpose: String,
    /// Lifetime in hours (policy default when absent, at most the policy's
    /// maximum and never past the patient's film).
    hours: Option<u64>,
}

/// `POST /api/film/{id}/share`.
pub(crate) async fn create(
    State(s): State<AppState>,
    Client(client): Client,
    super::Https(https): super::Https,
    headers: HeaderMap,
    Path(film_id): Path<String>,
    Json(req): Json<ShareRequest>,
) -> Result<Response, ApiError> {
    let parent = session_film(&s, &headers, &film_id).await?;
    if parent.kind != "patient" {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "only the patient's own film can be shared / 仅患者本人的胶片可以分享"));
    }
    let recipient = req.recipient.trim();
    if recipient.is_empty() || recipient.chars().count() > 128 || req.purpose.chars().count() > 256 {
        return Err(ApiError::bad_request("recipient (1 to 128 characters) is required; purpose is at most 256 characters"));
    }
    let policy = &s.config.film;
    let hours = req.hours.unwrap_or(policy.share_hours);
    if hours == 0 || hours > policy.share_max_hours {
        return Err(ApiError::bad_request(format!("a share lives 1 to {} hours", policy.share_max_hours)));
    }
    let now = now_ms();
    let expires = (now + hours as i64 * 3_600_000).min(parent.expires_at_ms);
    let film_id = format!("F{}", random_token(12));
    let code = format!("{:06}", rand::random_range(0..1_000_000u32));
    let token = random_token(18);
    let film = Film {
        token_hash: token_hash(&token),
        parent_film_id: parent.film_id.clone(),
        kind: "share".into(),
        studies: parent.studies.clone(),
        issuer: parent.issuer.clone(),
        patient_id: parent.patient_id.clone(),
        created_by: "patient".into(),
        recipient: recipient.to_string(),
        purpose: req.purpose.trim().to_string(),
        created_at_ms: now,
        expires_at_ms: expires,
        revoked_at_ms: None,
        max_views: None,
        views: 0,
        download: parent.download,
        verify_method: "access_code".into(),
        verify_hash: answer_hash(&film_id, &code),
        verify_hint: String::new(),
        code_expires_ms: None,
        code_sent_ms: None,
        failed_attempts: 0,
        locked_at_ms: None,
        report: parent.report,
        report_key: String::new(),
        report_type: String::new(),
        film_id,
    };
    let consent = serde_json::json!({
        "share": film.film_id,
        "by": "patient",
        "to": film.recipient,
        "purpose": film.purpose,
        "studies": film.studies,
        "expires_at_ms": film.expires_at_ms,
    })
    .to_string();
    let created = event(&film, "patient", "created", &client, "ok", consent.clone());
    s.archive.index().create_film(&film, &created).await.map_err(index_error)?;
    s.archive.index().record_film_event(&event(&parent, "patient", "shared", &client, "ok", consent)).await.map_err(index_error)?;
    let url = format!("{}/f#{token}", public_base(&s, &headers, https));
    let (qr_svg, _) = qr(&url)?;
    let body = serde_json::json!({ "film": film, "url": url, "code": code, "qr_svg": qr_svg });
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET /api/film/{id}/shares`: the patient's shares of this film.
pub(crate) async fn list(State(s): State<AppState>, headers: HeaderMap, Path(film_id): Path<String>) -> Result<Response, ApiError> {
    let parent = session_film(&s, &headers, &film_id).await?;
    let shares = s.archive.index().films_shared_from(&parent.film_id).await.map_err(index_error)?;
    let now = now_ms();
    let body: Vec<serde_json::Value> = shares
        .iter()
        .map(|f| {
            serde_json::json!({
                "film_id": f.film_id,
                "recipient": f.recipient,
                "purpose": f.purpose,
                "created_at_ms": f.created_at_ms,
                "expires_at_ms": f.expires_at_ms,
                "revoked_at_ms": f.revoked_at_ms,
                "views": f.views,
                "active": f.revoked_at_ms.is_none() && f.expires_at_ms > now,
            })
        })
        .collect();
    let mut r = Json(body).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(r)
}

/// `POST /api/film/{id}/shares/{share}/revoke`: the patient withdraws a share.
pub(crate) async fn revoke(
    State(s): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    Path((film_id, child)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let parent = session_film(&s, &headers, &film_id).await?;
    let share = film_or_404(&s, &child).await?;
    if share.parent_film_id != parent.film_id {
        return Err(ApiError::not_found("no such share of this film"));
    }
    let e = event(&share, "patient", "revoked", &client, "ok", "withdrawn by the patient");
    s.archive.index().revoke_film(&share.film_id, now_ms(), &e).await.map_err(index_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
