//! Bounds: instance size, concurrent associations, graceful shutdown.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn an_instance_over_the_size_limit_gets_a700_and_the_association_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let (small, big) = (tmp.path().join("small"), tmp.path().join("big"));
    gen_ct(&small, 1, 32, 61); // ~2 KB of pixels
    gen_ct(&big, 1, 128, 62); // ~32 KB of pixels
    let config = "[archive]\nmax_instance_bytes = 16384\n";
    let server = Server::start(&tmp.path().join("data"), Some(config));
    let files = [files_under(&big)[0].clone(), files_under(&small)[0].clone()];
    let lines = pynetdicom_store(server.dicom_port, &[], &files);
    assert_eq!(lines[0]["status"], 0xA700, "{}", lines[0]);
    assert_eq!(lines[1]["status"], 0, "{}", lines[1]);
    let index = server.index().await;
    assert_eq!(index.counts().await.unwrap().instances, 1);
    // Nothing of the refused instance is left in the spool (once the stored
    // one's renditions, whose writes pass through the spool, are done).
    wait_for_jobs(&index, Duration::from_secs(60)).await;
    assert!(files_under(&server.spool_dir()).is_empty(), "{:?}", files_under(&server.spool_dir()));
}

#[test]
fn associations_beyond_the_limit_are_rejected_until_one_ends() {
    let tmp = tempfile::tempdir().unwrap();
    // Without eviction (by default an idle association gives way to a new
    // caller: dimse_security.rs).
    let server = Server::start(&tmp.path().join("data"), Some("[dicom]\nmax_associations = 1\nevict_idle_after = 0\n"));
    let mut holder = python()
        .arg(format!("{ROOT}/tests/py/store.py"))
        .args(["--port", &server.dicom_port.to_string(), "--hold"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(holder.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert!(line.contains("held"), "{line}");

    let echo = || dcmtk("echoscu").args(["-aec", "YUNYING", "127.0.0.1"]).arg(server.dicom_port.to_string()).output().unwrap();
    assert!(!echo().status.success(), "a second association must be rejected while the first is open");
    drop(holder.stdin.take()); // release the first association
    holder.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !echo().status.success() {
        assert!(Instant::now() < deadline, "the slot was not freed after release");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_an_in_flight_c_store_finish() {
    let tmp = tempfile::tempdir().unwrap();
    let mf = tmp.path().join("mf");
    run(python().arg(format!("{ROOT}/testdata/gen_ct_series.py")).args(["--out"]).arg(&mf).args(["--multiframe", "200"]));
    let file = files_under(&mf)[0].clone();
    let data = tmp.path().join("data");
    let mut server = Server::start(&data, None);
    let sender = python()
        .arg(format!("{ROOT}/tests/py/store.py"))
        .args(["--port", &server.dicom_port.to_string()])
        .arg(&file)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the instance is being received, then ask the server to stop.
    let spool = server.spool_dir();
    let deadline = Instant::now() + Duration::from_secs(30);
    while files_under(&spool).is_empty() {
        assert!(Instant::now() < deadline, "the transfer never started");
        std::thread::sleep(Duration::from_millis(2));
    }
    assert!(server.stop().success());
    let out = sender.wait_with_output().unwrap();
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["status"], 0, "the in-flight C-STORE must complete: {line}");
    let server = Server::start(&data, None);
    let index = server.index().await;
    assert!(index.instance(&part10(&file).0.sop_instance_uid).await.unwrap().is_some());
}
