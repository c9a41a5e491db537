//! The HTTP face under attack: repeated frames, STOW-RS bodies without a
//! boundary, connections that never finish or never end, more connections
//! than allowed, other origins and DNS rebinding. Each test performs the
//! attack against the real server and asserts the bounded outcome.

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::harness::*;

const OCTETS: &str = "multipart/related; type=\"application/octet-stream\"; transfer-syntax=*";

/// An Enhanced CT instance of about `mib` MiB (2 frames of 512x512x2 per MiB).
fn multiframe(dir: &Path, mib: u32) -> PathBuf {
    run(python().arg(format!("{ROOT}/testdata/gen_ct_series.py")).arg("--out").arg(dir).args(["--multiframe", &mib.to_string(), "-q"]));
    files_under(dir)[0].clone()
}

/// Import `file` into a fresh data directory and serve it with `config`;
/// returns the server and the instance's frames URL.
async fn serve_instance(tmp: &Path, file: &Path, config: &str) -> (Server, String) {
    let data = tmp.join("data");
    run(cli(&data).args(["import", "--quiet"]).arg(file));
    let server = Server::start(&data, Some(config));
    let sop = part10(file).0.sop_instance_uid;
    let stored = server.index().await.instance(&sop).await.unwrap().unwrap();
    let url = format!("/dicom-web/studies/{}/series/{}/instances/{sop}/frames", stored.study_instance_uid, stored.series_instance_uid);
    (server, url)
}

fn get(port: u16, path: &str, extra: &str) -> (u16, Vec<u8>) {
    // HTTP/1.0: the body is not chunked, and ends with the connection.
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n{extra}\r\n");
    let (response, closed) = http_exchange(port, request.as_bytes(), Duration::from_secs(60));
    assert!(closed, "no complete answer to GET {}", &path[..path.len().min(200)]);
    (http_status(&response).unwrap_or(0), response)
}

fn body_text(response: &[u8]) -> String {
    String::from_utf8_lossy(&response[find_bytes(response, b"\r\n\r\n").map_or(0, |i| i + 4)..]).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_frames_are_refused_and_frame_responses_stream_within_their_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let file = multiframe(&tmp.path().join("mf"), 64); // 128 frames of 512 KiB
    // 96 frames fit the response bound. No renditions: their decoding of
    // this instance would run in the same process while memory is measured.
    let config = "[http]\nmax_frames_bytes = 50331648\nbody_idle_timeout_secs = 2\n[renditions]\nenabled = false\n";
    let (server, frames) = serve_instance(tmp.path(), &file, config).await;
    let accept = format!("Accept: {OCTETS}\r\n");
    const FRAME: usize = 512 * 512 * 2;

    // The attack: frame 1 named 2,000 times (1 GB of answer before).
    server.reset_peak_rss();
    let before = server.proc_status_kib("VmRSS");
    let list = vec!["1"; 2000].join(",");
    let (status, response) = get(server.http_port, &format!("{frames}/{list}"), &accept);
    assert_eq!(status, 400, "{}", body_text(&response));
    assert!(body_text(&response).contains("more than once"), "{}", body_text(&response));
    let peak = server.proc_status_kib("VmHWM");
    eprintln!("peak RSS {peak} KiB, {before} KiB before");
    assert!(peak < before + 32 * 1024, "peak RSS {peak} KiB after a repeated-frames request (was {before} KiB)");

    // More distinct frames than the response bound: 413 before any is read.
    let all: Vec<String> = (1..=128).map(|n| n.to_string()).collect();
    let (status, response) = get(server.http_port, &format!("{frames}/{}", all.join(",")), &accept);
    assert_eq!(status, 413, "{}", body_text(&response));
    assert!(body_text(&response).contains("max_frames_bytes"), "{}", body_text(&response));

    // Within the bound: 48 MiB of frames, streamed, not held. A first
    // request warms the allocator's arenas (and the S3 client's buffers),
    // whose retained memory is a fixed cost, not one per response (measured
    // on S3: +34 MiB for 12 MiB the first time, then +1 to +11 MiB for 48 MiB).
    let (status, _) = get(server.http_port, &format!("{frames}/{}", all[..96].join(",")), &accept);
    assert_eq!(status, 200);
    server.reset_peak_rss();
    let before = server.proc_status_kib("VmRSS");
    let (status, response) = get(server.http_port, &format!("{frames}/{}", all[..96].join(",")), &accept);
    assert_eq!(status, 200, "{}", body_text(&response[..response.len().min(2000)]));
    assert!(response.len() > 96 * FRAME, "{} bytes", response.len());
    let peak = server.proc_status_kib("VmHWM");
    eprintln!("peak RSS {peak} KiB, {before} KiB before");
    assert!(peak < before + 32 * 1024, "peak RSS {peak} KiB while streaming 48 MiB of frames (was {before} KiB)");

    // An ordinary list still works, frames in the order asked.
    let (status, response) = get(server.http_port, &format!("{frames}/3,1,2"), &accept);
    assert_eq!(status, 200);
    let parts = multipart_parts(&response);
    assert_eq!(parts.len(), 3);
    assert!(parts.iter().all(|p| p.len() == FRAME));
    let frame1 = multipart_parts(&get(server.http_port, &format!("{frames}/1"), &accept).1);
    let frame3 = multipart_parts(&get(server.http_port, &format!("{frames}/3"), &accept).1);
    assert!(parts[0] == frame3[0] && parts[1] == frame1[0] && frame1[0] != frame3[0], "frames in the order asked");
    assert_eq!(get(server.http_port, &format!("{frames}/129"), &accept).0, 404);

    // A client that stops reading a 64 MiB response is cut, not kept forever.
    let mut s = TcpStream::connect(("127.0.0.1", server.http_port)).unwrap();
    let instance = frames.trim_end_matches("/frames");
    write!(
        s,
        "GET {instance} HTTP/1.0\r\nHost: localhost\r\nAccept: multipart/related; type=\"application/dicom\"; transfer-syntax=*\r\n\r\n"
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(6));
    let (got, closed) = read_until_closed(&mut s, Duration::from_secs(20));
    assert!(closed && got.len() < 64 << 20, "a stalled reader got {} bytes, closed: {closed}", got.len());
}

/// POST a STOW-RS body of `len` bytes from `chunk` repeated, streamed;
/// returns (the server's answer, bytes sent before it stopped reading).
fn stow_stream(port: u16, len: u64, head: &[u8], chunk: &[u8]) -> (Vec<u8>, u64) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "POST /dicom-web/studies HTTP/1.1\r\nHost: localhost\r\nContent-Type: multipart/related; type=\"application/dicom\"; boundary=XyZzY\r\nContent-Length: {len}\r\n\r\n"
    )
    .unwrap();
    let mut reader = s.try_clone().unwrap();
    let answer = std::thread::spawn(move || read_until_closed(&mut reader, Duration::from_secs(60)).0);
    let mut sent = 0u64;
    let _ = s.write_all(head);
    sent += head.len() as u64;
    while sent < len {
        let n = chunk.len().min((len - sent) as usize);
        if s.write_all(&chunk[..n]).is_err() {
            break;
        }
        sent += n as u64;
    }
    (answer.join().unwrap(), sent)
}

#[tokio::test(flavor = "multi_thread")]
async fn stow_bodies_without_a_boundary_or_over_the_limit_are_refused_early() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), Some("[http]\nmax_stow_bytes = 8388608\n"));

    // 200 MB that never contains the boundary.
    server.reset_peak_rss();
    let before = server.proc_status_kib("VmRSS");
    let (answer, sent) = stow_stream(server.http_port, 200 << 20, b"", &[b'A'; 65536]);
    assert_eq!(http_status(&answer), Some(400), "{}", String::from_utf8_lossy(&answer));
    assert!(body_text(&answer).contains("boundary"), "{}", body_text(&answer));
    assert!(sent < 64 << 20, "the server read {sent} bytes before refusing");
    let peak = server.proc_status_kib("VmHWM");
    eprintln!("peak RSS {peak} KiB, {before} KiB before");
    assert!(peak < before + 32 * 1024, "peak RSS {peak} KiB after a 200 MB body without boundary (was {before} KiB)");

    // A real instance over the body limit: 413, not stored.
    let file = multiframe(&tmp.path().join("mf"), 12);
    let bytes = std::fs::read(&file).unwrap();
    let mut body = b"--XyZzY\r\nContent-Type: application/dicom\r\n\r\n".to_vec();
    body.extend_from_slice(&bytes);
    body.extend_from_slice(b"\r\n--XyZzY--\r\n");
    let (answer, _) = stow_stream(server.http_port, body.len() as u64, &body, b"");
    assert_eq!(http_status(&answer), Some(413), "{}", String::from_utf8_lossy(&answer));
    assert!(body_text(&answer).contains("max_stow_bytes"), "{}", body_text(&answer));
    assert_eq!(server.index().await.counts().await.unwrap().instances, 0);
}

const TIMEOUTS: &str = "[http]\nheader_timeout_secs = 2\nbody_idle_timeout_secs = 2\nmax_connections = 16\n";

#[test]
fn silent_and_idle_connections_are_closed() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), Some(TIMEOUTS));
    let port = server.http_port;
    let limit = Duration::from_secs(8);

    // (a) Half a request head, then silence.
    let start = Instant::now();
    let (_, closed) = http_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: loc", limit);
    assert!(closed, "a half-sent head kept its connection for {:?}", start.elapsed());

    // (b) A body announced as 2 GB that stops: the handler's read fails,
    // it answers, the connection closes.
    let start = Instant::now();
    let head = "POST /dicom-web/studies HTTP/1.1\r\nHost: localhost\r\nContent-Type: multipart/related; type=\"application/dicom\"; boundary=XyZzY\r\nContent-Length: 2000000000\r\n\r\n";
    let (answer, closed) = http_exchange(port, head.as_bytes(), limit);
    assert!(closed, "a stalled body kept its connection for {:?}", start.elapsed());
    assert_eq!(http_status(&answer), Some(408), "{}", String::from_utf8_lossy(&answer));
    let start = Instant::now();
    let with_part = format!("{head}--XyZzY\r\nContent-Type: application/dicom\r\n\r\nDICM");
    let (_, closed) = http_exchange(port, with_part.as_bytes(), limit);
    assert!(closed, "a body stalled inside a part kept its connection for {:?}", start.elapsed());
    // Also where the handler never reads the body.
    let start = Instant::now();
    let (answer, closed) =
        http_exchange(port, b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2000000000\r\n\r\nabc", limit);
    assert!(closed, "an unread body kept its connection for {:?}", start.elapsed());
    assert!(http_status(&answer).is_some(), "{}", String::from_utf8_lossy(&answer));

    // (c) Keep-alive: one answer, then the idle connection is closed.
    let start = Instant::now();
    let (answer, closed) = http_exchange(port, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n", limit);
    assert_eq!(http_status(&answer), Some(200), "{}", String::from_utf8_lossy(&answer));
    assert!(closed, "an idle keep-alive connection stayed open for {:?}", start.elapsed());
    assert!(start.elapsed() >= Duration::from_millis(1500), "closed before the keep-alive timeout");
}

#[test]
fn connections_beyond_the_limit_starve_neither_dicom_nor_healthz() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), Some(TIMEOUTS));
    let fds_before = server.open_fds();
    // Many more idle connections than the 16 allowed.
    let mut idle: Vec<TcpStream> = (0..200).map(|_| TcpStream::connect(("127.0.0.1", server.http_port)).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(300));
    assert!(server.open_fds() < fds_before + 16 + 40, "{} descriptors open", server.open_fds());
    // DICOM is untouched.
    let echo = dcmtk("echoscu").args(["-aec", "YUNYING", "127.0.0.1"]).arg(server.dicom_port.to_string()).output().unwrap();
    assert!(echo.status.success(), "C-ECHO failed while HTTP was full: {}", String::from_utf8_lossy(&echo.stderr));
    // /healthz answers once the idle ones time out (2 s).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if http_get(server.http_port, "/healthz").is_some_and(|(s, _)| s == 200) {
            break;
        }
        assert!(Instant::now() < deadline, "/healthz never answered after the idle connections timed out");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Every idle connection is closed by now; those beyond the limit were
    // told why (as many as the few rejecting tasks could answer).
    let mut told = 0;
    for s in &mut idle {
        let (answer, closed) = read_until_closed(s, Duration::from_secs(3));
        assert!(closed, "an idle connection is still open");
        told += usize::from(http_status(&answer) == Some(503));
    }
    assert!(told >= 1, "no connection beyond the limit was answered 503");
}

#[test]
fn other_origins_get_no_cors_and_other_hosts_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), None);
    let port = server.http_port;
    let (status, r) = get(port, "/dicom-web/studies", "Origin: http://evil.example\r\n");
    assert_eq!(status, 200);
    assert_eq!(http_header(&r, "access-control-allow-origin"), None, "{}", String::from_utf8_lossy(&r));
    // DNS rebinding: the page's own name in Host.
    for host in ["evil.example", "evil.example:8042", "localhost.evil.example"] {
        let (response, _) = http_exchange(
            port,
            format!("GET /dicom-web/studies HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
            Duration::from_secs(10),
        );
        assert_eq!(http_status(&response), Some(421), "Host: {host}: {}", String::from_utf8_lossy(&response));
        assert!(body_text(&response).contains("allowed_hosts"), "{}", body_text(&response));
    }
    for host in [format!("localhost:{port}"), format!("127.0.0.1:{port}"), format!("[::1]:{port}"), "LOCALHOST".into()] {
        let (response, _) = http_exchange(
            port,
            format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
            Duration::from_secs(10),
        );
        assert_eq!(http_status(&response), Some(200), "Host: {host}");
    }
    drop(server);

    // Configured origins and host names.
    let config = "[http]\ncors_allowed_origins = [\"http://viewer.example\"]\nallowed_hosts = [\"pacs.example:8042\"]\n";
    let server = Server::start(&tmp.path().join("data2"), Some(config));
    let (_, r) = get(server.http_port, "/dicom-web/studies", "Origin: http://viewer.example\r\n");
    assert_eq!(http_header(&r, "access-control-allow-origin"), Some("http://viewer.example"));
    let (_, r) = get(server.http_port, "/dicom-web/studies", "Origin: http://evil.example\r\n");
    assert_eq!(http_header(&r, "access-control-allow-origin"), None);
    let (response, _) = http_exchange(
        server.http_port,
        b"GET /healthz HTTP/1.1\r\nHost: pacs.example\r\nConnection: close\r\n\r\n",
        Duration::from_secs(10),
    );
    assert_eq!(http_status(&response), Some(200));
    drop(server);

    // "*" without a token is refused at start; with one, any origin may read.
    let config_file = tmp.path().join("star.toml");
    std::fs::write(&config_file, "[http]\ncors_allowed_origins = [\"*\"]\n").unwrap();
    let out = std::process::Command::new(BIN)
        .args(["serve", "--config"])
        .arg(&config_file)
        .arg("--data-dir")
        .arg(tmp.path().join("d3"))
        .output()
        .unwrap();
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("cors_allowed_origins"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = Server::start(&tmp.path().join("data4"), Some("[http]\nbearer_token = \"s3cret\"\n"));
    let (_, r) = get(server.http_port, "/dicom-web/studies", "Origin: http://ohif.example\r\nAuthorization: Bearer s3cret\r\n");
    assert_eq!(http_header(&r, "access-control-allow-origin"), Some("*"));
}

/// A query string of any length used to reach the QIDO parser (thousands
/// of keys, each value under its own limit): the request target is bounded
/// before anything parses it.
#[test]
fn overlong_request_targets_get_414_before_any_parsing() {
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), Some("[http]\nmax_uri_bytes = 4096\n"));
    let port = server.http_port;
    let keys: String = (0..2_000).map(|i| format!("&includefield=0010{:04X}", i % 0x10000)).collect();
    let (status, r) = get(port, &format!("/dicom-web/studies?PatientID=X{keys}"), "");
    assert_eq!(status, 414, "{}", body_text(&r));
    assert!(body_text(&r).contains("max_uri_bytes"), "the answer names the limit: {}", body_text(&r));
    let under: String = (0..100).map(|_| "&PatientID=X").collect();
    assert_eq!(get(port, &format!("/dicom-web/studies?limit=1{under}"), "").0, 200, "a long but allowed query still works");
    assert_eq!(get(port, "/healthz", "").0, 200);
}

/// One client holding connections cannot take them all from the others:
/// past its own limit it gets 503, while another address is served.
#[tokio::test(flavor = "multi_thread")]
async fn one_address_cannot_hold_every_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tmp = tempfile::tempdir().unwrap();
    let server = Server::start(&tmp.path().join("data"), Some("[http]\nmax_connections_per_address = 4\n"));
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", server.http_port).parse().unwrap();
    let from = |source: &'static str| async move {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
        socket.connect(addr).await.unwrap()
    };
    let healthz = |mut s: tokio::net::TcpStream| async move {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
        http_status(&out)
    };
    // Four connections the server has admitted and counted: each answers
    // a keep-alive request and stays open. (Connected alone, one could be
    // refused while the harness's own readiness probe from this address is
    // still counted, and the address would then hold only three: a fifth
    // would be served. CI under load did that.)
    let admitted = |mut s: tokio::net::TcpStream| async move {
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n").await.unwrap();
        let mut out = Vec::new();
        let mut buf = [0u8; 1024];
        let read = tokio::time::timeout(Duration::from_secs(10), async {
            while !out.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                }
            }
        });
        let _ = read.await;
        (http_status(&out) == Some(200)).then_some(s)
    };
    let mut held = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while held.len() < 4 {
        assert!(std::time::Instant::now() < deadline, "four connections from one address were never admitted");
        match admitted(from("127.0.0.1").await).await {
            Some(s) => held.push(s),
            None => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    // Ask from 127.0.0.1 until the answer is `want`, for at most 10 s: the
    // kernel completes a connect before the server accepts (and counts) it,
    // and a closed one is given back when the server sees it close.
    let until = async |want: u16, what: &str| {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            match healthz(from("127.0.0.1").await).await {
                Some(status) if status == want => return,
                other => assert!(std::time::Instant::now() < deadline, "{what}: {other:?}"),
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    until(503, "a fifth connection from the same address").await;
    assert_eq!(healthz(from("127.0.0.2").await).await, Some(200), "another address is served");
    drop(held.pop());
    until(200, "the address's slot was not given back").await;
}
