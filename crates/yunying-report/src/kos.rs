//! The Key Object Selection document (TID 2010) of the key images: a signed
//! report's ([`build`]) and the viewer's key images saved with its
//! annotations ([`document`], from `annotations`).
//!
//! ```text
//! CONTAINER (113000, DCM, "Of Interest")                     template DCMR 2010
//!  ├ HAS CONCEPT MOD CODE Language of Content = zh-CN        (TID 1204)
//!  ├ HAS OBS CONTEXT … the person who signed the report      (TID 1002)
//!  ├ CONTAINS TEXT (113012, DCM, "Key Object Description") = "<template> 关键图像"
//!  └ CONTAINS IMAGE … each key image, in order (with Referenced Frame Number when given)
//! ```

use dicom_core::VR;
use dicom_dictionary_std::tags;

use crate::dcm::{self, Code, Put, code, code_item};
use crate::{ImageRef, KOS_SOP_CLASS_UID, Person, ReportError, ReportInput, ReportUids, sr};

pub(crate) const OF_INTEREST: Code<'static> = code("113000", "DCM", "Of Interest");
pub(crate) const KEY_OBJECT_DESCRIPTION: Code<'static> = code("113012", "DCM", "Key Object Description");

/// What differs between the key object documents built here.
pub(crate) struct KeyObjects<'a> {
    pub sop_instance_uid: &'a str,
    pub series_instance_uid: &'a str,
    pub series_number: i32,
    pub series_description: &'a str,
    /// The Key Object Description text.
    pub description: &'a str,
    /// The observer and their role.
    pub observer: &'a Person,
    pub role: Code<'static>,
    /// A Referenced Request Sequence item (the reading request answered), when there is one.
    pub request: bool,
    pub images: &'a [ImageRef],
}

/// The key images of a signed report.
pub(crate) fn build(input: &ReportInput, uids: &ReportUids) -> Result<Vec<u8>, ReportError> {
    let description = format!("{} 关键图像", input.template_name);
    document(
        input,
        &KeyObjects {
            sop_instance_uid: &uids.kos_sop_instance_uid,
            series_instance_uid: &uids.kos_series_instance_uid,
            series_number: uids.kos_series_number,
            series_description: "关键图像",
            description: &description,
            observer: input.verifier.as_ref().unwrap_or(&input.author),
            role: sr::signer_role(input),
            request: true,
            images: &input.key_images,
        },
    )
}

/// A Key Object Selection document "Of Interest" of `k.images` in the study
/// of `input` (its patient, study and signed-at time).
pub(crate) fn document(input: &ReportInput, k: &KeyObjects<'_>) -> Result<Vec<u8>, ReportError> {
    let mut o = dcm::common(
        input,
        &dcm::Common {
            sop_class_uid: KOS_SOP_CLASS_UID,
            sop_instance_uid: k.sop_instance_uid,
            modality: "KO",
            series_instance_uid: k.series_instance_uid,
            series_number: k.series_number,
            series_description: k.series_description,
        },
    );
    o.empty(tags::REFERENCED_PERFORMED_PROCEDURE_STEP_SEQUENCE, VR::SQ);
    if k.request {
        o.seq(tags::REFERENCED_REQUEST_SEQUENCE, vec![dcm::referenced_request(input)]);
    }
    let images: Vec<&ImageRef> = k.images.iter().collect();
    let evidence = dcm::evidence(input, &images).ok_or_else(|| ReportError::Dicom("a KOS without key images".into()))?;
    o.seq(tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE, vec![evidence]);

    o.str(tags::VALUE_TYPE, VR::CS, "CONTAINER");
    o.seq(tags::CONCEPT_NAME_CODE_SEQUENCE, vec![code_item(OF_INTEREST)]);
    o.str(tags::CONTINUITY_OF_CONTENT, VR::CS, "SEPARATE");
    o.seq(tags::CONTENT_TEMPLATE_SEQUENCE, vec![sr::template("2010")]);
    let mut items = vec![sr::language()];
    items.extend(sr::observer(k.observer, &input.reading_institution, k.role));
    items.push(sr::text("CONTAINS", KEY_OBJECT_DESCRIPTION, k.description));
    items.extend(k.images.iter().map(|i| sr::image("CONTAINS", None, i)));
    o.seq(tags::CONTENT_SEQUENCE, items);
    dcm::part10(o)
}
