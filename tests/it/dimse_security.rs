//! Attacks on the DICOM port, and what must hold against them: who may do
//! what (the AE registry's rights), unsolicited messages that would fill
//! memory, idle associations that would lock every other caller out.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::*;
use crate::wire::http_get;

const VERIFICATION: &str = "1.2.840.10008.1.1";
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const STUDY_ROOT_FIND: &str = "1.2.840.10008.5.1.4.1.2.2.1";
const CT_STUDY: &str = "1.2.826.0.1.3680043.10.1467.1.1";
/// Only C-ECHO from AEs not in the registry (the harness otherwise lets
/// anyone C-STORE, as the demo does).
const ECHO_ONLY: &str = "[dicom]\nunknown_callers = \"echo\"\n";

fn output_text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr)
}

fn findscu(port: u16) -> Output {
    dcmtk("findscu")
        .args(["-v", "-S", "-aec", "YUNYING", "127.0.0.1", &port.to_string()])
        .args(["-k", "QueryRetrieveLevel=STUDY", "-k", "PatientID", "-k", "StudyInstanceUID"])
        .output()
        .unwrap()
}

/// Matches findscu printed, if it was served.
fn find_matches(out: &Output) -> usize {
    output_text(out).lines().filter(|l| l.contains("Find Response:") && l.contains("(Pending)")).count()
}

/// getscu of the CT study into `dir`, debug output (which shows why an
/// association was rejected).
fn getscu(port: u16, dir: &Path) -> Output {
    let study = format!("StudyInstanceUID={CT_STUDY}");
    let args = ["127.0.0.1", &port.to_string(), "-k", "QueryRetrieveLevel=STUDY", "-k", &study];
    dcmtk("getscu").current_dir(dir).args(["-d", "-S", "-aec", "YUNYING", "-od"]).arg(dir).args(args).output().unwrap()
}

fn rejected_as_unknown_caller(out: &Output) -> bool {
    !out.status.success() && output_text(out).to_ascii_lowercase().contains("calling ae title not recognized")
}

/// tests/py/qr.py with `args`: its JSON lines (it exits 3 when rejected).
fn qr(args: &[&str]) -> Vec<serde_json::Value> {
    let out = python().arg(format!("{ROOT}/tests/py/qr.py")).args(args).output().unwrap();
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

fn echo(port: u16) -> bool {
    dcmtk("echoscu").args(["-aec", "YUNYING", "127.0.0.1", &port.to_string()]).output().unwrap().status.success()
}

fn a_testdata_file(name: &str) -> PathBuf {
    testdata_files().into_iter().find(|f| f.ends_with(name)).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn only_registered_aes_query_retrieve_and_store_and_registry_changes_apply_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(Path::new(ROOT).join("testdata/dicom")));
    let log = tmp.path().join("server.log");
    let config = format!("{ECHO_ONLY}[[archive.institutions]]\ncode = \"HOSP_A\"\nae_titles = [\"A_CT\"]\n");
    let server = Server::start_with_log(&data, Some(&config), Some(&log));
    let port = server.dicom_port;
    let p = port.to_string();

    // Anyone may C-ECHO.
    assert!(echo(port), "C-ECHO is open to anyone");
    // An unregistered AE proposing only query/retrieve is rejected at
    // association: permanent, service user, calling AE not recognised.
    let find = findscu(port);
    assert!(rejected_as_unknown_caller(&find), "{}", output_text(&find));
    let moved = qr(&["move", "--port", &p, "--dest", "FINDSCU", "--uid", CT_STUDY, "--calling", "STRANGER"]);
    assert_eq!(moved, vec![serde_json::json!({"association": "rejected", "result": 1, "source": 1, "reason": 3})]);
    let get = getscu(port, tmp.path());
    assert!(rejected_as_unknown_caller(&get), "{}", output_text(&get));
    // Storage commitment too (only its context proposed).
    let commit = python()
        .arg(format!("{ROOT}/tests/py/commitment_requester.py"))
        .args(["same", "--port", &p, "--present"])
        .arg(a_testdata_file("zh_gb18030.dcm"))
        .output()
        .unwrap();
    assert!(!commit.status.success(), "storage commitment from an unregistered AE: {}", output_text(&commit));
    // And C-STORE: nothing is stored.
    let sample = tmp.path().join("sample");
    gen_ct(&sample, 1, 32, 71);
    let file = files_under(&sample)[0].clone();
    let store = |calling: &str| dcmtk("storescu").args(["-aet", calling, "-aec", "YUNYING", "127.0.0.1", &p]).arg(&file).output().unwrap();
    let stored = store("STORESCU");
    assert!(rejected_as_unknown_caller(&stored), "{}", output_text(&stored));
    let index = server.index().await;
    let uid = part10(&file).0.sop_instance_uid;
    assert!(index.instance(&uid).await.unwrap().is_none());
    // An AE configured as an institution's sender may C-STORE.
    run(dcmtk("storescu").args(["-aet", "A_CT", "-aec", "YUNYING", "127.0.0.1", &p]).arg(&file));
    assert!(index.instance(&uid).await.unwrap().is_some());

    // On an association that C-ECHO makes usable, a C-FIND is refused with
    // 0124 (not authorized) and no identifier leaves.
    let mixed = qr(&["find", "--port", &p, "--calling", "STRANGER", "--echo", "QueryRetrieveLevel=STUDY", "PatientID="]);
    assert_eq!(mixed, vec![serde_json::json!({"echo": 0}), serde_json::json!({"status": 0x0124})]);

    // Registered while the server runs: the next association may query.
    register_ae(&data, "FINDSCU", 104, Some("find"));
    let find = findscu(port);
    // The nine studies of testdata and the one A_CT stored.
    assert!(find.status.success() && find_matches(&find) == 10, "{}", output_text(&find));
    // Registered rights are what they say: find but not move (0124).
    register_ae(&data, "QRSCU", 104, Some("find"));
    let moved = qr(&["move", "--port", &p, "--dest", "FINDSCU", "--uid", CT_STUDY]);
    assert_eq!(moved.last().unwrap()["status"], 0x0124, "{moved:?}");
    let found = qr(&["find", "--port", &p, "QueryRetrieveLevel=STUDY", "PatientID=YY0001"]);
    assert!(found.iter().any(|l| l.get("identifier").is_some()), "{found:?}");
    assert_eq!(found.last().unwrap()["status"], 0, "{found:?}");
    // A registered title from another host is not that AE.
    run(cli(&data).args(["ae", "add", "GETSCU", "10.255.255.1", "104", "--platform"]));
    let get = getscu(port, tmp.path());
    assert!(rejected_as_unknown_caller(&get), "{}", output_text(&get));
    // Removed: refused again on the next association.
    run(cli(&data).args(["ae", "remove", "FINDSCU"]));
    assert!(rejected_as_unknown_caller(&findscu(port)));
    // `ae list` shows the rights.
    let list = String::from_utf8(run(cli(&data).args(["ae", "list"])).stdout).unwrap();
    assert!(list.lines().any(|l| l.starts_with("QRSCU") && l.contains(" find ")), "{list}");
    assert!(list.lines().any(|l| l.starts_with("GETSCU") && l.contains("store,find,move,get,commit")), "{list}");

    // Refusals are logged with the AE title and address, never patient data.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.lines().any(|l| l.contains("STRANGER") && l.contains("127.0.0.1") && l.contains("refused")), "{text}");
    assert!(text.lines().any(|l| l.contains("FINDSCU") && l.contains("not recognised")), "{text}");
    for private in ["YY0001", "Zhou", "XiaoDong"] {
        assert!(!text.contains(private), "patient data in the log: {private}");
    }
}

#[test]
fn the_demo_setting_takes_c_store_from_anyone_and_says_so_but_not_queries() {
    let tmp = tempfile::tempdir().unwrap();
    let log = tmp.path().join("server.log");
    let server = Server::start_with_log(&tmp.path().join("data"), Some("[dicom]\nunknown_callers = \"demo-store\"\n"), Some(&log));
    let sample = tmp.path().join("sample");
    gen_ct(&sample, 1, 32, 72);
    run(dcmtk("storescu").args(["-aec", "YUNYING", "127.0.0.1", &server.dicom_port.to_string()]).arg(&files_under(&sample)[0]));
    assert!(rejected_as_unknown_caller(&findscu(server.dicom_port)));
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("demo-store") && text.contains("for a demo only"), "{text}");
}

// ---- Raw DICOM upper layer, for messages no DICOM toolkit would send ----

fn item(kind: u8, data: &[u8]) -> Vec<u8> {
    let mut v = vec![kind, 0];
    v.extend_from_slice(&(data.len() as u16).to_be_bytes());
    v.extend_from_slice(data);
    v
}

fn associate_rq(calling: &str, abstract_syntax: &str) -> Vec<u8> {
    let mut pc = vec![1, 0, 0, 0];
    pc.extend(item(0x30, abstract_syntax.as_bytes()));
    pc.extend(item(0x40, IMPLICIT_LE.as_bytes()));
    let mut user = item(0x51, &16384u32.to_be_bytes());
    user.extend(item(0x52, b"1.2.826.0.1.3680043.10.1467.99"));
    let mut body = vec![0, 1, 0, 0];
    body.extend_from_slice(format!("{:<16}{:<16}", "YUNYING", calling).as_bytes());
    body.extend_from_slice(&[0; 32]);
    body.extend(item(0x10, b"1.2.840.10008.3.1.1.1"));
    body.extend(item(0x20, &pc));
    body.extend(item(0x50, &user));
    let mut pdu = vec![1, 0];
    pdu.extend_from_slice(&(body.len() as u32).to_be_bytes());
    pdu.extend(body);
    pdu
}

/// Read one PDU: (type, body).
fn read_pdu(s: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 6];
    s.read_exact(&mut head)?;
    let mut body = vec![0; u32::from_be_bytes([head[2], head[3], head[4], head[5]]) as usize];
    s.read_exact(&mut body)?;
    Ok((head[0], body))
}

/// An established association proposing one context (ID 1).
fn associate(port: u16, calling: &str, abstract_syntax: &str) -> TcpStream {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(&associate_rq(calling, abstract_syntax)).unwrap();
    let (kind, body) = read_pdu(&mut s).unwrap();
    assert_eq!(kind, 2, "association not accepted: {body:?}");
    s
}

/// A command set (implicit VR little endian) of US elements and a UID.
fn command(sop_class: &str, us: &[(u16, u16)]) -> Vec<u8> {
    let mut elements: Vec<(u16, Vec<u8>)> = vec![(0x0002, {
        let mut uid = sop_class.as_bytes().to_vec();
        if uid.len() % 2 == 1 {
            uid.push(0);
        }
        uid
    })];
    elements.extend(us.iter().map(|(e, v)| (*e, v.to_le_bytes().to_vec())));
    elements.sort();
    let mut body = Vec::new();
    for (e, v) in &elements {
        body.extend_from_slice(&[0, 0]);
        body.extend_from_slice(&e.to_le_bytes());
        body.extend_from_slice(&(v.len() as u32).to_le_bytes());
        body.extend_from_slice(v);
    }
    let mut out = vec![0, 0, 0, 0, 4, 0, 0, 0];
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend(body);
    out
}

/// One P-DATA-TF PDU holding `count` copies of a command as PDVs.
fn pdata(command: &[u8], count: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(count * (command.len() + 6));
    for _ in 0..count {
        body.extend_from_slice(&(2 + command.len() as u32).to_be_bytes());
        body.extend_from_slice(&[1, 0x03]);
        body.extend_from_slice(command);
    }
    let mut pdu = vec![4, 0];
    pdu.extend_from_slice(&(body.len() as u32).to_be_bytes());
    pdu.extend(body);
    pdu
}

/// Send `total` bytes of `command` PDVs (in 256 KiB PDUs) or until the
/// server stops reading; the bytes sent.
fn flood(s: &mut TcpStream, command: &[u8], total: usize) -> usize {
    let pdu = pdata(command, (256 << 10) / (command.len() + 6));
    s.set_write_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut sent = 0;
    while sent < total {
        if s.write_all(&pdu).is_err() {
            break;
        }
        sent += pdu.len();
    }
    sent
}

/// What the server did after a flood: A-ABORT, closed, or neither.
fn aborted(s: &mut TcpStream) -> bool {
    loop {
        match read_pdu(s) {
            Ok((7, _)) => return true,
            Ok(_) => continue,
            Err(e) => return matches!(e.kind(), std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset),
        }
    }
}

fn peak_rss_mb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
}

#[test]
fn a_flood_of_unsolicited_responses_is_refused_and_memory_stays_bounded() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), None);
    let port = server.dicom_port;
    const FLOOD: usize = 42 << 20; // 1.6 million small commands, as in the report
    // Responses to requests we never sent: C-STORE-RSP (what a C-GET
    // waits for), N-EVENT-REPORT-RSP (a commitment report's), C-FIND-RSP.
    let responses = [
        ("C-STORE-RSP", 0x8001, "1.2.840.10008.5.1.4.1.1.2"),
        ("N-EVENT-REPORT-RSP", 0x8100, "1.2.840.10008.1.20.1"),
        ("C-FIND-RSP", 0x8020, STUDY_ROOT_FIND),
    ];
    for (name, field, class) in responses {
        let mut s = associate(port, "FLOODER", VERIFICATION);
        let rsp = command(class, &[(0x0100, field), (0x0120, 7), (0x0800, 0x0101), (0x0900, 0)]);
        let started = Instant::now();
        let sent = flood(&mut s, &rsp, FLOOD);
        assert!(sent < FLOOD, "the server kept reading unsolicited {name}s");
        assert!(aborted(&mut s), "{name}: the association must be aborted");
        assert!(started.elapsed() < Duration::from_secs(20));
    }
    // C-CANCEL may come after its operation ended: dropped as they come,
    // and the association goes on.
    let mut s = associate(port, "FLOODER", VERIFICATION);
    let cancel = command(VERIFICATION, &[(0x0100, 0x0FFF), (0x0120, 7), (0x0800, 0x0101)]);
    assert!(flood(&mut s, &cancel, FLOOD / 2) >= FLOOD / 2, "the server stopped reading C-CANCELs");
    let echo_rq = command(VERIFICATION, &[(0x0100, 0x0030), (0x0110, 9), (0x0800, 0x0101)]);
    s.write_all(&pdata(&echo_rq, 1)).unwrap();
    let (kind, body) = read_pdu(&mut s).unwrap();
    assert_eq!(kind, 4, "a C-ECHO-RSP after the cancels");
    // (0000,0100) US 8030: a C-ECHO-RSP; (0000,0900) US 0000: success.
    let has = |element: &[u8]| body.windows(element.len()).any(|w| w == element);
    assert!(has(&[0, 0, 0, 1, 2, 0, 0, 0, 0x30, 0x80]) && has(&[0, 0, 0, 9, 2, 0, 0, 0, 0, 0]), "{body:?}");
    drop(s);

    let peak = peak_rss_mb(server.pid());
    assert!(peak < 100, "peak RSS {peak} MB after the floods");
    assert!(echo(port), "a new association is served after the floods");
}

/// Python: hold `n` idle associations (A-ASSOCIATE, then nothing) and `m`
/// connections that never send an A-ASSOCIATE-RQ, from `src`; print
/// "held" and wait for stdin to close.
const HOLDER: &str = r#"
import socket, struct, sys
port, n, m, src = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def item(t, d): return bytes([t, 0]) + struct.pack(">H", len(d)) + d
pc = item(0x20, bytes([1, 0, 0, 0]) + item(0x30, b"1.2.840.10008.1.1") + item(0x40, b"1.2.840.10008.1.2"))
ui = item(0x50, item(0x51, struct.pack(">I", 16384)) + item(0x52, b"1.2.3.4"))
body = struct.pack(">HH", 1, 0) + b"YUNYING".ljust(16) + b"IDLER".ljust(16) + bytes(32) + item(0x10, b"1.2.840.10008.3.1.1.1") + pc + ui
rq = bytes([1, 0]) + struct.pack(">I", len(body)) + body
held, accepted = [], 0
for i in range(n + m):
    s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(src, 0))
    held.append(s)
    if i < n:
        s.sendall(rq)
        accepted += s.recv(1) == b"\x02"
print(f"held {accepted}", flush=True)
sys.stdin.read()
"#;

fn hold(port: u16, associations: usize, silent: usize, src: &str) -> Child {
    let mut child = python()
        .args(["-c", HOLDER, &port.to_string(), &associations.to_string(), &silent.to_string(), src])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("held"), "{line}");
    child
}

fn echo_within(port: u16, limit: Duration) {
    let started = Instant::now();
    assert!(echo(port), "a new caller must be served while others sit idle");
    assert!(started.elapsed() < limit, "served only after {:?}", started.elapsed());
}

#[test]
fn idle_associations_do_not_lock_other_callers_out() {
    let tmp = tempfile::tempdir().unwrap();
    // Defaults (32 at once, 16 per address): the global maximum of idle
    // associations and some silent connections from one address hold at
    // most 16 slots: a caller from another address is served at once.
    let server = Server::start(&tmp.path().join("a"), None);
    let mut idle = hold(server.dicom_port, 32, 8, "127.0.0.2");
    echo_within(server.dicom_port, Duration::from_secs(5));
    drop(idle.stdin.take());
    idle.wait().unwrap();
    // From the same address, the caller takes the slot of one idle for a
    // second.
    let mut idle = hold(server.dicom_port, 32, 8, "127.0.0.1");
    std::thread::sleep(Duration::from_millis(1500));
    echo_within(server.dicom_port, Duration::from_secs(5));
    drop(idle.stdin.take());
    idle.wait().unwrap();
    drop(server);

    // No per-address limit: the table fills from one address, and a new
    // caller from another takes the slot of the longest-idle association.
    let config = "[dicom]\nmax_associations = 8\nmax_associations_per_address = 8\n";
    let server = Server::start(&tmp.path().join("b"), Some(config));
    let mut idle = hold(server.dicom_port, 6, 2, "127.0.0.2");
    std::thread::sleep(Duration::from_millis(1500)); // idle long enough to give way
    for _ in 0..3 {
        echo_within(server.dicom_port, Duration::from_secs(5));
    }
    drop(idle.stdin.take());
    idle.wait().unwrap();
}

#[test]
fn silent_connections_cannot_use_up_file_descriptors() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), None);
    let fds = || std::fs::read_dir(format!("/proc/{}/fd", server.pid())).unwrap().count();
    let before = fds();
    // Many more connections than slots, none ever sending an
    // A-ASSOCIATE-RQ: beyond the slots and as many waiting to be
    // rejected, the server closes them at once.
    let mut silent = hold(server.dicom_port, 0, 600, "127.0.0.2");
    std::thread::sleep(Duration::from_millis(500));
    let held = fds() - before;
    assert!(held <= 16 + 32 + 8, "{held} descriptors held for silent connections");
    std::thread::sleep(Duration::from_millis(1000));
    echo_within(server.dicom_port, Duration::from_secs(5));
    drop(silent.stdin.take());
    silent.wait().unwrap();
}

/// Graceful shutdown lets a request in progress finish, so a peer that
/// sends the first fragment of a command and then nothing holds the first
/// SIGTERM until the association drain gives up (30 s). A second SIGTERM
/// (or Ctrl-C) is the operator saying "now": the server stops at once,
/// with a failure status.
#[test]
fn a_second_sigterm_stops_a_server_a_stalled_peer_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let mut server = Server::start(&tmp.path().join("data"), Some(ECHO_ONLY));
    let mut s = associate(server.dicom_port, "STALLER", VERIFICATION);
    // A C-ECHO-RQ's command set, sent as a first fragment (not the last).
    let echo = command(VERIFICATION, &[(0x0100, 0x0030), (0x0110, 1), (0x0800, 0x0101)]);
    let mut body = (2 + echo.len() as u32).to_be_bytes().to_vec();
    body.extend_from_slice(&[1, 0x01]);
    body.extend_from_slice(&echo);
    let mut pdu = vec![4, 0];
    pdu.extend_from_slice(&(body.len() as u32).to_be_bytes());
    pdu.extend(body);
    s.write_all(&pdu).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    server.terminate();
    assert!(server.exits_within(Duration::from_secs(2)).is_none(), "the first SIGTERM waits for the request in progress");
    let asked = Instant::now();
    server.terminate();
    let status = server.exits_within(Duration::from_secs(10)).expect("a second SIGTERM stops the server");
    assert!(!status.success(), "a forced stop is not a clean one: {status}");
    assert!(asked.elapsed() < Duration::from_secs(5), "stopped {:?} after the second SIGTERM", asked.elapsed());
    drop(s);
}

/// Storage commitment requests are kept in the index until acknowledged: a
/// requester that asks and never listens for its reports could fill it,
/// one association at a time (each below `max_pending_reports`). What one
/// AE is owed is bounded across its associations; acknowledged reports
/// make room again; other AEs are not held back by it.
#[test]
fn a_requester_that_never_takes_its_reports_is_refused_past_its_limit_across_associations() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let present = vec![a_testdata_file("zh_gb18030.dcm")];
    run(cli(&data).args(["import", "--quiet"]).args(&present));
    let our_port = free_port();
    run(cli(&data).args(["ae", "add", "COMMITSCU", "127.0.0.1", &our_port.to_string(), "--platform"]));
    run(cli(&data).args(["ae", "add", "OTHERSCU", "127.0.0.1", &free_port().to_string(), "--platform"]));
    let server = Server::start(&data, Some("[dicom]\nmax_owed_reports = 3\n"));
    let p = server.dicom_port.to_string();
    let ask = |calling: &str| -> serde_json::Value {
        let out = python()
            .arg(format!("{ROOT}/tests/py/commitment_requester.py"))
            .args(["action", "--port", &p, "--calling", calling, "--present"])
            .args(&present)
            .output()
            .unwrap();
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stderr)))
    };

    // Each on its own association, released before any report is taken
    // (nothing listens on the requester's port).
    for n in 0..3 {
        assert_eq!(ask("COMMITSCU")["action_status"], 0, "request {n}");
    }
    for n in 3..6 {
        assert_eq!(ask("COMMITSCU")["action_status"], 0x0213, "request {n}: past the limit");
    }
    assert_eq!(ask("OTHERSCU")["action_status"], 0, "another AE is not held back");
    let (_, metrics) = http_get(server.http_port, "/metrics").unwrap();
    assert!(metrics.contains("\nyunying_commitment_reports_owed 4\n"), "{metrics}");

    // The requester listens: the three owed reports come (each on its next
    // retry: 2 s, 10 s, then a minute after the first) and are acknowledged.
    let listened = python()
        .arg(format!("{ROOT}/tests/py/commitment_requester.py"))
        .args(["listen", "--our-port", &our_port.to_string(), "--timeout", "100", "--expect", "3", "--linger", "2", "--present"])
        .args(&present)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_str(String::from_utf8_lossy(&listened.stdout).lines().last().unwrap())
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&listened.stderr)));
    assert_eq!(report["reports"], 3, "the three owed, each once: {report}");
    assert_eq!(report["all_present_committed"], true, "{report}");
    assert_eq!(ask("COMMITSCU")["action_status"], 0, "room again once the reports were taken");
}

/// Found by the `search` fuzz target: a value of hundreds of backslashes
/// made one SQL `OR` term each, past SQLite's expression depth, and the
/// search failed as a database error. A matching key lists at most 256
/// values (4,096 UIDs), checked in the index where C-FIND and QIDO-RS both
/// meet it: refused as the client's error, naming the key, and a list
/// within the bound is still answered.
#[tokio::test(flavor = "multi_thread")]
async fn a_matching_key_listing_too_many_values_is_refused_on_both_faces() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(Path::new(ROOT).join("testdata/dicom")));
    register_ae(&data, "QRSCU", 104, Some("find"));
    let server = Server::start(&data, None);
    let (http, p) = (server.http_port, server.dicom_port.to_string());
    let list = |n: usize| vec!["CT"; n].join("\\");

    // QIDO-RS takes values of up to 1,024 bytes: 1,020 backslashes list
    // 1,021 (empty) values, past the depth SQLite allows.
    let (status, body) = http_get(http, &format!("/dicom-web/studies?ModalitiesInStudy={}", "%5C".repeat(1020))).unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("ModalitiesInStudy") && body.contains("256"), "{body}");
    let (status, body) = http_get(http, &format!("/dicom-web/studies?ModalitiesInStudy={}", list(200).replace('\\', "%5C"))).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(CT_STUDY), "a list within the bound still matches: {body}");

    let refused = qr(&["find", "--port", &p, "QueryRetrieveLevel=STUDY", &format!("ModalitiesInStudy={}", list(1200))]);
    assert_eq!(refused.last().unwrap()["status"], 0xA900, "{refused:?}");
    assert!(!refused.iter().any(|l| l.get("identifier").is_some()), "{refused:?}");
    let uids = qr(&["find", "--port", &p, "QueryRetrieveLevel=STUDY", &format!("StudyInstanceUID={}", vec!["1.2.3"; 5000].join("\\"))]);
    assert_eq!(uids.last().unwrap()["status"], 0xA900, "{uids:?}");
    let found = qr(&["find", "--port", &p, "QueryRetrieveLevel=STUDY", &format!("ModalitiesInStudy={}", list(256))]);
    assert!(found.iter().any(|l| l.get("identifier").is_some()), "{found:?}");
    assert_eq!(found.last().unwrap()["status"], 0, "{found:?}");
}
