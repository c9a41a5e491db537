//! The character set a message declares in MSH-18 (HL7 table 0211), and
//! decoding/encoding with it. Text is decoded once, whole, before it is
//! split: GB 18030 trail bytes include `|`, `^`, `~` and `\`, so splitting
//! the bytes first would cut a Hanzi in two.

use std::borrow::Cow;

use encoding_rs::{GB18030, WINDOWS_1252};

use crate::error::ParseError;

/// A character set an HL7 v2 message may be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Charset {
    /// `UNICODE UTF-8`; also `ASCII` (a subset), and the default when MSH-18 is empty.
    #[default]
    Utf8,
    /// `GB 18030-2000` (also spelt `GB18030`, and `GBK`, which it extends).
    Gb18030,
    /// `8859/1`, decoded as windows-1252 (its superset, as browsers do).
    Latin1,
}

impl Charset {
    /// The charset named by an MSH-18 value; `None` for one this crate does
    /// not read (ISO 2022 sets, UTF-16, Big5, …). Empty is not a name: the
    /// caller applies its default.
    pub fn from_msh18(value: &str) -> Option<Charset> {
        let name: String = value.trim().chars().filter(|c| !matches!(c, ' ' | '-' | '_')).collect::<String>().to_ascii_uppercase();
        match name.as_str() {
            "ASCII" | "UNICODEUTF8" | "UTF8" | "UNICODE" => Some(Charset::Utf8),
            "GB180302000" | "GB18030" | "GB180302005" | "GBK" => Some(Charset::Gb18030),
            "8859/1" | "ISO88591" | "ISOIR100" => Some(Charset::Latin1),
            _ => None,
        }
    }

    /// The MSH-18 value this crate writes for the charset.
    pub fn msh18(self) -> &'static str {
        match self {
            Charset::Utf8 => "UNICODE UTF-8",
            Charset::Gb18030 => "GB 18030-2000",
            Charset::Latin1 => "8859/1",
        }
    }

    /// Decode a whole message (or a `\X..\` escape's bytes); malformed
    /// bytes are an error, never replaced silently.
    pub(crate) fn decode(self, bytes: &[u8]) -> Result<Cow<'_, str>, ParseError> {
        let decoded = match self {
            Charset::Utf8 => std::str::from_utf8(bytes).ok().map(Cow::Borrowed),
            Charset::Gb18030 => GB18030.decode_without_bom_handling_and_without_replacement(bytes),
            Charset::Latin1 => WINDOWS_1252.decode_without_bom_handling_and_without_replacement(bytes),
        };
        decoded.ok_or(ParseError::Undecodable { charset: self.msh18() })
    }

    /// Encode text for the wire (an ACK); a character the set cannot hold
    /// becomes an HTML-style character reference (encoding_rs's
    /// replacement), which never happens for UTF-8 and GB 18030.
    pub fn encode(self, text: &str) -> Vec<u8> {
        match self {
            Charset::Utf8 => text.as_bytes().to_vec(),
            Charset::Gb18030 => GB18030.encode(text).0.into_owned(),
            Charset::Latin1 => WINDOWS_1252.encode(text).0.into_owned(),
        }
    }
}

/// Read the MSH segment's text before the charset is known: valid UTF-8 as
/// it is, else as GB 18030 (which keeps every ASCII byte of a GB 18030
/// text in place). Only MSH-18, which is ASCII, is taken from this.
pub(crate) fn sniff_header(msh_line: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(msh_line) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => GB18030.decode_without_bom_handling(msh_line).0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msh18_names_are_read_loosely_and_unknown_ones_refused() {
        assert_eq!(Charset::from_msh18("UNICODE UTF-8"), Some(Charset::Utf8));
        assert_eq!(Charset::from_msh18("GB 18030-2000"), Some(Charset::Gb18030));
        assert_eq!(Charset::from_msh18("gb18030"), Some(Charset::Gb18030));
        assert_eq!(Charset::from_msh18("8859/1"), Some(Charset::Latin1));
        assert_eq!(Charset::from_msh18("ISO IR87"), None);
        assert_eq!(Charset::from_msh18("UNICODE UTF-16"), None);
    }

    #[test]
    fn gb18030_round_trips_and_malformed_bytes_are_an_error() {
        let bytes = Charset::Gb18030.encode("王伟|张");
        assert_eq!(Charset::Gb18030.decode(&bytes).unwrap(), "王伟|张");
        assert!(Charset::Utf8.decode(&bytes).is_err());
        assert!(Charset::Gb18030.decode(&[0x81]).is_err());
    }
}
