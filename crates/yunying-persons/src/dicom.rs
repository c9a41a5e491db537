//! Identities of the patients the archive holds: the index's patient row
//! (name, birth date, sex, decoded to UTF-8 at ingest) and, where the
//! institution sends them, national ID / insurance numbers read from the
//! stored metadata of one of the patient's instances.
//!
//! Where an institution puts the national ID is configuration
//! ([`IdSource`]): Other Patient IDs Sequence (0010,1002) and the retired
//! Other Patient IDs (0010,1000), the Patient ID itself, or one tag (a
//! private one included). Only values with a valid check digit count.

use std::io::Read;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::input::IdentityInput;

/// Where an institution's instances carry an identifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum IdSource {
    /// Other Patient IDs Sequence (0010,1002) items' Patient ID, and Other
    /// Patient IDs (0010,1000).
    #[default]
    OtherPatientIds,
    /// The Patient ID (0010,0020) is the number.
    PatientId,
    /// Nowhere.
    None,
    /// One attribute, `ggggeeee` in hex (a private tag included).
    #[serde(untagged)]
    Tag(String),
}

/// Where one institution's instances carry national IDs and insurance codes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstitutionIds {
    /// The institution (its issuer code).
    pub institution: String,
    pub national_id: IdSource,
    pub insurance_code: IdSource,
}

impl Default for InstitutionIds {
    fn default() -> Self {
        InstitutionIds { institution: String::new(), national_id: IdSource::OtherPatientIds, insurance_code: IdSource::None }
    }
}

/// Most bytes of inflated metadata read for identifiers.
pub const MAX_METADATA_BYTES: u64 = 16 << 20;

/// The identity of an indexed patient: its row's values, and identifiers
/// from `metadata` (deflated DICOM JSON) where `ids` says.
pub fn input_of_patient(
    (issuer, patient_id, name, birth_date, sex): (&str, &str, &str, &str, &str),
    metadata: &[u8],
    ids: &InstitutionIds,
) -> IdentityInput {
    let json = inflate(metadata).and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
    let take = |source: &IdSource| -> Vec<String> {
        match source {
            IdSource::None => Vec::new(),
            IdSource::PatientId => vec![patient_id.to_string()],
            IdSource::OtherPatientIds => json.as_ref().map(other_patient_ids).unwrap_or_default(),
            IdSource::Tag(tag) => json.as_ref().map(|j| strings(j, &tag.to_uppercase())).unwrap_or_default(),
        }
    };
    IdentityInput {
        issuer: issuer.to_string(),
        patient_id: patient_id.to_string(),
        name: name.to_string(),
        birth_date: birth_date.to_string(),
        sex: sex.to_string(),
        national_ids: take(&ids.national_id),
        insurance_codes: take(&ids.insurance_code),
        phones: json.as_ref().map(|j| strings(j, "00102154")).unwrap_or_default(),
        address: json.as_ref().and_then(|j| strings(j, "00101040").into_iter().next()).unwrap_or_default(),
    }
}

fn inflate(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    flate2::read::DeflateDecoder::new(bytes).take(MAX_METADATA_BYTES).read_to_end(&mut out).ok()?;
    Some(out)
}

/// The string values of a top-level attribute.
fn strings(json: &Value, tag: &str) -> Vec<String> {
    json.get(tag)
        .and_then(|e| e.get("Value"))
        .and_then(Value::as_array)
        .map(|values| values.iter().filter_map(Value::as_str).map(str::to_string).take(8).collect())
        .unwrap_or_default()
}

/// Patient IDs of Other Patient IDs Sequence items, then Other Patient IDs.
fn other_patient_ids(json: &Value) -> Vec<String> {
    let mut out: Vec<String> = json
        .get("00101002")
        .and_then(|e| e.get("Value"))
        .and_then(Value::as_array)
        .map(|items| items.iter().take(8).flat_map(|item| strings(item, "00100020")).collect())
        .unwrap_or_default();
    out.extend(strings(json, "00101000"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn deflated(json: &Value) -> Vec<u8> {
        let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(json.to_string().as_bytes()).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn identifiers_come_from_where_the_institution_puts_them() {
        let metadata = deflated(&serde_json::json!({
            "00101002": {"vr": "SQ", "Value": [{"00100020": {"vr": "LO", "Value": ["11010519491231002X"]}, "00100022": {"vr": "CS", "Value": ["TEXT"]}}]},
            "00091010": {"vr": "LO", "Value": ["1234567890123456789012345X"]},
            "00102154": {"vr": "SH", "Value": ["13800138000"]}
        }));
        let row = ("HOSP_A", "A123", "Zhang^San=张^三", "19491231", "F");
        let default = input_of_patient(row, &metadata, &InstitutionIds::default());
        assert_eq!(default.national_ids, ["11010519491231002X"]);
        assert!(default.insurance_codes.is_empty());
        assert_eq!(default.phones, ["13800138000"]);
        let private = InstitutionIds { insurance_code: IdSource::Tag("00091010".into()), ..Default::default() };
        assert_eq!(input_of_patient(row, &metadata, &private).insurance_codes, ["1234567890123456789012345X"]);
        let by_id = InstitutionIds { national_id: IdSource::PatientId, ..Default::default() };
        assert_eq!(input_of_patient(row, &[], &by_id).national_ids, ["A123"]);
        assert!(input_of_patient(row, b"not deflate", &InstitutionIds::default()).national_ids.is_empty(), "unreadable metadata: none");
    }

    #[test]
    fn sources_read_from_configuration() {
        #[derive(Deserialize)]
        struct T {
            a: IdSource,
            b: IdSource,
            c: IdSource,
        }
        let t: T = toml_like(r#"{"a": "other-patient-ids", "b": "patient-id", "c": "00091010"}"#);
        assert_eq!((t.a, t.b, t.c), (IdSource::OtherPatientIds, IdSource::PatientId, IdSource::Tag("00091010".into())));
    }

    fn toml_like<T: serde::de::DeserializeOwned>(json: &str) -> T {
        serde_json::from_str(json).unwrap()
    }
}
