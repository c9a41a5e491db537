//! Start and stop a real server, find its objects, generate data.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use yunying_archive::meta::FileMeta;
use yunying_index::Index;

pub const BIN: &str = env!("CARGO_BIN_EXE_yunying");
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

pub struct Server {
    child: Option<Child>,
    pub dicom_port: u16,
    pub http_port: u16,
    pub data_dir: PathBuf,
}

impl Server {
    /// Start `yunying serve` on free loopback ports with `data_dir`, plus an
    /// optional TOML config file body.
    pub fn start(data_dir: &Path, config: Option<&str>) -> Server {
        let (dicom_port, http_port) = (free_port(), free_port());
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--dicom-port")
            .arg(dicom_port.to_string())
            .arg("--http-port")
            .arg(http_port.to_string())
            .env("YUNYING_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(body) = config {
            std::fs::create_dir_all(data_dir).unwrap();
            let path = data_dir.with_extension("toml");
            std::fs::write(&path, body).unwrap();
            cmd.arg("--config").arg(path);
        }
        let child = cmd.spawn().expect("start yunying");
        let server = Server { child: Some(child), dicom_port, http_port, data_dir: data_dir.to_path_buf() };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if http_get(self.http_port, "/healthz").is_some_and(|(status, _)| status == 200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("yunying did not become ready within 30 s");
    }

    /// SIGKILL: no chance to clean up.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM and wait for a graceful exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("server running");
        unsafe_sigterm(child.id());
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "server did not stop after SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub async fn index(&self) -> Index {
        Index::open_sqlite(&self.data_dir.join("index.sqlite")).await.unwrap()
    }

    pub fn object_path(&self, key: &str) -> PathBuf {
        self.data_dir.join("store/objects").join(key)
    }

    pub fn store_root(&self) -> PathBuf {
        self.data_dir.join("store")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

fn unsafe_sigterm(pid: u32) {
    let status = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().unwrap();
    assert!(status.success());
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A plain HTTP/1.0 GET on loopback: (status, body).
pub fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

/// DCMTK tool by full path (a plain name may be pynetdicom's script).
pub fn dcmtk(tool: &str) -> Command {
    let path = format!("/usr/bin/{tool}");
    assert!(Path::new(&path).exists(), "{path} missing: run scripts/test.sh, which installs DCMTK");
    let mut cmd = Command::new(path);
    cmd.env("TCP_NODELAY", "1");
    cmd
}

pub fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("running {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

pub fn python() -> Command {
    Command::new(std::env::var("PYTHON").unwrap_or_else(|_| "python3".into()))
}

/// Generate a synthetic CT series with the project's generator.
pub fn gen_ct(out: &Path, slices: usize, rows: usize, seed: u64) {
    gen_ct_with(out, slices, rows, seed, &[]);
}

/// Like [`gen_ct`], with extra generator arguments.
pub fn gen_ct_with(out: &Path, slices: usize, rows: usize, seed: u64, extra: &[&str]) {
    run(python()
        .arg(format!("{ROOT}/testdata/gen_ct_series.py"))
        .arg("--out")
        .arg(out)
        .args(["--slices", &slices.to_string(), "--rows", &rows.to_string(), "--cols", &rows.to_string()])
        .args(["--seed", &seed.to_string()])
        .args(extra));
}

/// Every file under `dir`, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    files
}

/// (meta, dataset bytes) of a Part 10 file.
pub fn part10(path: &Path) -> (FileMeta, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let mut cursor = &bytes[..];
    let (meta, len) = FileMeta::read(&mut cursor).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (meta, bytes[len as usize..].to_vec())
}

/// The test data files shipped in testdata/dicom.
pub fn testdata_files() -> Vec<PathBuf> {
    let files = files_under(&Path::new(ROOT).join("testdata/dicom"));
    assert!(files.len() >= 10, "testdata/dicom should hold the fixture files");
    files
}

/// Assert that each sent file is stored with identical dataset bytes.
pub async fn assert_stored_identically(server: &Server, index: &Index, files: &[PathBuf]) {
    assert_stored(server, index, files, false).await
}

/// Like [`assert_stored_identically`], but a deflated dataset may have been
/// re-deflated by the sender (DCMTK re-encodes what it sends): for those,
/// the inflated bytes must be identical.
pub async fn assert_stored_inflating(server: &Server, index: &Index, files: &[PathBuf]) {
    assert_stored(server, index, files, true).await
}

async fn assert_stored(server: &Server, index: &Index, files: &[PathBuf], inflate_deflated: bool) {
    for f in files {
        let (meta, sent) = part10(f);
        let stored = index
            .instance(&meta.sop_instance_uid)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{} not indexed", f.display()));
        let (stored_meta, stored_bytes) = part10(&server.object_path(&stored.object_key));
        assert_eq!(stored_meta.transfer_syntax_uid, meta.transfer_syntax_uid, "{}", f.display());
        if inflate_deflated && meta.transfer_syntax_uid == "1.2.840.10008.1.2.1.99" {
            assert!(inflate(&sent) == inflate(&stored_bytes), "{}: inflated datasets differ", f.display());
        } else {
            assert!(sent == stored_bytes, "{}: stored dataset bytes differ from those sent", f.display());
        }
    }
}

pub fn inflate(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(bytes).read_to_end(&mut out).expect("valid deflate stream");
    out
}

/// Run tests/py/store.py; returns one JSON value per line of its output.
pub fn pynetdicom_store(port: u16, extra: &[&str], files: &[PathBuf]) -> Vec<serde_json::Value> {
    let out = run(python().arg(format!("{ROOT}/tests/py/store.py")).args(["--port", &port.to_string()]).args(extra).args(files));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}
