//! HL7 v2.x message structure: segments, fields, repetitions, components
//! and subcomponents, with the delimiters the message declares in MSH-1
//! and MSH-2 (never assumed). The message is checked against [`Limits`]
//! and decoded from its MSH-18 character set once; values are split and
//! unescaped only when asked for.
//!
//! Numbering follows HL7: fields, components and subcomponents from 1;
//! MSH-1 is the field separator itself and MSH-2 the encoding characters.

use crate::charset::{Charset, sniff_header};
use crate::error::ParseError;
use crate::escape::unescape;

/// The delimiters of a message (MSH-1 and MSH-2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delimiters {
    /// Field separator (MSH-1), usually `|`.
    pub field: char,
    /// Component separator, usually `^`.
    pub component: char,
    /// Repetition separator, usually `~`.
    pub repetition: Option<char>,
    /// Escape character, usually `\`.
    pub escape: Option<char>,
    /// Subcomponent separator, usually `&`.
    pub subcomponent: Option<char>,
    /// Truncation character (v2.7), usually `#`.
    pub truncation: Option<char>,
}

impl Delimiters {
    /// `|^~\&`, the delimiters nearly every sender uses.
    pub const STANDARD: Delimiters =
        Delimiters { field: '|', component: '^', repetition: Some('~'), escape: Some('\\'), subcomponent: Some('&'), truncation: None };

    /// The delimiters of MSH-1 and MSH-2; each must be distinct ASCII
    /// punctuation (no letter, digit, space or control character).
    pub fn from_msh(field: char, msh2: &str) -> Result<Delimiters, ParseError> {
        let chars: Vec<char> = msh2.chars().collect();
        if chars.is_empty() || chars.len() > 5 {
            return Err(ParseError::BadEncodingCharacters);
        }
        let mut seen = vec![field];
        for &c in &chars {
            if !c.is_ascii_punctuation() || seen.contains(&c) {
                return Err(ParseError::BadEncodingCharacters);
            }
            seen.push(c);
        }
        if !field.is_ascii_punctuation() {
            return Err(ParseError::BadEncodingCharacters);
        }
        let at = |i: usize| chars.get(i).copied();
        Ok(Delimiters { field, component: chars[0], repetition: at(1), escape: at(2), subcomponent: at(3), truncation: at(4) })
    }

    /// MSH-2 as it is written for these delimiters.
    pub fn msh2(&self) -> String {
        std::iter::once(self.component)
            .chain([self.repetition, self.escape, self.subcomponent, self.truncation].into_iter().map_while(|c| c))
            .collect()
    }
}

/// Bounds checked before a message is decoded or split.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest message in bytes (default 1 MiB).
    pub max_message_bytes: usize,
    /// Most segments in a message (default 1,000).
    pub max_segments: usize,
    /// Most fields in a segment (default 256).
    pub max_fields: usize,
    /// Most repetitions in a field (default 100).
    pub max_repetitions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_message_bytes: 1 << 20, max_segments: 1000, max_fields: 256, max_repetitions: 100 }
    }
}

/// How messages are read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParseOptions {
    /// Size and count bounds.
    pub limits: Limits,
    /// The character set of a message whose MSH-18 is empty (UTF-8, which
    /// reads ASCII; GB 18030 for a feed known to send it undeclared).
    pub default_charset: Charset,
}

/// A parsed HL7 v2 message.
#[derive(Debug, Clone)]
pub struct Message {
    delimiters: Delimiters,
    charset: Charset,
    segments: Vec<Segment>,
}

/// One segment: its ID and its fields, still escaped and unsplit.
#[derive(Debug, Clone)]
pub struct Segment {
    /// `fields[0]` is the segment ID, `fields[n]` field n (for MSH,
    /// `fields[1]` is the field separator, as HL7 numbers it).
    fields: Vec<String>,
}

impl Segment {
    /// The segment ID (`MSH`, `PID`, …).
    pub fn id(&self) -> &str {
        &self.fields[0]
    }
}

impl Message {
    /// Parse a message: bounds first, then delimiters and MSH-18 from the
    /// header, then the whole text decoded in that charset and split into
    /// segments (on CR; LF and CRLF tolerated) and fields.
    pub fn parse(bytes: &[u8], options: &ParseOptions) -> Result<Message, ParseError> {
        let limits = &options.limits;
        if bytes.len() > limits.max_message_bytes {
            return Err(ParseError::TooLarge { size: bytes.len(), limit: limits.max_message_bytes });
        }
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        if bytes.len() < 5 || !bytes.starts_with(b"MSH") || !bytes[3].is_ascii() {
            return Err(ParseError::NoHeader);
        }
        let field_separator = bytes[3] as char;
        let header_end = bytes.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(bytes.len());
        let header = sniff_header(&bytes[..header_end]);
        let header_fields: Vec<&str> = header.split(field_separator).take(18).collect();
        let delimiters = Delimiters::from_msh(field_separator, header_fields.get(1).copied().unwrap_or(""))?;
        let msh18 = header_fields.get(17).copied().unwrap_or("");
        let msh18 = first_value(msh18, &delimiters).trim();
        let charset = match msh18 {
            "" => options.default_charset,
            name => Charset::from_msh18(name).ok_or_else(|| ParseError::UnsupportedCharset(crate::adt::clip(name)))?,
        };
        let text = charset.decode(bytes)?;
        let segments = split_segments(&text, &delimiters, limits)?;
        Ok(Message { delimiters, charset, segments })
    }

    /// The MSH segment alone, read leniently (UTF-8, else GB 18030; an
    /// MSH-18 this crate does not read counts as UTF-8): what a message
    /// that failed to parse can still be acknowledged with. `None` when
    /// even that cannot be read.
    pub fn parse_header(bytes: &[u8], options: &ParseOptions) -> Option<Message> {
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let end = bytes.iter().position(|&b| b == b'\r' || b == b'\n').unwrap_or(bytes.len());
        let line = bytes.get(..end).filter(|l| l.len() >= 5 && l.len() <= options.limits.max_message_bytes && l.starts_with(b"MSH"))?;
        let text = sniff_header(line);
        let delimiters = Delimiters::from_msh(line[3] as char, text.split(line[3] as char).nth(1)?).ok()?;
        let segments = split_segments(&text, &delimiters, &options.limits).ok()?;
        let msh18 = segments[0].fields.get(18).map(|f| first_value(f, &delimiters).trim()).unwrap_or("");
        let charset = if msh18.is_empty() { options.default_charset } else { Charset::from_msh18(msh18).unwrap_or_default() };
        Some(Message { delimiters, charset, segments })
    }

    /// The message's delimiters.
    pub fn delimiters(&self) -> &Delimiters {
        &self.delimiters
    }

    /// The character set the message was decoded from.
    pub fn charset(&self) -> Charset {
        self.charset
    }

    /// Every segment, in order (the first is MSH).
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The first segment with this ID.
    pub fn segment(&self, id: &str) -> Option<&Segment> {
        self.segments.iter().find(|s| s.id() == id)
    }

    /// Field `n` of a segment (empty when absent).
    pub fn field<'a>(&'a self, segment: &'a Segment, n: usize) -> Field<'a> {
        let raw = segment.fields.get(n).map(String::as_str).unwrap_or("");
        Field { raw, delimiters: &self.delimiters, charset: self.charset }
    }

    /// Field `n` of the first segment `id` (empty when either is absent).
    pub fn get(&self, id: &str, n: usize) -> Field<'_> {
        match self.segment(id) {
            Some(segment) => self.field(segment, n),
            None => Field { raw: "", delimiters: &self.delimiters, charset: self.charset },
        }
    }
}

/// One field; a view into the message.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    raw: &'a str,
    delimiters: &'a Delimiters,
    charset: Charset,
}

impl<'a> Field<'a> {
    /// The field as sent, escapes and delimiters included.
    pub fn raw(&self) -> &'a str {
        self.raw
    }

    /// Whether nothing was sent in the field.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Its repetitions (one for a field without the repetition separator).
    pub fn repetitions(&self) -> impl Iterator<Item = Repetition<'a>> + 'a {
        let (delimiters, charset) = (self.delimiters, self.charset);
        let parts: Box<dyn Iterator<Item = &'a str>> = match delimiters.repetition {
            Some(r) => Box::new(self.raw.split(r)),
            None => Box::new(std::iter::once(self.raw)),
        };
        parts.map(move |raw| Repetition { raw, delimiters, charset })
    }

    /// Its first repetition.
    pub fn first(&self) -> Repetition<'a> {
        self.repetitions().next().unwrap_or(Repetition { raw: "", delimiters: self.delimiters, charset: self.charset })
    }

    /// Component 1, subcomponent 1 of the first repetition, unescaped.
    pub fn value(&self) -> String {
        self.first().value(1)
    }
}

/// One repetition of a field.
#[derive(Debug, Clone, Copy)]
pub struct Repetition<'a> {
    raw: &'a str,
    delimiters: &'a Delimiters,
    charset: Charset,
}

impl<'a> Repetition<'a> {
    /// Whether the repetition is empty.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// Component `n` (from 1; empty when absent).
    pub fn component(&self, n: usize) -> Component<'a> {
        let raw = self.raw.split(self.delimiters.component).nth(n.saturating_sub(1)).unwrap_or("");
        Component { raw, delimiters: self.delimiters, charset: self.charset }
    }

    /// Subcomponent 1 of component `n`, unescaped.
    pub fn value(&self, n: usize) -> String {
        self.component(n).value()
    }
}

/// One component of a repetition.
#[derive(Debug, Clone, Copy)]
pub struct Component<'a> {
    raw: &'a str,
    delimiters: &'a Delimiters,
    charset: Charset,
}

impl Component<'_> {
    /// Subcomponent `n` (from 1), unescaped; empty when absent.
    pub fn sub(&self, n: usize) -> String {
        let raw = match self.delimiters.subcomponent {
            Some(s) => self.raw.split(s).nth(n.saturating_sub(1)).unwrap_or(""),
            None if n == 1 => self.raw,
            None => "",
        };
        unescape(raw, self.delimiters, self.charset)
    }

    /// Subcomponent 1, unescaped.
    pub fn value(&self) -> String {
        self.sub(1)
    }
}

/// The first repetition's first component of a raw value (for MSH-18,
/// read before the message is decoded).
fn first_value<'a>(raw: &'a str, d: &Delimiters) -> &'a str {
    let raw = d.repetition.and_then(|r| raw.split(r).next()).unwrap_or(raw);
    raw.split(d.component).next().unwrap_or(raw)
}

/// Split decoded text into segments (on CR, LF or CRLF; blank lines
/// skipped); the first must be MSH.
fn split_segments(text: &str, delimiters: &Delimiters, limits: &Limits) -> Result<Vec<Segment>, ParseError> {
    let mut segments = Vec::new();
    for line in text.split(['\r', '\n']).filter(|l| !l.trim().is_empty()) {
        if segments.len() == limits.max_segments {
            return Err(ParseError::TooManySegments { limit: limits.max_segments });
        }
        segments.push(split_segment(line, segments.len() + 1, delimiters, limits)?);
    }
    if segments.first().is_none_or(|s: &Segment| s.id() != "MSH") {
        return Err(ParseError::NoHeader);
    }
    Ok(segments)
}

/// Split one segment into fields, checking its ID and the bounds.
fn split_segment(line: &str, position: usize, d: &Delimiters, limits: &Limits) -> Result<Segment, ParseError> {
    let mut parts = line.split(d.field);
    let id = parts.next().unwrap_or("");
    if id.len() != 3 || !id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        return Err(ParseError::BadSegmentId { position });
    }
    let mut fields = vec![id.to_string()];
    if id == "MSH" {
        fields.push(d.field.to_string());
    }
    for part in parts {
        if fields.len() > limits.max_fields {
            return Err(ParseError::TooManyFields { segment: id.to_string(), limit: limits.max_fields });
        }
        let is_msh2 = id == "MSH" && fields.len() == 2;
        if let Some(r) = d.repetition.filter(|_| !is_msh2) {
            let repetitions = part.matches(r).count() + 1;
            if repetitions > limits.max_repetitions {
                return Err(ParseError::TooManyRepetitions { segment: id.to_string(), field: fields.len(), limit: limits.max_repetitions });
            }
        }
        fields.push(part.to_string());
    }
    Ok(Segment { fields })
}

#[cfg(test)]
#[path = "parse_tests.rs"]
mod tests;
