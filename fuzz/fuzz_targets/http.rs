//! The HTTP faces through the whole router, on an SQLite archive holding
//! the test data: QIDO-RS query strings (every level, scoped and not),
//! STOW-RS bodies (multipart/related under its declared boundary, and any
//! content type), rendered and frame retrieval parameters and Accept
//! headers, and the JSON bodies of the API's POST and PUT routes. Requests
//! come from loopback without credentials (the anonymous loopback
//! principal), so they pass sign-in and reach the parsers. The contract
//! checked besides no panic: hostile input is the client's mistake, never
//! a 500.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, header};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt;
use yunying_access::{Access, AccessConfig, Anonymous};
use yunying_archive::{Archive, ArchiveConfig};
use yunying_http::{HttpConfig, router};
use yunying_index::Index;
use yunying_store::FsStore;

const BOUNDARY: &str = "yunying-fuzz-boundary";

struct Fixture {
    runtime: tokio::runtime::Runtime,
    app: axum::Router,
    /// (study, series, instance) of each stored test instance.
    instances: Vec<(String, String, String)>,
    _dir: tempfile::TempDir,
}

fn request(method: &str, uri: &str, content_type: Option<&[u8]>, accept: Option<&[u8]>, body: Vec<u8>) -> Option<Request<Body>> {
    let mut r = Request::builder().method(method).uri(uri).header(header::HOST, "127.0.0.1");
    if let Some(ct) = content_type {
        r = r.header(header::CONTENT_TYPE, HeaderValue::from_bytes(ct).ok()?);
    }
    if let Some(accept) = accept {
        r = r.header(header::ACCEPT, HeaderValue::from_bytes(accept).ok()?);
    }
    let mut r = r.body(Body::from(body)).ok()?;
    r.extensions_mut().insert(ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 40000))));
    Some(r)
}

fn multipart(parts: &[&[u8]]) -> Vec<u8> {
    let mut body = Vec::new();
    for part in parts {
        body.extend_from_slice(format!("--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n").as_bytes());
        body.extend_from_slice(part);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{BOUNDARY}--\r\n").as_bytes());
    body
}

fn stow_type() -> String {
    format!("multipart/related; type=\"application/dicom\"; boundary={BOUNDARY}")
}

fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata/dicom");
        let (app, instances) = runtime.block_on(async {
            let index = Index::open_sqlite(&dir.path().join("index.db")).await.unwrap();
            let store = Arc::new(FsStore::open(dir.path().join("store")).unwrap());
            let archive = Archive::new(store, index.clone(), ArchiveConfig::default(), dir.path().join("spool"));
            let access = Access::new(index, AccessConfig { anonymous: Anonymous::Loopback, ..Default::default() });
            let app = router(archive, access, HttpConfig::default());
            let mut instances = Vec::new();
            let mut names: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().path()).collect();
            names.sort();
            for path in names {
                let bytes = std::fs::read(&path).unwrap();
                let r = request("POST", "/dicom-web/studies", Some(stow_type().as_bytes()), None, multipart(&[&bytes])).unwrap();
                let _ = app.clone().oneshot(r).await.unwrap();
            }
            for record in yunying_archive::fuzzing::testdata_records() {
                instances.push((record.study_instance_uid, record.series_instance_uid, record.sop_instance_uid));
            }
            (app, instances)
        });
        Fixture { runtime, app, instances, _dir: dir }
    })
}

/// Bytes as a URI's query or path segment: what may appear there as is,
/// the rest percent-encoded (a `%` is kept, so broken escapes get through).
fn uri_part(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// POST and PUT routes that take a JSON body.
const JSON_ROUTES: [(&str, &str); 16] = [
    ("POST", "/api/films"),
    ("POST", "/api/film/open"),
    ("POST", "/api/film/code"),
    ("POST", "/api/film/verify"),
    ("POST", "/api/access/grants"),
    ("POST", "/api/admin/keys"),
    ("POST", "/api/admin/aes"),
    ("POST", "/api/empi/identities"),
    ("POST", "/api/empi/merge"),
    ("POST", "/fhir/Patient/$match"),
    ("POST", "/api/auth/login"),
    ("POST", "/api/admin/retention/policies"),
    ("POST", "/api/admin/retention/holds"),
    ("POST", "/api/admin/deletions"),
    ("POST", "/api/recognition/candidates"),
    ("PUT", "/api/recognition/catalogue"),
];

fuzz_target!(|bytes: &[u8]| {
    if bytes.len() < 2 {
        return;
    }
    let f = fixture();
    let (study, series, instance) = f.instances[bytes[1] as usize % f.instances.len()].clone();
    let rest = &bytes[2..];
    // The first line of `rest` is a header value where one is needed.
    let (line, tail) = match rest.iter().position(|&b| b == b'\n') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (&rest[..0], rest),
    };
    let req = match bytes[0] % 8 {
        0 => {
            let level = ["studies", "series", "instances"][bytes[1] as usize % 3];
            request("GET", &format!("/dicom-web/{level}?{}", uri_part(rest)), None, None, Vec::new())
        }
        1 => {
            let path = [
                format!("studies/{study}/series"),
                format!("studies/{study}/instances"),
                format!("studies/{study}/series/{series}/instances"),
            ][bytes[1] as usize % 3]
                .clone();
            request("GET", &format!("/dicom-web/{path}?{}", uri_part(rest)), None, None, Vec::new())
        }
        2 => request("POST", "/dicom-web/studies", Some(stow_type().as_bytes()), None, rest.to_vec()),
        3 => request("POST", &format!("/dicom-web/studies/{study}"), Some(line), None, tail.to_vec()),
        4 => {
            let q = uri_part(tail);
            request(
                "GET",
                &format!("/dicom-web/studies/{study}/series/{series}/instances/{instance}/rendered?{q}"),
                None,
                Some(line),
                Vec::new(),
            )
        }
        5 => {
            let frames = uri_part(tail);
            request(
                "GET",
                &format!("/dicom-web/studies/{study}/series/{series}/instances/{instance}/frames/{frames}"),
                None,
                Some(line),
                Vec::new(),
            )
        }
        6 => {
            let (method, path) = JSON_ROUTES[bytes[1] as usize % JSON_ROUTES.len()];
            request(method, path, Some(b"application/json"), None, rest.to_vec())
        }
        _ => {
            let what = ["metadata", "", "bulkdata", "thumbnail"][bytes[1] as usize % 4];
            request("GET", &format!("/dicom-web/studies/{study}/series/{series}/{what}"), None, Some(rest), Vec::new())
        }
    };
    let Some(req) = req else { return };
    let what = format!("{} {}", req.method(), req.uri());
    f.runtime.block_on(async {
        let response = f.app.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 64 << 20).await;
        assert!(status != 500, "{what}: 500 {:?}", body.as_ref().map(|b| String::from_utf8_lossy(b).into_owned()));
    });
});
