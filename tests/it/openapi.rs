//! `docs/openapi.yaml` against the real server (issue 26): schemathesis
//! (`tests/openapi/run_schemathesis.py`) fuzzes every non-DICOMweb route
//! and finds no server error (5xx) and no answer whose status, content
//! type or body the description does not allow.
//!
//! The server holds what the routes are about: studies of one institution,
//! a film of one of them (and a verified film session), an API key, an AE,
//! accounts, the patient index, mutual recognition and remote reading
//! switched on (HOSP_A's studies are read by CENTRE: one request signed,
//! its report stored back in the study, one waiting). The runner goes once
//! per kind of credential, each reaching its own routes: the film's
//! session, a CENTRE radiologist (the reading routes only), the hospital
//! system's key (which also asks for readings), the audit, security and
//! system administrators. None may sign another out (`--keep-session`,
//! `--keep-user`).
//!
//! Needs schemathesis (`tests/openapi/requirements.txt`, installed by
//! `scripts/test.sh`).

use std::path::Path;
use std::time::Instant;

use serde_json::{Value, json};

use crate::film::{Reply, request};
use crate::harness::*;
use crate::people::{PASSWORD, add_user, enrolled, login, session_of};

/// The film's second factor: the last four digits of this phone number.
const PHONE: &str = "13800138000";

fn config(viewer: &Path) -> String {
    format!(
        r#"
[http]
viewer_dir = {viewer:?}
[access]
anonymous = "nobody"
[empi]
enabled = true
link_every_secs = 1
[recognition]
region = "120000"
[[recognition.items]]
code = "CT-CHEST"
name = "胸部CT平扫"
modality = "CT"
keywords = ["chest"]
window_days = 180
price_fen = 30000
[reading]
[[reading.relationships]]
requesting = "HOSP_A"
reading = "CENTRE"
automatic = false
"#
    )
}

/// A built viewer's two pages, so `/viewer/…` and `/f` answer 200.
fn viewer_files(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for page in ["index.html", "film.html"] {
        std::fs::write(dir.join(page), "<!doctype html><title>Yunying</title>\n").unwrap();
    }
}

/// A new API key's secret, from `yunying key add`'s output.
fn add_key(data: &Path, name: &str, institution: &str, scopes: &str) -> String {
    let out = run(cli(data).args(["key", "add", name, "--institution", institution, "--scopes", scopes]));
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    text.split_whitespace().find(|w| w.starts_with("yk_")).unwrap_or_else(|| panic!("no key in: {text}")).to_string()
}

fn bearer(port: u16, method: &str, path: &str, key: &str, body: Option<&Value>) -> (u16, Value) {
    let r = request(port, method, path, &[("Authorization", &format!("Bearer {key}"))], body);
    let value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, value)
}

/// `GET /api/auth/me` of a session: its session and account ids.
fn me(port: u16, cookie: &str) -> (String, String) {
    let r = request(port, "GET", "/api/auth/me", &[("Cookie", cookie)], None);
    let v = r.json();
    (v["session_id"].as_str().unwrap().to_string(), v["user_id"].as_str().unwrap().to_string())
}

/// A 2xx answer's JSON, or a panic naming `what`.
fn ok(reply: &Reply, what: &str) -> Value {
    assert!((200..300).contains(&reply.status), "{what}: {} {}", reply.status, String::from_utf8_lossy(&reply.body));
    reply.json()
}

/// Run the runner (on the routes matching `only`, a regular expression,
/// when given); its exit status and everything it printed.
fn schemathesis(
    port: u16,
    credential: &[(&str, &str)],
    only: Option<&str>,
    keep: &[(String, String)],
    values: &[String],
) -> (bool, String) {
    let mut cmd = python();
    cmd.arg(format!("{ROOT}/tests/openapi/run_schemathesis.py")).arg("--url").arg(format!("http://127.0.0.1:{port}"));
    for (flag, value) in credential {
        cmd.arg(flag).arg(value);
    }
    if let Some(regex) = only {
        cmd.arg("--include-path-regex").arg(regex);
    }
    for (session, user) in keep {
        cmd.arg("--keep-session").arg(session).arg("--keep-user").arg(user);
    }
    for v in values {
        cmd.arg("--value").arg(v);
    }
    let out = cmd.output().expect("run tests/openapi/run_schemathesis.py");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_outside_the_openapi_description() {
    let check = python().args(["-c", "import schemathesis"]).output().expect("run python3");
    assert!(
        check.status.success(),
        "python3 cannot import schemathesis: run scripts/test.sh, which installs tests/openapi/requirements.txt\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let viewer = tmp.path().join("viewer");
    viewer_files(&viewer);
    run(cli(&data).args(["import", "--quiet", "--institution", "HOSP_A"]).arg(format!("{ROOT}/testdata/dicom")));
    add_user(&data, "sysadm", None, "system-admin");
    add_user(&data, "auditor", None, "audit-admin");
    add_user(&data, "secadm", None, "security-admin");
    add_user(&data, "reader", Some("CENTRE"), "radiologist");
    let key = add_key(&data, "his", "HOSP_A", "films:create,empi,recognition,dicomweb:read,reading");
    register_ae(&data, "PACS_B", 11113, Some("find"));
    let server = Server::start(&data, Some(&config(&viewer)));
    let port = server.http_port;

    // A study, its patient, a film of it and the film's verified session.
    let (status, studies) = bearer(port, "GET", "/dicom-web/studies?ModalitiesInStudy=CT&limit=1", &key, None);
    assert_eq!(status, 200, "{studies}");
    let study = studies[0]["0020000D"]["Value"][0].as_str().unwrap().to_string();
    let patient = studies[0]["00100020"]["Value"][0].as_str().unwrap().to_string();
    let made = json!({"study": study, "verify": "phone_suffix", "verify_value": PHONE, "download": true});
    let (status, film) = bearer(port, "POST", "/api/films", &key, Some(&made));
    assert_eq!(status, 201, "{film}");
    let film_id = film["film"]["film_id"].as_str().unwrap().to_string();
    let token = crate::film::token_of(film["url"].as_str().unwrap());
    let verified = request(port, "POST", "/api/film/verify", &[], Some(&json!({"token": token, "answer": &PHONE[7..]})));
    assert_eq!(verified.status, 200, "{}", String::from_utf8_lossy(&verified.body));
    let (film_cookie, _) = verified.cookie();

    // Two reading requests from the hospital's key: the CT's, which the
    // CENTRE radiologist claims, reports and signs (the report then goes
    // into the study as SR, KOS and PDF), and an MR's, left waiting.
    let reader = session_of(&login(port, "reader", PASSWORD, None));
    let (status, mr) = bearer(port, "GET", "/dicom-web/studies?ModalitiesInStudy=MR&limit=1", &key, None);
    assert_eq!(status, 200, "{mr}");
    let mr_study = mr[0]["0020000D"]["Value"][0].as_str().unwrap().to_string();
    let mut requests = Vec::new();
    for uid in [&study, &mr_study] {
        let (status, made) = bearer(port, "POST", "/api/reading/requests", &key, Some(&json!({"study_instance_uid": uid})));
        assert_eq!(status, 201, "{made}");
        requests.push(made["request_id"].as_str().unwrap().to_string());
    }
    let signed = &requests[0];
    let as_reader = |method: &str, tail: &str, body: Option<&Value>| {
        request(port, method, &format!("/api/reading/requests/{signed}{tail}"), &[("Cookie", reader.as_str())], body)
    };
    ok(&as_reader("POST", "/claim", Some(&json!({}))), "claim");
    let instances =
        ok(&request(port, "GET", &format!("/dicom-web/studies/{study}/instances"), &[("Cookie", reader.as_str())], None), "instances");
    let image =
        json!({"series_instance_uid": instances[0]["0020000E"]["Value"][0], "sop_instance_uid": instances[0]["00080018"]["Value"][0]});
    let content = json!({
        "template_id": "ct-chest",
        "findings": "双肺纹理清晰，未见实变及结节影。",
        "impression": "胸部CT平扫未见明显异常。",
        "measurements": [{"label": "主动脉径", "value": 28.5, "unit": "mm", "image": image}],
        "key_images": [image],
    });
    ok(&as_reader("PUT", "/report", Some(&json!({"content": content}))), "report");
    ok(&as_reader("POST", "/sign", Some(&json!({"version": 1}))), "sign");
    let deadline = Instant::now() + std::time::Duration::from_secs(60);
    while ok(&as_reader("GET", "", None), "detail")["request"]["status"] != "returned" {
        assert!(Instant::now() < deadline, "the signed report was not stored in the study within a minute");
        std::thread::sleep(std::time::Duration::from_millis(250));
    }

    let admin = enrolled(port, "sysadm").0;
    let auditor = enrolled(port, "auditor").0;
    let security = enrolled(port, "secadm").0;
    let keep = vec![me(port, &admin), me(port, &auditor), me(port, &security), me(port, &reader)];
    let values: Vec<String> = [
        ("path.study", &study),
        ("body.study", &study),
        ("body.study_instance_uid", &study),
        ("body.studies[*]", &study),
        ("query.study", &study),
        ("path.film", &film_id),
        ("path.rest", &"studies".to_string()),
        ("path.rest", &format!("studies/{study}/series")),
        ("path.which", &"uploaded".to_string()),
        ("body.token", &token),
        ("body.issuer", &"HOSP_A".to_string()),
        ("query.issuer", &"HOSP_A".to_string()),
        ("query.patient_issuer", &"HOSP_A".to_string()),
        ("body.patient_id", &patient),
        ("body.item_code", &"CT-CHEST".to_string()),
        ("body.order_date", &"2026-12-01".to_string()),
        ("query.patient_id", &patient),
    ]
    .iter()
    .map(|(k, v)| format!("{k}={v}"))
    .collect();

    // The reading passes also name the two requests (`path.id`).
    let reading_values: Vec<String> = values.iter().cloned().chain(requests.iter().map(|id| format!("path.id={id}"))).collect();

    // The film's session first (the key's run may revoke the film), the
    // radiologist before the key (whose run may cancel the waiting
    // request), the key before the administrators (whose runs may revoke it).
    // (who, credential arguments, only the paths matching, values to name)
    type Pass<'a> = (&'a str, Vec<(&'a str, &'a str)>, Option<&'a str>, &'a [String]);
    let passes: [Pass; 6] = [
        ("film's session", vec![("--cookie", film_cookie.as_str())], None, &values),
        ("reading centre's radiologist", vec![("--cookie", reader.as_str())], Some("^/api/reading/"), &reading_values),
        ("hospital key", vec![("--token", key.as_str())], None, &reading_values),
        ("audit administrator", vec![("--cookie", auditor.as_str())], None, &values),
        ("security administrator", vec![("--cookie", security.as_str())], None, &values),
        ("system administrator", vec![("--cookie", admin.as_str())], None, &values),
    ];
    for (who, credential, only, values) in passes {
        let started = Instant::now();
        let (ok, output) = schemathesis(port, &credential, only, &keep, values);
        assert!(ok, "schemathesis as the {who} found problems:\n{output}");
        let summary: Vec<&str> = output.lines().filter(|l| l.contains("generated,") || l.contains("schemathesis exited")).collect();
        eprintln!("schemathesis as the {who}: {} ({:.0?})", summary.join("; "), started.elapsed());
    }
    // The run never signed the administrators or the radiologist out.
    for cookie in [&admin, &auditor, &security, &reader] {
        let r = request(port, "GET", "/api/auth/me", &[("Cookie", cookie)], None);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
}

/// What schemathesis found on the reading statistics: `stats_as`
/// (crates/yunying-reading/src/stats.rs) computed `to_ms - 30 days` and
/// `to_ms - from_ms` in i64, which overflowed for a `to_ms` near i64::MIN
/// or a period wider than i64: the handler panicked (overflow checks) and
/// the connection closed without an answer; a release build wrapped
/// instead and skipped the 400-day limit. Such a period is an invalid
/// request (400).
#[test]
fn reading_statistics_of_an_impossible_period_are_refused_not_a_dropped_connection() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let viewer = tmp.path().join("viewer");
    viewer_files(&viewer);
    add_user(&data, "reader", Some("CENTRE"), "radiologist");
    let server = Server::start(&data, Some(&config(&viewer)));
    let reader = session_of(&login(server.http_port, "reader", PASSWORD, None));
    for query in [
        "from_ms=-9223372036854775808",
        "to_ms=-9223372036854775808",
        "from_ms=-9223372036854775808&to_ms=-9223372036854775807",
        "from_ms=-9000000000000000000&to_ms=9000000000000000000",
    ] {
        let path = format!("/api/reading/statistics?{query}");
        let r = request(server.http_port, "GET", &path, &[("Cookie", reader.as_str())], None);
        assert_eq!(r.status, 400, "{path}: {}", String::from_utf8_lossy(&r.body));
    }
}

/// What schemathesis found on PostgreSQL: a NUL character in a query value
/// or JSON string reached the index, which refused it, and the request was
/// answered 503 as if the index were down. It is an invalid request (400)
/// there; SQLite stores any text, so it simply finds nothing.
#[test]
fn a_nul_character_in_a_request_is_an_invalid_request_not_an_outage() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let viewer = tmp.path().join("viewer");
    viewer_files(&viewer);
    add_user(&data, "sysadm", None, "system-admin");
    add_user(&data, "auditor", None, "audit-admin");
    let server = Server::start(&data, Some(&config(&viewer)));
    let port = server.http_port;
    let admin = enrolled(port, "sysadm").0;
    let auditor = enrolled(port, "auditor").0;
    let merge = json!({"prior": {"issuer": "A\u{0}", "patient_id": "1"}, "survivor": {"issuer": "A", "patient_id": "2\u{0}"}});
    let cases = [
        (&admin, "GET", "/api/empi/person?issuer=%00A&patient_id=1", None),
        (&admin, "POST", "/api/empi/merge", Some(&merge)),
        (&auditor, "GET", "/api/audit/events?study=1.2%003", None),
    ];
    for (cookie, method, path, body) in cases {
        let r = request(port, method, path, &[("Cookie", cookie.as_str())], body);
        let text = String::from_utf8_lossy(&r.body);
        assert!(r.status < 500, "{method} {path}: {} {text}", r.status);
        if distributed_backend() {
            assert_eq!(r.status, 400, "{method} {path}: {text}");
            assert_eq!(r.json()["error"], yunying_index::INVALID_TEXT, "{method} {path}");
        }
    }
}

/// What schemathesis found on PIXm: a request without `sourceIdentifier`
/// was refused by the query parser in plain text (then, once refusals were
/// JSON, as a JSON error); a FHIR client is owed an `OperationOutcome`.
#[test]
fn pixm_without_a_source_identifier_is_answered_with_an_operation_outcome() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let viewer = tmp.path().join("viewer");
    viewer_files(&viewer);
    add_user(&data, "sysadm", None, "system-admin");
    let server = Server::start(&data, Some(&config(&viewer)));
    let admin = enrolled(server.http_port, "sysadm").0;
    for query in ["?targetSystem=", "", "?sourceIdentifier=HOSP_A"] {
        let path = format!("/fhir/Patient/$ihe-pix{query}");
        let r = request(server.http_port, "GET", &path, &[("Cookie", admin.as_str())], None);
        assert_eq!(r.status, 400, "{path}: {}", String::from_utf8_lossy(&r.body));
        assert!(r.headers.to_ascii_lowercase().contains("content-type: application/fhir+json"), "{path}: {}", r.headers);
        let outcome = r.json();
        assert_eq!(outcome["resourceType"], "OperationOutcome", "{path}: {outcome}");
        assert_eq!(outcome["issue"][0]["severity"], "error", "{path}: {outcome}");
    }
}
