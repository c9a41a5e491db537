//! Typed errors. Their texts go back to the sender in an ACK's ERR
//! segment, so they name segments, fields and limits, never a value taken
//! from the message (only the message type, event and version codes and
//! the charset name, which are not patient data, cut to 20 characters).

use thiserror::Error;

/// A message that cannot be read as HL7 v2.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    /// The message is larger than [`crate::Limits::max_message_bytes`].
    #[error("message of {size} bytes exceeds the limit of {limit}")]
    TooLarge {
        /// The message's size in bytes.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// More segments than [`crate::Limits::max_segments`].
    #[error("more than {limit} segments")]
    TooManySegments {
        /// The configured limit.
        limit: usize,
    },
    /// A segment with more fields than [`crate::Limits::max_fields`].
    #[error("segment {segment} has more than {limit} fields")]
    TooManyFields {
        /// The segment's ID.
        segment: String,
        /// The configured limit.
        limit: usize,
    },
    /// A field with more repetitions than [`crate::Limits::max_repetitions`].
    #[error("field {segment}-{field} has more than {limit} repetitions")]
    TooManyRepetitions {
        /// The segment's ID.
        segment: String,
        /// The field's position (HL7 numbering).
        field: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The message is empty or does not start with an MSH segment.
    #[error("the message does not start with an MSH segment")]
    NoHeader,
    /// MSH-1/MSH-2 do not give usable delimiters.
    #[error("MSH-1/MSH-2 do not hold distinct delimiter characters")]
    BadEncodingCharacters,
    /// A segment ID that is not three upper-case letters or digits.
    #[error("segment {position} has no valid segment ID")]
    BadSegmentId {
        /// 1-based position of the segment in the message.
        position: usize,
    },
    /// MSH-18 names a character set this crate does not read.
    #[error("character set {0:?} (MSH-18) is not supported")]
    UnsupportedCharset(String),
    /// The bytes are not valid in the declared (or default) character set.
    #[error("the message is not valid {charset}")]
    Undecodable {
        /// The charset's MSH-18 name.
        charset: &'static str,
    },
}

/// A message that is HL7 v2 but not an ADT event this crate extracts.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AdtError {
    /// The message could not be parsed.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// MSH-9.1 is not `ADT`.
    #[error("message type {0:?} is not supported")]
    UnsupportedMessageType(String),
    /// An ADT trigger event this crate does not extract.
    #[error("event {0:?} is not supported")]
    UnsupportedEvent(String),
    /// MSH-12 is not an HL7 v2.x version.
    #[error("version {0:?} is not supported")]
    UnsupportedVersion(String),
    /// A segment the event's structure requires is absent.
    #[error("required segment {0} is missing")]
    MissingSegment(&'static str),
    /// A required field is empty.
    #[error("required field {0} is empty")]
    MissingField(&'static str),
    /// A field's value does not fit its data type.
    #[error("field {0} is not valid for its data type")]
    InvalidField(&'static str),
}
