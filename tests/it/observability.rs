//! What an operations team reads: JSON logs, the access log (one line per
//! HTTP request and per DIMSE operation, no identifiers from the request),
//! `/metrics` families, and a `YUNYING_LOG` that cannot silence by mistake.

use std::process::Command;

use crate::harness::*;

/// The access log's lines (target `yunying::access`) among JSON log lines,
/// failing on any line that is not JSON.
fn access_lines(log: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(v["timestamp"].is_string() && v["level"].is_string(), "{line}");
        if v["target"] == "yunying::access" {
            out.push(v["fields"].clone());
        }
    }
    out
}

#[test]
fn json_logs_parse_line_by_line_and_the_access_log_has_one_line_per_request_and_operation() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let series = tmp.path().join("ct");
    gen_ct(&series, 2, 32, 71);
    register_ae(&data, "OBS_SCU", 104, Some("store"));
    let log = tmp.path().join("yunying.log");
    let mut server = Server::start_with_log(&data, Some("[log]\nformat = \"json\"\n"), Some(&log));
    let (status, _) = http_get(server.http_port, "/dicom-web/studies?PatientID=SECRETPID42").unwrap();
    assert!(status == 200 || status == 401, "{status}");
    let (status, _) = http_get(server.http_port, "/no/such/page").unwrap();
    assert_eq!(status, 404);
    run(dcmtk("echoscu").args(["-aet", "OBS_SCU", "-aec", "YUNYING", "127.0.0.1", &server.dicom_port.to_string()]));
    storescu_dir(server.dicom_port, "OBS_SCU", &series);
    let (_, metrics) = http_get(server.http_port, "/metrics").unwrap();
    assert!(server.stop().success());

    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("SECRETPID42"), "a query's values never reach the log");
    let lines = access_lines(&text);
    let http = |route: &str| lines.iter().filter(|f| f["face"] == "http" && f["route"] == route).cloned().collect::<Vec<_>>();
    let studies = http("/dicom-web/studies");
    assert_eq!(studies.len(), 1, "{lines:?}");
    assert_eq!(studies[0]["method"], "GET");
    assert!(studies[0]["ms"].as_f64().is_some() && studies[0]["client"] == "127.0.0.1", "{:?}", studies[0]);
    let unmatched = http("(unmatched)");
    assert_eq!(unmatched.len(), 1, "{lines:?}");
    assert_eq!(unmatched[0]["status"], 404);
    let dimse = |op: &str| lines.iter().filter(|f| f["face"] == "dimse" && f["operation"] == op).cloned().collect::<Vec<_>>();
    assert_eq!(dimse("C-ECHO").len(), 1, "{lines:?}");
    let stores = dimse("C-STORE");
    assert_eq!(stores.len(), 2, "{lines:?}");
    assert!(stores.iter().all(|f| f["status"] == "0000" && f["who"] == "ae:OBS_SCU"), "{stores:?}");

    assert!(metrics.contains("yunying_dimse_operations_total{operation=\"C-STORE\",status=\"0000\"} 2\n"), "{metrics}");
    assert!(metrics.contains("yunying_dimse_operation_duration_seconds_count{operation=\"C-ECHO\"} 1\n"), "{metrics}");
    assert!(metrics.contains("yunying_http_requests_total{route=\"(unmatched)\",method=\"GET\",status=\"404\"} 1\n"), "{metrics}");
    assert!(metrics.contains("yunying_http_request_duration_seconds_bucket{route=\"/dicom-web/studies\",method=\"GET\",le=\"+Inf\"} 1\n"));
    assert!(metrics.contains("yunying_index_instances 2\n"), "{metrics}");
    assert!(metrics.contains("yunying_build_info{version=") && metrics.contains("\nprocess_resident_memory_bytes "), "{metrics}");
}

#[test]
fn a_yunying_log_that_names_only_a_module_does_not_silence_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    // `verbose` reads as a module name: before, everything else went quiet.
    let out = Command::new(BIN)
        .args(["--data-dir"])
        .arg(tmp.path().join("data"))
        .args(["serve", "--dicom-port", "0", "--http-port", "0", "--aet", "OBSLOG"])
        .env("YUNYING_LOG", "verbose")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = out.id();
    let serving = tmp.path().join("data/serving.json");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !serving.exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    run(Command::new("kill").args(["-TERM", &pid.to_string()]));
    let out = out.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Yunying is serving"), "the INFO start line is still there: {stderr}");
}
