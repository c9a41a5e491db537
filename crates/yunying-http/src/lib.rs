//! The HTTP listener: health and metrics now; DICOMweb and cloud films mount
//! here later.
//!
//! Architecture invariant: only this crate knows HTTP and JSON.

use std::future::Future;
use std::net::IpAddr;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use yunying_archive::Archive;

/// Settings of the HTTP listener.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// Address to bind. Loopback until authentication exists.
    pub bind: IpAddr,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig { bind: IpAddr::from([127, 0, 0, 1]) }
    }
}

/// All routes of the HTTP API.
pub fn router(archive: Archive) -> Router {
    Router::new().route("/healthz", get(healthz)).route("/metrics", get(metrics)).with_state(archive)
}

/// Serve HTTP on `listener` until `shutdown` completes.
pub async fn serve(listener: tokio::net::TcpListener, archive: Archive, shutdown: impl Future<Output = ()> + Send + 'static) {
    let app = router(archive);
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        tracing::error!(error = %e, "HTTP server failed");
    }
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    instances: i64,
}

/// 200 when the index answers; 503 otherwise.
async fn healthz(State(archive): State<Archive>) -> Response {
    match archive.index().counts().await {
        Ok(c) => Json(Health { status: "ok", instances: c.instances }).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "health check: index unavailable");
            (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"status": "index unavailable"}))).into_response()
        }
    }
}

async fn metrics(State(archive): State<Archive>) -> Response {
    let mut text = archive.metrics().render();
    if let Ok(c) = archive.index().counts().await {
        for (name, value) in [
            ("patients", c.patients),
            ("studies", c.studies),
            ("series", c.series),
            ("instances", c.instances),
        ] {
            text.push_str(&format!("# TYPE yunying_index_{name} gauge\nyunying_index_{name} {value}\n"));
        }
        text.push_str(&format!("# TYPE yunying_index_bytes gauge\nyunying_index_bytes {}\n", c.bytes));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}
