//! IHE IOCM rejection notes: a Key Object Selection document whose
//! Concept Name is one of the rejection codes rejects the instances its
//! Current Requested Procedure Evidence Sequence lists.
//!
//! The archive recognises a note when one is stored (any way in: C-STORE,
//! STOW-RS, import) and hands it to the [`RejectionHandler`] installed on
//! the [`crate::Archive`] before the store is acknowledged; what rejection
//! does (hide, ask for deletion, record) is the handler's, a layer above.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

/// Key Object Selection Document Storage.
pub const KEY_OBJECT_SELECTION: &str = "1.2.840.10008.5.1.4.1.1.88.59";

/// The DCM codes that make a KOS a rejection note, with their meanings.
pub const REJECTION_CODES: [(&str, &str); 4] = [
    ("113001", "Rejected for Quality Reasons"),
    ("113037", "Rejected for Patient Safety Reasons"),
    ("113038", "Incorrect Modality Worklist Entry"),
    ("113039", "Data Retention Policy Expired"),
];

/// Most instances one note may reject.
pub const MAX_REJECTED: usize = 10_000;

/// A rejected instance: (Study, Series, SOP Instance UID).
pub type RejectedInstance = (String, String, String);

/// A rejection note as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectionNote {
    /// The note's own SOP Instance UID.
    pub note_sop_instance_uid: String,
    /// The DCM code (`113001`, …).
    pub code: String,
    /// The rejected instances: (study, series, SOP instance).
    pub instances: Vec<RejectedInstance>,
    /// The issuer (institution) that stored the note.
    pub issuer: String,
    /// Who stored it (`StoreContext::principal`).
    pub principal: String,
}

/// Errors a handler reports: the store is then not acknowledged, and the
/// sender's retry applies the note again (applying it is idempotent).
pub type HandlerResult = Result<(), String>;

/// What rejection does, installed by the binary
/// ([`crate::Archive::set_rejection_handler`]).
pub trait RejectionHandler: Send + Sync {
    /// Apply a note that was just durably stored.
    fn rejected(&self, note: RejectionNote) -> Pin<Box<dyn Future<Output = HandlerResult> + Send + '_>>;
}

/// The note in a KOS's metadata (DICOM JSON, as built at ingest), if the
/// KOS is a rejection note. `Err` when it names more than [`MAX_REJECTED`].
pub fn parse(sop_class_uid: &str, metadata: &Value) -> Result<Option<(String, Vec<RejectedInstance>)>, String> {
    if sop_class_uid != KEY_OBJECT_SELECTION {
        return Ok(None);
    }
    let Some(concept) = items(metadata, "0040A043").first() else { return Ok(None) };
    let (value, scheme) = (text(concept, "00080100"), text(concept, "00080102"));
    if scheme != "DCM" || !REJECTION_CODES.iter().any(|(c, _)| *c == value) {
        return Ok(None);
    }
    let mut instances = Vec::new();
    for study in items(metadata, "0040A375") {
        let study_uid = text(study, "0020000D");
        for series in items(study, "00081115") {
            let series_uid = text(series, "0020000E");
            for sop in items(series, "00081199") {
                let sop_uid = text(sop, "00081155");
                if sop_uid.is_empty() {
                    continue;
                }
                if instances.len() >= MAX_REJECTED {
                    return Err(format!("a rejection note may name at most {MAX_REJECTED} instances"));
                }
                instances.push((study_uid.clone(), series_uid.clone(), sop_uid));
            }
        }
    }
    Ok(Some((value, instances)))
}

/// The items of a sequence attribute (`tag` as 8 hex digits).
fn items<'a>(v: &'a Value, tag: &str) -> &'a [Value] {
    v.get(tag).and_then(|a| a.get("Value")).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// The first value of a text attribute, trimmed.
fn text(v: &Value, tag: &str) -> String {
    v.get(tag)
        .and_then(|a| a.get("Value"))
        .and_then(|vals| vals.get(0))
        .and_then(Value::as_str)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn note(code: &str, scheme: &str) -> Value {
        json!({
            "0040A043": {"vr": "SQ", "Value": [{"00080100": {"vr": "SH", "Value": [code]}, "00080102": {"vr": "SH", "Value": [scheme]}}]},
            "0040A375": {"vr": "SQ", "Value": [{
                "0020000D": {"vr": "UI", "Value": ["1.2.3"]},
                "00081115": {"vr": "SQ", "Value": [{
                    "0020000E": {"vr": "UI", "Value": ["1.2.3.4"]},
                    "00081199": {"vr": "SQ", "Value": [
                        {"00081150": {"vr": "UI", "Value": ["1.2.840.10008.5.1.4.1.1.2"]}, "00081155": {"vr": "UI", "Value": ["1.2.3.4.5"]}},
                        {"00081155": {"vr": "UI", "Value": ["1.2.3.4.6"]}}
                    ]}
                }]}
            }]}
        })
    }

    #[test]
    fn a_rejection_code_makes_a_kos_a_note() {
        let (code, refs) = parse(KEY_OBJECT_SELECTION, &note("113039", "DCM")).unwrap().unwrap();
        assert_eq!(code, "113039");
        assert_eq!(
            refs,
            vec![("1.2.3".into(), "1.2.3.4".into(), "1.2.3.4.5".into()), ("1.2.3".into(), "1.2.3.4".into(), "1.2.3.4.6".into())]
        );
    }

    #[test]
    fn other_titles_schemes_and_classes_are_not_notes() {
        assert_eq!(parse(KEY_OBJECT_SELECTION, &note("113000", "DCM")).unwrap(), None, "Of Interest");
        assert_eq!(parse(KEY_OBJECT_SELECTION, &note("113001", "99LOCAL")).unwrap(), None);
        assert_eq!(parse("1.2.840.10008.5.1.4.1.1.2", &note("113001", "DCM")).unwrap(), None);
        assert_eq!(parse(KEY_OBJECT_SELECTION, &json!({})).unwrap(), None);
    }
}
