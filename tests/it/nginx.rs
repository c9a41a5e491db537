//! The admin guide's nginx example (`docs/nginx/yunying.conf`, used
//! verbatim but for its placeholders) in front of a Yunying node: Debian's
//! nginx terminating TLS with a test certificate, the viewer and DICOMweb
//! (STOW-RS in, QIDO-RS and WADO-RS out) through it, with the links
//! Yunying writes pointing at the proxy's https address.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::tls::Pki;
use crate::viewer::viewer_dist;

const TOKEN: &str = "nginx-test-token-61c2";

struct Nginx {
    child: Child,
    port: u16,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx with the guide's server block, listening on a port of its own
/// (a few tries: the port is picked before nginx binds it).
fn start_nginx(dir: &Path, cert: &Path, key: &Path, upstream: u16) -> Nginx {
    let nginx = "/usr/sbin/nginx";
    assert!(Path::new(nginx).exists(), "{nginx} missing: run scripts/test.sh, which installs nginx");
    let example = std::fs::read_to_string(format!("{ROOT}/docs/nginx/yunying.conf")).unwrap();
    for placeholder in ["__LISTEN__", "__CERT__", "__KEY__", "__UPSTREAM__"] {
        assert!(example.contains(placeholder), "the guide's example lost {placeholder}");
    }
    let mut last = String::new();
    for _ in 0..5 {
        let port = free_port();
        let site = example
            .replace("__LISTEN__", &format!("127.0.0.1:{port}"))
            .replace("__CERT__", &cert.display().to_string())
            .replace("__KEY__", &key.display().to_string())
            .replace("__UPSTREAM__", &format!("127.0.0.1:{upstream}"));
        std::fs::write(dir.join("yunying.conf"), site).unwrap();
        let d = dir.display();
        // As root, nginx's workers would switch to `nobody`, who cannot read the test's files.
        let user = if std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0 { "user root root;" } else { "" };
        let main = format!(
            "daemon off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n{user}\nevents {{ worker_connections 64; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  \
             uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  include {d}/yunying.conf;\n}}\n"
        );
        std::fs::write(dir.join("nginx.conf"), main).unwrap();
        let mut child = Command::new(nginx)
            .arg("-p")
            .arg(dir)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = child.try_wait().unwrap() {
                last = format!("nginx exited ({status}): {}", std::fs::read_to_string(dir.join("error.log")).unwrap_or_default());
                break;
            }
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Nginx { child, port };
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("nginx did not start: {last}");
}

/// `curl` over HTTPS, trusting only the test CA: (status line and headers, body).
fn curl(ca: &Path, args: &[&str], url: &str) -> (String, Vec<u8>) {
    let out = run(Command::new("curl").args(["-sS", "-D", "/dev/stderr", "--cacert"]).arg(ca).args(args).arg(url));
    (String::from_utf8_lossy(&out.stderr).to_ascii_lowercase(), out.stdout)
}

fn status(head: &str) -> u16 {
    head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no status: {head}"))
}

#[test]
fn the_guides_nginx_example_serves_the_viewer_and_dicomweb_over_tls() {
    let dist = viewer_dist();
    let tmp = tempfile::tempdir().unwrap();
    let pki = Pki::new(&tmp.path().join("pki"));
    let (key, cert) = pki.issue("localhost", 7001);
    let nginx_dir = tmp.path().join("nginx");
    std::fs::create_dir_all(&nginx_dir).unwrap();

    // QIDO-RS Retrieve URLs follow the Host and X-Forwarded-Proto nginx passes.
    let config = format!("[http]\nbearer_token = {TOKEN:?}\ntrusted_proxies = [\"127.0.0.1\"]\n[access]\nanonymous = \"nobody\"\n");
    let server = Server::start(&tmp.path().join("data"), Some(&config));
    let nginx = start_nginx(&nginx_dir, &cert, &key, server.http_port);
    the_guides_nginx_example_on(nginx, &server, &pki.ca(), &dist);
}

fn the_guides_nginx_example_on(nginx: Nginx, server: &Server, ca: &Path, dist: &str) {
    let base = format!("https://localhost:{}", nginx.port);
    let auth = format!("Authorization: Bearer {TOKEN}");

    // The viewer, as the binary carries it, through the proxy; HSTS from nginx.
    let (head, body) = curl(ca, &[], &format!("{base}/viewer/"));
    assert_eq!(status(&head), 200, "{head}");
    assert!(head.contains("strict-transport-security: max-age=31536000"), "{head}");
    assert_eq!(body, std::fs::read(format!("{dist}/index.html")).unwrap());
    let script = std::fs::read_dir(format!("{dist}/assets"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "js"))
        .max_by_key(|p| p.metadata().unwrap().len())
        .unwrap();
    let url = format!("{base}/viewer/assets/{}", script.file_name().unwrap().to_str().unwrap());
    let (head, body) = curl(ca, &["-H", "Accept-Encoding: br"], &url);
    assert_eq!(status(&head), 200, "{head}");
    assert!(head.contains("content-encoding: br"), "{head}");
    assert_eq!(body, std::fs::read(format!("{}.br", script.display())).unwrap());

    // STOW-RS through the proxy (streamed, not spooled).
    let instance = std::fs::read(format!("{ROOT}/testdata/dicom/ct_implicit_le.dcm")).unwrap();
    let boundary = "nginx-test-boundary-3f9";
    let mut stow = format!("--{boundary}\r\nContent-Type: application/dicom\r\n\r\n").into_bytes();
    stow.extend_from_slice(&instance);
    stow.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let body_file = nginx.child.id().to_string();
    let body_path = std::env::temp_dir().join(format!("yy-nginx-stow-{body_file}"));
    std::fs::write(&body_path, &stow).unwrap();
    let content_type = format!("Content-Type: multipart/related; type=\"application/dicom\"; boundary={boundary}");
    let (head, body) = curl(
        ca,
        &[
            "-X",
            "POST",
            "-H",
            &auth,
            "-H",
            &content_type,
            "-H",
            "Accept: application/dicom+json",
            "--data-binary",
            &format!("@{}", body_path.display()),
        ],
        &format!("{base}/dicom-web/studies"),
    );
    let _ = std::fs::remove_file(&body_path);
    assert_eq!(status(&head), 200, "{head}{}", String::from_utf8_lossy(&body));

    // QIDO-RS: the study, with a Retrieve URL on the proxy's https address.
    let (head, body) = curl(ca, &["-H", &auth, "-H", "Accept: application/dicom+json"], &format!("{base}/dicom-web/studies"));
    assert_eq!(status(&head), 200, "{head}");
    let studies: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let study = &studies[0];
    let uid = study["0020000D"]["Value"][0].as_str().unwrap();
    let retrieve = study["00081190"]["Value"][0].as_str().unwrap();
    assert_eq!(retrieve, format!("{base}/dicom-web/studies/{uid}"));

    // WADO-RS: the instance back, byte for byte as stored.
    let (head, body) = curl(ca, &["-H", &auth, "-H", "Accept: application/dicom+json"], &format!("{retrieve}/metadata"));
    assert_eq!(status(&head), 200, "{head}");
    let metadata: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(metadata.as_array().map(Vec::len), Some(1));

    // Without the token: refused by Yunying, not by nginx; /metrics stays inside.
    let (head, _) = curl(ca, &[], &format!("{base}/dicom-web/studies"));
    assert_eq!(status(&head), 401, "{head}");
    let (head, _) = curl(ca, &[], &format!("{base}/metrics"));
    assert_eq!(status(&head), 403, "{head}");
    assert_eq!(status(&curl(ca, &[], &format!("http://127.0.0.1:{}/metrics", server.http_port)).0), 200);
}
