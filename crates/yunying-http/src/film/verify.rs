//! The patient's side of a film before its images: opening a link,
//! sending an SMS code, checking the second factor with both lockouts, and
//! the session a pass starts; who the client is (behind trusted proxies)
//! and whether it came over HTTPS.

use std::net::{IpAddr, SocketAddr};

use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use yunying_index::{Film, Verified};

use super::*;
use crate::AppState;
use crate::error::ApiError;

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
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let proxied = peer.is_some_and(|p| state.config.trusted_proxies.contains(&p))
            && parts
                .headers
                .get_all("x-forwarded-proto")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
        Ok(Https(configured || direct || proxied))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TokenBody {
    token: String,
    #[serde(default)]
    answer: Option<String>,
}

/// Why a film cannot be opened now, as the page shows it.
pub(super) fn closed(film: &Film, now: i64) -> Option<ApiError> {
    if film.revoked_at_ms.is_some() {
        return Some(ApiError::new(StatusCode::GONE, "this link has been withdrawn / 此链接已被撤销"));
    }
    if film.expires_at_ms <= now {
        return Some(ApiError::new(StatusCode::GONE, "this link has expired / 此链接已过期"));
    }
    None
}

/// Why a film cannot be opened or verified now: closed, or locked.
pub(super) fn refusal(film: &Film, now: i64) -> Option<ApiError> {
    closed(film, now).or_else(|| film.locked_at_ms.map(|_| locked_error()))
}

pub(super) fn locked_error() -> ApiError {
    ApiError::new(
        StatusCode::LOCKED,
        "too many wrong answers: this film is locked; ask the hospital to unlock it / 验证失败次数过多，胶片已锁定，请联系医院解锁",
    )
}

pub(super) async fn film_of_token(s: &AppState, token: &str, client: &str) -> Result<Film, ApiError> {
    // Malformed tokens never reach the index (and are never echoed).
    if token.len() > 64 || token.is_empty() {
        return Err(ApiError::not_found("no such film / 胶片不存在"));
    }
    match s.archive.index().film_by_token(&token_hash(token)).await.map_err(index_error)? {
        Some(film) => Ok(film),
        None => {
            tracing::info!(client, "film link with an unknown token");
            Err(ApiError::not_found("no such film / 胶片不存在"))
        }
    }
}

/// The page opens a link: what it needs to ask for the second factor.
pub(super) async fn open(State(s): State<AppState>, Client(client): Client, Json(body): Json<TokenBody>) -> Result<Response, ApiError> {
    let film = film_of_token(&s, &body.token, &client).await?;
    let now = now_ms();
    let refused = refusal(&film, now);
    let result = if refused.is_some() { "refused" } else { "ok" };
    s.archive.index().record_film_event(&event(&film, "client", "opened", &client, result, "")).await.map_err(index_error)?;
    if let Some(e) = refused {
        return Err(e);
    }
    let institution = studies_matching(&s, vec![(0x0020_000D, film.studies[0].clone())])
        .await?
        .first()
        .map(|m| m.text(0x0008_0080).to_string())
        .unwrap_or_default();
    Ok(Json(serde_json::json!({
        "film_id": film.film_id,
        "verify_method": film.verify_method,
        "verify_hint": shown_hint(&s, &film),
        "institution": institution,
        "expires_at_ms": film.expires_at_ms,
        "kind": film.kind,
    }))
    .into_response())
}

/// Send an SMS code (films verified by SMS).
pub(super) async fn send_code(
    State(s): State<AppState>,
    Client(client): Client,
    Json(body): Json<TokenBody>,
) -> Result<Response, ApiError> {
    let film = film_of_token(&s, &body.token, &client).await?;
    let now = now_ms();
    if let Some(e) = refusal(&film, now) {
        return Err(e);
    }
    if film.verify_method != "sms" {
        return Err(ApiError::bad_request("this film is not verified by SMS"));
    }
    let interval = s.config.film.code_interval_seconds as i64 * 1000;
    if film.code_sent_ms.is_some_and(|t| now - t < interval) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "a code was sent a moment ago: wait before asking again / 验证码已发送，请稍后再试",
        ));
    }
    let code = format!("{:06}", rand::random_range(0..1_000_000u32));
    let expires = now + s.config.film.code_minutes as i64 * 60_000;
    let phone = phone_of(&s, &film)?;
    let e = event(&film, "client", "code-sent", &client, "ok", mask_phone(&phone));
    s.archive.index().set_film_code(&film.film_id, &answer_hash(&film.film_id, &code), now, expires, &e).await.map_err(index_error)?;
    s.sms
        .send(&film.film_id, &phone, &code)
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, format!("the SMS could not be sent: {e}")))?;
    Ok(Json(serde_json::json!({ "sent_to": mask_phone(&phone), "expires_at_ms": expires })).into_response())
}

pub(super) fn normalise_answer(method: &str, answer: &str) -> String {
    match method {
        "birth_date" => normalise_date(answer),
        "phone_suffix" | "id_suffix" => digits_suffix(answer).unwrap_or_default(),
        "access_code" => answer.chars().filter(char::is_ascii_digit).collect(),
        _ => answer.trim().to_string(),
    }
}

/// Check the second factor; a pass starts a session for this film only.
///
/// Both limits (per film, per client address) count an attempt before its
/// answer is compared, in the index, so answers sent at once (to one node
/// or several) are never compared more often than the limits allow; a right
/// answer opens a session only if the film is still unlocked then.
pub(super) async fn verify(
    State(s): State<AppState>,
    Client(client): Client,
    Https(https): Https,
    Json(body): Json<TokenBody>,
) -> Result<Response, ApiError> {
    let policy = &s.config.film;
    let now = now_ms();
    let index = s.archive.index();
    let film = film_of_token(&s, &body.token, &client).await?;
    if let Some(e) = refusal(&film, now) {
        let why = if closed(&film, now).is_some() { "closed" } else { "locked" };
        index.record_film_event(&event(&film, "client", "verify", &client, "refused", why)).await.map_err(index_error)?;
        return Err(e);
    }
    let since = now - policy.client_window_minutes as i64 * 60_000;
    let Some(held) = index.reserve_slot(&format!("verify:{client}"), since, now, policy.client_max_failures).await.map_err(index_error)?
    else {
        index
            .record_film_event(&event(&film, "client", "verify", &client, "refused", "client address blocked"))
            .await
            .map_err(index_error)?;
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many failed verifications from this address: try again in {} minutes / 验证失败次数过多，请稍后再试",
                policy.client_window_minutes
            ),
        ));
    };
    if !index.reserve_film_attempt(&film.film_id, policy.max_failures).await.map_err(index_error)? {
        index.release_slot(held).await.map_err(index_error)?;
        index.record_film_event(&event(&film, "client", "verify", &client, "refused", "locked")).await.map_err(index_error)?;
        return Err(locked_error());
    }
    let answer = normalise_answer(&film.verify_method, body.answer.as_deref().unwrap_or(""));
    let code_live = film.verify_method != "sms" || film.code_expires_ms.is_some_and(|t| t > now);
    let right = code_live && !film.verify_hash.is_empty() && !answer.is_empty() && answer_hash(&film.film_id, &answer) == film.verify_hash;
    if !right {
        let e = event(&film, "client", "verify", &client, "failed", "");
        let attempts = index.film_verification_failed(&film.film_id, policy.max_failures, now, &e).await.map_err(index_error)?;
        if attempts.locked {
            return Err(locked_error());
        }
        let left = (policy.max_failures - attempts.failed).max(0);
        let body = serde_json::json!({
            "error": format!("wrong answer: {left} attempts left / 验证失败，还可尝试 {left} 次"),
            "status": 401,
            "attempts_left": left,
        });
        return Ok((StatusCode::UNAUTHORIZED, Json(body)).into_response());
    }
    index.release_slot(held).await.map_err(index_error)?;
    let session = random_token(18);
    let expires = now + policy.session_minutes as i64 * 60_000;
    let e = event(&film, "client", "verify", &client, "ok", "");
    match index.film_verified(&film.film_id, &token_hash(&session), now, expires, &e).await.map_err(index_error)? {
        Verified::Session => {}
        Verified::Locked => {
            index.record_film_event(&event(&film, "client", "verify", &client, "refused", "locked")).await.map_err(index_error)?;
            return Err(locked_error());
        }
        Verified::ViewsUsedUp => {
            index.record_film_event(&event(&film, "client", "verify", &client, "refused", "views used up")).await.map_err(index_error)?;
            return Err(ApiError::new(StatusCode::GONE, "this link has been opened as often as allowed / 此链接的查看次数已用完"));
        }
    }
    let cookie = format!(
        "{COOKIE}={session}; Path=/api/film/{}; Max-Age={}; HttpOnly; SameSite=Strict{}",
        film.film_id,
        policy.session_minutes * 60,
        if https { "; Secure" } else { "" }
    );
    // The page's first view comes with the session: one round trip less
    // before the first image.
    let info = film_info(&s, &film).await?;
    index.record_film_event(&event(&film, viewer_actor(&film), "viewed", &client, "ok", "film page")).await.map_err(index_error)?;
    let mut response = Json(serde_json::json!({ "film_id": film.film_id, "session_expires_at_ms": expires, "info": info })).into_response();
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal(e.to_string()))?);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The film a request's session cookie opens, if it is `film_id` and open.
pub(super) async fn session_film(s: &AppState, headers: &HeaderMap, film_id: &str) -> Result<Film, ApiError> {
    let now = now_ms();
    let mut session_of = None;
    for value in headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()) {
        for pair in value.split(';') {
            if let Some(token) = pair.trim().strip_prefix(COOKIE).and_then(|r| r.strip_prefix('='))
                && token.len() <= 64
                && let Some(id) = s.archive.index().film_of_session(&token_hash(token), now).await.map_err(index_error)?
                && id == film_id
            {
                session_of = Some(id);
            }
        }
    }
    if session_of.is_none() {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "verify first: no session for this film / 请先完成验证"));
    }
    let film = film_or_404(s, film_id).await?;
    if let Some(e) = closed(&film, now) {
        return Err(e);
    }
    Ok(film)
}
