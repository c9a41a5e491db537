//! The viewer's files as the server sends them: the build carried inside
//! the binary (no `http.viewer_dir`: what a package installs), with an ETag
//! per file and its precompressed twins, and a directory named by
//! `http.viewer_dir` served instead (tower-http's `ServeDir`).

use std::io::{Read, Write};
use std::path::Path;

use crate::film::{Reply, request};
use crate::harness::*;
use crate::viewer::viewer_dist;

fn header(reply: &Reply, name: &str) -> Option<String> {
    reply.headers.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes).read_to_end(&mut out).expect("a gzip body");
    out
}

/// The largest script of the build (the viewer itself), as a URL path and a file.
fn largest_script(dist: &Path) -> (String, std::path::PathBuf) {
    let biggest = std::fs::read_dir(dist.join("assets"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "js"))
        .max_by_key(|p| p.metadata().unwrap().len())
        .expect("a script in the viewer build");
    (format!("/viewer/assets/{}", biggest.file_name().unwrap().to_str().unwrap()), biggest)
}

#[test]
fn the_binary_carries_its_viewer_with_validators_and_precompressed_twins() {
    let dist = viewer_dist();
    let dist = Path::new(&dist);
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), None);
    let port = server.http_port;

    let index = request(port, "GET", "/viewer/", &[], None);
    assert_eq!(index.status, 200, "{}", index.headers);
    assert_eq!(index.body, std::fs::read(dist.join("index.html")).unwrap(), "the embedded index.html is the build's");
    assert_eq!(header(&index, "cache-control").as_deref(), Some("no-cache"));
    let etag = header(&index, "etag").expect("an ETag");
    let again = request(port, "GET", "/viewer/", &[("If-None-Match", &etag)], None);
    assert_eq!(again.status, 304, "{}", again.headers);
    assert!(again.body.is_empty());
    assert_eq!(header(&again, "etag").as_deref(), Some(etag.as_str()));
    assert_eq!(request(port, "GET", "/viewer/", &[("If-None-Match", "\"stale\"")], None).status, 200);

    let (url, file) = largest_script(dist);
    let original = std::fs::read(&file).unwrap();
    let twin = |ext: &str| {
        std::fs::read(format!("{}.{ext}", file.display())).expect("precompressed twins: rebuild the viewer (scripts/build-viewer.sh)")
    };
    let plain = request(port, "GET", &url, &[], None);
    assert_eq!(plain.status, 200);
    assert_eq!(header(&plain, "content-encoding"), None);
    assert_eq!(plain.body, original);
    assert_eq!(header(&plain, "cache-control").as_deref(), Some("public, max-age=31536000, immutable"));
    assert!(header(&plain, "content-type").unwrap().starts_with("text/javascript"));
    let gz = request(port, "GET", &url, &[("Accept-Encoding", "gzip")], None);
    assert_eq!(header(&gz, "content-encoding").as_deref(), Some("gzip"));
    assert_eq!(gz.body, twin("gz"), "the build's own gzip twin, not one made per request");
    assert_eq!(gunzip(&gz.body), original);
    let br = request(port, "GET", &url, &[("Accept-Encoding", "gzip, deflate, br")], None);
    assert_eq!(header(&br, "content-encoding").as_deref(), Some("br"));
    assert_eq!(br.body, twin("br"));
    assert!(br.body.len() < original.len() / 2, "{} of {}", br.body.len(), original.len());
    assert_eq!(header(&br, "vary").as_deref(), Some("accept-encoding"));
    let refused = request(port, "GET", &url, &[("Accept-Encoding", "br;q=0, gzip;q=0")], None);
    assert_eq!(refused.body, original);

    // The film page comes from the same build.
    let film = request(port, "GET", "/f", &[], None);
    assert_eq!(film.status, 200);
    assert_eq!(film.body, std::fs::read(dist.join("film.html")).unwrap());

    for missing in ["/viewer/assets/nothing.js", "/viewer/%2e%2e/Cargo.toml", "/viewer/..%2fCargo.toml"] {
        assert_eq!(request(port, "GET", missing, &[], None).status, 404, "{missing}");
    }
}

#[test]
fn a_viewer_directory_replaces_the_embedded_build() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("custom");
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><title>a customised viewer</title>").unwrap();
    let script = "console.log('customised');\n".repeat(200);
    std::fs::write(dir.join("assets/app-1.js"), &script).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(script.as_bytes()).unwrap();
    std::fs::write(dir.join("assets/app-1.js.gz"), gz.finish().unwrap()).unwrap();
    std::fs::write(tmp.path().join("secret.txt"), "outside the viewer").unwrap();
    let config = format!("[http]\nviewer_dir = {:?}\n", dir.display().to_string());
    let server = Server::start(&tmp.path().join("data"), Some(&config));
    let port = server.http_port;

    let index = request(port, "GET", "/viewer/", &[], None);
    assert_eq!(index.status, 200);
    assert_eq!(String::from_utf8_lossy(&index.body), "<!doctype html><title>a customised viewer</title>");
    assert_eq!(header(&index, "cache-control").as_deref(), Some("no-cache"));
    let modified = header(&index, "last-modified").expect("Last-Modified");
    assert_eq!(request(port, "GET", "/viewer/", &[("If-Modified-Since", &modified)], None).status, 304);

    let js = request(port, "GET", "/viewer/assets/app-1.js", &[("Accept-Encoding", "gzip")], None);
    assert_eq!(js.status, 200);
    assert_eq!(header(&js, "content-encoding").as_deref(), Some("gzip"));
    assert_eq!(gunzip(&js.body), script.as_bytes());
    assert_eq!(header(&js, "cache-control").as_deref(), Some("public, max-age=31536000, immutable"));
    for outside in ["/viewer/%2e%2e/secret.txt", "/viewer/..%2fsecret.txt", "/viewer/assets", "/viewer/nothing.html"] {
        assert_eq!(request(port, "GET", outside, &[], None).status, 404, "{outside}");
    }
}
