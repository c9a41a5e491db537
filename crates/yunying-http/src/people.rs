//! Signing in and out over HTTP: `/api/auth/*` (password and TOTP, the
//! session cookie, OpenID Connect redirects) and, in [`admin`], the account
//! administration API `/api/admin/*`. The rules are the access layer's
//! (`yunying_access::people`); this file maps them to HTTP.
//!
//! The session cookie `yy_session` is HttpOnly (no script reads it),
//! `SameSite=Strict` (no other site's page or link sends it), `Secure` over
//! HTTPS, `Path=/`. Strict holds for OpenID Connect too: the provider's
//! redirect back to us is a cross-site navigation, so only the short-lived
//! `yy_oidc` cookie that binds the callback to the browser that began the
//! sign-in is `SameSite=Lax` (it must come back on that navigation); the
//! session cookie set by the callback is Strict, and the viewer page the
//! callback redirects to needs no cookie: its own same-origin requests send
//! it.
//!
//! Cross-site request forgery: every state-changing request (POST, DELETE)
//! under `/api/auth` and `/api/admin` must say `Content-Type:
//! application/json` (a form or a no-CORS fetch from another site cannot,
//! and CORS here never allows credentials), and an `Origin` header, when
//! present, must be this server's own.

mod admin;

use axum::Router;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use yunying_access::people::{Login, REFUSED, SessionInfo, SignedIn};
use yunying_access::{Denied, Principal};

use crate::AppState;
pub(crate) use crate::auth::denied;
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::film::{Client, Https};

/// The session cookie.
pub(crate) const SESSION_COOKIE: &str = "yy_session";
/// The cookie binding an OIDC callback to the browser that began it.
const OIDC_COOKIE: &str = "yy_oidc";

pub(crate) fn routes() -> Router<AppState> {
    let changes = Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/logout-all", post(logout_all))
        .route("/api/auth/totp/enroll", post(totp_enroll))
        .route("/api/auth/totp/confirm", post(totp_confirm))
        .route("/api/auth/password", post(change_password))
        .merge(admin::routes())
        .route_layer(middleware::from_fn(same_origin_json));
    Router::new()
        .route("/api/auth/me", get(me))
        .route("/api/auth/providers", get(providers))
        .route("/api/auth/oidc/{name}/login", get(oidc_login))
        .route("/api/auth/oidc/{name}/callback", get(oidc_callback))
        .merge(changes)
}

/// State-changing requests: JSON only, and from our own origin.
pub(crate) async fn same_origin_json(request: Request, next: Next) -> Response {
    if matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS) {
        return next.run(request).await;
    }
    let headers = request.headers();
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "send JSON (Content-Type: application/json)").into_response();
    }
    if let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
        let authority = origin.split_once("://").map_or("", |(_, a)| a).trim_end_matches('/');
        if host.is_empty() || !authority.eq_ignore_ascii_case(host) {
            return ApiError::new(StatusCode::FORBIDDEN, "cross-origin request refused").into_response();
        }
    }
    next.run(request).await
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(name).and_then(|r| r.strip_prefix('=')))
        .collect()
}

/// The request's open session (from `yy_session`), or 401.
pub(crate) struct Session(pub SessionInfo);

impl FromRequestParts<AppState> for Session {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let tokens = cookie_value(&parts.headers, SESSION_COOKIE);
        let mut last = Denied::Unauthenticated("sign in first / 请先登录".into());
        for token in tokens.into_iter().take(4) {
            match state.access.session(token).await {
                Ok(s) => return Ok(Session(s)),
                Err(e) => last = e,
            }
        }
        Err(denied(last))
    }
}

/// Who asks: a session (an enrolment-only one does nothing here) or a
/// bearer token (API key, an identity provider's access token).
pub(crate) struct Caller(pub Principal);

impl FromRequestParts<AppState> for Caller {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(p) = parts.extensions.get::<Principal>() {
            return Ok(Caller(p.clone()));
        }
        if let Some(token) = bearer(&parts.headers) {
            return state.access.authenticate_bearer(token).await.map(Caller).map_err(denied);
        }
        Session::from_request_parts(parts, state).await.map(|Session(s)| Caller(s.principal))
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")).map(str::trim)
}

fn user_agent(headers: &HeaderMap) -> String {
    headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("").chars().take(200).collect()
}

fn session_cookie(state: &AppState, token: &str, https: bool) -> String {
    let max_age = state.access.config().accounts.session_max_secs;
    format!("{SESSION_COOKIE}={token}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{}", if https { "; Secure" } else { "" })
}

fn cleared(name: &str, path: &str, https: bool) -> String {
    format!("{name}=; Path={path}; Max-Age=0; HttpOnly; SameSite=Strict{}", if https { "; Secure" } else { "" })
}

fn with_cookies(mut response: Response, cookies: &[String]) -> Response {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// What the sign-in page and the viewer learn of the person signed in.
fn whoami(s: &SessionInfo) -> serde_json::Value {
    serde_json::json!({
        "user_id": s.user.user_id,
        "user": s.user.username,
        "display_name": s.user.display_name,
        "institution": s.user.institution,
        "roles": s.user.roles,
        "totp": s.user.totp,
        "needs_totp_enrolment": s.enrolment_only,
        "session_id": s.session_id,
        "session_expires_ms": s.absolute_expires_ms,
    })
}

fn signed_in(state: &AppState, done: SignedIn, https: bool) -> Response {
    let cookie = session_cookie(state, &done.token, https);
    with_cookies(Json(whoami(&done.session)).into_response(), &[cookie])
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    username: String,
    password: String,
    #[serde(default)]
    totp: Option<String>,
}

async fn login(
    State(s): State<AppState>,
    Client(client): Client,
    Https(https): Https,
    headers: HeaderMap,
    Json(b): Json<LoginBody>,
) -> Response {
    let outcome = s.access.login(b.username.trim(), &b.password, b.totp.as_deref(), &client, &user_agent(&headers)).await;
    match outcome {
        Ok(Login::SignedIn(done)) => signed_in(&s, *done, https),
        Ok(Login::TotpRequired) => {
            let body = serde_json::json!({"error": "enter the code from your authenticator app / 请输入动态口令", "status": 401, "totp_required": true});
            let mut r = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"yunying\""));
            r
        }
        Ok(Login::Refused) => denied(Denied::Unauthenticated(REFUSED.into())),
        Ok(Login::Throttled) => ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed sign-ins from this address: try again later / 登录失败次数过多，请稍后再试",
        )
        .into_response(),
        Err(e) => denied(e),
    }
}

async fn logout(State(s): State<AppState>, Client(client): Client, Https(https): Https, Session(session): Session) -> Response {
    if let Err(e) = s.access.logout(&session, &client).await {
        return denied(e);
    }
    with_cookies(StatusCode::NO_CONTENT.into_response(), &[cleared(SESSION_COOKIE, "/", https)])
}

async fn logout_all(State(s): State<AppState>, Client(client): Client, Https(https): Https, Session(session): Session) -> Response {
    match s.access.logout_everywhere(&session, &client).await {
        Ok(n) => with_cookies(Json(serde_json::json!({"ended": n})).into_response(), &[cleared(SESSION_COOKIE, "/", https)]),
        Err(e) => denied(e),
    }
}

/// Who the request is: a session's person, or a bearer token's principal.
async fn me(State(s): State<AppState>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    if bearer(&parts.headers).is_none() {
        return match Session::from_request_parts(&mut parts, &s).await {
            Ok(Session(session)) => with_cookies(Json(whoami(&session)).into_response(), &[]),
            Err(r) => r,
        };
    }
    let Caller(p) = match Caller::from_request_parts(&mut parts, &s).await {
        Ok(c) => c,
        Err(r) => return r,
    };
    let user = match p.user_id() {
        Some(id) => s.access.user_info(id).await.ok(),
        None => None,
    };
    let roles: Vec<&str> = p.roles().iter().map(|r| r.name()).collect();
    Json(serde_json::json!({
        "principal": p.id,
        "user_id": p.user_id(),
        "user": p.name,
        "display_name": user.as_ref().map(|u| u.display_name.clone()),
        "institution": p.institution,
        "roles": roles,
        "needs_totp_enrolment": false,
    }))
    .into_response()
}

async fn totp_enroll(State(s): State<AppState>, Client(client): Client, Session(session): Session) -> Response {
    match s.access.enrol_totp(&session, &client).await {
        Ok(e) => with_cookies(Json(e).into_response(), &[]),
        Err(e) => denied(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodeBody {
    code: String,
}

async fn totp_confirm(
    State(s): State<AppState>,
    Client(client): Client,
    Https(https): Https,
    headers: HeaderMap,
    Session(session): Session,
    Json(b): Json<CodeBody>,
) -> Response {
    match s.access.confirm_totp(&session, &b.code, &client, &user_agent(&headers)).await {
        Ok(done) => signed_in(&s, done, https),
        Err(e) => denied(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    current: String,
    new: String,
}

async fn change_password(
    State(s): State<AppState>,
    Client(client): Client,
    Session(session): Session,
    Json(b): Json<PasswordBody>,
) -> Response {
    if session.enrolment_only {
        return denied(Denied::Forbidden("set up the second factor first / 请先绑定动态口令".into()));
    }
    match s.access.change_password(&session, &b.current, &b.new, &client).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => denied(e),
    }
}

async fn providers(State(s): State<AppState>) -> Response {
    let list: Vec<serde_json::Value> = s
        .access
        .oidc_providers()
        .into_iter()
        .map(|name| serde_json::json!({"name": name, "login_url": format!("/api/auth/oidc/{name}/login")}))
        .collect();
    Json(serde_json::json!({"providers": list})).into_response()
}

/// Our callback URL for provider `name`: under `http.public_url`, or the
/// request's own host.
fn callback_url(s: &AppState, headers: &HeaderMap, https: bool, name: &str) -> String {
    let base = match s.config.public_url.as_deref() {
        Some(url) => url.trim_end_matches('/').to_string(),
        None => {
            let host = headers.get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("localhost");
            format!("{}://{host}", if https { "https" } else { "http" })
        }
    };
    format!("{base}/api/auth/oidc/{name}/callback")
}

fn redirect(to: &str, cookies: &[String]) -> Response {
    let mut r = StatusCode::FOUND.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut().insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    with_cookies(r, cookies)
}

async fn oidc_login(State(s): State<AppState>, Https(https): Https, Path(name): Path<String>, headers: HeaderMap) -> Response {
    let callback = callback_url(&s, &headers, https, &name);
    match s.access.oidc_begin(&name, &callback).await {
        Ok(r) => {
            // Lax: it must come back on the provider's cross-site redirect.
            let cookie = format!(
                "{OIDC_COOKIE}={}; Path=/api/auth/oidc/{name}/; Max-Age=600; HttpOnly; SameSite=Lax{}",
                r.state,
                if https { "; Secure" } else { "" }
            );
            redirect(&r.url, &[cookie])
        }
        Err(e) => denied(e),
    }
}

#[derive(Deserialize)]
struct CallbackQuery {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    error: Option<String>,
}

async fn oidc_callback(
    State(s): State<AppState>,
    Client(client): Client,
    Https(https): Https,
    Path(name): Path<String>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let clear = cleared(OIDC_COOKIE, &format!("/api/auth/oidc/{name}/"), https);
    if let Some(error) = q.error {
        let code: String = error.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect();
        s.access.record("unknown", "sign-in", &[], "", &client, "denied", &format!("identity provider {name}: {code}")).await;
        return with_cookies(denied(Denied::Unauthenticated(format!("the identity provider refused the sign-in: {code}"))), &[clear]);
    }
    // The state must be the one this browser was given: an attacker's
    // callback link (their code, our victim's browser) has another.
    let bound = cookie_value(&headers, OIDC_COOKIE).iter().any(|c| !q.state.is_empty() && *c == q.state);
    if !bound {
        s.access
            .record("unknown", "sign-in", &[], "", &client, "denied", &format!("identity provider {name}: state not bound to this browser"))
            .await;
        return with_cookies(denied(Denied::Unauthenticated("this sign-in was not started in this browser: start again".into())), &[clear]);
    }
    let callback = callback_url(&s, &headers, https, &name);
    match s.access.oidc_finish(&name, &q.code, &q.state, &callback, &client, &user_agent(&headers)).await {
        Ok(done) => redirect("/viewer/", &[clear, session_cookie(&s, &done.token, https)]),
        Err(e) => {
            s.access.record("unknown", "sign-in", &[], "", &client, "denied", &format!("identity provider {name}: {e}")).await;
            with_cookies(denied(e), &[clear])
        }
    }
}
