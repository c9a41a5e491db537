//! Fault injection with real parts: the data directory on a filesystem that
//! fills up. Each scenario ends with the archive's invariant: every instance
//! that got a success is retrievable byte-identical, every index row points
//! at an intact object, and no spool or temporary file is left.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

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
        let sop = key.rsplit('/').next().unwrap().split(".dcm").next().unwrap();
        let sop = &sop[..sop.rfind('.').unwrap()];
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
