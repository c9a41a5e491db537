//! Mutual recognition of exams (检查互认) over HTTP on the real server:
//! hospital A's chest CT (C-STORE from A's modality, the national ID in
//! Other Patient IDs Sequence) and hospital B's registration of the same
//! patient (B's MPI key on `/api/empi/identities`) are one person; B's HIS
//! key asks for the candidates of a chest CT order and gets A's study
//! with A's quality (HR) mark; B's radiologist decides "recognised", and
//! "not recognised" (reason 3, patient informed) on a second order; B's
//! statistics count both, JSON and CSV; A sees none of B's orders, and
//! nobody decides for another institution.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::empi::person_of;
use crate::film::request;
use crate::harness::*;
use crate::people::{PASSWORD, add_user, login, session_of};

const NATIONAL_ID: &str = "11010519491231002X";

const CONFIG: &str = r#"
[empi]
link_every_secs = 1

[recognition]
region = "330100"

[[recognition.items]]
code = "CT-CHEST"
name = "胸部CT平扫"
modality = "CT"
keywords = ["胸", "chest"]
window_days = 180
price_fen = 30000

[[recognition.marks]]
institution = "HOSP_A"
item = "CT-CHEST"
scope = "330100"
valid_from = "2026-01-01"
valid_to = "2027-12-31"
"#;

fn body(reply: &crate::film::Reply) -> Value {
    serde_json::from_slice(&reply.body).unwrap_or_else(|_| panic!("JSON: {}", String::from_utf8_lossy(&reply.body)))
}

/// Two institutions on one server: A's chest CT of 1 November (C-STORE
/// from A's modality; GB18030 name, PatientID A123, the national ID in
/// Other Patient IDs Sequence), B's registration of the same patient (B's
/// MPI key; UTF-8 name, PatientID 998877, the same national ID): one
/// person. Keys: B's MPI, B's HIS, A's HIS. People: chen and wang (B's
/// radiologists), zhao (A's), liu (B's institution administrator).
struct World {
    _tmp: tempfile::TempDir,
    data: std::path::PathBuf,
    server: Server,
    index: yunying_index::Index,
    mpi_b: String,
    his_b: String,
    his_a: String,
    study_uid: String,
}

async fn world(extra: &str) -> World {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    run(cli(&data).args(["ae", "add", "CT_A", "127.0.0.1", "104", "--institution", "HOSP_A", "--new-institution", "--allow", "store"]));
    let key_of = |name: &str, institution: &str, scopes: &str| {
        let out = run(cli(&data).args(["key", "add", name, "--institution", institution, "--scopes", scopes]));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let (mpi_b, his_b, his_a) =
        (key_of("MPI B", "HOSP_B", "empi"), key_of("HIS B", "HOSP_B", "recognition"), key_of("HIS A", "HOSP_A", "recognition"));
    add_user(&data, "chen", Some("HOSP_B"), "radiologist");
    add_user(&data, "wang", Some("HOSP_B"), "radiologist");
    add_user(&data, "zhao", Some("HOSP_A"), "radiologist");
    add_user(&data, "liu", Some("HOSP_B"), "institution-admin");
    let dist = format!("{ROOT}/viewer/dist");
    // No anonymous access from loopback: the viewer asks to sign in.
    let viewer =
        if std::path::Path::new(&dist).join("index.html").is_file() { format!("[http]\nviewer_dir = {dist:?}\n") } else { String::new() };
    let config = format!("{viewer}[access]\nanonymous = \"nobody\"\n{CONFIG}{extra}");
    let server = Server::start(&data, Some(&config));
    let index = server.index().await;

    let dir = tmp.path().join("ct");
    gen_ct_with(&dir, 2, 64, 71, &["--patient-id", "A123", "--patient-name", "Zhang^San=张^三", "--charset", "GB18030", "-q"]);
    let files = files_under(&dir);
    let mut modify = dcmtk("dcmodify");
    modify
        .args(["-nb", "-i", &format!("(0010,1002)[0].(0010,0020)={NATIONAL_ID}")])
        .args(["-m", "(0010,0030)=19491231", "-m", "(0010,0040)=F", "-m", "(0008,1030)=CT chest", "-m", "(0008,0020)=20261101"])
        .args(&files);
    run(&mut modify);
    storescu_dir(server.dicom_port, "CT_A", &dir);

    let fed = json!({"issuer": "HOSP_B", "patient_id": "998877", "name": "张三", "birth_date": "19491231", "sex": "F", "national_ids": [NATIONAL_ID]});
    let reply = request(server.http_port, "POST", "/api/empi/identities", &[("Authorization", &format!("Bearer {mpi_b}"))], Some(&fed));
    assert_eq!(reply.status, 202, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(person_of(&index, "HOSP_B", "998877").await, person_of(&index, "HOSP_A", "A123").await);
    let shown = run(cli(&data).args(["empi", "person", "--issuer", "HOSP_B", "--patient-id", "998877"]));
    let view: Value = serde_json::from_slice(&shown.stdout).unwrap();
    let study_uid = view["studies"][0]["study_instance_uid"].as_str().expect("A's study is the person's").to_string();
    World { _tmp: tmp, data, server, index, mpi_b, his_b, his_a, study_uid }
}

/// B's HIS asks for the candidates of a chest CT order (`his` its number).
fn order_of(his: &str) -> Value {
    json!({"issuer": "HOSP_B", "patient_id": "998877", "item_code": "CT-CHEST", "order_date": "2026-12-06",
           "his_order_id": his, "department": "呼吸科", "doctor": "D-17"})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_his_asks_for_prior_results_a_doctor_decides_and_the_statistics_count_per_institution() {
    // B's HIS takes decisions on a webhook (it refuses the first delivery).
    let his = tempfile::tempdir().unwrap();
    let (port_file, received, secret) = (his.path().join("port"), his.path().join("received.jsonl"), his.path().join("secret"));
    std::fs::write(&secret, "his-b-shared-secret-5d1c\n").unwrap();
    let mut receiver =
        python().arg(format!("{ROOT}/tests/it/his/webhook_receiver.py")).args([&port_file, &received, &secret]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !port_file.exists() {
        assert!(Instant::now() < deadline, "the webhook receiver did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let port = std::fs::read_to_string(&port_file).unwrap();
    let w = world(&format!(
        "\n[[recognition.webhooks]]\ninstitution = \"HOSP_B\"\nurl = \"http://127.0.0.1:{port}/his/recognition\"\nsecret_file = {secret:?}\n"
    ))
    .await;
    let http = w.server.http_port;
    let (index, study_uid) = (&w.index, &w.study_uid);
    let (mpi_b, his_b, his_a) = (&w.mpi_b, &w.his_b, &w.his_a);
    let auth = |k: &str| format!("Bearer {k}");
    let order = order_of;

    // A's study gets its item and HR status a few seconds after ingest,
    // before any order asks about it.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let rows = index.recognition_studies(std::slice::from_ref(study_uid), false).await.unwrap();
        if rows.first().is_some_and(|r| r.items.iter().any(|i| i.item_code == "CT-CHEST" && i.hr)) {
            break;
        }
        assert!(Instant::now() < deadline, "classified after ingest: {rows:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // B's HIS orders a chest CT for B's patient: A's study, with A's HR mark.
    let asked = request(http, "POST", "/api/recognition/candidates", &[("Authorization", &auth(his_b))], Some(&order("HIS-1")));
    assert_eq!(asked.status, 200, "{}", String::from_utf8_lossy(&asked.body));
    let offer = body(&asked);
    let order_1 = offer["order_id"].as_str().unwrap().to_string();
    let candidates = offer["candidates"].as_array().unwrap();
    assert_eq!(candidates.len(), 1, "{offer}");
    let c = &candidates[0];
    assert_eq!(c["study_instance_uid"], study_uid.as_str());
    assert_eq!(
        (c["institution"].as_str(), c["study_date"].as_str(), c["item_code"].as_str()),
        (Some("HOSP_A"), Some("20261101"), Some("CT-CHEST"))
    );
    assert_eq!((c["hr"].as_bool(), c["age_days"].as_i64()), (Some(true), Some(35)));
    assert_eq!(c["viewer"], format!("/viewer/#/recognition/{order_1}?study={study_uid}"));
    // Past the item's window there is nothing to recognise.
    let mut late = order("HIS-LATE");
    late["order_date"] = json!("2027-06-01");
    let none = request(http, "POST", "/api/recognition/candidates", &[("Authorization", &auth(his_b))], Some(&late));
    assert_eq!(body(&none)["candidates"].as_array().map(Vec::len), Some(0));
    // B's HIS does not order for A's patients; a key without the scope orders nothing.
    let mut foreign = order("HIS-X");
    foreign["issuer"] = json!("HOSP_A");
    foreign["patient_id"] = json!("A123");
    assert_eq!(request(http, "POST", "/api/recognition/candidates", &[("Authorization", &auth(his_b))], Some(&foreign)).status, 403);
    assert_eq!(request(http, "POST", "/api/recognition/candidates", &[("Authorization", &auth(mpi_b))], Some(&order("HIS-Y"))).status, 403);

    // B's radiologist cannot read A's study before the recognition
    // request, can after it; a colleague who did not ask still cannot.
    let chen = session_of(&login(http, "chen", PASSWORD, None));
    let wang = session_of(&login(http, "wang", PASSWORD, None));
    let metadata = format!("/dicom-web/studies/{study_uid}/metadata");
    assert_eq!(request(http, "GET", &metadata, &[("Cookie", &chen)], None).status, 403, "not before the request");
    let open = |order_id: &str, cookie: &str| {
        request(
            http,
            "POST",
            &format!("/api/recognition/orders/{order_id}/open"),
            &[("Cookie", cookie)],
            Some(&json!({"study_instance_uid": study_uid})),
        )
    };
    let opened = open(&order_1, &chen);
    assert_eq!(opened.status, 200, "{}", String::from_utf8_lossy(&opened.body));
    let grant_id = body(&opened)["grant_id"].as_str().expect("a recognition grant").to_string();
    assert_eq!(body(&open(&order_1, &chen))["grant_id"], grant_id.as_str(), "asked again: the same grant");
    let read = request(http, "GET", &metadata, &[("Cookie", &chen)], None);
    assert_eq!(read.status, 200, "{}", String::from_utf8_lossy(&read.body));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(request(http, "GET", &metadata, &[("Cookie", &chen)], None).status, 200);
    assert_eq!(request(http, "GET", &metadata, &[("Cookie", &wang)], None).status, 403, "the grant is chen's only");
    let by_his = request(
        http,
        "POST",
        &format!("/api/recognition/orders/{order_1}/open"),
        &[("Authorization", &auth(his_b))],
        Some(&json!({"study_instance_uid": study_uid})),
    );
    assert_eq!(by_his.status, 403, "a key is no doctor");

    // B's own study of the patient (998877): its priors are the person's
    // studies at every institution that the reader reaches, A's through
    // chen's recognition grant only.
    let b_dir = w.data.with_file_name("b-study");
    gen_ct_with(&b_dir, 1, 16, 72, &["--patient-id", "998877", "--patient-name", "张^三", "--charset", "ISO_IR 192", "-q"]);
    run(cli(&w.data).args(["import", "--quiet", "--institution", "HOSP_B"]).arg(&b_dir));
    let b_study = {
        let reply = request(http, "GET", "/dicom-web/studies?PatientID=998877", &[("Cookie", &wang)], None);
        assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
        body(&reply)[0]["0020000D"]["Value"][0].as_str().unwrap().to_string()
    };
    let priors = |cookie: &str| request(http, "GET", &format!("/api/studies/{b_study}/priors"), &[("Cookie", cookie)], None);
    let chen_priors = body(&priors(&chen));
    assert_eq!(chen_priors["linked"], true, "{chen_priors}");
    let listed: Vec<(&str, &str)> = chen_priors["studies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["study_instance_uid"].as_str().unwrap(), s["institution"].as_str().unwrap()))
        .collect();
    assert_eq!(listed, [(study_uid.as_str(), "HOSP_A")], "A's study, marked with its institution");
    let wang_priors = body(&priors(&wang));
    assert_eq!(wang_priors["studies"].as_array().map(Vec::len), Some(0), "no grant, no prior from A: {wang_priors}");
    let zhao_sees = priors(&session_of(&login(http, "zhao", PASSWORD, None))).status;
    assert!(matches!(zhao_sees, 403 | 404), "A's doctor reaches nothing of B: {zhao_sees}");

    // B's radiologist recognises A's result; how long the images were
    // open comes from the access record, not from the request.
    let decide = |order_id: &str, cookie: &str, d: &Value| {
        request(http, "POST", &format!("/api/recognition/orders/{order_id}/decisions"), &[("Cookie", cookie)], Some(d))
    };
    let forged = json!({"study_instance_uid": study_uid, "outcome": "recognised", "opened_ms": 42000});
    assert_eq!(decide(&order_1, &chen, &forged).status, 422, "opened_ms is not the client's to say");
    let recognised = json!({"study_instance_uid": study_uid, "outcome": "recognised"});
    let made = decide(&order_1, &chen, &recognised);
    assert_eq!(made.status, 201, "{}", String::from_utf8_lossy(&made.body));
    let made = body(&made);
    assert_eq!(
        (made["version"].as_i64(), made["outcome"].as_str(), made["institution"].as_str()),
        (Some(1), Some("recognised"), Some("HOSP_B"))
    );
    let opened_ms = made["opened_ms"].as_i64().unwrap();
    assert!((300..30_000).contains(&opened_ms), "from the first read to the last: {opened_ms} ms");
    // The order as B sees it: the candidate with its decision.
    let shown = request(http, "GET", &format!("/api/recognition/orders/{order_1}"), &[("Authorization", &auth(his_b))], None);
    assert_eq!(shown.status, 200, "{}", String::from_utf8_lossy(&shown.body));
    let shown = body(&shown);
    assert_eq!((shown["item_name"].as_str(), shown["institution"].as_str()), (Some("胸部CT平扫"), Some("HOSP_B")));
    assert_eq!(shown["candidates"][0]["decision"]["outcome"], "recognised");
    assert_eq!(shown["candidates"][0]["decision"]["opened_ms"].as_i64(), Some(opened_ms));
    assert!(shown["reasons"].as_array().unwrap().iter().any(|r| r[0] == "3"), "{shown}");
    // The signed record B archives: checked offline with the ledger's log key.
    let record_path = format!("/api/recognition/orders/{order_1}/record?study={study_uid}");
    let signed = request(http, "GET", &record_path, &[("Authorization", &auth(his_b))], None);
    assert_eq!(signed.status, 200, "{}", String::from_utf8_lossy(&signed.body));
    let signed: yunying_recognition::SignedRecord = serde_json::from_slice(&signed.body).unwrap();
    let export = w.data.with_file_name("export");
    run(cli(&w.data).args(["audit", "export", "--study", study_uid, "--out"]).arg(&export));
    let log_key = yunying_ledger::keys::VerifierKey::parse(std::fs::read_to_string(export.join("log.pub")).unwrap().trim()).unwrap();
    let (record, _) = yunying_recognition::verify_record(&signed, &log_key).expect("the record verifies with the log key");
    assert_eq!((record.decision.outcome.as_str(), record.study.hr), ("recognised", true));
    assert_eq!(record.study.instances.len(), 2);
    assert!(record.study.instances.iter().all(|i| i.sha256.len() == 64));
    let mut forged = signed.clone();
    forged.record = forged.record.replace("\"recognised\"", "\"partial\"");
    assert!(yunying_recognition::verify_record(&forged, &log_key).is_err(), "a changed record does not verify");
    assert_eq!(decide(&order_1, &chen, &recognised).status, 400, "a second decision is an amendment");

    // A second order: not recognised before surgery (reason 3); without
    // telling the patient the rule refuses it.
    let order_2 =
        body(&request(http, "POST", "/api/recognition/candidates", &[("Authorization", &auth(his_b))], Some(&order("HIS-2"))))["order_id"]
            .as_str()
            .unwrap()
            .to_string();
    assert_ne!(order_2, order_1);
    let mut not = json!({"study_instance_uid": study_uid, "outcome": "not-recognised", "reason": "3", "patient_informed": false});
    let refused = decide(&order_2, &chen, &not);
    assert_eq!(refused.status, 400);
    assert!(String::from_utf8_lossy(&refused.body).contains("patient must be informed"), "{}", String::from_utf8_lossy(&refused.body));
    not["patient_informed"] = json!(true);
    let refused = decide(&order_2, &chen, &not);
    assert_eq!(refused.status, 201);
    assert_eq!(body(&refused)["opened_ms"].as_i64(), Some(0), "decided without opening the images (for this order)");
    // Nobody sees, opens or decides on another institution's order, and a key decides nothing.
    let zhao = session_of(&login(http, "zhao", PASSWORD, None));
    assert_eq!(decide(&order_2, &zhao, &recognised).status, 404);
    assert_eq!(open(&order_2, &zhao).status, 404);
    assert_eq!(request(http, "GET", &format!("/api/recognition/orders/{order_2}"), &[("Cookie", &zhao)], None).status, 404);
    let record_path = format!("/api/recognition/orders/{order_1}/record?study={study_uid}");
    assert_eq!(request(http, "GET", &record_path, &[("Cookie", &zhao)], None).status, 404);
    let by_key = request(
        http,
        "POST",
        &format!("/api/recognition/orders/{order_2}/decisions"),
        &[("Authorization", &auth(his_b))],
        Some(&recognised),
    );
    assert_eq!(by_key.status, 403);

    // B's statistics count both orders; A's key sees none of them.
    let stats = "/api/recognition/statistics?from=2026-12&to=2026-12&group=institution,month";
    let b_stats = body(&request(http, "GET", stats, &[("Authorization", &auth(his_b))], None));
    let rows = b_stats["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "{b_stats}");
    let r = &rows[0];
    assert_eq!((r["key"]["institution"].as_str(), r["key"]["month"].as_str()), (Some("HOSP_B"), Some("2026-12")));
    assert_eq!(
        (r["offered"].as_i64(), r["decided"].as_i64(), r["recognised"].as_i64(), r["not_recognised"].as_i64()),
        (Some(2), Some(2), Some(1), Some(1)),
        "{b_stats}"
    );
    assert_eq!(r["reasons"]["3"].as_i64(), Some(1));
    assert_eq!(r["saved_fen"].as_i64(), Some(30000));
    assert_eq!(r["unopened"].as_i64(), Some(1), "the refusal was made without opening the images");
    let a_stats = body(&request(http, "GET", stats, &[("Authorization", &auth(his_a))], None));
    assert_eq!(a_stats["rows"].as_array().map(Vec::len), Some(0), "{a_stats}");
    let peek = request(http, "GET", &format!("{stats}&institution=HOSP_B"), &[("Authorization", &auth(his_a))], None);
    assert_eq!(peek.status, 403);
    let csv = request(http, "GET", stats, &[("Authorization", &auth(his_b)), ("Accept", "text/csv")], None);
    assert_eq!(csv.status, 200);
    let text = String::from_utf8(csv.body.clone()).unwrap();
    assert!(text.starts_with('\u{feff}'), "a BOM for spreadsheets");
    let lines: Vec<&str> = text.trim_start_matches('\u{feff}').lines().collect();
    assert!(lines[0].starts_with("机构,月份,候选数,决定数,互认数"), "{}", lines[0]);
    assert!(lines[1].starts_with("HOSP_B,2026-12,2,2,1,0,1,"), "{}", lines[1]);

    // Offers and decisions are on the record, without patient data.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let bodies = index.recorded_audit_bodies().await.unwrap();
        let offered = bodies.iter().filter(|b| b.contains("\"recognition-offered\"")).count();
        let decided: Vec<&String> = bodies.iter().filter(|b| b.contains("\"recognition-decided\"")).collect();
        if offered >= 3 && decided.len() == 2 {
            assert!(decided.iter().all(|b| b.contains(&order_1) || b.contains(&order_2)));
            assert!(bodies.iter().all(|b| !b.contains("998877") && !b.contains("A123") && !b.contains(NATIONAL_ID)), "no patient data");
            break;
        }
        assert!(Instant::now() < deadline, "recognition events recorded: {offered} offers, {} decisions", decided.len());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The region's platform replaces the quality marks: A's chest CT mark
    // is withdrawn, and the next order offers A's study without it. An
    // institution's key reads the catalogue but changes nothing.
    let platform = {
        let out = run(cli(&w.data).args(["key", "add", "Region platform", "--platform", "--scopes", "recognition"]));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let read = request(http, "GET", "/api/recognition/catalogue", &[("Authorization", &auth(his_b))], None);
    assert_eq!(read.status, 200, "{}", String::from_utf8_lossy(&read.body));
    let catalogue = body(&read);
    assert_eq!((catalogue["items"][0]["code"].as_str(), catalogue["marks"][0]["institution"].as_str()), (Some("CT-CHEST"), Some("HOSP_A")));
    let withdrawn = json!({"marks": [{"institution": "HOSP_A", "item": "CT-CHEST", "passed": false, "scope": "330100",
                                       "valid_from": "2026-01-01", "valid_to": "2027-12-31"}]});
    let put = |key: &str, path: &str, b: &Value| request(http, "PUT", path, &[("Authorization", &auth(key))], Some(b));
    assert_eq!(put(his_b, "/api/recognition/marks", &withdrawn).status, 403, "an institution does not mark quality");
    let replaced = put(&platform, "/api/recognition/marks", &withdrawn);
    assert_eq!(replaced.status, 200, "{}", String::from_utf8_lossy(&replaced.body));
    let again = body(&request(http, "POST", "/api/recognition/candidates", &[("Authorization", &auth(his_b))], Some(&order("HIS-3"))));
    assert_eq!(again["candidates"][0]["hr"], false, "{again}");
    let mut item = catalogue["items"][0].clone();
    item["window_days"] = json!(100_000);
    let bad = json!({"items": [item]});
    assert_eq!(put(&platform, "/api/recognition/catalogue", &bad).status, 400, "a catalogue is checked before it is stored");

    // Both decisions reached B's HIS, signed; the refused delivery came again.
    let deadline = Instant::now() + Duration::from_secs(40);
    let lines: Vec<Value> = loop {
        let lines: Vec<Value> =
            std::fs::read_to_string(&received).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        if lines.iter().filter(|l| l["accepted"] == true).count() >= 2 {
            break lines;
        }
        assert!(Instant::now() < deadline, "decisions delivered to the HIS: {lines:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(lines.iter().all(|l| l["valid"] == true), "every delivery signed with the shared secret: {lines:?}");
    let accepted: Vec<&Value> = lines.iter().filter(|l| l["accepted"] == true).collect();
    assert_eq!(lines[0]["accepted"], false);
    assert!(accepted.iter().any(|l| l["delivery"] == lines[0]["delivery"]), "the refused delivery was tried again");
    let bodies: Vec<(&str, &str, &str)> = accepted
        .iter()
        .map(|l| {
            (
                l["body"]["his_order_id"].as_str().unwrap(),
                l["body"]["outcome"].as_str().unwrap(),
                l["body"]["reason"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(bodies.contains(&("HIS-1", "recognised", "")) && bodies.contains(&("HIS-2", "not-recognised", "3")), "{bodies:?}");
    assert!(accepted.iter().all(|l| !l["body"].to_string().contains("998877") && !l["body"].to_string().contains("张")), "no patient data");
    let _ = receiver.kill();
    let _ = receiver.wait();
    let World { mut server, index, .. } = w;
    index.close().await;
    server.stop();
}

/// The acceptance scenario in headless Chromium
/// (viewer/tests/recognition.test.mjs): B's HIS asks for the candidates of
/// two chest CT orders and gets A's study with its HR mark; B's doctor
/// cannot open it before the recognition request and can after it, from
/// the recognition panel, and records "recognised" on the first order and
/// "not recognised", reason 3, patient informed, on the second; A's doctor
/// sees nothing of B's orders; B's institution administrator reads both
/// on the dashboard. B's statistics count both, with the money saved.
#[tokio::test(flavor = "multi_thread")]
async fn recognition_in_the_viewer_end_to_end() {
    crate::viewer::viewer_dist();
    let w = world("").await;
    let http = w.server.http_port;
    let auth = format!("Bearer {}", w.his_b);
    let mut orders = Vec::new();
    for his in ["HIS-V1", "HIS-V2"] {
        let asked = request(http, "POST", "/api/recognition/candidates", &[("Authorization", &auth)], Some(&order_of(his)));
        assert_eq!(asked.status, 200, "{}", String::from_utf8_lossy(&asked.body));
        let offer = body(&asked);
        assert_eq!(offer["candidates"][0]["study_instance_uid"], w.study_uid.as_str(), "{offer}");
        assert_eq!(offer["candidates"][0]["hr"], true);
        orders.push(offer["order_id"].as_str().unwrap().to_string());
    }
    let envs = [
        ("YUNYING_URL", format!("http://127.0.0.1:{http}")),
        ("STUDY", w.study_uid.clone()),
        ("ORDER_1", orders[0].clone()),
        ("ORDER_2", orders[1].clone()),
        ("B_USER", "chen".to_string()),
        ("A_USER", "zhao".to_string()),
        ("B_ADMIN", "liu".to_string()),
        ("PASSWORD", PASSWORD.to_string()),
    ];
    crate::viewer::node_test("recognition.test.mjs", &envs);

    let stats = "/api/recognition/statistics?from=2026-12&to=2026-12&group=institution";
    let b = body(&request(http, "GET", stats, &[("Authorization", &auth)], None));
    let r = &b["rows"][0];
    assert_eq!(
        (r["offered"].as_i64(), r["recognised"].as_i64(), r["not_recognised"].as_i64(), r["reasons"]["3"].as_i64()),
        (Some(2), Some(1), Some(1), Some(1)),
        "{b}"
    );
    assert_eq!(r["saved_fen"].as_i64(), Some(30000), "{b}");
    let a = body(&request(http, "GET", stats, &[("Authorization", &format!("Bearer {}", w.his_a))], None));
    assert_eq!(a["rows"].as_array().map(Vec::len), Some(0), "{a}");
    let World { mut server, index, .. } = w;
    index.close().await;
    server.stop();
}

/// Hostile input to the recognition and priors endpoints gets the right
/// refusal before any work: oversize fields and bodies, unknown fields,
/// bad dates and groupings, overlong ids; nothing crashes and the server
/// answers normally afterwards.
#[tokio::test(flavor = "multi_thread")]
async fn recognition_endpoints_refuse_hostile_input() {
    let w = world("").await;
    let http = w.server.http_port;
    let his = [("Authorization", format!("Bearer {}", w.his_b))];
    let his: Vec<(&str, &str)> = his.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let chen = session_of(&login(http, "chen", PASSWORD, None));
    let cookie = [("Cookie", chen.as_str())];
    let post = |path: &str, headers: &[(&str, &str)], b: &Value| request(http, "POST", path, headers, Some(b)).status;
    let get = |path: &str, headers: &[(&str, &str)]| request(http, "GET", path, headers, None).status;

    let mut long = order_of("HIS-H");
    long["patient_id"] = json!("9".repeat(10_000));
    assert_eq!(post("/api/recognition/candidates", &his, &long), 400, "an overlong patient id");
    let mut unknown = order_of("HIS-H");
    unknown["sql"] = json!("' OR 1=1 --");
    assert_eq!(post("/api/recognition/candidates", &his, &unknown), 422, "unknown fields are refused");
    let mut date = order_of("HIS-H");
    date["order_date"] = json!("2026-13-45");
    assert_eq!(post("/api/recognition/candidates", &his, &date), 400, "a date that does not exist");
    let bearer = his[0].1;
    assert_eq!(declared(http, "POST", "/api/recognition/candidates", bearer, (2 << 20) + 4096), 413, "a body past the 2 MiB limit");

    let order = body(&request(http, "POST", "/api/recognition/candidates", &his, Some(&order_of("HIS-OK"))))["order_id"]
        .as_str()
        .unwrap()
        .to_string();
    let decisions = format!("/api/recognition/orders/{order}/decisions");
    let note = json!({"study_instance_uid": w.study_uid, "outcome": "not-recognised", "reason": "6", "patient_informed": true,
                      "note": "x".repeat(100_000)});
    assert_eq!(post(&decisions, &cookie, &note), 400, "an overlong note");
    let reason = json!({"study_instance_uid": w.study_uid, "outcome": "not-recognised", "reason": "DROP TABLE", "patient_informed": true});
    assert_eq!(post(&decisions, &cookie, &reason), 400, "a reason that is neither standard nor local");
    let not_offered = json!({"study_instance_uid": "1.2.3.4", "outcome": "recognised"});
    assert_eq!(post(&decisions, &cookie, &not_offered), 400, "a study the order did not offer");
    let long_id = "r".repeat(10_000);
    assert_eq!(get(&format!("/api/recognition/orders/{long_id}"), &his), 404);
    assert_eq!(post(&format!("/api/recognition/orders/{long_id}/open"), &cookie, &json!({"study_instance_uid": "1.2"})), 404);
    assert_eq!(post(&format!("/api/recognition/orders/{order}/open"), &cookie, &json!({"study_instance_uid": "1".repeat(100)})), 400);
    assert_eq!(get(&format!("/api/recognition/orders/{order}/record?study={}", "1".repeat(1000)), &his), 400);
    assert_eq!(get(&format!("/api/studies/{}/priors", "1".repeat(100)), &cookie), 400);

    for query in ["from=2026-99&to=2026-12", "from=2026-01&to=2026-12&group=patient", "from=x&to=y", "to=2026-12"] {
        assert_eq!(get(&format!("/api/recognition/statistics?{query}"), &his), 400, "{query}");
    }
    let platform = {
        let out = run(cli(&w.data).args(["key", "add", "Region platform", "--platform", "--scopes", "recognition"]));
        format!("Bearer {}", String::from_utf8(out.stdout).unwrap().trim())
    };
    assert_eq!(declared(http, "PUT", "/api/recognition/marks", &platform, (64 << 20) + 4096), 413, "a list of marks past 64 MiB");
    // The EMPI's review queue: for the patient index's managers only.
    assert_eq!(get("/api/empi/reviews", &cookie), 403, "a doctor does not review identities");
    let mpi = format!("Bearer {}", w.mpi_b);
    let queue = request(http, "GET", "/api/empi/reviews?open=false", &[("Authorization", &mpi)], None);
    assert_eq!(queue.status, 200, "{}", String::from_utf8_lossy(&queue.body));
    assert_eq!(body(&queue)["reviews"].as_array().map(Vec::len), Some(0), "nothing in doubt here");
    assert_eq!(post("/api/empi/reviews/999", &[("Authorization", &mpi)], &json!({"same_as": null})), 404);
    assert_eq!(post("/api/empi/reviews/1", &[("Authorization", &mpi)], &json!({"same_as": "x"})), 422);
    // Still serving.
    assert_eq!(post("/api/recognition/candidates", &his, &order_of("HIS-OK")), 200);
    let World { mut server, index, .. } = w;
    index.close().await;
    server.stop();
}

/// The status of a request with a `len`-byte JSON body (a string padded
/// with spaces): a body over the limit is refused once the limit is read.
fn declared(port: u16, method: &str, path: &str, authorization: &str, len: usize) -> u16 {
    use std::io::Write;
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: {authorization}\r\nContent-Type: application/json\r\n\
         Content-Length: {len}\r\nConnection: close\r\n\r\n"
    );
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(head.as_bytes()).unwrap();
    let mut body = vec![b' '; len];
    body[0] = b'"';
    body[len - 1] = b'"';
    // The server may answer and close before it all went: that is the point.
    let _ = s.write_all(&body);
    let (answer, _) = crate::wire::read_until_closed(&mut s, Duration::from_secs(10));
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no HTTP answer: {text:?}"))
}
