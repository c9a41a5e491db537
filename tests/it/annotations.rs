//! Measurements and annotations that persist as DICOM (issue 29):
//! `POST /api/studies/{uid}/annotations` stores a TID 1500 SR, a
//! presentation state and (with key images) a Key Object Selection document
//! in the study. QIDO-RS finds them; DCMTK's `dsrdump` and dicom3tools'
//! `dciodvfy` read them without error; pydicom and highdicom
//! (`tests/py/annotations_check.py`) read the SR's measurements with their
//! values and units, the arrow's text, and the key images referenced;
//! `GET` gives the newest set back with its windows and key images. A user
//! who may not store nor read gets 403, no credentials 401, bad input 400.
//! And in the viewer (viewer/tests/annotations.test.mjs): measurements, an
//! arrow with text, a key image and a window drawn, saved, reloaded, the
//! same values.

use std::path::Path;
use std::process::Command;

use serde_json::{Value, json};

use crate::film::request;
use crate::harness::*;
use crate::people::{PASSWORD, add_user, login, session_of};

const PATIENT: &str = "Annot^Test=标注^测试";
const COMPREHENSIVE_SR: &str = "1.2.840.10008.5.1.4.1.1.88.33";
const GSPS: &str = "1.2.840.10008.5.1.4.1.1.11.1";
const KOS: &str = "1.2.840.10008.5.1.4.1.1.88.59";

fn dicom_json(port: u16, cookie: &str, path: &str) -> Vec<Value> {
    let r = request(port, "GET", path, &[("Cookie", cookie), ("Accept", "application/dicom+json")], None);
    if r.status == 204 {
        return Vec::new();
    }
    assert_eq!(r.status, 200, "{path}: {}", String::from_utf8_lossy(&r.body));
    r.json().as_array().unwrap().clone()
}

fn v(j: &Value, tag: &str) -> String {
    match &j[tag]["Value"][0] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// dciodvfy: no line starting with "Error".
fn dciodvfy_clean(path: &Path) {
    let out = Command::new("dciodvfy").arg(path).output().expect("dciodvfy (dicom3tools) is installed by scripts/install-deps.sh");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let errors: Vec<&str> = text.lines().filter(|l| l.starts_with("Error")).collect();
    assert!(errors.is_empty(), "dciodvfy {}:\n{}\n{text}", path.display(), errors.join("\n"));
}

fn post(port: u16, study: &str, cookie: Option<&str>, body: &Value) -> crate::film::Reply {
    let headers: Vec<(&str, &str)> = cookie.map(|c| vec![("Cookie", c)]).unwrap_or_default();
    request(port, "POST", &format!("/api/studies/{study}/annotations"), &headers, Some(body))
}

#[tokio::test(flavor = "multi_thread")]
async fn annotations_are_stored_as_sr_and_presentation_state_and_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    gen_ct_with(&src, 4, 128, 41, &["--patient-name", PATIENT, "--charset", "ISO_IR 192", "-q"]);
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet", "--institution", "HOSP_A"]).arg(&src));
    add_user(&data, "li", Some("HOSP_A"), "radiologist");
    add_user(&data, "zhou", Some("HOSP_A"), "referring");
    // No anonymous access from loopback: a request without credentials is 401.
    let server = Server::start(&data, Some("[access]\nanonymous = \"nobody\"\n"));
    let port = server.http_port;
    let li = session_of(&login(port, "li", PASSWORD, None));
    let zhou = session_of(&login(port, "zhou", PASSWORD, None));

    let studies = dicom_json(port, &li, "/dicom-web/studies");
    assert_eq!(studies.len(), 1);
    let study = v(&studies[0], "0020000D");
    let instances = dicom_json(port, &li, &format!("/dicom-web/studies/{study}/instances"));
    assert_eq!(instances.len(), 4);
    let series = v(&instances[0], "0020000E");
    let (a, b) = (v(&instances[0], "00080018"), v(&instances[1], "00080018"));
    let c = v(&instances[2], "00080018");
    let image = |sop: &str| json!({"series_instance_uid": series, "sop_instance_uid": sop, "frame": 1});
    let body = json!({
        "annotations": [
            {"tool": "length", "image": image(&a), "points": [[20.5, 30.25], [80.75, 60.5]], "label": "结节长径", "values": {"length_mm": 45.12}},
            {"tool": "ellipse", "image": image(&b), "points": [[64.0, 40.0], [64.0, 80.0], [50.0, 60.0], [78.0, 60.0]],
             "values": {"area_mm2": 879.6, "mean": -612.5, "std_dev": 33.25, "min": -700.0, "max": -500.0, "intensity_unit": "HU"}},
            {"tool": "angle", "image": image(&a), "points": [[10.0, 10.0], [40.0, 20.0], [30.0, 50.0]], "values": {"angle_deg": 87.5}},
            {"tool": "arrow", "image": image(&a), "points": [[100.0, 100.0], [110.0, 90.0]], "label": "看这里"}
        ],
        "displays": [{"image": image(&a), "window_center": -600.0, "window_width": 1500.0}],
        "key_images": [image(&c), image(&a)]
    });

    // Who may not: no credentials, a clinician who neither stores nor reads.
    assert_eq!(post(port, &study, None, &body).status, 401);
    let refused = post(port, &study, Some(&zhou), &body);
    assert_eq!(refused.status, 403, "{}", String::from_utf8_lossy(&refused.body));
    // Bad input: each answered 400 with a message.
    let mut three = body.clone();
    three["annotations"][0]["points"] = json!([[1.0, 1.0], [2.0, 2.0], [3.0, 3.0]]);
    let mut elsewhere = body.clone();
    elsewhere["annotations"][0]["image"]["sop_instance_uid"] = json!("1.2.3.4.5.6");
    let mut infinite = body.clone();
    infinite["annotations"][1]["values"]["mean"] = json!(1e300);
    let mut long = body.clone();
    long["annotations"][0]["label"] = json!("字".repeat(300));
    let many = json!({"annotations": vec![body["annotations"][0].clone(); 201]});
    let mut key_elsewhere = body.clone();
    key_elsewhere["key_images"][1]["sop_instance_uid"] = json!("1.2.3.4.5.7");
    let mut key_twice = body.clone();
    key_twice["key_images"][1] = image(&c);
    let mut many_keys = body.clone();
    many_keys["key_images"] = json!(vec![image(&a); 101]);
    for (what, bad) in [
        ("three points", &three),
        ("unknown image", &elsewhere),
        ("huge value", &infinite),
        ("long label", &long),
        ("201", &many),
        ("key image not in the study", &key_elsewhere),
        ("key image twice", &key_twice),
        ("101 key images", &many_keys),
    ] {
        let r = post(port, &study, Some(&li), bad);
        assert_eq!(r.status, 400, "{what}: {}", String::from_utf8_lossy(&r.body));
        assert!(r.json()["error"].as_str().is_some_and(|e| !e.is_empty()), "{what}");
    }
    let r = post(port, &study, Some(&li), &json!({"annotations": [], "key_images": []}));
    assert_eq!(r.status, 400, "nothing: {}", String::from_utf8_lossy(&r.body));
    let r = post(port, &study, Some(&li), &json!({"annotations": [{"tool": "lasso"}]}));
    assert!(r.status == 400 || r.status == 422, "unknown tool: {}", r.status);
    let big = json!({"annotations": [], "pad": "x".repeat(2 << 20)});
    assert_eq!(post(port, &study, Some(&li), &big).status, 413);
    // Nothing was stored by any of those.
    assert_eq!(dicom_json(port, &li, &format!("/dicom-web/studies/{study}/instances")).len(), 4);

    // Saved by the radiologist.
    let saved = post(port, &study, Some(&li), &body);
    assert_eq!(saved.status, 201, "{}", String::from_utf8_lossy(&saved.body));
    let saved = saved.json();
    assert_eq!(saved["annotations"], 4);
    assert_eq!(saved["key_images"], 2);
    let sr_uid = saved["sr_sop_instance_uid"].as_str().unwrap().to_string();
    let ps_uid = saved["gsps_sop_instance_uid"].as_str().unwrap().to_string();
    let kos_uid = saved["kos_sop_instance_uid"].as_str().expect("a KOS of the key images").to_string();

    // QIDO-RS finds all three in the study.
    let all = dicom_json(port, &li, &format!("/dicom-web/studies/{study}/instances"));
    assert_eq!(all.len(), 7);
    let kos = all.iter().find(|i| v(i, "00080018") == kos_uid).expect("the key object document in QIDO-RS");
    assert_eq!(v(kos, "00080016"), KOS);
    assert_eq!(v(kos, "00080060"), "KO");
    let sr = all.iter().find(|i| v(i, "00080018") == sr_uid).expect("the SR in QIDO-RS");
    assert_eq!(v(sr, "00080016"), COMPREHENSIVE_SR);
    let ps = all.iter().find(|i| v(i, "00080018") == ps_uid).expect("the presentation state in QIDO-RS");
    assert_eq!(v(ps, "00080016"), GSPS);

    // The stored files, read by DCMTK, dicom3tools, pydicom and highdicom.
    let index = server.index().await;
    let file_of = async |uid: &str| {
        let rows = index.instances_in(&study, None, Some(uid)).await.unwrap();
        let path = tmp.path().join(format!("{uid}.dcm"));
        std::fs::write(&path, server.read_object(&rows[0].stored.object_key)).unwrap();
        path
    };
    let (sr_file, ps_file, kos_file) = (file_of(&sr_uid).await, file_of(&ps_uid).await, file_of(&kos_uid).await);
    let dump = Command::new("dsrdump").args(["+Pl", "+Pu"]).arg(&sr_file).output().expect("dsrdump (dcmtk)");
    let dump_text = format!("{}{}", String::from_utf8_lossy(&dump.stdout), String::from_utf8_lossy(&dump.stderr));
    assert!(dump.status.success() && !dump_text.contains("E: "), "dsrdump:\n{dump_text}");
    assert!(dump_text.contains("Imaging Measurement Report") && dump_text.contains("45.12"), "{dump_text}");
    dciodvfy_clean(&sr_file);
    dciodvfy_clean(&ps_file);
    let dump = Command::new("dsrdump").args(["+Pl", "+Pu"]).arg(&kos_file).output().expect("dsrdump (dcmtk)");
    let dump_text = format!("{}{}", String::from_utf8_lossy(&dump.stdout), String::from_utf8_lossy(&dump.stderr));
    assert!(dump.status.success() && !dump_text.contains("E: "), "dsrdump:\n{dump_text}");
    assert!(dump_text.contains("Key Object Selection Document") && dump_text.contains("Of Interest"), "{dump_text}");
    dciodvfy_clean(&kos_file);

    let out = python()
        .arg(format!("{}/tests/py/annotations_check.py", env!("CARGO_MANIFEST_DIR")))
        .arg(&sr_file)
        .arg(&ps_file)
        .arg(&kos_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "annotations_check.py (highdicom is installed by scripts/install-deps.sh):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let read: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(read["sr_class"], COMPREHENSIVE_SR);
    assert_eq!(read["sr_template"], "1500");
    assert_eq!(read["study"], study.as_str());
    assert_eq!(read["ps_label"], "YUNYING_ANNOT");
    assert_eq!(read["ps_graphics"], 4);
    assert!(read["ps_texts"].as_array().unwrap().iter().any(|t| t == "看这里"), "{read}");
    assert_eq!(read["voi"], json!([{"sop_instance_uid": a, "center": -600.0, "width": 1500.0}]));
    let groups = read["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 4, "{read}");
    let measurement = |g: &Value, code: &str| -> (f64, String) {
        let m = g["measurements"].as_array().unwrap().iter().find(|m| m["code"] == code).unwrap_or_else(|| panic!("{code} in {g}"));
        (m["value"].as_f64().unwrap(), m["unit"].as_str().unwrap().to_string())
    };
    assert_eq!(groups[0]["graphic_type"], "POLYLINE");
    assert_eq!(groups[0]["sop_instance_uid"], a.as_str());
    assert_eq!(groups[0]["tracking_identifier"], "结节长径");
    assert_eq!(measurement(&groups[0], "410668003"), (45.12, "mm".into()));
    assert_eq!(groups[1]["graphic_type"], "ELLIPSE");
    assert_eq!(groups[1]["sop_instance_uid"], b.as_str());
    assert_eq!(measurement(&groups[1], "42798000"), (879.6, "mm2".into()));
    assert_eq!(measurement(&groups[1], "373098007"), (-612.5, "[hnsf'U]".into()));
    assert_eq!(measurement(&groups[1], "386136009"), (33.25, "[hnsf'U]".into()));
    assert_eq!(measurement(&groups[2], "1483009"), (87.5, "deg".into()));
    // The arrow: its line, its text as the tracking identifier (and the presentation state's text above).
    assert_eq!(groups[3]["graphic_type"], "POLYLINE");
    assert_eq!(groups[3]["tracking_identifier"], "看这里");
    // The key object document: "Of Interest", TID 2010, the key images in order, in the evidence too.
    let k = &read["kos"];
    assert_eq!(k["class"], KOS);
    assert_eq!(k["modality"], "KO");
    assert_eq!(k["title"], json!(["113000", "DCM", "Of Interest"]));
    assert_eq!(k["template"], "2010");
    assert_eq!(k["study"], study.as_str());
    assert_eq!(k["images"], json!([c, a]));
    let mut evidence: Vec<String> = k["evidence"].as_array().unwrap().iter().map(|x| x.as_str().unwrap().to_string()).collect();
    evidence.sort();
    let mut want = vec![a.clone(), c.clone()];
    want.sort();
    assert_eq!(evidence, want);
    assert!(groups.iter().all(|g| g["tracking_uid"].as_str().is_some_and(|u| u.starts_with("2.25."))));

    // Read back: the set as saved, by li.
    let get = |cookie: &str| request(port, "GET", &format!("/api/studies/{study}/annotations"), &[("Cookie", cookie)], None);
    let loaded = get(&li).json();
    assert_eq!(loaded["sop_instance_uid"], sr_uid.as_str());
    assert_eq!(loaded["author_id"].as_str().map(|s| s.starts_with("person:")), Some(true), "{loaded}");
    let anns = loaded["annotations"].as_array().unwrap();
    assert_eq!(anns.iter().map(|a| a["tool"].as_str().unwrap()).collect::<Vec<_>>(), ["length", "ellipse", "angle", "arrow"]);
    assert_eq!(anns[0]["points"], json!([[20.5, 30.25], [80.75, 60.5]]));
    assert_eq!(anns[0]["values"]["length_mm"], 45.12);
    assert_eq!(anns[0]["label"], "结节长径");
    assert_eq!(anns[1]["values"]["mean"], -612.5);
    assert_eq!(anns[1]["values"]["intensity_unit"], "HU");
    assert_eq!(anns[1]["image"]["series_instance_uid"], series.as_str());
    assert_eq!(anns[3]["label"], "看这里");
    assert_eq!(loaded["displays"][0]["window_width"], 1500.0);
    let keys = loaded["key_images"].as_array().unwrap();
    assert_eq!(keys.iter().map(|k| k["sop_instance_uid"].as_str().unwrap()).collect::<Vec<_>>(), [c.as_str(), a.as_str()]);
    assert!(keys.iter().all(|k| k["series_instance_uid"] == series.as_str()), "{loaded}");
    // The clinician may read them (a view of the study), not write them.
    assert_eq!(get(&zhou).json()["sop_instance_uid"], sr_uid.as_str());
    assert_eq!(request(port, "GET", &format!("/api/studies/{study}/annotations"), &[], None).status, 401);

    // Saving again: new objects; the newest set is read back.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let second =
        json!({"annotations": [{"tool": "length", "image": image(&b), "points": [[1.0, 2.0], [3.0, 4.0]], "values": {"length_mm": 2.8}}]});
    let again = post(port, &study, Some(&li), &second);
    assert_eq!(again.status, 201, "{}", String::from_utf8_lossy(&again.body));
    assert_eq!(again.json()["kos_sop_instance_uid"], Value::Null);
    let loaded = get(&li).json();
    assert_eq!(loaded["sop_instance_uid"], again.json()["sr_sop_instance_uid"]);
    assert_eq!(loaded["annotations"].as_array().unwrap().len(), 1);
    // Saved without key images: none (the earlier document is older than this set).
    assert_eq!(loaded["key_images"], json!([]));
    assert_eq!(dicom_json(port, &li, &format!("/dicom-web/studies/{study}/instances")).len(), 9);

    // Key images saved alone: only a key object document; they come back with the newest set.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let keys_only = post(port, &study, Some(&li), &json!({"annotations": [], "key_images": [image(&b)]}));
    assert_eq!(keys_only.status, 201, "{}", String::from_utf8_lossy(&keys_only.body));
    let keys_only = keys_only.json();
    assert_eq!((&keys_only["sr_sop_instance_uid"], &keys_only["key_images"]), (&Value::Null, &json!(1)));
    assert!(keys_only["kos_sop_instance_uid"].is_string());
    let loaded = get(&li).json();
    assert_eq!(loaded["sop_instance_uid"], again.json()["sr_sop_instance_uid"]);
    assert_eq!(loaded["annotations"].as_array().unwrap().len(), 1);
    assert_eq!(loaded["key_images"][0]["sop_instance_uid"], b.as_str());
    assert_eq!(dicom_json(port, &li, &format!("/dicom-web/studies/{study}/instances")).len(), 10);
}

/// viewer/tests/annotations.test.mjs: drawn, saved, reloaded.
#[test]
fn viewer_saves_and_restores_annotations() {
    viewer_annotations_in(crate::viewer::CHROMIUM);
}

/// The same in headless Firefox.
#[test]
fn annotations_in_firefox() {
    viewer_annotations_in(crate::viewer::FIREFOX);
}

fn viewer_annotations_in(browser: &str) {
    let dist = crate::viewer::viewer_dist();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    gen_ct_with(&src, 10, 256, 43, &["--patient-name", PATIENT, "--charset", "ISO_IR 192", "-q"]);
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet", "--institution", "HOSP_A"]).arg(&src));
    add_user(&data, "li", Some("HOSP_A"), "radiologist");
    let config = format!("[http]\nviewer_dir = {dist:?}\n");
    let server = Server::start(&data, Some(&config));
    crate::viewer::node_test_in(
        browser,
        "annotations.test.mjs",
        &[("YUNYING_URL", format!("http://127.0.0.1:{}", server.http_port)), ("READER", "li".into()), ("PASSWORD", PASSWORD.into())],
    );
}
