//! Objects no index row refers to: originals a node killed during a
//! C-STORE burst left behind (stored, never acknowledged), second copies
//! of indexed instances, objects that are not instances, renditions of
//! instances that are gone. `yunying verify` lists those older than the
//! grace period, adopts them as `reindex` would or deletes them, and the
//! sweep does the same on its own; objects inside the grace period and
//! referenced objects are never touched, and what changed is in the ledger.
//! Both backends (`YUNYING_TEST_BACKEND`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::wire::{http_exchange, http_get};

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

/// What a node killed mid-burst leaves: objects stored by an archive (with
/// its file meta and provenance, under the keys ingest gives them) that no
/// row of *this* archive's index names. A scratch archive stores the
/// generated instances; (originals, renditions) of its store.
async fn stored_elsewhere(tmp: &Path, seed: u64, slices: usize) -> (Vec<(String, Vec<u8>)>, Vec<(String, Vec<u8>)>) {
    let generated = tmp.join(format!("gen-{seed}"));
    gen_ct(&generated, slices, 16, seed);
    let scratch_dir = tmp.join(format!("scratch-{seed}"));
    let mut scratch = Server::start(&scratch_dir, None);
    pynetdicom_store(scratch.dicom_port, &[], &files_under(&generated));
    let index = scratch.index().await;
    wait_for_jobs(&index, Duration::from_secs(120)).await;
    index.close().await;
    scratch.stop();
    let (originals, renditions): (Vec<_>, Vec<_>) = scratch.store_contents().into_iter().partition(|(k, _)| k.starts_with("originals/"));
    assert_eq!(originals.len(), slices);
    (originals, renditions)
}

/// The (study, series, SOP Instance) UIDs an original's key names.
fn uids(key: &str) -> (String, String, String) {
    let parts: Vec<&str> = key.split('/').collect();
    let sop = parts[3].strip_suffix(".dcm").unwrap().rsplit_once('.').unwrap().0;
    (parts[1].to_string(), parts[2].to_string(), sop.to_string())
}

/// A rendition of `original`'s instance among `renditions`.
fn rendition_of(original: &str, renditions: &[(String, Vec<u8>)]) -> (String, Vec<u8>) {
    let (_, _, sop) = uids(original);
    renditions.iter().find(|(k, _)| k.contains(&format!("/{sop}/"))).expect("a rendition of the instance").clone()
}

/// The `unreferenced-objects` events in the ledger (the running server's
/// sequencer moves what the CLI recorded), each as its JSON body.
async fn unreferenced_events(index: &yunying_index::Index) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if index.audit_pending_count().await.unwrap() == 0 {
            let entries = index.ledger_entries(0, 1_000_000).await.unwrap();
            return entries
                .into_iter()
                .map(|e| serde_json::from_str::<serde_json::Value>(&e.body).unwrap())
                .filter(|b| b["event"] == "unreferenced-objects")
                .collect();
        }
        assert!(Instant::now() < deadline, "the audit sequencer did not take the recorded events");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The keys and results an event names.
fn event_objects(event: &serde_json::Value) -> Vec<(String, String)> {
    event["facts"]["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["key"].as_str().unwrap().to_string(), o["result"].as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn verify_lists_unreferenced_objects_after_the_grace_period_and_adopts_or_deletes_them() {
    // Long enough for six `verify` runs on a loaded machine.
    const GRACE: u64 = 40;
    let tmp = tempfile::tempdir().unwrap();
    let (lost, renditions_elsewhere) = stored_elsewhere(tmp.path(), 28, 2).await;
    let data = tmp.path().join("data");
    let mut server = Server::start(&data, None);
    let files: Vec<_> = testdata_files().into_iter().take(4).collect();
    pynetdicom_store(server.dicom_port, &[], &files);
    let index = server.index().await;
    wait_for_jobs(&index, Duration::from_secs(120)).await;
    let indexed = index.counts().await.unwrap().instances;
    index.close().await;
    server.stop();
    let referenced = server.store_contents();
    let an_original = referenced.keys().find(|k| k.starts_with("originals/")).unwrap().clone();

    // Old enough: a valid instance never indexed, a second copy of an
    // indexed instance (under another version), a foreign object under an
    // original's key, a rendition of an instance this archive never indexed.
    let (lost_key, lost_bytes) = lost[0].clone();
    let resend = format!("{}.fedcba9876543210.dcm", an_original.strip_suffix(".dcm").unwrap().rsplit_once('.').unwrap().0);
    let junk = "originals/1.2/1.2.3/1.2.3.4.00000000deadbeef.dcm".to_string();
    let (stray_rendition, stray_bytes) = rendition_of(&lost[1].0, &renditions_elsewhere);
    server.write_object(&lost_key, &lost_bytes);
    server.write_object(&resend, &referenced[&an_original]);
    server.write_object(&junk, b"half an upload");
    server.write_object(&stray_rendition, &stray_bytes);
    std::thread::sleep(Duration::from_secs(GRACE + 1));
    // Inside the grace period: another valid instance and a rendition, as an
    // ingest in flight leaves them before its row is committed.
    let (fresh_key, fresh_bytes) = lost[1].clone();
    let fresh_rendition = "renditions/1.2/1.2.3/1.2.3.5/thumbnail.jpg".to_string();
    server.write_object(&fresh_key, &fresh_bytes);
    server.write_object(&fresh_rendition, b"\xff\xd8\xff");
    let written = Instant::now();
    let with_orphans = server.store_contents();
    let old = [&lost_key, &resend, &junk, &stray_rendition];
    let grace = GRACE.to_string();
    let verify = |extra: &[&str]| json(&run(cli(&data).args(["verify", "--json", "--grace", &grace]).args(extra)));

    // The default grace period is an hour: nothing is listed.
    let report = json(&run(cli(&data).args(["verify", "--json"])));
    assert_eq!(report["unreferenced"]["count"], 0, "{report}");

    // Past the grace period, the four old ones are listed with their sizes,
    // the fresh ones are not, nothing changes, and the exit status is 0
    // (`run` asserts it): the durability contract allows them.
    let report = verify(&[]);
    let listed = unreferenced(&report);
    let mut expected: Vec<&String> = old.to_vec();
    expected.sort();
    assert_eq!(listed.keys().collect::<Vec<_>>(), expected, "{report}");
    assert!(listed.values().all(|r| r == "reported"), "{report}");
    let bytes: usize = old.iter().map(|k| with_orphans[*k].len()).sum();
    assert_eq!(report["unreferenced"]["bytes"].as_u64(), Some(bytes as u64));
    assert_eq!(report["problems"].as_array().unwrap().len(), 0);
    assert!(server.store_contents() == with_orphans);
    let capped = verify(&["--max-unreferenced", "1"]);
    assert_eq!((capped["unreferenced"]["count"].as_u64(), capped["unreferenced"]["not_handled"].as_u64()), (Some(4), Some(3)));
    assert_eq!(capped["unreferenced"]["objects"].as_array().unwrap().len(), 1);
    let out = run(cli(&data).args(["verify", "--quiet", "--grace", &grace]));
    assert!(String::from_utf8_lossy(&out.stdout).contains("4 unreferenced objects"), "{}", String::from_utf8_lossy(&out.stdout));
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("unreferenced rendition {stray_rendition}")));

    // Adopt: the valid instance becomes a row; the rest are delete
    // candidates, left; nothing is deleted.
    let report = verify(&["--unreferenced", "adopt"]);
    let results = unreferenced(&report);
    assert_eq!(results[&lost_key], "adopted", "{report}");
    assert_eq!(results[&resend], "superseded");
    assert_eq!(results[&junk], "invalid");
    assert_eq!(results[&stray_rendition], "rendition");
    assert_eq!(results.len(), 4);
    let index = server.index().await;
    assert_eq!(index.counts().await.unwrap().instances, indexed + 1);
    let (study, series, sop) = uids(&lost_key);
    let adopted = index.instance(&sop).await.unwrap().expect("the adopted instance is indexed");
    assert_eq!(adopted.object_key, lost_key);
    let kept = index.instance(&uids(&an_original).2).await.unwrap().unwrap();
    assert_eq!(kept.object_key, an_original, "a second copy does not replace the indexed one");
    index.close().await;
    assert!(server.store_contents() == with_orphans, "adopting deletes nothing");

    // Delete: the three delete candidates go; the adopted instance, the
    // fresh objects and every referenced object stay, byte for byte.
    let report = verify(&["--unreferenced", "delete"]);
    let results = unreferenced(&report);
    assert_eq!(results.len(), 3, "{report}");
    assert!(results.values().all(|r| r == "deleted"), "{report}");
    let mut expected = referenced.clone();
    for key in [&lost_key, &fresh_key, &fresh_rendition] {
        expected.insert(key.clone(), with_orphans[key].clone());
    }
    assert!(server.store_contents() == expected, "only the delete candidates were deleted");
    assert!(written.elapsed() < Duration::from_secs(GRACE), "the fresh objects were inside the grace period throughout");
    let report = verify(&[]);
    assert_eq!(report["unreferenced"]["count"], 0, "{report}");
    assert_eq!(report["problems"].as_array().unwrap().len(), 0, "{report}");
    assert_eq!(report["originals"].as_u64(), Some(indexed as u64 + 1));

    // The adopted instance is served over DICOMweb like any other.
    let server = Server::start(&data, None);
    let (status, metadata) =
        http_get(server.http_port, &format!("/dicom-web/studies/{study}/series/{series}/instances/{sop}/metadata")).unwrap();
    assert_eq!(status, 200, "{metadata}");
    assert!(metadata.contains(&sop));
    let request = format!(
        "GET /dicom-web/studies/{study}/series/{series}/instances/{sop} HTTP/1.0\r\nHost: localhost\r\nAccept: multipart/related; type=\"application/dicom\"; transfer-syntax=*\r\n\r\n"
    );
    let (response, _) = http_exchange(server.http_port, request.as_bytes(), Duration::from_secs(10));
    assert!(
        response.starts_with(b"HTTP/1.1 200") || response.starts_with(b"HTTP/1.0 200"),
        "{}",
        String::from_utf8_lossy(response.get(..200).unwrap_or(&response))
    );
    let dataset = part10_bytes(&lost_bytes, "lost").1;
    assert!(response.windows(dataset.len()).any(|w| w == dataset), "the stored data set comes back");

    // The ledger names what was adopted and deleted, by `verify`.
    let index = server.index().await;
    let events = unreferenced_events(&index).await;
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events.iter().all(|e| e["principal"] == "cli" && e["facts"]["face"] == "verify"));
    assert_eq!(event_objects(&events[0]), [(lost_key.clone(), "adopted".to_string())]);
    assert_eq!(events[0]["studies"], serde_json::json!([study]));
    let mut deleted: Vec<String> = event_objects(&events[1]).into_iter().map(|(k, r)| format!("{r} {k}")).collect();
    deleted.sort();
    let mut expected: Vec<String> = [&junk, &resend, &stray_rendition].iter().map(|k| format!("deleted {k}")).collect();
    expected.sort();
    assert_eq!(deleted, expected);
    index.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_sweeps_unreferenced_objects_on_a_schedule_a_few_at_a_time() {
    const GRACE: u64 = 20;
    let tmp = tempfile::tempdir().unwrap();
    let (lost, renditions_elsewhere) = stored_elsewhere(tmp.path(), 5, 2).await;
    let data = tmp.path().join("data");
    let mut server = Server::start(&data, None);
    let files: Vec<_> = testdata_files().into_iter().take(3).collect();
    pynetdicom_store(server.dicom_port, &[], &files);
    let index = server.index().await;
    wait_for_jobs(&index, Duration::from_secs(120)).await;
    index.close().await;
    server.stop();
    let referenced = server.store_contents();

    let (lost_key, lost_bytes) = lost[0].clone();
    let junk = ["originals/1.2/1.2.3/1.2.3.4.00000000deadbeef.dcm", "originals/1.2/1.2.3/1.2.3.5.00000000deadbeef.dcm"];
    let (stray_rendition, stray_bytes) = rendition_of(&lost[1].0, &renditions_elsewhere);
    server.write_object(&lost_key, &lost_bytes);
    for key in junk {
        server.write_object(key, b"half an upload");
    }
    server.write_object(&stray_rendition, &stray_bytes);
    std::thread::sleep(Duration::from_secs(GRACE + 1));

    // A node that sweeps every second, deleting, two objects a run.
    let config =
        format!("[archive]\nsweep_interval_secs = 1\nsweep_grace_secs = {GRACE}\norphan_sweep = \"delete\"\nsweep_max_objects = 2\n");
    let mut server = Server::start(&data, Some(&config));
    let (fresh_key, fresh_bytes) = lost[1].clone();
    server.write_object(&fresh_key, &fresh_bytes);
    let written = Instant::now();

    let index = server.index().await;
    let (_, _, lost_sop) = uids(&lost_key);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let adopted = index.instance(&lost_sop).await.unwrap().is_some();
        let keys = server.store_contents();
        let gone = junk.iter().all(|k| !keys.contains_key(*k)) && !keys.contains_key(&stray_rendition);
        if adopted && gone {
            break;
        }
        assert!(Instant::now() < deadline, "not swept within a minute (adopted: {adopted}, deleted: {gone})");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let now = server.store_contents();
    assert!(written.elapsed() < Duration::from_secs(GRACE), "the check below ran inside the grace period");
    assert!(now.get(&fresh_key) == Some(&fresh_bytes), "an object inside the grace period is left alone");
    assert!(index.instance(&uids(&fresh_key).2).await.unwrap().is_none());
    assert_eq!(index.instance(&lost_sop).await.unwrap().unwrap().object_key, lost_key);
    for (key, bytes) in &referenced {
        assert!(now.get(key) == Some(bytes), "{key} is untouched");
    }

    // Two objects a run: the four took at least two runs, each recorded by
    // the node (`system`) with what it adopted and deleted.
    let mut expected: Vec<(String, String)> = junk.iter().map(|k| (k.to_string(), "deleted".to_string())).collect();
    expected.push((lost_key.clone(), "adopted".into()));
    expected.push((stray_rendition.clone(), "deleted".into()));
    expected.sort();
    // The last run records its event after its last deletion.
    let deadline = Instant::now() + Duration::from_secs(20);
    let events = loop {
        let events = unreferenced_events(&index).await;
        // (Once out of its grace period, the fresh instance is adopted too.)
        let mut named: Vec<(String, String)> = events.iter().flat_map(event_objects).filter(|(k, _)| *k != fresh_key).collect();
        named.sort();
        if named == expected {
            break events;
        }
        assert!(Instant::now() < deadline, "the ledger names {named:?}, not {expected:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(events.len() >= 2, "{events:?}");
    assert!(events.iter().all(|e| e["principal"] == "system" && e["facts"]["face"] == "sweep" && e["facts"]["action"] == "delete"));
    assert!(events.iter().all(|e| e["facts"]["objects"].as_array().unwrap().len() <= 2));
    index.close().await;
    server.stop();
}

#[tokio::test(flavor = "multi_thread")]
async fn an_encrypted_store_is_walked_and_adopted_through_its_encryption() {
    if distributed_backend() {
        return; // the configuration names a filesystem store
    }
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let key = tmp.path().join("a.key");
    std::fs::write(&key, "0123456789abcdeffedcba9876543210\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let body = format!("[store.encryption]\nenabled = true\nkey_id = \"a\"\nmaster_key_file = {:?}\n", key.display().to_string());
    let config = tmp.path().join("crypt.toml");
    std::fs::write(&config, &body).unwrap();

    // A sealed object another archive under the same master key stored.
    let generated = tmp.path().join("gen");
    gen_ct(&generated, 1, 16, 41);
    let scratch_dir = tmp.path().join("scratch");
    let mut scratch = Server::start(&scratch_dir, Some(&body));
    pynetdicom_store(scratch.dicom_port, &[], &files_under(&generated));
    scratch.stop();
    let objects = |data: &Path| data.join("store/objects");
    let sealed_key = files_under(&objects(&scratch_dir).join("originals")).remove(0);
    let lost_key = sealed_key.strip_prefix(objects(&scratch_dir)).unwrap().to_string_lossy().to_string();
    let sealed = std::fs::read(&sealed_key).unwrap();
    assert!(!sealed.windows(4).any(|w| w == b"DICM"), "stored sealed");

    let data = tmp.path().join("data");
    let mut server = Server::start(&data, Some(&body));
    pynetdicom_store(server.dicom_port, &[], &testdata_files()[..1]);
    server.stop();
    let target = objects(&data).join(&lost_key);
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::write(&target, &sealed).unwrap();

    let verify = |action: &str| {
        json(&run(cli(&data).env("YUNYING_CONFIG", &config).args(["verify", "--json", "--grace", "0", "--unreferenced", action])))
    };
    let report = verify("report");
    let listed = &report["unreferenced"]["objects"].as_array().unwrap()[..];
    assert_eq!(listed.len(), 1, "{report}");
    assert_eq!(listed[0]["key"], lost_key.as_str());
    let size = listed[0]["size"].as_u64().unwrap();
    assert!(size < sealed.len() as u64 && size > 0, "the plaintext size is listed, not the sealed one");
    let report = verify("adopt");
    assert_eq!(unreferenced(&report)[&lost_key], "adopted", "{report}");

    let server = Server::start(&data, Some(&body));
    let (study, series, sop) = uids(&lost_key);
    let index = server.index().await;
    let row = index.instance(&sop).await.unwrap().expect("adopted");
    assert_eq!((row.object_key.as_str(), row.size_bytes), (lost_key.as_str(), size as i64));
    index.close().await;
    let (status, metadata) =
        http_get(server.http_port, &format!("/dicom-web/studies/{study}/series/{series}/instances/{sop}/metadata")).unwrap();
    assert_eq!(status, 200, "{metadata}");
}
