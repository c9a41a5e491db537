//! Raw HTTP on loopback for the tests: one GET, an exchange of raw bytes
//! with a time limit, and the status of a raw response. (Re-exported by
//! the harness.)

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

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

/// Send raw bytes to the HTTP port and read until the server closes or
/// `limit` passes: (everything read, whether the server closed).
pub fn http_exchange(port: u16, request: &[u8], limit: Duration) -> (Vec<u8>, bool) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.write_all(request).unwrap();
    read_until_closed(&mut s, limit)
}

/// Read from `s` until EOF (or a reset) or until `limit` passes: (bytes,
/// whether the peer closed).
pub fn read_until_closed(s: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return (out, false);
        }
        s.set_read_timeout(Some(left.min(Duration::from_millis(200)))).unwrap();
        match s.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => return (out, true),
        }
    }
}

/// The status code of a raw HTTP response.
pub fn http_status(response: &[u8]) -> Option<u16> {
    std::str::from_utf8(response.get(..12)?).ok()?.split_whitespace().nth(1)?.parse().ok()
}

/// STOW-RS of one Part 10 file, with extra request headers (credentials):
/// (HTTP status, body).
pub fn stow_file(port: u16, file: &Path, headers: &[(&str, &str)]) -> (u16, String) {
    let mut body = b"--XYZZY\r\nContent-Type: application/dicom\r\n\r\n".to_vec();
    body.extend(std::fs::read(file).unwrap());
    body.extend(b"\r\n--XYZZY--\r\n");
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head = format!(
        "POST /dicom-web/studies HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Type: multipart/related; type=\"application/dicom\"; boundary=XYZZY\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body).unwrap();
    let mut all = String::new();
    s.read_to_string(&mut all).unwrap();
    let status = all.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, all.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default())
}

/// A header of a raw HTTP response.
pub fn http_header<'a>(response: &'a [u8], name: &str) -> Option<&'a str> {
    let head = std::str::from_utf8(&response[..find_bytes(response, b"\r\n\r\n")?]).ok()?;
    head.lines().find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim()))
}

/// The payloads of a multipart/related response.
pub fn multipart_parts(response: &[u8]) -> Vec<Vec<u8>> {
    let ct = http_header(response, "content-type").unwrap();
    let delimiter = format!("\r\n--{}", ct.split("boundary=").nth(1).unwrap().trim_matches('"'));
    let mut body = &response[find_bytes(response, b"\r\n\r\n").unwrap() + 4..];
    let mut out = Vec::new();
    while let Some(at) = find_bytes(body, delimiter.as_bytes()) {
        if at > 0 || !out.is_empty() {
            let part = &body[..at];
            out.push(part[find_bytes(part, b"\r\n\r\n").unwrap() + 4..].to_vec());
        }
        body = &body[at + delimiter.len()..];
    }
    out
}

/// Where `needle` first occurs in `hay`.
pub fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
