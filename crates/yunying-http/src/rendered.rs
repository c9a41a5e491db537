//! Rendered images and thumbnails (PS3.18 10.4.1.1.3, 10.4.1.1.4) at study,
//! series, instance and frame level, JPEG or PNG, with `window`,
//! `viewport` and `quality`.
//!
//! Study and series level render their representative image: the middle
//! instance with pixel data of the first series (the whole scope as one
//! picture, as a thumbnail would show it).

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use yunying_archive::InstanceData;
use yunying_transcode::{ImageFormat, RenderOptions};

use crate::AppState;
use crate::error::ApiError;
use crate::media;
use crate::wado::{IMMUTABLE, etag, header_value, not_modified, scope};

pub(crate) fn routes() -> Router<AppState> {
    let mut r = Router::new();
    for kind in ["rendered", "thumbnail"] {
        r = r
            .route(&format!("/studies/{{study}}/{kind}"), get(study))
            .route(&format!("/studies/{{study}}/series/{{series}}/{kind}"), get(series))
            .route(&format!("/studies/{{study}}/series/{{series}}/instances/{{instance}}/{kind}"), get(instance))
            .route(&format!("/studies/{{study}}/series/{{series}}/instances/{{instance}}/frames/{{frame}}/{kind}"), get(frame));
    }
    r
}

/// Default size of a thumbnail when the request names no viewport.
const THUMBNAIL: (u32, u32) = (128, 128);

async fn study(
    State(s): State<AppState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Path(study): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let instances = scope(&s.archive, &study, None, None).await?;
    render(&s, &uri, &headers, representative(instances), 1, q).await
}

async fn series(
    State(s): State<AppState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Path((study, series)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let instances = scope(&s.archive, &study, Some(&series), None).await?;
    render(&s, &uri, &headers, representative(instances), 1, q).await
}

async fn instance(
    State(s): State<AppState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Path((study, series, sop)): Path<(String, String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let instance = scope(&s.archive, &study, Some(&series), Some(&sop)).await?.remove(0);
    render(&s, &uri, &headers, instance, 1, q).await
}

async fn frame(
    State(s): State<AppState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    Path((study, series, sop, frame)): Path<(String, String, String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    let n: u32 = frame.parse().ok().filter(|n| *n >= 1).ok_or_else(|| ApiError::bad_request(format!("bad frame number {frame:?}")))?;
    let instance = scope(&s.archive, &study, Some(&series), Some(&sop)).await?.remove(0);
    render(&s, &uri, &headers, instance, n, q).await
}

/// The middle instance with pixel data of the first series.
fn representative(instances: Vec<InstanceData>) -> InstanceData {
    let first_series = instances[0].stored.series_instance_uid.clone();
    let mut images: Vec<InstanceData> =
        instances.iter().filter(|i| i.stored.series_instance_uid == first_series && !i.pixel_layout.is_empty()).cloned().collect();
    if images.is_empty() {
        images = instances.iter().filter(|i| !i.pixel_layout.is_empty()).cloned().collect();
    }
    if images.is_empty() {
        return instances.into_iter().next().expect("scope is never empty");
    }
    let middle = images.len() / 2;
    images.swap_remove(middle)
}

async fn render(
    state: &AppState,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    instance: InstanceData,
    frame: u32,
    raw_query: Option<String>,
) -> Result<Response, ApiError> {
    let thumbnail = uri.path().ends_with("/thumbnail");
    let mut options = parse_options(raw_query.as_deref().unwrap_or(""))?;
    if thumbnail && options.viewport.is_none() {
        options.viewport = Some(THUMBNAIL);
    }
    options.format = negotiate(headers)?;
    let etag = etag([
        instance.stored.digest.as_str(),
        &frame.to_string(),
        raw_query.as_deref().unwrap_or(""),
        if options.format == ImageFormat::Png { "png" } else { "jpeg" },
        if thumbnail { "thumb" } else { "full" },
    ]);
    if let Some(r) = not_modified(headers, &etag) {
        return Ok(r);
    }
    if raw_query.as_deref().unwrap_or("").is_empty() && options.format == ImageFormat::Jpeg {
        // The default rendering: stored at ingest when its job has run.
        let (kind, number) = if thumbnail { ("thumbnail", 0) } else { ("preview", frame as i64) };
        if thumbnail && frame != 1 {
            // Thumbnails of other frames are made on demand.
        } else if let Some(image) = stored_rendition(state, &instance, kind, number).await {
            let mut response = ([(header::CONTENT_TYPE, "image/jpeg")], image).into_response();
            response.headers_mut().insert(header::ETAG, header_value(&etag));
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
            return Ok(response);
        }
    }
    let ts = instance.stored.transfer_syntax_uid.clone();
    if !yunying_transcode::can_decode(&ts) {
        return Err(ApiError::not_acceptable(format!("instances stored as {ts} cannot be rendered")));
    }
    let info = state.archive.pixel_info(&instance).await?.for_frame(frame.saturating_sub(1) as usize).into_owned();
    let pixels = state.archive.frames(&instance, &[frame]).await?.remove(0);
    let format = options.format;
    let image = tokio::task::spawn_blocking(move || yunying_transcode::render(&ts, &info, &pixels, &options))
        .await
        .map_err(|e| ApiError::internal(format!("render task failed: {e}")))?
        .map_err(|e| ApiError::from(yunying_archive::RetrieveError::Transcode(e)))?;
    let content_type = if format == ImageFormat::Png { "image/png" } else { "image/jpeg" };
    let mut response = ([(header::CONTENT_TYPE, content_type)], image).into_response();
    response.headers_mut().insert(header::ETAG, header_value(&etag));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    Ok(response)
}

/// A rendition stored at ingest, if there is one.
async fn stored_rendition(state: &AppState, instance: &InstanceData, kind: &str, frame: i64) -> Option<Vec<u8>> {
    let renditions = state.archive.index().renditions_of(&instance.stored.sop_instance_uid).await.ok()?;
    let key = renditions.into_iter().find(|r| r.kind == kind && r.frame == frame)?.object_key;
    let store = state.archive.store().clone();
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(|| store.get(&key).ok())).await.ok().flatten()
}

fn negotiate(headers: &HeaderMap) -> Result<ImageFormat, ApiError> {
    for r in media::accept(headers)? {
        let payload = r.payload().to_string();
        if media::matches(&payload, "image/jpeg") {
            return Ok(ImageFormat::Jpeg);
        }
        if media::matches(&payload, "image/png") {
            return Ok(ImageFormat::Png);
        }
    }
    Err(ApiError::not_acceptable("rendered images are available as image/jpeg or image/png"))
}

/// `window=center,width[,function]`, `viewport=w,h`, `quality=1..100`.
fn parse_options(raw: &str) -> Result<RenderOptions, ApiError> {
    let mut o = RenderOptions::default();
    for (name, value) in form_urlencoded::parse(raw.as_bytes()) {
        let numbers = || -> Result<Vec<f64>, ApiError> {
            value
                .split(',')
                .take(2)
                .map(|v| v.trim().parse::<f64>().ok().filter(|v| v.is_finite()))
                .collect::<Option<Vec<f64>>>()
                .ok_or_else(|| ApiError::bad_request(format!("{name} must be numbers, got {value:?}")))
        };
        match name.as_ref() {
            "window" => {
                let n = numbers()?;
                let function = value.split(',').nth(2).map(|f| f.trim().to_ascii_uppercase());
                if n.len() != 2 || n[1] <= 0.0 {
                    return Err(ApiError::bad_request("window must be center,width[,function] with width > 0"));
                }
                if let Some(f) = &function
                    && !matches!(f.as_str(), "LINEAR" | "LINEAR_EXACT" | "SIGMOID")
                {
                    return Err(ApiError::bad_request(format!("unknown VOI LUT function {f:?}")));
                }
                o.window = Some((n[0], n[1], function));
            }
            "viewport" => {
                let n = numbers()?;
                if n.len() != 2 || n.iter().any(|v| *v < 0.0 || *v > 8192.0) {
                    return Err(ApiError::bad_request("viewport must be width,height (0..8192)"));
                }
                o.viewport = Some((n[0] as u32, n[1] as u32));
            }
            "quality" => {
                let q: u8 =
                    value.parse().ok().filter(|q| (1..=100).contains(q)).ok_or_else(|| ApiError::bad_request("quality must be 1..100"))?;
                o.quality = q;
            }
            _ => {} // annotation and others: not supported, ignored
        }
    }
    Ok(o)
}
