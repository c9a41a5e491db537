//! DICOMweb against the real server, driven by the Python `dicomweb-client`
//! package and raw HTTP (tests/py/dicomweb_suite.py): every group starts
//! its own server on a data directory holding testdata/dicom plus two
//! multi-frame instances.

use std::path::Path;
use std::process::Command;

use crate::harness::*;

fn suite(group: &str) {
    suite_with(group, None);
}

/// Like [`suite`], with a configuration file body for the server.
fn suite_with(group: &str, config: Option<&str>) {
    suite_with_cli_config(group, config, None);
}

/// Like [`suite_with`], importing with the configuration file `cli_config`
/// (an encrypted store is written as the server will read it).
pub(crate) fn suite_with_cli_config(group: &str, config: Option<&str>, cli_config: Option<&Path>) {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let testdata = Path::new(ROOT).join("testdata/dicom");
    let script = Path::new(ROOT).join("tests/py/dicomweb_suite.py");
    run(python().arg(&script).args(["--url", "unused", "--testdata"]).arg(&testdata).arg("--workdir").arg(&work).arg("make-files"));
    let data = tmp.path().join("data");
    let mut import = cli(&data);
    if let Some(path) = cli_config {
        import.env("YUNYING_CONFIG", path);
    }
    run(import.args(["import", "--quiet"]).arg(&testdata).arg(work.join("mf_native.dcm")).arg(work.join("mf_rle.dcm")));
    let server = Server::start(&data, config);
    let url = format!("http://127.0.0.1:{}/dicom-web", server.http_port);
    let out = python()
        .arg(&script)
        .args(["--url", &url, "--testdata"])
        .arg(&testdata)
        .arg("--workdir")
        .arg(&work)
        .arg(group)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "DICOMweb checks [{group}] failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn qido_searches_every_level_with_filters_includefield_fuzzy_and_paging() {
    suite("qido");
}

#[test]
fn wado_retrieves_identical_bytes_transcodes_and_serves_metadata_and_bulkdata() {
    suite("wado");
}

#[test]
fn frames_are_stored_codestreams_or_pixels_equal_to_pydicom() {
    suite("frames");
}

#[test]
fn rendered_and_thumbnails_honour_window_viewport_and_format() {
    suite("rendered");
}

#[test]
fn stow_stores_like_c_store_and_reports_failures() {
    suite("stow");
}

#[test]
fn ohif_request_shapes_get_what_cornerstone_needs() {
    // OHIF served from its own origin, configured as such.
    suite_with("ohif", Some("[http]\ncors_allowed_origins = [\"http://viewer.example\"]\n"));
}

#[test]
fn bad_requests_get_clear_statuses() {
    suite("errors");
}

#[test]
fn anonymous_access_off_loopback_is_refused_and_tokens_are_enforced() {
    let tmp = tempfile::tempdir().unwrap();
    let config = tmp.path().join("c.toml");
    std::fs::write(&config, "[http]\nbind = \"0.0.0.0\"\n[access]\nanonymous = \"loopback\"\n").unwrap();
    let out = Command::new(BIN).args(["serve", "--config"]).arg(&config).arg("--data-dir").arg(tmp.path().join("d")).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("access.anonymous"), "{}", String::from_utf8_lossy(&out.stderr));

    let data = tmp.path().join("data");
    let server = Server::start(&data, Some("[http]\nbearer_token = \"s3cret-token\"\n[access]\nanonymous = \"nobody\"\n"));
    let (status, body) = http_get(server.http_port, "/dicom-web/studies").unwrap();
    assert_eq!(status, 401, "{body}");
    let (status, _) = http_get(server.http_port, "/healthz").unwrap();
    assert_eq!(status, 200);
    let out = python()
        .args([
            "-c",
            "import requests,sys; r=requests.get(sys.argv[1], headers={'Authorization': 'Bearer s3cret-token'}); print(r.status_code)",
        ])
        .arg(format!("http://127.0.0.1:{}/dicom-web/studies", server.http_port))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "200");
}
