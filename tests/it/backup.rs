//! `yunying backup` while a modality keeps storing, `yunying restore` into
//! another data directory, and what the restored server serves.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::harness::*;

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The instance's Part 10 bytes over WADO-RS, as stored.
async fn retrieve(server: &Server, sop: &str) -> Vec<u8> {
    let stored = server.index().await.instance(sop).await.unwrap().unwrap_or_else(|| panic!("{sop} is not indexed"));
    let path = format!("/dicom-web/studies/{}/series/{}/instances/{sop}", stored.study_instance_uid, stored.series_instance_uid);
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: localhost\r\nAccept: multipart/related; type=\"application/dicom\"; transfer-syntax=*\r\n\r\n"
    );
    let (response, closed) = http_exchange(server.http_port, request.as_bytes(), Duration::from_secs(60));
    assert!(
        closed && http_status(&response) == Some(200),
        "WADO-RS {sop}: {}",
        String::from_utf8_lossy(&response[..response.len().min(300)])
    );
    let mut parts = multipart_parts(&response);
    assert_eq!(parts.len(), 1, "one instance");
    parts.remove(0)
}

/// A number printed just before `label` in `text` ("12 copied now").
fn count_before(text: &str, label: &str) -> u64 {
    let head = &text[..text.find(label).unwrap_or_else(|| panic!("no '{label}' in: {text}"))];
    head.trim_end().rsplit([' ', ',', '(']).next().unwrap().parse().unwrap_or_else(|_| panic!("no count before '{label}' in: {text}"))
}

/// Store `files` one association each, in a thread, until told to stop;
/// the files acknowledged with success, in order.
fn keep_storing(port: u16, files: Vec<PathBuf>, stop: Arc<AtomicBool>) -> (std::thread::JoinHandle<()>, Arc<Mutex<Vec<PathBuf>>>) {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let handle = {
        let acked = acked.clone();
        std::thread::spawn(move || {
            for f in files {
                if stop.load(Relaxed) {
                    break;
                }
                let out = dcmtk("storescu").args(["-aec", "YUNYING"]).arg("127.0.0.1").arg(port.to_string()).arg(&f).output().unwrap();
                if out.status.success() {
                    acked.lock().unwrap().push(f);
                }
            }
        })
    };
    (handle, acked)
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_taken_during_ingest_restores_elsewhere_with_everything_acknowledged_before_it_began() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, backup) = (tmp.path().join("data"), tmp.path().join("backup"));
    if distributed_backend() {
        // PostgreSQL and S3 are backed up with their own tools.
        let out = cli(&data).args(["backup", "--to"]).arg(&backup).output().unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("pg_basebackup"), "{}", String::from_utf8_lossy(&out.stderr));
        return;
    }
    let mut server = Server::start(&data, None);
    // Every transfer syntax of testdata, with their renditions.
    let first: Vec<PathBuf> = testdata_files().into_iter().take(12).collect();
    for line in pynetdicom_store(server.dicom_port, &[], &first) {
        assert_eq!(line["status"], 0, "{line}");
    }
    let index = server.index().await;
    wait_for_jobs(&index, Duration::from_secs(120)).await;

    // A modality goes on sending a CT series, one association per slice,
    // while the backup is taken.
    let series = tmp.path().join("ct");
    gen_ct(&series, 120, 64, 11);
    let stop = Arc::new(AtomicBool::new(false));
    let (sender, acked) = keep_storing(server.dicom_port, files_under(&series), stop.clone());
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 5 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let before: Vec<PathBuf> = acked.lock().unwrap().clone();
    assert!(before.len() >= 5, "the sender is storing");
    let out = run(cli(&data).args(["backup", "--quiet", "--to"]).arg(&backup));
    let during = acked.lock().unwrap().len();
    let text = stdout(&out);
    assert!(text.contains("backed up") && text.contains("keys copied"), "{text}");
    let manifest: serde_json::Value = serde_json::from_slice(&read(&backup.join("backup.json"))).unwrap();
    let backed_up = manifest["instances"].as_u64().unwrap();
    assert!(backed_up >= (first.len() + before.len()) as u64, "{manifest}");
    stop.store(true, Relaxed);
    sender.join().unwrap();
    let all: Vec<PathBuf> = acked.lock().unwrap().clone();
    assert!(all.len() > before.len(), "instances arrived while and after the backup ran ({during} by its end)");

    // Restored elsewhere: everything acknowledged before the backup began
    // is served, byte for byte, with the node's keys and a ledger that
    // checks out.
    let restored_dir = tmp.path().join("restored");
    let out = run(cli(&restored_dir).args(["restore", "--quiet", "--from"]).arg(&backup));
    assert!(stdout(&out).contains(" 0 missing, 0 corrupt, 0 wrong size, 0 unreadable"), "{}", stdout(&out));
    for key in ["film.key", "audit/patient-key", "audit/signing-key.pem", "empi/platform-key"] {
        assert!(read(&restored_dir.join(key)) == read(&data.join(key)), "{key} restored");
    }
    run(cli(&restored_dir).args(["audit", "verify"]));
    // A second restore would replace an index: refused unless asked for.
    let out = cli(&restored_dir).args(["restore", "--quiet", "--from"]).arg(&backup).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"), "{}", String::from_utf8_lossy(&out.stderr));

    let mut restored = Server::start(&restored_dir, None);
    let restored_index = restored.index().await;
    assert_eq!(restored_index.counts().await.unwrap().instances as u64, backed_up);
    for f in &before {
        let (meta, sent) = part10(f);
        let (_, got) = part10_bytes(&retrieve(&restored, &meta.sop_instance_uid).await, &meta.sop_instance_uid);
        assert!(got == sent, "{}: retrieved from the restored server as sent", f.display());
    }
    for f in &first {
        let sop = part10(f).0.sop_instance_uid;
        let key = index.instance(&sop).await.unwrap().unwrap().object_key;
        assert!(retrieve(&restored, &sop).await == server.read_object(&key), "{}: as the first server stored it", f.display());
    }
    restored.stop();

    // Run again once the sender has stopped and its renditions are made:
    // only what is new is copied, and the backup is the archive, whole.
    // Objects the archive no longer has (as after a deletion) leave the
    // backup with the next run.
    wait_for_jobs(&index, Duration::from_secs(120)).await;
    let backup_store = format!("fs:{}", backup.join("store").display());
    std::thread::scope(|s| {
        s.spawn(|| {
            let store = yunying_store::StoreConfig::from_spec(&backup_store).unwrap().open(Path::new("unused")).unwrap();
            store.put_bytes("originals/1.2.3/1.2.3.4/1.2.3.4.5.0123456789abcdef.dcm", b"gone").unwrap();
            store.put_bytes("renditions/1.2.3/1.2.3.4/1.2.3.4.5/thumbnail.jpg", b"gone").unwrap();
        });
    });
    let out = run(cli(&data).args(["backup", "--quiet", "--to"]).arg(&backup));
    let text = stdout(&out);
    assert_eq!(count_before(&text, "no longer named removed"), 2, "{text}");
    let (objects, copied, there) =
        (count_before(&text, "objects ("), count_before(&text, "copied now"), count_before(&text, "already there"));
    let total = server.store_contents().len() as u64;
    assert_eq!(objects, total, "{text}");
    assert!(copied > 0 && there >= backed_up && copied + there == total, "{text}");
    assert!(store_contents(&backup_store) == server.store_contents(), "the backup's store is the archive's");

    let again = tmp.path().join("again");
    run(cli(&again).args(["restore", "--quiet", "--from"]).arg(&backup));
    server.stop();
    let restored = Server::start(&again, None);
    assert!(restored.store_contents() == server.store_contents(), "every object, byte for byte");
    let restored_index = restored.index().await;
    assert_eq!(restored_index.counts().await.unwrap().instances as usize, first.len() + all.len());
    for f in all.iter().step_by(10) {
        let (meta, sent) = part10(f);
        let (_, got) = part10_bytes(&retrieve(&restored, &meta.sop_instance_uid).await, &meta.sop_instance_uid);
        assert!(got == sent, "{}", f.display());
    }
    index.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_killed_midway_leaves_the_previous_one_whole_and_the_next_run_goes_on() {
    if distributed_backend() {
        return; // embedded only (the refusal is tested above)
    }
    let tmp = tempfile::tempdir().unwrap();
    let (data, backup) = (tmp.path().join("data"), tmp.path().join("backup"));
    let server = Server::start(&data, Some("[renditions]\nenabled = false\n"));
    let (first, second) = (tmp.path().join("first"), tmp.path().join("second"));
    gen_ct(&first, 20, 64, 21);
    gen_ct(&second, 300, 64, 22);
    storescu_dir(server.dicom_port, "MODALITY", &first);
    run(cli(&data).args(["backup", "--quiet", "--to"]).arg(&backup));
    let (manifest, index_copy) = (read(&backup.join("backup.json")), read(&backup.join("index.sqlite")));

    // More arrives; the next run is killed while it copies objects.
    storescu_dir(server.dicom_port, "MODALITY", &second);
    let backup_store = format!("fs:{}", backup.join("store").display());
    let mut child = cli(&data)
        .args(["backup", "--quiet", "--jobs", "1", "--to"])
        .arg(&backup)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let copied = || files_under(&backup.join("store/objects/originals")).len();
    while copied() < 25 && Instant::now() < deadline && child.try_wait().unwrap().is_none() {
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let copied_before = store_contents(&backup_store).len();
    assert!((25..320).contains(&copied_before), "killed midway: {copied_before} objects there");
    assert!(
        read(&backup.join("backup.json")) == manifest && read(&backup.join("index.sqlite")) == index_copy,
        "the previous backup is untouched"
    );

    // That backup restores as it was.
    let restored = tmp.path().join("restored");
    run(cli(&restored).args(["restore", "--quiet", "--from"]).arg(&backup));
    let index = yunying_index::Index::open_sqlite(&restored.join("index.sqlite")).await.unwrap();
    assert_eq!(index.counts().await.unwrap().instances, 20);
    index.close().await;

    // The next run copies only what the killed one did not.
    let out = run(cli(&data).args(["backup", "--quiet", "--to"]).arg(&backup));
    let text = stdout(&out);
    assert_eq!(count_before(&text, "already there") as usize, copied_before, "{text}");
    assert_eq!(count_before(&text, "copied now") as usize, 320 - copied_before, "{text}");
    assert!(store_contents(&backup_store) == server.store_contents());
    assert_eq!(files_under(&backup.join("store/spool")), Vec::<PathBuf>::new(), "no unfinished copy is left");
}
