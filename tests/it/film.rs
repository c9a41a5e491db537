//! Cloud films over HTTP against the real server: the management API with
//! its API token, verification with lockout, sessions scoped to one film,
//! revocation and expiry, events, and secrets kept out of the log and the
//! database.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::harness::*;

pub(crate) const API_TOKEN: &str = "film-api-token-9d1e44";
/// The generator's birth date for seed 21, patient 0.
pub(crate) const BIRTH_DATE: &str = "1961-01-15";

pub(crate) struct Reply {
    pub status: u16,
    pub headers: String,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    /// The `yy_film=…` pair of the Set-Cookie header, and its attributes.
    pub fn cookie(&self) -> (String, String) {
        let line = self.headers.lines().find(|l| l.to_ascii_lowercase().starts_with("set-cookie:")).expect("a Set-Cookie header");
        let value = line.split_once(':').unwrap().1.trim();
        let (pair, attributes) = value.split_once(';').unwrap();
        (pair.to_string(), attributes.to_string())
    }
}

/// One HTTP/1.1 request on loopback (Connection: close).
pub(crate) fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)], body: Option<&Value>) -> Reply {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP response");
    let headers = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = headers.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if headers.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Reply { status, headers, body }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..line_end]).unwrap().split(';').next().unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[line_end + 2..line_end + 2 + size]);
        raw = &raw[line_end + 2 + size + 2..];
    }
}

pub(crate) fn api(port: u16, method: &str, path: &str, body: Option<&Value>) -> Reply {
    request(port, method, path, &[("Authorization", &format!("Bearer {API_TOKEN}"))], body)
}

fn study_uids(port: u16) -> Vec<String> {
    let (status, body) = http_get(port, "/dicom-web/studies?PatientID=FILM-1&includefield=StudyDate").unwrap();
    assert_eq!(status, 200, "{body}");
    let studies: Vec<Value> = serde_json::from_str(&body).unwrap();
    let mut uids: Vec<(String, String)> = studies
        .iter()
        .map(|s| (s["00080020"]["Value"][0].as_str().unwrap().to_string(), s["0020000D"]["Value"][0].as_str().unwrap().to_string()))
        .collect();
    uids.sort();
    uids.into_iter().rev().map(|(_, uid)| uid).collect()
}

pub(crate) fn token_of(url: &str) -> String {
    let (base, token) = url.split_once("/f#").unwrap_or_else(|| panic!("a film link is …/f#token, got {url}"));
    assert!(base.starts_with("http://127.0.0.1:"), "{url}");
    token.to_string()
}

pub(crate) fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn films_verify_lock_scope_revoke_and_keep_their_secrets() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    gen_ct_with(
        &src,
        6,
        64,
        21,
        &[
            "--studies-per-patient",
            "2",
            "--patient-id",
            "FILM-1",
            "--patient-name",
            "Chen^JianGuo=陈^建国",
            "--charset",
            "ISO_IR 192",
            "-q",
        ],
    );
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&src));
    let log = tmp.path().join("server.log");
    // Nodes on PostgreSQL must be given the key SMS phone numbers are
    // sealed with; one node on the embedded index makes its own.
    let key = if distributed_backend() { "[http.film]\ndata_key = \"00112233445566778899aabbccddeeff\"\n" } else { "" };
    let config = format!("[http]\napi_token = {API_TOKEN:?}\n{key}");
    let server = Server::start_with_log(&data, Some(&config), Some(&log));
    let port = server.http_port;
    let index_url = tokio::runtime::Runtime::new().unwrap().block_on(async { server.index().await.url().to_string() });
    if !distributed_backend() {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data.join("film.key")).expect("the node's own film key").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the key file is the owner's only");
    }
    let studies = study_uids(port);
    assert_eq!(studies.len(), 2);
    let (current, prior) = (&studies[0], &studies[1]);

    // The management API wants its token.
    let create = json!({"study": current, "include_priors": true, "created_by": "dr-wang"});
    assert_eq!(request(port, "POST", "/api/films", &[], Some(&create)).status, 401);
    assert_eq!(request(port, "POST", "/api/films", &[("Authorization", "Bearer wrong")], Some(&create)).status, 401);
    let made = api(port, "POST", "/api/films", Some(&create));
    assert_eq!(made.status, 201, "{}", String::from_utf8_lossy(&made.body));
    let made = made.json();
    let film_id = made["film"]["film_id"].as_str().unwrap().to_string();
    let token = token_of(made["url"].as_str().unwrap());
    assert!(token.len() >= 22, "at least 128 bits: {token}");
    assert_eq!(made["film"]["studies"], json!([current, prior]), "priors of the same patient are included");
    assert!(made["qr_svg"].as_str().unwrap().contains("<svg"));
    assert!(!made["film"].to_string().contains(&token));

    // A share to a third party: 72 h by default, never beyond 30 days.
    let share = api(port, "POST", "/api/films", Some(&json!({"study": current, "kind": "share", "recipient": "dr-li"}))).json();
    let hours = (share["film"]["expires_at_ms"].as_i64().unwrap() - share["film"]["created_at_ms"].as_i64().unwrap()) / 3_600_000;
    assert_eq!(hours, 72);
    let too_long = api(port, "POST", "/api/films", Some(&json!({"study": current, "kind": "share", "expires_hours": 24 * 31})));
    assert_eq!(too_long.status, 400);
    let share_token = token_of(share["url"].as_str().unwrap());
    let share_id = share["film"]["film_id"].as_str().unwrap().to_string();

    // Opening says how to verify; an unknown token is a plain 404.
    let opened = request(port, "POST", "/api/film/open", &[], Some(&json!({"token": token})));
    assert_eq!(opened.status, 200);
    assert_eq!(opened.json()["verify_method"], "birth_date");
    assert_eq!(request(port, "POST", "/api/film/open", &[], Some(&json!({"token": "A".repeat(24)}))).status, 404);

    // Without a session nothing of the film is served.
    assert_eq!(http_get(port, &format!("/api/film/{film_id}/info")).unwrap().0, 401);
    let thumb_path = |film: &str, study: &str| format!("/api/film/{film}/dicom-web/studies/{study}/thumbnail");
    assert_eq!(http_get(port, &thumb_path(&film_id, current)).unwrap().0, 401);

    // A wrong answer says how many attempts are left; the right one opens a session.
    let wrong = request(port, "POST", "/api/film/verify", &[], Some(&json!({"token": token, "answer": "1970-01-01"})));
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json()["attempts_left"], 4);
    let right = request(port, "POST", "/api/film/verify", &[], Some(&json!({"token": token, "answer": BIRTH_DATE})));
    assert_eq!(right.status, 200, "{}", String::from_utf8_lossy(&right.body));
    let (cookie, attributes) = right.cookie();
    assert!(
        attributes.contains(&format!("Path=/api/film/{film_id}"))
            && attributes.contains("HttpOnly")
            && attributes.contains("SameSite=Strict"),
        "{attributes}"
    );
    let session = cookie.split_once('=').unwrap().1.to_string();
    let with_cookie = [("Cookie", cookie.as_str())];

    let info = request(port, "GET", &format!("/api/film/{film_id}/info"), &with_cookie, None);
    assert_eq!(info.status, 200);
    let info = info.json();
    assert_eq!(info["patient"]["name"], "陈*国", "the name is masked");
    assert!(!info.to_string().contains("建国") && !info.to_string().contains("JianGuo"));
    assert_eq!(info["studies"].as_array().unwrap().len(), 2);
    let series = &info["studies"][0]["series"][0];
    let thumb = request(port, "GET", series["thumbnail"].as_str().unwrap(), &[("Cookie", &cookie), ("Accept", "image/jpeg")], None);
    assert_eq!(thumb.status, 200, "{}\n{}", thumb.headers, String::from_utf8_lossy(&thumb.body));
    assert_eq!(&thumb.body[..2], b"\xff\xd8", "a JPEG thumbnail");
    // Inside the film: only its studies, and only images and metadata.
    let series_uid = series["uid"].as_str().unwrap();
    let meta =
        request(port, "GET", &format!("/api/film/{film_id}/dicom-web/studies/{current}/series/{series_uid}/metadata"), &with_cookie, None);
    assert_eq!(meta.status, 200);
    let original =
        request(port, "GET", &format!("/api/film/{film_id}/dicom-web/studies/{current}/series/{series_uid}"), &with_cookie, None);
    assert_eq!(original.status, 200, "a film that allows download serves originals by WADO-RS too (the full viewer, imports)");

    // Another film's session opens nothing of this film, and this one nothing of that.
    let share_right = request(port, "POST", "/api/film/verify", &[], Some(&json!({"token": share_token, "answer": "19610115"})));
    assert_eq!(share_right.status, 200);
    let (share_cookie, _) = share_right.cookie();
    assert_eq!(request(port, "GET", &format!("/api/film/{film_id}/info"), &[("Cookie", &share_cookie)], None).status, 401);
    assert_eq!(
        request(port, "GET", &thumb_path(&share_id, prior), &[("Cookie", &share_cookie)], None).status,
        403,
        "the prior is not in the share"
    );
    assert_eq!(request(port, "GET", &thumb_path(&share_id, current), &[("Cookie", &cookie)], None).status, 401);

    // Five wrong answers lock the film, even against the right one.
    let locked_film = api(port, "POST", "/api/films", Some(&json!({"study": current}))).json();
    let locked_token = token_of(locked_film["url"].as_str().unwrap());
    let locked_id = locked_film["film"]["film_id"].as_str().unwrap().to_string();
    let statuses: Vec<u16> = (0..5)
        .map(|i| {
            request(port, "POST", "/api/film/verify", &[], Some(&json!({"token": locked_token, "answer": format!("1980010{i}")}))).status
        })
        .collect();
    assert_eq!(statuses, [401, 401, 401, 401, 423]);
    let refused = request(port, "POST", "/api/film/verify", &[], Some(&json!({"token": locked_token, "answer": BIRTH_DATE})));
    assert_eq!(refused.status, 423);
    assert!(String::from_utf8_lossy(&refused.body).contains("locked"));
    assert_eq!(api(port, "POST", &format!("/api/films/{locked_id}/unlock"), None).status, 204);
    assert_eq!(request(port, "POST", "/api/film/verify", &[], Some(&json!({"token": locked_token, "answer": BIRTH_DATE}))).status, 200);

    // View limits: a film for one view opens once.
    let once = api(port, "POST", "/api/films", Some(&json!({"study": current, "max_views": 1}))).json();
    let once_token = token_of(once["url"].as_str().unwrap());
    assert_eq!(request(port, "POST", "/api/film/verify", &[], Some(&json!({"token": once_token, "answer": BIRTH_DATE}))).status, 200);
    assert_eq!(request(port, "POST", "/api/film/verify", &[], Some(&json!({"token": once_token, "answer": BIRTH_DATE}))).status, 410);

    // SMS: the embedded sender writes the code to the log; one code a minute.
    let sms = api(port, "POST", "/api/films", Some(&json!({"study": current, "verify": "sms", "verify_value": "138 1234 5678"}))).json();
    assert_eq!(sms["film"]["verify_hint"], "138****5678");
    let sms_token = token_of(sms["url"].as_str().unwrap());
    let sms_id = sms["film"]["film_id"].as_str().unwrap().to_string();
    assert_eq!(
        request(port, "POST", "/api/film/verify", &[], Some(&json!({"token": sms_token, "answer": "000000"}))).status,
        401,
        "no code sent yet"
    );
    let sent = request(port, "POST", "/api/film/code", &[], Some(&json!({"token": sms_token})));
    assert_eq!(sent.status, 200);
    assert_eq!(sent.json()["sent_to"], "138****5678");
    assert_eq!(request(port, "POST", "/api/film/code", &[], Some(&json!({"token": sms_token}))).status, 429);
    let code = sms_code_in_log(&log, &sms_id);
    assert_eq!(request(port, "POST", "/api/film/verify", &[], Some(&json!({"token": sms_token, "answer": code}))).status, 200);

    // Revoked: a clear refusal everywhere, the live session included.
    let revoked = api(port, "POST", &format!("/api/films/{film_id}/revoke"), None);
    assert_eq!(revoked.status, 200);
    let gone = request(port, "POST", "/api/film/open", &[], Some(&json!({"token": token})));
    assert_eq!(gone.status, 410);
    assert!(String::from_utf8_lossy(&gone.body).contains("withdrawn"));
    assert_eq!(request(port, "GET", &format!("/api/film/{film_id}/info"), &with_cookie, None).status, 401);
    assert_eq!(request(port, "GET", &thumb_path(&film_id, current), &with_cookie, None).status, 401);

    // Every step is an event, per film and per study.
    let events = api(port, "GET", &format!("/api/films/{film_id}/events"), None).json();
    let seen: Vec<(String, String)> =
        events.as_array().unwrap().iter().map(|e| (e["event"].as_str().unwrap().into(), e["result"].as_str().unwrap().into())).collect();
    for expected in [
        ("created", "ok"),
        ("opened", "ok"),
        ("verify", "failed"),
        ("verify", "ok"),
        ("viewed", "ok"),
        ("revoked", "ok"),
        ("opened", "refused"),
    ] {
        assert!(seen.contains(&(expected.0.into(), expected.1.into())), "{expected:?} missing from {seen:?}");
    }
    assert_eq!(events[0]["actor"], "staff:dr-wang");
    assert!(events.as_array().unwrap().iter().all(|e| e["client"] == "127.0.0.1"));
    let of_prior = api(port, "GET", &format!("/api/studies/{prior}/film-events"), None).json();
    assert!(of_prior.as_array().unwrap().iter().any(|e| e["film_id"] == film_id.as_str()));
    assert!(of_prior.as_array().unwrap().iter().all(|e| e["film_id"] != share_id.as_str()), "the share does not show the prior");

    // No link token, session token or API token in the log or the index.
    drop(server);
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.len() > 100, "the server logged at debug level: {log_text}");
    let stored = index_bytes_after(&data, &index_url);
    for secret in [token.as_str(), share_token.as_str(), locked_token.as_str(), session.as_str(), API_TOKEN] {
        assert!(!log_text.contains(secret), "a secret is in the log");
        assert!(!contains(&stored, secret), "a secret is in the index in clear");
    }
    // The phone number SMS codes go to: encrypted in the index (SM4-GCM),
    // masked in the log.
    for phone in ["13812345678", "138 1234 5678"] {
        assert!(!contains(&stored, phone), "the phone number is in the index in clear");
        assert!(!log_text.contains(phone), "the phone number is in the log");
    }
    assert!(contains(&stored, "sm4gcm:"), "the phone number is stored sealed");
}

/// Every byte the index holds: its SQLite files, or a dump of the database.
fn index_bytes_after(data: &Path, index_url: &str) -> Vec<u8> {
    if distributed_backend() {
        let out = std::process::Command::new("pg_dump").arg(index_url).output().expect("pg_dump (postgresql-client)");
        assert!(out.status.success(), "pg_dump: {}", String::from_utf8_lossy(&out.stderr));
        return out.stdout;
    }
    let all: Vec<u8> = files_under(data)
        .iter()
        .filter(|f| f.file_name().unwrap().to_string_lossy().contains("index"))
        .flat_map(|f| std::fs::read(f).unwrap())
        .collect();
    assert!(!all.is_empty(), "no index files under {}", data.display());
    all
}

/// The SMS code the embedded sender logged for `film`.
fn sms_code_in_log(log: &Path, film: &str) -> String {
    let text = std::fs::read_to_string(log).unwrap();
    let line = text.lines().rev().find(|l| l.contains("SMS verification code") && l.contains(film)).expect("the code in the log");
    let after = line.split("code=").nth(1).expect("a code= field");
    let code: String = after.trim_start_matches('"').chars().take_while(char::is_ascii_digit).collect();
    assert_eq!(code.len(), 6, "{line}");
    code
}

/// After verification: the uploaded report, the streamed ZIP with its
/// DICOMDIR (dcmdump, pydicom), a film without download, the patient's
/// share to a doctor as a consent, and the doctor's import into a DCMTK
/// storescp and into Orthanc, byte for byte (tests/py/film_flows.py).
#[test]
fn film_report_zip_share_and_import_to_storescp_and_orthanc() {
    assert!(Path::new("/usr/sbin/Orthanc").exists(), "Orthanc missing: run scripts/test.sh, which installs it");
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    gen_ct_with(&src, 8, 64, 21, &["--patient-id", "FILM-1", "--patient-name", "Chen^JianGuo=陈^建国", "--charset", "ISO_IR 192", "-q"]);
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&src));
    let (storescp, orthanc_dicom, orthanc_http) = (free_port(), free_port(), free_port());
    run(cli(&data).args(["ae", "add", "STORESCP", "127.0.0.1", &storescp.to_string(), "--platform"]));
    run(cli(&data).args(["ae", "add", "ORTHANC", "127.0.0.1", &orthanc_dicom.to_string(), "--platform"]));
    let config = format!(
        "[http]\napi_token = {API_TOKEN:?}\n[[http.film.stow_destinations]]\nname = \"hospital-b-web\"\nurl = \"http://127.0.0.1:{orthanc_http}/dicom-web\"\ninstitution = \"HOSP_B\"\n"
    );
    let log = tmp.path().join("server.log");
    let server = Server::start_with_log(&data, Some(&config), Some(&log));
    let index_url = tokio::runtime::Runtime::new().unwrap().block_on(async { server.index().await.url().to_string() });
    let study = study_uids(server.http_port).remove(0);
    let out = python()
        .arg(format!("{ROOT}/tests/py/film_flows.py"))
        .args([
            "--url",
            &format!("http://127.0.0.1:{}", server.http_port),
            "--api-token",
            API_TOKEN,
            "--study",
            &study,
            "--birth-date",
            BIRTH_DATE,
        ])
        .arg("--sources")
        .arg(&src)
        .arg("--workdir")
        .arg(tmp.path().join("work"))
        .args([
            "--storescp-port",
            &storescp.to_string(),
            "--orthanc-dicom-port",
            &orthanc_dicom.to_string(),
            "--orthanc-http-port",
            &orthanc_http.to_string(),
        ])
        .output()
        .unwrap();
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "film flows failed:\n{report}");
    eprintln!("{report}");
    // Link tokens of the patient's films and of the share, and the share's
    // access code: in neither the debug log nor the index.
    let secrets: Vec<&str> = report.lines().filter_map(|l| l.strip_prefix("secret: ")).collect();
    assert_eq!(secrets.len(), 4, "{report}");
    let logged = std::fs::read(&log).unwrap();
    assert!(contains(&logged, "film import finished"), "the debug log is the server's");
    let index = index_bytes_after(&data, &index_url);
    for secret in secrets {
        assert!(!contains_token(&logged, secret), "{secret} is in the log");
        assert!(!contains_token(&index, secret), "{secret} is in the index");
    }
}

/// `needle` as a token of its own: not inside a longer run of digits, dots
/// and letters (a six-digit code is found in `code=123456`, not inside a UID
/// or a timestamp).
fn contains_token(haystack: &[u8], needle: &str) -> bool {
    let inside = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_';
    let n = needle.len();
    haystack
        .windows(n)
        .enumerate()
        .any(|(i, w)| w == needle.as_bytes() && (i == 0 || !inside(haystack[i - 1])) && haystack.get(i + n).is_none_or(|&b| !inside(b)))
}

/// Wrong answers from one address across films block that address (429),
/// also for a film it has not tried yet, and the refusal is on the film's
/// record; behind a trusted proxy the address is the forwarded one, so
/// other clients of the proxy go on.
#[test]
fn one_address_guessing_across_films_is_blocked() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    gen_ct_with(&src, 2, 32, 21, &["--patient-id", "FILM-1", "-q"]);
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&src));
    // Behind a trusted proxy (the test itself, on loopback): the address
    // in X-Forwarded-For is the client.
    let config = format!("[http]\napi_token = {API_TOKEN:?}\ntrusted_proxies = [\"127.0.0.1\"]\n[http.film]\nclient_max_failures = 3\n");
    let server = Server::start(&data, Some(&config));
    let port = server.http_port;
    let study = study_uids(port).remove(0);
    let films: Vec<Value> = (0..3).map(|_| api(port, "POST", "/api/films", Some(&json!({"study": study}))).json()).collect();
    let tokens: Vec<String> = films.iter().map(|f| token_of(f["url"].as_str().unwrap())).collect();
    let guesser = [("X-Forwarded-For", "203.0.113.7")];
    for token in &tokens[..2] {
        assert_eq!(request(port, "POST", "/api/film/verify", &guesser, Some(&json!({"token": token, "answer": "1900-01-01"}))).status, 401);
    }
    assert_eq!(request(port, "POST", "/api/film/verify", &guesser, Some(&json!({"token": tokens[0], "answer": "1900-01-02"}))).status, 401);
    // Three failures from this address: even the right answer to a fresh film waits.
    let blocked = request(port, "POST", "/api/film/verify", &guesser, Some(&json!({"token": tokens[2], "answer": BIRTH_DATE})));
    assert_eq!(blocked.status, 429, "{}", String::from_utf8_lossy(&blocked.body));
    assert!(String::from_utf8_lossy(&blocked.body).contains("请稍后再试"));
    let film_id = films[2]["film"]["film_id"].as_str().unwrap();
    let events = api(port, "GET", &format!("/api/films/{film_id}/events"), None).json();
    assert!(
        events.as_array().unwrap().iter().any(|e| e["event"] == "verify"
            && e["result"] == "refused"
            && e["detail"] == "client address blocked"
            && e["client"] == "203.0.113.7"),
        "{events}"
    );
    // Another patient behind the same proxy is not blocked.
    let other = request(
        port,
        "POST",
        "/api/film/verify",
        &[("X-Forwarded-For", "198.51.100.20")],
        Some(&json!({"token": tokens[2], "answer": BIRTH_DATE})),
    );
    assert_eq!(other.status, 200, "{}", String::from_utf8_lossy(&other.body));
}

/// Writes an Encapsulated PDF and a Basic Text SR into the study of the
/// DICOM file argv[1], to argv[2] and argv[3]; prints the PDF's bytes' length.
const MAKE_REPORTS: &str = r#"
import sys, pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
src = pydicom.dcmread(sys.argv[1], stop_before_pixels=True)
def base(sop_class, modality, description):
    ds = Dataset()
    for kw in ["PatientName", "PatientID", "PatientBirthDate", "PatientSex", "StudyInstanceUID", "StudyDate", "StudyTime", "AccessionNumber", "StudyID", "SpecificCharacterSet"]:
        if kw in src:
            setattr(ds, kw, getattr(src, kw))
    ds.SOPClassUID, ds.SOPInstanceUID = sop_class, generate_uid()
    ds.SeriesInstanceUID, ds.SeriesNumber, ds.InstanceNumber = generate_uid(), 99 if modality == "DOC" else 98, 1
    ds.Modality, ds.SeriesDescription = modality, description
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds
pdf_bytes = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
pdf = base("1.2.840.10008.5.1.4.1.1.104.1", "DOC", "PDF report")
pdf.MIMETypeOfEncapsulatedDocument, pdf.EncapsulatedDocument = "application/pdf", pdf_bytes
pdf.BurnedInAnnotation, pdf.DocumentTitle = "YES", "CT report"
pdf.save_as(sys.argv[2], enforce_file_format=True)
sr = base("1.2.840.10008.5.1.4.1.1.88.11", "SR", "SR report")
def code(meaning):
    c = Dataset(); c.CodeValue, c.CodingSchemeDesignator, c.CodeMeaning = "99", "99TEST", meaning
    return [c]
text = Dataset(); text.RelationshipType, text.ValueType = "CONTAINS", "TEXT"
text.ConceptNameCodeSequence, text.TextValue = code("Impression"), "No acute findings"
sr.ValueType, sr.ContinuityOfContent = "CONTAINER", "SEPARATE"
sr.ConceptNameCodeSequence, sr.ContentSequence = code("Radiology report"), [text]
sr.CompletionFlag, sr.VerificationFlag = "COMPLETE", "UNVERIFIED"
sr.save_as(sys.argv[3], enforce_file_format=True)
print(len(pdf_bytes))
"#;

/// The study's own reports: an Encapsulated PDF (served as its PDF bytes)
/// and an SR (served as text) are listed apart from the image series; a
/// film made with `report: false` shows none.
#[test]
fn film_shows_the_studys_pdf_and_sr_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    gen_ct_with(&src, 3, 32, 21, &["--patient-id", "FILM-1", "-q"]);
    let first = files_under(&src).remove(0);
    let reports = tmp.path().join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    let made = run(python().args(["-c", MAKE_REPORTS]).arg(&first).arg(reports.join("pdf.dcm")).arg(reports.join("sr.dcm")));
    let pdf_len: usize = String::from_utf8_lossy(&made.stdout).trim().parse().unwrap();
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&src).arg(&reports));
    let config = format!("[http]\napi_token = {API_TOKEN:?}\n");
    let server = Server::start(&data, Some(&config));
    let port = server.http_port;
    let study = study_uids(port).remove(0);
    let open = |report: bool| {
        let film = api(port, "POST", "/api/films", Some(&json!({"study": study, "report": report}))).json();
        let token = token_of(film["url"].as_str().unwrap());
        let verified = request(port, "POST", "/api/film/verify", &[], Some(&json!({"token": token, "answer": BIRTH_DATE})));
        assert_eq!(verified.status, 200);
        (verified.cookie().0, verified.json()["info"].clone())
    };
    let (cookie, info) = open(true);
    let series: Vec<&str> = info["studies"][0]["series"].as_array().unwrap().iter().map(|s| s["modality"].as_str().unwrap()).collect();
    assert_eq!(series, ["CT"], "report series are not image series");
    let listed = info["reports"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "{info}");
    let by_type = |t: &str| listed.iter().find(|r| r["media_type"] == t).unwrap_or_else(|| panic!("a {t} report in {info}"));
    let pdf = request(port, "GET", by_type("application/pdf")["url"].as_str().unwrap(), &[("Cookie", &cookie)], None);
    assert_eq!(pdf.status, 200);
    assert!(pdf.headers.to_ascii_lowercase().contains("content-type: application/pdf"), "{}", pdf.headers);
    assert!(
        pdf.body.starts_with(b"%PDF-1.4") && pdf.body.len() >= pdf_len && pdf.body.len() <= pdf_len + 1,
        "the document's bytes ({} of {pdf_len})",
        pdf.body.len()
    );
    let sr = request(port, "GET", by_type("text/plain")["url"].as_str().unwrap(), &[("Cookie", &cookie)], None);
    assert_eq!(sr.status, 200);
    assert_eq!(String::from_utf8_lossy(&sr.body), "Radiology report\n  Impression: No acute findings\n");
    let (other, info) = open(false);
    assert_eq!(info["reports"], json!([]));
    let film_id = info["film_id"].as_str().unwrap();
    let sop = by_type("text/plain")["url"].as_str().unwrap().rsplit('/').next().unwrap().to_string();
    assert_eq!(request(port, "GET", &format!("/api/film/{film_id}/report/{sop}"), &[("Cookie", &other)], None).status, 403);
}
