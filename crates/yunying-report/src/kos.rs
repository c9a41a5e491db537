//! The Key Object Selection document (TID 2010) of the key images.
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
use crate::{ImageRef, KOS_SOP_CLASS_UID, ReportError, ReportInput, ReportUids, sr};

const OF_INTEREST: Code<'static> = code("113000", "DCM", "Of Interest");
const KEY_OBJECT_DESCRIPTION: Code<'static> = code("113012", "DCM", "Key Object Description");

pub(crate) fn build(input: &ReportInput, uids: &ReportUids) -> Result<Vec<u8>, ReportError> {
    let mut o = dcm::common(
        input,
        &dcm::Common {
            sop_class_uid: KOS_SOP_CLASS_UID,
            sop_instance_uid: &uids.kos_sop_instance_uid,
            modality: "KO",
            series_instance_uid: &uids.kos_series_instance_uid,
            series_number: uids.kos_series_number,
            series_description: "关键图像",
        },
    );
    o.empty(tags::REFERENCED_PERFORMED_PROCEDURE_STEP_SEQUENCE, VR::SQ);
    o.seq(tags::REFERENCED_REQUEST_SEQUENCE, vec![dcm::referenced_request(input)]);
    let images: Vec<&ImageRef> = input.key_images.iter().collect();
    let evidence = dcm::evidence(input, &images).ok_or_else(|| ReportError::Dicom("a KOS without key images".into()))?;
    o.seq(tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE, vec![evidence]);

    o.str(tags::VALUE_TYPE, VR::CS, "CONTAINER");
    o.seq(tags::CONCEPT_NAME_CODE_SEQUENCE, vec![code_item(OF_INTEREST)]);
    o.str(tags::CONTINUITY_OF_CONTENT, VR::CS, "SEPARATE");
    o.seq(tags::CONTENT_TEMPLATE_SEQUENCE, vec![sr::template("2010")]);
    let signer = input.verifier.as_ref().unwrap_or(&input.author);
    let mut items = vec![sr::language()];
    items.extend(sr::observer(signer, &input.reading_institution, sr::signer_role(input)));
    items.push(sr::text("CONTAINS", KEY_OBJECT_DESCRIPTION, &format!("{} 关键图像", input.template_name)));
    items.extend(input.key_images.iter().map(|i| sr::image("CONTAINS", None, i)));
    o.seq(tags::CONTENT_SEQUENCE, items);
    dcm::part10(o)
}
