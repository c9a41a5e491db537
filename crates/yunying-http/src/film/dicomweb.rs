//! DICOMweb reads inside a film, for its session only.
//!
//! The path after `/api/film/{id}/dicom-web/` is read as decoded segments
//! and must be one of the shapes below, each segment a UID, a keyword or a
//! frame list; nothing is re-parsed from text, so an encoded `?`, `#`, `/`
//! or `..` can never turn a path into another request. The request then
//! goes to the same handlers as `/dicom-web`, with the film's studies as a
//! [`StudyScope`] that QIDO-RS intersects its search with.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use tower::ServiceExt;

use super::{is_valid_uid, session_film};
use crate::AppState;
use crate::error::ApiError;
use crate::qido::StudyScope;

/// What a film path asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// QIDO-RS: answered within the film's studies.
    Search,
    /// Metadata, frames, rendered images and thumbnails.
    Read,
    /// Whole original instances (study, series or instance retrieval, bulk
    /// data): only when the film allows download.
    Original,
}

/// `GET /api/film/{id}/dicom-web/{*rest}`: QIDO-RS over the film's
/// studies, metadata, frames, rendered images and thumbnails (what the film
/// page and the radiologist viewer ask for), and whole instances when the
/// film allows download.
pub(crate) async fn reads(
    State(s): State<AppState>,
    Path((film_id, rest)): Path<(String, String)>,
    request: Request,
) -> Result<Response, ApiError> {
    let film = session_film(&s, request.headers(), &film_id).await?;
    if request.method() != axum::http::Method::GET && request.method() != axum::http::Method::HEAD {
        return Err(ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "films are read-only"));
    }
    let segments: Vec<&str> = rest.split('/').collect();
    let access = classify(&segments).ok_or_else(|| ApiError::not_found("no such resource in a film / 胶片中没有此资源"))?;
    if let Some(study) = segments.get(1)
        && !film.studies.iter().any(|u| u == study)
    {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "this study is not in the film"));
    }
    if access == Access::Original && !film.download {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "this film does not allow downloading originals / 此胶片不允许下载原始影像"));
    }
    // Every segment is plain (checked above), so the path is rebuilt as it
    // was routed; the query string is the client's, and the scope below,
    // not the query, decides which studies a search reaches.
    let query = request.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
    let uri: axum::http::Uri = format!("/{}{query}", segments.join("/")).parse().map_err(|_| ApiError::bad_request("bad path"))?;
    // A new request (not the old one's parts): the outer route's path
    // parameters live in its extensions and would confuse the inner routes.
    let (head, body) = request.into_parts();
    let mut inner_request = Request::new(Body::new(body));
    *inner_request.method_mut() = head.method;
    *inner_request.uri_mut() = uri;
    *inner_request.headers_mut() = head.headers;
    inner_request.extensions_mut().insert(StudyScope(Arc::new(film.studies.clone())));
    let inner = s.film_reads.get_or_init(|| crate::film_reads(s.clone())).clone();
    let mut response = inner.oneshot(inner_request).await.unwrap_or_else(|e| match e {});
    // A film's images are private to its session, and stay out of the
    // browser's disk cache (a shared phone keeps nothing once the session
    // ends; the page holds what it showed in memory).
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(response)
}

/// The shape of a film path, from its decoded segments; `None` for any
/// other path, or a segment that is not what its place requires.
fn classify(segments: &[&str]) -> Option<Access> {
    use Access::*;
    let uid = |i: usize| segments.get(i).is_some_and(|s| is_valid_uid(s));
    let view = |s: &str| matches!(s, "rendered" | "thumbnail");
    if segments.first() != Some(&"studies") {
        return None;
    }
    let access = match segments[1..] {
        [] => Search,
        [_] => Original,
        [_, "metadata"] => Read,
        [_, last] if view(last) => Read,
        [_, "series" | "instances"] => Search,
        [_, "series", _] => Original,
        [_, "series", _, "metadata"] => Read,
        [_, "series", _, last] if view(last) => Read,
        [_, "series", _, "instances"] => Search,
        [_, "series", _, "instances", _] => Original,
        [_, "series", _, "instances", _, "metadata"] => Read,
        [_, "series", _, "instances", _, last] if view(last) => Read,
        [_, "series", _, "instances", _, "frames", frames] if frame_list(frames) => Read,
        [_, "series", _, "instances", _, "frames", frames, last] if frame_list(frames) && view(last) => Read,
        [_, "series", _, "instances", _, "bulkdata", ref path @ ..] if !path.is_empty() && path.iter().all(|p| bulk_segment(p)) => Original,
        _ => return None,
    };
    // The UIDs in their places: study, series, instance.
    let uids_ok = match segments.len() {
        1 => true,
        2..=3 => uid(1),
        4..=5 => uid(1) && (segments[2] != "series" || uid(3)),
        _ => uid(1) && uid(3) && uid(5),
    };
    uids_ok.then_some(access)
}

/// `1` or `1,2,3`: frame numbers, nothing else.
fn frame_list(s: &str) -> bool {
    !s.is_empty() && s.split(',').all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// A bulk data path segment: a tag in hex or an item number.
fn bulk_segment(s: &str) -> bool {
    !s.is_empty() && s.len() <= 16 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(path: &str) -> Option<Access> {
        let segments: Vec<&str> = path.split('/').collect();
        classify(&segments)
    }

    #[test]
    fn film_paths_have_one_reading_each() {
        assert_eq!(of("studies"), Some(Access::Search));
        assert_eq!(of("studies/1.2.3"), Some(Access::Original));
        assert_eq!(of("studies/1.2.3/metadata"), Some(Access::Read));
        assert_eq!(of("studies/1.2.3/thumbnail"), Some(Access::Read));
        assert_eq!(of("studies/1.2.3/series"), Some(Access::Search));
        assert_eq!(of("studies/1.2.3/series/1.2.4"), Some(Access::Original));
        assert_eq!(of("studies/1.2.3/series/1.2.4/metadata"), Some(Access::Read));
        assert_eq!(of("studies/1.2.3/series/1.2.4/instances"), Some(Access::Search));
        assert_eq!(of("studies/1.2.3/series/1.2.4/instances/1.2.5"), Some(Access::Original));
        assert_eq!(of("studies/1.2.3/series/1.2.4/instances/1.2.5/rendered"), Some(Access::Read));
        assert_eq!(of("studies/1.2.3/series/1.2.4/instances/1.2.5/frames/1,2"), Some(Access::Read));
        assert_eq!(of("studies/1.2.3/series/1.2.4/instances/1.2.5/frames/3/rendered"), Some(Access::Read));
        assert_eq!(of("studies/1.2.3/series/1.2.4/instances/1.2.5/bulkdata/7FE00010"), Some(Access::Original));
    }

    #[test]
    fn decoded_specials_in_any_segment_are_refused() {
        // The review's attack: `S%3F/metadata` decodes to `S?/metadata`,
        // which rebuilt into a URI became series retrieval.
        for bad in [
            "studies/1.2.3/series/1.2.4?/metadata",
            "studies/1.2.3/series/1.2.4#/metadata",
            "studies/1.2.3/series/1.2.4/instances/1.2.5?/metadata",
            "studies/1.2.3?/metadata",
            "studies/../metadata",
            "studies/1.2.3/series/../metadata",
            "studies/1.2.3/series/1.2.4/instances/../../metadata",
            "studies/1.2.3/series/1.2.4/instances/1.2.5/frames/1?/rendered",
            "studies/1.2.3/series/1.2.4/instances/1.2.5/frames/1#",
            "studies/1.2.3/series/1.2.4/instances/1.2.5/bulkdata/..",
            "studies/1.2.3/series/1.2.4/instances/1.2.5/bulkdata/7FE0?0010",
            "studies/1.2.3/series/a.b/metadata",
            "studies/1.2.3/series/1.2.4/metadata/extra",
            "studies/1.2.3/unknown",
            "series",
            "studies/",
            "studies/1.2.3/series/1.2.4/instances/1.2.5/frames/1/",
        ] {
            assert_eq!(of(bad), None, "{bad}");
        }
    }
}
