//! The account administration API, `/api/admin/*`: accounts, their roles
//! and state, and open sessions. Callers sign in (a session, or a bearer
//! token of a person); what each may do is the access layer's decision
//! (`ManageAccounts` for accounts and sessions, `roles::may_assign` for
//! roles). Sessions are named by their public id, never by their token.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use yunying_access::Denied;
use yunying_access::people::{NewUser, parse_roles};

use super::{Caller, denied};
use crate::AppState;
use crate::extract::{Json, Path};
use crate::film::Client;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/admin/users", get(list_users).post(create_user))
        .route("/api/admin/users/{id}/roles", post(set_roles))
        .route("/api/admin/users/{id}/{op}", post(account_op))
        .route("/api/admin/sessions", get(list_sessions))
        .route("/api/admin/sessions/{id}", axum::routing::delete(end_session))
}

/// Roles as a JSON list or a comma-separated string.
#[derive(Deserialize)]
#[serde(untagged)]
enum Roles {
    List(Vec<String>),
    Text(String),
}

impl Roles {
    fn parse(&self) -> Result<Vec<yunying_access::Role>, Denied> {
        let text = match self {
            Roles::List(l) => l.join(","),
            Roles::Text(t) => t.clone(),
        };
        parse_roles(&text).map_err(Denied::Invalid)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUserBody {
    username: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    institution: Option<String>,
    #[serde(default)]
    roles: Option<Roles>,
    /// Unset: one is generated and returned once.
    #[serde(default)]
    password: Option<String>,
}

async fn list_users(State(s): State<AppState>, Caller(by): Caller) -> Response {
    match s.access.users(Some(&by)).await {
        Ok(users) => Json(serde_json::json!({ "users": users })).into_response(),
        Err(e) => denied(e),
    }
}

async fn create_user(State(s): State<AppState>, Client(client): Client, Caller(by): Caller, Json(b): Json<NewUserBody>) -> Response {
    let roles = match b.roles.as_ref().map(Roles::parse).transpose() {
        Ok(r) => r.unwrap_or_default(),
        Err(e) => return denied(e),
    };
    let new = NewUser { username: b.username, display_name: b.display_name, institution: b.institution, roles, password: b.password };
    match s.access.create_user(Some(&by), new, &client).await {
        Ok((user, generated)) => {
            let mut body = serde_json::json!({ "user": user });
            if let Some(p) = generated {
                // Shown this once, to be handed over; never stored or logged.
                body["password"] = serde_json::Value::String(p);
            }
            let mut r = (StatusCode::CREATED, Json(body)).into_response();
            r.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => denied(e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RolesBody {
    roles: Roles,
}

async fn set_roles(
    State(s): State<AppState>,
    Client(client): Client,
    Caller(by): Caller,
    Path(id): Path<String>,
    Json(b): Json<RolesBody>,
) -> Response {
    let roles = match b.roles.parse() {
        Ok(r) => r,
        Err(e) => return denied(e),
    };
    match s.access.set_roles(Some(&by), &id, &roles, &client).await {
        Ok(user) => Json(serde_json::json!({ "user": user })).into_response(),
        Err(e) => denied(e),
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct OpBody {
    /// For reset-password: the new password (unset: one is generated).
    #[serde(default)]
    password: Option<String>,
}

/// disable, enable, unlock, reset-password, reset-totp.
async fn account_op(
    State(s): State<AppState>,
    Client(client): Client,
    Caller(by): Caller,
    Path((id, op)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Response {
    // The body is optional (`{}` or nothing).
    let body: OpBody = if body.iter().all(u8::is_ascii_whitespace) {
        OpBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(b) => b,
            Err(e) => return denied(Denied::Invalid(format!("body: {e}"))),
        }
    };
    let a = &s.access;
    let done = match op.as_str() {
        "disable" => a.set_disabled(Some(&by), &id, true, &client).await.map(|u| serde_json::json!({ "user": u })),
        "enable" => a.set_disabled(Some(&by), &id, false, &client).await.map(|u| serde_json::json!({ "user": u })),
        "unlock" => a.unlock(Some(&by), &id, &client).await.map(|u| serde_json::json!({ "user": u })),
        "reset-totp" => a.reset_totp(Some(&by), &id, &client).await.map(|u| serde_json::json!({ "user": u })),
        "reset-password" => a.reset_password(Some(&by), &id, body.password.as_deref(), &client).await.map(|generated| match generated {
            Some(p) => serde_json::json!({ "password": p }),
            None => serde_json::json!({}),
        }),
        _ => Err(Denied::NotFound(format!("no account operation {op}: disable, enable, unlock, reset-password, reset-totp"))),
    };
    match done {
        Ok(body) => {
            let mut r = Json(body).into_response();
            r.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
            r
        }
        Err(e) => denied(e),
    }
}

async fn list_sessions(State(s): State<AppState>, Caller(by): Caller) -> Response {
    match s.access.open_sessions(&by).await {
        Ok(sessions) => Json(serde_json::json!({ "sessions": sessions })).into_response(),
        Err(e) => denied(e),
    }
}

async fn end_session(State(s): State<AppState>, Client(client): Client, Caller(by): Caller, Path(id): Path<String>) -> Response {
    match s.access.end_session(&by, &id, &client).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => denied(e),
    }
}
