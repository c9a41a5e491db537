//! HL7 v2 escape sequences (section 2.7): `\F\ \S\ \T\ \R\ \E\` for the
//! delimiters, `\P\` for the truncation character, `\Xhh..\` for bytes in
//! the message's character set, `\H\`/`\N\` (highlighting) dropped and
//! `\.br\` as a line break. Anything else, and an escape character without
//! its closing one, is kept as it was sent: a sender that puts a bare
//! backslash in a text loses nothing.

use crate::charset::Charset;
use crate::parse::Delimiters;

/// Decode the escape sequences of one leaf value (a subcomponent, already
/// split on every delimiter).
pub(crate) fn unescape(raw: &str, delimiters: &Delimiters, charset: Charset) -> String {
    let Some(escape) = delimiters.escape else { return raw.to_string() };
    if !raw.contains(escape) {
        return raw.to_string();
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(start) = rest.find(escape) {
        out.push_str(&rest[..start]);
        let after = &rest[start + escape.len_utf8()..];
        let Some(end) = after.find(escape) else {
            out.push_str(&rest[start..]);
            return out;
        };
        let sequence = &after[..end];
        match decode_sequence(sequence, delimiters, charset) {
            Some(text) => out.push_str(&text),
            None => out.push_str(&rest[start..start + escape.len_utf8() * 2 + end]),
        }
        rest = &after[end + escape.len_utf8()..];
    }
    out.push_str(rest);
    out
}

/// The text one escape sequence stands for; `None` keeps it verbatim.
fn decode_sequence(sequence: &str, d: &Delimiters, charset: Charset) -> Option<String> {
    let one = |c: Option<char>| c.map(String::from);
    match sequence {
        "F" => Some(d.field.to_string()),
        "S" => Some(d.component.to_string()),
        "T" => one(d.subcomponent),
        "R" => one(d.repetition),
        "E" => one(d.escape),
        "P" => one(d.truncation),
        "H" | "N" => Some(String::new()),
        ".br" => Some("\n".to_string()),
        _ => sequence.strip_prefix('X').and_then(|hex| decode_hex(hex, charset)),
    }
}

/// `\Xhh..\`: pairs of hex digits, the bytes read in the message's charset.
fn decode_hex(hex: &str, charset: Charset) -> Option<String> {
    if hex.is_empty() || !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes: Vec<u8> = (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0)).collect();
    charset.decode(&bytes).ok().map(|text| text.into_owned())
}

/// Escape text for a field of an outgoing message (an ACK's texts, the
/// short fields of a result): every delimiter becomes its escape sequence,
/// a line break (CR, LF or CRLF) and any other control character a space
/// (so a value can never end a segment or an MLLP frame).
pub(crate) fn escape(text: &str, d: &Delimiters) -> String {
    escape_with(text, d, false)
}

/// Escape multi-line text for a formatted text (FT) field: as [`escape`],
/// but each line break (CR, LF or CRLF) becomes the `\.br\` formatting
/// command (a space when the message has no escape character).
pub(crate) fn escape_text(text: &str, d: &Delimiters) -> String {
    escape_with(text, d, true)
}

fn escape_with(text: &str, d: &Delimiters, line_breaks: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let sequence = match c {
            _ if c == d.field => "F",
            _ if c == d.component => "S",
            _ if Some(c) == d.subcomponent => "T",
            _ if Some(c) == d.repetition => "R",
            _ if Some(c) == d.escape => "E",
            _ if Some(c) == d.truncation => "P",
            '\r' | '\n' if line_breaks => {
                if c == '\r' {
                    chars.next_if_eq(&'\n');
                }
                ".br"
            }
            _ if c.is_control() => {
                out.push(' ');
                continue;
            }
            _ => {
                out.push(c);
                continue;
            }
        };
        match d.escape {
            Some(e) => {
                out.push(e);
                out.push_str(sequence);
                out.push(e);
            }
            None => out.push(' '),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn standard() -> Delimiters {
        Delimiters::STANDARD
    }

    #[test]
    fn delimiter_escapes_decode_to_the_delimiters() {
        let d = standard();
        assert_eq!(unescape(r"A\F\B\S\C\T\D\R\E\E\F", &d, Charset::Utf8), r"A|B^C&D~E\F");
    }

    #[test]
    fn hex_escapes_decode_in_the_message_charset() {
        let d = standard();
        assert_eq!(unescape(r"\XE78E8B\", &d, Charset::Utf8), "王");
        assert_eq!(unescape(r"\XCDF5\", &d, Charset::Gb18030), "王");
        // Not hex, odd length, invalid bytes: kept as sent.
        assert_eq!(unescape(r"\XZZ\", &d, Charset::Utf8), r"\XZZ\");
        assert_eq!(unescape(r"\XE78\", &d, Charset::Utf8), r"\XE78\");
        assert_eq!(unescape(r"\XFF\", &d, Charset::Utf8), r"\XFF\");
    }

    #[test]
    fn highlighting_is_dropped_and_unknown_or_unclosed_escapes_kept() {
        let d = standard();
        assert_eq!(unescape(r"\H\bold\N\ text", &d, Charset::Utf8), "bold text");
        assert_eq!(unescape(r"C:\temp", &d, Charset::Utf8), r"C:\temp");
        assert_eq!(unescape(r"\Cxxyy\abc", &d, Charset::Utf8), r"\Cxxyy\abc");
        assert_eq!(unescape(r"line\.br\next", &d, Charset::Utf8), "line\nnext");
    }

    #[test]
    fn custom_escape_character_is_honoured() {
        let d =
            Delimiters { field: '!', component: '@', repetition: Some('*'), escape: Some('$'), subcomponent: Some('%'), truncation: None };
        assert_eq!(unescape(r"a$F$b$S$c\d", &d, Charset::Utf8), r"a!b@c\d");
        assert_eq!(escape("a!b@c*d$e%f", &d), "a$F$b$S$c$R$d$E$e$T$f");
    }

    #[test]
    fn escape_then_unescape_is_the_identity() {
        let d = standard();
        let text = r"x|y^z&w~v\u 王";
        assert_eq!(unescape(&escape(text, &d), &d, Charset::Utf8), text);
    }

    #[test]
    fn control_characters_never_reach_the_wire() {
        let d = standard();
        assert_eq!(escape("a\rb\nc\x0bd\x1ce\tf\u{85}g", &d), "a b c d e f g");
    }

    #[test]
    fn line_breaks_in_text_become_br_and_round_trip_as_lf() {
        let d = standard();
        let escaped = escape_text("第一行|\r\n第二行\r第三行\n\n末行\x1c", &d);
        assert_eq!(escaped, r"第一行\F\\.br\第二行\.br\第三行\.br\\.br\末行 ");
        assert_eq!(unescape(&escaped, &d, Charset::Utf8), "第一行|\n第二行\n第三行\n\n末行 ");
    }
}
