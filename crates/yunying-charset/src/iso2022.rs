//! ISO 2022 code extension decoding as profiled by DICOM (PS3.5 6.1.2.5).
//!
//! Bytes 0x00–0x7F are interpreted through G0, bytes 0x80–0xFF through G1.
//! Escape sequences re-designate G0 or G1; the state returns to the initial
//! designation (from value 1 of Specific Character Set) at control
//! characters (CR, LF, FF, TAB, ...), at the value delimiter `\` and, for
//! person names, at the `^` and `=` delimiters (PS3.5 6.1.2.5.3). Delimiters
//! only count while G0 is a single-byte set, because inside a two-byte G0
//! set (JIS X 0208/0212) these bytes are halves of a character.
//!
//! The decoder is lenient: G1 two-byte sets accept the GBK / UHC extensions
//! of GB2312 / KS X 1001 (many devices send those), unknown escape sequences
//! are dropped, and high bytes arriving while G1 is undesignated are decoded
//! with the first G1 set named in Specific Character Set, or else with the
//! undeclared-text heuristic ([`crate::decode_undeclared`]).

use encoding_rs::Encoding;

use crate::TextKind;
use crate::single_byte::SingleByte;
use crate::term::Term;

const ESC: u8 = 0x1B;
const REPLACEMENT: char = '\u{FFFD}';

/// A graphic set that can be designated into G0 (bytes 0x21–0x7E).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum G0 {
    /// ISO-IR 6, `ESC ( B`.
    Ascii,
    /// JIS X 0201 roman, `ESC ( J`. Decoded like ASCII: 0x5C stays `\`
    /// (it is the DICOM value delimiter) and 0x7E stays `~`.
    JisRoman,
    /// JIS X 0208 (ISO-IR 87), `ESC $ B`, two bytes per character.
    Jis0208,
    /// JIS X 0212 (ISO-IR 159), `ESC $ ( D`, two bytes per character.
    Jis0212,
}

impl G0 {
    fn is_two_byte(self) -> bool {
        matches!(self, G0::Jis0208 | G0::Jis0212)
    }
}

/// A graphic set that can be designated into G1 (bytes 0xA0–0xFF).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum G1 {
    /// A single-byte set, e.g. `ESC - A` (ISO 8859-1) or `ESC ) I` (katakana).
    Single(SingleByte),
    /// GB2312 (ISO-IR 58), `ESC $ ) A`.
    Gb2312,
    /// KS X 1001 (ISO-IR 149), `ESC $ ) C`.
    KsX1001,
}

/// Current designations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct State {
    g0: G0,
    g1: Option<G1>,
}

/// Decoder configured from the terms of Specific Character Set.
pub(crate) struct Decoder {
    initial: State,
    g1_default: Option<G1>,
    kind: TextKind,
    fallback: Option<&'static Encoding>,
}

impl Decoder {
    /// `terms` are the parsed values of (0008,0005) (`None` = unknown term);
    /// an empty slice means the default repertoire.
    pub(crate) fn new(terms: &[Option<Term>], kind: TextKind, fallback: Option<&'static Encoding>) -> Self {
        let designations = |term: &Option<Term>| match term {
            Some(Term::Iso2022 { g0, g1 }) => (*g0, *g1),
            _ => (None, None),
        };
        let (first_g0, first_g1) = terms.first().map_or((None, None), designations);
        // A two-byte G0 set as value 1 would make delimiters unreadable; keep ASCII.
        let g0 = match first_g0 {
            Some(G0::JisRoman) => G0::JisRoman,
            _ => G0::Ascii,
        };
        let g1_default = terms.iter().find_map(|term| designations(term).1);
        Decoder { initial: State { g0, g1: first_g1 }, g1_default, kind, fallback }
    }

    /// Decodes a whole element value (delimiters included).
    pub(crate) fn decode(&self, bytes: &[u8]) -> String {
        let mut out = String::with_capacity(bytes.len());
        let mut state = self.initial;
        let mut rest = bytes;
        while let Some(&byte) = rest.first() {
            let used = if byte == ESC {
                designate(rest, &mut state)
            } else if byte >= 0x80 {
                self.decode_g1(rest, state, &mut out)
            } else {
                self.decode_g0(rest, &mut state, &mut out)
            };
            rest = &rest[used..];
        }
        out
    }

    /// Decodes the character starting with `rest[0] < 0x80`; returns bytes used.
    fn decode_g0(&self, rest: &[u8], state: &mut State, out: &mut String) -> usize {
        let byte = rest[0];
        if byte < 0x20 {
            *state = self.initial;
            out.push(char::from(byte));
            return 1;
        }
        if !state.g0.is_two_byte() || byte == b' ' {
            if self.is_delimiter(byte) {
                *state = self.initial;
            }
            out.push(char::from(byte));
            return 1;
        }
        match rest.get(1) {
            Some(&second @ 0x21..=0x7E) => {
                out.push(decode_jis(state.g0, byte, second));
                2
            }
            _ => {
                out.push(REPLACEMENT);
                1
            }
        }
    }

    /// Decodes the character starting with `rest[0] >= 0x80`; returns bytes used.
    fn decode_g1(&self, rest: &[u8], state: State, out: &mut String) -> usize {
        match state.g1.or(self.g1_default) {
            Some(G1::Single(set)) => {
                out.push(set.decode_high(rest[0]));
                1
            }
            Some(G1::Gb2312) => decode_multi_byte(encoding_rs::GBK, rest, out),
            Some(G1::KsX1001) => decode_multi_byte(encoding_rs::EUC_KR, rest, out),
            None => self.decode_undesignated(rest, state.g0, out),
        }
    }

    /// High bytes with nothing in G1: hand the run (up to the next escape,
    /// or the next G0 byte if G0 is two-byte) to the undeclared heuristic.
    fn decode_undesignated(&self, rest: &[u8], g0: G0, out: &mut String) -> usize {
        let end = if g0.is_two_byte() { rest.iter().position(|&b| b < 0x80) } else { rest.iter().position(|&b| b == ESC) };
        let run = &rest[..end.unwrap_or(rest.len())];
        out.push_str(&crate::decode_undeclared(run, self.fallback));
        run.len()
    }

    fn is_delimiter(&self, byte: u8) -> bool {
        match self.kind {
            TextKind::Text => byte == b'\\',
            TextKind::PersonName => matches!(byte, b'\\' | b'^' | b'='),
        }
    }
}

/// Applies the escape sequence at `rest[0] == ESC`; returns bytes used.
/// Unknown sequences are skipped; a malformed one drops just the ESC.
fn designate(rest: &[u8], state: &mut State) -> usize {
    let intermediates = rest[1..].iter().take_while(|b| (0x20..=0x2F).contains(*b)).count();
    let Some(&final_byte @ 0x30..=0x7E) = rest.get(1 + intermediates) else {
        return 1;
    };
    match (&rest[1..1 + intermediates], final_byte) {
        (b"(", b'B') => state.g0 = G0::Ascii,
        (b"(", b'J') => state.g0 = G0::JisRoman,
        (b"$" | b"$(", b'B' | b'@') => state.g0 = G0::Jis0208,
        (b"$(", b'D') => state.g0 = G0::Jis0212,
        (b")", b'I') => state.g1 = Some(G1::Single(SingleByte::Katakana)),
        (b"$)", b'A') => state.g1 = Some(G1::Gb2312),
        (b"$)", b'C') => state.g1 = Some(G1::KsX1001),
        (b"-", final_byte) => {
            if let Some(set) = iso_8859_part(final_byte) {
                state.g1 = Some(G1::Single(set));
            }
        }
        _ => {}
    }
    2 + intermediates
}

/// The 96-character set designated by `ESC - final_byte`.
fn iso_8859_part(final_byte: u8) -> Option<SingleByte> {
    Some(match final_byte {
        b'A' => SingleByte::Latin1,
        b'B' => SingleByte::Latin2,
        b'C' => SingleByte::Latin3,
        b'D' => SingleByte::Latin4,
        b'F' => SingleByte::Greek,
        b'G' => SingleByte::Arabic,
        b'H' => SingleByte::Hebrew,
        b'L' => SingleByte::Cyrillic,
        b'M' => SingleByte::Latin5,
        b'T' => SingleByte::Thai,
        b'b' => SingleByte::Latin9,
        _ => return None,
    })
}

/// A JIS X 0208/0212 character from its two 7-bit bytes, via EUC-JP.
fn decode_jis(set: G0, first: u8, second: u8) -> char {
    let euc = [0x8F, first | 0x80, second | 0x80];
    let bytes = if set == G0::Jis0212 { &euc[..] } else { &euc[1..] };
    decode_one(encoding_rs::EUC_JP, bytes).unwrap_or(REPLACEMENT)
}

/// A two-byte (or GB18030 four-byte) character in G1; U+FFFD and one byte if invalid.
fn decode_multi_byte(encoding: &'static Encoding, rest: &[u8], out: &mut String) -> usize {
    for len in [2, 4] {
        if let Some(c) = rest.get(..len).and_then(|seq| decode_one(encoding, seq)) {
            out.push(c);
            return len;
        }
    }
    out.push(REPLACEMENT);
    1
}

/// `bytes` if they are exactly one well-formed character in `encoding`.
fn decode_one(encoding: &'static Encoding, bytes: &[u8]) -> Option<char> {
    let text = encoding.decode_without_bom_handling_and_without_replacement(bytes)?;
    let mut chars = text.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(value: &[&str]) -> Vec<Option<Term>> {
        value.iter().map(|v| Term::parse(v)).collect()
    }

    fn decode(value: &[&str], bytes: &[u8]) -> String {
        Decoder::new(&terms(value), TextKind::Text, None).decode(bytes)
    }

    /// 7-bit JIS bytes of `text` (EUC-JP with the high bits stripped).
    fn jis(text: &str) -> Vec<u8> {
        let (euc, _, errors) = encoding_rs::EUC_JP.encode(text);
        assert!(!errors);
        euc.iter().map(|b| b & 0x7F).collect()
    }

    #[test]
    fn escape_sequences_switch_g0() {
        let mut bytes = b"A\x1b$B".to_vec();
        bytes.extend(jis("山"));
        bytes.extend(b"\x1b(JB\x1b(BC");
        assert_eq!(decode(&["ISO 2022 IR 6", "ISO 2022 IR 87"], &bytes), "A山BC");
    }

    #[test]
    fn jis_x_0212_via_escape() {
        // 丂 (U+4E02) is JIS X 0212 0x30 0x21.
        let bytes = b"\x1b$(D\x30\x21\x1b(B";
        assert_eq!(decode(&["ISO 2022 IR 6", "ISO 2022 IR 159"], bytes), "丂");
    }

    #[test]
    fn g1_8859_parts_via_escape() {
        let bytes = b"\x1b-A\xe9 \x1b-L\xb0 \x1b-F\xc1 \x1b-M\xfd";
        let value = ["ISO 2022 IR 100", "ISO 2022 IR 144", "ISO 2022 IR 126", "ISO 2022 IR 148"];
        assert_eq!(decode(&value, bytes), "é А Α ı");
    }

    #[test]
    fn katakana_and_roman_of_ir_13() {
        assert_eq!(decode(&["ISO 2022 IR 13"], b"\xd4\xcf\xc0\xde^\xc0\xdb\xb3"), "ﾔﾏﾀﾞ^ﾀﾛｳ");
    }

    #[test]
    fn state_resets_at_value_delimiter_and_newline() {
        // Initial G1 is Latin-1; GB2312 designated in the first value only.
        let value = ["ISO 2022 IR 100", "ISO 2022 IR 58"];
        let bytes = b"\x1b$)A\xd5\xc5\\\xe9\r\n\xe9";
        assert_eq!(decode(&value, bytes), "张\\é\r\né");
    }

    #[test]
    fn person_name_resets_at_component_delimiters() {
        let value = ["ISO 2022 IR 100", "ISO 2022 IR 58"];
        let bytes = b"\x1b$)A\xd5\xc5^\xe9=\xe9";
        let pn = Decoder::new(&terms(&value), TextKind::PersonName, None).decode(bytes);
        assert_eq!(pn, "张^é=é");
    }

    #[test]
    fn delimiters_inside_two_byte_g0_do_not_reset() {
        // Kanji whose JIS bytes contain 0x5C ('\') and 0x5E ('^').
        let kanji: String = ('\u{4E00}'..='\u{9FFF}')
            .filter(|c| !encoding_rs::EUC_JP.encode(&c.to_string()).2)
            .filter(|c| jis(&c.to_string()).iter().any(|b| matches!(b, 0x5C | 0x5E)))
            .take(4)
            .collect();
        assert_eq!(kanji.chars().count(), 4);
        let mut bytes = b"\x1b$B".to_vec();
        bytes.extend(jis(&kanji));
        bytes.extend(b"\x1b(B");
        let value = ["ISO 2022 IR 6", "ISO 2022 IR 87"];
        let pn = Decoder::new(&terms(&value), TextKind::PersonName, None).decode(&bytes);
        assert_eq!(pn, kanji);
    }

    #[test]
    fn undesignated_g1_uses_first_declared_g1_set() {
        // Devices often omit ESC $ ) A and send raw GB2312 bytes.
        let (gb, _, _) = encoding_rs::GBK.encode("张三");
        assert_eq!(decode(&["", "ISO 2022 IR 58"], &gb), "张三");
        let (kr, _, _) = encoding_rs::EUC_KR.encode("홍길동");
        assert_eq!(decode(&["", "ISO 2022 IR 149"], &kr), "홍길동");
    }

    #[test]
    fn gb18030_four_byte_in_g1() {
        let (gb, _, _) = encoding_rs::GB18030.encode("€㐀");
        let mut bytes = b"\x1b$)A".to_vec();
        bytes.extend(gb.iter());
        assert_eq!(decode(&["", "ISO 2022 IR 58"], &bytes), "€㐀");
    }

    #[test]
    fn unknown_and_malformed_escapes_are_dropped() {
        assert_eq!(decode(&[""], b"a\x1b$)Zb\x1b"), "ab");
        assert_eq!(decode(&[""], b"a\x1b\xffb"), "a\u{FFFD}b");
    }

    #[test]
    fn truncated_characters_become_replacement() {
        assert_eq!(decode(&["", "ISO 2022 IR 87"], b"\x1b$B\x3b"), "\u{FFFD}");
        assert_eq!(decode(&["", "ISO 2022 IR 58"], b"\x1b$)A\xd5"), "\u{FFFD}");
    }
}
