//! SIGKILL mid-ingest: every acknowledged instance survives, intact and
//! indexed; nothing partial is visible.

use std::time::{Duration, Instant};

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
    std::fs::write(&ack_log, "").unwrap();

    let mut sender = python()
        .arg(format!("{ROOT}/tests/py/store.py"))
        .args(["--port", &server.dicom_port.to_string(), "--assocs", "4", "--ack-log"])
        .arg(&ack_log)
        .arg(&series)
        .spawn()
        .unwrap();
    // Kill once a good number of instances were acknowledged, mid-stream.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let acked = std::fs::read_to_string(&ack_log).unwrap().lines().count();
        if acked >= 60 {
            break;
        }
        assert!(Instant::now() < deadline, "only {acked} instances acknowledged in 120 s");
        std::thread::sleep(Duration::from_millis(5));
    }
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
    // spool files too.)
    assert!(files_under(&server.spool_dir()).is_empty());
}
