//! Query/retrieve over DIMSE against the real server: DCMTK's findscu,
//! movescu (to a DCMTK storescp the test starts) and getscu, and pynetdicom
//! peers (tests/py/qr.py) for failures and cancel.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;

const DEFLATED: &str = "1.2.840.10008.1.2.1.99";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
/// Study of patient YY0001: nine CT instances in eight transfer syntaxes.
const CT_STUDY: &str = "1.2.826.0.1.3680043.10.1467.1.1";
/// Study of Wang^XiaoDong=王^小东 (GB18030), Explicit VR Little Endian.
const WANG_STUDY: &str = "1.2.826.0.1.3680043.10.1467.1.6";

/// A server holding testdata/dicom, its query/retrieve peers registered.
fn archive(config: Option<&str>) -> (tempfile::TempDir, Server) {
    archive_with(config, None)
}

/// Like [`archive`], importing with the configuration file `cli_config`
/// (an encrypted store is written as the server will read it).
pub(crate) fn archive_with(config: Option<&str>, cli_config: Option<&Path>) -> (tempfile::TempDir, Server) {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut import = cli(&data);
    if let Some(path) = cli_config {
        import.env("YUNYING_CONFIG", path);
    }
    run(import.args(["import", "--quiet"]).arg(Path::new(ROOT).join("testdata/dicom")));
    register_qr_peers(&data);
    let server = Server::start(&data, config);
    (tmp, server)
}

/// Register the calling AEs of the peers these tests query and retrieve
/// with (DCMTK's defaults, tests/py/qr.py, the commitment requester), as
/// a deployment registers its PACS.
fn register_qr_peers(data: &Path) {
    for title in ["FINDSCU", "MOVESCU", "GETSCU", "QRSCU", "COMMITSCU"] {
        register_ae(data, title, 104, None);
    }
}

fn ae_add(data: &Path, title: &str, port: u16) {
    run(cli(data).args(["ae", "add", title, "127.0.0.1", &port.to_string(), "--platform"]));
}

/// One response identifier: tag "(gggg,eeee)" → value as printed.
type Identifier = BTreeMap<String, String>;

/// Run findscu; the pending responses and the final status text.
pub(crate) fn findscu(port: u16, model: &str, keys: &[&str]) -> (Vec<Identifier>, String) {
    let mut cmd = dcmtk("findscu");
    cmd.args(["-v", model, "-aec", "YUNYING", "127.0.0.1", &port.to_string()]);
    for k in keys {
        cmd.args(["-k", k]);
    }
    let out = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    let mut responses = Vec::new();
    let mut current: Option<Identifier> = None;
    let mut last = String::new();
    for line in text.lines() {
        let line = line.trim_start_matches("I: ").trim_start_matches("W: ");
        if line.starts_with("Find Response:") || line.starts_with("Received Final Find Response") {
            responses.extend(current.take());
            if line.contains("(Pending") {
                current = Some(Identifier::new());
            }
            if line.starts_with("Received Final") {
                last = line.to_string();
            }
        } else if let (Some(id), Some(rest)) = (current.as_mut(), line.strip_prefix('(')) {
            let Some((tag, _)) = rest.split_once(')') else { continue };
            let value = match (line.find('['), line.rfind(']')) {
                (Some(a), Some(b)) if b > a => line[a + 1..b].trim_end_matches([' ', '\0']).to_string(),
                _ => String::new(),
            };
            id.insert(tag.to_ascii_uppercase(), value);
        }
    }
    responses.extend(current.take());
    assert!(!last.is_empty(), "findscu printed no final response:\n{text}");
    (responses, last)
}

fn values(responses: &[Identifier], tag: &str) -> BTreeSet<String> {
    responses.iter().map(|r| r.get(tag).cloned().unwrap_or_default()).collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

const PATIENT_ID: &str = "0010,0020";

#[test]
fn find_matches_at_every_level_with_wildcards_ranges_uid_lists_and_chinese_names() {
    let (_tmp, server) = archive(None);
    let port = server.dicom_port;
    let study = |keys: &[&str]| {
        let mut all = vec!["QueryRetrieveLevel=STUDY", "PatientID", "StudyInstanceUID"];
        all.extend_from_slice(keys);
        let (responses, last) = findscu(port, "-S", &all);
        assert!(last.contains("Success"), "{keys:?}: {last}");
        responses
    };

    assert_eq!(study(&["PatientName"]).len(), 9, "universal matching returns every study");
    assert_eq!(values(&study(&["PatientName=zhou*"]), PATIENT_ID), set(&["YY0001"]));
    assert_eq!(values(&study(&["PatientName=ZHOU^M?NG"]), PATIENT_ID), set(&["YY0001"]), "case-insensitive, ? wildcard");
    // A Chinese name in Pinyin and in Hanzi, against each component group.
    assert_eq!(values(&study(&["PatientName=Wang*"]), PATIENT_ID), set(&["YY0101"]));
    let hanzi = study(&["SpecificCharacterSet=ISO_IR 192", "PatientName=王*"]);
    assert_eq!(values(&hanzi, PATIENT_ID), set(&["YY0101"]));
    assert_eq!(hanzi[0]["0010,0010"], "Wang^XiaoDong=王^小东");
    assert_eq!(hanzi[0]["0008,0005"], "ISO_IR 192", "non-ASCII answers declare UTF-8");
    assert_eq!(values(&study(&["SpecificCharacterSet=ISO_IR 192", "PatientName=*小东"]), PATIENT_ID), set(&["YY0101", "YY0103"]));

    // Date ranges, open at either end, and single dates.
    assert_eq!(values(&study(&["StudyDate=20240320-20240322"]), PATIENT_ID), set(&["YY0101", "YY0102", "YY0103"]));
    assert_eq!(values(&study(&["StudyDate=20240323-"]), PATIENT_ID), set(&["YY0104", "YY0105"]));
    assert_eq!(values(&study(&["StudyDate=-20240315"]), PATIENT_ID), set(&["YY0001"]));
    assert_eq!(values(&study(&["StudyDate=20240317"]), PATIENT_ID), set(&["YY0002"]));
    // A list of UIDs.
    let list = format!("StudyInstanceUID={CT_STUDY}\\{WANG_STUDY}");
    assert_eq!(values(&study(&[&list]), PATIENT_ID), set(&["YY0001", "YY0101"]));

    // Study-level aggregates are return keys.
    let ct = study(&[
        &format!("StudyInstanceUID={CT_STUDY}"),
        "NumberOfStudyRelatedInstances",
        "NumberOfStudyRelatedSeries",
        "ModalitiesInStudy",
        "StudyDate",
    ]);
    assert_eq!(ct.len(), 1);
    assert_eq!(ct[0]["0020,1208"], "9");
    assert_eq!(ct[0]["0008,0061"], "CT");
    assert_eq!(ct[0]["0008,0020"], "20240315");
    let series_count: usize = ct[0]["0020,1206"].parse().unwrap();

    // Series level within the study; then its instances.
    let (series, last) = findscu(
        port,
        "-S",
        &[
            "QueryRetrieveLevel=SERIES",
            &format!("StudyInstanceUID={CT_STUDY}"),
            "SeriesInstanceUID",
            "Modality",
            "NumberOfSeriesRelatedInstances",
        ],
    );
    assert!(last.contains("Success"), "{last}");
    assert_eq!(series.len(), series_count);
    let total: usize = series.iter().map(|s| s["0020,1209"].parse::<usize>().unwrap()).sum();
    assert_eq!(total, 9);
    let first = &series[0];
    let (images, _) = findscu(
        port,
        "-S",
        &[
            "QueryRetrieveLevel=IMAGE",
            &format!("StudyInstanceUID={CT_STUDY}"),
            &format!("SeriesInstanceUID={}", first["0020,000E"]),
            "SOPInstanceUID",
            "InstanceNumber",
        ],
    );
    assert_eq!(images.len(), first["0020,1209"].parse::<usize>().unwrap());
    assert!(images.iter().all(|i| i["0008,0018"].starts_with("1.2.826.0.1.3680043.10.1467.3.1.")));

    // Patient Root, PATIENT level, with patient aggregates.
    let (patients, last) = findscu(
        port,
        "-P",
        &[
            "QueryRetrieveLevel=PATIENT",
            "PatientName=sun*",
            "PatientID",
            "NumberOfPatientRelatedStudies",
            "NumberOfPatientRelatedInstances",
        ],
    );
    assert!(last.contains("Success"), "{last}");
    assert_eq!(values(&patients, PATIENT_ID), set(&["YY0002", "YY0105"]));
    let yy0002 = patients.iter().find(|p| p[PATIENT_ID] == "YY0002").unwrap();
    assert_eq!((yy0002["0020,1200"].as_str(), yy0002["0020,1204"].as_str()), ("1", "3"));

    // Wrong levels are refused with "identifier does not match SOP class".
    let (none, last) = findscu(port, "-S", &["QueryRetrieveLevel=PATIENT", "PatientName"]);
    assert!(none.is_empty() && last.contains("DataSetDoesNotMatchSOPClass"), "{last}");
    let (_, last) = findscu(port, "-S", &["QueryRetrieveLevel=NOPE", "PatientName"]);
    assert!(last.contains("DataSetDoesNotMatchSOPClass"), "{last}");
    let (_, last) = findscu(port, "-S", &["QueryRetrieveLevel=STUDY", "StudyDate=2024"]);
    assert!(last.contains("DataSetDoesNotMatchSOPClass"), "an invalid date is refused: {last}");
}

#[test]
fn find_result_cap_ends_with_out_of_resources_and_names_can_match_case_sensitively() {
    let (_tmp, server) = archive(Some("[dicom]\nmax_find_results = 4\ncase_insensitive_names = false\n"));
    let (responses, last) = findscu(server.dicom_port, "-S", &["QueryRetrieveLevel=STUDY", "StudyInstanceUID"]);
    assert_eq!(responses.len(), 4);
    assert!(last.contains("OutOfResources") || last.contains("a700"), "{last}");

    let names = |pattern: &str| {
        let (r, last) = findscu(server.dicom_port, "-S", &["QueryRetrieveLevel=STUDY", "PatientID", &format!("PatientName={pattern}")]);
        assert!(last.contains("Success"), "{last}");
        values(&r, PATIENT_ID)
    };
    assert_eq!(names("Zhou*"), set(&["YY0001"]));
    assert!(names("zhou*").is_empty(), "case matters when so configured");
    assert_eq!(names("Wang^XiaoDong"), set(&["YY0101"]));
}

/// A DCMTK storescp accepting every transfer syntax, writing to `dir`.
pub(crate) struct StoreScp(Child);

impl StoreScp {
    pub(crate) fn start(aet: &str, port: u16, dir: &Path) -> StoreScp {
        std::fs::create_dir_all(dir).unwrap();
        let child = dcmtk("storescp")
            .args(["+xa", "-aet", aet, "-od"])
            .arg(dir)
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_listening(port);
        StoreScp(child)
    }
}

impl Drop for StoreScp {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Testdata files by SOP Instance UID: (transfer syntax, dataset bytes).
fn originals() -> HashMap<String, (String, Vec<u8>, PathBuf)> {
    testdata_files()
        .into_iter()
        .map(|f| {
            let (meta, dataset) = part10(&f);
            (meta.sop_instance_uid.clone(), (meta.transfer_syntax_uid.clone(), dataset, f))
        })
        .collect()
}

/// Check received files against the originals: each arrives with its
/// stored bytes (deflated ones compared inflated: the receiver re-deflates)
/// or, when the receiver refused the stored syntax, decoded to Explicit VR
/// Little Endian with the pixels pydicom decodes from the original.
/// Returns the original paths of those that arrived decoded.
fn check_received(received: &[PathBuf]) -> BTreeSet<String> {
    let originals = originals();
    let mut decoded = BTreeSet::new();
    for f in received {
        let (meta, dataset) = part10(f);
        let (ts, original, path) = &originals[&meta.sop_instance_uid];
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if &meta.transfer_syntax_uid != ts {
            assert_eq!(meta.transfer_syntax_uid, EXPLICIT_LE, "{name} arrived in an unexpected transfer syntax");
            run(python().args(["-c", PIXELS_EQUAL]).arg(path).arg(f));
            decoded.insert(name);
        } else if ts == DEFLATED {
            assert!(inflate(&dataset) == inflate(original), "{name} differs (inflated)");
        } else {
            assert!(&dataset == original, "{name} arrived with different bytes");
        }
    }
    decoded
}

#[test]
fn move_to_storescp_and_get_deliver_the_stored_instances() {
    let (tmp, server) = archive(None);
    move_every_study_to_storescp(tmp.path(), &server);

    // C-GET: a study stored in Explicit VR Little Endian arrives byte for
    // byte; the CT study arrives converted to it, since getscu proposes one
    // context per SOP class and Explicit VR Little Endian is what we choose
    // there (we can send every stored instance in it).
    let got = tmp.path().join("got");
    for uid in [WANG_STUDY, CT_STUDY] {
        c_get_study(server.dicom_port, &got, uid);
    }
    let got_files = files_under(&got);
    assert_eq!(got_files.len(), 10, "C-GET delivers the 1 + 9 instances");
    let decoded = check_received(&got_files);
    assert_eq!(decoded.len(), 9, "the CT instances arrive converted: {decoded:?}");
    assert!(!decoded.contains("zh_gb18030.dcm"));
}

/// C-MOVE every study to a DCMTK storescp: every instance arrives with
/// its stored bytes (HTJ2K alone decoded: DCMTK 3.6.7 does not know it).
pub(crate) fn move_every_study_to_storescp(scratch: &Path, server: &Server) {
    let sink_port = free_port();
    ae_add(&server.data_dir, "SINK", sink_port);
    let recv = scratch.join("recv");
    let _scp = StoreScp::start("SINK", sink_port, &recv);

    let (studies, _) = findscu(server.dicom_port, "-S", &["QueryRetrieveLevel=STUDY", "StudyInstanceUID"]);
    for study in &studies {
        run(dcmtk("movescu").args(["-S", "-aec", "YUNYING", "-aem", "SINK", "127.0.0.1", &server.dicom_port.to_string()]).args([
            "-k",
            "QueryRetrieveLevel=STUDY",
            "-k",
            &format!("StudyInstanceUID={}", study["0020,000D"]),
        ]));
    }
    let received = files_under(&recv);
    assert_eq!(received.len(), testdata_files().len(), "every instance arrives at the move destination");
    assert_eq!(check_received(&received), set(&["ct_htj2k_lossless.dcm"]));
}

const PIXELS_EQUAL: &str = r#"
import sys, numpy, pydicom
a, b = (pydicom.dcmread(p) for p in sys.argv[1:3])
assert a.SOPInstanceUID == b.SOPInstanceUID and a.PatientName == b.PatientName
lossy = a.file_meta.TransferSyntaxUID in ("1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.81")
x, y = a.pixel_array.astype(numpy.int64), b.pixel_array.astype(numpy.int64)
assert x.shape == y.shape, (x.shape, y.shape)
d = numpy.abs(x - y).max()
assert d <= (2 if lossy else 0), f"pixels differ by up to {d}"
"#;

/// Run tests/py/qr.py move; the JSON responses.
fn pynetdicom_move(port: u16, dest: &str, study: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let out = run(python()
        .arg(format!("{ROOT}/tests/py/qr.py"))
        .args(["move", "--port", &port.to_string(), "--dest", dest, "--uid", study])
        .args(extra));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn flaky_scp(ae: &str, port: u16, extra: &[&str]) -> Child {
    let child = python()
        .arg(format!("{ROOT}/tests/py/qr.py"))
        .args(["flaky-scp", "--port", &port.to_string(), "--ae", ae, "--seconds", "120"])
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    wait_listening(port);
    child
}

#[test]
fn move_failures_unknown_destination_lost_destination_and_cancel() {
    let (_tmp, server) = archive(None);
    let port = server.dicom_port;

    let unknown = pynetdicom_move(port, "NOBODY", CT_STUDY, &[]);
    assert_eq!(unknown.last().unwrap()["status"], 0xA801, "{unknown:?}");

    // A destination that goes away on its 4th C-STORE (the move uses two
    // associations; both break, and nothing more can connect).
    let lost_port = free_port();
    ae_add(&server.data_dir, "LOSTDEST", lost_port);
    let mut lost = flaky_scp("LOSTDEST", lost_port, &["--abort-after", "3"]);
    let started = Instant::now();
    let responses = pynetdicom_move(port, "LOSTDEST", CT_STUDY, &[]);
    let last = responses.last().unwrap();
    assert_eq!(last["status"], 0xB000, "{responses:?}");
    let (completed, failed) = (last["completed"].as_u64().unwrap(), last["failed"].as_u64().unwrap());
    assert_eq!(completed, 3, "{last}");
    assert_eq!(completed + failed, 9, "every sub-operation is accounted for: {last}");
    assert_eq!(last["failed_uids"].as_array().unwrap().len() as u64, failed);
    assert!(started.elapsed() < Duration::from_secs(30), "no hang");
    let _ = lost.kill();
    let _ = lost.wait();

    // A slow destination, cancelled after the first sub-operation.
    let slow_port = free_port();
    ae_add(&server.data_dir, "SLOWDEST", slow_port);
    let mut slow = flaky_scp("SLOWDEST", slow_port, &["--delay", "0.5"]);
    let responses = pynetdicom_move(port, "SLOWDEST", CT_STUDY, &["--cancel-after", "1"]);
    let last = responses.last().unwrap();
    assert_eq!(last["status"], 0xFE00, "{responses:?}");
    let remaining = last["remaining"].as_u64().unwrap();
    assert!(remaining > 0 && last["completed"].as_u64().unwrap() + remaining == 9, "{last}");
    let _ = slow.kill();
    let _ = slow.wait();

    // The server is still serving.
    run(dcmtk("echoscu").args(["-aec", "YUNYING", "127.0.0.1", &port.to_string()]));
}

#[test]
fn move_streams_instances_larger_than_a_read_chunk_byte_for_byte() {
    let tmp = tempfile::tempdir().unwrap();
    let series = tmp.path().join("big");
    gen_ct(&series, 2, 1500, 7); // about 4.5 MB per instance: read in pieces, sent in many PDUs
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(&series));
    register_qr_peers(&data);
    let sink_port = free_port();
    ae_add(&data, "BIGSINK", sink_port);
    let server = Server::start(&data, None);
    let recv = tmp.path().join("recv");
    let _scp = StoreScp::start("BIGSINK", sink_port, &recv);
    let sent = files_under(&series);
    let (studies, _) = findscu(server.dicom_port, "-S", &["QueryRetrieveLevel=STUDY", "StudyInstanceUID"]);
    assert_eq!(studies.len(), 1);
    run(dcmtk("movescu").args(["-S", "-aec", "YUNYING", "-aem", "BIGSINK", "127.0.0.1", &server.dicom_port.to_string()]).args([
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        &format!("StudyInstanceUID={}", studies[0]["0020,000D"]),
    ]));
    let received = files_under(&recv);
    assert_eq!(received.len(), sent.len());
    let by_uid: HashMap<String, Vec<u8>> = sent
        .iter()
        .map(|f| {
            let (m, d) = part10(f);
            (m.sop_instance_uid, d)
        })
        .collect();
    for f in &received {
        let (m, d) = part10(f);
        assert!(d.len() > 4 << 20);
        assert!(by_uid[&m.sop_instance_uid] == d, "a large instance arrived with different bytes");
    }
}

/// Run tests/py/qr.py find; (statuses, identifiers).
fn pynetdicom_find(port: u16, ext: &str, keys: &[&str]) -> (Vec<u64>, Vec<serde_json::Value>) {
    let out = run(python().arg(format!("{ROOT}/tests/py/qr.py")).args(["find", "--port", &port.to_string(), "--ext", ext]).args(keys));
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let statuses = lines.iter().map(|l| l["status"].as_u64().unwrap()).collect();
    (statuses, lines.into_iter().filter_map(|l| l.get("identifier").cloned()).collect())
}

#[test]
fn extended_negotiation_grants_combined_date_time_and_fuzzy_names() {
    let (_tmp, server) = archive(None);
    let port = server.dicom_port;
    let ids =
        |found: &[serde_json::Value]| -> BTreeSet<String> { found.iter().map(|i| i["PatientID"].as_str().unwrap().to_string()).collect() };
    let range = ["QueryRetrieveLevel=STUDY", "StudyDate=20240320-20240322", "StudyTime=100000-080000", "PatientID="];
    // Combined: from 20 March 10:00 to 22 March 08:00 holds only the 21 March 09:00 study.
    let (statuses, found) = pynetdicom_find(port, "1,1,0", &range);
    assert_eq!(*statuses.last().unwrap(), 0);
    assert_eq!(ids(&found), set(&["YY0102"]));
    // Without the negotiation, date and time match separately: the time range is empty.
    let (_, found) = pynetdicom_find(port, "", &range);
    assert!(found.is_empty());
    // Fuzzy names: a prefix of any name word, Pinyin of Hanzi included.
    let (_, found) = pynetdicom_find(port, "1,0,1", &["QueryRetrieveLevel=STUDY", "PatientName=xiao", "PatientID="]);
    assert_eq!(ids(&found), set(&["YY0101", "YY0103"]));
    let (_, found) = pynetdicom_find(port, "", &["QueryRetrieveLevel=STUDY", "PatientName=xiao", "PatientID="]);
    assert!(found.is_empty(), "without fuzzy matching a name is matched whole");
}

/// Run tests/py/commitment_requester.py; its JSON report.
fn commitment(mode: &str, port: u16, extra: &[&str], present: &[PathBuf]) -> serde_json::Value {
    let out = run(python()
        .arg(format!("{ROOT}/tests/py/commitment_requester.py"))
        .args([mode, "--port", &port.to_string()])
        .args(extra)
        .arg("--present")
        .args(present));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn storage_commitment_reports_what_is_durable_on_the_same_or_a_new_association() {
    let (_tmp, server) = archive(None);
    let present: Vec<PathBuf> = testdata_files().into_iter().filter(|f| f.to_string_lossy().contains("ct_")).collect();
    let uids: BTreeSet<String> = present.iter().map(|f| part10(f).0.sop_instance_uid).collect();

    // Same association, with one instance we never received.
    let r = commitment("same", server.dicom_port, &["--unknown", "1"], &present);
    assert_eq!(r["action_status"], 0, "{r}");
    assert_eq!(r["event_type"], 2, "failures exist: {r}");
    assert_eq!(r["same_association"], true);
    assert_eq!(r["transaction_ok"], true);
    let committed: BTreeSet<String> = r["committed"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    assert_eq!(committed, uids);
    assert_eq!(r["failed"], serde_json::json!([[r["unknown_uids"][0], 0x0112]]), "no such object instance");

    // The requester releases at once: the report comes on a new association
    // to its registered AE.
    let our_port = free_port();
    ae_add(&server.data_dir, "COMMITSCU", our_port);
    let r = commitment("separate", server.dicom_port, &["--our-port", &our_port.to_string()], &present);
    assert_eq!((r["event_type"].as_u64(), r["same_association"].as_bool()), (Some(1), Some(false)), "{r}");
    assert_eq!(r["transaction_ok"], true);
    assert_eq!(r["committed"].as_array().unwrap().len(), present.len());
}

#[test]
fn orthanc_as_peer_pacs_queries_retrieves_and_receives_moves() {
    assert!(Path::new("/usr/sbin/Orthanc").exists(), "Orthanc missing: run scripts/test.sh, which installs it");
    let (tmp, server) = archive(None);
    let (orthanc_dicom, orthanc_http) = (free_port(), free_port());
    ae_add(&server.data_dir, "ORTHANC", orthanc_dicom);
    let out = python()
        .arg(format!("{ROOT}/tests/py/orthanc_peer.py"))
        .args(["--scp-port", &server.dicom_port.to_string()])
        .args(["--orthanc-dicom-port", &orthanc_dicom.to_string(), "--orthanc-http-port", &orthanc_http.to_string()])
        .arg("--workdir")
        .arg(tmp.path().join("orthanc"))
        .arg("--testdata")
        .arg(Path::new(ROOT).join("testdata/dicom"))
        // Nine CT instances in eight syntaxes (Orthanc 1.10 does not take
        // HTJ2K: that one goes decoded); three MR in LE, BE and deflated.
        .args(["--retrieve-study", CT_STUDY, "--move-study", "1.2.826.0.1.3680043.10.1467.1.3"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "Orthanc peer checks failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
