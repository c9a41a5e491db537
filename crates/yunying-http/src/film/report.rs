//! Reports on films over HTTP: the upload (its media type read from the
//! request) and the report as a response the browser shows inline. Which
//! reports a film has and what they hold are the domain's
//! (`yunying_film`'s `report.rs`).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::IntoResponse;

use super::{Answer, Client, Refusal, session_film};
use crate::AppState;
use crate::auth::Signed;
use crate::error::ApiError;
use crate::extract::Path;

/// `PUT /api/films/{id}/report`: attach a report (`application/pdf` or
/// `text/plain`) to a film and the films shared from it.
pub(crate) async fn upload(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,
    headers: HeaderMap,
    Path(film_id): Path<String>,
    body: Bytes,
) -> Answer {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    s.films.attach_report(&who, &film_id, &media_type, body.to_vec(), &client).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/film/{id}/report/{uploaded | SOP Instance UID}`.
pub(crate) async fn show(
    State(s): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    Path((film_id, which)): Path<(String, String)>,
) -> Answer {
    let film = session_film(&s, &headers, &film_id).await?;
    let (media_type, bytes) = s.films.report(&film, &which, &client).await?;
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    let media_type = HeaderValue::from_str(&media_type).map_err(|e| Refusal::from(ApiError::internal(e.to_string())))?;
    h.insert(header::CONTENT_TYPE, media_type);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("inline"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(r)
}
