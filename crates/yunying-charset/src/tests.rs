//! Tests of the public API with byte sequences built from `encoding_rs`
//! encoders or copied from the PS3.5 annexes.

use super::*;

fn cs(raw: &str) -> SpecificCharacterSet {
    SpecificCharacterSet::parse(raw.as_bytes())
}

fn encode(encoding: &'static Encoding, text: &str) -> Vec<u8> {
    let (bytes, _, errors) = encoding.encode(text);
    assert!(!errors, "{text} is not encodable in {}", encoding.name());
    bytes.into_owned()
}

/// Concatenates byte fragments.
fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// 7-bit JIS X 0208 bytes of `text` (EUC-JP with the high bits stripped).
fn jis(text: &str) -> Vec<u8> {
    encode(encoding_rs::EUC_JP, text).iter().map(|b| b & 0x7F).collect()
}

// ---------------------------------------------------------------- parsing

#[test]
fn parse_splits_and_trims_values() {
    let parsed = SpecificCharacterSet::parse(b"\\ISO 2022 IR 58 ");
    assert_eq!(parsed.values(), ["", "ISO 2022 IR 58"]);
    assert!(parsed.is_fully_known());
    assert!(!parsed.is_default_repertoire());

    let parsed = SpecificCharacterSet::parse(b" ISO 2022 IR 100 \\ ISO 2022 IR 58\0");
    assert_eq!(parsed.values(), ["ISO 2022 IR 100", "ISO 2022 IR 58"]);
}

#[test]
fn empty_value_is_default_repertoire() {
    for raw in [&b""[..], b" ", b"\0", b"  \0"] {
        let parsed = SpecificCharacterSet::parse(raw);
        assert_eq!(parsed, SpecificCharacterSet::default_repertoire());
        assert!(parsed.is_default_repertoire());
        assert!(parsed.is_fully_known());
    }
    assert_eq!(SpecificCharacterSet::default(), SpecificCharacterSet::default_repertoire());
}

#[test]
fn unknown_terms_are_kept_and_reported() {
    let parsed = cs("ISO_IR 100\\FOO 1");
    assert_eq!(parsed.values(), ["ISO_IR 100", "FOO 1"]);
    assert!(!parsed.is_fully_known());
    assert!(!cs("BIG-5").is_fully_known());
    assert!(cs("GB18030").is_fully_known());
    assert!(cs("ISO_IR 192").is_fully_known());
}

#[test]
fn encoding_for_configured_names() {
    assert_eq!(encoding_for_term("GBK"), Some(encoding_rs::GBK));
    assert_eq!(encoding_for_term(" GB18030 "), Some(encoding_rs::GB18030));
    assert_eq!(encoding_for_term("ISO_IR 192"), Some(encoding_rs::UTF_8));
    assert_eq!(encoding_for_term("ISO 2022 IR 58"), Some(encoding_rs::GBK));
    assert_eq!(encoding_for_term("ISO 2022 IR 149"), Some(encoding_rs::EUC_KR));
    assert_eq!(encoding_for_term("ISO_IR 100"), Some(encoding_rs::WINDOWS_1252));
    assert_eq!(encoding_for_term("ISO_IR 144"), Some(encoding_rs::ISO_8859_5));
    assert_eq!(encoding_for_term("big5"), Some(encoding_rs::BIG5));
    assert_eq!(encoding_for_term("shift_jis"), Some(encoding_rs::SHIFT_JIS));
    assert_eq!(encoding_for_term("ISO_IR 6"), None);
    assert_eq!(encoding_for_term("ISO 2022 IR 87"), None);
    assert_eq!(encoding_for_term("hz-gb-2312"), None);
    assert_eq!(encoding_for_term("nonsense"), None);
}

// ------------------------------------------------- single-valued encodings

#[test]
fn utf8_gb18030_gbk() {
    let text = "王小东^患者 ✓ 𠀀";
    assert_eq!(cs("ISO_IR 192").decode(text.as_bytes(), None), text);
    assert_eq!(cs("GB18030").decode(&encode(encoding_rs::GB18030, text), None), text);
    let gbk_text = "王小东^胸部CT平扫";
    assert_eq!(cs("GBK").decode(&encode(encoding_rs::GBK, gbk_text), None), gbk_text);
    assert_eq!(cs("GB2312").decode(&encode(encoding_rs::GBK, gbk_text), None), gbk_text);
}

#[test]
fn declared_utf8_that_is_gbk_is_rescued() {
    let bytes = encode(encoding_rs::GBK, "李四");
    assert!(std::str::from_utf8(&bytes).is_err());
    assert_eq!(cs("ISO_IR 192").decode(&bytes, None), "李四");
}

#[test]
fn latin1_is_exact_including_c1() {
    let bytes: Vec<u8> = (0x20u8..=0xFF).filter(|&b| b != b'\\').collect();
    let expected: String = bytes.iter().map(|&b| char::from(b)).collect();
    assert_eq!(cs("ISO_IR 100").decode(&bytes, None), expected);
    assert_eq!(cs("ISO_IR 100").decode(b"M\xfcller^Ren\xe9", None), "Müller^René");
    // windows-1252 would give '€' here.
    assert_eq!(cs("ISO_IR 100").decode(b"\x80", None), "\u{80}");
}

#[test]
fn iso_8859_family_and_thai() {
    let cases: [(&str, &'static Encoding, &str); 10] = [
        ("ISO_IR 101", encoding_rs::ISO_8859_2, "Dvořák^Łukasz Źdźbło"),
        ("ISO_IR 109", encoding_rs::ISO_8859_3, "Ħaġar^Ġużeppi"),
        ("ISO_IR 110", encoding_rs::ISO_8859_4, "Ķēniņš^Ūdris"),
        ("ISO_IR 144", encoding_rs::ISO_8859_5, "Иванов^Пётр"),
        ("ISO_IR 127", encoding_rs::ISO_8859_6, "قباني^لنزار"),
        ("ISO_IR 126", encoding_rs::ISO_8859_7, "Διονυσιος"),
        ("ISO_IR 138", encoding_rs::ISO_8859_8, "שרון^דבורה"),
        ("ISO_IR 148", encoding_rs::WINDOWS_1254, "Öztürk^Ağış Şeyma"),
        ("ISO_IR 203", encoding_rs::ISO_8859_15, "Œuvre 5€"),
        ("ISO_IR 166", encoding_rs::WINDOWS_874, "นามสกุล^ชื่อ"),
    ];
    for (term, encoding, text) in cases {
        let bytes = encode(encoding, text);
        assert_eq!(cs(term).decode(&bytes, None), text, "{term}");
        let extended = term.replace("ISO_IR", "ISO 2022 IR");
        assert_eq!(cs(&extended).decode(&bytes, None), text, "{extended}");
    }
}

#[test]
fn jis_x_0201_single_byte() {
    // PS3.5 H.3.2 first component group: ﾔﾏﾀﾞ^ﾀﾛｳ
    assert_eq!(cs("ISO_IR 13").decode(b"\xd4\xcf\xc0\xde^\xc0\xdb\xb3", None), "ﾔﾏﾀﾞ^ﾀﾛｳ");
}

// ------------------------------------------------------ ISO 2022 examples

/// The bytes of the brief's example, checked against the GBK encoder.
#[test]
fn chinese_person_name_iso_2022_ir_58() {
    let (zhang, xiao_dong) = (encode(encoding_rs::GBK, "张"), encode(encoding_rs::GBK, "小东"));
    let built = cat(&[b"Zhang^XiaoDong=\x1b$)A", &zhang, b"^\x1b$)A", &xiao_dong, b"="]);
    let literal = b"Zhang^XiaoDong=\x1b$)A\xd5\xc5^\x1b$)A\xd0\xa1\xb6\xab=";
    assert_eq!(built, literal);

    let charset = cs("\\ISO 2022 IR 58");
    assert_eq!(charset.decode(literal, None), "Zhang^XiaoDong=张^小东=");
    assert_eq!(charset.decode_as(literal, TextKind::PersonName, None), "Zhang^XiaoDong=张^小东=");
    // Without repeating the escape after '^' (PN reset: G1 back to GB2312 default).
    let terse = cat(&[b"Zhang^XiaoDong=\x1b$)A", &zhang, b"^", &xiao_dong, b"= "]);
    assert_eq!(charset.decode_as(&terse, TextKind::PersonName, None), "Zhang^XiaoDong=张^小东=");
}

#[test]
fn chinese_with_latin1_first_value() {
    let charset = cs("ISO 2022 IR 100\\ISO 2022 IR 58");
    let name = encode(encoding_rs::GBK, "王");
    let bytes = cat(&[b"Ren\xe9^Wang=\x1b$)A", &name, b"\x1b-A^\xe9"]);
    assert_eq!(charset.decode_as(&bytes, TextKind::PersonName, None), "René^Wang=王^é");
}

/// PS3.5 H.3.1: Specific Character Set `\ISO 2022 IR 87`.
#[test]
fn japanese_person_name_ir_87() {
    let built = cat(&[
        b"Yamada^Tarou=\x1b$B",
        &jis("山田"),
        b"\x1b(B^\x1b$B",
        &jis("太郎"),
        b"\x1b(B=\x1b$B",
        &jis("やまだ"),
        b"\x1b(B^\x1b$B",
        &jis("たろう"),
        b"\x1b(B",
    ]);
    let annex = b"Yamada^Tarou=\x1b$B;3ED\x1b(B^\x1b$BB@O:\x1b(B=\x1b$B$d$^$@\x1b(B^\x1b$B$?$m$&\x1b(B";
    assert_eq!(built, annex);
    let expected = "Yamada^Tarou=山田^太郎=やまだ^たろう";
    for charset in ["\\ISO 2022 IR 87", "ISO 2022 IR 6\\ISO 2022 IR 87"] {
        assert_eq!(cs(charset).decode(annex, None), expected, "{charset}");
        assert_eq!(cs(charset).decode_as(annex, TextKind::PersonName, None), expected);
    }
}

/// PS3.5 H.3.2: `ISO 2022 IR 13\ISO 2022 IR 87`.
#[test]
fn japanese_person_name_ir_13_and_87() {
    let annex = b"\xd4\xcf\xc0\xde^\xc0\xdb\xb3=\x1b$B;3ED\x1b(J^\x1b$BB@O:\x1b(J=\x1b$B$d$^$@\x1b(J^\x1b$B$?$m$&\x1b(J";
    let charset = cs("ISO 2022 IR 13\\ISO 2022 IR 87");
    let expected = "ﾔﾏﾀﾞ^ﾀﾛｳ=山田^太郎=やまだ^たろう";
    assert_eq!(charset.decode_as(annex, TextKind::PersonName, None), expected);
}

/// PS3.5 Annex I: `\ISO 2022 IR 149`.
#[test]
fn korean_person_name_ir_149() {
    let kr = |text| encode(encoding_rs::EUC_KR, text);
    let built = cat(&[b"Hong^Gildong=\x1b$)C", &kr("洪"), b"^\x1b$)C", &kr("吉洞"), b"=\x1b$)C", &kr("홍"), b"^\x1b$)C", &kr("길동")]);
    let annex = b"Hong^Gildong=\x1b$)C\xfb\xf3^\x1b$)C\xd1\xce\xd4\xd7=\x1b$)C\xc8\xab^\x1b$)C\xb1\xe6\xb5\xbf";
    assert_eq!(built, annex);
    let expected = "Hong^Gildong=洪^吉洞=홍^길동";
    assert_eq!(cs("\\ISO 2022 IR 149").decode(annex, None), expected);
    assert_eq!(cs("ISO 2022 IR 149").decode(annex, None), expected);
}

// ------------------------------------------------ undeclared and unknown

#[test]
fn undeclared_heuristic() {
    let none = SpecificCharacterSet::default_repertoire();
    assert_eq!(none.decode(b"DOE^JOHN", None), "DOE^JOHN");
    assert_eq!(none.decode(b"DOE^JOHN", Some(encoding_rs::GBK)), "DOE^JOHN");
    let gbk = encode(encoding_rs::GBK, "陈^静");
    assert_eq!(none.decode(&gbk, Some(encoding_rs::GBK)), "陈^静");
    assert_eq!(none.decode(&gbk, None), "陈^静", "GB18030 guess");
    assert_eq!(none.decode("陈^静".as_bytes(), None), "陈^静", "valid UTF-8");
    // The configured fallback wins over the UTF-8 guess.
    let big5 = encode(encoding_rs::BIG5, "陳");
    assert_eq!(none.decode(&big5, Some(encoding_rs::BIG5)), "陳");
    // Escape sequences are honoured even without a declaration.
    assert_eq!(none.decode(b"A\x1b$)A\xd5\xc5", None), "A张");
}

#[test]
fn unknown_declared_term_is_best_effort() {
    let unknown = cs("ISO_IR 999");
    assert_eq!(unknown.decode("李^雷".as_bytes(), None), "李^雷");
    assert_eq!(unknown.decode(&encode(encoding_rs::GBK, "李^雷"), None), "李^雷");
    assert_eq!(unknown.decode(&encode(encoding_rs::EUC_KR, "홍"), Some(encoding_rs::EUC_KR)), "홍");
}

// --------------------------------------------- multi-valued and padding

/// A CJK character whose GBK encoding ends in 0x5C ('\').
fn char_with_backslash_trail() -> (char, Vec<u8>) {
    ('\u{4E00}'..='\u{9FFF}')
        .find_map(|c| {
            let text = c.to_string();
            let (bytes, _, errors) = encoding_rs::GBK.encode(&text);
            (!errors && bytes.len() == 2 && bytes[1] == b'\\').then(|| (c, bytes.into_owned()))
        })
        .expect("GBK has trail bytes 0x40-0x7E")
}

#[test]
fn backslash_trail_byte_never_splits_a_value() {
    let (c, encoded) = char_with_backslash_trail();
    let bytes = cat(&[b"A", &encoded, b"B\\", &encoded, b"\\C "]);
    let expected = vec![format!("A{c}B"), c.to_string(), "C".to_owned()];
    for charset in ["GBK", "GB18030"] {
        assert_eq!(cs(charset).decode_multi(&bytes, None), expected, "{charset}");
    }
    let none = SpecificCharacterSet::default_repertoire();
    assert_eq!(none.decode_multi(&bytes, None), expected);
    assert_eq!(none.decode_multi(&bytes, Some(encoding_rs::GBK)), expected);
    let escaped = cat(&[b"A\x1b$)A", &encoded, b"B\\\x1b$)A", &encoded, b"\\C "]);
    assert_eq!(cs("\\ISO 2022 IR 58").decode_multi(&escaped, None), expected);
}

#[test]
fn padding_is_trimmed() {
    let latin1 = cs("ISO_IR 100");
    assert_eq!(latin1.decode(b"CHEST \0", None), "CHEST");
    assert_eq!(latin1.decode(b" CHEST  ", None), " CHEST");
    assert_eq!(latin1.decode_multi(b"A \\B\0\\ C ", None), ["A", "B", " C"]);
    assert_eq!(latin1.decode_multi(b"A\\\\", None), ["A", "", ""]);
    assert!(latin1.decode_multi(b"", None).is_empty());
    assert!(latin1.decode_multi(b"  ", None).is_empty());
    let gbk = cs("GB18030");
    let bytes = cat(&[&encode(encoding_rs::GB18030, "头部"), b" \\", &encode(encoding_rs::GB18030, "胸部"), b"\0"]);
    assert_eq!(gbk.decode_multi(&bytes, None), ["头部", "胸部"]);
}

#[test]
fn person_name_multi_values() {
    let charset = cs("\\ISO 2022 IR 58");
    let bytes = cat(&[b"Li^Lei=\x1b$)A", &encode(encoding_rs::GBK, "李^雷"), b"\\Han^Meimei "]);
    let values = charset.decode_multi_as(&bytes, TextKind::PersonName, None);
    assert_eq!(values, ["Li^Lei=李^雷", "Han^Meimei"]);
}

// ---------------------------------------------------------------- fuzzing

/// Deterministic xorshift64 generator.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A byte biased towards the interesting ones (escape syntax, delimiters, lead bytes).
    fn byte(&mut self) -> u8 {
        const SPECIAL: &[u8] = b"\x1b$()-ABCDIJ\\^= \0\r\n\x5c\x80\xa1\xd5\xfe\xff\x81\x30";
        let r = self.next();
        if r.is_multiple_of(3) { SPECIAL[(r >> 8) as usize % SPECIAL.len()] } else { (r >> 16) as u8 }
    }
}

#[test]
fn garbage_never_panics() {
    let charsets: Vec<SpecificCharacterSet> = [
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
        "\\ISO 2022 IR 58",
        "\\ISO 2022 IR 149",
        "\\ISO 2022 IR 87",
        "ISO 2022 IR 6\\ISO 2022 IR 87\\ISO 2022 IR 159",
        "ISO 2022 IR 13\\ISO 2022 IR 87",
        "ISO 2022 IR 100\\ISO 2022 IR 58",
        "ISO 2022 IR 166",
        "UNKNOWN",
        "ISO 2022 IR 999\\ISO 2022 IR 58",
    ]
    .iter()
    .map(|raw| cs(raw))
    .collect();
    let fallbacks = [None, Some(encoding_rs::GBK), Some(encoding_rs::UTF_16BE), Some(encoding_rs::ISO_2022_JP)];
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for case in 0..10_000 {
        let len = (rng.next() % 48) as usize;
        let bytes: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
        let fallback = fallbacks[case % fallbacks.len()];
        for charset in &charsets {
            let whole = charset.decode(&bytes, fallback);
            assert!(!whole.ends_with([' ', '\0']));
            let kind = if case % 2 == 0 { TextKind::Text } else { TextKind::PersonName };
            for value in charset.decode_multi_as(&bytes, kind, fallback) {
                assert!(!value.contains('\\') && !value.ends_with([' ', '\0']));
            }
        }
    }
}
