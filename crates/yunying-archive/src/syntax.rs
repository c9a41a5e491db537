//! Which SOP classes and transfer syntaxes the archive accepts, and how each
//! transfer syntax encodes its dataset.

use dicom_core::dictionary::{UidDictionary, UidType};
use dicom_dictionary_std::StandardSopClassDictionary;
use dicom_encoding::TransferSyntaxIndex;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::walker::DatasetEncoding;

pub const VERIFICATION: &str = "1.2.840.10008.1.1";
pub const IMPLICIT_VR_LE: &str = "1.2.840.10008.1.2";
pub const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";
pub const EXPLICIT_VR_BE: &str = "1.2.840.10008.1.2.2";
pub const DEFLATED_EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1.99";
const JPIP_REFERENCED_DEFLATE: &str = "1.2.840.10008.1.2.4.95";

/// Whether `uid` is a standard storage SOP class, judged from the standard
/// UID dictionary: a SOP Class whose name ends in "Storage" (or a "Storage -
/// For …" variant), excluding Storage Commitment and the DICOMDIR class.
pub fn is_storage_sop_class(uid: &str) -> bool {
    let Some(entry) = StandardSopClassDictionary.by_uid(uid) else { return false };
    entry.r#type == UidType::SopClass
        && entry.name.contains("Storage")
        && !entry.name.contains("Storage Commitment")
        && !entry.name.contains("Storage Management")
        && entry.uid != "1.2.840.10008.1.3.10"
}

/// Whether the archive accepts `uid` as a transfer syntax: every one in the
/// standard registry, whatever its pixel encoding (storage does not decode).
pub fn is_accepted_transfer_syntax(uid: &str) -> bool {
    TransferSyntaxRegistry.get(uid).is_some()
}

/// How a dataset in this transfer syntax is encoded, and whether it is deflated.
pub fn dataset_encoding(ts: &str) -> (DatasetEncoding, bool) {
    match ts {
        IMPLICIT_VR_LE => (DatasetEncoding::IMPLICIT_LE, false),
        EXPLICIT_VR_BE => (DatasetEncoding::EXPLICIT_BE, false),
        DEFLATED_EXPLICIT_VR_LE | JPIP_REFERENCED_DEFLATE => (DatasetEncoding::EXPLICIT_LE, true),
        _ => (DatasetEncoding::EXPLICIT_LE, false),
    }
}

/// Whether the pixel data of this transfer syntax is compressed (encapsulated).
pub fn is_compressed(ts: &str) -> bool {
    !matches!(ts, IMPLICIT_VR_LE | EXPLICIT_VR_LE | EXPLICIT_VR_BE | DEFLATED_EXPLICIT_VR_LE)
}

/// Pick the transfer syntax to accept from those proposed for one
/// presentation context: a compressed one first (the sender's order among
/// them), then explicit VR little endian, implicit, big endian, deflated.
/// Keeping what the modality compressed saves storage and re-encoding.
pub fn choose_transfer_syntax<'a>(proposed: impl IntoIterator<Item = &'a str> + Clone) -> Option<&'a str> {
    let accepted = || proposed.clone().into_iter().map(trim_uid).filter(|ts| is_accepted_transfer_syntax(ts));
    accepted().find(|ts| is_compressed(ts)).or_else(|| {
        [EXPLICIT_VR_LE, IMPLICIT_VR_LE, EXPLICIT_VR_BE, DEFLATED_EXPLICIT_VR_LE]
            .into_iter()
            .find_map(|pref| accepted().find(|ts| *ts == pref))
    })
}

/// UIDs on the wire may carry a trailing NUL or space pad.
pub fn trim_uid(uid: &str) -> &str {
    uid.trim_end_matches(['\0', ' '])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_classes_come_from_the_dictionary() {
        for uid in [
            "1.2.840.10008.5.1.4.1.1.2",        // CT Image Storage
            "1.2.840.10008.5.1.4.1.1.4",        // MR Image Storage
            "1.2.840.10008.5.1.4.1.1.2.1",      // Enhanced CT
            "1.2.840.10008.5.1.4.1.1.77.1.1.1", // Video Endoscopic
            "1.2.840.10008.5.1.4.1.1.104.1",    // Encapsulated PDF
            "1.2.840.10008.5.1.4.1.1.88.11",    // Basic Text SR
            "1.2.840.10008.5.1.4.1.1.1.2",      // Digital Mammography For Presentation
        ] {
            assert!(is_storage_sop_class(uid), "{uid}");
        }
        for uid in ["1.2.840.10008.1.20.1", "1.2.840.10008.1.3.10", "1.2.840.10008.5.1.4.1.2.2.1", "1.2.3.4"] {
            assert!(!is_storage_sop_class(uid), "{uid}");
        }
    }

    #[test]
    fn compressed_syntaxes_are_preferred() {
        let p = [IMPLICIT_VR_LE, EXPLICIT_VR_LE, "1.2.840.10008.1.2.4.90"];
        assert_eq!(choose_transfer_syntax(p), Some("1.2.840.10008.1.2.4.90"));
        assert_eq!(choose_transfer_syntax([IMPLICIT_VR_LE, EXPLICIT_VR_LE]), Some(EXPLICIT_VR_LE));
        assert_eq!(choose_transfer_syntax(["1.2.840.10008.1.2\0"]), Some(IMPLICIT_VR_LE));
        assert_eq!(choose_transfer_syntax(["1.2.3.4.5"]), None);
        for ts in ["1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.107", "1.2.840.10008.1.2.5"] {
            assert!(is_accepted_transfer_syntax(ts), "{ts}");
        }
    }
}
