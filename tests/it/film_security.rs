//! The review's attacks on cloud films, performed against the real server:
//! priors by a wildcard or empty Patient ID, a film session's QIDO-RS
//! reaching other studies, encoded path segments that turned into query
//! strings, imports of films that allow no download, and concurrent answers
//! racing the lockouts. Each asserts the secure behaviour.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::film::{API_TOKEN, BIRTH_DATE, Reply, api, request, token_of};
use crate::harness::*;

/// Set the PatientID of every file under `dir` (and the birth date to
/// BIRTH_DATE, the answer that opens every film here); the Study Instance
/// UIDs found there.
fn set_patient_id(dir: &Path, patient_id: &str) -> Vec<String> {
    let script = r#"
import sys, json, pathlib, pydicom
uids = set()
for p in sorted(pathlib.Path(sys.argv[1]).rglob("*.dcm")):
    ds = pydicom.dcmread(p)
    ds.PatientID = sys.argv[2]
    ds.PatientBirthDate = "19610115"
    ds.save_as(p, enforce_file_format=True)
    uids.add(ds.StudyInstanceUID)
print(json.dumps(sorted(uids)))
"#;
    let out = run(python().args(["-c", script]).arg(dir).arg(patient_id));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn verified_cookie(port: u16, film: &Value) -> String {
    let token = token_of(film["url"].as_str().unwrap());
    let right = request(port, "POST", "/api/film/verify", &[], Some(&json!({"token": token, "answer": BIRTH_DATE})));
    assert_eq!(right.status, 200, "{}", String::from_utf8_lossy(&right.body));
    right.cookie().0
}

/// The Study Instance UID of the (first) study of `patient_id`.
fn study_of_patient(port: u16, patient_id: &str) -> String {
    let (status, body) = http_get(port, &format!("/dicom-web/studies?PatientID={patient_id}")).unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()[0]["0020000D"]["Value"][0].as_str().unwrap().to_string()
}

/// A film of the study of `patient_id` (made with the API token) and its id.
fn film_of_patient(port: u16, patient_id: &str) -> (Value, String) {
    let study = study_of_patient(port, patient_id);
    let film = api(port, "POST", "/api/films", Some(&json!({"study": study}))).json();
    let id = film["film"]["film_id"].as_str().unwrap().to_string();
    (film, id)
}

fn get(port: u16, path: &str, cookie: &str) -> Reply {
    request(port, "GET", path, &[("Cookie", cookie)], None)
}

/// Two studies for each Patient ID, one generator seed each.
fn patients_with_ids(root: &Path, ids: &[&str]) -> BTreeMap<String, Vec<String>> {
    let mut studies = BTreeMap::new();
    for (i, id) in ids.iter().enumerate() {
        let dir = root.join(format!("p{i}"));
        gen_ct_with(&dir, 1, 16, 300 + i as u64, &["--studies-per-patient", "2", "--patient-id", "TEMP", "-q"]);
        studies.insert(id.to_string(), set_patient_id(&dir, id));
    }
    studies
}

#[test]
fn film_priors_are_the_same_patient_exactly() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    // Empty, wildcard and LIKE-metacharacter IDs, and patients any of them
    // would match as a pattern.
    let studies = patients_with_ids(&src, &["", "*", "?", "%", "Z", "QQ", "A_"]);
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&src));
    let server = Server::start(&data, Some(&format!("[http]\napi_token = {API_TOKEN:?}\n")));
    let port = server.http_port;
    for (id, uids) in &studies {
        assert_eq!(uids.len(), 2, "two studies of patient {id:?}");
        let made = api(port, "POST", "/api/films", Some(&json!({"study": uids[0], "include_priors": true})));
        assert_eq!(made.status, 201, "{}", String::from_utf8_lossy(&made.body));
        let made = made.json();
        let mut got: Vec<String> = made["film"]["studies"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
        got.sort();
        if id.is_empty() {
            assert_eq!(got, [uids[0].clone()], "a study without a Patient ID has no priors");
        } else {
            assert_eq!(&got, uids, "patient {id:?}: exactly their own two studies");
        }
        // And the session reaches no one else's details.
        let cookie = verified_cookie(port, &made);
        let info = get(port, &format!("/api/film/{}/info", made["film"]["film_id"].as_str().unwrap()), &cookie);
        assert_eq!(info.status, 200);
        assert_eq!(info.json()["studies"].as_array().unwrap().len(), got.len());
    }
}

#[test]
fn a_film_session_searches_only_the_films_studies_and_routes_no_encoded_specials() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let studies = patients_with_ids(&src, &["MINE", "OTHER"]);
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&src));
    let server = Server::start(&data, Some(&format!("[http]\napi_token = {API_TOKEN:?}\n")));
    let port = server.http_port;
    let (mine, other) = (&studies["MINE"][0], &studies["OTHER"][0]);
    let made = api(port, "POST", "/api/films", Some(&json!({"study": mine, "download": false}))).json();
    let film_id = made["film"]["film_id"].as_str().unwrap().to_string();
    let cookie = verified_cookie(port, &made);
    let base = format!("/api/film/{film_id}/dicom-web");

    // QIDO-RS: whatever the keys say (any case of the tag, keyword, lists,
    // other patients' IDs), the answer is within the film.
    let search = |query: &str| -> Vec<Value> {
        let r = get(port, &format!("{base}/studies?{query}"), &cookie);
        assert!(r.status == 200 || r.status == 204, "{query}: {}", r.status);
        let text = String::from_utf8_lossy(&r.body).to_string();
        assert!(!text.contains("OTHER") && !text.contains(other.as_str()), "{query} reached another patient: {text}");
        if r.body.is_empty() { Vec::new() } else { serde_json::from_slice(&r.body).unwrap() }
    };
    for key in ["0020000d", "0020000D", "StudyInstanceUID"] {
        assert!(search(&format!("{key}={other}&includefield=all")).is_empty(), "{key}");
        assert_eq!(search(&format!("{key}={mine}%5C{other}&includefield=all")).len(), 1, "{key}");
        assert_eq!(search(&format!("{key}={other}&{key}={mine}")).len(), 1, "{key}");
    }
    assert!(search("PatientID=OTHER").is_empty());
    assert!(search("00100020=*&includefield=all").len() == 1);
    assert_eq!(search("limit=1&offset=0").len(), 1);
    assert!(search("limit=1&offset=1").is_empty(), "paging counts only the film's studies");
    let series = get(port, &format!("{base}/studies/{mine}/series?0020000d={other}"), &cookie);
    assert!(series.status == 200 || series.status == 204);
    assert!(!String::from_utf8_lossy(&series.body).contains(other.as_str()));
    assert_eq!(get(port, &format!("{base}/studies/{other}/series"), &cookie).status, 403);

    // A film without download: metadata yes, originals never, whatever
    // encoded specials the path carries.
    let listed = get(port, &format!("{base}/studies/{mine}/series"), &cookie).json();
    let series_uid = listed[0]["0020000E"]["Value"][0].as_str().unwrap().to_string();
    let instances = get(port, &format!("{base}/studies/{mine}/series/{series_uid}/instances"), &cookie).json();
    let sop = instances[0]["00080018"]["Value"][0].as_str().unwrap().to_string();
    let metadata = get(port, &format!("{base}/studies/{mine}/series/{series_uid}/metadata"), &cookie);
    assert_eq!(metadata.status, 200);
    assert!(metadata.headers.to_ascii_lowercase().contains("application/dicom+json"));
    assert_eq!(get(port, &format!("{base}/studies/{mine}/series/{series_uid}"), &cookie).status, 403);
    let originals = |r: &Reply| {
        r.headers.to_ascii_lowercase().contains("application/dicom\r")
            || r.headers.to_ascii_lowercase().contains("type=\"application/dicom\"")
            || r.body.windows(4).any(|w| w == b"DICM")
    };
    let frame = format!("{base}/studies/{mine}/series/{series_uid}/instances/{sop}/frames/1");
    // A patient's session asking for one frame 2000 times: refused like on
    // /dicom-web (the same handler), before anything is read.
    let repeated = format!("{frame}{}", ",1".repeat(1999));
    assert_eq!(get(port, &repeated, &cookie).status, 400);
    assert_eq!(get(port, &frame, &cookie).status, 200);
    let mut attacks = Vec::new();
    for special in ["%3F", "%23", "%2F", "%2F..", "%2E%2E", ".."] {
        attacks.push(format!("{base}/studies/{mine}/series/{series_uid}{special}/metadata"));
        attacks.push(format!("{base}/studies/{mine}{special}/metadata"));
        attacks.push(format!("{base}/studies/{mine}/series/{series_uid}/instances/{sop}{special}/metadata"));
        attacks.push(format!("{base}/studies/{mine}/series/{series_uid}/instances/{sop}/frames/1{special}/rendered"));
        attacks.push(format!("{frame}{special}"));
        attacks.push(format!("{base}/studies{special}/{mine}/metadata"));
    }
    for path in &attacks {
        let r = get(port, path, &cookie);
        assert!(matches!(r.status, 400 | 403 | 404), "{path}: {}\n{}", r.status, r.headers);
        assert!(!originals(&r), "{path} gave out an original");
    }
}

#[test]
fn imports_need_the_download_right_and_are_rate_limited() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    gen_ct_with(&src, 2, 16, 21, &["--patient-id", "IMP-1", "-q"]);
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&src));
    // A destination nobody listens on: what matters is whether an import starts.
    let (_held, dest_port) = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let p = l.local_addr().unwrap().port();
        (l, p)
    };
    run(cli(&data).args(["ae", "add", "HOSPB", "127.0.0.1", &dest_port.to_string(), "--platform"]));
    let server = Server::start(&data, Some(&format!("[http]\napi_token = {API_TOKEN:?}\n[http.film]\nimports_per_hour = 2\n")));
    let port = server.http_port;
    let study = study_of_patient(port, "IMP-1");

    let import = |film: &Value, cookie: &str| {
        let id = film["film"]["film_id"].as_str().unwrap();
        request(port, "POST", &format!("/api/film/{id}/import"), &[("Cookie", cookie)], Some(&json!({"destination": "dicom:HOSPB"})))
    };
    let closed = api(port, "POST", "/api/films", Some(&json!({"study": study, "download": false}))).json();
    let cookie = verified_cookie(port, &closed);
    let refused = import(&closed, &cookie);
    assert_eq!(refused.status, 403, "{}", String::from_utf8_lossy(&refused.body));
    let events = api(port, "GET", &format!("/api/films/{}/events", closed["film"]["film_id"].as_str().unwrap()), None).json();
    assert!(events.as_array().unwrap().iter().any(|e| e["event"] == "imported" && e["result"] == "refused"), "{events}");

    let open = api(port, "POST", "/api/films", Some(&json!({"study": study}))).json();
    let cookie = verified_cookie(port, &open);
    assert_eq!(import(&open, &cookie).status, 202);
    assert_eq!(import(&open, &cookie).status, 202);
    let third = import(&open, &cookie);
    assert_eq!(third.status, 429, "{}", String::from_utf8_lossy(&third.body));
}

/// Send `answers` to `/api/film/verify` all at once; their statuses.
fn burst(port: u16, token: &str, answers: Vec<String>) -> Vec<u16> {
    let barrier = Arc::new(Barrier::new(answers.len()));
    let threads: Vec<_> = answers
        .into_iter()
        .map(|answer| {
            let (barrier, token) = (barrier.clone(), token.to_string());
            std::thread::spawn(move || {
                barrier.wait();
                request(port, "POST", "/api/film/verify", &[], Some(&json!({"token": token, "answer": answer}))).status
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

#[test]
fn concurrent_answers_never_outrun_the_lockouts() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    gen_ct_with(&src, 1, 16, 21, &["--patient-id", "RACE-1", "-q"]);
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&src));
    // The address's limit is set out of reach here: it is tested below.
    let server = Server::start(&data, Some(&format!("[http]\napi_token = {API_TOKEN:?}\n[http.film]\nclient_max_failures = 1000\n")));
    let port = server.http_port;
    let study = study_of_patient(port, "RACE-1");

    // Per film (limit 5): 40 answers at once, the right one among them.
    // Until a pass, at most 5 are compared and the rest are refused as
    // locked; a pass happens only while the film is unlocked. A pass resets
    // the count, as every lockout does: then up to 4 wrong answers already
    // in flight before it and 5 after it may be judged, never more.
    for round in 0..3 {
        let film = api(port, "POST", "/api/films", Some(&json!({"study": study}))).json();
        let token = token_of(film["url"].as_str().unwrap());
        let mut answers: Vec<String> = (0..39).map(|i| format!("1970-01-{:02}", i % 28 + 1)).collect();
        answers.insert(20 + round, BIRTH_DATE.to_string());
        let statuses = burst(port, &token, answers);
        // Answers in flight count against the limit until they are judged:
        // most find the film locked (423).
        assert!(statuses.iter().all(|s| matches!(s, 200 | 401 | 423)), "{statuses:?}");
        let passed = statuses.iter().filter(|&&s| s == 200).count();
        assert!(passed <= 1, "round {round}: one right answer, {passed} passes: {statuses:?}");
        let id = film["film"]["film_id"].as_str().unwrap();
        let events = api(port, "GET", &format!("/api/films/{id}/events"), None).json();
        let events = events.as_array().unwrap();
        let seq_of = |event: &str, result: &str| events.iter().position(|e| e["event"] == event && e["result"] == result);
        let count = |result: &str| events.iter().filter(|e| e["event"] == "verify" && e["result"] == result).count();
        let (failed, ok) = (count("failed"), count("ok"));
        assert_eq!(ok, passed, "round {round}: every pass and only a pass is on the film's record");
        let wrong_answered = statuses.iter().filter(|&&s| s == 401).count();
        assert!(wrong_answered <= failed, "round {round}: every 401 is a judged failure on the record");
        let bound = if passed == 1 { 2 * 5 - 1 } else { 5 };
        assert!((1..=bound).contains(&failed), "round {round}: {failed} wrong answers judged (pass: {passed}), bound {bound}");
        let shown = api(port, "GET", &format!("/api/films/{id}"), None).json();
        if let (Some(ok_at), Some(locked_at)) = (seq_of("verify", "ok"), seq_of("locked", "ok")) {
            assert!(ok_at < locked_at, "round {round}: a pass after the lock: {events:?}");
        }
        if passed == 0 {
            // Five answers reached the film: five wrong ones, or four and
            // the right one, which found the film locked by them.
            assert!((4..=5).contains(&failed), "round {round}: without a pass, {failed} wrong answers judged");
            assert!(shown["locked_at_ms"].is_i64(), "five wrong answers lock the film: {shown}");
            let late = request(port, "POST", "/api/film/verify", &[], Some(&json!({"token": token, "answer": BIRTH_DATE})));
            assert_eq!(late.status, 423, "the right answer after the lock is refused");
        }
    }

    // Per address (limit 20), on a film that never locks and a fresh
    // record: 120 wrong answers at once get at most 20 comparisons, the
    // rest 429.
    drop(server);
    let data = tmp.path().join("data2");
    run(cli(&data).args(["import", "--quiet"]).arg(&src));
    let server = Server::start(
        &data,
        Some(&format!("[http]\napi_token = {API_TOKEN:?}\n[http.film]\nmax_failures = 100000\nclient_max_failures = 20\n")),
    );
    let port = server.http_port;
    let film = api(port, "POST", "/api/films", Some(&json!({"study": study}))).json();
    let token = token_of(film["url"].as_str().unwrap());
    let statuses = burst(port, &token, (0..120).map(|i| format!("1971-02-{:02}", i % 28 + 1)).collect());
    let wrong = statuses.iter().filter(|&&s| s == 401).count();
    let blocked = statuses.iter().filter(|&&s| s == 429).count();
    assert!((1..=20).contains(&wrong), "{wrong} wrong answers compared against a limit of 20");
    assert_eq!(wrong + blocked, 120, "{statuses:?}");
    // The right answer from the blocked address is refused too.
    let late = request(port, "POST", "/api/film/verify", &[], Some(&json!({"token": token, "answer": BIRTH_DATE})));
    assert_eq!(late.status, 429);
}

#[test]
fn the_session_cookie_is_secure_behind_a_trusted_tls_proxy() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    gen_ct_with(&src, 1, 16, 21, &["--patient-id", "TLS-1", "-q"]);
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&src));
    let cookie_attributes = |config: &str, forwarded: &[(&str, &str)]| {
        let server = Server::start(&data, Some(&format!("[http]\napi_token = {API_TOKEN:?}\n{config}")));
        let port = server.http_port;
        let (film, _) = film_of_patient(port, "TLS-1");
        let token = token_of(film["url"].as_str().unwrap());
        let right = request(port, "POST", "/api/film/verify", forwarded, Some(&json!({"token": token, "answer": BIRTH_DATE})));
        assert_eq!(right.status, 200);
        right.cookie().1
    };
    let https = [("X-Forwarded-Proto", "https"), ("X-Forwarded-For", "203.0.113.5")];
    assert!(
        cookie_attributes("trusted_proxies = [\"127.0.0.1\"]\n", &https).contains("Secure"),
        "a trusted proxy says the client used https"
    );
    assert!(!cookie_attributes("", &https).contains("Secure"), "an untrusted peer's word is not taken");
    assert!(!cookie_attributes("trusted_proxies = [\"127.0.0.1\"]\n", &[]).contains("Secure"), "plain http through the proxy");
}

/// SIGTERM with a film import under way (to a PACS that accepts the
/// connection and never answers): the node lets it go on for its grace,
/// then ends it, records it on the film as interrupted, and exits 0.
#[test]
fn sigterm_lets_a_film_import_run_then_records_it_interrupted() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    gen_ct_with(&src, 2, 16, 21, &["--patient-id", "STOP-1", "-q"]);
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&src));
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dest_port = silent.local_addr().unwrap().port();
    run(cli(&data).args(["ae", "add", "HOSPB", "127.0.0.1", &dest_port.to_string(), "--platform"]));
    let config = format!("[http]\napi_token = {API_TOKEN:?}\n");
    let mut server = Server::start(&data, Some(&config));
    let port = server.http_port;
    let (film, id) = film_of_patient(port, "STOP-1");
    let cookie = verified_cookie(port, &film);
    let started =
        request(port, "POST", &format!("/api/film/{id}/import"), &[("Cookie", &cookie)], Some(&json!({"destination": "dicom:HOSPB"})));
    assert_eq!(started.status, 202, "{}", String::from_utf8_lossy(&started.body));
    std::thread::sleep(Duration::from_millis(500));

    let asked = Instant::now();
    server.terminate();
    let status = server.exits_within(Duration::from_secs(45)).expect("the node stops within its bound");
    let took = asked.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(took >= Duration::from_secs(15), "the import was given its grace, not cut at once ({took:?})");

    let server = Server::start(&data, Some(&config));
    let events = api(server.http_port, "GET", &format!("/api/films/{id}/events"), None).json();
    let imported: Vec<&Value> = events.as_array().unwrap().iter().filter(|e| e["event"] == "imported").collect();
    assert_eq!(imported.len(), 1, "{events}");
    assert_eq!(imported[0]["result"], "failed", "{events}");
    assert!(imported[0]["detail"].as_str().unwrap().contains("interrupted"), "{events}");
    drop(silent);
}

/// A node killed while a film's ZIP streams (issue 24): the record keeps
/// that the download began (who, which film, how many instances), with no
/// end; after the restart, with no manual step, the film downloads whole,
/// every file byte for byte the one stored, and no spool file is left.
#[test]
fn sigkill_during_a_film_zip_download_keeps_its_start_on_the_record_and_the_next_one_is_whole() {
    use std::io::{Read, Write};
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    gen_ct_with(&src, 120, 256, 21, &["--patient-id", "ZIP-1", "-q"]);
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&src));
    let config = format!("[http]\napi_token = {API_TOKEN:?}\n");
    let mut server = Server::start(&data, Some(&config));
    let port = server.http_port;
    let (film, id) = film_of_patient(port, "ZIP-1");
    let cookie = verified_cookie(port, &film);

    // A client that reads the first megabyte and stalls: the stream is
    // mid-way (it waits on the client) when the node dies.
    let mut client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    client.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(client, "GET /api/film/{id}/download HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nCookie: {cookie}\r\n\r\n").unwrap();
    let mut got = Vec::new();
    let _ = (&mut client).take(1 << 20).read_to_end(&mut got);
    assert!(got.len() == 1 << 20 && got.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&got[..got.len().min(400)]));
    server.kill();
    drop(client);

    let server = Server::start(&data, Some(&config));
    let port = server.http_port;
    let downloads = |port: u16| -> Vec<Value> {
        let events = api(port, "GET", &format!("/api/films/{id}/events"), None).json();
        events.as_array().unwrap().iter().filter(|e| e["event"] == "downloaded").cloned().collect()
    };
    let before = downloads(port);
    assert_eq!(before.len(), 1, "{before:?}");
    assert_eq!(before[0]["result"], "started", "the interrupted download is on the record: {before:?}");
    assert!(before[0]["detail"].as_str().unwrap().contains("120 instances"), "{before:?}");

    let cookie = verified_cookie(port, &film);
    let zip = get(port, &format!("/api/film/{id}/download"), &cookie);
    assert_eq!(zip.status, 200);
    let zip_path = tmp.path().join("film.zip");
    std::fs::write(&zip_path, &zip.body).unwrap();
    // Every file in the ZIP (but the DICOMDIR) is a stored original, byte
    // for byte (the SHA-256 the index recorded), each one once.
    let script = r#"
import hashlib, json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None
print(json.dumps(sorted(hashlib.sha256(z.read(n)).hexdigest() for n in z.namelist() if n != "DICOMDIR")))
"#;
    let out = run(python().args(["-c", script]).arg(&zip_path));
    let in_zip: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    let stored: Vec<String> = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let index = server.index().await;
        // The restarted node carries on with the import's rendition jobs,
        // whose writes pass through the spool: the check below is for what
        // the killed process left, so it waits for them.
        wait_for_jobs(&index, Duration::from_secs(120)).await;
        let mut digests: Vec<String> = index.all_objects().await.unwrap().into_iter().map(|(_, digest)| digest).collect();
        digests.sort();
        digests
    });
    assert_eq!(in_zip.len(), 120);
    assert!(in_zip == stored, "the ZIP holds the stored originals");
    let after = downloads(port);
    assert!(after.iter().any(|e| e["result"] == "ok"), "{after:?}");
    assert!(files_under(&server.spool_dir()).is_empty(), "spool files left: {:?}", files_under(&server.spool_dir()));
}
