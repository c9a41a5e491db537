//! The access policy, performed over both faces on the real server: two
//! hospitals share one Yunying; each reaches its own studies, the other's
//! only through a grant in force, over DICOMweb (QIDO-RS, WADO-RS,
//! metadata, rendered, thumbnails, frames, STOW-RS) and DIMSE (C-FIND,
//! C-GET, C-MOVE to the hospital's own archive, C-STORE), with paging
//! correct under a scope.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use yunying_index::Grant;

use crate::film::{Reply, request};
use crate::harness::*;

/// Both hospitals' senders are registered for their institution; their
/// PACS may query and retrieve. Requests without credentials get nothing.
const CONFIG: &str = "[access]\nanonymous = \"nobody\"\n";

struct World {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    server: Server,
    /// Hospital A's studies (three, for paging) and B's one.
    a: Vec<String>,
    b: String,
    /// API keys: read for A, read for B, store for B.
    key_a: String,
    key_b: String,
    key_b_stow: String,
    /// One of B's instances, to STOW again.
    b_file: PathBuf,
    /// Where SINK_B (a C-MOVE destination of hospital B) listens.
    sink_port: u16,
}

fn key(data: &Path, name: &str, institution: &str, scopes: &str) -> String {
    let out = run(cli(data).args(["key", "add", name, "--institution", institution, "--scopes", scopes]));
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(key.starts_with("yk_"), "{key}");
    key
}

fn world() -> World {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    for (title, institution, allow) in [
        ("CT_A", "HOSP_A", "store"),
        ("CT_B", "HOSP_B", "store"),
        ("PACS_A", "HOSP_A", "find,get,move"),
        ("PACS_B", "HOSP_B", "find,get,move"),
    ] {
        run(cli(&data).args(["ae", "add", title, "127.0.0.1", "104", "--institution", institution, "--new-institution", "--allow", allow]));
    }
    // Hospital B's archive, where its PACS moves studies to.
    let sink_port = free_port();
    run(cli(&data).args([
        "ae",
        "add",
        "SINK_B",
        "127.0.0.1",
        &sink_port.to_string(),
        "--institution",
        "HOSP_B",
        "--new-institution",
        "--allow",
        "none",
    ]));
    let server = Server::start(&data, Some(CONFIG));
    let mut a = Vec::new();
    for seed in 1..=3u64 {
        let dir = tmp.path().join(format!("a{seed}"));
        gen_ct_with(&dir, 2, 16, 300 + seed, &["--patient-id", &format!("PA{seed}"), "-q"]);
        storescu_dir(server.dicom_port, "CT_A", &dir);
        a.push(study_of(&files_under(&dir)[0]));
    }
    let dir = tmp.path().join("b");
    gen_ct_with(&dir, 2, 16, 310, &["--patient-id", "PB1", "-q"]);
    storescu_dir(server.dicom_port, "CT_B", &dir);
    let b_file = files_under(&dir)[0].clone();
    let b = study_of(&b_file);
    let key_a = key(&data, "viewer A", "HOSP_A", "dicomweb:read");
    let key_b = key(&data, "viewer B", "HOSP_B", "dicomweb:read");
    let key_b_stow = key(&data, "gateway B", "HOSP_B", "stow");
    World { _tmp: tmp, data, server, a, b, key_a, key_b, key_b_stow, b_file, sink_port }
}

/// The Study Instance UID of a Part 10 file.
fn study_of(file: &Path) -> String {
    let object = dicom_object::open_file(file).unwrap();
    object.element(dicom_dictionary_std::tags::STUDY_INSTANCE_UID).unwrap().to_str().unwrap().trim_end_matches('\0').to_string()
}

fn get(port: u16, path: &str, key: &str) -> Reply {
    request(port, "GET", path, &[("Authorization", &format!("Bearer {key}"))], None)
}

/// The Study Instance UIDs a QIDO-RS search returns.
fn qido(port: u16, path: &str, key: &str) -> Vec<String> {
    let reply = get(port, path, key);
    assert!(reply.status == 200 || reply.status == 204, "{path}: {} {}", reply.status, String::from_utf8_lossy(&reply.body));
    if reply.body.is_empty() {
        return Vec::new();
    }
    let found: Vec<Value> = serde_json::from_slice(&reply.body).unwrap();
    found.iter().map(|s| s["0020000D"]["Value"][0].as_str().unwrap().to_string()).collect()
}

/// Study Instance UIDs C-FIND returns to `aet` at the study level.
fn c_find(port: u16, aet: &str) -> Vec<String> {
    let out = dcmtk("findscu")
        .args(["-v", "-S", "-aet", aet, "-aec", "YUNYING", "127.0.0.1", &port.to_string()])
        .args(["-k", "QueryRetrieveLevel=STUDY", "-k", "StudyInstanceUID"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("Received Final Find Response"), "{text}");
    let mut uids: Vec<String> = text
        .lines()
        .filter(|l| l.contains("(0020,000d)"))
        .filter_map(|l| Some(l[l.find('[')? + 1..l.rfind(']')?].trim_end_matches(['\0', ' ']).to_string()))
        .collect();
    uids.sort();
    uids
}

/// Instances a C-MOVE by `aet` of a study delivers to SINK_B (a DCMTK
/// storescp started for it), 0 when it reaches none.
fn c_move(w: &World, aet: &str, dir: &Path, study: &str) -> usize {
    let _scp = crate::qr::StoreScp::start("SINK_B", w.sink_port, dir);
    let _ = dcmtk("movescu")
        .args(["-S", "-aet", aet, "-aec", "YUNYING", "-aem", "SINK_B", "127.0.0.1", &w.server.dicom_port.to_string()])
        .args(["-k", "QueryRetrieveLevel=STUDY", "-k", &format!("StudyInstanceUID={study}")])
        .output()
        .unwrap();
    files_under(dir).len()
}

/// Instances C-GET brings `aet` for a study (0 when it reaches none).
fn c_get(port: u16, aet: &str, dir: &Path, study: &str) -> usize {
    std::fs::create_dir_all(dir).unwrap();
    let _ = dcmtk("getscu")
        .current_dir(dir)
        .args(["-S", "-aet", aet, "-aec", "YUNYING", "-od"])
        .arg(dir)
        .args(["127.0.0.1", &port.to_string(), "-k", "QueryRetrieveLevel=STUDY", "-k", &format!("StudyInstanceUID={study}")])
        .output()
        .unwrap();
    files_under(dir).len()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// Every way of reaching one study's images over DICOMweb, by its paths.
fn study_paths(w: &World, study: &str) -> Vec<String> {
    let reply = get(w.server.http_port, &format!("/dicom-web/studies/{study}/series"), &w.key_a);
    let series = if reply.status == 200 {
        let found: Vec<Value> = serde_json::from_slice(&reply.body).unwrap();
        found[0]["0020000E"]["Value"][0].as_str().unwrap().to_string()
    } else {
        "1.2.3.4".to_string()
    };
    let reply = get(w.server.http_port, &format!("/dicom-web/studies/{study}/series/{series}/instances"), &w.key_a);
    let sop = if reply.status == 200 {
        let found: Vec<Value> = serde_json::from_slice(&reply.body).unwrap();
        found[0]["00080018"]["Value"][0].as_str().unwrap().to_string()
    } else {
        "1.2.3.5".to_string()
    };
    let s = format!("/dicom-web/studies/{study}");
    let se = format!("{s}/series/{series}");
    let i = format!("{se}/instances/{sop}");
    vec![
        s.clone(),
        format!("{s}/metadata"),
        format!("{s}/thumbnail"),
        format!("{s}/rendered"),
        se.clone(),
        format!("{se}/metadata"),
        format!("{se}/rendered"),
        i.clone(),
        format!("{i}/metadata"),
        format!("{i}/rendered"),
        format!("{i}/thumbnail"),
        format!("{i}/frames/1"),
        format!("{i}/frames/1/rendered"),
        format!("{i}/bulkdata/7FE00010"),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn each_hospital_reaches_its_own_studies_and_the_others_only_through_a_grant() {
    let w = world();
    let port = w.server.http_port;
    let (a, b) = (&w.a, &w.b);

    // QIDO-RS: B's key finds B's study only, whatever it asks for.
    assert_eq!(qido(port, "/dicom-web/studies", &w.key_b), vec![b.clone()]);
    assert!(qido(port, &format!("/dicom-web/studies?StudyInstanceUID={}", a[0]), &w.key_b).is_empty());
    assert!(qido(port, &format!("/dicom-web/studies/{}/series", a[0]), &w.key_b).is_empty());
    assert!(qido(port, "/dicom-web/series?PatientID=PA1", &w.key_b).is_empty());
    assert_eq!(sorted(qido(port, "/dicom-web/studies", &w.key_a)), sorted(a.clone()));
    // Paging under a scope: every study of A once, then nothing.
    let mut paged = Vec::new();
    for offset in 0..3 {
        let page = qido(port, &format!("/dicom-web/studies?limit=1&offset={offset}"), &w.key_a);
        assert_eq!(page.len(), 1, "page {offset}");
        paged.extend(page);
    }
    assert_eq!(sorted(paged), sorted(a.clone()));
    assert!(qido(port, "/dicom-web/studies?limit=1&offset=3", &w.key_a).is_empty());

    // Direct URLs into A's study: refused for B, every one of them; A's
    // own key reaches them.
    for path in study_paths(&w, &a[0]) {
        let refused = get(port, &path, &w.key_b);
        assert_eq!(refused.status, 403, "{path}: {}", String::from_utf8_lossy(&refused.body));
        let own = get(port, &path, &w.key_a);
        assert!(own.status == 200 || own.status == 404 && path.ends_with("bulkdata/7FE00010"), "{path}: {}", own.status);
    }
    // No credentials, or a forged key: 401 with the challenge.
    let none = request(port, "GET", "/dicom-web/studies", &[], None);
    assert_eq!(none.status, 401);
    assert!(none.headers.to_ascii_lowercase().contains("www-authenticate: bearer"), "{}", none.headers);
    let forged = get(port, "/dicom-web/studies", &format!("{}0", w.key_b));
    assert_eq!(forged.status, 401);
    assert!(forged.headers.contains("invalid_token"), "{}", forged.headers);

    // dicomweb-client, as a hospital system uses it, with B's key.
    let script = "import sys\nfrom dicomweb_client.api import DICOMwebClient\nfrom requests import HTTPError\n\
c = DICOMwebClient(sys.argv[1], headers={'Authorization': 'Bearer ' + sys.argv[2]})\n\
print(len(c.search_for_studies()))\n\
try:\n    c.retrieve_study_metadata(sys.argv[3]); print('opened')\nexcept HTTPError as e:\n    print(e.response.status_code)\n";
    let out = run(python().args(["-c", script, &format!("http://127.0.0.1:{port}/dicom-web"), &w.key_b, &a[0]]));
    assert_eq!(String::from_utf8_lossy(&out.stdout).split_whitespace().collect::<Vec<_>>(), ["1", "403"]);

    // DIMSE: each PACS finds and retrieves its hospital's studies only.
    assert_eq!(c_find(w.server.dicom_port, "PACS_B"), vec![b.clone()]);
    assert_eq!(c_find(w.server.dicom_port, "PACS_A"), sorted(a.clone()));
    let scratch = w._tmp.path();
    assert_eq!(c_get(w.server.dicom_port, "PACS_B", &scratch.join("get-b-a0"), &a[0]), 0, "B's PACS retrieves none of A's study");
    assert_eq!(c_get(w.server.dicom_port, "PACS_B", &scratch.join("get-b-b"), b), 2);
    assert_eq!(c_move(&w, "PACS_B", &scratch.join("move-b-a0"), &a[0]), 0, "B's PACS moves none of A's study");
    assert_eq!(c_move(&w, "PACS_B", &scratch.join("move-b-b"), b), 2);

    // A grant to hospital B opens exactly the granted study, on both faces.
    let index = w.server.index().await;
    let now = now_ms();
    let grant = |id: &str, from: i64, until: i64| Grant {
        grant_id: id.into(),
        kind: "referral".into(),
        grantor: "person:test".into(),
        grantee_kind: "institution".into(),
        grantee: "HOSP_B".into(),
        reason: "consultation".into(),
        created_ms: now,
        not_before_ms: from,
        not_after_ms: until,
        revoked_ms: None,
        revoked_by: None,
        studies: vec![a[0].clone()],
    };
    // Expired, and not yet in force: nothing opens.
    index.insert_grant(&grant("g-expired", now - 7_200_000, now - 3_600_000)).await.unwrap();
    index.insert_grant(&grant("g-future", now + 3_600_000, now + 7_200_000)).await.unwrap();
    assert_eq!(qido(port, "/dicom-web/studies", &w.key_b), vec![b.clone()]);
    assert_eq!(get(port, &format!("/dicom-web/studies/{}/metadata", a[0]), &w.key_b).status, 403);
    // Granted outside the server (as another node or a tool would): seen
    // within the access layer's 2 s memory, well inside the 10 s bound.
    index.insert_grant(&grant("g-live", now - 1000, now + 3_600_000)).await.unwrap();
    let with_a0 = sorted(vec![a[0].clone(), b.clone()]);
    within_fresh(|| sorted(qido(port, "/dicom-web/studies", &w.key_b)) == with_a0);
    for offset in 0..2 {
        assert_eq!(qido(port, &format!("/dicom-web/studies?limit=1&offset={offset}"), &w.key_b).len(), 1);
    }
    assert!(qido(port, "/dicom-web/studies?limit=1&offset=2", &w.key_b).is_empty());
    for path in study_paths(&w, &a[0]) {
        let opened = get(port, &path, &w.key_b);
        assert!(opened.status == 200 || opened.status == 404 && path.ends_with("bulkdata/7FE00010"), "{path}: {}", opened.status);
    }
    assert_eq!(get(port, &format!("/dicom-web/studies/{}/metadata", a[1]), &w.key_b).status, 403, "only the granted study");
    assert_eq!(c_find(w.server.dicom_port, "PACS_B"), sorted(vec![a[0].clone(), b.clone()]));
    assert_eq!(c_get(w.server.dicom_port, "PACS_B", &scratch.join("get-b-a0-granted"), &a[0]), 2);
    assert_eq!(c_get(w.server.dicom_port, "PACS_B", &scratch.join("get-b-a1"), &a[1]), 0);
    assert_eq!(c_move(&w, "PACS_B", &scratch.join("move-b-a0-granted"), &a[0]), 2, "the granted study moves");

    // Reaching A's study through the grant is on the record, once per
    // principal and study however many requests it took, and so are the
    // retrievals and the refusals; none names a patient.
    let events = access_events(&index).await;
    let through_grant: Vec<_> = events.iter().filter(|e| e.event == "study-accessed" && e.via == "grant:g-live").collect();
    assert_eq!(through_grant.len(), 1, "{through_grant:?}");
    assert!(through_grant[0].principal.starts_with("key:") && through_grant[0].studies == [a[0].clone()]);
    assert!(events.iter().any(|e| e.event == "retrieve" && e.principal == "ae:PACS_B" && e.studies == [a[0].clone()]));
    assert!(events.iter().any(|e| e.event == "dicomweb" && e.result == "denied" && e.studies == [a[1].clone()]));
    assert!(!format!("{events:?}").contains("PA1"), "no Patient ID in access events");

    // Revoked: closed again on the very next request, on both faces.
    assert!(index.revoke_grant("g-live", "person:test", now_ms()).await.unwrap());
    within_fresh(|| qido(port, "/dicom-web/studies", &w.key_b) == [b.clone()]);
    assert_eq!(get(port, &format!("/dicom-web/studies/{}/metadata", a[0]), &w.key_b).status, 403);
    assert_eq!(c_find(w.server.dicom_port, "PACS_B"), vec![b.clone()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_store_for_their_institution_only_with_their_scope_and_stop_when_revoked() {
    let w = world();
    let port = w.server.http_port;
    // A read key may not store; a store key stores for its institution.
    assert_eq!(stow(port, &w.b_file, &w.key_b).0, 403);
    let dir = w._tmp.path().join("stow");
    gen_ct_with(&dir, 1, 16, 320, &["--patient-id", "PB2", "-q"]);
    let file = files_under(&dir)[0].clone();
    let (status, body) = stow(port, &file, &w.key_b_stow);
    assert_eq!(status, 200, "{body}");
    let sop = part10(&file).0.sop_instance_uid;
    let (issuer, patient, _) = w.server.index().await.patient_of(&sop).await.unwrap().unwrap();
    assert_eq!((issuer.as_str(), patient.as_str()), ("HOSP_B", "PB2"), "stored as hospital B's patient");
    // A store key reads nothing.
    assert_eq!(get(port, "/dicom-web/studies", &w.key_b_stow).status, 403);
    // Revoked keys stop on their next request; the key is never stored.
    let key_id = w.key_b.trim_start_matches("yk_").split('_').next().unwrap().to_string();
    run(cli(&w.data).args(["key", "revoke", &key_id]));
    within_fresh(|| get(port, "/dicom-web/studies", &w.key_b).status == 401);
    let keys = String::from_utf8(run(cli(&w.data).args(["key", "list"])).stdout).unwrap();
    assert!(keys.contains(&key_id) && keys.contains("revoked"), "{keys}");
    for secret in [&w.key_a, &w.key_b, &w.key_b_stow] {
        let tail = &secret[secret.len() - 32..];
        assert!(!keys.contains(tail), "the list shows no key");
        assert!(!store_mentions(&w.data, tail), "no key in the index");
    }
}

/// Whether any file under the data directory (the SQLite index) holds `text`.
fn store_mentions(data: &Path, text: &str) -> bool {
    files_under(data).iter().any(|f| {
        let mut bytes = Vec::new();
        std::fs::File::open(f).and_then(|mut h| h.read_to_end(&mut bytes)).is_ok()
            && bytes.windows(text.len()).any(|w| w == text.as_bytes())
    })
}

/// STOW-RS of one Part 10 file with a key: (HTTP status, body).
fn stow(port: u16, file: &Path, key: &str) -> (u16, String) {
    stow_file(port, file, &[("Authorization", &format!("Bearer {key}"))])
}

/// A change made outside the server (the command line, the index itself,
/// as another node would) holds within the access layer's memory of 2 s:
/// polled for at most 3 s.
fn within_fresh(holds: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    while !holds() {
        assert!(std::time::Instant::now() < deadline, "not seen within 3 s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sender_cannot_put_instances_into_another_hospitals_study() {
    let w = world();
    let port = w.server.http_port;
    // Hospital A's own instance sent again by B's modality, and a new
    // instance naming A's study: both refused (0124H), nothing changes.
    let a_dir = w._tmp.path().join("a1");
    let a_file = files_under(&a_dir)[0].clone();
    let forged = w._tmp.path().join("forged.dcm");
    std::fs::copy(&a_file, &forged).unwrap();
    run(dcmtk("dcmodify").args(["-nb", "-m", "(0008,0018)=1.2.826.0.1.3680043.10.999.1", "-m", "(0010,0020)=PB1"]).arg(&forged));
    let answers = pynetdicom_store(w.server.dicom_port, &["--calling", "CT_B"], &[a_file.clone(), forged.clone()]);
    assert_eq!(answers.len(), 2, "{answers:?}");
    for a in &answers {
        assert_eq!(a["status"].as_u64(), Some(0x0124), "{a}");
    }
    let (status, body) = stow(port, &forged, &w.key_b_stow);
    assert_eq!(status, 409, "STOW-RS refuses it too: {body}");
    // A's study is as it was: two instances, none from B, and B sees none of it.
    let index = w.server.index().await;
    assert!(index.instance("1.2.826.0.1.3680043.10.999.1").await.unwrap().is_none());
    assert_eq!(qido(port, &format!("/dicom-web/studies/{}/series/{}/instances", w.a[0], series_of(&a_file)), &w.key_a).len(), 2);
    assert_eq!(qido(port, "/dicom-web/studies", &w.key_b), vec![w.b.clone()]);
}

fn series_of(file: &Path) -> String {
    let object = dicom_object::open_file(file).unwrap();
    object.element(dicom_dictionary_std::tags::SERIES_INSTANCE_UID).unwrap().to_str().unwrap().trim_end_matches('\0').to_string()
}
