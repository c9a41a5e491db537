//! WADO-RS: instances (multipart/related application/dicom, streamed),
//! metadata (from the index, never from the objects), frames (through the
//! pixel layout: `frames.rs`) and bulk data (with Range).

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use tracing::Instrument;
use yunying_archive::syntax::{DEFLATED_EXPLICIT_VR_LE, EXPLICIT_VR_LE, IMPLICIT_VR_LE};
use yunying_archive::{Archive, InstanceData};

use crate::AppState;
use crate::error::ApiError;
use crate::media::{self, MediaRange};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/studies/{study}", get(study))
        .route("/studies/{study}/series/{series}", get(series))
        .route("/studies/{study}/series/{series}/instances/{instance}", get(instance))
        .route("/studies/{study}/metadata", get(study_metadata))
        .route("/studies/{study}/series/{series}/metadata", get(series_metadata))
        .route("/studies/{study}/series/{series}/instances/{instance}/metadata", get(instance_metadata))
        .route("/studies/{study}/series/{series}/instances/{instance}/bulkdata/{*path}", get(bulkdata))
}

/// Immutable resources (an instance's bytes never change under its ETag).
pub(crate) const IMMUTABLE: &str = "private, max-age=31536000, immutable";

/// Instances in scope, or 404.
pub(crate) async fn scope(archive: &Archive, study: &str, series: Option<&str>, sop: Option<&str>) -> Result<Vec<InstanceData>, ApiError> {
    let found = archive.instances(study, series, sop).await?;
    if found.is_empty() {
        let what = match (series, sop) {
            (_, Some(sop)) => format!("instance {sop}"),
            (Some(series), None) => format!("series {series}"),
            _ => format!("study {study}"),
        };
        return Err(ApiError::not_found(format!("no {what} in this scope")));
    }
    Ok(found)
}

async fn study(State(s): State<AppState>, headers: HeaderMap, Path(study): Path<String>) -> Result<Response, ApiError> {
    retrieve(&s, &headers, scope(&s.archive, &study, None, None).await?, false).await
}
async fn series(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((study, series)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    retrieve(&s, &headers, scope(&s.archive, &study, Some(&series), None).await?, false).await
}
async fn instance(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((study, series, sop)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    retrieve(&s, &headers, scope(&s.archive, &study, Some(&series), Some(&sop)).await?, true).await
}

/// What transfer syntax to send the instances in.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    Stored,
    Syntax(String),
}

/// Negotiate `application/dicom` retrieval: returns (multipart?, target).
fn negotiate_dicom(ranges: &[MediaRange], single: bool) -> Result<(bool, Target), ApiError> {
    for r in ranges {
        let payload_ok = media::matches(r.payload(), "application/dicom");
        if !payload_ok {
            continue;
        }
        if !(r.is_multipart() || (single && r.mime == "application/dicom")) && r.mime != "*/*" {
            continue;
        }
        let target = match r.transfer_syntax.as_deref() {
            Some("*") => Target::Stored,
            Some(ts) => Target::Syntax(ts.to_string()),
            None => Target::Syntax(EXPLICIT_VR_LE.to_string()),
        };
        return Ok((r.is_multipart() || r.mime == "*/*" || !single, target));
    }
    Err(ApiError::not_acceptable(
        "instances are available as multipart/related; type=\"application/dicom\" (with transfer-syntax=* for the stored syntax)",
    ))
}

async fn retrieve(state: &AppState, headers: &HeaderMap, instances: Vec<InstanceData>, single: bool) -> Result<Response, ApiError> {
    let (multipart, target) = negotiate_dicom(&media::accept(headers)?, single)?;
    // Check up front that every instance can be sent as asked.
    if let Target::Syntax(ts) = &target {
        for i in &instances {
            if !can_send(&i.stored.transfer_syntax_uid, ts) {
                return Err(ApiError::not_acceptable(format!(
                    "instance {} is stored as {} and cannot be sent as {ts}",
                    i.stored.sop_instance_uid, i.stored.transfer_syntax_uid
                )));
            }
        }
    }
    let etag = etag(instances.iter().map(|i| i.stored.digest.as_str()).chain([target_label(&target)]));
    if let Some(not_modified) = not_modified(headers, &etag) {
        return Ok(not_modified);
    }
    let boundary = media::boundary();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let archive = state.archive.clone();
    let b = boundary.clone();
    let t = target.clone();
    // The request's trace goes on with the body: the span ends when the
    // last instance is sent.
    let span = tracing::info_span!(
        target: "yunying::trace",
        "archive.retrieve",
        instances = instances.len(),
        dicom.transfer_syntax = target_label(&target)
    );
    let send = async move {
        for i in instances {
            let stored_ts = i.stored.transfer_syntax_uid.clone();
            let send_stored = match &t {
                Target::Stored => true,
                Target::Syntax(ts) => *ts == stored_ts,
            };
            let ts = if send_stored { stored_ts } else { EXPLICIT_VR_LE.to_string() };
            if multipart {
                let ct = format!("application/dicom; transfer-syntax={ts}");
                if tx.send(Ok(media::part_header(&b, &ct, ""))).await.is_err() {
                    return;
                }
            }
            let sent = if send_stored {
                stream_object(&archive, &i, &tx).await
            } else {
                match archive.explicit_le(&i).await {
                    Ok(bytes) => tx.send(Ok(Bytes::from(bytes))).await.map_err(|_| ()),
                    Err(e) => {
                        tracing::error!(error = %e, "re-encoding an instance failed mid-response");
                        let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                        Err(())
                    }
                }
            };
            if sent.is_err() {
                return;
            }
        }
        if multipart {
            let _ = tx.send(Ok(media::closing(&b))).await;
        }
    };
    tokio::spawn(send.instrument(span));
    let content_type = if multipart { media::multipart_type(&boundary, "application/dicom") } else { "application/dicom".to_string() };
    let mut response = Response::new(media::channel_body(rx));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, header_value(&content_type));
    h.insert(header::ETAG, header_value(&etag));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    Ok(response)
}

fn target_label(t: &Target) -> &str {
    match t {
        Target::Stored => "*",
        Target::Syntax(ts) => ts,
    }
}

/// Whether an instance stored as `stored` can be sent as `target`.
fn can_send(stored: &str, target: &str) -> bool {
    stored == target
        || (target == EXPLICIT_VR_LE
            && (matches!(stored, IMPLICIT_VR_LE | DEFLATED_EXPLICIT_VR_LE | yunying_archive::syntax::EXPLICIT_VR_BE)
                || yunying_transcode::can_decode(stored)))
}

/// Send an object's bytes in 1 MiB ranged reads.
async fn stream_object(
    archive: &Archive,
    i: &InstanceData,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), ()> {
    const CHUNK: u64 = 1 << 20;
    let size = i.stored.size_bytes as u64;
    let mut offset = 0;
    while offset < size {
        let (store, key) = (archive.store().clone(), i.stored.object_key.clone());
        let len = CHUNK.min(size - offset);
        let span = tracing::Span::current();
        let chunk = tokio::task::spawn_blocking(move || span.in_scope(|| store.get_range(&key, offset, len))).await;
        match chunk {
            Ok(Ok(bytes)) => tx.send(Ok(Bytes::from(bytes))).await.map_err(|_| ())?,
            Ok(Err(e)) => {
                tracing::error!(error = %e.without_key(), "object read failed mid-response");
                let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                return Err(());
            }
            Err(e) => {
                let _ = tx.send(Err(std::io::Error::other(e.to_string()))).await;
                return Err(());
            }
        }
        offset += len;
    }
    Ok(())
}

async fn study_metadata(State(s): State<AppState>, headers: HeaderMap, Path(study): Path<String>) -> Result<Response, ApiError> {
    metadata(&s, &headers, scope(&s.archive, &study, None, None).await?).await
}
async fn series_metadata(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((study, series)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    metadata(&s, &headers, scope(&s.archive, &study, Some(&series), None).await?).await
}
async fn instance_metadata(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((study, series, sop)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    metadata(&s, &headers, scope(&s.archive, &study, Some(&series), Some(&sop)).await?).await
}

/// A JSON array of the instances' stored metadata.
async fn metadata(state: &AppState, headers: &HeaderMap, instances: Vec<InstanceData>) -> Result<Response, ApiError> {
    let ranges = media::accept(headers)?;
    if !ranges.iter().any(|r| media::matches(&r.mime, "application/dicom+json") || media::matches(&r.mime, "application/json")) {
        return Err(ApiError::not_acceptable("metadata is available as application/dicom+json"));
    }
    let etag = etag(instances.iter().map(|i| i.stored.digest.as_str()));
    if let Some(not_modified) = not_modified(headers, &etag) {
        return Ok(not_modified);
    }
    let mut body = Vec::with_capacity(instances.len() * 4096);
    body.push(b'[');
    for (n, i) in instances.iter().enumerate() {
        if n > 0 {
            body.push(b',');
        }
        body.extend(state.archive.metadata(i).await?);
    }
    body.push(b']');
    let mut response = ([(header::CONTENT_TYPE, "application/dicom+json")], body).into_response();
    response.headers_mut().insert(header::ETAG, header_value(&etag));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    Ok(response)
}

async fn bulkdata(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((study, series, sop, path)): Path<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    if !path.split('/').all(|p| !p.is_empty() && p.len() <= 8 && p.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Err(ApiError::bad_request(format!("bad bulk data path {path:?}")));
    }
    let instance = scope(&s.archive, &study, Some(&series), Some(&sop)).await?.remove(0);
    let bytes = s.archive.bulkdata(&instance, &path).await?;
    let etag = etag([instance.stored.digest.as_str(), path.as_str()]);
    if let Some(not_modified) = not_modified(&headers, &etag) {
        return Ok(not_modified);
    }
    let total = bytes.len() as u64;
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).map(|v| parse_range(v, total));
    let ranges = media::accept(&headers)?;
    let multipart = !ranges.iter().any(|r| !r.is_multipart() && media::matches(&r.mime, "application/octet-stream") && r.mime != "*/*");
    let (status, body, content_range) = match range {
        None => (StatusCode::OK, bytes, None),
        Some(Some((start, end))) => {
            (StatusCode::PARTIAL_CONTENT, bytes[start as usize..=end as usize].to_vec(), Some(format!("bytes {start}-{end}/{total}")))
        }
        Some(None) => {
            let mut r = ApiError::new(StatusCode::RANGE_NOT_SATISFIABLE, "range not satisfiable").into_response();
            r.headers_mut().insert(header::CONTENT_RANGE, header_value(&format!("bytes */{total}")));
            return Ok(r);
        }
    };
    let mut response = if multipart && status == StatusCode::OK {
        let boundary = media::boundary();
        let mut r = Response::new(media::multipart_body(&boundary, vec![("application/octet-stream".into(), body)]));
        r.headers_mut().insert(header::CONTENT_TYPE, header_value(&media::multipart_type(&boundary, "application/octet-stream")));
        r
    } else {
        let mut r = Response::new(Body::from(body));
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
        r
    };
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::ETAG, header_value(&etag));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    if let Some(cr) = content_range {
        h.insert(header::CONTENT_RANGE, header_value(&cr));
    }
    Ok(response)
}

/// One `bytes=a-b` range (inclusive), clipped; `None` when unsatisfiable.
fn parse_range(v: &str, total: u64) -> Option<(u64, u64)> {
    let spec = v.strip_prefix("bytes=")?.split(',').next()?.trim();
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", suffix) => {
            let n: u64 = suffix.parse().ok()?;
            (total.saturating_sub(n), total.checked_sub(1)?)
        }
        (a, "") => (a.parse().ok()?, total.checked_sub(1)?),
        (a, b) => (a.parse().ok()?, b.parse::<u64>().ok()?.min(total.checked_sub(1)?)),
    };
    (start <= end && end < total).then_some((start, end))
}

/// A strong ETag over the given parts.
pub(crate) fn etag<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    format!("\"{}\"", &hex::encode(h.finalize())[..32])
}

/// 304 when the client already has this version.
pub(crate) fn not_modified(headers: &HeaderMap, etag: &str) -> Option<Response> {
    let given = headers.get(header::IF_NONE_MATCH)?.to_str().ok()?;
    if given.split(',').any(|t| t.trim() == etag || t.trim() == "*") {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        r.headers_mut().insert(header::ETAG, header_value(etag));
        return Some(r);
    }
    None
}

pub(crate) fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Some((0, 9)));
        assert_eq!(parse_range("bytes=90-", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=-10", 100), Some((90, 99)));
        assert_eq!(parse_range("bytes=50-500", 100), Some((50, 99)));
        assert_eq!(parse_range("bytes=100-", 100), None);
        assert_eq!(parse_range("items=1-2", 100), None);
    }
}
