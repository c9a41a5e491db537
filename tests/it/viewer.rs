//! The radiologist web viewer (`viewer/`) in headless Chromium, driven by
//! playwright-core (`viewer/tests/*.test.mjs`, Node's test runner): against
//! this server with two 300-slice CT studies of one patient from two
//! institutions, and against Orthanc's DICOMweb holding the same kind of
//! data; and in headless Firefox (puppeteer-core over WebDriver BiDi).
//!
//! Needs the built viewer (`npm ci && npm run build` in viewer/, which
//! `scripts/test.sh` runs), Debian's chromium and firefox-esr.

use std::path::Path;
use std::process::Command;

use crate::harness::*;

const SLICES: usize = 300;
const PATIENT: &str = "Chen^JianGuo=陈^建国";

fn viewer_dist() -> String {
    let dist = format!("{ROOT}/viewer/dist");
    assert!(
        Path::new(&dist).join("index.html").is_file(),
        "{dist} missing: run `npm ci && npm run build` in viewer/ (scripts/test.sh does)"
    );
    dist
}

/// Two studies of one patient (the generator's studies 0 and 1: a month
/// apart, the table 10 mm apart), 300 slices each.
fn two_studies(dir: &Path) {
    gen_ct_with(dir, SLICES, 512, 7, &["--studies-per-patient", "2", "--patient-name", PATIENT, "--charset", "ISO_IR 192", "-q"]);
}

fn node_test(file: &str, envs: &[(&str, String)]) {
    let out = Command::new("node")
        .arg("--test")
        .arg("--test-reporter=spec")
        .arg(format!("{ROOT}/viewer/tests/{file}"))
        .current_dir(format!("{ROOT}/viewer"))
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run node (Node.js 20 is on the machine)");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "viewer tests {file} failed:\n{report}");
    eprintln!("{report}");
}

#[test]
fn viewer_worklist_reading_tools_and_priors_across_institutions() {
    let dist = viewer_dist();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    two_studies(&src);
    let data = tmp.path().join("data");
    // The prior (study 0) comes from another hospital: same PatientID, other issuer.
    run(cli(&data).args(["import", "--quiet", "--institution", "HOSP_A"]).arg(src.join("1")));
    run(cli(&data).args(["import", "--quiet", "--institution", "HOSP_B"]).arg(src.join("0")));
    run(cli(&data).args(["import", "--quiet"]).arg(format!("{ROOT}/testdata/dicom")));
    let config = format!("[http]\nviewer_dir = {dist:?}\n");
    let server = Server::start(&data, Some(&config));
    // Previews and lossless copies exist before the viewer asks for them.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let counts = wait_for_jobs(&server.index().await, std::time::Duration::from_secs(300)).await;
        assert_eq!(counts.parked, 0, "{counts:?}");
    });
    node_test("reader.test.mjs", &[("YUNYING_URL", format!("http://127.0.0.1:{}", server.http_port))]);
}

#[test]
fn viewer_asks_for_the_bearer_token_and_sends_it_as_a_header() {
    let dist = viewer_dist();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    gen_ct_with(&src, 20, 256, 13, &["-q"]);
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&src));
    let token = "viewer-test-token-5f0c9a";
    let config = format!("[http]\nviewer_dir = {dist:?}\nbearer_token = {token:?}\n[access]\nanonymous = \"nobody\"\n");
    let server = Server::start(&data, Some(&config));
    node_test("token.test.mjs", &[("YUNYING_URL", format!("http://127.0.0.1:{}", server.http_port)), ("YUNYING_TOKEN", token.into())]);
}

#[test]
fn viewer_works_in_firefox() {
    let dist = viewer_dist();
    assert!(Path::new("/usr/bin/firefox-esr").exists(), "firefox-esr missing: run scripts/test.sh, which installs it");
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    gen_ct_with(&src, 40, 512, 17, &["--patient-name", PATIENT, "--charset", "ISO_IR 192", "--patient-id", "FIREFOX-VIEW", "-q"]);
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&src));
    let config = format!("[http]\nviewer_dir = {dist:?}\n");
    let server = Server::start(&data, Some(&config));
    node_test(
        "firefox.test.mjs",
        &[
            ("YUNYING_URL", format!("http://127.0.0.1:{}", server.http_port)),
            ("VIEWER_PATIENT_ID", "FIREFOX-VIEW".into()),
            ("VIEWER_SLICES", "40".into()),
        ],
    );
}

#[test]
fn viewer_reads_orthanc_dicomweb() {
    // Yunying plays no part: the run on the embedded backend covers it.
    if distributed_backend() {
        return;
    }
    viewer_dist();
    assert!(Path::new("/usr/sbin/Orthanc").exists(), "Orthanc missing: run scripts/test.sh, which installs it");
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    gen_ct_with(&src, 60, 512, 11, &["--patient-name", PATIENT, "--charset", "ISO_IR 192", "--patient-id", "ORTHANC-VIEW", "-q"]);
    node_test(
        "orthanc.test.mjs",
        &[("VIEWER_DATA", src.display().to_string()), ("VIEWER_PATIENT_ID", "ORTHANC-VIEW".into()), ("VIEWER_SLICES", "60".into())],
    );
}

/// The cloud film page on a phone (viewer/tests/film.test.mjs): a film
/// made through the API, verification failed then passed, the first image
/// in the dataset's window, scrolling, the lung preset, the report, the
/// ZIP's DICOMDIR, lockout after five wrong answers, and revoked and
/// expired links.
#[test]
fn film_page_on_a_phone() {
    let dist = viewer_dist();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    // Seed 21: the patient's birth date is 1961-01-15.
    gen_ct_with(&src, 30, 256, 21, &["--patient-id", "FILM-PAGE", "--patient-name", PATIENT, "--charset", "ISO_IR 192", "-q"]);
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&src));
    let token = "film-page-api-token-31c2";
    let config = format!("[http]\nviewer_dir = {dist:?}\napi_token = {token:?}\n");
    let server = Server::start(&data, Some(&config));
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let counts = wait_for_jobs(&server.index().await, std::time::Duration::from_secs(300)).await;
        assert_eq!(counts.parked, 0, "{counts:?}");
    });
    let (status, body) = http_get(server.http_port, "/dicom-web/studies?PatientID=FILM-PAGE").unwrap();
    assert_eq!(status, 200, "{body}");
    let studies: serde_json::Value = serde_json::from_str(&body).unwrap();
    let study = studies[0]["0020000D"]["Value"][0].as_str().unwrap().to_string();
    node_test(
        "film.test.mjs",
        &[
            ("YUNYING_URL", format!("http://127.0.0.1:{}", server.http_port)),
            ("YUNYING_API_TOKEN", token.into()),
            ("FILM_STUDY", study),
            ("FILM_BIRTH_DATE", "1961-01-15".into()),
        ],
    );
}
