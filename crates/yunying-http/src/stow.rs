//! STOW-RS: `POST /studies` and `/studies/{study}` with
//! `multipart/related; type="application/dicom"`, each part streamed into
//! the same ingest path as C-STORE (same durability, duplicate policy and
//! institution rules). The response lists Referenced and Failed SOPs:
//! 200 all stored, 202 some failed, 409 none stored, 415 wrong media type.
//!
//! Bounded: a part is at most `archive.max_instance_bytes` (plus its file
//! meta), the body `http.max_stow_bytes` (413), and what is read outside
//! part data (before the first boundary, a part's headers)
//! `http.max_multipart_header_bytes` (400): a body without its boundary is
//! refused after that much, never buffered whole.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use bytes::{Bytes, BytesMut};
use serde_json::{Map, Value as Json, json};
use yunying_archive::meta::{FileMeta, MetaError};
use yunying_archive::syntax::{is_accepted_transfer_syntax, is_storage_sop_class};
use yunying_archive::{Caller, IngestError, StoreContext};

use crate::AppState;
use crate::auth::Signed;
use crate::error::ApiError;
use crate::qido::base_url;
use yunying_access::Principal;
use yunying_audit::ingest::{Received, Sender};

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/studies", post(store_any)).route("/studies/{study}", post(store_study))
}

/// Most bytes buffered to find a part's file meta information.
const MAX_META: usize = 64 * 1024;

async fn store_any(
    State(s): State<AppState>,
    Signed(who): Signed,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    store(&s, &who, Some(peer), &headers, body, None).await
}

async fn store_study(
    State(s): State<AppState>,
    Signed(who): Signed,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Path(study): Path<String>,
    body: Body,
) -> Result<Response, ApiError> {
    store(&s, &who, Some(peer), &headers, body, Some(study)).await
}

/// One failed part: (SOP class, SOP instance, failure reason).
type Failure = (String, String, u16);

async fn store(
    state: &AppState,
    who: &Principal,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    body: Body,
    study: Option<String>,
) -> Result<Response, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let boundary = check_content_type(content_type)?;
    // A principal of an institution stores that institution's patients;
    // one of the platform is placed by the configured institution rules.
    let caller = match &who.institution {
        Some(code) => state.archive.config().caller_of_institution("STOW-RS", code),
        None => state
            .archive
            .config()
            .resolve_caller("STOW-RS", peer.map(|p| p.ip()))
            .ok_or_else(|| ApiError::new(StatusCode::FORBIDDEN, "this client is not a configured institution"))?,
    };

    let budget = Arc::new(Budget::default());
    let max_part = state.archive.config().max_instance_bytes.saturating_add(2 << 20);
    let limits = multer::SizeLimit::new().whole_stream(state.config.max_stow_bytes).per_field(max_part);
    let stream =
        Framed { inner: body.into_data_stream(), budget: budget.clone(), limit: state.config.max_multipart_header_bytes, yielded: false };
    let mut multipart = multer::Multipart::with_constraints(stream, boundary, multer::Constraints::new().size_limit(limits));
    let mut referenced: Vec<(String, String, bool)> = Vec::new();
    let mut received: Vec<Received> = Vec::new();
    let mut failed: Vec<Failure> = Vec::new();
    let mut full = false;
    loop {
        let mut field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => {
                if referenced.is_empty() && failed.is_empty() {
                    return Err(body_error(&e, state));
                }
                failed.push((String::new(), String::new(), failure_code(&e)));
                break;
            }
        };
        budget.start_part();
        let part_type = field.content_type().map(|m| m.essence_str().to_ascii_lowercase());
        let outcome = if part_type.as_deref().is_some_and(|t| t != "application/dicom") {
            Err(PartError::Failed((String::new(), String::new(), 0xC000)))
        } else {
            store_part(state, &caller, &who.id, &mut field, &budget, study.clone()).await
        };
        let body_failure = match outcome {
            Ok(r) => {
                referenced.push((r.sop_class_uid.clone(), r.sop_instance_uid.clone(), r.duplicate));
                received.push(r);
                None
            }
            Err(PartError::Failed(f)) => {
                failed.push(f);
                drain(&mut field, &budget).await.err()
            }
            Err(PartError::Full(f)) => {
                full = true;
                failed.push(f);
                drain(&mut field, &budget).await.err()
            }
            Err(PartError::Body(e)) => Some(e),
        };
        if let Some(e) = body_failure {
            if referenced.is_empty() && failed.is_empty() {
                return Err(body_error(&e, state));
            }
            failed.push((String::new(), String::new(), failure_code(&e)));
            break;
        }
    }
    record_ingest(state, who, peer, headers, &received, &failed).await;
    let base = base_url(headers);
    let status = match (referenced.is_empty(), failed.is_empty()) {
        (_, true) if !referenced.is_empty() => StatusCode::OK,
        (false, false) => StatusCode::ACCEPTED,
        (true, _) if full => StatusCode::INSUFFICIENT_STORAGE,
        _ => StatusCode::CONFLICT,
    };
    let body = response_body(&base, study.as_deref(), &referenced, &failed);
    Ok((status, [(header::CONTENT_TYPE, "application/dicom+json")], body.to_string()).into_response())
}

/// The request's `ingest` events: one for the instances stored, one
/// (`refused`) for the parts refused.
async fn record_ingest(
    state: &AppState,
    who: &Principal,
    peer: Option<SocketAddr>,
    headers: &HeaderMap,
    stored: &[Received],
    failed: &[Failure],
) {
    let sender = Sender {
        principal: who.id.clone(),
        institution: who.institution.clone(),
        calling_ae: String::new(),
        client: crate::film::client_address(peer.map(|p| p.ip()), headers, &state.config.trusted_proxies),
        face: "stow-rs",
    };
    let refused: Vec<Received> = failed
        .iter()
        .map(|(class, instance, code)| Received {
            sop_class_uid: class.clone(),
            sop_instance_uid: instance.clone(),
            status: format!("{code:04X}"),
            ..Default::default()
        })
        .collect();
    for (result, instances) in [("ok", stored), ("refused", &refused[..])] {
        for chunk in instances.chunks(yunying_audit::ingest::MAX_INSTANCES) {
            let _ = state.access.audit().record(yunying_audit::ingest::event(&sender, result, chunk)).await;
        }
    }
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

/// Stream one part into the archive: what was stored, or a failure.
async fn store_part(
    state: &AppState,
    caller: &Caller,
    principal: &str,
    field: &mut multer::Field<'_>,
    budget: &Budget,
    study: Option<String>,
) -> Result<Received, PartError> {
    let fail = |class: &str, instance: &str, code: u16| PartError::Failed((class.to_string(), instance.to_string(), code));
    // A body over a limit ends the request; other read errors fail the part.
    let read_error =
        |e: multer::Error, class: &str, instance: &str| if is_limit(&e) { PartError::Body(e) } else { fail(class, instance, 0xC000) };
    // Buffer until the file meta information parses.
    let mut head = BytesMut::new();
    let (meta, dataset_start) = loop {
        let chunk = field.chunk().await.map_err(|e| read_error(e, "", ""))?;
        let done = chunk.is_none();
        if let Some(c) = chunk {
            budget.delivered(c.len());
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
        principal: principal.to_string(),
    };
    // A full disk is told apart: a request that stored nothing for that
    // reason is answered 507.
    let refuse = |e: &IngestError| {
        let failure = (class.clone(), instance.clone(), e.dimse_status());
        if matches!(e, IngestError::StorageFull(_)) { PartError::Full(failure) } else { PartError::Failed(failure) }
    };
    let mut incoming = state.archive.begin(ctx).await.map_err(|e| refuse(&e))?;
    let rest = head.split_off(dataset_start as usize).freeze();
    if !rest.is_empty() {
        incoming.write(rest).await.map_err(|e| refuse(&e))?;
    }
    loop {
        match field.chunk().await {
            Ok(Some(chunk)) => {
                budget.delivered(chunk.len());
                incoming.write(chunk).await.map_err(|e| refuse(&e))?
            }
            Ok(None) => break,
            Err(e) => return Err(read_error(e, &class, &instance)), // dropped: nothing stored
        }
    }
    match incoming.finish().await {
        Ok(stored) => Ok(Received {
            sop_instance_uid: stored.sop_instance_uid,
            sop_class_uid: class,
            sha256: stored.sha256,
            duplicate: stored.duplicate,
            study: stored.study_instance_uid,
            ..Default::default()
        }),
        Err(e) => {
            tracing::info!(reason = e.reason(), "STOW-RS part refused");
            Err(refuse(&e))
        }
    }
}

/// Why a part was not stored: a failure to report, or the body broke a
/// limit (or ended) so that the request stops.
enum PartError {
    Failed(Failure),
    /// Failed because the spool, store or index is out of space.
    Full(Failure),
    Body(multer::Error),
}

/// Read the rest of a part that is not stored.
async fn drain(field: &mut multer::Field<'_>, budget: &Budget) -> Result<(), multer::Error> {
    while let Some(chunk) = field.chunk().await? {
        budget.delivered(chunk.len());
    }
    Ok(())
}

/// Whether a multipart error is one of our limits.
fn is_limit(e: &multer::Error) -> bool {
    match e {
        multer::Error::FieldSizeExceeded { .. } | multer::Error::StreamSizeExceeded { .. } => true,
        multer::Error::StreamReadFailed(inner) => inner.is::<Unframed>(),
        _ => false,
    }
}

/// The failure reason of the rest of a body cut by `e`.
fn failure_code(e: &multer::Error) -> u16 {
    if is_limit(e) { 0xA700 } else { 0xC000 }
}

/// The answer to a body whose first part could not be read.
fn body_error(e: &multer::Error, state: &AppState) -> ApiError {
    match e {
        multer::Error::StreamSizeExceeded { limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the STOW-RS body is larger than http.max_stow_bytes ({limit} bytes): send fewer instances per request"),
        ),
        multer::Error::FieldSizeExceeded { limit, .. } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "a part is larger than the instance size limit ({limit} bytes; archive.max_instance_bytes = {})",
                state.archive.config().max_instance_bytes
            ),
        ),
        multer::Error::StreamReadFailed(inner) if inner.is::<Unframed>() => {
            ApiError::bad_request(format!("malformed multipart body: {inner}"))
        }
        multer::Error::StreamReadFailed(inner) if timed_out(inner.as_ref()) => {
            ApiError::new(StatusCode::REQUEST_TIMEOUT, "the request body stopped arriving (http.body_idle_timeout_secs)")
        }
        _ => ApiError::bad_request(format!("malformed multipart body: {e}")),
    }
}

fn timed_out(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut source = Some(e);
    while let Some(e) = source {
        if e.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = e.source();
    }
    false
}

/// Bytes of a body pulled by the multipart reader and handed out as part
/// data; what is neither (preamble, part headers, buffered bytes) is
/// bounded by `http.max_multipart_header_bytes`.
#[derive(Default)]
struct Budget {
    pulled: AtomicU64,
    delivered: AtomicU64,
    /// `pulled - delivered` when the current part began.
    mark: AtomicU64,
}

impl Budget {
    fn delivered(&self, n: usize) {
        self.delivered.fetch_add(n as u64, Ordering::Relaxed);
    }
    fn start_part(&self) {
        let pending = self.pulled.load(Ordering::Relaxed).saturating_sub(self.delivered.load(Ordering::Relaxed));
        self.mark.store(pending, Ordering::Relaxed);
    }
    /// Bytes pulled but neither part data nor counted at the part's start.
    fn outside(&self) -> u64 {
        let pending = self.pulled.load(Ordering::Relaxed).saturating_sub(self.delivered.load(Ordering::Relaxed));
        pending.saturating_sub(self.mark.load(Ordering::Relaxed))
    }
}

/// No boundary (or end of part headers) within the limit.
#[derive(Debug)]
struct Unframed(u64);

impl std::fmt::Display for Unframed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "no multipart boundary or end of part headers within {} bytes (http.max_multipart_header_bytes)", self.0)
    }
}

impl std::error::Error for Unframed {}

/// The request body as the multipart reader sees it: one chunk per poll
/// (so it never buffers more than a chunk ahead of its parse), cut once
/// the bytes outside part data pass the limit.
struct Framed<S> {
    inner: S,
    budget: Arc<Budget>,
    limit: u64,
    yielded: bool,
}

impl<S> futures_util::Stream for Framed<S>
where
    S: futures_util::Stream<Item = Result<Bytes, axum::Error>> + Unpin,
{
    type Item = Result<Bytes, Box<dyn std::error::Error + Send + Sync>>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if !self.yielded {
            self.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        // Everything pulled before has been parsed: what of it is not part
        // data is preamble or headers.
        if self.budget.outside() > self.limit {
            return Poll::Ready(Some(Err(Box::new(Unframed(self.limit)))));
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.yielded = false;
                self.budget.pulled.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(Box::new(e)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
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
