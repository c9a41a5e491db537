//! Original-mode acknowledgements: `MSH`, `MSA` (AA, AE or AR with the
//! request's control ID) and, for an error, `ERR` (HL7 table 0357 code and
//! a text). The ACK goes back with the request's delimiters, version,
//! processing ID and character set, its sender and receiver swapped.
//!
//! Texts sent back come from [`AckDecision`]; those this crate makes name
//! segments, fields and limits only, never a patient's data.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::adt::{Designator, Header};
use crate::error::{AdtError, ParseError};
use crate::escape::escape;
use crate::parse::Delimiters;

/// MSA-1, the acknowledgement code (HL7 table 0008). This crate's server
/// answers with the original-mode codes (AA, AE, AR); a peer answering
/// a message sent by [`crate::client::send`] may also use the enhanced
/// mode's commit codes (CA, CE, CR).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    /// `AA`: accepted and processed.
    Accept,
    /// `AE`: an error in the message's content.
    Error,
    /// `AR`: rejected for reasons other than content (unsupported type,
    /// event, version; a limit of the receiver).
    Reject,
    /// `CA`: commit accept (enhanced mode): the receiver has it in safe storage.
    CommitAccept,
    /// `CE`: commit error (enhanced mode).
    CommitError,
    /// `CR`: commit reject (enhanced mode).
    CommitReject,
}

impl AckCode {
    /// The code as written in MSA-1.
    pub fn as_str(self) -> &'static str {
        match self {
            AckCode::Accept => "AA",
            AckCode::Error => "AE",
            AckCode::Reject => "AR",
            AckCode::CommitAccept => "CA",
            AckCode::CommitError => "CE",
            AckCode::CommitReject => "CR",
        }
    }

    /// The code of an MSA-1 value (surrounding spaces ignored); `None` for
    /// anything not in table 0008.
    pub fn from_code(code: &str) -> Option<AckCode> {
        Some(match code.trim() {
            "AA" => AckCode::Accept,
            "AE" => AckCode::Error,
            "AR" => AckCode::Reject,
            "CA" => AckCode::CommitAccept,
            "CE" => AckCode::CommitError,
            "CR" => AckCode::CommitReject,
            _ => return None,
        })
    }

    /// Whether the receiver took the message: `AA` or `CA`.
    pub fn is_accept(self) -> bool {
        matches!(self, AckCode::Accept | AckCode::CommitAccept)
    }
}

/// An HL7 table 0357 message error condition code (ERR-3 / ERR-1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorCode(pub u16);

impl ErrorCode {
    /// 100 Segment sequence error.
    pub const SEGMENT_SEQUENCE: ErrorCode = ErrorCode(100);
    /// 101 Required field missing.
    pub const REQUIRED_FIELD_MISSING: ErrorCode = ErrorCode(101);
    /// 102 Data type error.
    pub const DATA_TYPE: ErrorCode = ErrorCode(102);
    /// 103 Table value not found.
    pub const TABLE_VALUE_NOT_FOUND: ErrorCode = ErrorCode(103);
    /// 200 Unsupported message type.
    pub const UNSUPPORTED_MESSAGE_TYPE: ErrorCode = ErrorCode(200);
    /// 201 Unsupported event code.
    pub const UNSUPPORTED_EVENT: ErrorCode = ErrorCode(201);
    /// 202 Unsupported processing ID.
    pub const UNSUPPORTED_PROCESSING_ID: ErrorCode = ErrorCode(202);
    /// 203 Unsupported version ID.
    pub const UNSUPPORTED_VERSION: ErrorCode = ErrorCode(203);
    /// 204 Unknown key identifier (e.g. merging a patient never registered).
    pub const UNKNOWN_KEY: ErrorCode = ErrorCode(204);
    /// 205 Duplicate key identifier.
    pub const DUPLICATE_KEY: ErrorCode = ErrorCode(205);
    /// 206 Application record locked.
    pub const RECORD_LOCKED: ErrorCode = ErrorCode(206);
    /// 207 Application internal error.
    pub const INTERNAL: ErrorCode = ErrorCode(207);

    /// The table's text for the code.
    pub fn description(self) -> &'static str {
        match self.0 {
            100 => "Segment sequence error",
            101 => "Required field missing",
            102 => "Data type error",
            103 => "Table value not found",
            200 => "Unsupported message type",
            201 => "Unsupported event code",
            202 => "Unsupported processing id",
            203 => "Unsupported version id",
            204 => "Unknown key identifier",
            205 => "Duplicate key identifier",
            206 => "Application record locked",
            _ => "Application internal error",
        }
    }
}

/// What to answer a message with; the [`crate::Handler`]'s decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckDecision {
    /// AA.
    Accept,
    /// AE, with an error code and a text for the sender. The text goes on
    /// the wire and into the sender's logs: no patient data in it.
    Error {
        /// ERR code.
        code: ErrorCode,
        /// ERR/MSA-3 text.
        text: String,
    },
    /// AR, with an error code and a text (the same rule for the text).
    Reject {
        /// ERR code.
        code: ErrorCode,
        /// ERR/MSA-3 text.
        text: String,
    },
}

impl AckDecision {
    /// The usual answer to a message that is not a supported ADT event:
    /// AR for an unsupported type, event, version or character set and for
    /// a message past this receiver's limits; AE for an error in content.
    pub fn from_error(error: &AdtError) -> AckDecision {
        let text = error.to_string();
        let (reject, code) = match error {
            AdtError::UnsupportedMessageType(_) => (true, ErrorCode::UNSUPPORTED_MESSAGE_TYPE),
            AdtError::UnsupportedEvent(_) => (true, ErrorCode::UNSUPPORTED_EVENT),
            AdtError::UnsupportedVersion(_) => (true, ErrorCode::UNSUPPORTED_VERSION),
            AdtError::Parse(ParseError::UnsupportedCharset(_)) => (true, ErrorCode::TABLE_VALUE_NOT_FOUND),
            AdtError::Parse(
                ParseError::TooLarge { .. }
                | ParseError::TooManySegments { .. }
                | ParseError::TooManyFields { .. }
                | ParseError::TooManyRepetitions { .. },
            ) => (true, ErrorCode::INTERNAL),
            AdtError::Parse(ParseError::NoHeader | ParseError::BadSegmentId { .. }) | AdtError::MissingSegment(_) => {
                (false, ErrorCode::SEGMENT_SEQUENCE)
            }
            AdtError::Parse(ParseError::BadEncodingCharacters | ParseError::Undecodable { .. }) | AdtError::InvalidField(_) => {
                (false, ErrorCode::DATA_TYPE)
            }
            AdtError::MissingField(_) => (false, ErrorCode::REQUIRED_FIELD_MISSING),
        };
        if reject { AckDecision::Reject { code, text } } else { AckDecision::Error { code, text } }
    }

    /// MSA-1.
    pub fn code(&self) -> AckCode {
        match self {
            AckDecision::Accept => AckCode::Accept,
            AckDecision::Error { .. } => AckCode::Error,
            AckDecision::Reject { .. } => AckCode::Reject,
        }
    }
}

/// Who this receiver is, written as the ACK's sender when the request's
/// MSH-5/MSH-6 are empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalNames {
    /// Our application (default `YUNYING`).
    pub application: String,
    /// Our facility (default empty).
    pub facility: String,
}

impl Default for LocalNames {
    fn default() -> Self {
        LocalNames { application: "YUNYING".to_string(), facility: String::new() }
    }
}

/// Write the ACK to `request` (as text; the caller encodes it in the
/// request's charset). `header` may be a default one when the request's
/// MSH could not be read. Segments end with CR.
pub fn build(header: &Header, d: &Delimiters, decision: &AckDecision, local: &LocalNames, now: SystemTime) -> String {
    let f = d.field;
    let hd = |h: &Designator, fallback: &str| {
        if h.is_empty() {
            return escape(fallback, d);
        }
        let parts = [&h.namespace_id, &h.universal_id, &h.universal_id_type].map(|s| escape(s, d));
        parts.join(&d.component.to_string()).trim_end_matches(d.component).to_string()
    };
    let version = if header.version.is_empty() { "2.5" } else { header.version.as_str() };
    let (major, minor) = version_number(version);
    let c = d.component;
    let message_type = match escape(&header.trigger_code, d) {
        trigger if trigger.is_empty() => "ACK".to_string(),
        trigger if (major, minor) >= (2, 4) => format!("ACK{c}{trigger}{c}ACK"),
        trigger => format!("ACK{c}{trigger}"),
    };
    let processing_id = if header.processing_id.is_empty() { "P".to_string() } else { escape(&header.processing_id, d) };
    let mut msh = vec![
        "MSH".to_string(),
        d.msh2(),
        hd(&header.receiving_application, &local.application),
        hd(&header.receiving_facility, &local.facility),
        hd(&header.sending_application, ""),
        hd(&header.sending_facility, ""),
        timestamp(now),
        String::new(),
        message_type,
        next_control_id(now),
        processing_id,
        escape(version, d),
    ];
    if !header.charset.is_empty() {
        msh.resize(17, String::new());
        msh.push(escape(&header.charset, d));
    }
    let mut out = msh.join(&f.to_string());
    out.push('\r');
    let control_id = escape(&header.control_id, d);
    match decision {
        AckDecision::Accept => out.push_str(&format!("MSA{f}AA{f}{control_id}\r")),
        AckDecision::Error { code, text } | AckDecision::Reject { code, text } => {
            let ack = decision.code().as_str();
            let text = escape(text, d);
            out.push_str(&format!("MSA{f}{ack}{f}{control_id}{f}{text}\r"));
            let description = code.description();
            let number = code.0;
            if (major, minor) >= (2, 5) {
                out.push_str(&format!("ERR{f}{f}{f}{number}{c}{description}{c}HL70357{f}E{f}{f}{f}{f}{text}\r"));
            } else {
                let s = d.subcomponent.unwrap_or(c);
                out.push_str(&format!("ERR{f}{c}{c}{c}{number}{s}{description}{s}HL70357\r"));
            }
        }
    }
    out
}

/// `2.3.1` → (2, 3); anything unreadable counts as 2.5.
fn version_number(version: &str) -> (u32, u32) {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor),
        _ => (2, 5),
    }
}

/// A control ID for an ACK: `Y`, the time in milliseconds and a counter,
/// unique within the process and at most 20 characters (MSH-10 in 2.5).
fn next_control_id(now: SystemTime) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let millis = now.duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or(0);
    format!("Y{millis}{:04}", COUNTER.fetch_add(1, Ordering::Relaxed) % 10_000)
}

/// An HL7 DTM in UTC: `YYYYMMDDHHMMSS+0000`.
pub fn timestamp(now: SystemTime) -> String {
    let secs = now.duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rest) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}{month:02}{day:02}{:02}{:02}{:02}+0000", rest / 3600, rest % 3600 / 60, rest % 60)
}

#[cfg(test)]
#[path = "ack_tests.rs"]
mod tests;
