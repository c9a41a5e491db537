//! A query's keys as the access record keeps them: each matching key by
//! its keyword with its value, except patient-identifying ones (names,
//! IDs, birth date, address…), of which only the keyword is kept. QIDO-RS
//! and C-FIND both record their queries through here.

use dicom_core::Tag;
use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_dictionary_std::StandardDataDictionary;
use serde_json::{Map, Value as Json};

/// Longest value kept of one key (characters); longer ones are cut.
pub const MAX_RECORDED_VALUE_CHARS: usize = 256;

/// Most keys kept of one query.
pub const MAX_RECORDED_KEYS: usize = 64;

/// Whether a key's value identifies a patient: every attribute of the
/// Patient group (0010,xxxx) except sex, age, size, weight and species,
/// and a few elsewhere that name or reach the person.
pub fn is_patient_identifying(tag: u32) -> bool {
    const KEPT: [u32; 5] = [0x0010_0040, 0x0010_1010, 0x0010_1020, 0x0010_1030, 0x0010_2201];
    const ELSEWHERE: [u32; 4] = [
        0x0038_0010, // AdmissionID
        0x0038_0014, // IssuerOfAdmissionIDSequence
        0x0040_0031, // LocalNamespaceEntityID
        0x0040_1101, // PersonIdentificationCodeSequence
    ];
    (tag >> 16 == 0x0010 && !KEPT.contains(&tag)) || ELSEWHERE.contains(&tag)
}

/// The keyword of a tag (or its 8 hex digits when the dictionary has none).
pub fn keyword(tag: u32) -> String {
    StandardDataDictionary
        .by_tag(Tag((tag >> 16) as u16, tag as u16))
        .map(|e| e.alias().to_string())
        .unwrap_or_else(|| format!("{tag:08X}"))
}

/// The keys of a query to record: `keys` (keyword → value) and `withheld`
/// (keywords of patient-identifying keys that were given). Keys with an
/// empty value (return keys) are not matching keys and are left out.
pub fn recorded_keys<'a>(keys: impl IntoIterator<Item = (u32, &'a str)>) -> (Map<String, Json>, Vec<String>) {
    let mut kept = Map::new();
    let mut withheld = Vec::new();
    for (tag, value) in keys.into_iter().filter(|(_, v)| !v.trim().is_empty()) {
        if kept.len() + withheld.len() >= MAX_RECORDED_KEYS {
            break;
        }
        let name = keyword(tag);
        if is_patient_identifying(tag) {
            if !withheld.contains(&name) {
                withheld.push(name);
            }
        } else {
            let value: String = value.chars().take(MAX_RECORDED_VALUE_CHARS).collect();
            kept.insert(name, Json::String(value));
        }
    }
    (kept, withheld)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patient_identifying_values_are_withheld() {
        let (kept, withheld) = recorded_keys([
            (0x0010_0010, "Wang^Wei"),
            (0x0010_0020, "P123"),
            (0x0010_0030, "19800101"),
            (0x0010_1000, "X9"),
            (0x0010_0040, "M"),
            (0x0008_0020, "20240101-"),
            (0x0008_0061, "CT"),
            (0x0020_000D, ""),
        ]);
        assert_eq!(withheld, ["PatientName", "PatientID", "PatientBirthDate", "OtherPatientIDs"]);
        assert_eq!(kept["StudyDate"], "20240101-");
        assert_eq!(kept["ModalitiesInStudy"], "CT");
        assert_eq!(kept["PatientSex"], "M");
        assert!(!kept.contains_key("StudyInstanceUID"), "a return key is no matching key");
        let text = serde_json::to_string(&(kept, withheld)).unwrap();
        assert!(!text.contains("Wang") && !text.contains("P123") && !text.contains("1980"), "{text}");
    }
}
