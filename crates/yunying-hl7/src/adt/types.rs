//! The HL7 data types a patient is made of: CX identifiers, XPN names,
//! XAD addresses, XTN phones, HD designators, the birth date and sex,
//! each read from one repetition of a field.

use crate::error::AdtError;
use crate::parse::{Component, Field, Repetition};

/// HD: a hierarchic designator (an application, facility or assigning
/// authority): namespace ID, universal ID and its type.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Designator {
    /// HD.1, a local name (`HOSP`, `某某医院`).
    pub namespace_id: String,
    /// HD.2, a universal ID such as an OID.
    pub universal_id: String,
    /// HD.3, the universal ID's type (`ISO`, `DNS`, …).
    pub universal_id_type: String,
}

impl Designator {
    /// An HD held as the components of a field (MSH-3 to MSH-6).
    pub(crate) fn from_components(r: &Repetition<'_>) -> Designator {
        Designator { namespace_id: r.value(1), universal_id: r.value(2), universal_id_type: r.value(3) }
    }

    /// An HD held as the subcomponents of one component (CX-4, CX-6).
    pub(crate) fn from_subcomponents(c: &Component<'_>) -> Designator {
        Designator { namespace_id: c.sub(1), universal_id: c.sub(2), universal_id_type: c.sub(3) }
    }

    /// Whether nothing was sent.
    pub fn is_empty(&self) -> bool {
        self.namespace_id.is_empty() && self.universal_id.is_empty() && self.universal_id_type.is_empty()
    }
}

/// What an identifier is, from its type code (CX-5, HL7 table 0203).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentifierKind {
    /// `PI`: the sender's internal patient identifier.
    PatientInternal,
    /// `MR`: a medical record number.
    MedicalRecord,
    /// `NNxxx` (with the ISO 3166 country, such as `NNCHN` for a 居民身份证
    /// number) or `NI`: a national person identifier.
    National {
        /// The country of `NNxxx`; `None` for `NI`.
        country: Option<String>,
    },
    /// `SS`, `HC`, `JHN`, `MC`, `MA`: a social security, health card or
    /// insurance number (医保/社保卡号).
    Insurance,
    /// `PPN`: a passport number.
    Passport,
    /// Any other code, or none (the raw code is on the identifier).
    Other,
}

impl IdentifierKind {
    /// The kind of a CX-5 identifier type code.
    pub fn from_code(code: &str) -> IdentifierKind {
        match code {
            "PI" => IdentifierKind::PatientInternal,
            "MR" => IdentifierKind::MedicalRecord,
            "NI" => IdentifierKind::National { country: None },
            "SS" | "HC" | "JHN" | "MC" | "MA" => IdentifierKind::Insurance,
            "PPN" => IdentifierKind::Passport,
            _ => match code.strip_prefix("NN") {
                Some(country) if country.len() == 3 && country.bytes().all(|b| b.is_ascii_uppercase()) => {
                    IdentifierKind::National { country: Some(country.to_string()) }
                }
                _ => IdentifierKind::Other,
            },
        }
    }
}

/// CX: one patient identifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identifier {
    /// CX-1, the ID itself.
    pub id: String,
    /// CX-4, who issued it.
    pub authority: Designator,
    /// CX-5 as sent (`PI`, `MR`, `NNCHN`, `SS`, …).
    pub type_code: String,
    /// CX-5 read.
    pub kind: IdentifierKind,
    /// CX-6, the facility where it was assigned.
    pub facility: Designator,
}

/// Every identifier of a CX list (PID-3, MRG-1); repetitions without an
/// ID (or with the HL7 null `""`) are left out.
pub(crate) fn identifiers(field: Field<'_>) -> Vec<Identifier> {
    field
        .repetitions()
        .filter_map(|r| {
            let id = not_null(r.value(1));
            if id.is_empty() {
                return None;
            }
            let type_code = r.value(5);
            Some(Identifier {
                id,
                authority: Designator::from_subcomponents(&r.component(4)),
                kind: IdentifierKind::from_code(&type_code),
                type_code,
                facility: Designator::from_subcomponents(&r.component(6)),
            })
        })
        .collect()
}

/// How a name is written (XPN-8, HL7 table 4000; inferred from the text
/// when not sent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRepresentation {
    /// `A`, or not sent and without Han characters: Latin letters (Pinyin).
    Alphabetic,
    /// `I`, or not sent and with Han characters: Hanzi.
    Ideographic,
    /// `P`: phonetic (kana, bopomofo).
    Phonetic,
}

/// XPN: one person name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonName {
    /// XPN-1.1, the family name (surname).
    pub family: String,
    /// XPN-2.
    pub given: String,
    /// XPN-3, second and further given names or initials.
    pub middle: String,
    /// XPN-4.
    pub suffix: String,
    /// XPN-5.
    pub prefix: String,
    /// XPN-7 as sent (`L` legal, `D` display, `A` alias, …).
    pub name_type: String,
    /// XPN-8 as sent.
    pub representation_code: String,
    /// XPN-8 read, or inferred.
    pub representation: NameRepresentation,
}

/// Every name of a XPN list (PID-5); empty repetitions are left out.
pub(crate) fn names(field: Field<'_>) -> Vec<PersonName> {
    field
        .repetitions()
        .filter_map(|r| {
            let family = not_null(r.component(1).sub(1));
            let given = not_null(r.value(2));
            let middle = not_null(r.value(3));
            if family.is_empty() && given.is_empty() && middle.is_empty() {
                return None;
            }
            let representation_code = r.value(8);
            let representation = match representation_code.as_str() {
                "I" => NameRepresentation::Ideographic,
                "A" => NameRepresentation::Alphabetic,
                "P" => NameRepresentation::Phonetic,
                _ if [&family, &given, &middle].iter().any(|s| s.chars().any(is_han)) => NameRepresentation::Ideographic,
                _ => NameRepresentation::Alphabetic,
            };
            Some(PersonName {
                family,
                given,
                middle,
                suffix: not_null(r.value(4)),
                prefix: not_null(r.value(5)),
                name_type: r.value(7),
                representation_code,
                representation,
            })
        })
        .collect()
}

/// A Han (CJK unified or compatibility) ideograph.
fn is_han(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x3134F)
}

/// A birth date (PID-7), to the precision sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BirthDate {
    /// The year.
    pub year: u16,
    /// The month (1–12), when sent.
    pub month: Option<u8>,
    /// The day of the month, when sent.
    pub day: Option<u8>,
}

impl BirthDate {
    /// Read a TS/DTM value's date part (`YYYY[MM[DD]]…`); `None` when
    /// empty or the HL7 null, an error when malformed.
    pub(crate) fn parse(value: &str) -> Result<Option<BirthDate>, AdtError> {
        let value = not_null(value.to_string());
        if value.is_empty() {
            return Ok(None);
        }
        let invalid = AdtError::InvalidField("PID-7");
        let digits: String = value.chars().take_while(char::is_ascii_digit).take(8).collect();
        let number = |range: std::ops::Range<usize>| digits.get(range).and_then(|d| d.parse::<u16>().ok());
        let year = number(0..4).filter(|_| matches!(digits.len(), 4 | 6 | 8)).ok_or(invalid.clone())?;
        let month = number(4..6).map(|m| m as u8);
        let day = number(6..8).map(|d| d as u8);
        let days_in_month = match month {
            Some(2) if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
            Some(2) => 28,
            Some(4 | 6 | 9 | 11) => 30,
            _ => 31,
        };
        if month.is_some_and(|m| !(1..=12).contains(&m)) || day.is_some_and(|d| d == 0 || d > days_in_month) {
            return Err(invalid);
        }
        Ok(Some(BirthDate { year, month, day }))
    }

    /// The date as DICOM DA (`YYYYMMDD`) when the day is known.
    pub fn dicom_date(&self) -> Option<String> {
        Some(format!("{:04}{:02}{:02}", self.year, self.month?, self.day?))
    }
}

/// Administrative sex (PID-8, HL7 table 0001; the GB/T 2261.1 digits
/// Chinese HIS send are read too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    /// `F`, or `2`.
    Female,
    /// `M`, or `1`.
    Male,
    /// `O` or `A` (ambiguous).
    Other,
    /// `U`, `N`, or `0`/`9`.
    Unknown,
}

impl Sex {
    /// Read PID-8; `None` when empty, an error for a code not in the tables.
    pub(crate) fn parse(code: &str) -> Result<Option<Sex>, AdtError> {
        Ok(Some(match not_null(code.trim().to_ascii_uppercase()).as_str() {
            "" => return Ok(None),
            "F" | "2" => Sex::Female,
            "M" | "1" => Sex::Male,
            "O" | "A" => Sex::Other,
            "U" | "N" | "0" | "9" => Sex::Unknown,
            _ => return Err(AdtError::InvalidField("PID-8")),
        }))
    }

    /// The DICOM Patient's Sex value (`F`, `M`, `O`; empty when unknown).
    pub fn dicom(&self) -> &'static str {
        match self {
            Sex::Female => "F",
            Sex::Male => "M",
            Sex::Other => "O",
            Sex::Unknown => "",
        }
    }
}

/// XAD: one address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    /// XAD-1.1, street or mailing address.
    pub street: String,
    /// XAD-2, other designation (building, apartment).
    pub other: String,
    /// XAD-3.
    pub city: String,
    /// XAD-4, state or province.
    pub state: String,
    /// XAD-5.
    pub postal_code: String,
    /// XAD-6.
    pub country: String,
    /// XAD-7 as sent (`H` home, `B` business, …).
    pub address_type: String,
}

/// Every address of a XAD list (PID-11); empty repetitions left out.
pub(crate) fn addresses(field: Field<'_>) -> Vec<Address> {
    field
        .repetitions()
        .map(|r| Address {
            street: not_null(r.component(1).sub(1)),
            other: not_null(r.value(2)),
            city: not_null(r.value(3)),
            state: not_null(r.value(4)),
            postal_code: not_null(r.value(5)),
            country: not_null(r.value(6)),
            address_type: r.value(7),
        })
        .filter(|a| a != &Address { address_type: a.address_type.clone(), ..Address::default() })
        .collect()
}

/// XTN: one telecommunication number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Phone {
    /// XTN-1, else XTN-12 (unformatted), else XTN-5/6/7/8 joined.
    pub number: String,
    /// XTN-2 as sent (`PRN` primary residence, `WPN` work, `NET`, …).
    pub use_code: String,
    /// XTN-3 as sent (`PH`, `CP` cellular, `Internet`, …).
    pub equipment_type: String,
    /// XTN-4.
    pub email: String,
}

/// Every number of a XTN list (PID-13); empty repetitions left out.
pub(crate) fn phones(field: Field<'_>) -> Vec<Phone> {
    field
        .repetitions()
        .filter_map(|r| {
            let mut number = not_null(r.value(1));
            if number.is_empty() {
                number = not_null(r.value(12));
            }
            if number.is_empty() {
                let parts: Vec<String> = (5..=7).map(|n| not_null(r.value(n))).filter(|p| !p.is_empty()).collect();
                number = parts.join(" ");
                let extension = not_null(r.value(8));
                if !number.is_empty() && !extension.is_empty() {
                    number = format!("{number} ext {extension}");
                }
            }
            let email = not_null(r.value(4));
            if number.is_empty() && email.is_empty() {
                return None;
            }
            Some(Phone { number, use_code: r.value(2), equipment_type: r.value(3), email })
        })
        .collect()
}

/// The HL7 null (`""`, "delete this value") read as empty; a whole PID
/// field sent so is listed in `Patient::cleared`.
fn not_null(value: String) -> String {
    if value == "\"\"" { String::new() } else { value }
}
