//! The HTTP listener: health, metrics and DICOMweb (QIDO-RS, WADO-RS,
//! rendered, thumbnails, STOW-RS) under `/dicom-web`, and the web viewer
//! under `/viewer/`.
//!
//! Architecture invariant: only this crate knows HTTP. Errors become status
//! codes in one place ([`error`]).

mod access_api;
mod access_log;
mod annotations_api;
mod audit_api;
mod auth;
mod background;
mod conn;
mod empi_api;
mod error;
mod extract;
mod film;
mod frames;
mod guard;
mod hanging_api;
mod media;
mod pdqm;
mod people;
mod process_metrics;
mod qido;
mod reading_api;
mod reading_transport;
mod recognition_api;
mod rendered;
mod retention_api;
mod stow;
mod tls;
mod trace_context;
mod viewer;
mod wado;
mod witness_api;

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{Predicate, SizeAbove};
use tower_http::set_header::SetResponseHeaderLayer;
use yunying_access::Access;
use yunying_archive::Archive;

pub use error::ApiError;
pub use film::{FilmConfig, LogSender, SmsSender, StowDestination};
pub use reading_transport::ReadingTransport;
pub use tls::{HttpListener, HttpTls, Tls};
pub use viewer::viewer_embedded;
pub use witness_api::witness_post;

/// Settings of the HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to bind. Every request off this machine must authenticate
    /// (`[access]`); off loopback it also needs `tls` or a TLS-terminating
    /// proxy in `trusted_proxies`; `access.anonymous = "loopback"` requires
    /// a loopback bind.
    pub bind: IpAddr,
    /// Origins (`https://ohif.example.cn`) whose pages may read responses
    /// (CORS). Empty: same origin only (no `Access-Control-Allow-Origin`).
    /// `*` is accepted only with `bearer_token`.
    pub cors_allowed_origins: Vec<String>,
    /// With `bearer_token` set, any origin may read responses (browsers do
    /// not send the token by themselves, so a page needs it to read).
    pub cors_any_origin_with_token: bool,
    /// Host names (`pacs.example.cn`, port optional) requests may name in
    /// `Host`, besides `localhost`, `127.0.0.1`, `[::1]` and the host of
    /// `public_url`. Checked when no `bearer_token` is set (against DNS
    /// rebinding) or when this list is not empty; other hosts get 421.
    pub allowed_hosts: Vec<String>,
    /// Most HTTP connections open at once; more are answered 503 and closed.
    /// Lowered at start to fit the descriptor limit next to DICOM's needs.
    pub max_connections: usize,
    /// HTTP connections one client address may hold at once (trusted
    /// proxies, which carry many clients, are exempt); more get 503.
    pub max_connections_per_address: usize,
    /// Seconds a connection has to send a complete request head, counted
    /// from its opening or from its previous response (so it is also the
    /// keep-alive idle timeout).
    pub header_timeout_secs: u64,
    /// Seconds a request body may send nothing, or a client read nothing
    /// of its response, before the connection is cut.
    pub body_idle_timeout_secs: u64,
    /// Longest request target (path and query) in bytes (414): bounds
    /// every query's keys, values and lists before any is parsed.
    pub max_uri_bytes: usize,
    /// Most frames one WADO-RS frames request may name (no repeats).
    pub max_frames_per_request: usize,
    /// Most bytes of frames one WADO-RS frames request may return (413).
    pub max_frames_bytes: u64,
    /// Most bytes of one STOW-RS request body (413).
    pub max_stow_bytes: u64,
    /// Most bytes of a STOW-RS body read outside part data: before the
    /// first boundary and in one part's headers (400).
    pub max_multipart_header_bytes: u64,
    /// A static bearer token accepted on `/dicom-web` as a platform-wide
    /// credential for reads and STOW-RS (also `YUNYING_HTTP_TOKEN`); API
    /// keys (`yunying key add`) replace it. Never logged or printed.
    #[serde(skip_serializing)]
    pub bearer_token: Option<String>,
    /// Most results one QIDO-RS search returns; more are cut with a
    /// `Warning` header.
    pub max_results: u64,
    /// A built web viewer (`viewer/dist`) served at `/viewer/` instead of
    /// the one this binary carries (also `YUNYING_VIEWER_DIR`): for viewer
    /// development, or a customised build. Unset: the embedded build.
    pub viewer_dir: Option<std::path::PathBuf>,
    /// A static bearer token accepted by the film management API
    /// (`/api/films`) as a platform-wide credential (also
    /// `YUNYING_API_TOKEN`); API keys with `films:create` replace it. Never
    /// logged or printed.
    #[serde(skip_serializing)]
    pub api_token: Option<String>,
    /// The address patients reach this server at, for film links
    /// (`https://film.example.cn`). Unset: the request's Host.
    pub public_url: Option<String>,
    /// Reverse proxies (nginx, a load balancer) whose `X-Forwarded-For`
    /// names the client: film events and the per-address limits then use
    /// the address the proxy saw. Empty: the connection's peer is the client.
    pub trusted_proxies: Vec<IpAddr>,
    /// HTTPS on the HTTP port (`[http.tls] cert = "…pem"`, `key = "…pem"`):
    /// it then speaks TLS only. Unset: plain HTTP, for loopback or behind
    /// a reverse proxy that terminates TLS (listed in `trusted_proxies`).
    pub tls: Option<HttpTls>,
    /// Cloud film policy.
    pub film: FilmConfig,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            bind: IpAddr::from([127, 0, 0, 1]),
            cors_allowed_origins: Vec::new(),
            cors_any_origin_with_token: true,
            allowed_hosts: Vec::new(),
            max_connections: 1024,
            max_connections_per_address: 256,
            header_timeout_secs: 30,
            body_idle_timeout_secs: 60,
            max_uri_bytes: 16 << 10,
            max_frames_per_request: 10_000,
            max_frames_bytes: 2 << 30,
            max_stow_bytes: 32 << 30,
            max_multipart_header_bytes: 1 << 20,
            bearer_token: None,
            max_results: 100_000,
            viewer_dir: None,
            api_token: None,
            public_url: None,
            trusted_proxies: Vec::new(),
            tls: None,
            film: FilmConfig::default(),
        }
    }
}

impl HttpConfig {
    /// Refuse configurations that would expose DICOMweb without credentials.
    pub fn validate(&self) -> Result<(), String> {
        // Plain HTTP off loopback only from a proxy that terminates TLS.
        if !self.bind.is_loopback() && self.tls.is_none() && self.trusted_proxies.is_empty() {
            return Err(format!(
                "http.bind = {} is not loopback: serve HTTPS ([http.tls] cert and key), or name the reverse proxy that terminates TLS in http.trusted_proxies",
                self.bind
            ));
        }
        let token = self.bearer_token.as_deref().is_some_and(|t| !t.is_empty());
        if !token && self.cors_allowed_origins.iter().any(|o| o == "*") {
            return Err(
                "http.cors_allowed_origins = [\"*\"] lets any web page read the archive: name the viewer origins, or set http.bearer_token"
                    .into(),
            );
        }
        if self.max_connections == 0
            || self.max_connections_per_address == 0
            || self.header_timeout_secs == 0
            || self.body_idle_timeout_secs == 0
        {
            return Err(
                "http.max_connections, max_connections_per_address, header_timeout_secs and body_idle_timeout_secs must be at least 1"
                    .into(),
            );
        }
        if self.max_frames_per_request == 0 || self.max_frames_bytes == 0 {
            return Err("http.max_frames_per_request and max_frames_bytes must be at least 1".into());
        }
        if self.max_stow_bytes == 0 || self.max_multipart_header_bytes < 4096 {
            return Err("http.max_stow_bytes must be at least 1, max_multipart_header_bytes at least 4096".into());
        }
        self.film.validate()?;
        Ok(())
    }
}

/// Shared state of the handlers.
#[derive(Clone)]
pub(crate) struct AppState {
    pub archive: Archive,
    /// Who may do what: every route asks it.
    pub access: Access,
    pub config: Arc<HttpConfig>,
    /// The DICOMweb reads films forward to (built on first use).
    pub film_reads: Arc<std::sync::OnceLock<Router>>,
    /// Cloud films: every rule of them (`yunying-film`).
    pub films: yunying_film::Films,
    /// Retention, legal holds and deletion (`yunying-retention`).
    pub retention: yunying_retention::Retention,
    /// The patient index across institutions, when this node runs one.
    pub persons: Option<yunying_persons::Persons>,
    /// Mutual recognition of exams, when this node is configured for it.
    pub recognition: Option<Arc<yunying_recognition::Recognition>>,
    /// Remote reading, when this node is configured for it.
    pub reading: Option<Arc<yunying_reading::Reading>>,
    /// Requests by route, for `/metrics` (`access_log.rs`).
    pub http_metrics: Arc<access_log::HttpMetrics>,
    /// Work requests leave running (film imports and ZIPs): shutdown
    /// waits for it.
    pub background: background::Background,
}

/// The DICOMweb reads: QIDO-RS, WADO-RS, rendered and thumbnails, each
/// checked by the access layer for the request's principal.
fn dicomweb_reads(state: &AppState) -> Router<AppState> {
    Router::new()
        .merge(qido::routes())
        .merge(wado::routes())
        .merge(frames::routes())
        .merge(rendered::routes())
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::authorize_dicomweb))
}

/// DICOMweb reads for film sessions: the film's handler puts the film's
/// principal on the request.
pub(crate) fn film_reads(state: AppState) -> Router {
    dicomweb_reads(&state).with_state(state)
}

/// All routes of the HTTP API.
pub fn router(archive: Archive, access: Access, config: HttpConfig) -> Router {
    let retention = yunying_retention::Retention::new(archive.clone(), access.clone(), Default::default());
    router_with(archive, access, Services { retention, persons: None, recognition: None, reading: None }, config, Arc::new(LogSender))
}

/// All routes, with SMS codes sent by `sms`.
pub fn router_with_sms(archive: Archive, access: Access, config: HttpConfig, sms: Arc<dyn SmsSender>) -> Router {
    let retention = yunying_retention::Retention::new(archive.clone(), access.clone(), Default::default());
    router_with(archive, access, Services { retention, persons: None, recognition: None, reading: None }, config, sms)
}

/// The services `serve` configured beside the archive and access layer.
#[derive(Clone)]
pub struct Services {
    /// Retention, legal holds and deletion.
    pub retention: yunying_retention::Retention,
    /// The patient index across institutions, when this node runs one.
    pub persons: Option<yunying_persons::Persons>,
    /// Mutual recognition of exams, when configured.
    pub recognition: Option<Arc<yunying_recognition::Recognition>>,
    /// Remote reading, when configured.
    pub reading: Option<Arc<yunying_reading::Reading>>,
}

/// All routes, with the services `serve` configured.
pub fn router_with(archive: Archive, access: Access, services: Services, config: HttpConfig, sms: Arc<dyn SmsSender>) -> Router {
    router_in(archive, access, services, config, sms, background::Background::default())
}

/// [`router_with`], its requests' background work in `background`.
pub(crate) fn router_in(
    archive: Archive,
    access: Access,
    services: Services,
    config: HttpConfig,
    sms: Arc<dyn SmsSender>,
    background: background::Background,
) -> Router {
    let Services { retention, persons, recognition, reading } = services;
    let films = yunying_film::Films::new(archive.clone(), access.clone(), config.film.clone(), sms);
    let state = AppState {
        archive,
        access,
        config: Arc::new(config.clone()),
        film_reads: Arc::default(),
        films,
        retention,
        persons,
        recognition,
        reading,
        http_metrics: Arc::default(),
        background,
    };
    let dicomweb =
        dicomweb_reads(&state).merge(stow::routes().route_layer(middleware::from_fn_with_state(state.clone(), auth::authorize_dicomweb)));
    let cors = guard::cors(&config);
    // JSON and text compress well; DICOM, frames and images do not.
    let compress =
        SizeAbove::new(1024).and(|_: StatusCode, _: axum::http::Version, headers: &axum::http::HeaderMap, _: &axum::http::Extensions| {
            headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|ct| ct.starts_with("application/dicom+json") || ct.starts_with("application/json") || ct.starts_with("text/"))
        });
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .nest("/dicom-web", dicomweb)
        .merge(viewer::routes())
        .merge(film::routes())
        .merge(access_api::routes())
        .merge(audit_api::routes())
        .merge(witness_api::routes())
        .merge(people::routes())
        .merge(retention_api::routes())
        .merge(empi_api::routes())
        .merge(recognition_api::routes())
        .merge(reading_api::routes())
        .merge(annotations_api::routes())
        .merge(hanging_api::routes())
        .layer(middleware::from_fn_with_state(state.clone(), auth::authenticate))
        .layer(middleware::from_fn_with_state(state.clone(), access_log::log_request))
        .with_state(state)
        .layer(CompressionLayer::new().compress_when(compress))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("cross-origin-resource-policy"),
            HeaderValue::from_static("cross-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            HeaderName::from_static("cross-origin-embedder-policy"),
            HeaderValue::from_static("require-corp"),
        ))
        .layer(cors)
        .layer(middleware::from_fn_with_state(Arc::new(config.trusted_proxies.clone()), guard::forwarded_proto))
        .layer(middleware::from_fn_with_state(Arc::new(guard::Hosts::new(&config)), guard::check_host))
        .layer(middleware::from_fn_with_state(config.max_uri_bytes, guard::check_uri_length))
}

pub use conn::{raise_nofile_limit, serve};

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

/// 200 when the index answers one trivial query; 503 otherwise. Cheap at
/// any size (load balancers ask often): the counts are in `/metrics`.
async fn healthz(State(state): State<AppState>) -> Response {
    match state.archive.index().ping().await {
        Ok(()) => Json(Health { status: "ok" }).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: index unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"status": "index unavailable"}))).into_response()
        }
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let archive = &state.archive;
    let mut text = archive.metrics().render();
    text.push_str(&state.http_metrics.render());
    text.push_str(&process_metrics::render());
    if let Ok(c) = archive.index().counts().await {
        for (name, value) in [("patients", c.patients), ("studies", c.studies), ("series", c.series), ("instances", c.instances)] {
            text.push_str(&format!("# TYPE yunying_index_{name} gauge\nyunying_index_{name} {value}\n"));
        }
        text.push_str(&format!("# TYPE yunying_index_bytes gauge\nyunying_index_bytes {}\n", c.bytes));
    }
    if let Ok(j) = archive.index().job_counts().await {
        text.push_str("# HELP yunying_rendition_jobs Rendition jobs by state (pending + running = queue depth)\n# TYPE yunying_rendition_jobs gauge\n");
        for (state, n) in [("pending", j.pending), ("running", j.running), ("done", j.done), ("parked", j.parked)] {
            text.push_str(&format!("yunying_rendition_jobs{{state=\"{state}\"}} {n}\n"));
        }
    }
    if let Ok(n) = archive.index().commitments_owed().await {
        text.push_str(&format!(
            "# HELP yunying_commitment_reports_owed Storage commitment reports not yet acknowledged by their requesters\n# TYPE yunying_commitment_reports_owed gauge\nyunying_commitment_reports_owed {n}\n"
        ));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}
