//! PostgreSQL failing under a node (issue 24): restarted and killed during
//! ingest and rendition jobs. Nothing acknowledged is lost, the node
//! recovers by itself, every index row points at an intact object, the
//! rendition queue drains and no spool file is left. The test brings a
//! PostgreSQL cluster of its own (the shared one must not restart under
//! other tests).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::harness::*;

/// A throwaway PostgreSQL cluster on a free loopback port.
struct Postgres {
    dir: PathBuf,
    port: u16,
}

impl Postgres {
    fn bin(name: &str) -> PathBuf {
        let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .map(|d| d.filter_map(Result::ok).map(|e| e.path().join("bin").join(name)).filter(|p| p.exists()).collect())
            .unwrap_or_default();
        found.sort();
        found.pop().unwrap_or_else(|| panic!("PostgreSQL's {name} missing: run scripts/test.sh, which installs it"))
    }

    fn root() -> bool {
        Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0")
    }

    /// `initdb` and `postgres` refuse root: as the postgres user then.
    fn command(name: &str) -> Command {
        if Postgres::root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(Postgres::bin(name));
            c
        } else {
            Command::new(Postgres::bin(name))
        }
    }

    fn start_new() -> Postgres {
        let dir = PathBuf::from(format!("/tmp/yunying-pg-faults-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if Postgres::root() {
            run(Command::new("chown").args(["-R", "postgres"]).arg(&dir));
        }
        let pg = Postgres { dir, port: free_port() };
        run(Postgres::command("initdb").arg("-D").arg(pg.data()).args(["-U", "yunying", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8"]));
        pg.start();
        pg
    }

    fn data(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn start(&self) {
        let options = format!("-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=100", self.port, self.dir.display());
        run(Postgres::command("pg_ctl")
            .arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.join("server.log"))
            .args(["-w", "-t", "60", "start", "-o", &options]));
    }

    /// A clean restart: sessions are ended, the server is back at once.
    /// (Not `pg_ctl restart`: its server would keep our output pipe open,
    /// and waiting for that pipe's end would wait for the server's.)
    fn restart(&self) {
        run(Postgres::command("pg_ctl").arg("-D").arg(self.data()).args(["-w", "-t", "60", "-m", "fast", "stop"]));
        self.start();
    }

    /// The postmaster SIGKILLed: every connection dies mid-statement; the
    /// next start recovers from the WAL.
    fn kill(&self) {
        let pid = std::fs::read_to_string(self.data().join("postmaster.pid")).unwrap();
        run(Command::new("kill").args(["-KILL", pid.lines().next().unwrap().trim()]));
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "PostgreSQL still answers after SIGKILL");
            std::thread::sleep(Duration::from_millis(50));
        }
        // Its backends end when they notice the postmaster is gone.
        std::thread::sleep(Duration::from_millis(500));
    }

    /// Run SQL as the cluster's superuser.
    fn sql(&self, statement: &str) {
        run(Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "yunying", "-d", "postgres", "-p"])
            .arg(self.port.to_string())
            .args(["-c", statement]));
    }

    fn url(&self) -> String {
        format!("postgres://yunying@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = Postgres::command("pg_ctl").arg("-D").arg(self.data()).args(["-m", "immediate", "stop"]).output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn postgresql_restarted_and_killed_during_ingest_loses_nothing_acknowledged() {
    if distributed_backend() {
        return; // one run is enough: it brings its own PostgreSQL
    }
    let pg = Postgres::start_new();
    let tmp = tempfile::tempdir().unwrap();
    let series = tmp.path().join("ct");
    gen_ct(&series, 1200, 64, 43);
    let data = tmp.path().join("data");
    use_index_url(&data, &pg.url());
    let log = tmp.path().join("server.log");
    // Renditions on: their jobs are claimed and finished through the index too.
    let mut server = Server::start_with_log(&data, None, Some(&log));
    let ack_log = tmp.path().join("acks.txt");
    let mut sender = parallel_sender(server.dicom_port, &ack_log, &series);

    let count = || acked_count(&ack_log);
    let began = Instant::now();
    let limit = Duration::from_secs(180);
    wait_acked(&ack_log, 40, limit);
    eprintln!("{:?}: {} acknowledged, restarting PostgreSQL", began.elapsed(), count());
    pg.restart();
    let after_restart = count();
    eprintln!("{:?}: {after_restart} acknowledged, restarted", began.elapsed());
    wait_acked(&ack_log, after_restart + 20, limit);
    let before_kill = count();
    eprintln!("{:?}: {before_kill} acknowledged, killing PostgreSQL", began.elapsed());
    pg.kill();
    std::thread::sleep(Duration::from_secs(2));
    pg.start();
    let deadline = Instant::now() + Duration::from_secs(300);
    while sender.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = sender.kill();
            panic!("the sender did not finish within 300 s of PostgreSQL's return");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let acked: Vec<String> = std::fs::read_to_string(&ack_log).unwrap().lines().map(str::to_string).collect();
    assert!(before_kill < 1200, "the kill must land mid-ingest ({before_kill} acknowledged before it)");

    // The node recovered by itself: a new study is stored whole.
    let more = tmp.path().join("more");
    gen_ct(&more, 12, 64, 44);
    let out =
        run(python().arg(format!("{ROOT}/tests/py/store.py")).args(["--port", &server.dicom_port.to_string()]).args(files_under(&more)));
    let statuses: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, vec![0; 12], "C-STOREs after PostgreSQL came back");

    // Every acknowledged instance, byte for byte; every indexed object intact.
    let index = yunying_index::Index::open(&pg.url()).await.unwrap();
    let by_uid: std::collections::HashMap<String, PathBuf> =
        files_under(&series).into_iter().map(|f| (part10(&f).0.sop_instance_uid, f)).collect();
    for uid in &acked {
        let stored = index.instance(uid).await.unwrap().unwrap_or_else(|| panic!("acknowledged {uid} not indexed"));
        let bytes = server.read_object(&stored.object_key);
        assert_eq!(hex::encode(Sha256::digest(&bytes)), stored.digest, "{uid}: digest mismatch");
        assert!(part10_bytes(&bytes, uid).1 == part10(&by_uid[uid]).1, "{uid}: bytes differ");
    }
    for (key, digest) in index.all_objects().await.unwrap() {
        assert_eq!(hex::encode(Sha256::digest(server.read_object(&key))), digest, "{key}");
    }
    // The rendition queue drains: no job stuck running for a dead session,
    // none given up for the outage.
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let jobs = index.job_counts().await.unwrap();
        if jobs.pending == 0 && jobs.running == 0 {
            assert_eq!(jobs.parked, 0, "rendition jobs parked by the outage: {:?}", index.parked_jobs(10).await.unwrap());
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rendition jobs not done 240 s after the outage: {} pending, {} running",
            jobs.pending,
            jobs.running
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert!(files_under(&server.spool_dir()).is_empty(), "spool files left: {:?}", files_under(&server.spool_dir()));
    assert!(server.stop().success(), "a graceful stop after the outage");
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(!logged.contains("panicked"), "a panic during the outage");
}

/// PostgreSQL refusing the node every new connection (issue 24): its role
/// at its connection limit, the node's sessions ended under it. Requests
/// get clear refusals within the pool's bound (C-STORE A700, QIDO-RS 503,
/// an association of an AE known only from the registry rejected as
/// transient), the node neither crashes nor hangs nor half-writes, and
/// it serves again as soon as connections are allowed, with no restart.
#[tokio::test(flavor = "multi_thread")]
async fn postgresql_refusing_connections_gets_clear_refusals_and_service_resumes_by_itself() {
    if distributed_backend() {
        return; // one run is enough: it brings its own PostgreSQL
    }
    let pg = Postgres::start_new();
    pg.sql("CREATE ROLE app LOGIN");
    pg.sql("CREATE DATABASE archive OWNER app");
    let url = format!("postgres://app@127.0.0.1:{}/archive", pg.port);
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    use_index_url(&data, &url);
    // Two senders: an institution's configured AE title (its right to store
    // needs no registry) and an AE known only from the registry, which is
    // in the index.
    run(cli(&data).args(["ae", "add", "REGSCU", "127.0.0.1", "104", "--institution", "HOSP_A", "--new-institution"]));
    let config = "[renditions]\nenabled = false\n[dicom]\nunknown_callers = \"echo\"\n\
                  [[archive.institutions]]\ncode = \"HOSP_A\"\nae_titles = [\"PYNETDICOM\"]\n";
    let log = tmp.path().join("server.log");
    let mut server = Server::start_with_log(&data, Some(config), Some(&log));
    let series = tmp.path().join("ct");
    gen_ct(&series, 9, 64, 49);
    let files = files_under(&series);
    let store = |calling: &str, files: &[PathBuf]| -> Vec<serde_json::Value> {
        let out = python()
            .arg(format!("{ROOT}/tests/py/store.py"))
            .args(["--port", &server.dicom_port.to_string(), "--calling", calling])
            .args(files)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    };
    let statuses = |lines: Vec<serde_json::Value>| -> Vec<u64> { lines.iter().map(|l| l["status"].as_u64().unwrap_or(u64::MAX)).collect() };
    assert_eq!(statuses(store("PYNETDICOM", &files[..2])), vec![0; 2]);
    assert_eq!(statuses(store("REGSCU", &files[2..3])), vec![0], "the registered AE may store");

    pg.sql("ALTER ROLE app CONNECTION LIMIT 0");
    pg.sql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'app'");
    let asked = Instant::now();
    let refused = store("PYNETDICOM", &files[3..6]);
    let took = asked.elapsed();
    assert_eq!(statuses(refused.clone()), vec![0xA700; 3], "C-STOREs are answered, with out of resources: {refused:?}");
    // The registry cannot be read: the registered AE is refused as
    // transient (the modality tries again later), never as "calling AE not
    // recognised", which it would take as final.
    let rejected = store("REGSCU", &files[6..7]);
    assert_eq!(rejected, vec![serde_json::json!({"association": "rejected", "result": 2, "source": 1, "reason": 1})]);
    // Each answer came within store.py's 30 s DIMSE timeout (a common
    // modality setting; past it the script aborts and prints no status):
    // the pool's 10 s bound on waiting for a connection, not a hang.
    eprintln!("refused in {took:?}: {refused:?}");
    let get = |path: &str| {
        let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
        let (response, closed) = http_exchange(server.http_port, request.as_bytes(), Duration::from_secs(30));
        assert!(closed, "{path} answered within 30 s");
        http_status(&response)
    };
    assert_eq!(get("/dicom-web/studies"), Some(503), "QIDO-RS without its index");
    assert_eq!(get("/healthz"), Some(503), "the node says it cannot serve");

    pg.sql("ALTER ROLE app CONNECTION LIMIT -1");
    assert_eq!(statuses(store("PYNETDICOM", &files[3..6])), vec![0; 3], "served again, no restart");
    assert_eq!(statuses(store("REGSCU", &files[6..])), vec![0; 3], "the registered AE too");
    let index = yunying_index::Index::open(&url).await.unwrap();
    assert_eq!(index.counts().await.unwrap().instances, 9);
    for (key, digest) in index.all_objects().await.unwrap() {
        assert_eq!(hex::encode(Sha256::digest(server.read_object(&key))), digest, "{key}");
    }
    index.close().await;
    assert!(files_under(&server.spool_dir()).is_empty(), "spool files left: {:?}", files_under(&server.spool_dir()));
    assert!(server.stop().success());
    assert!(!std::fs::read_to_string(&log).unwrap().contains("panicked"));
}
