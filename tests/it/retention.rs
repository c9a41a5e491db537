//! Retention and deletion on the real server: a synthetic archive of
//! studies of mixed ages (StudyDate, or none: the arrival day) and
//! patient classes, the policy table, legal holds, the two-person rule,
//! refused and expired requests, the purge; then every read path (QIDO-RS,
//! WADO-RS, C-FIND) and the store's listing. And IOCM: a rejection note
//! hides instances at once, and only an approval purges them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::film::{Reply, request};
use crate::harness::*;
use crate::people::{PASSWORD, add_user, enrolled, login, session_of};
use crate::qr::findscu;

/// Loopback requests without credentials read everything (QIDO-RS and
/// WADO-RS below need no session); the purge runs only when asked.
const CONFIG: &str = "[access]\nanonymous = \"loopback\"\n[retention]\npurge_interval_secs = 0\nscan_interval_secs = 0\n";

fn study_of(file: &Path) -> String {
    let object = dicom_object::open_file(file).unwrap();
    object.element(dicom_dictionary_std::tags::STUDY_INSTANCE_UID).unwrap().to_str().unwrap().trim_end_matches('\0').to_string()
}

fn fixture(args: &[&str]) {
    run(python().arg(format!("{ROOT}/tests/py/retention.py")).args(args));
}

/// A one-study CT of `patient` at `institution` with this StudyDate
/// ("" for none), imported before the server starts; its Study UID.
fn study(tmp: &Path, data: &Path, seed: u64, institution: &str, patient: &str, date: &str, inpatient: bool) -> (String, PathBuf) {
    let dir = tmp.join(format!("s{seed}"));
    gen_ct_with(&dir, 2, 16, seed, &["--patient-id", patient, "-q"]);
    let mut args = vec!["date", dir.to_str().unwrap(), date];
    if inpatient {
        args.push("--inpatient");
    }
    fixture(&args);
    run(cli(data).args(["import", "--quiet", "--institution", institution]).arg(&dir));
    (study_of(&files_under(&dir)[0]), dir)
}

fn call(port: u16, method: &str, path: &str, cookie: &str, body: Option<&Value>) -> Reply {
    request(port, method, path, &[("Cookie", cookie)], body)
}

fn ok(r: Reply) -> Value {
    assert!((200..300).contains(&r.status), "{}: {}", r.status, String::from_utf8_lossy(&r.body));
    if r.body.is_empty() { Value::Null } else { r.json() }
}

/// The studies QIDO-RS finds.
fn qido_studies(port: u16) -> Vec<String> {
    let r = request(port, "GET", "/dicom-web/studies", &[], None);
    if r.status == 204 {
        return Vec::new();
    }
    let v: Vec<Value> = serde_json::from_slice(&r.body).unwrap();
    let mut uids: Vec<String> = v.iter().map(|s| s["0020000D"]["Value"][0].as_str().unwrap().to_string()).collect();
    uids.sort();
    uids
}

/// The studies C-FIND finds.
fn cfind_studies(port: u16) -> Vec<String> {
    let (found, status) = findscu(port, "-S", &["QueryRetrieveLevel=STUDY", "StudyInstanceUID"]);
    assert!(status.contains("Success"), "{status}");
    let mut uids: Vec<String> = found.iter().filter_map(|i| i.get("0020,000D").cloned()).collect();
    uids.sort();
    uids
}

fn cli_json(data: &Path, args: &[&str]) -> Value {
    let out = run(cli(data).args(args));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn events(port: u16, auditor: &str) -> Vec<Value> {
    ok(call(port, "GET", "/api/audit/access-events?limit=10000", auditor, None)).as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_purge_deletes_what_policy_and_a_second_person_approve_and_nothing_held() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let data = t.join("data");
    // HOSP_A: outpatient, 21 years old (15: expired); inpatient, 21 (30: kept);
    // unknown, 21 (the longest, 30: kept); unknown, 36 (expired); outpatient,
    // 26 but its patient is on hold; no StudyDate (arrived today: kept).
    let (old_out, _) = study(t, &data, 1, "HOSP_A", "RA1", "20050101", false);
    let (old_in, _) = study(t, &data, 2, "HOSP_A", "RA2", "20050101", true);
    let (old_unknown, _) = study(t, &data, 3, "HOSP_A", "RA3", "20050101", false);
    let (ancient, _) = study(t, &data, 4, "HOSP_A", "RA4", "19900101", false);
    let (held, _) = study(t, &data, 5, "HOSP_A", "RH1", "20000101", false);
    let (undated, _) = study(t, &data, 6, "HOSP_A", "RA6", "", false);
    // HOSP_B keeps outpatients 25 years: 21 years old is kept.
    let (b_out, _) = study(t, &data, 7, "HOSP_B", "RB1", "20050101", false);
    for (name, role, institution) in [
        ("sys1", "system-admin", None),
        ("sys2", "system-admin", None),
        ("auditor", "audit-admin", None),
        ("adm-b", "institution-admin", Some("HOSP_B")),
    ] {
        add_user(&data, name, institution, role);
    }
    register_ae(&data, "FINDSCU", 104, None);
    let server = Server::start(&data, Some(CONFIG));
    let port = server.http_port;
    let index = server.index().await;
    wait_for_jobs(&index, std::time::Duration::from_secs(120)).await;
    let (sys1, sys2, auditor, adm_b) =
        (enrolled(port, "sys1").0, enrolled(port, "sys2").0, enrolled(port, "auditor").0, enrolled(port, "adm-b").0);

    // Classes, a policy row, a hold.
    for s in [&old_out, &held, &b_out] {
        ok(call(port, "POST", &format!("/api/admin/retention/studies/{s}/class"), &sys1, Some(&json!({"class": "outpatient"}))));
    }
    ok(call(
        port,
        "POST",
        "/api/admin/retention/policies",
        &adm_b,
        Some(&json!({"institution": "HOSP_B", "class": "outpatient", "keep_years": 25})),
    ));
    let refused = call(
        port,
        "POST",
        "/api/admin/retention/policies",
        &adm_b,
        Some(&json!({"institution": "HOSP_A", "class": "outpatient", "keep_years": 1})),
    );
    assert_eq!(refused.status, 403, "an institution administrator sets only its own rows");
    ok(call(
        port,
        "POST",
        "/api/admin/retention/holds",
        &sys1,
        Some(&json!({"issuer": "HOSP_A", "patient_id": "RH1", "reason": "litigation"})),
    ));
    // The audit administrator deletes nothing.
    let r = call(port, "POST", "/api/admin/deletions", &auditor, Some(&json!({"studies": [old_in], "reason": "x"})));
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    let r = call(port, "POST", "/api/admin/deletions", &sys1, Some(&json!({"studies": [held], "reason": "x"})));
    assert_eq!(r.status, 403, "a held study cannot be asked for");

    // The scan asks for exactly the expired studies not held.
    let scan = cli_json(&data, &["retention", "scan"]);
    let mut expired: Vec<String> = scan["expired_studies"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    expired.sort();
    let mut want = vec![old_out.clone(), ancient.clone()];
    want.sort();
    assert_eq!(expired, want, "{scan}");
    assert_eq!(scan["held_skipped"], 1);
    let policy_request = scan["requests"][0].as_str().unwrap().to_string();
    assert_eq!(scan["requests"].as_array().unwrap().len(), 1);

    // The requester never approves their own request; refused and expired
    // requests delete nothing; a hold set after approval stops the purge.
    let own = ok(call(port, "POST", "/api/admin/deletions", &sys1, Some(&json!({"studies": [undated], "reason": "sent twice"}))));
    let own_id = own["request_id"].as_str().unwrap();
    let r = call(port, "POST", &format!("/api/admin/deletions/{own_id}/approve"), &sys1, Some(&json!({})));
    assert_eq!(r.status, 403, "{}", String::from_utf8_lossy(&r.body));
    ok(call(port, "POST", &format!("/api/admin/deletions/{own_id}/refuse"), &sys2, Some(&json!({"note": "keep it"}))));
    let late = yunying_index::DeletionRequestRow {
        request_id: "expiredreq".into(),
        origin: "manual".into(),
        institution: "HOSP_A".into(),
        reason: "test".into(),
        requested_by: "person:someone".into(),
        requested_ms: 1,
        expires_ms: 2,
        state: "pending".into(),
        decided_by: None,
        decided_ms: None,
        note: String::new(),
        executed_ms: None,
        targets: vec![yunying_index::DeletionTarget {
            study_instance_uid: old_in.clone(),
            series_instance_uid: String::new(),
            sop_instance_uid: String::new(),
        }],
    };
    index.create_deletion_request(&late).await.unwrap();
    assert_eq!(call(port, "POST", "/api/admin/deletions/expiredreq/approve", &sys2, Some(&json!({}))).status, 403);
    let blocked =
        ok(call(port, "POST", "/api/admin/deletions", &sys1, Some(&json!({"studies": [old_unknown], "reason": "wrong patient"}))));
    let blocked_id = blocked["request_id"].as_str().unwrap().to_string();
    ok(call(port, "POST", &format!("/api/admin/deletions/{blocked_id}/approve"), &sys2, Some(&json!({}))));
    ok(call(port, "POST", "/api/admin/retention/holds", &sys1, Some(&json!({"study_instance_uid": old_unknown, "reason": "audit"}))));
    ok(call(port, "POST", &format!("/api/admin/deletions/{policy_request}/approve"), &sys2, Some(&json!({"note": "checked"}))));

    let before = server.store_contents();
    let dry = cli_json(&data, &["purge", "--dry-run"]);
    assert_eq!(server.store_contents().len(), before.len(), "a dry run deletes nothing: {dry}");
    let report = cli_json(&data, &["purge"]);
    assert_eq!(report["executed"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(report["executed"][0][0], policy_request.as_str());
    assert_eq!(report["blocked"], json!([blocked_id]));
    let late = ok(call(port, "GET", "/api/admin/deletions/expiredreq", &auditor, None));
    assert_eq!(late["state"], "expired", "{late}");
    assert!(report["objects_deleted"].as_u64().unwrap() >= 4, "{report}");

    // Gone from every read path and the store; the rest untouched.
    let deleted = [old_out.as_str(), ancient.as_str()];
    let mut kept = vec![old_in.clone(), old_unknown.clone(), held.clone(), undated.clone(), b_out.clone()];
    kept.sort();
    assert_eq!(qido_studies(port), kept);
    assert_eq!(cfind_studies(server.dicom_port), kept);
    for s in deleted {
        assert_eq!(request(port, "GET", &format!("/dicom-web/studies/{s}/metadata"), &[], None).status, 404);
        assert_eq!(request(port, "GET", &format!("/dicom-web/studies/{s}"), &[], None).status, 404);
    }
    for s in &kept {
        assert_eq!(request(port, "GET", &format!("/dicom-web/studies/{s}/metadata"), &[], None).status, 200);
    }
    let after = server.store_contents();
    let of_deleted = |k: &String| deleted.iter().any(|s| k.contains(s));
    assert!(before.keys().any(of_deleted), "the deleted studies had objects");
    assert!(!after.keys().any(of_deleted), "no object of a deleted study is left");
    let expect: BTreeMap<&String, &Vec<u8>> = before.iter().filter(|(k, _)| !of_deleted(k)).collect();
    let got: BTreeMap<&String, &Vec<u8>> = after.iter().collect();
    assert_eq!(got, expect, "every other object is byte-identical");
    assert_eq!(cli_json(&data, &["purge"])["objects_deleted"], 0, "a second run finds nothing to do");

    // Every step is on the record (once the server's sequencer has taken
    // what the command line recorded).
    access_events(&server.index().await).await;
    let names: Vec<String> = events(port, &auditor).iter().filter_map(|e| e["event"].as_str().map(str::to_string)).collect();
    for e in [
        "retention-policy-changed",
        "patient-class-set",
        "legal-hold-set",
        "deletion-requested",
        "deletion-approved",
        "deletion-refused",
        "deletion-expired",
        "deletion-blocked",
        "study-deleted",
    ] {
        assert!(names.iter().any(|n| n == e), "{e} recorded: {names:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rejection_note_hides_instances_at_once_and_only_an_approval_purges_them() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let data = t.join("data");
    let dir = t.join("ct");
    gen_ct_with(&dir, 3, 16, 31, &["--patient-id", "RK1", "-q"]);
    run(cli(&data).args(["import", "--quiet", "--institution", "HOSP_A"]).arg(&dir));
    let files = files_under(&dir);
    let study = study_of(&files[0]);
    let sop = |f: &Path| {
        let o = dicom_object::open_file(f).unwrap();
        o.element(dicom_dictionary_std::tags::SOP_INSTANCE_UID).unwrap().to_str().unwrap().trim_end_matches('\0').to_string()
    };
    let (rejected, kept) = (vec![sop(&files[0]), sop(&files[1])], sop(&files[2]));
    let series = {
        let o = dicom_object::open_file(&files[0]).unwrap();
        o.element(dicom_dictionary_std::tags::SERIES_INSTANCE_UID).unwrap().to_str().unwrap().trim_end_matches('\0').to_string()
    };
    let kos = t.join("kos.dcm");
    fixture(&["kos", kos.to_str().unwrap(), "113001", files[0].to_str().unwrap(), files[1].to_str().unwrap()]);
    add_user(&data, "tech-a", Some("HOSP_A"), "technologist");
    add_user(&data, "sys1", None, "system-admin");
    register_ae(&data, "FINDSCU", 104, None);
    let server = Server::start(&data, Some(CONFIG));
    let port = server.http_port;
    wait_for_jobs(&server.index().await, std::time::Duration::from_secs(120)).await;
    let tech = session_of(&login(port, "tech-a", PASSWORD, None));
    let sys1 = enrolled(port, "sys1").0;
    let objects_before = server.object_keys("");

    let (status, body) = stow_file(port, &kos, &[("Cookie", &tech)]);
    assert_eq!(status, 200, "{body}");
    // Hidden at once: QIDO-RS, WADO-RS, renditions.
    let r = request(port, "GET", &format!("/dicom-web/studies/{study}/instances"), &[], None);
    let found: Vec<Value> = serde_json::from_slice(&r.body).unwrap();
    let uids: Vec<&str> = found.iter().filter_map(|i| i["00080018"]["Value"][0].as_str()).collect();
    assert!(uids.contains(&kept.as_str()), "{uids:?}");
    for s in &rejected {
        assert!(!uids.contains(&s.as_str()), "{s} still found");
        let r = request(port, "GET", &format!("/dicom-web/studies/{study}/series/{series}/instances/{s}/metadata"), &[], None);
        assert_eq!(r.status, 404, "{s}: WADO-RS");
    }
    let (finds, _) = findscu(
        server.dicom_port,
        "-S",
        &["QueryRetrieveLevel=IMAGE", &format!("StudyInstanceUID={study}"), &format!("SeriesInstanceUID={series}"), "SOPInstanceUID"],
    );
    let found: Vec<String> = finds.iter().filter_map(|i| i.get("0008,0018").cloned()).collect();
    assert!(rejected.iter().all(|s| !found.contains(s)) && found.contains(&kept), "C-FIND: {found:?}");
    // Kept, withheld, until a person approves.
    assert!(objects_before.iter().all(|k| server.object_keys("").contains(k)), "nothing deleted before approval");
    let pending = ok(call(port, "GET", "/api/admin/deletions?state=pending", &sys1, None));
    let req = &pending["requests"][0];
    assert_eq!(req["origin"], "iocm");
    assert!(req["reason"].as_str().unwrap().contains("113001"), "{req}");
    assert_eq!(req["targets"].as_array().unwrap().len(), 2);
    let id = req["request_id"].as_str().unwrap();
    ok(call(port, "POST", &format!("/api/admin/deletions/{id}/approve"), &sys1, Some(&json!({}))));
    cli_json(&data, &["purge"]);
    let after = server.object_keys("");
    for s in &rejected {
        assert!(!after.iter().any(|k| k.contains(s.as_str())), "{s}'s objects are purged");
    }
    assert!(after.iter().any(|k| k.contains(kept.as_str())), "the other instance stays");
}
