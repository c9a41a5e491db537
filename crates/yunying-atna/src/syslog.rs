//! RFC 5424 syslog messages as IHE ITI TF-2 §3.20.6 (ITI-20 Record Audit
//! Event) wants them, and the RFC 5425/6587 octet-counting frame:
//!
//! `<85>1 2026-12-05T19:43:12.123Z host yunying 4242 IHE+RFC-3881 - BOM<AuditMessage…>`
//!
//! PRI 85 = facility 10 (security/authorization) × 8 + severity 5
//! (notice); no structured data; the MSG is the XML, UTF-8 with a BOM as
//! RFC 5424 §6.4 asks of a UTF-8 MSG.

use std::time::SystemTime;

use crate::time::rfc3339_utc;

/// The PRI value: facility 10 (authpriv), severity 5 (notice).
pub const PRI: u8 = 10 * 8 + 5;
/// MSGID of an ATNA audit message.
pub const MSGID: &str = "IHE+RFC-3881";
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The header fields that do not change from message to message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// HOSTNAME (printable US-ASCII, at most 255).
    pub hostname: String,
    /// APP-NAME (printable US-ASCII, at most 48).
    pub app_name: String,
    /// PROCID (printable US-ASCII, at most 128).
    pub proc_id: String,
}

impl Header {
    /// Fields cleaned to what RFC 5424 allows: characters outside
    /// printable US-ASCII become `_`, lengths are cut to the maxima, an
    /// empty field becomes the NILVALUE `-`.
    pub fn new(hostname: &str, app_name: &str, proc_id: &str) -> Header {
        Header { hostname: field(hostname, 255), app_name: field(app_name, 48), proc_id: field(proc_id, 128) }
    }

    /// The machine's host name (from the kernel), else `-`.
    pub fn local_hostname() -> String {
        std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default()
    }
}

fn field(value: &str, max: usize) -> String {
    let cleaned: String = value.chars().take(max).map(|c| if c.is_ascii_graphic() { c } else { '_' }).collect();
    if cleaned.is_empty() { "-".to_string() } else { cleaned }
}

/// One syslog message (without framing) carrying `xml`.
pub fn message(header: &Header, time: SystemTime, xml: &str) -> Vec<u8> {
    let head = format!("<{PRI}>1 {} {} {} {} {MSGID} - ", rfc3339_utc(time), header.hostname, header.app_name, header.proc_id);
    let mut out = Vec::with_capacity(head.len() + BOM.len() + xml.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(BOM);
    out.extend_from_slice(xml.as_bytes());
    out
}

/// RFC 5425 §4.3 (and RFC 6587 octet counting): `MSG-LEN SP SYSLOG-MSG`.
pub fn frame(message: &[u8]) -> Vec<u8> {
    let mut out = format!("{} ", message.len()).into_bytes();
    out.extend_from_slice(message);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn header_follows_rfc5424_and_iti_20() {
        let h = Header::new("pacs.example", "yunying", "42");
        let m = message(&h, UNIX_EPOCH + Duration::from_millis(1_000), "<AuditMessage/>");
        let expected = b"<85>1 1970-01-01T00:00:01.000Z pacs.example yunying 42 IHE+RFC-3881 - \xEF\xBB\xBF<AuditMessage/>";
        assert_eq!(m, expected.to_vec());
    }

    #[test]
    fn frame_counts_octets_not_characters() {
        let f = frame("王".as_bytes());
        assert_eq!(f, b"3 \xE7\x8E\x8B".to_vec());
    }

    #[test]
    fn fields_are_printable_ascii_and_bounded() {
        let h = Header::new("云影 host", "", &"x".repeat(200));
        assert_eq!(h.hostname, "___host");
        assert_eq!(h.app_name, "-");
        assert_eq!(h.proc_id.len(), 128);
    }
}
