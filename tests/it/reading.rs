//! Remote reading (基层检查、上级诊断) on the real server, over HTTP and
//! DICOM with real peers: a township hospital's CT arrives by C-STORE and
//! becomes a request to the regional centre by itself; a centre
//! radiologist claims it (the patient's prior from a third institution,
//! linked by the EMPI, opens with it), writes the report from a template
//! with two key images and a measurement, flags a critical finding (the
//! township HIS's webhook and HL7 listener hear at once) and submits it; a
//! second radiologist signs (two-step: the author cannot). The report is
//! stored in the study as DICOM (Enhanced SR, Key Object Selection,
//! encapsulated PDF: DCMTK reads them), sent to the township PACS (DCMTK
//! storescp), its HIS (ORU^R01, read by the python `hl7` library) and its
//! webhook; the township sees it, no one else does. An amendment is a new
//! version that names the old one.

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::empi::person_of;
use crate::film::{Reply, request};
use crate::harness::*;
use crate::people::{PASSWORD, add_user, login, session_of};

const NATIONAL_ID: &str = "11010519491231002X";

/// Kills a child process when dropped.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn with(cookie: &str) -> Vec<(&str, &str)> {
    vec![("Cookie", cookie)]
}

fn ok(reply: &Reply, what: &str) -> Value {
    assert!((200..300).contains(&reply.status), "{what}: {} {}", reply.status, String::from_utf8_lossy(&reply.body));
    reply.json()
}

/// Lines of the HIS's record of what it received.
fn received(out: &Path) -> Vec<Value> {
    std::fs::read_to_string(out).unwrap_or_default().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

async fn wait_until<T>(what: &str, limit: Duration, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{what} did not happen within {limit:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A CT of the patient (national ID in Other Patient IDs Sequence) from
/// `ae`, sent with storescu.
fn send_ct(dir: &Path, port: u16, ae: &str, patient_id: &str, date: &str, seed: u64) {
    gen_ct_with(dir, 3, 64, seed, &["--patient-id", patient_id, "--patient-name", "Wang^Fang=王^芳", "--charset", "ISO_IR 192", "-q"]);
    let files = files_under(dir);
    let mut modify = dcmtk("dcmodify");
    modify
        .args(["-nb", "-i", &format!("(0010,1002)[0].(0010,0020)={NATIONAL_ID}")])
        .args(["-m", "(0010,0030)=19600315", "-m", "(0010,0040)=F", "-m", "(0008,1030)=CT chest", "-m", &format!("(0008,0020)={date}")])
        .args(["-i", "(0018,0015)=CHEST"])
        .args(&files);
    run(&mut modify);
    storescu_dir(port, ae, dir);
}

/// The world of a reading: three institutions on one server (TOWN asks,
/// CENTRE reads, CITY holds the patient's prior), the township's PACS
/// (DCMTK storescp, files under `pacs_dir`) and HIS (MLLP and webhook,
/// what it read in `his_out`), the township's HIS key (scope `reading`),
/// people li and wang (centre radiologists), xu (centre resident), zhou
/// (township radiologist), sun (city radiologist); the city's prior and
/// the township's new CT of the same patient (linked by the EMPI), stored.
pub(crate) struct World {
    pub tmp: tempfile::TempDir,
    pub server: Server,
    pub index: yunying_index::Index,
    pub pacs_dir: std::path::PathBuf,
    pub his_out: std::path::PathBuf,
    pub his_key: String,
    /// The township's second PACS, Orthanc with its DICOMweb plugin (the
    /// reports go there by STOW-RS): its HTTP port.
    pub orthanc_http: u16,
    pub town_study: String,
    pub city_study: String,
    _his: Kill,
    _pacs: Kill,
    _orthanc: Kill,
}

/// Orthanc 1.10 with its DICOMweb plugin, storage under `dir`; its HTTP port.
fn start_orthanc(dir: &Path) -> (Kill, u16) {
    assert!(Path::new("/usr/sbin/Orthanc").exists(), "Orthanc missing: run scripts/test.sh, which installs it");
    let (dicom, http) = (free_port(), free_port());
    std::fs::create_dir_all(dir.join("storage")).unwrap();
    let config = json!({
        "Name": "township-pacs", "StorageDirectory": dir.join("storage"), "IndexDirectory": dir.join("storage"),
        "DicomAet": "TOWN_ORTHANC", "DicomPort": dicom, "HttpPort": http, "RemoteAccessAllowed": false,
        "AuthenticationEnabled": false, "DefaultEncoding": "Utf8",
        "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"], "DicomWeb": {"Enable": true, "Root": "/dicom-web/"},
    });
    std::fs::write(dir.join("orthanc.json"), config.to_string()).unwrap();
    let log = std::fs::File::create(dir.join("orthanc.log")).unwrap();
    let child = std::process::Command::new("/usr/sbin/Orthanc")
        .arg(dir.join("orthanc.json"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let orthanc = Kill(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while http_get(http, "/system").map(|(status, _)| status) != Some(200) {
        assert!(Instant::now() < deadline, "Orthanc did not start: {}", dir.join("orthanc.log").display());
        std::thread::sleep(Duration::from_millis(200));
    }
    (orthanc, http)
}

pub(crate) async fn world(extra_config: &str) -> World {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    // The township's HIS (MLLP and webhook) and PACS (DCMTK storescp).
    let (port_file, his_out) = (tmp.path().join("his-ports"), tmp.path().join("his.jsonl"));
    let secret = tmp.path().join("his-town.secret");
    std::fs::write(&secret, "town-his-shared-secret-0042\n").unwrap();
    let his = Kill(python().arg(format!("{ROOT}/tests/it/his/reading_his.py")).arg(&port_file).arg(&his_out).arg(&secret).spawn().unwrap());
    let pacs_dir = tmp.path().join("pacs");
    std::fs::create_dir_all(&pacs_dir).unwrap();
    let pacs_port = free_port();
    let pacs = Kill(dcmtk("storescp").args(["-aet", "TOWN_PACS", "-od"]).arg(&pacs_dir).arg(pacs_port.to_string()).spawn().unwrap());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !port_file.exists() {
        assert!(Instant::now() < deadline, "the HIS did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (orthanc, orthanc_http) = start_orthanc(&tmp.path().join("orthanc"));
    let ports = std::fs::read_to_string(&port_file).unwrap();
    let (mllp, webhook) = ports.split_once(' ').unwrap();

    run(cli(&data).args(["ae", "add", "CT_TOWN", "127.0.0.1", "104", "--institution", "TOWN", "--new-institution", "--allow", "store"]));
    run(cli(&data).args(["ae", "add", "CT_CITY", "127.0.0.1", "105", "--institution", "CITY", "--new-institution", "--allow", "store"]));
    run(cli(&data).args(["ae", "add", "TOWN_PACS", "127.0.0.1", &pacs_port.to_string(), "--institution", "TOWN"]));
    let his_key = {
        let out = run(cli(&data).args(["key", "add", "HIS TOWN", "--institution", "TOWN", "--scopes", "reading"]));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    add_user(&data, "li", Some("CENTRE"), "radiologist");
    add_user(&data, "wang", Some("CENTRE"), "radiologist");
    add_user(&data, "xu", Some("CENTRE"), "resident");
    add_user(&data, "zhou", Some("TOWN"), "radiologist");
    add_user(&data, "sun", Some("CITY"), "radiologist");
    let dist = format!("{ROOT}/viewer/dist");
    let viewer =
        if std::path::Path::new(&dist).join("index.html").is_file() { format!("[http]\nviewer_dir = {dist:?}\n") } else { String::new() };
    let config = format!(
        r#"{viewer}[access]
anonymous = "nobody"
[empi]
link_every_secs = 1
[[archive.institutions]]
code = "TOWN"
name = "青山镇卫生院"
[[archive.institutions]]
code = "CENTRE"
name = "市影像诊断中心"
[reading]
settle_secs = 1
[[reading.relationships]]
requesting = "TOWN"
reading = "CENTRE"
modalities = ["CT", "DX"]
two_step = true
return_ae = "TOWN_PACS"
return_stow_url = "http://127.0.0.1:{orthanc_http}/dicom-web"
his_mllp = "127.0.0.1:{mllp}"
webhook_url = "http://127.0.0.1:{webhook}/his/reading"
[[reading.webhook_secrets]]
institution = "TOWN"
secret_file = {secret:?}
{extra_config}"#
    );
    let server = Server::start(&data, Some(&config));
    let index = server.index().await;

    // The prior at the city hospital, then the township's new CT.
    send_ct(&tmp.path().join("city"), server.dicom_port, "CT_CITY", "C-778", "20260601", 41);
    send_ct(&tmp.path().join("town"), server.dicom_port, "CT_TOWN", "T-102", "20261205", 42);
    assert_eq!(person_of(&index, "TOWN", "T-102").await, person_of(&index, "CITY", "C-778").await, "one patient");
    let studies = |issuer: &'static str| {
        let index = index.clone();
        async move {
            let (_, s) = index.person_studies_of_identity(issuer, if issuer == "TOWN" { "T-102" } else { "C-778" }).await.unwrap();
            s.into_iter().find(|p| p.issuer == issuer).unwrap().study_instance_uid
        }
    };
    let (town_study, city_study) = (studies("TOWN").await, studies("CITY").await);
    World {
        tmp,
        server,
        index,
        pacs_dir,
        his_out,
        his_key,
        orthanc_http,
        town_study,
        city_study,
        _his: his,
        _pacs: pacs,
        _orthanc: orthanc,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_township_ct_is_read_at_the_centre_signed_twice_and_returned_to_its_pacs_his_and_webhook() {
    let w = world("").await;
    let http = w.server.http_port;
    let (pacs_dir, his_out, his_key, town_study, city_study) = (&w.pacs_dir, &w.his_out, &w.his_key, &w.town_study, &w.city_study);
    let li = session_of(&login(http, "li", PASSWORD, None));
    let wang = session_of(&login(http, "wang", PASSWORD, None));
    let zhou = session_of(&login(http, "zhou", PASSWORD, None));
    let sun = session_of(&login(http, "sun", PASSWORD, None));
    let xu = session_of(&login(http, "xu", PASSWORD, None));
    let id_of = |cookie: &str| {
        format!("person:{}", ok(&request(http, "GET", "/api/auth/me", &with(cookie), None), "me")["user_id"].as_str().unwrap())
    };
    let (li_id, wang_id) = (id_of(&li), id_of(&wang));

    // The CT became a request to the centre by itself.
    let request_id = wait_until("the routing rule's request", Duration::from_secs(30), async || {
        let page = ok(&request(http, "GET", "/api/reading/worklist", &with(&li), None), "worklist");
        page["requests"].as_array().unwrap().iter().find(|r| r["study_instance_uid"] == town_study.as_str()).map(|r| {
            assert_eq!(r["status"], "new");
            assert_eq!(r["requesting_name"], "青山镇卫生院");
            assert_eq!(r["modality"], "CT");
            assert_eq!(r["patient_name"], "Wang^Fang=王^芳");
            r["request_id"].as_str().unwrap().to_string()
        })
    })
    .await;
    let path = |tail: &str| format!("/api/reading/requests/{request_id}{tail}");

    // Nobody outside the two institutions sees it; the city hospital's
    // radiologist does not reach the township's study.
    assert_eq!(request(http, "GET", &path(""), &with(&sun), None).status, 404);
    let qido = format!("/dicom-web/studies?StudyInstanceUID={town_study}");
    let found = ok(&request(http, "GET", &qido, &with(&sun), None), "sun's search");
    assert!(found.as_array().is_none_or(|a| a.is_empty()), "CITY must not find TOWN's study: {found}");
    // Before claiming, the centre reaches the study (the request's grant).
    assert_eq!(request(http, "GET", &format!("/dicom-web/studies/{town_study}/metadata"), &with(&li), None).status, 200);

    // A township MR (no relationship covers MR) is not requested, and the
    // centre does not reach it.
    let mr = w.tmp.path().join("mr");
    gen_ct_with(&mr, 1, 32, 43, &["--patient-id", "T-555", "-q"]);
    let mr_files = files_under(&mr);
    run(dcmtk("dcmodify").args(["-nb", "-m", "(0008,0060)=MR"]).args(&mr_files));
    storescu_dir(w.server.dicom_port, "CT_TOWN", &mr);
    let mr_uid = {
        let out = python()
            .args(["-c", "import sys, pydicom; print(pydicom.dcmread(sys.argv[1], stop_before_pixels=True).StudyInstanceUID)"])
            .arg(&mr_files[0])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    assert_eq!(request(http, "GET", &format!("/dicom-web/studies/{mr_uid}/metadata"), &with(&zhou), None).status, 200, "TOWN's own");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(request(http, "GET", &format!("/dicom-web/studies/{mr_uid}/metadata"), &with(&li), None).status, 403, "not requested");
    let page = ok(&request(http, "GET", "/api/reading/worklist?status=new,claimed", &with(&li), None), "worklist");
    assert_eq!(page["total"], 1, "only the CT is requested: {page}");

    // li claims it; wang cannot claim it too.
    ok(&request(http, "POST", &path("/claim"), &with(&li), Some(&json!({}))), "claim");
    assert_eq!(request(http, "POST", &path("/claim"), &with(&wang), Some(&json!({}))).status, 409);
    let detail = ok(&request(http, "GET", &path(""), &with(&li), None), "detail");
    assert_eq!(detail["request"]["claimed_by"], li_id.as_str());
    assert_eq!(detail["request"]["claimed_by_name"], "li", "the worklist names who holds it (its display name, the user name here)");
    assert_eq!(detail["may_write"], true);
    assert!(
        detail["priors"].as_array().unwrap().iter().any(|p| *p == city_study.as_str()),
        "the city prior opens with the request: {detail}"
    );
    assert_eq!(
        request(http, "GET", &format!("/dicom-web/studies/{city_study}/metadata"), &with(&li), None).status,
        200,
        "li reads the prior"
    );

    // The report, from the chest CT template, with two key images and a
    // measurement on the township's CT.
    let templates = ok(&request(http, "GET", "/api/reading/templates", &with(&li), None), "templates");
    let template = templates.as_array().unwrap().iter().find(|t| t["id"] == "ct-chest").expect("the built-in chest CT template").clone();
    let instances = ok(&request(http, "GET", &format!("/dicom-web/studies/{town_study}/instances"), &with(&li), None), "instances");
    let image = |i: usize| {
        let inst = &instances[i];
        json!({"series_instance_uid": inst["0020000E"]["Value"][0], "sop_instance_uid": inst["00080018"]["Value"][0]})
    };
    let findings = format!("{}\n右肺上叶见一磨玻璃结节，长径约 8.5 mm。", template["findings"].as_str().unwrap());
    let content = json!({
        "template_id": "ct-chest",
        "findings": findings,
        "impression": "右肺上叶磨玻璃结节，建议随访。气胸，请临床立即处理。",
        "critical": true,
        "measurements": [{"label": "结节长径", "value": 8.5, "unit": "mm", "image": image(1), "points": [[10.0, 12.0], [30.5, 40.0]]}],
        "key_images": [image(0), image(1)],
    });
    let saved = ok(&request(http, "PUT", &path("/report"), &with(&li), Some(&json!({"content": content}))), "draft");
    assert_eq!((saved["version"].as_i64(), saved["state"].as_str()), (Some(1), Some("draft")));
    // The critical finding reaches the township at once, before signing.
    let critical = wait_until("the critical-finding notice", Duration::from_secs(20), async || {
        let got = received(his_out);
        let hook = got.iter().find(|m| m["kind"] == "webhook" && m["body"]["event"] == "critical-finding")?.clone();
        let oru = got.iter().find(|m| m["kind"] == "hl7" && m["result_status"] == "P")?.clone();
        Some((hook, oru))
    })
    .await;
    assert_eq!(critical.0["body"]["request_id"], request_id.as_str());
    assert_eq!(critical.0["signed"], true, "signed with the township's webhook secret: {}", critical.0);
    assert!(critical.1["flags"].as_array().unwrap().iter().any(|f| f == "AA"), "{}", critical.1);

    // Two-step: li submits; li cannot sign it, wang can.
    ok(&request(http, "PUT", &path("/report"), &with(&li), Some(&json!({"content": content, "submit": true}))), "submit");
    assert_eq!(request(http, "POST", &path("/sign"), &with(&li), Some(&json!({"version": 1}))).status, 409);
    let for_li = ok(&request(http, "GET", &path(""), &with(&li), None), "li's detail");
    let for_wang = ok(&request(http, "GET", &path(""), &with(&wang), None), "wang's detail");
    assert_eq!((for_li["may_sign"].as_bool(), for_wang["may_sign"].as_bool()), (Some(false), Some(true)), "two-step: not the author");
    assert_eq!(for_li["side"], "reading");
    // wang signs what he read: a version changed since is refused.
    let read_at = for_wang["reports"][0]["updated_ms"].as_i64().unwrap();
    let stale = request(http, "POST", &path("/sign"), &with(&wang), Some(&json!({"version": 1, "updated_ms": read_at - 1})));
    assert_eq!(stale.status, 409, "{}", String::from_utf8_lossy(&stale.body));
    let signed = ok(&request(http, "POST", &path("/sign"), &with(&wang), Some(&json!({"version": 1, "updated_ms": read_at}))), "sign");
    assert_eq!(signed["state"], "signed");
    assert_eq!(signed["author"], li_id.as_str());
    assert_eq!(signed["verifier"], wang_id.as_str());
    assert_eq!(signed["content_digest"].as_str().unwrap().len(), 64, "an SM3 digest");
    assert!(signed["signature"].as_str().unwrap().starts_with("— "), "a signed-note signature line: {signed}");

    // Every delivery done: the request is returned.
    let detail = wait_until("the report returned", Duration::from_secs(60), async || {
        let d = ok(&request(http, "GET", &path(""), &with(&li), None), "detail");
        (d["request"]["status"] == "returned").then_some(d)
    })
    .await;
    let channels: Vec<&str> = detail["deliveries"].as_array().unwrap().iter().map(|d| d["channel"].as_str().unwrap()).collect();
    for c in ["archive", "dicom", "stow", "hl7", "webhook", "critical-hl7", "critical-webhook"] {
        assert!(channels.contains(&c), "{c} delivered: {channels:?}");
    }
    assert!(detail["request"]["critical_notified_ms"].is_i64());
    let sr_uid = signed["objects"]["sr"].as_str().unwrap().to_string();

    // In the archive: the SR, KOS and PDF in the township's study, found
    // by the township's radiologist and by the centre, not by the city.
    let series = ok(&request(http, "GET", &format!("/dicom-web/studies/{town_study}/series"), &with(&zhou), None), "zhou's series");
    let modalities: Vec<&str> = series.as_array().unwrap().iter().filter_map(|s| s["00080060"]["Value"][0].as_str()).collect();
    for m in ["SR", "KO", "DOC", "PR"] {
        assert!(modalities.contains(&m), "{m} in the study: {modalities:?}");
    }
    let township_view = ok(&request(http, "GET", &path(""), &with(&zhou), None), "zhou's view of the request");
    assert_eq!(township_view["reports"].as_array().unwrap().len(), 1);
    assert_eq!(township_view["reports"][0]["content"]["impression"], content["impression"]);

    // The township PACS got the three objects; DCMTK reads the SR.
    let got = wait_until("storescp's files", Duration::from_secs(20), async || {
        let files = files_under(pacs_dir);
        (files.len() >= 4).then_some(files)
    })
    .await;
    let sr_file = got.iter().find(|f| f.file_name().unwrap().to_string_lossy().contains(&sr_uid)).expect("the SR at the PACS");
    let dump = run(dcmtk("dsrdump").arg(sr_file));
    let dump = String::from_utf8_lossy(&dump.stdout).to_string();
    assert!(dump.contains("磨玻璃结节") && dump.contains("8.5"), "{dump}");

    // Orthanc, the township's other PACS, got them by STOW-RS.
    let (status, body) = http_get(w.orthanc_http, &format!("/dicom-web/studies/{town_study}/series")).unwrap();
    assert_eq!(status, 200, "{body}");
    let orthanc_series: Value = serde_json::from_str(&body).unwrap();
    let orthanc_modalities: Vec<&str> =
        orthanc_series.as_array().unwrap().iter().filter_map(|s| s["00080060"]["Value"][0].as_str()).collect();
    for m in ["SR", "KO", "DOC", "PR"] {
        assert!(orthanc_modalities.contains(&m), "{m} at Orthanc: {orthanc_modalities:?}");
    }
    // The length survives as a presentation state any viewer applies.
    let gsps = got
        .iter()
        .find(|f| f.file_name().unwrap().to_string_lossy().contains(signed["objects"]["gsps"].as_str().unwrap()))
        .expect("the GSPS");
    let read = python()
        .args(["-c", "import sys, pydicom\nd = pydicom.dcmread(sys.argv[1])\na = d.GraphicAnnotationSequence[0]\nprint(list(a.GraphicObjectSequence[0].GraphicData), a.TextObjectSequence[0].UnformattedTextValue)"])
        .arg(gsps)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&read.stdout).to_string();
    assert!(
        text.contains("[10.0, 12.0, 30.5, 40.0]") && text.contains("结节长径 8.5 mm"),
        "{text}{}",
        String::from_utf8_lossy(&read.stderr)
    );
    // dciodvfy (dicom3tools) finds no error in the SR, KOS and PDF, and
    // pydicom reads the SR's findings as written.
    for f in &got {
        let out = std::process::Command::new("dciodvfy").arg(f).output().unwrap();
        let text = String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
        assert!(!text.lines().any(|l| l.starts_with("Error")), "dciodvfy {}: {text}", f.display());
    }
    let read = python()
        .args(["-c", "import sys, pydicom\nd = pydicom.dcmread(sys.argv[1])\ndef walk(items):\n    for i in items:\n        if 'TextValue' in i: print(i.TextValue)\n        if 'ContentSequence' in i: walk(i.ContentSequence)\nwalk(d.ContentSequence)"])
        .arg(sr_file)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&read.stdout).contains("右肺上叶见一磨玻璃结节，长径约 8.5 mm。"),
        "{}",
        String::from_utf8_lossy(&read.stderr)
    );

    // The signature covers the text the SR carries as its signed content,
    // whose SM3 is the report's digest.
    let signed_content = signed["objects"]["signed_content"].as_str().expect("the signed text").to_string();
    use sm3::Digest as _;
    assert_eq!(hex::encode(sm3::Sm3::digest(signed_content.as_bytes())), signed["content_digest"].as_str().unwrap());
    assert!(String::from_utf8_lossy(&read.stdout).contains(&signed_content), "the SR carries the signed text");

    // The admin guide's verification script (docs/en/reading.md) checks
    // the signature against the log key, and refuses an altered text.
    let guide = std::fs::read_to_string(format!("{ROOT}/docs/en/reading.md")).unwrap();
    let script = guide.split("```python\n").nth(1).and_then(|rest| rest.split("```").next()).expect("the guide's script");
    let script_file = w.tmp.path().join("verify-report.py");
    std::fs::write(&script_file, script).unwrap();
    let log_key = String::from_utf8(run(cli(&w.tmp.path().join("data")).args(["audit", "key"])).stdout).unwrap();
    let detail_json = w.tmp.path().join("request.json");
    std::fs::write(&detail_json, request(http, "GET", &path(""), &with(&zhou), None).body).unwrap();
    let checked = python().arg(&script_file).arg(&detail_json).args(["1", log_key.trim()]).output().unwrap();
    let said = String::from_utf8_lossy(&checked.stdout).to_string() + &String::from_utf8_lossy(&checked.stderr);
    assert!(checked.status.success() && said.contains("Verified OK"), "{said}");
    let mut altered: Value = serde_json::from_slice(&std::fs::read(&detail_json).unwrap()).unwrap();
    let text = altered["reports"][0]["objects"]["signed_content"].as_str().unwrap().replace("磨玻璃", "实性");
    altered["reports"][0]["objects"]["signed_content"] = json!(text);
    std::fs::write(&detail_json, altered.to_string()).unwrap();
    let refused = python().arg(&script_file).arg(&detail_json).args(["1", log_key.trim()]).output().unwrap();
    assert!(!refused.status.success(), "an altered report does not verify");

    // The HIS read the final ORU^R01 with the PDF, and the webhook's report.
    let his = received(his_out);
    let oru = his.iter().find(|m| m["kind"] == "hl7" && m["result_status"] == "F").expect("the final ORU^R01");
    assert_eq!(oru["message_type"], "ORU^R01^ORU_R01");
    assert_eq!(oru["filler"], request_id.as_str());
    assert_eq!(oru["pid3"], "T-102");
    assert!(oru["names"].as_array().unwrap().iter().any(|n| n.as_str().unwrap().contains("王")), "{oru}");
    let pdf = std::fs::read(oru["pdf"].as_str().expect("the PDF in the ORU")).unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let hook = his.iter().find(|m| m["kind"] == "webhook" && m["body"]["event"] == "report-signed").expect("the report's webhook");
    assert_eq!(hook["body"]["sr_sop_instance_uid"], sr_uid.as_str());
    assert_eq!(hook["signed"], true, "the HIS checks the report's webhook came from the platform");

    // An amendment: a new version, naming the old SR; the first stays.
    let amend = request(http, "POST", &path("/amend"), &with(&wang), Some(&json!({"reason": "补充：建议3个月后复查"})));
    assert_eq!(ok(&amend, "amend")["version"], 2);
    let mut amended = content.clone();
    amended["impression"] = json!("右肺上叶磨玻璃结节，建议3个月后复查。气胸，请临床立即处理。");
    ok(&request(http, "PUT", &path("/report"), &with(&wang), Some(&json!({"content": amended, "submit": true}))), "amended draft");
    assert_eq!(request(http, "POST", &path("/sign"), &with(&wang), Some(&json!({"version": 2}))).status, 409, "two-step");
    let v2 = ok(&request(http, "POST", &path("/sign"), &with(&li), Some(&json!({"version": 2}))), "sign v2");
    let v2_sr = v2["objects"]["sr"].as_str().unwrap().to_string();
    let corrected = wait_until("the corrected ORU^R01", Duration::from_secs(60), async || {
        received(his_out).into_iter().find(|m| m["kind"] == "hl7" && m["result_status"] == "C")
    })
    .await;
    assert_eq!(corrected["filler"], request_id.as_str());
    let reports = ok(&request(http, "GET", &path(""), &with(&li), None), "detail")["reports"].clone();
    assert_eq!(reports.as_array().unwrap().len(), 2, "both versions kept");
    assert_eq!(reports[0]["current"], false);
    let v2_file = wait_until("the amended SR at the PACS", Duration::from_secs(30), async || {
        files_under(pacs_dir).into_iter().find(|f| f.file_name().unwrap().to_string_lossy().contains(&v2_sr))
    })
    .await;
    let check = python()
        .args(["-c", "import sys, pydicom; d = pydicom.dcmread(sys.argv[1]); print(d.PredecessorDocumentsSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID)"])
        .arg(&v2_file)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&check.stdout).trim(), sr_uid, "{}", String::from_utf8_lossy(&check.stderr));

    // The patient's cloud film (made by the township) shows the report in
    // force, as PDF and SR text, not the replaced version nor the key-image list.
    let v2_pdf = v2["objects"]["pdf"].as_str().unwrap().to_string();
    let made = ok(&request(http, "POST", "/api/films", &with(&zhou), Some(&json!({"study": town_study}))), "film");
    let film_id = made["film"]["film_id"].as_str().unwrap().to_string();
    let token = crate::film::token_of(made["url"].as_str().unwrap());
    let verified = request(http, "POST", "/api/film/verify", &[], Some(&json!({"token": token, "answer": "1960-03-15"})));
    let (cookie, _) = verified.cookie();
    let info = ok(&request(http, "GET", &format!("/api/film/{film_id}/info"), &[("Cookie", cookie.as_str())], None), "film info");
    let urls: Vec<&str> = info["reports"].as_array().unwrap().iter().map(|r| r["url"].as_str().unwrap()).collect();
    assert_eq!(urls.len(), 2, "the amended report's PDF and SR: {info}");
    assert!(urls.iter().any(|u| u.ends_with(&v2_pdf)) && urls.iter().any(|u| u.ends_with(&v2_sr)), "{urls:?}");
    assert!(!urls.iter().any(|u| u.ends_with(&sr_uid)), "the replaced version is not shown: {urls:?}");
    let pdf_url = urls.iter().find(|u| u.ends_with(&v2_pdf)).unwrap();
    let pdf = request(http, "GET", pdf_url, &[("Cookie", cookie.as_str())], None);
    assert!(pdf.status == 200 && pdf.body.starts_with(b"%PDF-"), "the film's report PDF: {}", pdf.status);

    // Statistics: the centre's by radiologist, and as CSV.
    let stats = ok(&request(http, "GET", "/api/reading/statistics?by=radiologist", &with(&li), None), "statistics");
    let line =
        stats["lines"].as_array().unwrap().iter().find(|l| l["key"] == li_id.as_str()).expect("li signed the request in force").clone();
    assert_eq!((line["signed"].as_i64(), line["critical"].as_i64(), line["critical_notified"].as_i64()), (Some(1), Some(1), Some(1)));
    assert_eq!(line["name"], "li", "a radiologist's line is named as people know them");
    let csv = request(http, "GET", "/api/reading/statistics?by=requesting&format=csv", &with(&li), None);
    assert!(String::from_utf8_lossy(&csv.body).contains("TOWN,青山镇卫生院,1,1,0,0,"), "{}", String::from_utf8_lossy(&csv.body));

    // The HIS key asks for a reading on demand; a second request of the
    // same study to the same centre is refused.
    let again = request(
        http,
        "POST",
        "/api/reading/requests",
        &[("Authorization", &format!("Bearer {his_key}"))],
        Some(&json!({"study_instance_uid": town_study})),
    );
    assert_eq!(again.status, 409, "{}", String::from_utf8_lossy(&again.body));
    let others = request(
        http,
        "POST",
        "/api/reading/requests",
        &[("Authorization", &format!("Bearer {his_key}"))],
        Some(&json!({"study_instance_uid": city_study})),
    );
    assert_eq!(others.status, 403, "the township cannot send the city's study: {}", String::from_utf8_lossy(&others.body));

    // On demand, the township's MR (no rule covers MR) to the centre by
    // name; withdrawn, the centre no longer reaches it; asked for again,
    // the same request is new again and the study reopens.
    let his = [("Authorization", format!("Bearer {his_key}"))];
    let his: Vec<(&str, &str)> = his.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let ask = json!({"study_instance_uid": mr_uid, "reading": "CENTRE", "priority": "urgent", "clinical_info": "头痛三天"});
    let asked = ok(&request(http, "POST", "/api/reading/requests", &his, Some(&ask)), "MR asked for");
    let mr_request = asked["request_id"].as_str().unwrap().to_string();
    assert_eq!((asked["status"].as_str(), asked["priority"].as_str()), (Some("new"), Some("urgent")));
    let mr_meta = format!("/dicom-web/studies/{mr_uid}/metadata");
    assert_eq!(request(http, "GET", &mr_meta, &with(&li), None).status, 200, "requested: the centre reads it");
    ok(&request(http, "POST", &format!("/api/reading/requests/{mr_request}/cancel"), &his, Some(&json!({}))), "cancel");
    assert_eq!(request(http, "GET", &mr_meta, &with(&li), None).status, 403, "withdrawn: the grant is revoked");
    let mr_detail = ok(&request(http, "GET", &format!("/api/reading/requests/{mr_request}"), &his, None), "cancelled detail");
    assert_eq!(mr_detail["request"]["status"], "cancelled");
    let ask = json!({"study_instance_uid": mr_uid, "reading": "CENTRE", "clinical_info": "复查"});
    let again = ok(&request(http, "POST", "/api/reading/requests", &his, Some(&ask)), "asked again");
    assert_eq!((again["request_id"].as_str(), again["status"].as_str()), (Some(mr_request.as_str()), Some("new")));
    assert_eq!(request(http, "GET", &mr_meta, &with(&li), None).status, 200, "asked again: the centre reads it again");
    let mr_detail = ok(&request(http, "GET", &format!("/api/reading/requests/{mr_request}"), &with(&li), None), "detail");
    assert_eq!(mr_detail["request"]["clinical_info"], "复查");
    assert_eq!(mr_detail["request"]["patient_id"], "T-555", "the request's own patient on its detail");

    // xu, a resident, reads it and hands it to review, but may not sign;
    // wang may.
    let mr_path = |tail: &str| format!("/api/reading/requests/{mr_request}{tail}");
    ok(&request(http, "POST", &mr_path("/claim"), &with(&xu), Some(&json!({}))), "the resident claims");
    let draft =
        json!({"content": {"template_id": "", "findings": "头颅 MR 平扫未见明显异常信号。", "impression": "未见异常。"}, "submit": true});
    let submitted = ok(&request(http, "PUT", &mr_path("/report"), &with(&xu), Some(&draft)), "the resident submits");
    assert_eq!(submitted["state"], "awaiting-review");
    let for_xu = ok(&request(http, "GET", &mr_path(""), &with(&xu), None), "xu's detail");
    assert_eq!(for_xu["may_sign"], false);
    assert_eq!(request(http, "POST", &mr_path("/sign"), &with(&xu), Some(&json!({"version": 1}))).status, 403, "a resident does not sign");
    let for_wang = ok(&request(http, "GET", &mr_path(""), &with(&wang), None), "wang's detail");
    assert_eq!((for_wang["may_sign"].as_bool(), for_wang["request"]["status"].as_str()), (Some(true), Some("awaiting-review")));

    let World { mut server, index, tmp, .. } = w;
    index.close().await;
    server.stop();
    drop(tmp);
}
