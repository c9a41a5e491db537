//! Fault injection with real parts: the data directory on a filesystem that
//! fills up. Each scenario ends with the archive's invariant: every instance
//! that got a success is retrievable byte-identical, every index row points
//! at an intact object, and no spool or temporary file is left.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::*;

/// A tmpfs of `mib` MiB mounted at a directory for the life of the value
/// (the tests run as root, as `scripts/test.sh` does).
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    fn mount(dir: &Path, mib: u32) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"]).arg(dir).output().unwrap();
        assert!(
            out.status.success(),
            "mounting a {mib} MiB tmpfs (this test needs root, as scripts/test.sh runs): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Tmpfs { dir: dir.to_path_buf() }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Fill the filesystem of `dir` with `file`, then give back `keep` bytes.
fn fill(file: &Path, keep: u64) {
    let mut f = std::fs::File::create(file).unwrap();
    let chunk = vec![0x5a_u8; 256 * 1024];
    let mut written = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.raw_os_error() == Some(28) => break, // ENOSPC
            Err(e) => panic!("filling {}: {e}", file.display()),
        }
    }
    f.set_len(written.saturating_sub(keep)).unwrap();
    f.sync_all().unwrap();
}

/// Files a crash or a failure could leave: spooled instances and copies.
fn leftovers(dirs: &[PathBuf]) -> Vec<PathBuf> {
    dirs.iter()
        .flat_map(|d| files_under(d))
        .filter(|f| f.file_name().is_some_and(|n| n.to_string_lossy().starts_with(['.', 'i'])))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_disk_refuses_with_out_of_resources_keeps_nothing_half_written_and_recovers_when_space_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let _disk = Tmpfs::mount(&data, 48);
    let series = tmp.path().join("ct");
    gen_ct(&series, 24, 256, 5); // 128 KiB of pixels a slice
    let files = files_under(&series);
    let mut server = Server::start(&data, None);
    let index = server.index().await;
    let spools = [server.spool_dir(), data.join("spool")];

    // The disk fills up (another program, a log gone wild). Embedded, 200
    // KiB left: an instance fits in the spool and the store, and the index
    // (SQLite, same disk) is what finds the disk full. On PostgreSQL and S3
    // only the spool is on this disk: 64 KiB left, less than an instance.
    let keep = if distributed_backend() { 64 } else { 200 };
    fill(&data.join("filler"), keep * 1024);
    let statuses: Vec<u64> = pynetdicom_store(server.dicom_port, &[], &files).iter().map(|l| l["status"].as_u64().unwrap()).collect();
    assert!(statuses.iter().all(|&s| s == 0 || s == 0xA700), "success or out of resources: {statuses:x?}");
    assert!(statuses.iter().filter(|&&s| s == 0xA700).count() >= files.len() - 2, "a full disk refuses: {statuses:x?}");
    let (status, body) = stow_file(server.http_port, &files[files.len() - 1], &[]);
    assert_eq!(status, 507, "STOW-RS: Insufficient Storage: {body}");
    assert!(body.contains("00081197") && body.contains(&0xA700u32.to_string()), "the failure's reason is out of resources: {body}");
    assert_eq!(http_get(server.http_port, "/healthz").map(|(s, _)| s), Some(200), "the server goes on");
    let refused = statuses.iter().filter(|&&s| s == 0xA700).count() + 1; // and the STOW-RS part
    let (_, metrics) = http_get(server.http_port, "/metrics").unwrap();
    assert!(metrics.contains(&format!("yunying_instances_failed_total{{reason=\"storage_full\"}} {refused}\n")), "{metrics}");

    // Nothing half-written: no spool file, and every stored original is an
    // indexed instance's, whole.
    assert_eq!(leftovers(&spools), Vec::<PathBuf>::new());
    let stored: Vec<&PathBuf> = files.iter().zip(&statuses).filter(|(_, s)| **s == 0).map(|(f, _)| f).collect();
    for key in server.object_keys("originals/") {
        let sop = yunying_archive::orphans::original_sop(&key).unwrap_or_else(|| panic!("{key} is an original's key"));
        assert_eq!(index.instance(sop).await.unwrap().map(|i| i.object_key), Some(key.clone()), "{key} is an indexed instance's");
    }
    assert_eq!(index.counts().await.unwrap().instances as usize, stored.len());
    let stored: Vec<PathBuf> = stored.into_iter().cloned().collect();
    assert_stored_identically(&server, &index, &stored).await;

    // Space comes back: the same instances sent again are stored, and the
    // whole store checks out against the index.
    std::fs::remove_file(data.join("filler")).unwrap();
    for line in pynetdicom_store(server.dicom_port, &[], &files) {
        assert_eq!(line["status"], 0, "{line}");
    }
    assert_eq!(index.counts().await.unwrap().instances as usize, files.len());
    assert_stored_identically(&server, &index, &files).await;
    wait_for_jobs(&index, Duration::from_secs(120)).await;
    run(cli(&data).args(["verify", "--quiet"]));
    assert_eq!(leftovers(&spools), Vec::<PathBuf>::new());
    index.close().await;
    assert!(server.stop().success(), "a clean stop");
}

/// `tests/py/s3_fault_proxy.py` in front of the test S3 server, stopped
/// when dropped; faults are chosen by writing its control file.
struct FaultProxy {
    child: std::process::Child,
    control: PathBuf,
    endpoint: String,
}

impl FaultProxy {
    fn start(dir: &Path) -> FaultProxy {
        use std::io::BufRead;
        let upstream = std::env::var("YUNYING_TEST_S3_ENDPOINT").expect("YUNYING_TEST_S3_ENDPOINT is not set: run scripts/test.sh");
        let control = dir.join("faults.json");
        std::fs::write(&control, r#"{"fault": "none"}"#).unwrap();
        let mut child = python()
            .arg(format!("{ROOT}/tests/py/s3_fault_proxy.py"))
            .args(["--upstream", &upstream, "--control"])
            .arg(&control)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut port = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut port).unwrap();
        FaultProxy { child, control, endpoint: format!("http://127.0.0.1:{}", port.trim()) }
    }

    /// A fresh S3 store spec (as [`fresh_s3_spec`] names one) reached
    /// through this proxy.
    fn spec(&self, tag: &str) -> String {
        fresh_s3_spec(tag).replace(&std::env::var("YUNYING_TEST_S3_ENDPOINT").unwrap(), &self.endpoint)
    }

    /// Inject `fault` into one request in `every` whose method is in `methods`.
    fn set(&self, fault: &str, every: u32, methods: &[&str]) {
        let spec = serde_json::json!({"fault": fault, "every": every, "methods": methods});
        std::fs::write(&self.control, spec.to_string()).unwrap();
    }

    /// Inject `fault` into one request in `every` whose method is in
    /// `methods` and whose target contains one of `paths`.
    fn set_on(&self, fault: &str, every: u32, methods: &[&str], paths: &[&str]) {
        let spec = serde_json::json!({"fault": fault, "every": every, "methods": methods, "paths": paths});
        std::fs::write(&self.control, spec.to_string()).unwrap();
    }

    /// How many times each fault was injected.
    fn injected(&self, fault: &str) -> u64 {
        let stats = std::fs::read_to_string(self.control.with_extension("json.stats")).unwrap_or_else(|_| "{}".into());
        serde_json::from_str::<serde_json::Value>(&stats).unwrap()[fault].as_u64().unwrap_or(0)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn statuses(lines: Vec<serde_json::Value>) -> Vec<u64> {
    lines.iter().map(|l| l["status"].as_u64().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_s3_store_that_fails_is_retried_refused_cleanly_and_never_serves_wrong_bytes() {
    if distributed_backend() {
        return; // one run is enough: the embedded pass has the S3 server too
    }
    let tmp = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(tmp.path());
    let data = tmp.path().join("data");
    use_embedded_index_and_store(&data, &proxy.spec("faults"));
    let log = tmp.path().join("server.log");
    let mut server = Server::start_with_log(&data, Some("[renditions]\nenabled = false\n"), Some(&log));
    let index = server.index().await;
    let series = tmp.path().join("ct");
    gen_ct(&series, 30, 64, 41);
    let files = files_under(&series);

    // SlowDown on one PUT in two, then a reset connection on one in two:
    // the store retries, and every instance is stored.
    proxy.set("slowdown", 2, &["PUT"]);
    assert_eq!(statuses(pynetdicom_store(server.dicom_port, &[], &files[..10])), vec![0; 10]);
    proxy.set("reset", 2, &["PUT"]);
    assert_eq!(statuses(pynetdicom_store(server.dicom_port, &[], &files[10..20])), vec![0; 10]);
    assert!(proxy.injected("slowdown") >= 5 && proxy.injected("reset") >= 5, "faults were injected");

    // Every PUT fails: refused with A700, nothing indexed, the server serves on.
    proxy.set("error500", 1, &["PUT"]);
    assert_eq!(statuses(pynetdicom_store(server.dicom_port, &[], &files[20..])), vec![0xA700; 10]);
    assert_eq!(index.counts().await.unwrap().instances, 20);
    assert_eq!(http_get(server.http_port, "/healthz").map(|(s, _)| s), Some(200));

    // Answers cut in half: a retrieval fails or is whole, never wrong.
    proxy.set("truncate", 1, &["GET"]);
    let (meta, sent) = part10(&files[0]);
    let stored = index.instance(&meta.sop_instance_uid).await.unwrap().unwrap();
    let path = format!(
        "/dicom-web/studies/{}/series/{}/instances/{}",
        stored.study_instance_uid, stored.series_instance_uid, meta.sop_instance_uid
    );
    let request = format!(
        "GET {path} HTTP/1.0\r\nHost: localhost\r\nAccept: multipart/related; type=\"application/dicom\"; transfer-syntax=*\r\n\r\n"
    );
    let (response, _) = http_exchange(server.http_port, request.as_bytes(), Duration::from_secs(120));
    assert!(proxy.injected("truncate") >= 1);
    if http_status(&response) == Some(200) && response.ends_with(b"--\r\n") {
        let parts = multipart_parts(&response);
        assert!(parts.len() == 1 && part10_bytes(&parts[0], "retrieved").1 == sent, "a whole answer is the stored instance");
    }

    // Healed: what was refused is stored when sent again, and everything
    // checks out, byte for byte.
    proxy.set("none", 1, &[]);
    assert_eq!(statuses(pynetdicom_store(server.dicom_port, &[], &files[20..])), vec![0; 10]);
    assert_stored_identically(&server, &index, &files).await;
    let (_, got) =
        part10_bytes(&multipart_parts(&http_exchange(server.http_port, request.as_bytes(), Duration::from_secs(60)).0)[0], "retrieved");
    assert!(got == sent);
    run(cli(&data).args(["verify", "--quiet"]));
    assert_eq!(leftovers(&[data.join("spool")]), Vec::<PathBuf>::new());
    index.close().await;
    assert!(server.stop().success());
    // The failures were logged without the objects' keys (they carry UIDs),
    // at the levels an operator runs (the S3 SDK's debug lines name keys).
    let logged: String =
        std::fs::read_to_string(&log).unwrap().lines().filter(|l| !l.contains(" DEBUG ") && !l.contains(" TRACE ")).collect();
    assert!(logged.contains("C-STORE refused: out of resources: object store"), "the refusals are logged");
    assert!(!logged.contains(&stored.study_instance_uid), "no study UID in the log");
}

/// Rendition jobs running while the object store refuses every write, for
/// longer than five attempts' backoff (half a minute): they wait the outage
/// out instead of being parked (an S3 outage would otherwise leave every
/// instance of it without thumbnails until an operator ran `jobs retry`),
/// and every job completes once the store heals.
#[tokio::test(flavor = "multi_thread")]
async fn rendition_jobs_wait_out_an_s3_outage_and_all_complete_after_it() {
    if distributed_backend() {
        return; // one run is enough: the embedded pass has the S3 server too
    }
    let tmp = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(tmp.path());
    let data = tmp.path().join("data");
    use_embedded_index_and_store(&data, &proxy.spec("outage"));
    // The renditions' writes fail from the start; the originals' do not.
    proxy.set_on("error500", 1, &["PUT"], &["/renditions/"]);
    let log = tmp.path().join("server.log");
    let mut server = Server::start_with_log(&data, None, Some(&log));
    let index = server.index().await;
    let series = tmp.path().join("ct");
    gen_ct(&series, 12, 64, 47);
    let files = files_under(&series);
    assert_eq!(statuses(pynetdicom_store(server.dicom_port, &[], &files)), vec![0; 12]);

    // 45 s of outage: each job fails again and again meanwhile.
    let healed_at = Instant::now() + Duration::from_secs(45);
    while Instant::now() < healed_at {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let jobs = index.job_counts().await.unwrap();
        assert_eq!(jobs.parked, 0, "a job parked during the outage: {:?}", index.parked_jobs(5).await.unwrap());
    }
    assert!(proxy.injected("error500") >= 12 * 4, "the jobs met the outage ({} refusals)", proxy.injected("error500"));
    assert!(server.object_keys("renditions/").is_empty());

    proxy.set("none", 1, &[]);
    let jobs = wait_for_jobs(&index, Duration::from_secs(300)).await;
    assert_eq!(jobs.parked, 0);
    for file in &files {
        let uid = part10(file).0.sop_instance_uid;
        let renditions = index.renditions_of(&uid).await.unwrap();
        assert!(renditions.iter().any(|r| r.kind == "thumbnail"), "{uid} has its thumbnail: {renditions:?}");
    }
    assert_stored_identically(&server, &index, &files).await;
    run(cli(&data).args(["verify", "--quiet"]));
    assert_eq!(leftovers(&[data.join("spool")]), Vec::<PathBuf>::new());
    index.close().await;
    assert!(server.stop().success());
}

/// `migrate-store` with its source S3 answering one read in three cut in
/// half, and with its destination S3 answering one write in two with
/// SlowDown: nothing wrong is ever copied, what failed is named, and the
/// next run copies the rest; the destination ends byte-identical.
#[tokio::test(flavor = "multi_thread")]
async fn migrate_store_through_s3_faults_copies_nothing_wrong_and_finishes_on_the_next_run() {
    if distributed_backend() {
        return; // one run is enough: the embedded pass has the S3 server too
    }
    let tmp = tempfile::tempdir().unwrap();
    let proxy = FaultProxy::start(tmp.path());
    let data = tmp.path().join("data");
    use_embedded_index_and_store(&data, &proxy.spec("migrate"));
    let mut server = Server::start(&data, Some("[renditions]\nenabled = false\n"));
    let series = tmp.path().join("ct");
    gen_ct(&series, 40, 64, 48);
    let files = files_under(&series);
    assert_eq!(statuses(pynetdicom_store(server.dicom_port, &[], &files)), vec![0; 40]);
    assert!(server.stop().success());
    let original = server.store_contents();

    // A run under `fault`: what it could not copy (the store's own retries
    // spent) it names and fails on; healed, the next run copies the rest.
    let migrate = |args: &[&str], fault: (&str, u32, &str)| {
        proxy.set(fault.0, fault.1, &[fault.2]);
        let out = cli(&data).args(["migrate-store", "--quiet"]).args(args).output().unwrap();
        assert!(proxy.injected(fault.0) >= 1, "{} was injected", fault.0);
        proxy.set("none", 1, &[]);
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if out.status.success() {
            assert!(stdout.contains("; 0 failed"), "{stdout}");
            return;
        }
        assert!(stderr.contains("not copied: ") && stderr.contains("run again to retry them"), "{stderr}");
        let again = run(cli(&data).args(["migrate-store", "--quiet"]).args(args));
        assert!(String::from_utf8_lossy(&again.stdout).contains("; 0 failed"), "{}", String::from_utf8_lossy(&again.stdout));
    };

    // Out of S3, one read in three cut in half.
    let there = format!("fs:{}", tmp.path().join("there").display());
    migrate(&["--to", &there], ("truncate", 3, "GET"));
    assert!(store_contents(&there) == original, "the copy is the source, byte for byte");

    // Into S3, one write in two refused with SlowDown.
    let back = proxy.spec("migrate-back");
    migrate(&["--from", &there, "--to", &back], ("slowdown", 2, "PUT"));
    assert!(store_contents(&back) == original, "and back, byte for byte");
    assert_eq!(leftovers(&[data.join("spool")]), Vec::<PathBuf>::new());
}
