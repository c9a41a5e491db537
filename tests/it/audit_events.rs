//! Every access on the record: each way into a patient's images (QIDO-RS,
//! metadata, rendered and frames, WADO-RS, STOW-RS, C-FIND, C-MOVE,
//! C-GET, C-STORE, a cloud film opened, viewed and downloaded, a grant
//! given and used, a break-glass, a refused request, a failed sign-in) is
//! performed on the real server, and the audit events it leaves are read
//! back: exactly the expected ones (kind, result, principal, institution,
//! via, studies, patients as digests), views batched into one event per
//! sitting, and no patient name, ID or birth date in any body.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use yunying_audit::Event;
use yunying_index::Index;

use crate::film::{API_TOKEN, Reply, request, token_of};
use crate::harness::*;
use crate::people::{PASSWORD, add_user, login, session_of};

/// No anonymous access; views quiet for a second are a sitting's end.
fn config() -> String {
    format!(
        "[access]\nanonymous = \"nobody\"\n[dicom]\nunknown_callers = \"echo\"\n[audit]\nview_batch_secs = 1\n[http]\napi_token = {API_TOKEN:?}\n"
    )
}

/// The test patients' identifying values: never in any event.
const NAME_A: &str = "Zhao^Audit";
const ID_A: &str = "AUD-PID-1";
const NAME_S: &str = "Qian^Stowed";
const ID_S: &str = "AUD-PID-2";

/// Every event recorded so far (the ledger's, then those pending).
async fn recorded(index: &Index) -> Vec<(String, Event)> {
    let bodies = index.recorded_audit_bodies().await.unwrap();
    bodies.into_iter().map(|b| (b.clone(), Event::parse(&b).unwrap_or_else(|e| panic!("{e}: {b}")))).collect()
}

/// The events recorded after the first `mark` (but the EMPI linker's
/// `patients-linked`, which follows an ingest whenever the linker next
/// runs: `tests/it/empi.rs` checks it), once `done` holds for them
/// (polled for at most 15 s), and once nothing more has come for 2.5 s
/// (a view sitting ends a second after its last view, and the batcher
/// ticks every second): so a count is exact, not "at least".
async fn settle(index: &Index, mark: usize, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let events = after(index, mark).await;
        if done(&events) {
            break;
        }
        assert!(Instant::now() < deadline, "expected events not recorded within 15 s: {:#?}", kinds(&events));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    after(index, mark).await
}

async fn after(index: &Index, mark: usize) -> Vec<Event> {
    recorded(index).await.into_iter().skip(mark).map(|(_, e)| e).filter(|e| e.event != "patients-linked").collect()
}

/// `event/result` of each, sorted.
fn kinds(events: &[Event]) -> Vec<String> {
    let mut k: Vec<String> = events.iter().map(|e| format!("{}/{}", e.event, e.result)).collect();
    k.sort();
    k
}

/// The instances the `digest-recorded` events among `events` name: SOP
/// Instance UID → (SHA-256, SM3).
fn digests_of(events: &[Event]) -> std::collections::BTreeMap<String, (String, String)> {
    let mut named = std::collections::BTreeMap::new();
    for e in events.iter().filter(|e| e.event == "digest-recorded") {
        assert_eq!((e.principal.as_str(), e.facts["algorithm"].as_str()), ("system", Some("sm3")), "{e:?}");
        for i in e.facts["instances"].as_array().unwrap() {
            let text = |k: &str| i[k].as_str().unwrap_or_default().to_string();
            named.insert(text("sop_instance_uid"), (text("sha256"), text("sm3")));
        }
    }
    named
}

/// `events` without the `digest-recorded` ones.
fn without_digests(events: Vec<Event>) -> Vec<Event> {
    events.into_iter().filter(|e| e.event != "digest-recorded").collect()
}

fn has(events: &[Event], kind: &str, n: usize) -> bool {
    events.iter().filter(|e| format!("{}/{}", e.event, e.result) == kind).count() >= n
}

/// The one event of `kind` among `events`.
fn one<'a>(events: &'a [Event], kind: &str) -> &'a Event {
    let found: Vec<&Event> = events.iter().filter(|e| format!("{}/{}", e.event, e.result) == kind).collect();
    assert_eq!(found.len(), 1, "one {kind}: {:#?}", kinds(events));
    found[0]
}

fn tag_text(file: &Path, tag: dicom_core::Tag) -> String {
    let object = dicom_object::open_file(file).unwrap();
    object.element(tag).unwrap().to_str().unwrap().trim_end_matches(['\0', ' ']).to_string()
}

fn storescu(port: u16, aet: &str, dir: &Path) -> std::process::Output {
    dcmtk("storescu").args(["-aet", aet, "-aec", "YUNYING", "+sd", "+r", "127.0.0.1", &port.to_string()]).arg(dir).output().unwrap()
}

fn get(port: u16, path: &str, cookie: &str) -> Reply {
    request(port, "GET", path, &[("Cookie", cookie)], None)
}

fn post(port: u16, path: &str, cookie: &str, body: &Value) -> Reply {
    request(port, "POST", path, &[("Cookie", cookie)], Some(body))
}

async fn user_id(index: &Index, name: &str) -> String {
    format!("person:{}", index.user_by_name(name).await.unwrap().unwrap().user_id)
}

/// A patient digest: 64 hex digits (HMAC-SM3).
fn is_digest(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_access_path_leaves_exactly_its_events_and_no_patient_data() {
    use dicom_dictionary_std::tags;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let sink_port = free_port();
    for (title, port, institution, allow) in [
        ("CT_A", 104, "HOSP_A", "store"),
        ("CT_B", 104, "HOSP_B", "store"),
        ("PACS_A", 104, "HOSP_A", "find,get,move"),
        ("SINK_A", sink_port, "HOSP_A", "none"),
    ] {
        run(cli(&data).args([
            "ae",
            "add",
            title,
            "127.0.0.1",
            &port.to_string(),
            "--institution",
            institution,
            "--new-institution",
            "--allow",
            allow,
        ]));
    }
    add_user(&data, "rad-a", Some("HOSP_A"), "radiologist");
    add_user(&data, "rad-b", Some("HOSP_B"), "radiologist");
    add_user(&data, "ref-b", Some("HOSP_B"), "referring");
    let stow_out = run(cli(&data).args(["key", "add", "gateway A", "--institution", "HOSP_A", "--scopes", "stow"]));
    let stow_key = String::from_utf8(stow_out.stdout).unwrap().trim().to_string();
    let mut server = Server::start(&data, Some(&config()));
    let (http, dicom) = (server.http_port, server.dicom_port);
    let index = server.index().await;
    let all = recorded(&index).await;
    let k: Vec<Event> = all.iter().map(|(_, e)| e.clone()).collect();
    assert_eq!(k.iter().filter(|e| e.event == "ae-registered" && e.principal == "cli").count(), 4, "{:#?}", kinds(&k));
    let started = one(&k, "node-started/ok");
    assert!(is_digest(started.facts["config_sm3"].as_str().unwrap()) && started.facts["version"].is_string(), "{started:?}");
    let rad_a_id = user_id(&index, "rad-a").await;
    let rad_b_id = user_id(&index, "rad-b").await;

    // C-STORE by a modality of hospital A: one ingest event for the
    // association's study, every instance named with its digest.
    let dir = tmp.path().join("a");
    gen_ct_with(&dir, 2, 32, 21, &["--patient-id", ID_A, "--patient-name", NAME_A, "-q"]);
    let files = files_under(&dir);
    let (study, series) = (tag_text(&files[0], tags::STUDY_INSTANCE_UID), tag_text(&files[0], tags::SERIES_INSTANCE_UID));
    let sop = tag_text(&files[0], tags::SOP_INSTANCE_UID);
    let birth = tag_text(&files[0], tags::PATIENT_BIRTH_DATE);
    let mark = recorded(&index).await.len();
    assert!(storescu(dicom, "CT_A", &dir).status.success());
    // The SM3 of each comes after the sender heard success, in
    // `digest-recorded` events naming the SHA-256 it goes with.
    let events = settle(&index, mark, |e| has(e, "ingest/ok", 1) && digests_of(e).len() == 2).await;
    let digests = digests_of(&events);
    let events = without_digests(events);
    assert_eq!(kinds(&events), ["ingest/ok"]);
    let e = &events[0];
    assert_eq!((e.principal.as_str(), e.institution.as_str(), e.studies.clone()), ("ae:CT_A", "HOSP_A", vec![study.clone()]));
    assert_eq!(
        (e.facts["face"].as_str(), e.facts["calling_ae"].as_str(), e.facts["count"].as_u64()),
        (Some("c-store"), Some("CT_A"), Some(2))
    );
    let instances = e.facts["instances"].as_array().unwrap();
    assert!(instances.iter().any(|i| i["sop_instance_uid"] == sop.as_str()), "{instances:?}");
    assert!(instances.iter().all(|i| i["sha256"].as_str().is_some_and(is_digest) && i["sop_class_uid"].is_string()), "{instances:?}");
    for i in instances {
        let sop = i["sop_instance_uid"].as_str().unwrap();
        let (sha256, sm3) = digests.get(sop).unwrap_or_else(|| panic!("no SM3 recorded for {sop}: {digests:?}"));
        assert_eq!(i["sha256"].as_str(), Some(sha256.as_str()), "the SM3 is of the object the ingest event named");
        assert!(is_digest(sm3));
        let row = index.instance(sop).await.unwrap().expect("indexed");
        assert_eq!(row.sm3.as_deref(), Some(sm3.as_str()), "the index records the SM3 the ledger names");
    }

    // Hospital B's modality sending an instance of A's study: refused, on
    // the record.
    let mark = recorded(&index).await.len();
    let _ = storescu(dicom, "CT_B", &files[0]);
    let events = settle(&index, mark, |e| has(e, "ingest/refused", 1)).await;
    assert_eq!(kinds(&events), ["ingest/refused"]);
    assert_eq!((events[0].principal.as_str(), events[0].institution.as_str()), ("ae:CT_B", "HOSP_B"));
    assert_eq!(events[0].facts["instances"][0]["status"], "0124");

    // QIDO-RS: one query event; the patient's name and ID were given, their
    // values are not kept.
    let rad_a = session_of(&login(http, "rad-a", PASSWORD, None));
    let mark = recorded(&index).await.len();
    let found = get(http, &format!("/dicom-web/studies?PatientID={ID_A}&PatientName=Zhao*&ModalitiesInStudy=CT"), &rad_a);
    assert_eq!(found.status, 200, "{}", String::from_utf8_lossy(&found.body));
    let events = settle(&index, mark, |e| has(e, "query/ok", 1)).await;
    assert_eq!(kinds(&events), ["query/ok"]);
    let q = &events[0];
    assert_eq!((q.principal.as_str(), q.institution.as_str()), (rad_a_id.as_str(), "HOSP_A"));
    assert_eq!((q.facts["face"].as_str(), q.facts["level"].as_str(), q.facts["count"].as_u64()), (Some("qido-rs"), Some("STUDY"), Some(1)));
    assert_eq!(q.facts["keys"], json!({"ModalitiesInStudy": "CT"}));
    assert_eq!(q.facts["withheld"], json!(["PatientID", "PatientName"]));

    // Viewing: metadata, a rendered image and frames of the study are one
    // sitting, one study-viewed event.
    let base = format!("/dicom-web/studies/{study}/series/{series}/instances/{sop}");
    let mark = recorded(&index).await.len();
    for path in [format!("/dicom-web/studies/{study}/metadata"), format!("{base}/rendered"), format!("{base}/frames/1")] {
        assert_eq!(get(http, &path, &rad_a).status, 200, "{path}");
    }
    let events = settle(&index, mark, |e| has(e, "study-viewed/ok", 1)).await;
    assert_eq!(kinds(&events), ["study-viewed/ok"]);
    let v = &events[0];
    assert_eq!((v.principal.as_str(), v.institution.as_str(), v.via.as_str()), (rad_a_id.as_str(), "HOSP_A", ""));
    assert_eq!(v.studies, std::slice::from_ref(&study));
    assert_eq!(v.facts["requests"], 3);
    assert_eq!(v.facts["items"], json!({"metadata": 1, "rendered": 1, "frames": 1}));
    assert_eq!(v.facts["series"], json!([series]));

    // WADO-RS retrieval of the whole study: a sitting of its own.
    let mark = recorded(&index).await.len();
    assert_eq!(get(http, &format!("/dicom-web/studies/{study}"), &rad_a).status, 200);
    let events = settle(&index, mark, |e| has(e, "study-viewed/ok", 1)).await;
    assert_eq!(kinds(&events), ["study-viewed/ok"]);
    assert_eq!(events[0].facts["items"], json!({"study": 1}));

    // STOW-RS with hospital A's gateway key: one ingest event.
    let stow_dir = tmp.path().join("stow");
    gen_ct_with(&stow_dir, 1, 16, 22, &["--patient-id", ID_S, "--patient-name", NAME_S, "-q"]);
    let stow_file_path = files_under(&stow_dir)[0].clone();
    let stowed = tag_text(&stow_file_path, tags::STUDY_INSTANCE_UID);
    let mark = recorded(&index).await.len();
    let (status, body) = stow_file(http, &stow_file_path, &[("Authorization", &format!("Bearer {stow_key}"))]);
    assert_eq!(status, 200, "{body}");
    let events = settle(&index, mark, |e| has(e, "ingest/ok", 1) && digests_of(e).len() == 1).await;
    let events = without_digests(events);
    assert_eq!(kinds(&events), ["ingest/ok"]);
    assert!(events[0].principal.starts_with("key:") && events[0].institution == "HOSP_A");
    assert_eq!((events[0].facts["face"].as_str(), events[0].studies.clone()), (Some("stow-rs"), vec![stowed.clone()]));

    // C-FIND by hospital A's PACS.
    let mark = recorded(&index).await.len();
    let out = dcmtk("findscu")
        .args(["-S", "-aet", "PACS_A", "-aec", "YUNYING", "127.0.0.1", &dicom.to_string()])
        .args(["-k", "QueryRetrieveLevel=STUDY", "-k", &format!("PatientID={ID_A}"), "-k", "StudyInstanceUID"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let events = settle(&index, mark, |e| has(e, "query/ok", 1)).await;
    assert_eq!(kinds(&events), ["query/ok"]);
    let f = &events[0];
    assert_eq!((f.principal.as_str(), f.facts["face"].as_str(), f.facts["level"].as_str()), ("ae:PACS_A", Some("c-find"), Some("STUDY")));
    assert_eq!((f.facts["withheld"].clone(), f.facts["count"].as_u64()), (json!(["PatientID"]), Some(1)));

    // C-MOVE to hospital A's archive, and C-GET: one retrieve event each.
    let mark = recorded(&index).await.len();
    {
        let sink = tmp.path().join("sink");
        std::fs::create_dir_all(&sink).unwrap();
        let _scp = crate::qr::StoreScp::start("SINK_A", sink_port, &sink);
        let _ = dcmtk("movescu")
            .args(["-S", "-aet", "PACS_A", "-aec", "YUNYING", "-aem", "SINK_A", "127.0.0.1", &dicom.to_string()])
            .args(["-k", "QueryRetrieveLevel=STUDY", "-k", &format!("StudyInstanceUID={study}")])
            .output()
            .unwrap();
        assert_eq!(files_under(&sink).len(), 2, "moved");
    }
    let get_dir = tmp.path().join("get");
    std::fs::create_dir_all(&get_dir).unwrap();
    run(dcmtk("getscu").current_dir(&get_dir).args(["-S", "-aet", "PACS_A", "-aec", "YUNYING", "-od"]).arg(&get_dir).args([
        "127.0.0.1",
        &dicom.to_string(),
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        &format!("StudyInstanceUID={study}"),
    ]));
    assert_eq!(files_under(&get_dir).len(), 2, "got");
    let events = settle(&index, mark, |e| has(e, "retrieve/ok", 2)).await;
    assert_eq!(kinds(&events), ["retrieve/ok", "retrieve/ok"]);
    let moved = events.iter().find(|e| e.facts["face"] == "c-move").expect("the C-MOVE's event");
    assert_eq!((moved.principal.as_str(), moved.facts["destination"].as_str()), ("ae:PACS_A", Some("SINK_A")));
    assert_eq!(
        (moved.studies.clone(), moved.facts["completed"].as_u64(), moved.facts["failed"].as_u64()),
        (vec![study.clone()], Some(2), Some(0))
    );
    let got = events.iter().find(|e| e.facts["face"] == "c-get").expect("the C-GET's event");
    assert_eq!((got.studies.clone(), got.facts["completed"].as_u64()), (vec![study.clone()], Some(2)));

    // Refused: hospital B's radiologist on A's study; a store key searching.
    let rad_b = session_of(&login(http, "rad-b", PASSWORD, None));
    let mark = recorded(&index).await.len();
    assert_eq!(get(http, &format!("/dicom-web/studies/{study}/metadata"), &rad_b).status, 403);
    let search = request(http, "GET", "/dicom-web/studies", &[("Authorization", &format!("Bearer {stow_key}"))], None);
    assert_eq!(search.status, 403);
    let events = settle(&index, mark, |e| has(e, "dicomweb/denied", 1) && has(e, "query/denied", 1)).await;
    assert_eq!(kinds(&events), ["dicomweb/denied", "query/denied"]);
    let d = one(&events, "dicomweb/denied");
    assert_eq!((d.principal.as_str(), d.institution.as_str(), d.studies.clone()), (rad_b_id.as_str(), "HOSP_B", vec![study.clone()]));

    // A referral to hospital B, then used: given, reached through it, viewed through it.
    let mark = recorded(&index).await.len();
    let body = json!({"kind": "referral", "to_institution": "HOSP_B", "studies": [study], "reason": "consultation", "minutes": 60});
    let grant = post(http, "/api/access/grants", &rad_a, &body);
    assert_eq!(grant.status, 201, "{}", String::from_utf8_lossy(&grant.body));
    let grant_id = grant.json()["grant_id"].as_str().unwrap().to_string();
    for _ in 0..3 {
        assert_eq!(get(http, &format!("/dicom-web/studies/{study}/metadata"), &rad_b).status, 200);
    }
    let events = settle(&index, mark, |e| has(e, "study-viewed/ok", 1)).await;
    assert_eq!(kinds(&events), ["grant-given/ok", "study-accessed/ok", "study-viewed/ok"]);
    let via = format!("grant:{grant_id}");
    assert_eq!(
        (one(&events, "grant-given/ok").principal.as_str(), one(&events, "grant-given/ok").via.as_str()),
        (rad_a_id.as_str(), via.as_str())
    );
    // The access layer's own events name the principal's institution too
    // (a search of the record by institution finds them).
    assert_eq!(one(&events, "grant-given/ok").institution, "HOSP_A");
    assert_eq!(one(&events, "study-accessed/ok").institution, "HOSP_B");
    let viewed = one(&events, "study-viewed/ok");
    assert_eq!(
        (viewed.principal.as_str(), viewed.via.as_str(), viewed.facts["requests"].as_u64()),
        (rad_b_id.as_str(), via.as_str(), Some(3))
    );

    // Break-glass by hospital B's referring doctor on the stowed study.
    let ref_b = session_of(&login(http, "ref-b", PASSWORD, None));
    let mark = recorded(&index).await.len();
    let body = json!({"kind": "break-glass", "studies": [stowed], "reason": "emergency: unconscious patient", "minutes": 30});
    let bg = post(http, "/api/access/grants", &ref_b, &body);
    assert_eq!(bg.status, 201, "{}", String::from_utf8_lossy(&bg.body));
    assert_eq!(get(http, &format!("/dicom-web/studies/{stowed}/metadata"), &ref_b).status, 200);
    let events = settle(&index, mark, |e| has(e, "study-viewed/ok", 1)).await;
    assert_eq!(kinds(&events), ["break-glass/ok", "study-accessed/ok", "study-viewed/ok"]);
    assert_eq!(one(&events, "break-glass/ok").studies, std::slice::from_ref(&stowed));
    assert!(one(&events, "study-viewed/ok").via.starts_with("grant:"));

    // A failed sign-in.
    let mark = recorded(&index).await.len();
    assert_eq!(login(http, "rad-a", "wrong-password-1", None).status, 401);
    let events = settle(&index, mark, |e| has(e, "sign-in/denied", 1)).await;
    assert_eq!(kinds(&events), ["sign-in/denied"]);
    assert_eq!((events[0].principal.as_str(), events[0].institution.as_str()), (rad_a_id.as_str(), "HOSP_A"));

    // A cloud film: made, opened, verified (which shows the page), its
    // page again, an image, downloaded.
    let mark = recorded(&index).await.len();
    let made = request(http, "POST", "/api/films", &[("Authorization", &format!("Bearer {API_TOKEN}"))], Some(&json!({"study": study})));
    assert_eq!(made.status, 201, "{}", String::from_utf8_lossy(&made.body));
    let made = made.json();
    let film_id = made["film"]["film_id"].as_str().unwrap().to_string();
    let token = token_of(made["url"].as_str().unwrap());
    assert_eq!(request(http, "POST", "/api/film/open", &[], Some(&json!({"token": token}))).status, 200);
    let answer = format!("{}-{}-{}", &birth[..4], &birth[4..6], &birth[6..]);
    let right = request(http, "POST", "/api/film/verify", &[], Some(&json!({"token": token, "answer": answer})));
    assert_eq!(right.status, 200, "{}", String::from_utf8_lossy(&right.body));
    let (cookie, _) = right.cookie();
    assert_eq!(get(http, &format!("/api/film/{film_id}/info"), &cookie).status, 200);
    assert_eq!(get(http, &format!("/api/film/{film_id}/dicom-web/studies/{study}/thumbnail"), &cookie).status, 200);
    assert_eq!(get(http, &format!("/api/film/{film_id}/download"), &cookie).status, 200);
    let events = settle(&index, mark, |e| has(e, "study-viewed/ok", 1) && has(e, "film-downloaded/ok", 1)).await;
    assert_eq!(
        kinds(&events),
        [
            "film-created/ok",
            "film-downloaded/ok",
            "film-downloaded/started",
            "film-opened/ok",
            "film-verify/ok",
            "film-viewed/ok",
            "film-viewed/ok",
            "study-viewed/ok"
        ]
    );
    let film_via = format!("film:{film_id}");
    for e in &events {
        assert_eq!(e.studies, std::slice::from_ref(&study), "{e:?}");
        if e.event.starts_with("film-") {
            assert_eq!(e.via, film_via, "{e:?}");
        }
    }
    assert_eq!(one(&events, "film-created/ok").principal, "config:http.api_token");
    assert!(events.iter().filter(|e| e.event == "film-viewed").all(|e| e.principal == film_via));
    assert_eq!(one(&events, "study-viewed/ok").principal, film_via, "views inside the film are the film's");

    // A graceful stop flushes and says so.
    assert!(server.stop().success());
    let all = recorded(&index).await;
    assert_eq!(all.last().unwrap().1.event, "node-stopped");
    // Every event that names a study names its patient by digest only, and
    // no body holds a test patient's name, ID or birth date.
    for (body, e) in &all {
        if !e.studies.is_empty() {
            assert!(!e.patients.is_empty() && e.patients.iter().all(|p| is_digest(&p.digest)), "{body}");
        }
        for secret in [NAME_A, "Zhao", ID_A, NAME_S, "Qian", ID_S, birth.as_str()] {
            assert!(!body.contains(secret), "{secret} in {body}");
        }
    }
    let a_digest = &one(&all.iter().map(|(_, e)| e.clone()).collect::<Vec<_>>(), "film-created/ok").patients[0].digest.clone();
    assert!(
        all.iter().filter(|(_, e)| e.studies == [study.clone()]).all(|(_, e)| &e.patients[0].digest == a_digest),
        "one patient, one digest"
    );
}
