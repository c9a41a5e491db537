//! Decoding of DICOM text element values to UTF-8 according to Specific
//! Character Set (0008,0005), tuned for what Chinese hospitals actually send.
//!
//! ```
//! use yunying_charset::SpecificCharacterSet;
//!
//! let cs = SpecificCharacterSet::parse(b"\\ISO 2022 IR 58");
//! let name = cs.decode(b"Zhang^San=\x1b$)A\xd5\xc5^\xc8\xfd= ", None);
//! assert_eq!(name, "Zhang^San=张^三=");
//! ```
//!
//! Covered: the default repertoire, ISO_IR 192 (UTF-8), GB18030, GBK, the
//! single-byte sets ISO_IR 100/101/109/110/144/127/126/138/148/203/166/13
//! and their `ISO 2022 IR n` forms, and the ISO 2022 multi-byte sets
//! ISO 2022 IR 87/159 (Japanese), 149 (Korean) and 58 (GB2312).
//! Decoding never fails and never panics; unmappable bytes become U+FFFD.

mod iso2022;
mod single_byte;
mod term;

use encoding_rs::Encoding;

use term::Term;

/// Parsed value of Specific Character Set (0008,0005), e.g. from raw bytes
/// `b"ISO_IR 100"`, `b"\\ISO 2022 IR 58"`, `b"GB18030"`, `b"ISO_IR 192"`.
///
/// Values are separated by backslash; leading/trailing spaces (and NUL
/// padding) are trimmed; an empty first value means the default repertoire
/// (ISO-IR 6 / ASCII). Parsing never fails: unknown terms are kept and
/// reported by [`is_fully_known`](Self::is_fully_known).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecificCharacterSet {
    /// The trimmed values as written in the dataset.
    values: Vec<String>,
    /// `values` recognised one by one (`None` = unknown term).
    terms: Vec<Option<Term>>,
}

/// How delimiters inside a value reset ISO 2022 designations (PS3.5 6.1.2.5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TextKind {
    /// Any text VR other than PN: resets at `\`, CR, LF, FF, TAB and other controls.
    #[default]
    Text,
    /// Person Name (PN): additionally resets at `^` and `=`.
    PersonName,
}

impl SpecificCharacterSet {
    /// Parses the raw bytes of (0008,0005). Never fails.
    pub fn parse(raw: &[u8]) -> SpecificCharacterSet {
        let text = String::from_utf8_lossy(raw);
        let text = text.trim_matches(|c| c == ' ' || c == '\0');
        if text.is_empty() {
            return SpecificCharacterSet::default_repertoire();
        }
        let values: Vec<String> = text.split('\\').map(|value| value.trim_matches(|c| c == ' ' || c == '\0').to_owned()).collect();
        let terms = values.iter().map(|value| Term::parse(value)).collect();
        SpecificCharacterSet { values, terms }
    }

    /// The default repertoire (ASCII), i.e. a dataset without (0008,0005).
    pub fn default_repertoire() -> SpecificCharacterSet {
        SpecificCharacterSet { values: Vec::new(), terms: Vec::new() }
    }

    /// The trimmed values; empty for the default repertoire.
    pub fn values(&self) -> &[String] {
        &self.values
    }

    /// Whether (0008,0005) was absent or empty.
    pub fn is_default_repertoire(&self) -> bool {
        self.values.is_empty()
    }

    /// Whether every value is a recognised term (defined term or common alias
    /// such as `GB2312`, `ISO_IR 58`, `UTF-8`).
    pub fn is_fully_known(&self) -> bool {
        self.terms.iter().all(Option::is_some)
    }

    /// Decodes one text element value (all of its values, still joined by
    /// backslashes) to UTF-8, with [`TextKind::Text`] rules, and trims trailing
    /// spaces and NULs of the whole string.
    ///
    /// `fallback` is used when the dataset declares NO character set but the
    /// bytes are not ASCII (e.g. a hospital whose modalities send GBK bytes
    /// without 0008,0005): pass `Some(encoding_rs::GBK)` or similar from a
    /// per-institution setting. See [`decode_undeclared`] for the heuristic
    /// applied when it is `None`, which also covers an unknown declared term
    /// and text declared as ISO_IR 192 that is not valid UTF-8.
    pub fn decode(&self, bytes: &[u8], fallback: Option<&'static Encoding>) -> String {
        self.decode_as(bytes, TextKind::Text, fallback)
    }

    /// Like [`decode`](Self::decode) with explicit delimiter rules; use
    /// [`TextKind::PersonName`] for PN values.
    pub fn decode_as(&self, bytes: &[u8], kind: TextKind, fallback: Option<&'static Encoding>) -> String {
        let mut text = self.decode_untrimmed(bytes, kind, fallback);
        text.truncate(trim_padding(&text).len());
        text
    }

    /// Decodes then splits into values on the backslash *character* (after
    /// decoding, so a 0x5C byte that is the second byte of a GBK/GB18030
    /// character never splits a value), trimming trailing spaces/NULs of each
    /// value. Leading spaces are kept (trimming them depends on the VR).
    /// An element that is empty after trimming (no values) yields an empty `Vec`.
    pub fn decode_multi(&self, bytes: &[u8], fallback: Option<&'static Encoding>) -> Vec<String> {
        self.decode_multi_as(bytes, TextKind::Text, fallback)
    }

    /// Like [`decode_multi`](Self::decode_multi) with explicit delimiter rules.
    pub fn decode_multi_as(&self, bytes: &[u8], kind: TextKind, fallback: Option<&'static Encoding>) -> Vec<String> {
        let text = self.decode_untrimmed(bytes, kind, fallback);
        let text = trim_padding(&text);
        if text.is_empty() {
            return Vec::new();
        }
        text.split('\\').map(|value| trim_padding(value).to_owned()).collect()
    }

    /// Dispatches on value 1: a whole-value encoding, or the ISO 2022 machinery
    /// (which also handles the default repertoire and unknown terms).
    fn decode_untrimmed(&self, bytes: &[u8], kind: TextKind, fallback: Option<&'static Encoding>) -> String {
        match self.terms.first() {
            Some(Some(Term::Whole(encoding))) => decode_whole(encoding, bytes, fallback),
            _ => iso2022::Decoder::new(&self.terms, kind, fallback).decode(bytes),
        }
    }
}

impl Default for SpecificCharacterSet {
    fn default() -> Self {
        SpecificCharacterSet::default_repertoire()
    }
}

/// The `encoding_rs` encoding for a configured character set name such as
/// `"GBK"`, `"GB18030"`, `"ISO_IR 192"`, `"ISO 2022 IR 58"` (→ GBK) or any
/// WHATWG label (`"gb2312"`, `"big5"`, `"shift_jis"`, ...), for use as the
/// per-institution `fallback` of [`SpecificCharacterSet::decode`].
///
/// Single-byte DICOM terms map to the encoding that matches them for the
/// printable range (ISO_IR 100 → windows-1252, ISO_IR 148 → windows-1254,
/// ISO_IR 166 → windows-874, ISO_IR 13 → Shift_JIS); the C1 range
/// 0x80–0x9F then follows the Windows code page. Returns `None` for unknown
/// names and for sets without an 8-bit equivalent (ISO_IR 6, IR 87, IR 159).
pub fn encoding_for_term(term: &str) -> Option<&'static Encoding> {
    let term = term.trim();
    match Term::parse(term) {
        Some(known) => known.encoding(),
        None => Encoding::for_label_no_replacement(term.as_bytes()),
    }
}

/// Heuristic for text whose character set is not declared (or is unknown):
///
/// 1. ASCII bytes are returned as they are;
/// 2. otherwise, if `fallback` is given (a per-institution setting), it decodes the bytes;
/// 3. otherwise, bytes that are valid UTF-8 are taken as UTF-8;
/// 4. otherwise the bytes are decoded as GB18030 (a superset of GBK and
///    GB2312), the most common undeclared encoding in Chinese hospitals.
pub fn decode_undeclared(bytes: &[u8], fallback: Option<&'static Encoding>) -> String {
    if let Ok(text) = std::str::from_utf8(bytes)
        && (bytes.is_ascii() || fallback.is_none())
    {
        return text.to_owned();
    }
    let encoding = fallback.unwrap_or(encoding_rs::GB18030);
    encoding.decode_without_bom_handling(bytes).0.into_owned()
}

/// Decodes with a whole-value encoding. Declared UTF-8 that is not valid
/// UTF-8 (often GBK sent under ISO_IR 192) goes to the undeclared heuristic.
fn decode_whole(encoding: &'static Encoding, bytes: &[u8], fallback: Option<&'static Encoding>) -> String {
    if encoding == encoding_rs::UTF_8 {
        return match std::str::from_utf8(bytes) {
            Ok(text) => text.to_owned(),
            Err(_) => decode_undeclared(bytes, fallback),
        };
    }
    encoding.decode_without_bom_handling(bytes).0.into_owned()
}

/// `text` without trailing DICOM padding (spaces and NULs).
fn trim_padding(text: &str) -> &str {
    text.trim_end_matches([' ', '\0'])
}

#[cfg(test)]
mod tests;
