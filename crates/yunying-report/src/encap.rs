//! The Encapsulated PDF instance.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;

use crate::dcm::{self, Put, code_item};
use crate::{ENCAPSULATED_PDF_SOP_CLASS_UID, ENHANCED_SR_SOP_CLASS_UID, ReportError, ReportInput, ReportUids, sr};

pub(crate) fn build(input: &ReportInput, uids: &ReportUids, pdf: &[u8]) -> Result<Vec<u8>, ReportError> {
    let length = u32::try_from(pdf.len()).map_err(|_| ReportError::Pdf("the PDF is over 4 GiB".into()))?;
    let mut o = dcm::common(
        input,
        &dcm::Common {
            sop_class_uid: ENCAPSULATED_PDF_SOP_CLASS_UID,
            sop_instance_uid: &uids.pdf_sop_instance_uid,
            modality: "DOC",
            series_instance_uid: &uids.pdf_series_instance_uid,
            series_number: uids.pdf_series_number,
            series_description: "影像诊断报告 PDF",
        },
    );
    // SC Equipment: made on a workstation.
    o.str(tags::CONVERSION_TYPE, VR::CS, "WSD");
    // Encapsulated Document.
    o.empty(tags::ACQUISITION_DATE_TIME, VR::DT);
    o.str(tags::BURNED_IN_ANNOTATION, VR::CS, "YES");
    o.str(tags::VERIFICATION_FLAG, VR::CS, "VERIFIED");
    o.seq(tags::CONCEPT_NAME_CODE_SEQUENCE, vec![code_item(sr::DIAGNOSTIC_IMAGING_REPORT)]);
    o.str(tags::DOCUMENT_TITLE, VR::ST, &format!("影像诊断报告 {}", input.template_name));
    // The PDF renders the SR made with it.
    o.seq(tags::SOURCE_INSTANCE_SEQUENCE, vec![dcm::sop_ref(ENHANCED_SR_SOP_CLASS_UID, &uids.sr_sop_instance_uid)]);
    o.str(tags::MIME_TYPE_OF_ENCAPSULATED_DOCUMENT, VR::LO, "application/pdf");
    let mut bytes = pdf.to_vec();
    if bytes.len() % 2 == 1 {
        // OB values are of even length; Encapsulated Document Length is the PDF's own.
        bytes.push(0);
    }
    o.put(DataElement::new(tags::ENCAPSULATED_DOCUMENT, VR::OB, PrimitiveValue::from(bytes)));
    o.put(DataElement::new(tags::ENCAPSULATED_DOCUMENT_LENGTH, VR::UL, PrimitiveValue::from(length)));
    dcm::part10(o)
}
