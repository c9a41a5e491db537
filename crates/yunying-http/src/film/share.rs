//! The patient's onward shares over HTTP (the rules, and the share as a
//! consent record, are the domain's: `yunying_film`'s `share.rs`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use serde::Deserialize;

use super::manage::{public_base, qr};
use super::{Answer, Client, no_store, session_film};
use crate::AppState;
use crate::extract::{Json, Path};

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

/// `POST /api/film/{id}/share`: the link and the access code, shown once.
pub(crate) async fn create(
    State(s): State<AppState>,
    Client(client): Client,
    super::Https(https): super::Https,
    headers: HeaderMap,
    Path(film_id): Path<String>,
    Json(req): Json<ShareRequest>,
) -> Answer {
    let parent = session_film(&s, &headers, &film_id).await?;
    let shared = s.films.share(&parent, &req.recipient, &req.purpose, req.hours, &client).await?;
    let url = format!("{}/f#{}", public_base(&s, &headers, https), shared.token);
    let (qr_svg, _) = qr(&url)?;
    let body = serde_json::json!({ "film": shared.film, "url": url, "code": shared.code, "qr_svg": qr_svg });
    Ok(no_store((StatusCode::CREATED, Json(body)).into_response(), "no-store"))
}

/// `GET /api/film/{id}/shares`: the patient's shares of this film.
pub(crate) async fn list(State(s): State<AppState>, headers: HeaderMap, Path(film_id): Path<String>) -> Answer {
    let parent = session_film(&s, &headers, &film_id).await?;
    let now = yunying_film::now_ms();
    let body: Vec<serde_json::Value> = s
        .films
        .shares(&parent)
        .await?
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
                "active": yunying_film::is_open(f, now),
            })
        })
        .collect();
    Ok(no_store(Json(body).into_response(), "private, no-store"))
}

/// `POST /api/film/{id}/shares/{share}/revoke`: the patient withdraws a share.
pub(crate) async fn revoke(
    State(s): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    Path((film_id, child)): Path<(String, String)>,
) -> Answer {
    let parent = session_film(&s, &headers, &film_id).await?;
    s.films.revoke_share(&parent, &child, &client).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
