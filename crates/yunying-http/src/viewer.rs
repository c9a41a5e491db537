//! The radiologist web viewer (`viewer/`, built with Vite) under `/viewer/`.
//!
//! The build is carried inside the binary (`build.rs` embeds `viewer/dist`
//! with its precompressed `.br`/`.gz` twins and an ETag per file); a
//! directory named by `http.viewer_dir` (or `YUNYING_VIEWER_DIR`) replaces it,
//! served by tower-http's `ServeDir` (precompressed twins, Last-Modified,
//! ranges). Either way `index.html` and `config.json` are revalidated on
//! every load (304 when unchanged) and the hashed assets are immutable.
//! `config.json` tells the viewer where DICOMweb is and that this server
//! keeps renditions (thumbnails, previews, lossless HTJ2K copies) it may ask
//! for. These files hold no patient data and need no token; with
//! `http.bearer_token` set, every DICOMweb request the viewer then makes
//! carries it.

use std::path::Path;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use tower::ServiceExt;
use tower_http::services::ServeDir;

use crate::extract::Path as UrlPath;
use crate::{ApiError, AppState};

/// One file of the embedded viewer build.
pub(crate) struct Embedded {
    /// Relative to the build's root, `/`-separated.
    path: &'static str,
    body: &'static [u8],
    br: Option<&'static [u8]>,
    gzip: Option<&'static [u8]>,
    /// A strong validator from the content, quoted.
    etag: &'static str,
}

mod files {
    use super::Embedded;
    include!(concat!(env!("OUT_DIR"), "/viewer_files.rs"));
}

/// Whether this binary carries a viewer build (`http.viewer_dir` unset still serves one).
pub fn viewer_embedded() -> bool {
    !files::FILES.is_empty()
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::temporary("/viewer/") }))
        .route("/viewer", get(|| async { Redirect::permanent("/viewer/") }))
        .route("/viewer/", get(index))
        .route("/viewer/config.json", get(config))
        .route("/viewer/{*path}", get(file))
}

async fn index(State(s): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    serve(&s, "index.html", &headers).await
}

async fn config() -> Response {
    let body = serde_json::json!({ "dicomweb": "/dicom-web", "renditions": true });
    let mut r = axum::Json(body).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    r
}

async fn file(State(s): State<AppState>, UrlPath(path): UrlPath<String>, headers: HeaderMap) -> Result<Response, ApiError> {
    serve(&s, &path, &headers).await
}

/// The viewer build's file `relative`, answering the request's validators
/// (`If-None-Match`, `If-Modified-Since`) and `Accept-Encoding`.
pub(crate) async fn serve(s: &AppState, relative: &str, request: &HeaderMap) -> Result<Response, ApiError> {
    let mut r = match s.config.viewer_dir.as_deref() {
        Some(root) => from_dir(root, relative, request).await?,
        None => from_binary(relative, request)?,
    };
    let h = r.headers_mut();
    // Vite names assets by content hash; everything else is revalidated.
    let cache = if relative.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(r)
}

fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such file")
}

fn from_binary(relative: &str, request: &HeaderMap) -> Result<Response, ApiError> {
    if files::FILES.is_empty() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "this build carries no viewer: run scripts/build-viewer.sh before building, or set http.viewer_dir",
        ));
    }
    let f = files::FILES.binary_search_by(|f| f.path.cmp(relative)).map(|i| &files::FILES[i]).map_err(|_| not_found())?;
    let mut r = if if_none_match(request, f.etag) {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::NOT_MODIFIED;
        r
    } else {
        let (body, encoding) = match (f.br, f.gzip) {
            (Some(br), _) if accepts(request, "br") => (br, Some("br")),
            (_, Some(gz)) if accepts(request, "gzip") => (gz, Some("gzip")),
            _ => (f.body, None),
        };
        let mut r = Response::new(Body::from(bytes::Bytes::from_static(body)));
        let h = r.headers_mut();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(f.path)));
        if let Some(e) = encoding {
            h.insert(header::CONTENT_ENCODING, HeaderValue::from_static(e));
        }
        r
    };
    let h = r.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_static(f.etag));
    if f.br.is_some() || f.gzip.is_some() {
        h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    Ok(r)
}

async fn from_dir(root: &Path, relative: &str, request: &HeaderMap) -> Result<Response, ApiError> {
    // Vite's names need no escaping; anything else is not a file of the build.
    if relative.is_empty() || !relative.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-/".contains(&b)) {
        return Err(not_found());
    }
    let mut req = Request::builder().uri(format!("/{relative}"));
    for name in [header::ACCEPT_ENCODING, header::IF_MODIFIED_SINCE, header::IF_UNMODIFIED_SINCE, header::RANGE, header::IF_RANGE] {
        if let Some(v) = request.get(&name) {
            req = req.header(name, v);
        }
    }
    let req = req.body(Body::empty()).map_err(|_| not_found())?;
    let service = ServeDir::new(root).append_index_html_on_directories(false).precompressed_br().precompressed_gzip();
    let r = match service.oneshot(req).await {
        Ok(r) => r,
        Err(never) => match never {},
    };
    match r.status() {
        StatusCode::NOT_FOUND => Err(not_found()),
        s if s.is_server_error() => {
            tracing::error!(status = %s, "viewer file unreadable");
            Err(ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "viewer file unreadable"))
        }
        _ => Ok(r.map(Body::new)),
    }
}

/// `If-None-Match` names `etag` (or `*`); weak comparison, as for GET.
fn if_none_match(request: &HeaderMap, etag: &str) -> bool {
    request.get_all(header::IF_NONE_MATCH).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(|t| {
        let t = t.trim();
        t == "*" || t.trim_start_matches("W/") == etag
    })
}

/// `Accept-Encoding` allows `coding` (named with a q-value above 0, or by `*`).
fn accepts(request: &HeaderMap, coding: &str) -> bool {
    let mut named = None;
    let mut star = false;
    for item in request.get_all(header::ACCEPT_ENCODING).iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')) {
        let mut parts = item.split(';');
        let name = parts.next().unwrap_or("").trim();
        let q = parts.filter_map(|p| p.trim().strip_prefix("q=")).next().map(|q| q.trim().parse::<f32>().unwrap_or(0.0)).unwrap_or(1.0);
        if name.eq_ignore_ascii_case(coding) {
            named = Some(q > 0.0);
        } else if name == "*" {
            star = q > 0.0;
        }
    }
    named.unwrap_or(star)
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

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (header::HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn accept_encoding_follows_q_values_and_the_wildcard() {
        assert!(accepts(&headers(&[("accept-encoding", "gzip, deflate, br, zstd")]), "br"));
        assert!(!accepts(&headers(&[("accept-encoding", "gzip, br;q=0")]), "br"));
        assert!(accepts(&headers(&[("accept-encoding", "gzip, br;q=0")]), "gzip"));
        assert!(accepts(&headers(&[("accept-encoding", "*")]), "gzip"));
        assert!(!accepts(&headers(&[("accept-encoding", "*, gzip;q=0")]), "gzip"));
        assert!(!accepts(&headers(&[]), "gzip"));
    }

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists() {
        let etag = "\"abc\"";
        assert!(if_none_match(&headers(&[("if-none-match", "\"x\", W/\"abc\"")]), etag));
        assert!(if_none_match(&headers(&[("if-none-match", "*")]), etag));
        assert!(!if_none_match(&headers(&[("if-none-match", "\"abd\"")]), etag));
        assert!(!if_none_match(&headers(&[]), etag));
    }

    #[test]
    fn the_embedded_files_are_sorted_for_lookup() {
        assert!(files::FILES.windows(2).all(|w| w[0].path < w[1].path));
    }
}
