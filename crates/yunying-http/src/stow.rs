//! STOW-RS: `POST /studies` and `/studies/{study}` with
//! `multipart/related; type="application/dicom"`, each part streamed into
//! the same ingest path as C-STORE (same durability, duplicate policy and
//! institution rules). The response lists Referenced and Failed SOPs:
//! 200 all stored, 202 some failed, 409 none stored, 415 wrong media type.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::BytesMut;
use futures_util::TryStreamExt;
use serde_json::{json, Map, Value as Json};
use yunying_archive::meta::{FileMeta, MetaError};
use yunying_archive::syntax::{is_accepted_transfer_syntax, is_storage_sop_class};
use yunying_archive::{Caller, IngestError, StoreContext};

use crate::error::ApiError;
use crate::qido::base_url;
use crate::AppState;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/studies", post(store_any)).route("/studies/{study}", post(store_study))
}

/// Most bytes buffered to find a part's file meta information.
const MAX_META: usize = 64 * 1024;

async fn store_any(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    store(&s, Some(peer), &headers, body, None).await
}

async fn store_study(
    State(s): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(study): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    store(&s, Some(peer), &headers, body, Some(study)).await
}

/// One failed part: (SOP class, SOP instance, failure reason).
type Failure = (String, String, u16);

async fn store(
    state: &AppState,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    body: Body,
    study: Option<String>,
) -> Result<Response, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let boundary = check_content_type(content_type)?;
    let caller = state
        .archive
        .config()
        .resolve_caller("STOW-RS", peer.map(|p| p.ip()))
        .ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, "this client is not a configured institution"))?;

    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut referenced: Vec<(String, String, bool)> = Vec::new();
    let mut failed: Vec<Failure> = Vec::new();
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                if referenced.is_empty() && failed.is_empty() {
                    return Err(ApiError::bad_request(format!("malformed multipart body: {e}")));
                }
                failed.push((String::new(), String::new(), 0xC000));
                break;
            }
        };
        let part_type = field.content_type().map(|m| m.essence_str().to_ascii_lowercase());
        if part_type.as_deref().is_some_and(|t| t != "application/dicom") {
            failed.push((String::new(), String::new(), 0xC000));
            continue;
        }
        match store_part(state, &caller, field, study.clone()).await {
            Ok(r) => referenced.push(r),
            Err(f) => failed.push(f),
        }
    }
    let base = base_url(headers);
    let status = match (referenced.is_empty(), failed.is_empty()) {
        (_, true) if !referenced.is_empty() => StatusCode::OK,
        (false, false) => StatusCode::ACCEPTED,
        _ => StatusCode::CONFLICT,
    };
    let body = response_body(&base, study.as_deref(), &referenced, &failed);
    Ok((status, [(header::CONTENT_TYPE, "application/dicom+json")], body.to_string()).into_response())
}

/// The boundary of an acceptable request, or 415.
fn check_content_type(content_type: &str) -> Result<String, ApiError> {
    let unsupported = || {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("expected multipart/related; type=\"application/dicom\", got {content_type:?}"),
        )
    };
    let params = crate::media::split_outside_quotes(content_type, ';');
    if params.first().map(|m| m.trim().to_ascii_lowercase()) != Some("multipart/related".into()) {
        return Err(unsupported());
    }
    let mut boundary = None;
    for p in &params[1..] {
        let Some((k, v)) = p.split_once('=') else { continue };
        let v = v.trim().trim_matches('"');
        match k.trim().to_ascii_lowercase().as_str() {
            "type" if !v.eq_ignore_ascii_case("application/dicom") => return Err(unsupported()),
            "boundary" => boundary = Some(v.to_string()),
            _ => {}
        }
    }
    boundary.filter(|b| !b.is_empty() && b.len() <= 200).ok_or_else(|| ApiError::bad_request("multipart body without a boundary"))
}

/// Stream one part into the archive: (class, instance, duplicate) or a failure.
async fn store_part(
    state: &AppState,
    caller: &Caller,
    mut field: multer::Field<'_>,
    study: Option<String>,
) -> Result<(String, String, bool), Failure> {
    let fail = |class: &str, instance: &str, code: u16| (class.to_string(), instance.to_string(), code);
    // Buffer until the file meta information parses.
    let mut head = BytesMut::new();
    let (meta, dataset_start) = loop {
        let chunk = field.chunk().await.map_err(|_| fail("", "", 0xC000))?;
        let done = chunk.is_none();
        if let Some(c) = chunk {
            head.extend_from_slice(&c);
        }
        match FileMeta::read(&mut &head[..]) {
            Ok(parsed) => break parsed,
            Err(MetaError::Io(_)) if !done && head.len() < MAX_META => continue,
            Err(_) => return Err(fail("", "", 0xC000)),
        }
    };
    let (class, instance) = (meta.sop_class_uid.clone(), meta.sop_instance_uid.clone());
    if !is_storage_sop_class(&class) {
        return Err(fail(&class, &instance, 0x0122));
    }
    if !is_accepted_transfer_syntax(&meta.transfer_syntax_uid) {
        return Err(fail(&class, &instance, 0xC122));
    }
    let ctx = StoreContext {
        caller: caller.clone(),
        sop_class_uid: class.clone(),
        sop_instance_uid: instance.clone(),
        transfer_syntax_uid: meta.transfer_syntax_uid.clone(),
        source: "stow",
        expected_study_instance_uid: study,
    };
    let code = |e: &IngestError| e.dimse_status();
    let mut incoming = state.archive.begin(ctx).await.map_err(|e| fail(&class, &instance, code(&e)))?;
    let rest = head.split_off(dataset_start as usize).freeze();
    if !rest.is_empty() {
        incoming.write(rest).await.map_err(|e| fail(&class, &instance, code(&e)))?;
    }
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => incoming.write(chunk).await.map_err(|e| fail(&class, &instance, code(&e)))?,
            Ok(None) => break,
            Err(_) => return Err(fail(&class, &instance, 0xC000)), // dropped: nothing stored
        }
    }
    match incoming.finish().await {
        Ok(stored) => Ok((class, stored.sop_instance_uid, stored.duplicate)),
        Err(e) => {
            tracing::info!(reason = e.reason(), "STOW-RS part refused");
            Err(fail(&class, &instance, code(&e)))
        }
    }
}

fn response_body(base: &str, study: Option<&str>, referenced: &[(String, String, bool)], failed: &[Failure]) -> Json {
    let mut out = Map::new();
    if let Some(study) = study {
        out.insert("00081190".into(), json!({"vr": "UR", "Value": [format!("{base}/studies/{study}")]}));
    }
    let item = |class: &str, instance: &str| -> Map<String, Json> {
        let mut m = Map::new();
        m.insert("00081150".into(), json!({"vr": "UI", "Value": [class]}));
        m.insert("00081155".into(), json!({"vr": "UI", "Value": [instance]}));
        m
    };
    if !referenced.is_empty() {
        let items: Vec<Json> = referenced
            .iter()
            .map(|(class, instance, duplicate)| {
                let mut m = item(class, instance);
                if *duplicate {
                    // Warning Reason: duplicate, already stored (kept).
                    m.insert("00081196".into(), json!({"vr": "US", "Value": [0xB007]}));
                }
                Json::Object(m)
            })
            .collect();
        out.insert("00081199".into(), json!({"vr": "SQ", "Value": items}));
    }
    if !failed.is_empty() {
        let items: Vec<Json> = failed
            .iter()
            .map(|(class, instance, reason)| {
                let mut m = item(class, instance);
                m.insert("00081197".into(), json!({"vr": "US", "Value": [reason]}));
                Json::Object(m)
            })
            .collect();
        out.insert("00081198".into(), json!({"vr": "SQ", "Value": items}));
    }
    Json::Object(out)
}

