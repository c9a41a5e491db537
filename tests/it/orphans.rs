//! `yunying verify` and objects no index row refers to: originals a crash
//! left behind (stored, never acknowledged) and renditions of instances that
//! are gone. They are listed once older than the grace period, adopted as
//! `reindex` would, or deleted; referenced objects are never touched.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::harness::*;

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

/// (key, result) of each unreferenced object in a `verify --json` report.
fn unreferenced(report: &serde_json::Value) -> BTreeMap<String, String> {
    report["unreferenced"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["key"].as_str().unwrap().to_string(), o["result"].as_str().unwrap().to_string()))
        .collect()
}

/// The SOP Instance UID in an original's key (`…/{sop}.{version}.dcm`).
fn sop_of(key: &str) -> &str {
    key.rsplit('/').next().unwrap().strip_suffix(".dcm").unwrap().rsplit_once('.').unwrap().0
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_lists_unreferenced_objects_after_the_grace_period_and_adopts_or_deletes_them() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start(&data, None);
    let files: Vec<_> = testdata_files().into_iter().take(6).collect();
    pynetdicom_store(server.dicom_port, &[], &files);
    let index = server.index().await;
    wait_for_jobs(&index, Duration::from_secs(120)).await;
    let indexed = index.counts().await.unwrap().instances;
    index.close().await;
    server.stop();
    let referenced = server.store_contents();
    let an_original = referenced.keys().find(|k| k.starts_with("originals/")).unwrap().clone();

    // What a node killed during a C-STORE burst leaves: a valid instance
    // that was never indexed, a second copy of an indexed instance (a resend
    // under another version), a torn or foreign object; and a rendition of
    // an instance that is gone.
    let generated = tmp.path().join("gen");
    gen_ct(&generated, 1, 16, 28);
    let new_file = files_under(&generated).remove(0);
    let new_bytes = std::fs::read(&new_file).unwrap();
    let new_sop = part10(&new_file).0.sop_instance_uid.trim_end_matches('\0').to_string();
    let new_instance = format!("originals/9.9/9.9.9/{new_sop}.0123456789abcdef.dcm");
    let resend = format!("{}.fedcba9876543210.dcm", an_original.strip_suffix(".dcm").unwrap().rsplit_once('.').unwrap().0);
    let junk = "originals/1.2/1.2.3/1.2.3.4.00000000deadbeef.dcm".to_string();
    let stray_rendition = "renditions/1.2/1.2.3/1.2.3.4/thumbnail.jpg".to_string();
    server.write_object(&new_instance, &new_bytes);
    server.write_object(&resend, &referenced[&an_original]);
    server.write_object(&junk, b"half an upload");
    server.write_object(&stray_rendition, b"\xff\xd8\xff");
    let mut with_orphans = referenced.clone();
    with_orphans.extend(server.store_contents());
    let orphans = [&new_instance, &resend, &junk, &stray_rendition];

    // Inside the default grace period (an hour), none is listed: an ingest
    // in flight stores its object before its row.
    let report = json(&run(cli(&data).args(["verify", "--json"])));
    assert_eq!(report["unreferenced"]["count"], 0, "{report}");
    assert_eq!(report["problems"].as_array().unwrap().len(), 0);

    // Past the grace period, each is listed, with its size; nothing changes.
    let report = json(&run(cli(&data).args(["verify", "--json", "--grace", "0"])));
    let listed = unreferenced(&report);
    let mut expected_keys: Vec<&String> = orphans.to_vec();
    expected_keys.sort();
    assert_eq!(listed.keys().collect::<Vec<_>>(), expected_keys, "{report}");
    assert!(listed.values().all(|r| r == "reported"), "{report}");
    let bytes: usize = orphans.iter().map(|k| with_orphans[*k].len()).sum();
    assert_eq!(report["unreferenced"]["bytes"].as_u64(), Some(bytes as u64));
    assert!(server.store_contents() == with_orphans);
    let out = run(cli(&data).args(["verify", "--quiet", "--grace", "0"]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 unreferenced objects"), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("unreferenced rendition {stray_rendition}")));

    // Adopt: the valid instance becomes a row; the rest are listed.
    let report = json(&run(cli(&data).args(["verify", "--json", "--grace", "0", "--unreferenced", "adopt"])));
    let results = unreferenced(&report);
    assert_eq!(results[&new_instance], "adopted", "{report}");
    assert_eq!(results[&resend], "superseded");
    assert_eq!(results[&junk], "unreadable");
    assert_eq!(results[&stray_rendition], "reported");
    let index = server.index().await;
    assert_eq!(index.counts().await.unwrap().instances, indexed + 1);
    let adopted = index.instance(&new_sop).await.unwrap().expect("the adopted instance is queryable");
    assert_eq!(adopted.object_key, new_instance);
    let kept = index.instance(sop_of(&an_original)).await.unwrap().unwrap();
    assert_eq!(kept.object_key, an_original, "a second copy does not replace the indexed one");
    index.close().await;
    assert!(server.store_contents() == with_orphans, "adopting deletes nothing");

    // Delete: the rest go; the adopted instance and every referenced
    // object stay, byte for byte, and verify is clean.
    let out = run(cli(&data).args(["verify", "--quiet", "--grace", "0", "--unreferenced", "delete"]));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("3 unreferenced objects")
            && String::from_utf8_lossy(&out.stdout).contains("3 deleted")
    );
    let mut expected = referenced.clone();
    expected.insert(new_instance.clone(), new_bytes);
    assert!(server.store_contents() == expected, "only the unreferenced objects were deleted");
    let report = json(&run(cli(&data).args(["verify", "--json", "--grace", "0"])));
    assert_eq!(report["unreferenced"]["count"], 0, "{report}");
    assert_eq!(report["problems"].as_array().unwrap().len(), 0, "{report}");
    assert_eq!(report["originals"].as_u64(), Some(indexed as u64 + 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_sweeps_unreferenced_objects_on_a_schedule() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let mut server = Server::start(&data, None);
    let files: Vec<_> = testdata_files().into_iter().take(3).collect();
    pynetdicom_store(server.dicom_port, &[], &files);
    let index = server.index().await;
    wait_for_jobs(&index, Duration::from_secs(120)).await;
    index.close().await;
    server.stop();
    let referenced = server.store_contents();

    // A node that sweeps every second what is older than two.
    let mut server = Server::start(&data, Some("[archive]\nsweep_interval_secs = 1\nsweep_grace_secs = 2\n"));
    let generated = tmp.path().join("gen");
    gen_ct(&generated, 1, 16, 5);
    let new_file = files_under(&generated).remove(0);
    let new_sop = part10(&new_file).0.sop_instance_uid.trim_end_matches('\0').to_string();
    let new_instance = format!("originals/9.9/9.9.9/{new_sop}.0123456789abcdef.dcm");
    let junk = "originals/1.2/1.2.3/1.2.3.4.00000000deadbeef.dcm";
    let stray_rendition = "renditions/1.2/1.2.3/1.2.3.4/thumbnail.jpg";
    server.write_object(&new_instance, &std::fs::read(&new_file).unwrap());
    server.write_object(junk, b"half an upload");
    server.write_object(stray_rendition, b"\xff\xd8\xff");

    let index = server.index().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let adopted = index.instance(&new_sop).await.unwrap().is_some();
        let swept = !server.object_keys("renditions/").iter().any(|k| k == stray_rendition);
        if adopted && swept {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "not swept within a minute (adopted: {adopted}, rendition deleted: {swept})");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(index.instance(&new_sop).await.unwrap().unwrap().object_key, new_instance);
    wait_for_jobs(&index, Duration::from_secs(120)).await;
    index.close().await;
    server.stop();
    let now = server.store_contents();
    assert_eq!(now.get(junk).map(Vec::as_slice), Some(&b"half an upload"[..]), "the sweep deletes no original");
    for (key, bytes) in &referenced {
        assert!(now.get(key) == Some(bytes), "{key} is untouched");
    }
}
