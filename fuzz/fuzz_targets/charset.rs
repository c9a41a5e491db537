//! The character-set decoder: a Specific Character Set value (up to the
//! first NUL) and text decoded under it, as text and as person names,
//! single- and multi-valued, with and without a fallback for undeclared
//! bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yunying_charset::{SpecificCharacterSet, TextKind, decode_undeclared};

fuzz_target!(|bytes: &[u8]| {
    let (declared, text) = match bytes.iter().position(|&b| b == 0) {
        Some(at) => (&bytes[..at], &bytes[at + 1..]),
        None => (&b"ISO 2022 IR 6\\ISO 2022 IR 58"[..], bytes),
    };
    let set = SpecificCharacterSet::parse(declared);
    let gb18030 = Some(encoding_rs::GB18030);
    for fallback in [None, gb18030] {
        for kind in [TextKind::Text, TextKind::PersonName] {
            let one = set.decode_as(text, kind, fallback);
            let many = set.decode_multi_as(text, kind, fallback);
            // The values are the decoded text split at backslashes: each is
            // a piece of the whole, none is invented.
            for value in &many {
                assert!(one.contains(value.as_str()), "value {value:?} is not in {one:?}");
            }
        }
        let _ = decode_undeclared(text, fallback);
    }
});
