//! Who is asking, and what DICOMweb lets them reach.
//!
//! [`authenticate`] runs on every request: an `Authorization: Bearer …`
//! header (an API key, an OpenID Connect access token, a configured token)
//! or a session cookie becomes a [`Principal`] request extension; bad
//! credentials are refused at once with 401. With none, the access layer
//! decides whether an anonymous principal applies (`access.anonymous`).
//!
//! [`authorize_dicomweb`] runs on every matched DICOMweb route: it reads
//! the path's decoded segments into an [`Action`] and a study, asks the
//! access layer, and either refuses or lets the request through: searches
//! carry the principal's [`Scoped`] studies for the index to apply,
//! everything under a study has been checked against that study (the
//! index finds series and instances only inside the study named).

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use yunying_access::{Action, Denied, Principal};
use yunying_index::search::Scope;

use crate::AppState;
use crate::error::ApiError;

/// The studies a search may reach, set by [`authorize_dicomweb`]; QIDO-RS
/// requires it (a search without it is a wiring mistake: 500, not every
/// study). `None` inside: every study.
#[derive(Clone, Debug)]
pub(crate) struct Scoped {
    pub scope: Option<Scope>,
    /// Who searches, from where: the search's access record names them.
    pub principal: Principal,
    pub client: String,
}

/// An access-layer refusal as an HTTP answer.
pub(crate) fn refusal(denied: Denied) -> ApiError {
    match denied {
        Denied::Unauthenticated(m) => ApiError::new(StatusCode::UNAUTHORIZED, m),
        Denied::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, m),
        Denied::NotFound(m) => ApiError::not_found(m),
        Denied::Invalid(m) => ApiError::bad_request(m),
        Denied::Unavailable(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, m),
    }
}

/// An access-layer refusal as a response: a 401 carries the challenge.
pub(crate) fn denied(d: Denied) -> Response {
    let challenge = matches!(d, Denied::Unauthenticated(_));
    let mut response = refusal(d).into_response();
    if challenge {
        response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"yunying\""));
    }
    response
}

/// 401 with the challenge clients expect.
fn unauthorized(message: &str, invalid_token: bool) -> Response {
    let mut response = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
    let challenge = if invalid_token { "Bearer realm=\"yunying\", error=\"invalid_token\"" } else { "Bearer realm=\"yunying\"" };
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(challenge));
    response
}

/// The bearer token of a request, if it has an `Authorization: Bearer`.
fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

/// The value of a cookie, if the request sent it.
pub(crate) fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// Turn credentials into a [`Principal`] extension (see the module docs).
pub(crate) async fn authenticate(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let principal = if let Some(token) = bearer(request.headers()) {
        match state.access.authenticate_bearer(token).await {
            Ok(p) => Some(p),
            Err(Denied::Unauthenticated(m)) => return unauthorized(&m, true),
            Err(e) => return refusal(e).into_response(),
        }
    } else if let Some(token) = cookie(request.headers(), crate::people::SESSION_COOKIE) {
        // A stale cookie proves nothing but blocks nothing either: the
        // request goes on without a principal (the sign-in page and API
        // must stay reachable to a browser holding an expired session).
        match state.access.authenticate_session(token).await {
            Ok(p) => Some(p),
            Err(Denied::Unauthenticated(_)) => None,
            Err(e) => return refusal(e).into_response(),
        }
    } else {
        None
    };
    let principal = principal.or_else(|| {
        // The client as every rule sees it: behind a trusted proxy, the
        // address the proxy names, never the proxy's own.
        client_of(&state, &request).parse::<IpAddr>().ok().and_then(|ip| state.access.anonymous(ip, false))
    });
    if let Some(p) = principal {
        if let Some(who) = request.extensions().get::<crate::access_log::Who>() {
            who.set(&p.id);
        }
        request.extensions_mut().insert(p);
    }
    next.run(request).await
}

/// The request's principal, or 401.
pub(crate) struct Signed(pub Principal);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().map(Signed).ok_or_else(|| unauthorized("sign in or send a bearer token", false))
    }
}

/// Check a DICOMweb request against the access layer (module docs).
pub(crate) async fn authorize_dicomweb(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(principal) = request.extensions().get::<Principal>().cloned() else {
        return unauthorized("sign in or send a bearer token", false);
    };
    let path = request.uri().path().to_string();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    // The route matched, so a path without a reading has a malformed
    // segment (a frame list, a UID): refused before any handler sees it.
    let Some((action, study)) = dicomweb_action(request.method(), &segments) else {
        return ApiError::bad_request("malformed DICOMweb path: a UID, frame list or bulk data path is not valid").into_response();
    };
    let mut via = String::new();
    let decided = match (action, study) {
        (Action::Search, _) => state.access.scope(&principal, Action::Search).await.map(|scope| {
            let client = client_of(&state, &request);
            request.extensions_mut().insert(Scoped { scope, principal: principal.clone(), client });
        }),
        (Action::Store, _) => state.access.require(&principal, Action::Store),
        (_, Some(study)) => match state.access.check_study(&principal, action, study).await {
            Ok(yunying_access::Reached::Grant(grant)) => {
                state.access.note_grant_use(&principal, study, &grant, &client_of(&state, &request)).await;
                via = format!("grant:{grant}");
                Ok(())
            }
            Ok(yunying_access::Reached::Own) => Ok(()),
            Err(denied) => Err(denied),
        },
        (_, None) => Err(Denied::NotFound("no such DICOMweb resource".into())),
    };
    match decided {
        Ok(()) if matches!(action, Action::View | Action::Retrieve) => {
            // Noted once answered: a view that failed showed nothing.
            let seen = study.map(|study| yunying_audit::batch::Seen {
                principal: principal.id.clone(),
                institution: principal.institution.clone(),
                via,
                client: client_of(&state, &request),
                study: study.to_string(),
                series: series_of(&segments).map(str::to_string),
                what: what_of(&segments),
                items: items_of(&segments),
            });
            let response = next.run(request).await;
            if let Some(seen) = seen.filter(|_| response.status().is_success()) {
                state.access.audit().viewed(seen);
            }
            response
        }
        Ok(()) => next.run(request).await,
        Err(denied) => {
            if matches!(denied, Denied::Forbidden(_)) {
                let studies: Vec<String> = study.map(|s| vec![s.to_string()]).unwrap_or_default();
                let client = client_of(&state, &request);
                // A search refused is a query denied; other refusals keep
                // their DICOMweb event.
                let event = if action == Action::Search { "query" } else { "dicomweb" };
                let e = yunying_audit::Event::new(event, &principal.id, "denied")
                    .institution(principal.institution.as_deref())
                    .client(&client)
                    .studies(&studies)
                    .detail(yunying_access::describe(action))
                    .fact("face", "dicomweb");
                let _ = state.access.audit().record(e).await;
            }
            refusal(denied).into_response()
        }
    }
}

/// The client's address as every rule sees it (behind a trusted proxy,
/// the address the proxy names).
pub(crate) fn client_of(state: &AppState, request: &Request) -> String {
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    crate::film::client_address(peer, request.headers(), &state.config.trusted_proxies)
}

/// What a DICOMweb path asks for, from its decoded segments, and the study
/// it names: searches (QIDO-RS), views (metadata, rendered, thumbnails,
/// frames), retrievals (instances, bulk data) and stores (STOW-RS). `None`
/// for any other shape, or a segment that is not what its place requires
/// (so an encoded `?`, `/` or `..` never changes what is checked).
pub(crate) fn dicomweb_action<'a>(method: &Method, segments: &[&'a str]) -> Option<(Action, Option<&'a str>)> {
    use Action::*;
    let uid = |i: usize| segments.get(i).is_some_and(|s| yunying_archive::is_valid_uid(s));
    let view = |s: &str| matches!(s, "rendered" | "thumbnail");
    if segments.first() != Some(&"studies") {
        return match segments {
            ["series"] | ["instances"] if is_read(method) => Some((Search, None)),
            _ => None,
        };
    }
    if *method == Method::POST {
        return match segments.len() {
            1 => Some((Store, None)),
            2 if uid(1) => Some((Store, segments.get(1).copied())),
            _ => None,
        };
    }
    if !is_read(method) {
        return None;
    }
    let action = match segments[1..] {
        [] => Search,
        [_] => Retrieve,
        [_, "metadata"] => View,
        [_, last] if view(last) => View,
        [_, "series" | "instances"] => Search,
        [_, "series", _] => Retrieve,
        [_, "series", _, "metadata"] => View,
        [_, "series", _, last] if view(last) => View,
        [_, "series", _, "instances"] => Search,
        [_, "series", _, "instances", _] => Retrieve,
        [_, "series", _, "instances", _, "metadata"] => View,
        [_, "series", _, "instances", _, last] if view(last) => View,
        [_, "series", _, "instances", _, "frames", frames] if frame_list(frames) => View,
        [_, "series", _, "instances", _, "frames", frames, last] if frame_list(frames) && view(last) => View,
        [_, "series", _, "instances", _, "bulkdata", ref path @ ..] if !path.is_empty() && path.iter().all(|p| bulk_segment(p)) => Retrieve,
        _ => return None,
    };
    let uids_ok = match segments.len() {
        1 => true,
        2..=3 => uid(1),
        4..=5 => uid(1) && (segments[2] != "series" || uid(3)),
        _ => uid(1) && uid(3) && uid(5),
    };
    uids_ok.then(|| (action, segments.get(1).copied()))
}

/// The series a study path names (`studies/S/series/SE/…`).
fn series_of<'a>(segments: &[&'a str]) -> Option<&'a str> {
    (segments.get(2) == Some(&"series")).then(|| segments.get(3).copied()).flatten()
}

/// What a view or retrieval path fetches, for the access record.
fn what_of(segments: &[&str]) -> &'static str {
    if segments.contains(&"bulkdata") {
        return "bulkdata";
    }
    match segments {
        [.., "metadata"] => "metadata",
        [.., "rendered"] => "rendered",
        [.., "thumbnail"] => "thumbnail",
        [.., "frames", _] => "frames",
        [_, _, "series", _, "instances", _] => "instances",
        [_, _, "series", _] => "series",
        _ => "study",
    }
}

/// How many items a view names: the frames of a frame list, else one.
fn items_of(segments: &[&str]) -> u64 {
    match segments {
        [.., "frames", list] | [.., "frames", list, _] => list.split(',').count() as u64,
        _ => 1,
    }
}

fn is_read(method: &Method) -> bool {
    *method == Method::GET || *method == Method::HEAD
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

    fn of(method: Method, path: &str) -> Option<(Action, Option<&str>)> {
        let segments: Vec<&str> = path.split('/').collect();
        dicomweb_action(&method, &segments)
    }

    #[test]
    fn every_dicomweb_path_has_one_reading() {
        use Action::*;
        let get = |p| of(Method::GET, p);
        assert_eq!(get("studies"), Some((Search, None)));
        assert_eq!(get("series"), Some((Search, None)));
        assert_eq!(get("instances"), Some((Search, None)));
        assert_eq!(get("studies/1.2.3"), Some((Retrieve, Some("1.2.3"))));
        assert_eq!(get("studies/1.2.3/metadata"), Some((View, Some("1.2.3"))));
        assert_eq!(get("studies/1.2.3/thumbnail"), Some((View, Some("1.2.3"))));
        assert_eq!(get("studies/1.2.3/series"), Some((Search, Some("1.2.3"))));
        assert_eq!(get("studies/1.2.3/series/1.2.4"), Some((Retrieve, Some("1.2.3"))));
        assert_eq!(get("studies/1.2.3/series/1.2.4/instances"), Some((Search, Some("1.2.3"))));
        assert_eq!(get("studies/1.2.3/series/1.2.4/instances/1.2.5/rendered"), Some((View, Some("1.2.3"))));
        assert_eq!(get("studies/1.2.3/series/1.2.4/instances/1.2.5/frames/1,2"), Some((View, Some("1.2.3"))));
        assert_eq!(get("studies/1.2.3/series/1.2.4/instances/1.2.5/bulkdata/7FE00010"), Some((Retrieve, Some("1.2.3"))));
        assert_eq!(of(Method::POST, "studies"), Some((Store, None)));
        assert_eq!(of(Method::POST, "studies/1.2.3"), Some((Store, Some("1.2.3"))));
        assert_eq!(of(Method::DELETE, "studies/1.2.3"), None);
        assert_eq!(of(Method::POST, "studies/1.2.3/series"), None);
    }

    #[test]
    fn decoded_specials_in_any_segment_are_refused() {
        for bad in [
            "studies/1.2.3/series/1.2.4?/metadata",
            "studies/1.2.3?/metadata",
            "studies/../metadata",
            "studies/1.2%2E3/metadata",
            "studies/1.2.3/series/1.2.4/instances/../../metadata",
            "studies/1.2.3/series/1.2.4/instances/1.2.5/frames/1?/rendered",
            "studies/1.2.3/series/1.2.4/instances/1.2.5/bulkdata/..",
            "studies/1.2.3/series/a.b/metadata",
            "studies/1.2.3/unknown",
            "studies/",
        ] {
            assert_eq!(of(Method::GET, bad), None, "{bad}");
        }
    }

    #[test]
    fn a_view_is_recorded_as_what_it_fetched() {
        fn reading(path: &str) -> (&'static str, Option<String>, u64) {
            let segments: Vec<&str> = path.split('/').collect();
            (what_of(&segments), series_of(&segments).map(str::to_string), items_of(&segments))
        }
        let i = "studies/1.2.3/series/1.2.4/instances/1.2.5";
        assert_eq!(reading("studies/1.2.3"), ("study", None, 1));
        assert_eq!(reading("studies/1.2.3/metadata"), ("metadata", None, 1));
        assert_eq!(reading("studies/1.2.3/thumbnail"), ("thumbnail", None, 1));
        assert_eq!(reading("studies/1.2.3/series/1.2.4"), ("series", Some("1.2.4".to_string()), 1));
        assert_eq!(reading("studies/1.2.3/series/1.2.4/rendered"), ("rendered", Some("1.2.4".to_string()), 1));
        assert_eq!(reading(i), ("instances", Some("1.2.4".to_string()), 1));
        assert_eq!(reading(&format!("{i}/frames/1,2,3")), ("frames", Some("1.2.4".to_string()), 3));
        assert_eq!(reading(&format!("{i}/frames/4,5/rendered")), ("rendered", Some("1.2.4".to_string()), 2));
        assert_eq!(reading(&format!("{i}/bulkdata/7FE00010")), ("bulkdata", Some("1.2.4".to_string()), 1));
    }
}
