//! The link holder's routes before the images: opening a link, sending an
//! SMS code, and checking the second factor (the rules and both lockouts
//! are the domain's), with the session cookie a pass sets; who the client
//! is (behind trusted proxies) and whether it came over HTTPS.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::IntoResponse;
use serde::Deserialize;

use super::{Answer, COOKIE, Refusal, film_info, no_store};
use crate::AppState;
use crate::error::ApiError;
use crate::extract::Json;

/// The client's address: the connection's peer, or, when that is a trusted
/// proxy, the last address in `X-Forwarded-For` that is not one.
pub(crate) struct Client(pub String);

impl axum::extract::FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        Ok(Client(client_address(peer, &parts.headers, &state.config.trusted_proxies)))
    }
}

pub(crate) fn client_address(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> String {
    let Some(peer) = peer else { return "unknown".into() };
    if !trusted.contains(&peer) {
        return peer.to_string();
    }
    // Walk X-Forwarded-For from the right (the hops our proxies appended)
    // to the first address no trusted proxy wrote. An entry that is not an
    // address stops the walk: what lies left of it came from the client
    // and proves nothing.
    let hops: Vec<&str> = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).collect();
    let mut client = peer.to_string();
    for hop in hops.iter().rev().map(|h| h.trim()) {
        match forwarded_address(hop) {
            Some(ip) if trusted.contains(&ip) => client = ip.to_string(),
            Some(ip) => return ip.to_string(),
            None => return hop.chars().take(64).collect(),
        }
    }
    client
}

/// An address as proxies write it in X-Forwarded-For: `ip`, `ip:port`,
/// `[v6]` or `[v6]:port`.
pub(super) fn forwarded_address(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Ok(socket) = hop.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    hop.strip_prefix('[').and_then(|h| h.strip_suffix(']')).and_then(|h| h.parse().ok())
}

/// Whether a request reached us over HTTPS: `http.public_url` is https,
/// the request itself came over TLS, or a trusted proxy says the client
/// used https (`X-Forwarded-Proto`). Session cookies are `Secure` then.
pub(crate) struct Https(pub bool);

impl axum::extract::FromRequestParts<AppState> for Https {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let configured = state.config.public_url.as_deref().is_some_and(|u| u.starts_with("https:"));
        let direct = parts.uri.scheme() == Some(&axum::http::uri::Scheme::HTTPS) || parts.extensions.get::<crate::tls::Tls>().is_some();
        // Only a trusted proxy's header reaches here (`guard::forwarded_proto`).
        Ok(Https(configured || direct || crate::guard::forwarded_https(&parts.headers)))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TokenBody {
    token: String,
    #[serde(default)]
    answer: Option<String>,
}

/// `POST /api/film/open`: what the page needs to ask for the second factor.
pub(super) async fn open(State(s): State<AppState>, Client(client): Client, Json(body): Json<TokenBody>) -> Answer {
    let opened = s.films.open(&body.token, &client).await?;
    let film = &opened.film;
    Ok(Json(serde_json::json!({
        "film_id": film.film_id,
        "verify_method": film.verify_method,
        "verify_hint": opened.hint,
        "institution": opened.institution,
        "expires_at_ms": film.expires_at_ms,
        "kind": film.kind,
    }))
    .into_response())
}

/// `POST /api/film/code`: send an SMS code (films verified by SMS).
pub(super) async fn send_code(State(s): State<AppState>, Client(client): Client, Json(body): Json<TokenBody>) -> Answer {
    let sent = s.films.send_code(&body.token, &client).await?;
    Ok(Json(serde_json::json!({ "sent_to": sent.sent_to, "expires_at_ms": sent.expires_at_ms })).into_response())
}

/// `POST /api/film/verify`: a pass sets the session cookie, scoped to the
/// film's own path, and answers with the film's contents (one round trip
/// less before the first image).
pub(super) async fn verify(State(s): State<AppState>, Client(client): Client, Https(https): Https, Json(body): Json<TokenBody>) -> Answer {
    let session = s.films.verify(&body.token, body.answer.as_deref().unwrap_or(""), &client).await?;
    let film = &session.film;
    let cookie = format!(
        "{COOKIE}={}; Path=/api/film/{}; Max-Age={}; HttpOnly; SameSite=Strict{}",
        session.token,
        film.film_id,
        session.max_age_secs,
        if https { "; Secure" } else { "" }
    );
    let info = film_info(&s, film).await?;
    s.films.viewed(film, &client, "film page").await?;
    let body = serde_json::json!({ "film_id": film.film_id, "session_expires_at_ms": session.expires_at_ms, "info": info });
    let mut response = Json(body).into_response();
    let cookie = HeaderValue::from_str(&cookie).map_err(|e| Refusal::from(ApiError::internal(e.to_string())))?;
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(no_store(response, "no-store"))
}
