//! The access layer's HTTP routes: who am I, grants and break-glass, API
//! keys, the AE registry, and access records. JSON in and out; every rule
//! is the access layer's ([`yunying_access`]), this file only maps.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::json;
use yunying_access::grants::{GrantKind, Grantee};
use yunying_access::{Action, NewGrant, Principal, Reached};
use yunying_index::Grant;

use crate::AppState;
use crate::auth::{Signed, refusal};
use crate::error::ApiError;
use crate::extract::{Json, Path, Query};
use crate::film::Client;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/access/whoami", get(whoami))
        .route("/api/access/studies/{study}", get(study_access))
        .route("/api/access/grants", get(my_grants).post(give))
        .route("/api/access/grants/{id}/revoke", post(revoke))
        .route("/api/admin/keys", get(keys).post(create_key))
        .route("/api/admin/keys/{id}/revoke", post(revoke_key))
        .route("/api/admin/aes", get(aes).post(put_ae))
        .route("/api/admin/aes/{title}/remove", post(remove_ae))
        .route("/api/audit/access-events", get(access_events))
        // State changes by cookie-signed browsers: JSON from our own origin
        // only (as for /api/auth and /api/admin).
        .route_layer(axum::middleware::from_fn(crate::people::same_origin_json))
}

fn principal_json(p: &Principal) -> serde_json::Value {
    let actions: Vec<&str> = Action::ALL.into_iter().filter(|a| p.may(*a)).map(|a| yunying_access::describe(a)).collect();
    json!({
        "id": p.id,
        "name": p.name,
        "institution": p.institution,
        "roles": p.roles().iter().map(|r| r.name()).collect::<Vec<_>>(),
        "may": actions,
    })
}

fn grant_json(g: &Grant) -> serde_json::Value {
    json!({
        "grant_id": g.grant_id,
        "kind": g.kind,
        "grantor": g.grantor,
        "grantee_kind": g.grantee_kind,
        "grantee": g.grantee,
        "reason": g.reason,
        "created_ms": g.created_ms,
        "not_before_ms": g.not_before_ms,
        "not_after_ms": g.not_after_ms,
        "revoked_ms": g.revoked_ms,
        "studies": g.studies,
    })
}

/// `GET /api/access/whoami`: the request's principal and what it may do.
async fn whoami(Signed(who): Signed) -> Response {
    Json(principal_json(&who)).into_response()
}

/// `GET /api/access/studies/{study}`: whether and how the principal reaches
/// a study (the viewer's banner: its own institution's, or through which
/// grant).
async fn study_access(State(s): State<AppState>, Signed(who): Signed, Path(study): Path<String>) -> Result<Response, ApiError> {
    if !yunying_archive::is_valid_uid(&study) {
        return Err(ApiError::bad_request("not a Study Instance UID"));
    }
    match s.access.check_study(&who, Action::View, &study).await {
        Ok(Reached::Own) => Ok(Json(json!({"study": study, "reached": "own"})).into_response()),
        Ok(Reached::Grant(id)) => {
            let grant = s.access.index().grant(&id).await?;
            Ok(Json(json!({"study": study, "reached": "grant", "grant": grant.as_ref().map(grant_json)})).into_response())
        }
        Err(denied) => Err(refusal(denied)),
    }
}

/// `GET /api/access/grants`: grants given to the principal or its institution.
async fn my_grants(State(s): State<AppState>, Signed(who): Signed) -> Result<Response, ApiError> {
    let grants = s.access.grants_of(&who).await.map_err(refusal)?;
    Ok(Json(grants.iter().map(grant_json).collect::<Vec<_>>()).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GiveGrant {
    /// `referral`, `consent`, `recognition` or `break-glass`.
    kind: String,
    /// A person's user id (break-glass: oneself, may be omitted).
    #[serde(default)]
    to_person: Option<String>,
    /// An institution's code.
    #[serde(default)]
    to_institution: Option<String>,
    studies: Vec<String>,
    reason: String,
    minutes: u32,
}

/// `POST /api/access/grants`: give a grant, or open break-glass access.
async fn give(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,
    Json(req): Json<GiveGrant>,
) -> Result<Response, ApiError> {
    let kind = GrantKind::parse(&req.kind).ok_or_else(|| ApiError::bad_request("kind: referral, consent, recognition or break-glass"))?;
    let grantee = match (req.to_person, req.to_institution) {
        (Some(p), None) => Grantee::Person(p),
        (None, Some(i)) => Grantee::Institution(i),
        (None, None) if kind == GrantKind::BreakGlass => Grantee::Person(
            who.user_id().ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, "break-glass is for signed-in people"))?.to_string(),
        ),
        _ => return Err(ApiError::bad_request("name one grantee: to_person or to_institution")),
    };
    if req.studies.iter().any(|u| !yunying_archive::is_valid_uid(u)) {
        return Err(ApiError::bad_request("studies must be Study Instance UIDs"));
    }
    let new = NewGrant { kind, grantee, studies: req.studies, reason: req.reason, minutes: req.minutes };
    let grant = s.access.give_grant(&who, new, &client).await.map_err(refusal)?;
    Ok((StatusCode::CREATED, Json(grant_json(&grant))).into_response())
}

/// `POST /api/access/grants/{id}/revoke`.
async fn revoke(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    s.access.revoke_grant(&who, &id, &client).await.map_err(refusal)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/admin/keys`: every key's public parts (security administrator).
async fn keys(State(s): State<AppState>, Signed(who): Signed) -> Result<Response, ApiError> {
    Ok(Json(s.access.keys(&who).await.map_err(refusal)?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateKey {
    name: String,
    /// Institution code; omitted: the platform.
    #[serde(default)]
    institution: Option<String>,
    /// Comma-separated scopes.
    scopes: String,
}

/// `POST /api/admin/keys`: create a key; the answer holds it, once.
async fn create_key(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,
    Json(req): Json<CreateKey>,
) -> Result<Response, ApiError> {
    let (key, info) =
        s.access.create_key(Some(&who), &req.name, req.institution.as_deref(), &req.scopes, &client).await.map_err(refusal)?;
    let mut body = serde_json::to_value(info).map_err(|e| ApiError::internal(e.to_string()))?;
    body["key"] = json!(key);
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `POST /api/admin/keys/{id}/revoke`.
async fn revoke_key(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    s.access.revoke_key(Some(&who), &id, &client).await.map_err(refusal)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/admin/aes`: the AE registry (system administrator).
async fn aes(State(s): State<AppState>, Signed(who): Signed) -> Result<Response, ApiError> {
    s.access.require(&who, Action::ManageSystem).map_err(refusal)?;
    let aes = s.archive.index().remote_aes().await?;
    Ok(Json(aes).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutAe {
    ae_title: String,
    host: String,
    port: u16,
    /// Institution code; empty: the platform.
    institution: String,
    /// `store,find,move,get,commit`, a subset, or `none`.
    rights: String,
}

/// `POST /api/admin/aes`: register an AE or change it.
async fn put_ae(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,
    Json(req): Json<PutAe>,
) -> Result<Response, ApiError> {
    s.access.require(&who, Action::ManageSystem).map_err(refusal)?;
    let title = req.ae_title.trim().to_string();
    let rights = yunying_index::AeRights::parse(&req.rights).map_err(ApiError::bad_request)?;
    let ae = yunying_index::RemoteAe {
        ae_title: title.clone(),
        host: req.host.trim().into(),
        port: req.port,
        institution: req.institution,
        rights,
    };
    ae.validate().map_err(ApiError::bad_request)?;
    s.archive.index().put_remote_ae(&ae).await?;
    let detail = format!("AE {title} at {}:{} for {:?} may {rights}", ae.host, ae.port, ae.institution);
    s.access.record(&who.id, "ae-registered", &[], "", &client, "ok", &detail).await;
    Ok((StatusCode::CREATED, Json(ae)).into_response())
}

/// `POST /api/admin/aes/{title}/remove`.
async fn remove_ae(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,
    Path(title): Path<String>,
) -> Result<Response, ApiError> {
    s.access.require(&who, Action::ManageSystem).map_err(refusal)?;
    if !s.archive.index().remove_remote_ae(title.trim()).await? {
        return Err(ApiError::not_found(format!("no AE titled {:?}", title.trim())));
    }
    s.access.record(&who.id, "ae-removed", &[], "", &client, "ok", &format!("AE {}", title.trim())).await;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    after: i64,
    #[serde(default)]
    limit: Option<i64>,
}

/// `GET /api/audit/access-events?after=SEQ&limit=N`: access records, oldest
/// first (audit administrator). There is no route that deletes them.
async fn access_events(State(s): State<AppState>, Signed(who): Signed, Query(page): Query<Page>) -> Result<Response, ApiError> {
    s.access.require(&who, Action::ReadAudit).map_err(refusal)?;
    let limit = page.limit.unwrap_or(1000).clamp(1, 10_000);
    let events = s.access.index().access_events(page.after, limit).await?;
    let out: Vec<serde_json::Value> = events
        .iter()
        .map(|e| {
            json!({"seq": e.seq, "at_ms": e.at_ms, "principal": e.principal, "event": e.event, "studies": e.studies,
                   "via": e.via, "client": e.client, "result": e.result, "detail": e.detail})
        })
        .collect();
    Ok(Json(out).into_response())
}
