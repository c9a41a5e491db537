//! Remote reading in the viewer (viewer/tests/reading.test.mjs, headless
//! Chromium) in the world of `reading.rs`: the township's CT becomes a
//! request to the centre by itself; li finds it on the reading worklist,
//! claims it, reads it with the city's prior beside it, writes the report
//! from the chest CT template with two key images, a length measured on
//! the image and a critical finding, and submits it; li cannot sign it
//! (two-step), wang signs it from the awaiting-review tab and sees it
//! returned with its deliveries; the township's zhou sees the signed
//! impression among the requests sent; the city's sun sees nothing; the
//! system administrator adds a template on the administration page. A
//! township technologist, zhao, asks the provincial hospital (a second,
//! on-demand relationship) to read the same CT from the study reader, as
//! urgent with clinical information, after the form showed the server's
//! refusal to ask the centre twice; then cancels it. Then the API says
//! what the browser did, down to the presentation state of the measured
//! length.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::film::request;
use crate::people::{PASSWORD, login, session_of};

fn json_of(reply: &crate::film::Reply, what: &str) -> Value {
    assert!((200..300).contains(&reply.status), "{what}: {} {}", reply.status, String::from_utf8_lossy(&reply.body));
    reply.json()
}

/// The provincial hospital reads for the township on demand only (no routing rule).
const PROVINCIAL: &str = r#"
[[archive.institutions]]
code = "PROV"
name = "省人民医院"
[[reading.relationships]]
requesting = "TOWN"
reading = "PROV"
automatic = false
"#;
/// What zhao types as the clinical information.
const CLINICAL: &str = "咳嗽两周，发热3天。右上肺结节待排。";

#[tokio::test(flavor = "multi_thread")]
async fn reading_in_the_viewer_end_to_end() {
    crate::viewer::viewer_dist();
    let w = crate::reading::world(PROVINCIAL).await;
    let http = w.server.http_port;
    let li = session_of(&login(http, "li", PASSWORD, None));
    let wang = session_of(&login(http, "wang", PASSWORD, None));
    let get = |cookie: &str, path: &str| json_of(&request(http, "GET", path, &[("Cookie", cookie)], None), path);
    let person = |cookie: &str| format!("person:{}", get(cookie, "/api/auth/me")["user_id"].as_str().unwrap());
    let (li_id, wang_id) = (person(&li), person(&wang));

    // The routing rule's request, before the browser looks for it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let request_id = loop {
        let page = get(&li, "/api/reading/worklist");
        let found = page["requests"].as_array().unwrap().iter().find(|r| r["study_instance_uid"] == w.town_study.as_str()).cloned();
        if let Some(r) = found {
            assert_eq!(r["status"], "new");
            break r["request_id"].as_str().unwrap().to_string();
        }
        assert!(Instant::now() < deadline, "no request for the township's CT within 30 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };

    // A system administrator, added to the running server's accounts.
    crate::people::add_user(&w.tmp.path().join("data"), "root", None, "system-admin");
    // A technologist of the township, who asks for readings.
    crate::people::add_user(&w.tmp.path().join("data"), "zhao", Some("TOWN"), "technologist");
    let envs = [
        ("YUNYING_URL", format!("http://127.0.0.1:{http}")),
        ("STUDY", w.town_study.clone()),
        ("PRIOR", w.city_study.clone()),
        ("READER", "li".to_string()),
        ("SIGNER", "wang".to_string()),
        ("TOWN_USER", "zhou".to_string()),
        ("OTHER", "sun".to_string()),
        ("ADMIN", "root".to_string()),
        ("TECH", "zhao".to_string()),
        ("CLINICAL", CLINICAL.to_string()),
        ("PASSWORD", PASSWORD.to_string()),
    ];
    crate::viewer::node_test("reading.test.mjs", &envs);

    // What the browser did, as the API tells it.
    let detail = get(&li, &format!("/api/reading/requests/{request_id}"));
    assert_eq!(detail["request"]["status"], "returned", "{detail}");
    assert_eq!(detail["request"]["critical"], true);
    let reports = detail["reports"].as_array().unwrap();
    assert_eq!(reports.len(), 1, "one version: {detail}");
    let signed = &reports[0];
    assert_eq!(signed["state"], "signed");
    assert_eq!(signed["author"], li_id.as_str(), "li wrote it");
    assert_eq!(signed["verifier"], wang_id.as_str(), "wang signed it");
    assert_eq!(signed["content_digest"].as_str().unwrap().len(), 64, "an SM3 digest");
    let content = &signed["content"];
    assert_eq!(content["template_id"], "ct-chest");
    assert_eq!(content["critical"], true);
    assert_eq!(content["impression"], "右肺上叶磨玻璃结节，建议随访。气胸，请临床立即处理。");
    let findings = content["findings"].as_str().unwrap();
    assert!(
        findings.starts_with("胸廓对称") && findings.ends_with("\n右肺上叶见一磨玻璃结节。"),
        "the template's findings and li's line: {findings}"
    );

    // Two key images and the measured one: images of the township's study.
    let instances = get(&li, &format!("/dicom-web/studies/{}/instances", w.town_study));
    let stored: Vec<(&str, &str)> = instances
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["0020000E"]["Value"][0].as_str().unwrap(), i["00080018"]["Value"][0].as_str().unwrap()))
        .collect();
    let is_stored = |k: &Value| match (k["series_instance_uid"].as_str(), k["sop_instance_uid"].as_str()) {
        (Some(series), Some(sop)) => stored.contains(&(series, sop)) && k["sop_class_uid"] == "1.2.840.10008.5.1.4.1.1.2",
        _ => false,
    };
    let keys = content["key_images"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{content}");
    assert_ne!(keys[0]["sop_instance_uid"], keys[1]["sop_instance_uid"]);
    assert!(keys.iter().all(is_stored), "key images of the study, CT Image Storage: {keys:?}");
    let measurements = content["measurements"].as_array().unwrap();
    assert_eq!(measurements.len(), 1, "{content}");
    let m = &measurements[0];
    assert_eq!((m["label"].as_str(), m["unit"].as_str()), (Some("结节长径"), Some("mm")));
    assert!(is_stored(&m["image"]), "{m}");
    // Drawn from column 10 to 54 of a 64-column image over 350 mm: 44
    // pixels of 5.46875 mm.
    let value = m["value"].as_f64().unwrap();
    assert!((value - 44.0 * 350.0 / 64.0).abs() < 2.0, "measured {value} mm");
    // Its ends in pixels, and the presentation state made of them.
    let points: Vec<(f64, f64)> =
        m["points"].as_array().unwrap().iter().map(|p| (p[0].as_f64().unwrap(), p[1].as_f64().unwrap())).collect();
    assert_eq!(points.len(), 2, "{m}");
    for ((column, row), (want_column, want_row)) in points.into_iter().zip([(10.0, 32.0), (54.0, 32.0)]) {
        assert!((column - want_column).abs() < 0.5 && (row - want_row).abs() < 0.5, "{m}");
    }
    let gsps = signed["objects"]["gsps"].as_str().unwrap_or_default();
    assert!(!gsps.is_empty(), "a presentation state of the length: {}", signed["objects"]);
    let series = get(&li, &format!("/dicom-web/studies/{}/series", w.town_study));
    let modalities: Vec<&str> = series.as_array().unwrap().iter().filter_map(|s| s["00080060"]["Value"][0].as_str()).collect();
    for want in ["SR", "KO", "DOC", "PR"] {
        assert!(modalities.contains(&want), "{want} stored in the study: {modalities:?}");
    }

    // zhao's request to the provincial hospital: urgent, with what was typed, then cancelled.
    let zhao = session_of(&login(http, "zhao", PASSWORD, None));
    let sent = get(&zhao, "/api/reading/worklist?side=requesting&status=new,claimed,draft,awaiting-review,signed,returned,cancelled");
    let sent = sent["requests"].as_array().unwrap();
    let to_prov: Vec<&Value> = sent.iter().filter(|r| r["reading"] == "PROV").collect();
    assert_eq!(to_prov.len(), 1, "one request to the provincial hospital: {sent:?}");
    let asked = to_prov[0];
    assert_eq!(asked["study_instance_uid"], w.town_study.as_str());
    assert_eq!(asked["requesting"], "TOWN");
    assert_eq!(asked["reading_name"], "省人民医院");
    assert_eq!(asked["priority"], "urgent");
    assert_eq!(asked["clinical_info"], CLINICAL);
    assert_eq!(asked["his_order_id"], "HIS-2026-0042");
    assert_eq!(asked["source"], "api");
    assert_eq!(asked["status"], "cancelled");
    // Still one request to the centre (the form's second ask was refused).
    assert_eq!(sent.iter().filter(|r| r["reading"] == "CENTRE").count(), 1, "{sent:?}");

    // The city hospital's radiologist reaches neither the request nor its study.
    let sun = session_of(&login(http, "sun", PASSWORD, None));
    assert_eq!(request(http, "GET", &format!("/api/reading/requests/{request_id}"), &[("Cookie", &sun)], None).status, 404);

    // The administrator's template.
    let templates = get(&li, "/api/reading/templates");
    let added = templates.as_array().unwrap().iter().find(|t| t["id"] == "ct-chest-low-dose").expect("the new template");
    assert_eq!((added["name"].as_str(), added["body_part"].as_str()), (Some("胸部低剂量CT"), Some("CHEST")));
    assert_eq!(templates.as_array().unwrap().len(), 6);

    let crate::reading::World { mut server, index, .. } = w;
    index.close().await;
    server.stop();
}
