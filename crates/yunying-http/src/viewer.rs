//! The radiologist web viewer (`viewer/`, built with Vite) under `/viewer/`.
//!
//! The build output is served as files: `index.html` and `config.json` are
//! revalidated on every load, the hashed assets are immutable. `config.json`
//! tells the viewer where DICOMweb is and that this server keeps renditions
//! (thumbnails, previews, lossless HTJ2K copies) it may ask for. These files
//! hold no patient data and need no token; with `http.bearer_token` set,
//! every DICOMweb request the viewer then makes carries it.

use std::path::{Component, Path, PathBuf};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::{ApiError, AppState};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/viewer/") }))
        .route("/viewer", get(|| async { Redirect::permanent("/viewer/") }))
        .route("/viewer/", get(index))
        .route("/viewer/config.json", get(config))
        .route("/viewer/{*path}", get(file))
}

async fn index(State(s): State<AppState>) -> Result<Response, ApiError> {
    serve(&s, "index.html").await
}

async fn config() -> Response {
    let body = serde_json::json!({ "dicomweb": "/dicom-web", "renditions": true });
    let mut r = axum::Json(body).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn file(State(s): State<AppState>, UrlPath(path): UrlPath<String>) -> Result<Response, ApiError> {
    serve(&s, &path).await
}

pub(crate) async fn serve(s: &AppState, relative: &str) -> Result<Response, ApiError> {
    let Some(root) = s.config.viewer_dir.as_deref() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "the viewer is not installed: build viewer/ (npm run build) and set http.viewer_dir",
        ));
    };
    let path = resolve(root, relative).ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such file"))?;
    let bytes = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.kind() == std::io::ErrorKind::IsADirectory => {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "no such file"));
        }
        Err(e) => {
            tracing::error!(error = %e, "viewer file unreadable");
            return Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "viewer file unreadable"));
        }
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let mut r = Response::new(Body::from(bytes));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(name)));
    // Vite names assets by content hash; everything else is revalidated.
    let cache = if relative.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(r)
}

/// `relative` under `root`, refusing anything that climbs out of it.
fn resolve(root: &Path, relative: &str) -> Option<PathBuf> {
    let rel = Path::new(relative);
    if relative.is_empty() || !rel.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    Some(root.join(rel))
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_viewer_directory() {
        let root = Path::new("/srv/viewer");
        assert_eq!(resolve(root, "assets/index-1.js"), Some(PathBuf::from("/srv/viewer/assets/index-1.js")));
        for bad in ["", "../etc/passwd", "assets/../../x", "/etc/passwd", "./index.html"] {
            assert_eq!(resolve(root, bad), None, "{bad}");
        }
    }
}
