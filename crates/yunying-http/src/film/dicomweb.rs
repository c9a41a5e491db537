//! DICOMweb reads inside a film, for its session only.
//!
//! The path after `/api/film/{id}/dicom-web/` is read as decoded segments
//! by the same rule as `/dicom-web` ([`crate::auth::dicomweb_action`]);
//! nothing is re-parsed from text, so an encoded `?`, `#`, `/` or `..` can
//! never turn a path into another request. The request then goes to the
//! same handlers as `/dicom-web`, as the film's principal: the access layer
//! lets it reach the film's studies only (searches are scoped in the index),
//! and originals only when the film allows download.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use tower::ServiceExt;
use yunying_access::Action;
use yunying_film::Films;

use super::{Refusal, session_film};
use crate::AppState;
use crate::auth::dicomweb_action;
use crate::error::ApiError;
use crate::extract::Path;

/// `GET /api/film/{id}/dicom-web/{*rest}`: QIDO-RS over the film's
/// studies, metadata, frames, rendered images and thumbnails (what the film
/// page and the radiologist viewer ask for), and whole instances when the
/// film allows download.
pub(crate) async fn reads(
    State(s): State<AppState>,
    Path((film_id, rest)): Path<(String, String)>,
    request: Request,
) -> Result<Response, Refusal> {
    let film = session_film(&s, request.headers(), &film_id).await?;
    if request.method() != axum::http::Method::GET && request.method() != axum::http::Method::HEAD {
        return Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "films are read-only").into());
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let (action, study) = dicomweb_action(&Method::GET, &segments)
        .filter(|(a, _)| *a != Action::Store)
        .ok_or_else(|| ApiError::not_found("no such resource in a film / 胶片中没有此资源"))?;
    Films::check_read(&film, study, action == Action::Retrieve)?;
    // Every segment is plain (checked above), so the path is rebuilt as it
    // was routed; the query string is the client's, and the scope below,
    // not the query, decides which studies a search reaches.
    let query = request.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
    let uri: axum::http::Uri = format!("/{}{query}", segments.join("/")).parse().map_err(|_| ApiError::bad_request("bad path"))?;
    // A new request (not the old one's parts): the outer route's path
    // parameters live in its extensions and would confuse the inner routes.
    let (head, body) = request.into_parts();
    let mut inner_request = Request::new(Body::new(body));
    *inner_request.method_mut() = head.method;
    *inner_request.uri_mut() = uri;
    *inner_request.headers_mut() = head.headers;
    inner_request.extensions_mut().insert(Films::principal(&film));
    // The client's address, for the access record of what it views.
    if let Some(peer) = head.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().cloned() {
        inner_request.extensions_mut().insert(peer);
    }
    let inner = s.film_reads.get_or_init(|| crate::film_reads(s.clone())).clone();
    let mut response = inner.oneshot(inner_request).await.unwrap_or_else(|e| match e {});
    // A film's images are private to its session, and stay out of the
    // browser's disk cache (a shared phone keeps nothing once the session
    // ends; the page holds what it showed in memory).
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(response)
}
