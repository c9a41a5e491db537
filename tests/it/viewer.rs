//! The radiologist web viewer (`viewer/`) in headless Chromium, driven by
//! playwright-core (`viewer/tests/*.test.mjs`, Node's test runner): against
//! this server with two 300-slice CT studies of one patient from two
//! institutions, and against Orthanc's DICOMweb holding the same kind of
//! data; and in headless Firefox (puppeteer-core over WebDriver BiDi).
//!
//! Needs the built viewer (`npm ci && npm run build` in viewer/, which
//! `scripts/test.sh` runs), Debian's chromium and firefox-esr.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use crate::film::request;
use crate::harness::*;

const SLICES: usize = 300;
const PATIENT: &str = "Chen^JianGuo=陈^建国";

pub(crate) fn viewer_dist() -> String {
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

/// `YUNYING_BROWSER` for viewer/tests/lib/browser.mjs: headless Chromium (playwright-core).
pub(crate) const CHROMIUM: &str = "chromium";
/// Headless Firefox (Debian's firefox-esr, puppeteer-core over WebDriver BiDi).
pub(crate) const FIREFOX: &str = "firefox";

/// A browser test file run in `browser` (CHROMIUM or FIREFOX).
pub(crate) fn node_test_in(browser: &str, file: &str, envs: &[(&str, String)]) {
    if browser == FIREFOX {
        assert!(Path::new("/usr/bin/firefox-esr").exists(), "firefox-esr missing: run scripts/test.sh, which installs it");
    }
    let mut envs = envs.to_vec();
    envs.push(("YUNYING_BROWSER", browser.to_string()));
    node_test(file, &envs);
}

pub(crate) fn node_test(file: &str, envs: &[(&str, String)]) {
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
    // The viewer this binary carries (built from `dist`), as a package serves it.
    let _ = dist;
    let server = Server::start(&data, None);
    // Previews and lossless copies exist before the viewer asks for them.
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let counts = wait_for_jobs(&server.index().await, std::time::Duration::from_secs(300)).await;
        assert_eq!(counts.parked, 0, "{counts:?}");
    });
    node_test("reader.test.mjs", &[("YUNYING_URL", format!("http://127.0.0.1:{}", server.http_port))]);
}

#[test]
fn viewer_takes_the_bearer_token_on_its_sign_in_page_and_sends_it_as_a_header() {
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

/// Reading comfort (viewer/tests/comfort.test.mjs): the probe reads the
/// stored value in HU, the tag browser shows and filters the image's
/// attributes, a view exports as PNG and JPEG with the annotations burned in
/// or not, cine speed and full screen from the keyboard, the magnifier.
#[test]
fn viewer_probe_tags_export_cine_speed_and_full_screen() {
    comfort_in(CHROMIUM);
}

/// The same reading comfort tests in headless Firefox.
#[test]
fn viewer_comfort_in_firefox() {
    comfort_in(FIREFOX);
}

fn comfort_in(browser: &str) {
    viewer_dist();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    gen_ct_with(&src, 20, 256, 29, &["--patient-name", PATIENT, "--charset", "ISO_IR 192", "-q"]);
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&src));
    let server = Server::start(&data, None);
    node_test_in(browser, "comfort.test.mjs", &[("YUNYING_URL", format!("http://127.0.0.1:{}", server.http_port))]);
}

/// A series larger than the image cache (viewer/tests/large.test.mjs): a
/// 600-slice CT opened with the cache bounded to 4 MB keeps a window of
/// images around the slice shown, never past the bound, that follows the
/// user to the far end and back.
#[test]
fn viewer_keeps_a_window_of_a_series_larger_than_its_cache() {
    viewer_dist();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    gen_ct_with(&src, 600, 128, 31, &["-q"]);
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&src));
    let server = Server::start(&data, None);
    node_test("large.test.mjs", &[("YUNYING_URL", format!("http://127.0.0.1:{}", server.http_port))]);
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
    let _ = dist;
    let server = Server::start(&data, None);
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

/// A server without anonymous access holding three studies of one patient:
/// hospital A's (`study_a`), and two of hospital B's, one of them given to
/// hospital A by a referral (`study_granted`, the grant inserted through
/// the index), the other out of A's reach (`study_b`). `key_a`: an API key
/// of hospital A that reads.
struct AccessWorld {
    _tmp: tempfile::TempDir,
    server: Server,
    study_a: String,
    study_b: String,
    study_granted: String,
    key_a: String,
}

const GRANT_REASON: &str = "MDT review of the chest CT";

impl AccessWorld {
    fn start(before_serving: impl FnOnce(&Path)) -> AccessWorld {
        Self::start_with("", before_serving)
    }

    /// As `start`, with `extra` appended to the server's configuration.
    fn start_with(extra: &str, before_serving: impl FnOnce(&Path)) -> AccessWorld {
        let dist = viewer_dist();
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        gen_ct_with(&src, 12, 256, 29, &["--studies-per-patient", "3", "--patient-name", PATIENT, "--charset", "ISO_IR 192", "-q"]);
        let data = tmp.path().join("data");
        run(cli(&data).args(["import", "--quiet", "--institution", "HOSP_A"]).arg(src.join("2")));
        for b in ["0", "1"] {
            run(cli(&data).args(["import", "--quiet", "--institution", "HOSP_B"]).arg(src.join(b)));
        }
        let key = |name: &str, institution: &str| {
            let out = run(cli(&data).args(["key", "add", name, "--institution", institution, "--scopes", "dicomweb:read"]));
            String::from_utf8(out.stdout).unwrap().trim().to_string()
        };
        let key_a = key("viewer test A", "HOSP_A");
        let key_b = key("viewer test B", "HOSP_B");
        before_serving(&data);
        let config = format!("[http]\nviewer_dir = {dist:?}\n[access]\nanonymous = \"nobody\"\n{extra}");
        let server = Server::start(&data, Some(&config));
        let studies = |key: &str| -> Vec<String> {
            let reply = request(server.http_port, "GET", "/dicom-web/studies", &[("Authorization", &format!("Bearer {key}"))], None);
            assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
            let found: Vec<serde_json::Value> = serde_json::from_slice(&reply.body).unwrap();
            let mut uids: Vec<String> = found.iter().map(|s| s["0020000D"]["Value"][0].as_str().unwrap().to_string()).collect();
            uids.sort();
            uids
        };
        let a = studies(&key_a);
        let b = studies(&key_b);
        assert_eq!((a.len(), b.len()), (1, 2), "{a:?} {b:?}");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let grant = yunying_index::Grant {
                grant_id: "viewer-referral".into(),
                kind: "referral".into(),
                grantor: "person:referrer".into(),
                grantee_kind: "institution".into(),
                grantee: "HOSP_A".into(),
                reason: GRANT_REASON.into(),
                created_ms: now,
                not_before_ms: now - 1000,
                not_after_ms: now + 24 * 3_600_000,
                revoked_ms: None,
                revoked_by: None,
                studies: vec![b[1].clone()],
            };
            server.index().await.insert_grant(&grant).await.unwrap();
        });
        AccessWorld { _tmp: tmp, server, study_a: a[0].clone(), study_b: b[0].clone(), study_granted: b[1].clone(), key_a }
    }

    fn envs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("YUNYING_URL", format!("http://127.0.0.1:{}", self.server.http_port)),
            ("STUDY_A", self.study_a.clone()),
            ("STUDY_B", self.study_b.clone()),
            ("STUDY_GRANTED", self.study_granted.clone()),
            ("GRANT_REASON", GRANT_REASON.into()),
        ]
    }
}

/// viewer/tests/access.test.mjs: an institution's API key typed on the
/// sign-in page; the worklist of what it reaches, the grant banner, the
/// refusal of a study out of reach (no break-glass for a key). And
/// viewer/tests/admin.test.mjs: each administrator's sections of the
/// administration page, against answers shaped as the server's.
#[test]
fn viewer_shows_grants_and_refusals_to_an_institution_key_and_each_administrator_their_sections() {
    let world = AccessWorld::start(|_| {});
    let mut envs = world.envs();
    envs.push(("KEY_A", world.key_a.clone()));
    node_test("access.test.mjs", &envs);
    node_test("admin.test.mjs", &envs);
}

/// `yunying user add` with the password on standard input.
fn add_user(data: &Path, username: &str, display_name: &str, institution: Option<&str>, roles: &str, password: &str) {
    let mut cmd = cli(data);
    cmd.args(["user", "add", username, "--roles", roles, "--display-name", display_name, "--password-stdin"]);
    if let Some(i) = institution {
        cmd.args(["--institution", i]);
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(format!("{password}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "user add {username}: {}", String::from_utf8_lossy(&out.stderr));
}

/// viewer/tests/login.test.mjs: people sign in. A radiologist of hospital
/// A (a wrong password first): their name, institution and worklist, no
/// administration; break-glass into hospital B's study with the red
/// banner; sign-out. A security administrator enrols TOTP (codes computed
/// by the test), creates an API key shown once, and signs in again with a
/// code.
#[test]
fn viewer_sign_in_break_glass_and_administration() {
    let rad_password = "Viewer-radiologist-pw-8c1e";
    let admin_password = "Viewer-security-pw-42d7f0";
    let world = AccessWorld::start(|data| {
        add_user(data, "li.rad", "李放射 Li Fang", Some("HOSP_A"), "radiologist", rad_password);
        add_user(data, "sec.admin", "安全管理员 Sec", None, "security-admin", admin_password);
    });
    let mut envs = world.envs();
    envs.extend([
        ("RAD_USER", "li.rad".to_string()),
        ("RAD_PASSWORD", rad_password.into()),
        ("RAD_NAME", "李放射 Li Fang".into()),
        ("ADMIN_USER", "sec.admin".into()),
        ("ADMIN_PASSWORD", admin_password.into()),
    ]);
    node_test("login.test.mjs", &envs);
}

/// viewer/tests/oidc.test.mjs: "Sign in with test-idp" on the sign-in page
/// (from `/api/auth/providers`), through a real OpenID Connect provider
/// (tests/oidc/idp.mjs, which signs `alice` in by itself), back to the
/// viewer signed in as Alice of INST-A.
#[test]
fn viewer_signs_in_with_an_identity_provider() {
    let dist = viewer_dist();
    let idp = crate::people_oidc::Idp::start();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = format!("[http]\nviewer_dir = {dist:?}\n[access]\nanonymous = \"nobody\"\n{}", crate::people_oidc::config(&idp));
    let server = Server::start(&data, Some(&config));
    node_test("oidc.test.mjs", &[("YUNYING_URL", format!("http://127.0.0.1:{}", server.http_port))]);
}

/// viewer/tests/audit.test.mjs: hospital A's key reads the study granted
/// to it; the audit administrator signs in (enrolling TOTP), signs a
/// checkpoint, finds that access by searching the ledger by study, gets
/// the same search as CSV by the page's link, downloads the row's proof,
/// and prints the patient's access report. The proof the browser saved is
/// then checked offline by `yunying audit check-proof`.
#[test]
fn viewer_audit_page_searches_the_ledger_and_its_proofs_check_offline() {
    let audit_password = "Viewer-audit-pw-5b93e1";
    // Views of a study are one event per sitting, recorded once quiet for a second.
    let world = AccessWorld::start_with("[audit]\nview_batch_secs = 1\n", |data| {
        add_user(data, "audit.admin", "审计管理员 Audit", None, "audit-admin", audit_password)
    });
    let proofs = tempfile::tempdir().unwrap();
    let mut envs = world.envs();
    envs.extend([
        ("KEY_A", world.key_a.clone()),
        ("AUDIT_USER", "audit.admin".to_string()),
        ("AUDIT_PASSWORD", audit_password.into()),
        ("PROOF_DIR", proofs.path().display().to_string()),
    ]);
    node_test("audit.test.mjs", &envs);
    let downloaded: Vec<String> =
        std::fs::read_dir(proofs.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    assert_eq!(downloaded.iter().filter(|n| n.ends_with(".tlog-proof")).count(), 1, "{downloaded:?}");
    let out = run(Command::new(BIN).args(["audit", "check-proof"]).arg(proofs.path()).arg("--log-key").arg(proofs.path().join("log.pub")));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("1 proofs verified, 0 bad"), "{said}");
}
