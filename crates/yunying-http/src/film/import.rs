//! "Import to my hospital": a doctor who opened a shared film sends its
//! studies to their own archive, by C-STORE to an AE of the AE registry or
//! by STOW-RS to a configured DICOMweb endpoint, as stored (the receiving
//! PACS gets the original bytes). The page follows the job's progress.
//!
//! Jobs live in the memory of the node that runs them (the page polls the
//! node it started the job on); the outcome is a film event in the index.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use yunying_archive::InstanceData;
use yunying_index::Film;

use super::{Client, StowDestination, event, index_error, random_token, session_film, viewer_actor};
use crate::AppState;
use crate::error::ApiError;

/// Import jobs by id.
pub(crate) type Imports = Arc<Mutex<HashMap<String, Job>>>;

/// Jobs kept for the page to read, at most.
const KEPT_JOBS: usize = 1000;

#[derive(Debug, Clone, Serialize)]
pub(crate) struct Job {
    pub job: String,
    #[serde(skip)]
    pub film_id: String,
    pub destination: String,
    /// `running`, `done` (every instance accepted), `failed`.
    pub state: &'static str,
    pub total: usize,
    pub sent: usize,
    pub failed: usize,
    pub message: String,
    #[serde(skip)]
    pub started_ms: i64,
}

/// `GET /api/film/{id}/destinations`: where the film can be imported.
pub(crate) async fn destinations(State(s): State<AppState>, headers: HeaderMap, Path(film_id): Path<String>) -> Result<Response, ApiError> {
    session_film(&s, &headers, &film_id).await?;
    let mut out: Vec<serde_json::Value> = s
        .archive
        .index()
        .remote_aes()
        .await
        .map_err(index_error)?
        .into_iter()
        .map(|ae| serde_json::json!({ "id": format!("dicom:{}", ae.ae_title), "kind": "dicom", "name": ae.ae_title, "institution": ae.institution }))
        .collect();
    for d in &s.config.film.stow_destinations {
        out.push(serde_json::json!({ "id": format!("stow:{}", d.name), "kind": "stow", "name": d.name, "institution": d.institution }));
    }
    Ok(Json(out).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ImportRequest {
    /// `dicom:<AE title>` or `stow:<name>` from the destinations.
    destination: String,
}

enum Target {
    Dicom(yunying_index::RemoteAe),
    Stow(StowDestination),
}

/// `POST /api/film/{id}/import`: start sending the film's studies.
pub(crate) async fn start(
    State(s): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    Path(film_id): Path<String>,
    Json(req): Json<ImportRequest>,
) -> Result<Response, ApiError> {
    let film = session_film(&s, &headers, &film_id).await?;
    // An import hands every original to another archive: the same right as
    // downloading them.
    if !film.download {
        let e = event(&film, viewer_actor(&film), "imported", &client, "refused", "the film does not allow download");
        s.archive.index().record_film_event(&e).await.map_err(index_error)?;
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "this film does not allow copies of the originals, so it cannot be imported / 此胶片不允许下载原始影像，不能导入",
        ));
    }
    let target = match req.destination.split_once(':') {
        Some(("dicom", ae)) => Target::Dicom(
            s.archive
                .index()
                .remote_ae(ae)
                .await
                .map_err(index_error)?
                .ok_or_else(|| ApiError::not_found(format!("no registered AE {ae}")))?,
        ),
        Some(("stow", name)) => Target::Stow(
            s.config
                .film
                .stow_destinations
                .iter()
                .find(|d| d.name == name)
                .cloned()
                .ok_or_else(|| ApiError::not_found(format!("no STOW-RS destination {name}")))?,
        ),
        _ => return Err(ApiError::bad_request("destination is dicom:<AE title> or stow:<name>")),
    };
    let now = super::now_ms();
    let limit = s.config.film.imports_per_hour;
    let slot =
        s.archive.index().reserve_slot(&format!("import:{}", film.film_id), now - 3_600_000, now, limit).await.map_err(index_error)?;
    if slot.is_none() {
        let e = event(&film, viewer_actor(&film), "imported", &client, "refused", "import limit reached");
        s.archive.index().record_film_event(&e).await.map_err(index_error)?;
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!("this film has been imported {limit} times in the last hour: try again later / 此胶片导入次数过多，请稍后再试"),
        ));
    }
    let mut instances = Vec::new();
    for study in &film.studies {
        instances.extend(s.archive.instances(study, None, None).await?);
    }
    let job_id = random_token(9);
    let job = Job {
        job: job_id.clone(),
        film_id: film.film_id.clone(),
        destination: req.destination.clone(),
        state: "running",
        total: instances.len(),
        sent: 0,
        failed: 0,
        message: String::new(),
        started_ms: super::now_ms(),
    };
    {
        let mut jobs = s.imports.lock().unwrap_or_else(|p| p.into_inner());
        if jobs.len() >= KEPT_JOBS {
            // Forget the oldest finished jobs.
            let mut done: Vec<(i64, String)> =
                jobs.values().filter(|j| j.state != "running").map(|j| (j.started_ms, j.job.clone())).collect();
            done.sort();
            for (_, id) in done.into_iter().take(KEPT_JOBS / 10) {
                jobs.remove(&id);
            }
        }
        jobs.insert(job_id.clone(), job.clone());
    }
    tokio::spawn(run(s.clone(), film, target, instances, job_id, client));
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

/// `GET /api/film/{id}/import/{job}`.
pub(crate) async fn progress(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((film_id, job)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let film = session_film(&s, &headers, &film_id).await?;
    let job = s.imports.lock().unwrap_or_else(|p| p.into_inner()).get(&job).filter(|j| j.film_id == film.film_id).cloned();
    let job = job.ok_or_else(|| ApiError::not_found("no such import of this film"))?;
    let mut r = Json(job).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(r)
}

fn update(s: &AppState, job: &str, f: impl FnOnce(&mut Job)) {
    if let Some(j) = s.imports.lock().unwrap_or_else(|p| p.into_inner()).get_mut(job) {
        f(j);
    }
}

async fn run(s: AppState, film: Film, target: Target, instances: Vec<InstanceData>, job: String, client: String) {
    let result = match &target {
        Target::Dicom(ae) => {
            let timeout = Duration::from_secs(30);
            let calling = s.config.film.calling_aet.clone();
            yunying_dimse::push(&s.archive, (&ae.host, ae.port), &calling, &ae.ae_title, &instances, timeout, |_, outcome| {
                let ok = matches!(outcome, Ok(status) if status == 0 || (status & 0xF000) == 0xB000);
                update(&s, &job, |j| if ok { j.sent += 1 } else { j.failed += 1 });
            })
            .await
        }
        Target::Stow(d) => stow(&s, d, &instances, &job).await,
    };
    let (state, message) = {
        let jobs = s.imports.lock().unwrap_or_else(|p| p.into_inner());
        let j = jobs.get(&job);
        let (sent, failed, total) = j.map_or((0, 0, 0), |j| (j.sent, j.failed, j.total));
        match result {
            Err(e) => ("failed", format!("{e} ({sent} of {total} sent)")),
            Ok(()) if failed > 0 || sent < total => ("failed", format!("{failed} of {total} instances refused")),
            Ok(()) => ("done", format!("{sent} instances sent")),
        }
    };
    update(&s, &job, |j| {
        j.state = state;
        j.message = message.clone();
    });
    let name = match &target {
        Target::Dicom(ae) => format!("dicom:{}", ae.ae_title),
        Target::Stow(d) => format!("stow:{}", d.name),
    };
    let outcome = if state == "done" { "ok" } else { "failed" };
    let e = event(&film, viewer_actor(&film), "imported", &client, outcome, format!("{name}: {message}"));
    if let Err(e) = s.archive.index().record_film_event(&e).await {
        tracing::warn!(error = %e, "film import: event not recorded");
    }
    tracing::info!(film = %film.film_id, destination = %name, state, "film import finished");
}

/// STOW-RS, one instance a request (progress per instance; the stored
/// Part 10 bytes as they are).
async fn stow(s: &AppState, d: &StowDestination, instances: &[InstanceData], job: &str) -> Result<(), String> {
    use http_body_util::{BodyExt, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http::<Full<axum::body::Bytes>>();
    let url = format!("{}/studies", d.url.trim_end_matches('/'));
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad STOW-RS URL: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err("only http:// STOW-RS endpoints are supported (put TLS in a local proxy)".into());
    }
    for data in instances {
        let (store, key) = (s.archive.store().clone(), data.stored.object_key.clone());
        let bytes = match tokio::task::spawn_blocking(move || store.get(&key)).await {
            Ok(Ok(b)) => b,
            _ => {
                update(s, job, |j| j.failed += 1);
                continue;
            }
        };
        let boundary = format!("yunying-{}", random_token(12));
        let mut body = Vec::with_capacity(bytes.len() + 200);
        body.extend_from_slice(format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").as_bytes());
        body.extend_from_slice(&bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let mut request = hyper::Request::post(uri.clone())
            .header(header::CONTENT_TYPE, format!("multipart/related; type=\"application/dicom\"; boundary={boundary}"))
            .header(header::ACCEPT, "application/dicom+json");
        if let Some(token) = d.token.as_deref() {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request.body(Full::new(axum::body::Bytes::from(body))).map_err(|e| e.to_string())?;
        let response = tokio::time::timeout(Duration::from_secs(60), client.request(request))
            .await
            .map_err(|_| "the STOW-RS endpoint did not answer in 60 s".to_string())?
            .map_err(|e| format!("STOW-RS: {e}"))?;
        let status = response.status();
        let _ = response.into_body().collect().await;
        update(s, job, |j| if status.is_success() { j.sent += 1 } else { j.failed += 1 });
    }
    Ok(())
}
