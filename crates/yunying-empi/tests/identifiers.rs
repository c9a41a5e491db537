//! National ID, insurance code and phone: validation, digests, masking.

use yunying_empi::{IdError, IdKind, InsuranceCode, NationalId, Phone, PlatformKey};

/// The example number of GB 11643-1999 itself (Beijing Chaoyang, born
/// 1949-12-31, check character X).
const VALID: &str = "11010519491231002X";

fn key(b: u8) -> PlatformKey {
    PlatformKey::new(&[b; 32]).unwrap()
}

#[test]
fn national_id_with_its_check_character_is_accepted() {
    let id = NationalId::parse(VALID).unwrap();
    assert_eq!(id.birth_date(), (1949, 12, 31));
    assert!(!id.is_male(), "17th digit 2 is even: female");
    // Lower-case x and spaces are normalised.
    assert_eq!(NationalId::parse("110105 19491231 002x").unwrap(), id);
}

#[test]
fn national_id_one_digit_off_fails_the_checksum() {
    // Change the 17th digit: the check character no longer matches.
    assert_eq!(NationalId::parse("11010519491231003X"), Err(IdError::BadChecksum));
    // Change the check character itself.
    assert_eq!(NationalId::parse("110105194912310021"), Err(IdError::BadChecksum));
}

#[test]
fn national_id_refuses_bad_shapes_and_dates() {
    assert!(matches!(NationalId::parse("11010519491231002"), Err(IdError::WrongLength { expected: 18, found: 17 })));
    assert!(matches!(NationalId::parse("1101051949123100AX"), Err(IdError::BadCharacter { position: 16 })));
    assert_eq!(NationalId::parse(&"1".repeat(100)), Err(IdError::TooLong));
    // 1949-02-30 with a correct check character is still refused.
    let first17 = b"11010519490230002";
    let check = yunying_empi::id::check_character(first17) as char;
    let bad_date = format!("{}{check}", std::str::from_utf8(first17).unwrap());
    assert_eq!(NationalId::parse(&bad_date), Err(IdError::BadBirthDate));
}

#[test]
fn identifiers_are_shown_masked_and_never_debugged_raw() {
    let id = NationalId::parse(VALID).unwrap();
    assert_eq!(id.masked(), "1101**********002X");
    let debug = format!("{id:?}");
    assert!(!debug.contains(VALID) && debug.contains("1101**********002X"), "{debug}");
    let phone = Phone::parse("+86 138-1234-5678").unwrap();
    assert_eq!(phone.masked(), "138****5678");
    assert!(!format!("{phone:?}").contains("13812345678"));
    let code = InsuranceCode::parse("1201 0100 0000 0000 0012 3456 78").unwrap();
    assert_eq!(code.masked(), "1201******************5678");
    assert!(!format!("{code:?}").contains("12010100000000000012345678"));
    let digest = id.digest(&key(1));
    assert!(format!("{digest:?}").len() < 40, "a digest's Debug is short, never the number");
}

#[test]
fn insurance_code_is_26_digits() {
    assert!(InsuranceCode::parse("12010100000000000012345678").is_ok());
    assert!(matches!(InsuranceCode::parse("1201010000000000001234567"), Err(IdError::WrongLength { expected: 26, found: 25 })));
    assert!(matches!(InsuranceCode::parse("1201010000000000001234567A"), Err(IdError::BadCharacter { position: 25 })));
}

#[test]
fn digest_depends_on_platform_key_and_kind() {
    let id = NationalId::parse(VALID).unwrap();
    assert_eq!(id.digest(&key(1)), id.digest(&key(1)));
    assert_ne!(id.digest(&key(1)), id.digest(&key(2)), "another platform key, another digest");
    assert_eq!(id.digest(&key(1)).kind(), IdKind::NationalId);
    // The same digits as a different kind never collide.
    let phone = Phone::parse("13812345678").unwrap();
    let code = InsuranceCode::parse("00000000000000013812345678").unwrap();
    assert_ne!(phone.digest(&key(1)).bytes(), code.digest(&key(1)).bytes());
    assert_eq!(PlatformKey::new(b"short").unwrap_err(), IdError::WeakKey);
}
