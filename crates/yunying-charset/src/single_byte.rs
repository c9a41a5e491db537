//! Single-byte (96- or 94-character) sets used in the upper half (G1) of
//! DICOM text: the ISO 8859 parts, TIS-620 and JIS X 0201 katakana.
//!
//! Bytes 0x00–0x7F are never handled here (they belong to G0). Bytes
//! 0x80–0x9F are the C1 control range of ISO 2022 and map to U+0080–U+009F
//! for every ISO 8859 part (this is exactly where `windows-125x` differ from
//! ISO 8859, so those encodings are only ever consulted for 0xA0–0xFF).

use std::sync::OnceLock;

use encoding_rs::Encoding;

/// A single-byte graphic set that can be designated into G1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum SingleByte {
    /// ISO 8859-1 (ISO-IR 100): byte 0xXX is U+00XX.
    Latin1,
    /// ISO 8859-2 (ISO-IR 101).
    Latin2,
    /// ISO 8859-3 (ISO-IR 109).
    Latin3,
    /// ISO 8859-4 (ISO-IR 110).
    Latin4,
    /// ISO 8859-5 (ISO-IR 144).
    Cyrillic,
    /// ISO 8859-6 (ISO-IR 127).
    Arabic,
    /// ISO 8859-7 (ISO-IR 126).
    Greek,
    /// ISO 8859-8 (ISO-IR 138).
    Hebrew,
    /// ISO 8859-9 (ISO-IR 148).
    Latin5,
    /// ISO 8859-15 (ISO-IR 203).
    Latin9,
    /// TIS 620-2533 (ISO-IR 166).
    Thai,
    /// JIS X 0201 katakana (ISO-IR 13, G1 part): 0xA1–0xDF → U+FF61–U+FF9F.
    Katakana,
}

/// Number of variants backed by an `encoding_rs` table (all but Latin1 and Katakana).
const TABLE_COUNT: usize = 10;

impl SingleByte {
    /// Decodes one byte in the range 0x80–0xFF. Unassigned positions give U+FFFD.
    pub(crate) fn decode_high(self, byte: u8) -> char {
        debug_assert!(byte >= 0x80);
        match self {
            SingleByte::Latin1 => char::from(byte),
            SingleByte::Katakana => katakana(byte),
            _ if byte < 0xA0 => char::from(byte),
            _ => self.table()[usize::from(byte - 0xA0)],
        }
    }

    /// The `encoding_rs` encoding that is exact for 0xA0–0xFF, with its table slot.
    fn source(self) -> Option<(usize, &'static Encoding)> {
        let pair = match self {
            SingleByte::Latin2 => (0, encoding_rs::ISO_8859_2),
            SingleByte::Latin3 => (1, encoding_rs::ISO_8859_3),
            SingleByte::Latin4 => (2, encoding_rs::ISO_8859_4),
            SingleByte::Cyrillic => (3, encoding_rs::ISO_8859_5),
            SingleByte::Arabic => (4, encoding_rs::ISO_8859_6),
            SingleByte::Greek => (5, encoding_rs::ISO_8859_7),
            SingleByte::Hebrew => (6, encoding_rs::ISO_8859_8),
            // windows-1254 equals ISO 8859-9 for 0xA0–0xFF (verified in tests).
            SingleByte::Latin5 => (7, encoding_rs::WINDOWS_1254),
            SingleByte::Latin9 => (8, encoding_rs::ISO_8859_15),
            // windows-874 equals TIS-620 for 0xA1–0xFF (0xA0 is NBSP as in ISO 8859-11).
            SingleByte::Thai => (9, encoding_rs::WINDOWS_874),
            SingleByte::Latin1 | SingleByte::Katakana => return None,
        };
        Some(pair)
    }

    /// Lazily built table for 0xA0–0xFF.
    fn table(self) -> &'static [char; 96] {
        static TABLES: [OnceLock<[char; 96]>; TABLE_COUNT] = [const { OnceLock::new() }; TABLE_COUNT];
        static EMPTY: [char; 96] = ['\u{FFFD}'; 96];
        match self.source() {
            Some((slot, encoding)) => TABLES[slot].get_or_init(|| build_table(encoding)),
            None => &EMPTY,
        }
    }
}

/// Decodes each byte 0xA0–0xFF on its own with `encoding`.
fn build_table(encoding: &'static Encoding) -> [char; 96] {
    let mut table = ['\u{FFFD}'; 96];
    for (slot, byte) in table.iter_mut().zip(0xA0u8..=0xFF) {
        let input = [byte];
        let (text, _) = encoding.decode_without_bom_handling(&input);
        *slot = text.chars().next().unwrap_or('\u{FFFD}');
    }
    table
}

/// JIS X 0201 katakana in the upper half.
fn katakana(byte: u8) -> char {
    match byte {
        0xA1..=0xDF => char::from_u32(0xFF61 + u32::from(byte - 0xA1)).unwrap_or('\u{FFFD}'),
        _ => '\u{FFFD}',
    }
}

#[cfg(test)]
mod tests {
    use super::SingleByte::*;

    #[test]
    fn latin1_is_identity_including_c1() {
        for b in 0x80u8..=0xFF {
            assert_eq!(Latin1.decode_high(b) as u32, u32::from(b));
        }
    }

    #[test]
    fn c1_range_is_identity_for_iso_8859_parts() {
        for set in [Latin2, Latin3, Latin4, Cyrillic, Arabic, Greek, Hebrew, Latin5, Latin9, Thai] {
            for b in 0x80u8..0xA0 {
                assert_eq!(set.decode_high(b) as u32, u32::from(b), "{set:?} {b:#x}");
            }
        }
    }

    #[test]
    fn known_code_points() {
        let cases = [
            (Latin2, 0xA1, '\u{0104}'),   // Ą
            (Latin2, 0xFF, '\u{02D9}'),   // ˙
            (Latin3, 0xA1, '\u{0126}'),   // Ħ
            (Latin3, 0xA5, '\u{FFFD}'),   // unassigned
            (Latin4, 0xA2, '\u{0138}'),   // ĸ
            (Cyrillic, 0xB0, '\u{0410}'), // А
            (Cyrillic, 0xF0, '\u{2116}'), // №
            (Arabic, 0xC7, '\u{0627}'),   // ا
            (Greek, 0xC1, '\u{0391}'),    // Α
            (Hebrew, 0xE0, '\u{05D0}'),   // א
            (Latin9, 0xA4, '\u{20AC}'),   // €
            (Thai, 0xA1, '\u{0E01}'),     // ก
            (Thai, 0xFB, '\u{0E5B}'),     // ๛
            (Katakana, 0xB1, '\u{FF71}'), // ｱ
            (Katakana, 0xE0, '\u{FFFD}'),
        ];
        for (set, byte, expected) in cases {
            assert_eq!(set.decode_high(byte), expected, "{set:?} {byte:#x}");
        }
    }

    /// ISO 8859-9 differs from ISO 8859-1 in exactly six positions.
    #[test]
    fn latin5_matches_iso_8859_9() {
        let diffs =
            [(0xD0, '\u{011E}'), (0xDD, '\u{0130}'), (0xDE, '\u{015E}'), (0xF0, '\u{011F}'), (0xFD, '\u{0131}'), (0xFE, '\u{015F}')];
        for b in 0xA0u8..=0xFF {
            let expected = diffs.iter().find(|(byte, _)| *byte == b).map_or(char::from(b), |(_, c)| *c);
            assert_eq!(Latin5.decode_high(b), expected, "{b:#x}");
        }
    }

    /// TIS-620: 0xA1–0xDA → U+0E01–U+0E3A, 0xDF–0xFB → U+0E3F–U+0E5B, rest unassigned.
    #[test]
    fn thai_matches_tis_620() {
        for b in 0xA1u8..=0xFF {
            let expected = match b {
                0xA1..=0xDA | 0xDF..=0xFB => char::from_u32(0x0E00 + u32::from(b - 0xA0)).unwrap(),
                _ => '\u{FFFD}',
            };
            assert_eq!(Thai.decode_high(b), expected, "{b:#x}");
        }
    }
}
