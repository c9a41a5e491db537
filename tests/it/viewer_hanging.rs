//! Hanging protocols, priors that line up and the prior's report in the web
//! viewer (issue 29): viewer/tests/hanging-unit.test.mjs (the rules on plain
//! objects) and viewer/tests/hanging.test.mjs (headless Chromium and Firefox) against a
//! server holding two CT studies of one patient from one hospital, a month
//! and 10 mm of table apart, the older with an Enhanced SR report; a
//! radiologist reads, the system administrator edits the protocols.

use std::path::Path;

use crate::harness::*;
use crate::people::{PASSWORD, add_user, enrolled, login, session_of};
use crate::viewer::{CHROMIUM, FIREFOX, node_test, node_test_in, viewer_dist};

const FINDINGS: &str = "右肺上叶结节 8 mm，边界清楚 (RUL nodule 8 mm)";
const IMPRESSION: &str = "随访 12 个月 · follow-up in 12 months";

fn study_of(file: &Path) -> String {
    let object = dicom_object::open_file(file).unwrap();
    object.element(dicom_dictionary_std::tags::STUDY_INSTANCE_UID).unwrap().to_str().unwrap().trim_end_matches('\0').to_string()
}

#[test]
fn viewer_hanging_protocol_rules() {
    node_test("hanging-unit.test.mjs", &[]);
}

#[test]
fn viewer_hanging_protocols_remembered_prior_offsets_and_the_prior_report() {
    hanging_in(CHROMIUM);
}

/// The same in headless Firefox.
#[test]
fn viewer_hanging_in_firefox() {
    hanging_in(FIREFOX);
}

fn hanging_in(browser: &str) {
    let dist = viewer_dist();
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    gen_ct_with(
        &src,
        60,
        256,
        37,
        &["--studies-per-patient", "2", "--patient-id", "HANG-1", "--patient-name", "Zhao^Min=赵^敏", "--charset", "ISO_IR 192", "-q"],
    );
    // The generator's study 0 is the older: the prior, with a report.
    let report = tmp.path().join("report");
    std::fs::create_dir_all(&report).unwrap();
    run(python()
        .arg(format!("{ROOT}/tests/py/prior_report_sr.py"))
        .arg(src.join("0").join("00000.dcm"))
        .arg(report.join("sr.dcm"))
        .args([FINDINGS, IMPRESSION]));
    let current = study_of(&src.join("1").join("00000.dcm"));
    let prior = study_of(&src.join("0").join("00000.dcm"));
    let data = tmp.path().join("data");
    for dir in [src.join("1"), src.join("0"), report] {
        run(cli(&data).args(["import", "--quiet", "--institution", "HOSP_A"]).arg(dir));
    }
    add_user(&data, "hang.rad", Some("HOSP_A"), "radiologist");
    add_user(&data, "hang.sys", None, "system-admin");
    let config = format!("[http]\nviewer_dir = {dist:?}\n[access]\nanonymous = \"nobody\"\n");
    let server = Server::start(&data, Some(&config));
    let port = server.http_port;
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let counts = wait_for_jobs(&server.index().await, std::time::Duration::from_secs(300)).await;
        assert_eq!(counts.parked, 0, "{counts:?}");
    });
    let radiologist = session_of(&login(port, "hang.rad", PASSWORD, None));
    let admin = enrolled(port, "hang.sys").0;
    node_test_in(
        browser,
        "hanging.test.mjs",
        &[
            ("YUNYING_URL", format!("http://127.0.0.1:{port}")),
            ("RAD_COOKIE", radiologist),
            ("ADMIN_COOKIE", admin),
            ("CURRENT_STUDY", current),
            ("PRIOR_STUDY", prior),
            ("FINDINGS", FINDINGS.into()),
            ("IMPRESSION", IMPRESSION.into()),
        ],
    );
    // Each replacement of the list is on the ledger, as a configuration change by the administrator.
    rt.block_on(async {
        let index = server.index().await;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            let mut bodies: Vec<String> = index.ledger_entries(0, 100_000).await.unwrap().into_iter().map(|e| e.body).collect();
            bodies.extend(index.pending_audit_events(100_000).await.unwrap().into_iter().map(|e| e.body));
            let changes: Vec<&String> = bodies.iter().filter(|b| b.contains("\"viewer-config-changed\"")).collect();
            if changes.len() >= 2 {
                assert!(changes.iter().all(|b| b.contains("hanging-protocols")), "{changes:?}");
                assert!(changes.iter().any(|b| b.contains("chest-mine")), "{changes:?}");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "no viewer-config-changed events: {changes:?}");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    });
}
