//! `docs/openapi.yaml` describes every route of this crate outside
//! DICOMweb, and nothing else: the routes are read from the source
//! (`.route("PATH", get(…).post(…))` in every module; axum cannot list a
//! router's routes), the described ones from the YAML's `paths`, and the
//! two sets must be equal. A route added without its description, or a
//! description left behind by a removed route, fails here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The DICOMweb modules: their routes are nested under `/dicom-web` and
/// described by PS3.18, not by the OpenAPI file.
const DICOMWEB_MODULES: [&str; 5] = ["qido.rs", "wado.rs", "frames.rs", "rendered.rs", "stow.rs"];

const METHODS: [&str; 7] = ["get", "post", "put", "delete", "patch", "head", "options"];

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `(METHOD, /path)` of every `.route(…)` call in `source`; `any(…)` is
/// read as GET (the film's DICOMweb reads answer nothing else).
fn routes_in(source: &str) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find(".route(") {
        // rustfmt puts a long route's path on the next line.
        let after = rest[at + ".route(".len()..].trim_start();
        let Some(after) = after.strip_prefix('"') else {
            rest = after;
            continue;
        };
        let end = after.find('"').expect("a closing quote");
        let path = after[..end].replace("{*", "{");
        // The handler expression: up to the `)` closing `.route(`.
        let mut depth = 1;
        let mut handler_end = after.len();
        for (i, c) in after[end + 1..].char_indices() {
            match c {
                '(' => depth += 1,
                ')' => {
                    depth -= 1;
                    if depth == 0 {
                        handler_end = end + 1 + i;
                        break;
                    }
                }
                _ => {}
            }
        }
        let handler = &after[end + 1..handler_end];
        let mut methods = Vec::new();
        for (i, _) in handler.match_indices('(') {
            let word: String = handler[..i].chars().rev().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            let word: String = word.chars().rev().collect();
            let before = handler[..i - word.len()].chars().next_back();
            // `get(`, `.post(`, `routing::put(`; not `max(` of a layer.
            let is_method = before.is_none_or(|c| matches!(c, '.' | ':' | ' ' | '\n' | ','));
            if is_method && (METHODS.contains(&word.as_str()) || word == "any") {
                methods.push(if word == "any" { "get".to_string() } else { word });
            }
        }
        assert!(!methods.is_empty(), "no method found for route {path}: {handler}");
        for m in methods {
            found.push((m.to_uppercase(), path.clone()));
        }
        rest = &after[handler_end..];
    }
    found
}

/// The non-DICOMweb routes of the crate's source.
fn source_routes() -> BTreeSet<(String, String)> {
    let src = crate_dir().join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    assert!(lib.contains(".nest(\"/dicom-web\", dicomweb)"), "DICOMweb is no longer nested under /dicom-web: update this test");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut routes = BTreeSet::new();
    for file in files {
        let name = file.file_name().unwrap().to_str().unwrap();
        let source = std::fs::read_to_string(&file).unwrap();
        // Unit tests (at the end of a file) route toy routers of their own.
        let served = source.split("#[cfg(test)]").next().unwrap_or("");
        for (method, path) in routes_in(served) {
            if DICOMWEB_MODULES.contains(&name) {
                let dicomweb = ["/studies", "/series", "/instances"].iter().any(|p| path.starts_with(p));
                assert!(dicomweb, "{name} routes {path}, which is not DICOMweb: describe it in docs/openapi.yaml");
                continue;
            }
            routes.insert((method, path));
        }
    }
    routes
}

/// `(METHOD, /path)` of every operation under `paths:` in the YAML.
fn described_routes(yaml: &str) -> BTreeSet<(String, String)> {
    let mut routes = BTreeSet::new();
    let mut in_paths = false;
    let mut path: Option<String> = None;
    for line in yaml.lines() {
        if !line.starts_with(' ') && !line.is_empty() && !line.starts_with('#') {
            in_paths = line.trim_end() == "paths:";
            continue;
        }
        if !in_paths {
            continue;
        }
        if let Some(p) = line.strip_prefix("  /").and_then(|l| l.strip_suffix(':')) {
            path = Some(format!("/{p}"));
        } else if let Some(m) = line.strip_prefix("    ").and_then(|l| l.strip_suffix(':'))
            && METHODS.contains(&m)
        {
            routes.insert((m.to_uppercase(), path.clone().expect("a method under a path")));
        }
    }
    routes
}

#[test]
fn every_route_outside_dicomweb_is_described_and_nothing_else() {
    let yaml = std::fs::read_to_string(crate_dir().join("../../docs/openapi.yaml")).unwrap();
    let source = source_routes();
    let described = described_routes(&yaml);
    assert!(source.len() > 80, "the route reader found only {} routes: {source:?}", source.len());
    let missing: Vec<_> = source.difference(&described).collect();
    let stale: Vec<_> = described.difference(&source).collect();
    assert!(missing.is_empty(), "routes not described in docs/openapi.yaml: {missing:?}");
    assert!(stale.is_empty(), "docs/openapi.yaml describes routes the server does not have: {stale:?}");
}

#[test]
fn the_route_reader_reads_chained_methods_layers_wildcards_and_wrapped_paths() {
    let source = r#"
        Router::new()
            .route("/a", get(list).post(create))
            .route("/b/{id}", axum::routing::put(replace).layer(DefaultBodyLimit::max(MAX)))
            .route("/c/{*rest}", any(reads))
            .route("/d", get(|| async { Redirect::temporary("/viewer/") }))
            .route(
                "/e/{study}",
                get(load).post(save).route_layer(from_fn(same_origin)),
            )
            .route_layer(middleware::from_fn(check))
    "#;
    let found = routes_in(source);
    let expected = [
        ("GET", "/a"),
        ("POST", "/a"),
        ("PUT", "/b/{id}"),
        ("GET", "/c/{rest}"),
        ("GET", "/d"),
        ("GET", "/e/{study}"),
        ("POST", "/e/{study}"),
    ];
    assert_eq!(found, expected.map(|(m, p)| (m.to_string(), p.to_string())).to_vec());
}
