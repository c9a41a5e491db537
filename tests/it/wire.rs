//! Raw HTTP on loopback for the tests: one GET, an exchange of raw bytes
//! with a time limit, and the status of a raw response. (Re-exported by
//! the harness.)

use std::io::{Read, Write};
use std::net::TcpStream;
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
