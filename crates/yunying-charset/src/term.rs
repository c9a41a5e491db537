//! Recognition of Specific Character Set defined terms (PS3.3 C.12.1.1.2).

use encoding_rs::Encoding;

use crate::iso2022::{G0, G1};
use crate::single_byte::SingleByte;

/// What one value of Specific Character Set (0008,0005) stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Term {
    /// A character set without code extensions that is decoded as a whole
    /// with one `encoding_rs` encoding (ISO_IR 192, GB18030, GBK, aliases).
    Whole(&'static Encoding),
    /// A set handled by the ISO 2022 machinery: what it designates into G0
    /// and/or G1. The default repertoire is `g0: Some(Ascii), g1: None`.
    Iso2022 { g0: Option<G0>, g1: Option<G1> },
}

impl Term {
    /// The default character repertoire (ISO-IR 6).
    pub(crate) const ASCII: Term = Term::Iso2022 { g0: Some(G0::Ascii), g1: None };

    /// Recognises one (already trimmed) value; `None` if it is not a known term.
    ///
    /// Matching ignores case, spaces, `_` and `-`, so `ISO_IR 100`,
    /// `ISO-IR 100` and `iso_ir100` are the same. Besides the defined terms a
    /// few spellings seen in the field are accepted: `GB2312`, `ISO_IR 58`
    /// (GB2312 without extensions), `ISO_IR 149` (EUC-KR), `UTF-8`.
    pub(crate) fn parse(value: &str) -> Option<Term> {
        let key: String = value.chars().filter(|c| !matches!(c, ' ' | '_' | '-')).map(|c| c.to_ascii_uppercase()).collect();
        if key.is_empty() {
            return Some(Term::ASCII);
        }
        if let Some(number) = key.strip_prefix("ISO2022IR") {
            return Term::iso_ir(number, true);
        }
        if let Some(number) = key.strip_prefix("ISOIR") {
            return Term::iso_ir(number, false);
        }
        match key.as_str() {
            "GB18030" => Some(Term::Whole(encoding_rs::GB18030)),
            "GBK" | "GB2312" | "EUCCN" => Some(Term::Whole(encoding_rs::GBK)),
            "UTF8" => Some(Term::Whole(encoding_rs::UTF_8)),
            _ => None,
        }
    }

    /// `ISO_IR n` (`extensions == false`) or `ISO 2022 IR n`.
    fn iso_ir(number: &str, extensions: bool) -> Option<Term> {
        let single = |set| Some(Term::Iso2022 { g0: Some(G0::Ascii), g1: Some(G1::Single(set)) });
        match number {
            "6" => Some(Term::ASCII),
            "100" => single(SingleByte::Latin1),
            "101" => single(SingleByte::Latin2),
            "109" => single(SingleByte::Latin3),
            "110" => single(SingleByte::Latin4),
            "144" => single(SingleByte::Cyrillic),
            "127" => single(SingleByte::Arabic),
            "126" => single(SingleByte::Greek),
            "138" => single(SingleByte::Hebrew),
            "148" => single(SingleByte::Latin5),
            "203" => single(SingleByte::Latin9),
            "166" => single(SingleByte::Thai),
            "13" => Some(Term::Iso2022 { g0: Some(G0::JisRoman), g1: Some(G1::Single(SingleByte::Katakana)) }),
            "87" => Some(Term::Iso2022 { g0: Some(G0::Jis0208), g1: None }),
            "159" => Some(Term::Iso2022 { g0: Some(G0::Jis0212), g1: None }),
            "58" if extensions => Some(Term::Iso2022 { g0: None, g1: Some(G1::Gb2312) }),
            "149" if extensions => Some(Term::Iso2022 { g0: None, g1: Some(G1::KsX1001) }),
            "58" => Some(Term::Whole(encoding_rs::GBK)),
            "149" => Some(Term::Whole(encoding_rs::EUC_KR)),
            "192" => Some(Term::Whole(encoding_rs::UTF_8)),
            _ => None,
        }
    }

    /// The closest `encoding_rs` encoding, for use as a whole-value fallback.
    ///
    /// ISO 8859-1 and -9 map to windows-1252/-1254 and TIS-620 to windows-874
    /// (identical for 0xA0–0xFF, they differ only in the C1 range), JIS X 0201
    /// to Shift_JIS. JIS X 0208/0212 alone have no sensible 8-bit encoding.
    pub(crate) fn encoding(self) -> Option<&'static Encoding> {
        let set = match self {
            Term::Whole(encoding) => return Some(encoding),
            Term::Iso2022 { g1: Some(G1::Gb2312), .. } => return Some(encoding_rs::GBK),
            Term::Iso2022 { g1: Some(G1::KsX1001), .. } => return Some(encoding_rs::EUC_KR),
            Term::Iso2022 { g1: Some(G1::Single(set)), .. } => set,
            Term::Iso2022 { .. } => return None,
        };
        Some(match set {
            SingleByte::Latin1 => encoding_rs::WINDOWS_1252,
            SingleByte::Latin2 => encoding_rs::ISO_8859_2,
            SingleByte::Latin3 => encoding_rs::ISO_8859_3,
            SingleByte::Latin4 => encoding_rs::ISO_8859_4,
            SingleByte::Cyrillic => encoding_rs::ISO_8859_5,
            SingleByte::Arabic => encoding_rs::ISO_8859_6,
            SingleByte::Greek => encoding_rs::ISO_8859_7,
            SingleByte::Hebrew => encoding_rs::ISO_8859_8,
            SingleByte::Latin5 => encoding_rs::WINDOWS_1254,
            SingleByte::Latin9 => encoding_rs::ISO_8859_15,
            SingleByte::Thai => encoding_rs::WINDOWS_874,
            SingleByte::Katakana => encoding_rs::SHIFT_JIS,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spelling_variants_are_equivalent() {
        let latin1 = Term::parse("ISO_IR 100");
        assert!(latin1.is_some());
        for variant in ["ISO-IR 100", "iso_ir100", "ISO IR 100", " ISO_IR 100 "] {
            assert_eq!(Term::parse(variant.trim()), latin1, "{variant}");
        }
    }

    #[test]
    fn defined_terms_are_known() {
        let terms = [
            "",
            "ISO_IR 6",
            "ISO_IR 100",
            "ISO_IR 101",
            "ISO_IR 109",
            "ISO_IR 110",
            "ISO_IR 144",
            "ISO_IR 127",
            "ISO_IR 126",
            "ISO_IR 138",
            "ISO_IR 148",
            "ISO_IR 203",
            "ISO_IR 13",
            "ISO_IR 166",
            "ISO_IR 192",
            "GB18030",
            "GBK",
            "ISO 2022 IR 6",
            "ISO 2022 IR 100",
            "ISO 2022 IR 101",
            "ISO 2022 IR 109",
            "ISO 2022 IR 110",
            "ISO 2022 IR 144",
            "ISO 2022 IR 127",
            "ISO 2022 IR 126",
            "ISO 2022 IR 138",
            "ISO 2022 IR 148",
            "ISO 2022 IR 203",
            "ISO 2022 IR 13",
            "ISO 2022 IR 166",
            "ISO 2022 IR 87",
            "ISO 2022 IR 159",
            "ISO 2022 IR 149",
            "ISO 2022 IR 58",
        ];
        for term in terms {
            assert!(Term::parse(term).is_some(), "{term}");
        }
    }

    #[test]
    fn unknown_terms() {
        for term in ["ISO_IR 999", "BIG5", "ISO 2022 IR", "LATIN1"] {
            assert_eq!(Term::parse(term), None, "{term}");
        }
    }

    #[test]
    fn chinese_variants() {
        assert_eq!(Term::parse("GB18030"), Some(Term::Whole(encoding_rs::GB18030)));
        assert_eq!(Term::parse("gb2312"), Some(Term::Whole(encoding_rs::GBK)));
        assert_eq!(Term::parse("ISO_IR 58"), Some(Term::Whole(encoding_rs::GBK)));
        assert_eq!(Term::parse("ISO 2022 IR 58"), Some(Term::Iso2022 { g0: None, g1: Some(G1::Gb2312) }));
    }
}
