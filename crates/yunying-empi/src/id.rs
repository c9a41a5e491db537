//! Identifiers that link deterministically: the resident identity card number
//! (身份证号, GB 11643-1999), the 26-digit medical-insurance person code, and
//! the mobile phone number, each validated and turned into a keyed digest
//! (`HMAC-SM3(platform key, kind || normalised value)`) that matching uses.
//!
//! The numbers are personal information: no type here prints one. `Debug`
//! shows the masked form, there is no `Display`, and `reveal` exists only so
//! the caller can encrypt the value at rest.

use hmac::{Hmac, Mac};
use sm3::Sm3;
use std::fmt;

/// Longest input any parser here looks at; longer text is refused unread.
const MAX_INPUT: usize = 64;

/// Why an identifier was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The input is longer than any identifier can be.
    #[error("identifier input longer than {MAX_INPUT} bytes")]
    TooLong,
    /// Wrong number of characters after normalisation.
    #[error("identifier has {found} characters, expected {expected}")]
    WrongLength {
        /// Characters the identifier has.
        expected: usize,
        /// Characters found.
        found: usize,
    },
    /// A character that the identifier may not contain at that place.
    #[error("identifier contains a character not allowed at position {position}")]
    BadCharacter {
        /// Zero-based character position.
        position: usize,
    },
    /// The GB 11643-1999 check character does not match.
    #[error("national ID check character does not match")]
    BadChecksum,
    /// The birth date inside the national ID is not a real date.
    #[error("national ID carries an impossible birth date")]
    BadBirthDate,
    /// The platform key is too short to be a key.
    #[error("platform key must be at least 16 bytes")]
    WeakKey,
}

/// What kind of value a digest was made from; part of the HMAC input, so the
/// same digits as a national ID and as a phone number never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdKind {
    /// 身份证号.
    NationalId,
    /// 医保个人编码.
    InsuranceCode,
    /// Mobile phone number.
    Phone,
}

impl IdKind {
    fn tag(self) -> &'static [u8] {
        match self {
            IdKind::NationalId => b"yunying-empi/national-id\0",
            IdKind::InsuranceCode => b"yunying-empi/insurance-code\0",
            IdKind::Phone => b"yunying-empi/phone\0",
        }
    }
}

/// The platform's secret for identifier digests (at least 16 bytes).
#[derive(Clone)]
pub struct PlatformKey(Vec<u8>);

impl PlatformKey {
    /// A key from secret bytes; refused when shorter than 16 bytes.
    pub fn new(bytes: &[u8]) -> Result<Self, IdError> {
        if bytes.len() < 16 {
            return Err(IdError::WeakKey);
        }
        Ok(PlatformKey(bytes.to_vec()))
    }

    /// `HMAC-SM3(key, kind tag || value)` of an already normalised value.
    fn digest(&self, kind: IdKind, value: &str) -> IdDigest {
        let mut mac = <Hmac<Sm3> as Mac>::new_from_slice(&self.0).expect("HMAC takes keys of any length");
        mac.update(kind.tag());
        mac.update(value.as_bytes());
        IdDigest { kind, bytes: mac.finalize().into_bytes().into() }
    }
}

impl fmt::Debug for PlatformKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlatformKey(..)")
    }
}

/// A keyed digest of one identifier: what deterministic matching compares.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdDigest {
    kind: IdKind,
    bytes: [u8; 32],
}

impl IdDigest {
    /// The kind of identifier it was made from.
    pub fn kind(&self) -> IdKind {
        self.kind
    }

    /// The 32 digest bytes (for storage as an exact-match key).
    pub fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// A digest as stored earlier (kind and bytes).
    pub fn from_parts(kind: IdKind, bytes: [u8; 32]) -> Self {
        IdDigest { kind, bytes }
    }
}

impl fmt::Debug for IdDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IdDigest({:?}, ", self.kind)?;
        for b in &self.bytes[..6] {
            write!(f, "{b:02x}")?;
        }
        f.write_str("…)")
    }
}

/// A validated 18-character resident identity card number.
#[derive(Clone, PartialEq, Eq)]
pub struct NationalId(String);

/// GB 11643-1999 weights `2^(17-i) mod 11` for the first 17 digits.
const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
/// Check character for `sum mod 11`.
const CHECK: [u8; 11] = *b"10X98765432";

impl NationalId {
    /// Parse and validate: 18 characters once spaces are removed, 17 digits,
    /// a check character (digit or `X`, either case) that satisfies ISO 7064
    /// MOD 11-2, a region code not starting with 0 and a real birth date.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let s = normalise(input, |c| c.to_ascii_uppercase())?;
        if s.len() != 18 {
            return Err(IdError::WrongLength { expected: 18, found: s.chars().count() });
        }
        let b = s.as_bytes();
        if let Some(position) = b[..17].iter().position(|c| !c.is_ascii_digit()) {
            return Err(IdError::BadCharacter { position });
        }
        if !(b[17].is_ascii_digit() || b[17] == b'X') {
            return Err(IdError::BadCharacter { position: 17 });
        }
        if b[0] == b'0' {
            return Err(IdError::BadCharacter { position: 0 });
        }
        if check_character(&b[..17]) != b[17] {
            return Err(IdError::BadChecksum);
        }
        let (y, m, d) = (num(&b[6..10]), num(&b[10..12]), num(&b[12..14]));
        if !(1870..=2200).contains(&y) || !valid_date(y, m, d) {
            return Err(IdError::BadBirthDate);
        }
        Ok(NationalId(s))
    }

    /// Birth date written in the number: (year, month, day).
    pub fn birth_date(&self) -> (u16, u8, u8) {
        let b = self.0.as_bytes();
        (num(&b[6..10]) as u16, num(&b[10..12]) as u8, num(&b[12..14]) as u8)
    }

    /// Whether the sequence digit (17th) says male (odd) or female (even).
    pub fn is_male(&self) -> bool {
        (self.0.as_bytes()[16] - b'0') % 2 == 1
    }

    /// Shown to people: first 4 and last 4 characters, e.g. `1101**********123X`.
    pub fn masked(&self) -> String {
        mask(&self.0, 4, 4)
    }

    /// The keyed digest used for matching.
    pub fn digest(&self, key: &PlatformKey) -> IdDigest {
        key.digest(IdKind::NationalId, &self.0)
    }

    /// The number itself, for the caller to encrypt at rest. Never log it.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NationalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NationalId({})", self.masked())
    }
}

/// The check character for the first 17 digits of a national ID.
pub fn check_character(first17: &[u8]) -> u8 {
    let sum: u32 = first17.iter().zip(WEIGHTS).map(|(c, w)| u32::from(c - b'0') * w).sum();
    CHECK[(sum % 11) as usize]
}

/// A validated 26-digit medical-insurance person code.
#[derive(Clone, PartialEq, Eq)]
pub struct InsuranceCode(String);

impl InsuranceCode {
    /// Parse: spaces and hyphens are dropped, then exactly 26 ASCII digits.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let s = normalise(input, |c| c)?;
        if let Some(position) = s.bytes().position(|c| !c.is_ascii_digit()) {
            return Err(IdError::BadCharacter { position });
        }
        if s.len() != 26 {
            return Err(IdError::WrongLength { expected: 26, found: s.len() });
        }
        Ok(InsuranceCode(s))
    }

    /// Shown to people: first 4 and last 4 digits.
    pub fn masked(&self) -> String {
        mask(&self.0, 4, 4)
    }

    /// The keyed digest used for matching.
    pub fn digest(&self, key: &PlatformKey) -> IdDigest {
        key.digest(IdKind::InsuranceCode, &self.0)
    }

    /// The code itself, for the caller to encrypt at rest. Never log it.
    pub fn reveal(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for InsuranceCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InsuranceCode({})", self.masked())
    }
}

/// A mainland mobile number (11 digits starting with 1), used only as a digest.
#[derive(Clone, PartialEq, Eq)]
pub struct Phone(String);

impl Phone {
    /// Parse: spaces, hyphens and a `+86` / `0086` prefix are dropped, then
    /// 11 digits starting with `1`.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let s = normalise(input, |c| c)?;
        let s = s.strip_prefix("+86").or_else(|| s.strip_prefix("0086")).unwrap_or(&s);
        if let Some(position) = s.bytes().position(|c| !c.is_ascii_digit()) {
            return Err(IdError::BadCharacter { position });
        }
        if s.len() != 11 {
            return Err(IdError::WrongLength { expected: 11, found: s.len() });
        }
        if !s.starts_with('1') {
            return Err(IdError::BadCharacter { position: 0 });
        }
        Ok(Phone(s.to_string()))
    }

    /// Shown to people: `138****5678`.
    pub fn masked(&self) -> String {
        mask(&self.0, 3, 4)
    }

    /// The keyed digest used for matching.
    pub fn digest(&self, key: &PlatformKey) -> IdDigest {
        key.digest(IdKind::Phone, &self.0)
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

/// Bounded, whitespace and hyphen free, mapped per character.
fn normalise(input: &str, map: impl Fn(char) -> char) -> Result<String, IdError> {
    if input.len() > MAX_INPUT {
        return Err(IdError::TooLong);
    }
    Ok(input.chars().filter(|c| !c.is_whitespace() && *c != '-').map(map).collect())
}

fn mask(s: &str, head: usize, tail: usize) -> String {
    let n = s.len();
    format!("{}{}{}", &s[..head], "*".repeat(n - head - tail), &s[n - tail..])
}

fn num(digits: &[u8]) -> u32 {
    digits.iter().fold(0, |acc, c| acc * 10 + u32::from(c - b'0'))
}

/// Whether year-month-day is a date of the Gregorian calendar.
pub(crate) fn valid_date(y: u32, m: u32, d: u32) -> bool {
    let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&d)
}
