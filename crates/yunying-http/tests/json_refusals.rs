//! Regression tests for what schemathesis found (issue 26): a request whose
//! JSON body, path segment or query value does not parse was answered with
//! axum's plain-text refusal, outside the OpenAPI description (every error
//! is `{"error": …, "status": …}` as `application/json`). Each case is one
//! schemathesis sent, against the whole router.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;
use yunying_access::{Access, AccessConfig, Anonymous};
use yunying_archive::{Archive, ArchiveConfig};
use yunying_http::{HttpConfig, router};
use yunying_index::Index;
use yunying_store::FsStore;

/// The router on an empty archive; requests from loopback without
/// credentials act as the anonymous loopback principal, so they reach the
/// extractors after the sign-in check.
async fn app(dir: &std::path::Path) -> axum::Router {
    let index = Index::open_sqlite(&dir.join("index.db")).await.unwrap();
    let store = Arc::new(FsStore::open(dir.join("store")).unwrap());
    let archive = Archive::new(store, index.clone(), ArchiveConfig::default(), dir.join("spool"));
    let access = Access::new(index, AccessConfig { anonymous: Anonymous::Loopback, ..Default::default() });
    router(archive, access, HttpConfig::default())
}

fn request(method: &str, uri: &str, json: Option<&str>) -> Request<Body> {
    let mut r = Request::builder().method(method).uri(uri).header(header::HOST, "127.0.0.1");
    if json.is_some() {
        r = r.header(header::CONTENT_TYPE, "application/json");
    }
    let mut r = r.body(Body::from(json.unwrap_or("").to_string())).unwrap();
    r.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    r
}

#[tokio::test(flavor = "multi_thread")]
async fn unparsable_bodies_paths_and_queries_are_answered_as_json_errors() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path()).await;
    let cases = [
        // An integer field sent as a float (JSON Schema's integer admits 0.0).
        (request("POST", "/api/admin/aes", Some(r#"{"ae_title":"A","host":"h","port":0.0,"institution":"","rights":"find"}"#)), 422),
        (request("POST", "/api/films", Some(r#"{"study":"1.2.3","expires_hours":253023.0}"#)), 422),
        (request("POST", "/api/access/grants", Some(r#"{"kind":"consent","studies":[],"reason":"","minutes":1.5}"#)), 422),
        // A required field missing, a body that is not JSON.
        (request("POST", "/api/film/open", Some("{}")), 422),
        (request("POST", "/api/film/verify", Some("{not json")), 400),
        // No JSON content type on a route outside the same-origin guard.
        (request("POST", "/api/film/open", None), 415),
        // A query value out of its type's range, of the wrong type, missing.
        (request("GET", "/audit/consistency?old=1&new=117710182228233060352", None), 400),
        (request("GET", "/api/audit/access-events?after=x", None), 400),
        (request("GET", "/api/empi/person", None), 400),
        // A path segment that is not the number the route takes.
        (request("POST", "/api/empi/reviews/abc", Some("{}")), 400),
    ];
    for (req, expected) in cases {
        let what = format!("{} {}", req.method(), req.uri());
        let response = app.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let content_type = response.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string());
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        let text = String::from_utf8_lossy(&bytes);
        assert_eq!(status, StatusCode::from_u16(expected).unwrap(), "{what}: {text}");
        assert_eq!(content_type.as_deref(), Some("application/json"), "{what}: {text}");
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {text}"));
        assert_eq!(body["status"], expected, "{what}: {body}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{what}: {body}");
    }
}
