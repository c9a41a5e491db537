//! What one institution's identity of a patient carries: the `(issuer,
//! PatientID)` it is known by, and the demographics matching compares.
//! Identities are kept as sent; linking groups them into persons.

use crate::id::{IdDigest, IdKind, valid_date};
use crate::name::PersonName;

/// Longest issuer or Patient ID (DICOM LO).
pub const MAX_ID_CHARS: usize = 64;
/// Longest address text compared.
pub const MAX_ADDRESS_CHARS: usize = 256;
/// Most identifier digests one identity may carry.
pub const MAX_DIGESTS: usize = 4;

/// Why an identity or one of its values was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// Issuer or Patient ID empty or longer than [`MAX_ID_CHARS`].
    #[error("issuer and patient id must be 1 to {MAX_ID_CHARS} characters")]
    BadKey,
    /// Name components longer than [`crate::name::MAX_PN_CHARS`] in all.
    #[error("person name too long")]
    NameTooLong,
    /// Address longer than [`MAX_ADDRESS_CHARS`].
    #[error("address longer than {MAX_ADDRESS_CHARS} characters")]
    AddressTooLong,
    /// More than [`MAX_DIGESTS`] identifier digests.
    #[error("more than {MAX_DIGESTS} identifier digests")]
    TooManyDigests,
    /// A phone digest given as an identifier or the other way round.
    #[error("digest of the wrong kind for this field")]
    WrongDigestKind,
    /// A DICOM DA value that is not a (possibly partial) date.
    #[error("birth date is not YYYYMMDD, YYYYMM or YYYY")]
    BadDate,
}

/// Patient's Sex (0010,0040).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Sex {
    /// `M`.
    Male,
    /// `F`.
    Female,
    /// `O`: compared as unknown.
    Other,
    /// Empty or anything else.
    #[default]
    Unknown,
}

impl Sex {
    /// From the DICOM code string (`M`, `F`, `O`; anything else is unknown).
    pub fn from_dicom(cs: &str) -> Sex {
        match cs.trim() {
            "M" | "m" => Sex::Male,
            "F" | "f" => Sex::Female,
            "O" | "o" => Sex::Other,
            _ => Sex::Unknown,
        }
    }

    pub(crate) fn known(self) -> Option<bool> {
        match self {
            Sex::Male => Some(true),
            Sex::Female => Some(false),
            _ => None,
        }
    }
}

/// A birth date, possibly partial (year only, year and month) or missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct BirthDate {
    /// Year, if known.
    pub year: Option<u16>,
    /// Month 1–12, only with a year.
    pub month: Option<u8>,
    /// Day 1–31, only with a month.
    pub day: Option<u8>,
}

impl BirthDate {
    /// Missing.
    pub const UNKNOWN: BirthDate = BirthDate { year: None, month: None, day: None };

    /// A full date; `None` when it is not a real date.
    pub fn ymd(year: u16, month: u8, day: u8) -> Option<BirthDate> {
        valid_date(year.into(), month.into(), day.into()).then_some(BirthDate { year: Some(year), month: Some(month), day: Some(day) })
    }

    /// From DICOM DA: `YYYYMMDD` (also `YYYY.MM.DD`), or partial `YYYYMM` /
    /// `YYYY`; empty is unknown.
    pub fn from_dicom(da: &str) -> Result<BirthDate, RecordError> {
        if da.len() > 16 {
            return Err(RecordError::BadDate);
        }
        let digits: String = da.trim().chars().filter(|c| *c != '.' && *c != '-').collect();
        if digits.is_empty() {
            return Ok(BirthDate::UNKNOWN);
        }
        if !digits.bytes().all(|c| c.is_ascii_digit()) || ![4, 6, 8].contains(&digits.len()) {
            return Err(RecordError::BadDate);
        }
        let year: u16 = digits[..4].parse().map_err(|_| RecordError::BadDate)?;
        if !(1800..=2200).contains(&year) {
            return Err(RecordError::BadDate);
        }
        let month: Option<u8> = digits.get(4..6).map(|m| m.parse().unwrap_or(0));
        let day: Option<u8> = digits.get(6..8).map(|d| d.parse().unwrap_or(0));
        match (month, day) {
            (None, _) => Ok(BirthDate { year: Some(year), month: None, day: None }),
            (Some(m), None) if (1..=12).contains(&m) => Ok(BirthDate { year: Some(year), month: Some(m), day: None }),
            (Some(m), Some(d)) => BirthDate::ymd(year, m, d).ok_or(RecordError::BadDate),
            _ => Err(RecordError::BadDate),
        }
    }

    /// Whether year, month and day are all known.
    pub fn is_full(&self) -> bool {
        self.day.is_some()
    }
}

/// One institution's identity of a patient. Its `Debug` shows the issuer
/// and which fields are present, never their values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// The institution that assigned the Patient ID.
    pub issuer: String,
    /// Patient ID (0010,0020) within the issuer.
    pub patient_id: String,
    /// Patient's Name (0010,0010).
    pub name: PersonName,
    /// Patient's Birth Date (0010,0030).
    pub birth_date: BirthDate,
    /// Patient's Sex (0010,0040).
    pub sex: Sex,
    /// Digests of national ID number and/or insurance code.
    pub id_digests: Vec<IdDigest>,
    /// Digest of the phone number.
    pub phone: Option<IdDigest>,
    /// Home address as free text.
    pub address: Option<String>,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("issuer", &self.issuer)
            .field("patient_id", &format_args!("<{} chars>", self.patient_id.chars().count()))
            .field("name", &self.name)
            .field(
                "birth_date",
                &format_args!(
                    "<{}>",
                    if self.birth_date.is_full() {
                        "full"
                    } else if self.birth_date.year.is_some() {
                        "partial"
                    } else {
                        "missing"
                    }
                ),
            )
            .field("sex", &self.sex)
            .field("id_digests", &self.id_digests.len())
            .field("phone", &self.phone.is_some())
            .field("address", &self.address.is_some())
            .finish()
    }
}

impl Identity {
    /// An identity with only its key set.
    pub fn new(issuer: &str, patient_id: &str) -> Identity {
        Identity { issuer: issuer.to_string(), patient_id: patient_id.to_string(), ..Identity::default() }
    }

    /// Check the bounds the matcher relies on.
    pub fn validate(&self) -> Result<(), RecordError> {
        let key_ok = |s: &str| !s.is_empty() && s.chars().count() <= MAX_ID_CHARS;
        if !key_ok(&self.issuer) || !key_ok(&self.patient_id) {
            return Err(RecordError::BadKey);
        }
        let name_chars: usize = [&self.name.alphabetic, &self.name.ideographic, &self.name.phonetic]
            .iter()
            .map(|g| g.family.chars().count() + g.given.chars().count())
            .sum();
        if name_chars > crate::name::MAX_PN_CHARS {
            return Err(RecordError::NameTooLong);
        }
        if self.address.as_ref().is_some_and(|a| a.chars().count() > MAX_ADDRESS_CHARS) {
            return Err(RecordError::AddressTooLong);
        }
        if self.id_digests.len() > MAX_DIGESTS {
            return Err(RecordError::TooManyDigests);
        }
        if self.id_digests.iter().any(|d| d.kind() == IdKind::Phone) || self.phone.is_some_and(|p| p.kind() != IdKind::Phone) {
            return Err(RecordError::WrongDigestKind);
        }
        Ok(())
    }
}
