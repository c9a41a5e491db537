//! Study → items: which catalogue items a study is an instance of, and its
//! HR status for each.
//!
//! A study matches an item when
//! - one of its procedure codes (value and scheme, exact) is one of the
//!   item's: a code decides by itself; or
//! - one of its modalities is one of the item's, its body part (when both
//!   the study and the item name one) is one of the item's, and either its
//!   Study Description contains one of the item's keywords (case-insensitive)
//!   or the item has no keywords and the study's body part is one of the
//!   item's.
//!
//! Pure functions; the procedure codes of stored studies are read from the
//! metadata the archive keeps (deflated DICOM JSON).

use std::io::Read;

use crate::catalogue::{Catalogue, Item, Mark, ProcedureCode, hr_mark};
use crate::date::Date;

/// Most procedure codes read from one study.
const MAX_STUDY_CODES: usize = 100;
/// Largest inflated metadata read for procedure codes.
const MAX_METADATA: u64 = 32 << 20;

/// What a study shows of itself for classification.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StudyTraits {
    /// Modalities in Study (or of its series).
    pub modalities: Vec<String>,
    /// Body Part Examined values of its series.
    pub body_parts: Vec<String>,
    /// Procedure Code Sequence (0008,1032) items.
    pub procedure_codes: Vec<ProcedureCode>,
    /// Study Description (0008,1030).
    pub description: String,
}

/// An item of a study with its HR status on the study date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudyItem {
    pub item_code: String,
    pub hr: bool,
    /// The scope of the HR mark ("" when not HR).
    pub hr_scope: String,
}

impl Catalogue {
    /// The codes of the items a study matches, in catalogue order.
    pub fn classify(&self, study: &StudyTraits) -> Vec<String> {
        let modalities: Vec<String> = study.modalities.iter().map(|m| m.trim().to_ascii_uppercase()).collect();
        let parts: Vec<String> = study.body_parts.iter().map(|p| p.trim().to_ascii_uppercase()).filter(|p| !p.is_empty()).collect();
        let description = study.description.to_lowercase();
        self.items().iter().filter(|item| matches(item, study, &modalities, &parts, &description)).map(|i| i.code.clone()).collect()
    }

    /// The items of a study and their HR status on its date (none is HR
    /// when the date is not a date).
    pub fn study_items(&self, marks: &[Mark], institution: &str, study_date: &str, study: &StudyTraits) -> Vec<StudyItem> {
        let date = Date::parse(study_date);
        self.classify(study)
            .into_iter()
            .map(|item_code| {
                let mark = date.and_then(|d| hr_mark(marks, institution, &item_code, d));
                StudyItem { hr: mark.is_some(), hr_scope: mark.map(|m| m.scope.clone()).unwrap_or_default(), item_code }
            })
            .collect()
    }
}

fn matches(item: &Item, study: &StudyTraits, modalities: &[String], parts: &[String], description: &str) -> bool {
    if study.procedure_codes.iter().any(|c| item.procedure_codes.contains(c)) {
        return true;
    }
    if !item.modality.split('/').any(|m| modalities.iter().any(|s| s.eq_ignore_ascii_case(m.trim()))) {
        return false;
    }
    let part_of_item = |p: &String| item.body_parts.iter().any(|b| b.trim().eq_ignore_ascii_case(p));
    if !item.body_parts.is_empty() && !parts.is_empty() && !parts.iter().any(part_of_item) {
        return false;
    }
    if item.keywords.is_empty() {
        return !item.body_parts.is_empty() && parts.iter().any(part_of_item);
    }
    item.keywords.iter().any(|k| !k.trim().is_empty() && description.contains(&k.trim().to_lowercase()))
}

/// The Procedure Code Sequence (0008,1032) of stored metadata (deflated
/// DICOM JSON); empty when absent or unreadable.
pub fn procedure_codes_from_metadata(deflated: &[u8]) -> Vec<ProcedureCode> {
    if deflated.is_empty() {
        return Vec::new();
    }
    let mut json = Vec::new();
    if flate2::read::DeflateDecoder::new(deflated).take(MAX_METADATA).read_to_end(&mut json).is_err() {
        return Vec::new();
    }
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(&json) else { return Vec::new() };
    procedure_codes_from_json(&value)
}

/// The Procedure Code Sequence of a DICOM JSON object.
pub fn procedure_codes_from_json(dataset: &serde_json::Value) -> Vec<ProcedureCode> {
    let first = |item: &serde_json::Value, tag: &str| -> String {
        item.get(tag).and_then(|e| e.get("Value")).and_then(|v| v.get(0)).and_then(|v| v.as_str()).unwrap_or_default().trim().to_string()
    };
    let Some(items) = dataset.get("00081032").and_then(|e| e.get("Value")).and_then(|v| v.as_array()) else { return Vec::new() };
    items
        .iter()
        .take(MAX_STUDY_CODES)
        .map(|item| ProcedureCode { value: first(item, "00080100"), scheme: first(item, "00080102") })
        .filter(|c| !c.value.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_procedure_codes_from_dicom_json() {
        let json = serde_json::json!({
            "00081032": {"vr": "SQ", "Value": [
                {"00080100": {"vr": "SH", "Value": ["ZJ-CT-001"]}, "00080102": {"vr": "SH", "Value": ["99ZJHR"]}},
                {"00080104": {"vr": "LO", "Value": ["no value"]}}
            ]}
        });
        assert_eq!(procedure_codes_from_json(&json), vec![ProcedureCode { value: "ZJ-CT-001".into(), scheme: "99ZJHR".into() }]);
        assert!(procedure_codes_from_metadata(b"not deflate").is_empty());
    }
}
