//! `yunying migrate-store` and `yunying verify`, between the test servers'
//! store and a real store of the other kind (Garage or the filesystem).

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::harness::*;

/// A stopped server whose store holds the test data and their renditions.
async fn archive_with_renditions(data: &std::path::Path) -> Server {
    let mut server = Server::start(data, None);
    let files: Vec<_> = testdata_files().into_iter().take(12).collect();
    pynetdicom_store(server.dicom_port, &[], &files);
    let index = server.index().await;
    wait_for_jobs(&index, Duration::from_secs(120)).await;
    assert!(index.counts().await.unwrap().instances >= 12);
    index.close().await;
    server.stop();
    server
}

/// SIGKILL `child` once `done` holds (or it ended, or `limit` passed).
fn kill_when(mut child: std::process::Child, limit: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() && Instant::now() < deadline && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.kill();
    child.wait().unwrap();
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn migrate_store_moves_every_object_there_and_back_and_resumes() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = archive_with_renditions(&data).await;
    let original = server.store_contents();
    assert!(original.keys().any(|k| k.starts_with("renditions/")), "renditions exist to migrate");
    let total = original.len();
    let there = other_store(tmp.path(), "there");

    // A run stopped after 3 objects (as by an operator's maintenance window).
    let out = run(cli(&data).args(["migrate-store", "--quiet", "--limit", "3", "--to", &there]));
    assert!(stdout(&out).contains(&format!("stopped after 3 objects (--limit); {} still to copy", total - 3)), "{}", stdout(&out));
    assert_eq!(store_contents(&there).len(), 3);

    // A run killed while copying, one object at a time.
    let child = cli(&data)
        .args(["migrate-store", "--quiet", "--jobs", "1", "--to", &there])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    kill_when(child, Duration::from_secs(30), || store_contents(&there).len() >= 4);
    let copied_before = store_contents(&there).len();
    assert!(copied_before >= 3);

    // The next run copies only the rest, then re-reads the copy against the index.
    let out = run(cli(&data).args(["migrate-store", "--quiet", "--to", &there]));
    let text = stdout(&out);
    assert!(text.contains(&format!("{copied_before} objects (")) && text.contains("already there"), "resumes after what is there: {text}");
    assert!(text.contains(&format!("copied {} objects", total - copied_before)), "{text}");
    assert!(text.contains(" 0 missing, 0 corrupt, 0 wrong size, 0 unreadable"), "{text}");
    assert!(store_contents(&there) == original, "the destination holds every object, byte for byte");

    // And back, to a store of the first kind.
    let back = if distributed_backend() { fresh_s3_spec("back") } else { format!("fs:{}", tmp.path().join("back").display()) };
    run(cli(&data).args(["migrate-store", "--quiet", "--from", &there, "--to", &back]));
    assert!(store_contents(&back) == original, "the round trip loses nothing");

    // A run with nothing left to do says so and changes nothing.
    let out = run(cli(&data).args(["migrate-store", "--quiet", "--to", &there]));
    assert!(stdout(&out).contains(&format!("{total} objects")) && stdout(&out).contains("copied 0 objects"), "{}", stdout(&out));
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_reports_missing_and_corrupt_objects_and_repairs_them_from_a_copy() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let server = archive_with_renditions(&data).await;
    let original = server.store_contents();
    let copy = other_store(tmp.path(), "copy");
    run(cli(&data).args(["migrate-store", "--quiet", "--to", &copy]));

    let out = run(cli(&data).args(["verify", "--json"]));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["problems"].as_array().unwrap().len(), 0, "{report}");
    assert!(report["originals"].as_u64().unwrap() >= 12);

    // Damage the store: flip one byte of an original (same size), delete
    // another original and a rendition.
    let originals: Vec<&String> = original.keys().filter(|k| k.starts_with("originals/")).collect();
    let rendition = original.keys().find(|k| k.starts_with("renditions/")).unwrap();
    let (flipped, deleted) = (originals[0], originals[1]);
    let mut bytes = original[flipped].clone();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    server.write_object(flipped, &bytes);
    server.delete_object(deleted);
    server.delete_object(rendition);

    let out = cli(&data).args(["verify", "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "damage is a failure: {}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut found: Vec<(String, String, String)> = report["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["key"].as_str().unwrap().into(), p["object"].as_str().unwrap().into(), p["problem"].as_str().unwrap().into()))
        .collect();
    found.sort();
    let mut expected = vec![
        (flipped.clone(), "original".to_string(), "corrupt".to_string()),
        (deleted.clone(), "original".to_string(), "missing".to_string()),
        (rendition.clone(), "rendition".to_string(), "missing".to_string()),
    ];
    expected.sort();
    assert_eq!(found, expected);

    // Repair from the migrated copy, then all is well and byte-identical.
    let out = run(cli(&data).args(["verify", "--quiet", "--repair-from", &copy]));
    assert!(stdout(&out).contains("3 repaired"), "{}", stdout(&out));
    run(cli(&data).args(["verify", "--quiet"]));
    assert!(server.store_contents() == original, "repaired objects are the originals");

    // A repair source that is itself damaged is not used.
    server.delete_object(deleted);
    let broken_copy = other_store(tmp.path(), "empty");
    let out = cli(&data).args(["verify", "--quiet", "--repair-from", &broken_copy]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not repaired"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// `verify --repair-from` killed mid-repair (issue 24): the next run
/// repairs the rest and clears the unfinished copies a killed run leaves in
/// the spool; the store ends byte-identical, nothing half-written in it.
#[tokio::test(flavor = "multi_thread")]
async fn verify_repair_killed_midway_is_finished_by_the_next_run_and_leaves_no_copy_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let series = tmp.path().join("ct");
    gen_ct(&series, 300, 64, 46);
    run(cli(&data).args(["import", "--quiet"]).arg(&series));
    let mut server = Server::start(&data, None);
    server.stop();
    let original = server.store_contents();
    let copy = other_store(tmp.path(), "copy");
    run(cli(&data).args(["migrate-store", "--quiet", "--to", &copy]));
    let originals = server.object_keys("originals/");
    assert_eq!(originals.len(), 300);
    for key in &originals {
        server.delete_object(key);
    }

    let child = cli(&data)
        .args(["verify", "--quiet", "--jobs", "1", "--repair-from", &copy])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    kill_when(child, Duration::from_secs(60), || server.object_keys("originals/").len() >= 30);
    let repaired_before = server.object_keys("originals/").len();
    assert!((30..300).contains(&repaired_before), "killed mid-repair ({repaired_before} of 300 back)");
    // What a killed copy leaves (the kill above may have landed between two).
    let spool = server.spool_dir();
    std::fs::create_dir_all(&spool).unwrap();
    std::fs::write(spool.join(".copy-4194305-0"), b"half a copy").unwrap();

    let out = run(cli(&data).args(["verify", "--quiet", "--repair-from", &copy]));
    assert!(stdout(&out).contains(&format!("{} repaired", 300 - repaired_before)), "{}", stdout(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unfinished copies an interrupted run left"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    run(cli(&data).args(["verify", "--quiet"]));
    assert!(server.store_contents() == original, "every object back, byte for byte, and nothing else");
    assert!(files_under(&spool).is_empty(), "spool files left: {:?}", files_under(&spool));
}
