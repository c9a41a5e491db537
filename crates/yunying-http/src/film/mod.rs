//! Cloud films (云胶片) over HTTP: routes, cookies, JSON and streaming
//! bodies around the film domain (`yunying-film`, [`yunying_film::Films`]),
//! which holds every rule.
//!
//! Staff or the hospital information system create a film through the
//! management API (`/api/films`). The link is `{public_url}/f#{token}`: the
//! token rides in the fragment, which browsers never send to a server, so
//! it appears in no request line, access log or proxy log. The film page
//! posts it in a request body to open the film and verify the second
//! factor; a pass sets a short-lived session cookie whose path is that
//! film's own (`/api/film/{film_id}`), and every film resource asks the
//! domain whether the session belongs to the film in its path.
//!
//! [`Refusal`] is the one place film errors become statuses.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use yunying_film::{FilmContents, FilmError, FilmReport};
use yunying_index::Film;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::{Json, Path};

mod dicomweb;
mod download;
mod import;
mod manage;
mod report;
mod share;
pub(crate) mod stow_client;
mod verify;

pub(crate) use verify::{Client, Https, client_address};
pub use yunying_film::{FilmConfig, LogSender, SmsSender, StowDestination};

/// The session cookie's name.
const COOKIE: &str = "yy_film";

/// A film route's answer when it is refused.
pub(crate) struct Refusal(Response);

/// What film routes answer.
type Answer = Result<Response, Refusal>;

impl From<FilmError> for Refusal {
    /// Film errors as HTTP statuses: the one place.
    fn from(e: FilmError) -> Refusal {
        let message = e.to_string();
        let status = match e {
            FilmError::WrongAnswer { attempts_left } => {
                // The page shows how many tries are left.
                let body = serde_json::json!({ "error": message, "status": 401, "attempts_left": attempts_left });
                return Refusal((StatusCode::UNAUTHORIZED, Json(body)).into_response());
            }
            FilmError::NotFound(_) => StatusCode::NOT_FOUND,
            FilmError::Gone(_) => StatusCode::GONE,
            FilmError::Locked => StatusCode::LOCKED,
            FilmError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            FilmError::Forbidden(_) => StatusCode::FORBIDDEN,
            FilmError::Invalid(_) => StatusCode::BAD_REQUEST,
            FilmError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            FilmError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            FilmError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            FilmError::Upstream(_) => StatusCode::BAD_GATEWAY,
            FilmError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            FilmError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Refusal(ApiError::new(status, message).into_response())
    }
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Refusal {
        Refusal(e.into_response())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        self.0
    }
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/films", post(manage::create))
        .route("/api/films/{film}", get(manage::show))
        .route("/api/films/{film}/revoke", post(manage::revoke))
        .route("/api/films/{film}/unlock", post(manage::unlock))
        .route("/api/films/{film}/expires", post(manage::shorten))
        .route("/api/films/{film}/events", get(manage::events))
        .route("/api/studies/{study}/film-events", get(manage::study_events))
        .route("/api/film/open", post(verify::open))
        .route("/api/film/code", post(verify::send_code))
        .route("/api/film/verify", post(verify::verify))
        .route("/api/film/{film}/info", get(info))
        .route("/api/film/{film}/dicom-web/{*rest}", any(dicomweb::reads))
        .route("/api/films/{film}/report", put(report::upload).layer(axum::extract::DefaultBodyLimit::max(yunying_film::MAX_UPLOAD)))
        .route("/api/film/{film}/report/{which}", get(report::show))
        .route("/api/film/{film}/download", get(download::zip))
        .route("/api/film/{film}/share", post(share::create))
        .route("/api/film/{film}/shares", get(share::list))
        .route("/api/film/{film}/shares/{child}/revoke", post(share::revoke))
        .route("/api/film/{film}/destinations", get(import::destinations))
        .route("/api/film/{film}/import", post(import::start))
        .route("/api/film/{film}/import/{job}", get(import::progress))
        .route("/f", get(page))
}

/// The film page (the built viewer's `film.html`).
async fn page(State(s): State<AppState>, headers: axum::http::HeaderMap) -> Result<Response, ApiError> {
    let mut r = crate::viewer::serve(&s, "film.html", &headers).await?;
    // The page holds the link token in its fragment: never let it be framed
    // or leak through a referrer.
    let h = r.headers_mut();
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; frame-src 'self'; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    Ok(r)
}

/// The film a request's session cookies open, if it is `film_id` and open.
pub(super) async fn session_film(s: &AppState, headers: &HeaderMap, film_id: &str) -> Result<Film, Refusal> {
    let tokens: Vec<&str> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(COOKIE).and_then(|r| r.strip_prefix('=')))
        .collect();
    Ok(s.films.session_film(&tokens, film_id).await?)
}

/// `private, no-store`: a film's answers stay out of shared and disk caches.
fn no_store(mut r: Response, value: &'static str) -> Response {
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    r
}

/// What the film page shows: masked patient, studies, their image series
/// with thumbnails and instances in order, and reports.
async fn info(State(s): State<AppState>, Client(client): Client, headers: HeaderMap, Path(film_id): Path<String>) -> Answer {
    let film = session_film(&s, &headers, &film_id).await?;
    let body = film_info(&s, &film).await?;
    s.films.viewed(&film, &client, "film page").await?;
    Ok(no_store(Json(body).into_response(), "private, no-store"))
}

/// The film page's view of a film, addressed under the film's own paths.
pub(crate) async fn film_info(s: &AppState, film: &Film) -> Result<serde_json::Value, FilmError> {
    let FilmContents { patient, studies, reports } = s.films.contents(film).await?;
    let id = &film.film_id;
    let base = format!("/api/film/{id}/dicom-web");
    let reports: Vec<serde_json::Value> = reports
        .into_iter()
        .map(|r| match r {
            FilmReport::Uploaded { media_type } => serde_json::json!({
                "title": "诊断报告 / Report",
                "media_type": media_type,
                "url": format!("/api/film/{id}/report/uploaded"),
            }),
            FilmReport::Instance { study, sop, title, pdf } => serde_json::json!({
                "title": title,
                "media_type": if pdf { "application/pdf" } else { "text/plain" },
                "url": format!("/api/film/{id}/report/{sop}"),
                "study": study,
            }),
        })
        .collect();
    let studies: Vec<serde_json::Value> = studies
        .into_iter()
        .map(|st| {
            let series: Vec<serde_json::Value> = st
                .series
                .into_iter()
                .map(|se| {
                    let instances: Vec<serde_json::Value> = se
                        .instances
                        .into_iter()
                        .map(|(sop, frames)| if frames > 1 { serde_json::json!([sop, frames]) } else { serde_json::json!(sop) })
                        .collect();
                    serde_json::json!({
                        "uid": se.uid,
                        "number": se.number,
                        "description": se.description,
                        "modality": se.modality,
                        "thumbnail": format!("{base}/studies/{}/series/{}/thumbnail", st.uid, se.uid),
                        "instances": instances,
                    })
                })
                .collect();
            serde_json::json!({
                "uid": st.uid,
                "date": st.date,
                "description": st.description,
                "institution": st.institution,
                "modalities": st.modalities,
                "series": series,
            })
        })
        .collect();
    let patient = patient.map_or(serde_json::Value::Null, |p| serde_json::json!({ "name": p.name, "sex": p.sex }));
    Ok(serde_json::json!({
        "film_id": film.film_id,
        "kind": film.kind,
        "patient": patient,
        "studies": studies,
        "reports": reports,
        "download": film.download,
        "share": film.kind == "patient",
        "recipient": film.recipient,
        "expires_at_ms": film.expires_at_ms,
        "dicomweb": base,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn film_errors_keep_their_statuses() {
        let status = |e: FilmError| Refusal::from(e).into_response().status().as_u16();
        assert_eq!(status(FilmError::NotFound(String::new())), 404);
        assert_eq!(status(FilmError::Gone(String::new())), 410);
        assert_eq!(status(FilmError::Locked), 423);
        assert_eq!(status(FilmError::WrongAnswer { attempts_left: 4 }), 401);
        assert_eq!(status(FilmError::Unauthenticated(String::new())), 401);
        assert_eq!(status(FilmError::Forbidden(String::new())), 403);
        assert_eq!(status(FilmError::Invalid(String::new())), 400);
        assert_eq!(status(FilmError::Unprocessable(String::new())), 422);
        assert_eq!(status(FilmError::UnsupportedMediaType(String::new())), 415);
        assert_eq!(status(FilmError::TooMany(String::new())), 429);
        assert_eq!(status(FilmError::Upstream(String::new())), 502);
        assert_eq!(status(FilmError::Unavailable(String::new())), 503);
    }

    #[test]
    fn client_address_behind_trusted_proxies() {
        let proxy: std::net::IpAddr = "10.0.0.5".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", HeaderValue::from_static("198.51.100.9, 203.0.113.7"));
        headers.append("x-forwarded-for", HeaderValue::from_static("10.0.0.5"));
        assert_eq!(client_address(Some(proxy), &headers, &[proxy]), "203.0.113.7", "the last hop the trusted proxies did not add");
        assert_eq!(client_address(Some(proxy), &headers, &[]), "10.0.0.5", "no trusted proxies: the peer");
        let other: std::net::IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(client_address(Some(other), &headers, &[proxy]), "192.0.2.1", "a header from an untrusted peer is ignored");
    }

    #[test]
    fn forwarded_hops_with_ports_are_parsed_not_skipped() {
        let proxy: std::net::IpAddr = "10.0.0.5".parse().unwrap();
        let forwarded = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.append("x-forwarded-for", HeaderValue::from_static(value));
            client_address(Some(proxy), &headers, &[proxy])
        };
        // The attack: a spoofed entry left of a hop the proxy wrote with a port.
        assert_eq!(forwarded("198.51.100.9, 203.0.113.7:51234"), "203.0.113.7");
        assert_eq!(forwarded("198.51.100.9, [2001:db8::7]:443"), "2001:db8::7");
        assert_eq!(forwarded("198.51.100.9, [2001:db8::8]"), "2001:db8::8");
        assert_eq!(forwarded("198.51.100.9, 2001:db8::9"), "2001:db8::9");
        assert_eq!(forwarded("198.51.100.9, 10.0.0.5:80, 203.0.113.8:1"), "203.0.113.8");
        // A hop that is no address stops the walk: never the entry left of it.
        assert_eq!(forwarded("198.51.100.9, unknown"), "unknown");
        assert_eq!(forwarded("198.51.100.9, _hidden"), "_hidden");
    }

    #[test]
    fn qr_code_is_a_png() {
        let (svg, png_bytes) = manage::qr("http://127.0.0.1:8042/f#abcdefghijklmnopqrstuvwx").unwrap();
        assert!(svg.contains("<svg"));
        assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n");
    }
}
