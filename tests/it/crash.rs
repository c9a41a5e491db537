//! SIGKILL mid-ingest: every acknowledged instance survives, intact and
//! indexed; nothing partial is visible.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::harness::*;

#[tokio::test(flavor = "multi_thread")]
async fn sigkill_during_four_association_push_loses_no_acknowledged_instance() {
    let tmp = tempfile::tempdir().unwrap();
    let series = tmp.path().join("ct");
    gen_ct(&series, 400, 256, 31);
    let data = tmp.path().join("data");
    let mut server = Server::start(&data, None);
    let ack_log = tmp.path().join("acks.txt");
    let mut sender = parallel_sender(server.dicom_port, &ack_log, &series);
    // Kill once a good number of instances were acknowledged, mid-stream.
    wait_acked(&ack_log, 60, Duration::from_secs(120));
    server.kill();
    let _ = sender.wait();
    let acked: Vec<String> = std::fs::read_to_string(&ack_log).unwrap().lines().map(str::to_string).collect();
    assert!(acked.len() < 400, "the kill must land mid-way ({} acknowledged)", acked.len());

    let server = Server::start(&data, Some("[renditions]\nenabled = false\n"));
    let index = server.index().await;
    let by_uid: std::collections::HashMap<String, std::path::PathBuf> =
        files_under(&series).into_iter().map(|f| (part10(&f).0.sop_instance_uid, f)).collect();
    for uid in &acked {
        let stored = index.instance(uid).await.unwrap().unwrap_or_else(|| panic!("acknowledged {uid} not indexed"));
        let bytes = server.read_object(&stored.object_key);
        assert_eq!(hex::encode(Sha256::digest(&bytes)), stored.digest, "{uid}: digest mismatch");
        assert!(part10_bytes(&bytes, uid).1 == part10(&by_uid[uid]).1, "{uid}: bytes differ");
    }
    // Whatever is visible in the store is complete: every object parses to
    // its end, and every indexed row has its object.
    for key in server.object_keys("originals/") {
        let (meta, dataset) = part10_bytes(&server.read_object(&key), &key);
        assert!(by_uid[&meta.sop_instance_uid].exists());
        assert!(dataset == part10(&by_uid[&meta.sop_instance_uid]).1, "partial object {key}");
    }
    for (key, digest) in index.all_objects().await.unwrap() {
        let bytes = server.read_object(&key);
        assert_eq!(hex::encode(Sha256::digest(&bytes)), digest);
    }
    // (Renditions are off in this restart: their in-flight writes would be
    // spool files too.) The copies kept for SM3 (S3) went with the restart;
    // their rows are found by the digester's sweep.
    assert!(files_under(&server.spool_dir()).is_empty());
    assert!(files_under(&data.join("digest")).is_empty(), "{:?}", files_under(&data.join("digest")));
}

/// A storage commitment request answered with success owes its report: a
/// node killed before the requester heard it delivers it after the restart,
/// once, on a new association to the requester's registered AE.
#[test]
fn sigkill_with_a_storage_commitment_report_owed_delivers_it_after_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let present: Vec<std::path::PathBuf> = testdata_files().into_iter().filter(|f| f.to_string_lossy().contains("ct_")).collect();
    run(cli(&data).args(["import", "--quiet"]).args(&present));
    let our_port = free_port();
    run(cli(&data).args(["ae", "add", "COMMITSCU", "127.0.0.1", &our_port.to_string(), "--platform"]));
    let mut server = Server::start(&data, None);
    let requester = |args: &[&str]| {
        python().arg(format!("{ROOT}/tests/py/commitment_requester.py")).args(args).arg("--present").args(&present).output().unwrap()
    };

    // Asked, then released at once; nobody listens on the requester's port
    // yet, so the report cannot go out before the kill.
    let out = requester(&["action", "--port", &server.dicom_port.to_string()]);
    let asked: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(asked["action_status"], 0, "{asked}");
    std::thread::sleep(Duration::from_millis(1500));
    server.kill();

    let mut listener = python()
        .arg(format!("{ROOT}/tests/py/commitment_requester.py"))
        .args(["listen", "--our-port", &our_port.to_string(), "--timeout", "60", "--linger", "3"])
        .arg("--present")
        .args(&present)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufRead::lines(std::io::BufReader::new(listener.stdout.take().unwrap()));
    let first = lines.next().unwrap().unwrap();
    assert!(first.contains("listening"), "{first}");
    // (The killed node's delivery lease runs out first: up to 20 s.)
    let server = Server::start(&data, None);
    let report: serde_json::Value = serde_json::from_str(&lines.next().expect("the listener's report").unwrap()).unwrap();
    assert_eq!(report["transaction_uid"], asked["transaction_uid"], "{report}");
    assert_eq!(report["event_type"], 1, "everything asked for is held: {report}");
    assert_eq!(report["all_present_committed"], true, "{report}");
    assert_eq!(report["reports"], 1, "delivered once: {report}");
    assert!(listener.wait().unwrap().success());
    drop(server);
}
