//! Start and stop a real server, find its objects, generate data.

use std::io::Read;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use yunying_archive::meta::FileMeta;
use yunying_index::Index;
use yunying_store::{ObjectStore, StoreConfig};

pub use crate::wire::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_yunying");
pub const ROOT: &str = env!("CARGO_MANIFEST_DIR");

pub struct Server {
    child: Option<Child>,
    pub dicom_port: u16,
    pub http_port: u16,
    /// The DICOM TLS port (0: `[dicom.tls]` is not configured).
    pub dicom_tls_port: u16,
    pub data_dir: PathBuf,
    backend: BackendSettings,
    /// The server's object store, opened on first use.
    store: std::sync::OnceLock<std::sync::Arc<dyn ObjectStore>>,
}

/// Where a test server keeps its index and objects. `YUNYING_TEST_BACKEND`
/// picks it: `embedded` (default: SQLite and the filesystem under the data
/// directory) or `postgres-s3` (a fresh database on `YUNYING_TEST_POSTGRES`
/// and a fresh prefix in the `YUNYING_TEST_S3_*` buckets, as started by
/// `storage/local-services.sh`).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct BackendSettings {
    index_url: String,
    store: StoreConfig,
}

pub fn distributed_backend() -> bool {
    match std::env::var("YUNYING_TEST_BACKEND").as_deref() {
        Ok("postgres-s3") => true,
        Ok("embedded") | Ok("") | Err(_) => false,
        Ok(other) => panic!("YUNYING_TEST_BACKEND={other}: expected embedded or postgres-s3"),
    }
}

impl BackendSettings {
    /// The settings of `data_dir`: chosen on its first start, the same on
    /// every restart (kept next to it).
    fn for_data_dir(data_dir: &Path) -> BackendSettings {
        let file = data_dir.with_extension("backend.json");
        if let Ok(text) = std::fs::read_to_string(&file) {
            return serde_json::from_str(&text).unwrap();
        }
        let settings = if distributed_backend() {
            BackendSettings::fresh_distributed("it")
        } else {
            BackendSettings::embedded(data_dir, StoreConfig::default())
        };
        std::fs::write(&file, serde_json::to_string(&settings).unwrap()).unwrap();
        settings
    }

    /// The embedded index under `data_dir`, with `store`.
    fn embedded(data_dir: &Path, store: StoreConfig) -> BackendSettings {
        BackendSettings { index_url: format!("sqlite://{}?mode=rwc", data_dir.join("index.sqlite").display()), store }
    }

    fn fresh_distributed(tag: &str) -> BackendSettings {
        // Created on a thread of its own: tests call this from async code.
        let owned = tag.to_string();
        let index_url = std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(yunying_index::testkit::fresh_postgres_database(&owned))
        })
        .join()
        .unwrap();
        let store = StoreConfig::from_spec(&fresh_s3_spec(tag)).unwrap();
        BackendSettings { index_url, store }
    }

    /// Config-file lines that select this backend (credentials come from the
    /// environment the server inherits).
    fn toml(&self, body: Option<&str>) -> Option<String> {
        if self.store.kind == yunying_store::StoreKind::Fs {
            if self.index_url.starts_with("sqlite:") {
                return body.map(str::to_string);
            }
            return Some(format!("index_url = {:?}\n{}", self.index_url, body.unwrap_or("")));
        }
        let s3 = &self.store.s3;
        Some(format!(
            "index_url = {:?}\n{}\n[store]\nkind = \"s3\"\n[store.s3]\nendpoint = {:?}\nbucket = {:?}\nprefix = {:?}\nrenditions_bucket = {:?}\nrenditions_prefix = {:?}\n",
            self.index_url,
            body.unwrap_or(""),
            s3.endpoint,
            s3.bucket,
            s3.prefix,
            s3.renditions_bucket,
            s3.renditions_prefix
        ))
    }
}

/// Make the servers on these data directories nodes of one deployment: one
/// fresh PostgreSQL database and one S3 bucket prefix, whatever
/// `YUNYING_TEST_BACKEND` says.
pub fn share_distributed_backend(data_dirs: &[&Path]) {
    let settings = serde_json::to_string(&BackendSettings::fresh_distributed("nodes")).unwrap();
    for dir in data_dirs {
        std::fs::write(dir.with_extension("backend.json"), &settings).unwrap();
    }
}

/// The server of `data_dir` keeps its index at `index_url` (a database of
/// the test's own) and its objects under the data directory.
pub fn use_index_url(data_dir: &Path, index_url: &str) {
    let settings = BackendSettings { index_url: index_url.to_string(), store: StoreConfig::default() };
    std::fs::write(data_dir.with_extension("backend.json"), serde_json::to_string(&settings).unwrap()).unwrap();
}

/// Make the servers on `data_dir` use the embedded index and the store
/// named `store_spec` (as [`fresh_s3_spec`] names one), whatever
/// `YUNYING_TEST_BACKEND` says.
pub fn use_embedded_index_and_store(data_dir: &Path, store_spec: &str) {
    let settings = BackendSettings::embedded(data_dir, StoreConfig::from_spec(store_spec).unwrap());
    std::fs::write(data_dir.with_extension("backend.json"), serde_json::to_string(&settings).unwrap()).unwrap();
}

/// `yunying` on the data directory and backend of a test server (running or
/// stopped), for its other subcommands.
pub fn cli(data_dir: &Path) -> Command {
    let backend = BackendSettings::for_data_dir(data_dir);
    let mut cmd = Command::new(BIN);
    cmd.arg("--data-dir").arg(data_dir).env("YUNYING_LOG", "warn");
    if let Some(body) = backend.toml(None) {
        let path = data_dir.with_extension("cli.toml");
        std::fs::write(&path, body).unwrap();
        cmd.arg("--config").arg(path);
    }
    cmd
}

/// A fresh, empty store of the other kind than the test servers use, named
/// the way `migrate-store` and `verify` take it: an S3 prefix when the
/// servers run on the filesystem, a directory under `scratch` when they run
/// on S3.
pub fn other_store(scratch: &Path, tag: &str) -> String {
    if distributed_backend() {
        return format!("fs:{}", scratch.join(tag).display());
    }
    fresh_s3_spec(tag)
}

/// A store name (as `migrate-store` takes it) for the test buckets under a
/// prefix no other test uses.
pub fn fresh_s3_spec(tag: &str) -> String {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let env =
        |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty()).unwrap_or_else(|| panic!("{name} is not set: run scripts/test.sh"));
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let prefix = format!("it-{tag}-{}-{nanos}-{n}", std::process::id());
    format!(
        "s3://{}/{prefix}?endpoint={}&renditions={}/{prefix}",
        env("YUNYING_TEST_S3_ORIGINALS_BUCKET"),
        env("YUNYING_TEST_S3_ENDPOINT"),
        env("YUNYING_TEST_S3_RENDITIONS_BUCKET")
    )
}

/// Every object (key -> bytes) under originals/ and renditions/ of a store
/// named as in [`other_store`].
pub fn store_contents(spec: &str) -> std::collections::BTreeMap<String, Vec<u8>> {
    let config = StoreConfig::from_spec(spec).unwrap();
    off_runtime(|| contents_of(&*config.open(Path::new("unused")).unwrap()))
}

fn contents_of(store: &dyn ObjectStore) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut all = std::collections::BTreeMap::new();
    for prefix in ["originals/", "renditions/"] {
        for o in store.list(prefix).unwrap() {
            // A running server may delete what was listed (a sweep): then it is not there.
            match store.get(&o.key) {
                Ok(bytes) => all.insert(o.key, bytes),
                Err(yunying_store::StoreError::NotFound { .. }) => continue,
                Err(e) => panic!("object {}: {e}", o.key),
            };
        }
    }
    all
}

/// Run a blocking store call off the async runtime (the S3 store drives a
/// runtime of its own, which cannot be entered from inside another).
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| s.spawn(f).join().unwrap())
}

impl Server {
    /// Start `yunying serve` on free loopback ports with `data_dir`, plus an
    /// optional TOML config file body.
    pub fn start(data_dir: &Path, config: Option<&str>) -> Server {
        Server::start_with_log(data_dir, config, None)
    }

    /// Like [`Server::start`], logging everything down to debug into `log`.
    ///
    /// Test servers take C-STORE from any calling AE, as the demo does
    /// (`dicom.unknown_callers = "demo-store"`), and answer HTTP requests
    /// from loopback without credentials (`access.anonymous = "loopback"`),
    /// unless the config body says otherwise; query/retrieve peers must be
    /// registered ([`register_ae`]), as in a real deployment.
    pub fn start_with_log(data_dir: &Path, config: Option<&str>, log: Option<&Path>) -> Server {
        let backend = BackendSettings::for_data_dir(data_dir);
        let config = with_demo_store(config);
        let config = backend.toml(Some(&config));
        let config = config.as_deref();
        // Port 0: the server binds free ports itself and says which in
        // `serving.json` (choosing a port here and passing it would race
        // with every other process on the machine).
        let serving = data_dir.join("serving.json");
        let _ = std::fs::remove_file(&serving);
        let mut cmd = Command::new(BIN);
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(data_dir)
            .arg("--dicom-port")
            .arg("0")
            .arg("--http-port")
            .arg("0")
            .arg("--dicom-tls-port")
            .arg("0")
            .env("YUNYING_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(log) = log {
            let file = std::fs::File::create(log).unwrap();
            cmd.env("YUNYING_LOG", "debug").stdout(file.try_clone().unwrap()).stderr(file);
        }
        if let Some(body) = config {
            std::fs::create_dir_all(data_dir).unwrap();
            let path = data_dir.with_extension("toml");
            std::fs::write(&path, body).unwrap();
            cmd.arg("--config").arg(path);
        }
        let mut child = cmd.spawn().expect("start yunying");
        let ports = wait_serving(&mut child, &serving);
        let server = Server {
            child: Some(child),
            dicom_port: ports.dicom,
            http_port: ports.http,
            dicom_tls_port: ports.dicom_tls,
            data_dir: data_dir.to_path_buf(),
            backend,
            store: Default::default(),
        };
        server.wait_ready(ports.http_tls);
        server
    }

    /// `/healthz` answers (over HTTPS, which this plain client does not
    /// speak: the port accepts).
    fn wait_ready(&self, https: bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if https && TcpStream::connect(("127.0.0.1", self.http_port)).is_ok() {
                return;
            }
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
        self.terminate();
        self.exits_within(Duration::from_secs(40)).expect("server did not stop after SIGTERM")
    }

    /// Send SIGTERM and return at once.
    pub fn terminate(&self) {
        unsafe_sigterm(self.pid());
    }

    /// The exit status if the server ends within `within`; `None` if it
    /// is still running then (it keeps running).
    pub fn exits_within(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            let child = self.child.as_mut().expect("server running");
            if let Some(status) = child.try_wait().unwrap() {
                self.child = None;
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The server process's id (for /proc/<pid>/status).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// The server's index database URL (SQLite file or PostgreSQL).
    pub fn index_url(&self) -> &str {
        &self.backend.index_url
    }

    pub async fn index(&self) -> Index {
        Index::open(&self.backend.index_url).await.unwrap()
    }

    /// The server's object store, opened the way the server opens it.
    fn with_store<T: Send>(&self, f: impl FnOnce(&dyn ObjectStore) -> T + Send) -> T {
        let (config, root) = (&self.backend.store, self.data_dir.join("store"));
        off_runtime(move || {
            let store = self.store.get_or_init(|| config.open(&root).expect("open the test server's object store"));
            f(&**store)
        })
    }

    /// An object's bytes; panics with the key if it cannot be read.
    pub fn read_object(&self, key: &str) -> Vec<u8> {
        self.with_store(|s| s.get(key)).unwrap_or_else(|e| panic!("object {key}: {e}"))
    }

    /// Write an object to a file under `dir` (for tools that read files).
    pub fn copy_object_to(&self, key: &str, dir: &Path) -> PathBuf {
        let path = dir.join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, self.read_object(key)).unwrap();
        path
    }

    /// Every object (key -> bytes) of the server's store.
    pub fn store_contents(&self) -> std::collections::BTreeMap<String, Vec<u8>> {
        self.with_store(contents_of)
    }

    /// Keys of the objects under `prefix` (`originals/`, `renditions/`).
    pub fn object_keys(&self, prefix: &str) -> Vec<String> {
        self.with_store(|s| s.list(prefix)).unwrap().into_iter().map(|o| o.key).collect()
    }

    /// Replace an object's bytes (to damage it on purpose).
    pub fn write_object(&self, key: &str, bytes: &[u8]) {
        self.with_store(|s| s.put_bytes(key, bytes)).unwrap_or_else(|e| panic!("object {key}: {e}"))
    }

    pub fn delete_object(&self, key: &str) {
        self.with_store(|s| s.delete(key)).unwrap_or_else(|e| panic!("object {key}: {e}"))
    }

    /// Where the server spools incoming data before it is committed.
    pub fn spool_dir(&self) -> PathBuf {
        match self.backend.store.kind {
            yunying_store::StoreKind::Fs => self.data_dir.join("store/spool"),
            yunying_store::StoreKind::S3 => self.data_dir.join("spool"),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `config` with `unknown_callers = "demo-store"` in its `[dicom]` table
/// and `anonymous = "loopback"` in its `[access]` table, unless it says
/// what unknown callers and anonymous requests may do.
fn with_demo_store(config: Option<&str>) -> String {
    let mut body = config.unwrap_or("").to_string();
    for (table, key, line) in
        [("[dicom]\n", "unknown_callers", "unknown_callers = \"demo-store\"\n"), ("[access]\n", "anonymous", "anonymous = \"loopback\"\n")]
    {
        if body.contains(key) {
            continue;
        }
        body = match body.find(table) {
            Some(at) => format!("{}{line}{}", &body[..at + table.len()], &body[at + table.len()..]),
            None => format!("{body}\n{table}{line}"),
        };
    }
    body
}

/// Register a calling AE in the AE registry of the server on `data_dir`
/// (running or not), from 127.0.0.1, with rights such as "find,move" (None:
/// all). The port is where it listens, if it is also a destination.
pub fn register_ae(data_dir: &Path, title: &str, port: u16, allow: Option<&str>) {
    let port = port.to_string();
    let mut cmd = cli(data_dir);
    cmd.args(["ae", "add", title, "127.0.0.1", &port, "--platform"]);
    if let Some(allow) = allow {
        cmd.args(["--allow", allow]);
    }
    run(&mut cmd);
}

fn unsafe_sigterm(pid: u32) {
    let status = Command::new("kill").arg("-TERM").arg(pid.to_string()).status().unwrap();
    assert!(status.success());
}

/// The ports a server bound, as `serving.json` says.
struct Ports {
    dicom: u16,
    http: u16,
    /// 0 when off.
    dicom_tls: u16,
    http_tls: bool,
}

/// The ports `child` bound, from the `serving.json` it writes once it
/// serves (written by this process: its pid).
fn wait_serving(child: &mut std::process::Child, serving: &Path) -> Ports {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(text) = std::fs::read_to_string(serving)
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            && v["pid"].as_u64() == Some(child.id() as u64)
        {
            let port = |k: &str| v[k].as_u64().and_then(|p| u16::try_from(p).ok()).unwrap_or_else(|| panic!("{k} in {text}"));
            return Ports {
                dicom: port("dicom_port"),
                http: port("http_port"),
                dicom_tls: port("dicom_tls_port"),
                http_tls: v["http_tls"].as_bool() == Some(true),
            };
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("yunying exited before serving: {status}");
        }
        assert!(Instant::now() < deadline, "yunying wrote no {} within 60 s", serving.display());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A port that was free a moment ago, for peers the tests start themselves
/// (storescp, Orthanc). Servers under test bind port 0 instead.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
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
    assert!(out.status.success(), "{cmd:?} failed: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
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

/// tests/py/store.py sending every file under `dir` on four associations,
/// each success appended (and flushed) to `ack_log`, made empty first, as
/// it arrives: what a killed or failing server acknowledged can be checked
/// against it.
pub fn parallel_sender(port: u16, ack_log: &Path, dir: &Path) -> Child {
    std::fs::write(ack_log, "").unwrap();
    python()
        .arg(format!("{ROOT}/tests/py/store.py"))
        .args(["--port", &port.to_string(), "--assocs", "4", "--ack-log"])
        .arg(ack_log)
        .arg(dir)
        .spawn()
        .unwrap()
}

/// How many instances `ack_log` lists.
pub fn acked_count(ack_log: &Path) -> usize {
    std::fs::read_to_string(ack_log).unwrap().lines().count()
}

/// Wait until `ack_log` lists at least `n` instances; a failure after `limit`.
pub fn wait_acked(ack_log: &Path, n: usize, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let acked = acked_count(ack_log);
        if acked >= n {
            return;
        }
        assert!(Instant::now() < deadline, "only {acked} of {n} instances acknowledged in {limit:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// DCMTK's storescu sends every file under `dir` as `aet` to the server's
/// DICOM port; it must succeed.
pub fn storescu_dir(port: u16, aet: &str, dir: &Path) {
    run(dcmtk("storescu").args(["-aet", aet, "-aec", "YUNYING", "+sd", "+r", "127.0.0.1", &port.to_string()]).arg(dir));
}

/// Every file under `dir`, sorted.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> =
        walkdir::WalkDir::new(dir).into_iter().filter_map(Result::ok).filter(|e| e.file_type().is_file()).map(|e| e.into_path()).collect();
    files.sort();
    files
}

/// (meta, dataset bytes) of a Part 10 file.
pub fn part10(path: &Path) -> (FileMeta, Vec<u8>) {
    part10_bytes(&std::fs::read(path).unwrap(), &path.display().to_string())
}

/// (meta, dataset bytes) of Part 10 bytes (`what` names them in a panic).
pub fn part10_bytes(bytes: &[u8], what: &str) -> (FileMeta, Vec<u8>) {
    let mut cursor = bytes;
    let (meta, len) = FileMeta::read(&mut cursor).unwrap_or_else(|e| panic!("{what}: {e}"));
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
        let stored = index.instance(&meta.sop_instance_uid).await.unwrap().unwrap_or_else(|| panic!("{} not indexed", f.display()));
        let (stored_meta, stored_bytes) = part10_bytes(&server.read_object(&stored.object_key), &stored.object_key);
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

/// Wait until no rendition job is pending or running.
pub async fn wait_for_jobs(index: &Index, limit: Duration) -> yunying_index::JobCounts {
    let deadline = Instant::now() + limit;
    loop {
        let c = index.job_counts().await.unwrap();
        if c.pending == 0 && c.running == 0 {
            return c;
        }
        assert!(Instant::now() < deadline, "rendition jobs still queued after {limit:?}: {c:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Server {
    /// A `kB` line of the server's /proc status (`VmHWM`, `VmRSS`), in KiB.
    pub fn proc_status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        let line = status.lines().find(|l| l.starts_with(&format!("{field}:"))).unwrap_or_else(|| panic!("no {field} in {status}"));
        line.split_whitespace().nth(1).unwrap().parse().unwrap()
    }

    /// Set the peak resident size (VmHWM) back to the current one, so that
    /// the next reading is the peak since now; returns the current size.
    pub fn reset_peak_rss(&self) -> u64 {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5");
        self.proc_status_kib("VmHWM")
    }

    /// Open descriptors of the server process.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid())).map(|d| d.count()).unwrap_or(0)
    }
}

impl Server {
    /// The server process's peak resident memory so far (VmHWM), in bytes.
    pub fn peak_rss(&self) -> u64 {
        self.proc_status_kib("VmHWM") * 1024
    }
}

/// DCMTK `getscu`: C-GET one study from the server into `dir` (calling AE
/// `GETSCU`, which the test must have registered with the `get` right).
pub fn c_get_study(dicom_port: u16, dir: &Path, study_uid: &str) {
    std::fs::create_dir_all(dir).unwrap();
    run(dcmtk("getscu").current_dir(dir).args(["-S", "-aec", "YUNYING", "-od"]).arg(dir).args([
        "127.0.0.1",
        &dicom_port.to_string(),
        "-k",
        "QueryRetrieveLevel=STUDY",
        "-k",
        &format!("StudyInstanceUID={study_uid}"),
    ]));
}

/// The access records once the running server's sequencer has moved every
/// recorded event into the audit ledger (waits at most 15 s).
pub async fn access_events(index: &Index) -> Vec<yunying_index::AccessEvent> {
    // Searches are recorded just after their answer (`Audit::record_soon`,
    // held 250 ms so repeats fold): wait until nothing is pending and
    // nothing new arrived for longer than that.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let mut seen = (-1, usize::MAX);
    loop {
        let pending = index.audit_pending_count().await.unwrap();
        let recorded = index.access_events(0, 1_000_000).await.unwrap();
        if pending == 0 && seen == (0, recorded.len()) {
            return recorded;
        }
        assert!(std::time::Instant::now() < deadline, "the audit sequencer did not take the recorded events");
        seen = (pending, recorded.len());
        tokio::time::sleep(Duration::from_millis(350)).await;
    }
}
