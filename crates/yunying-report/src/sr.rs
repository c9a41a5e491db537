//! The Enhanced SR after TID 2000 (the tree is drawn in the crate doc).

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;

use crate::dcm::{self, Code, Obj, Put, code, code_item};
use crate::{ENHANCED_SR_SOP_CLASS_UID, ImageRef, PRIVATE_CODING_SCHEME as P, Person, ReportError, ReportInput, ReportUids};

pub(crate) const DIAGNOSTIC_IMAGING_REPORT: Code<'static> = code("18748-4", "LN", "Diagnostic Imaging Report");
const LANGUAGE: Code<'static> = code("121049", "DCM", "Language of Content Item and Descendants");
const CHINESE_CHINA: Code<'static> = code("zh-CN", "RFC5646", "Chinese (China)");
const OBSERVER_TYPE: Code<'static> = code("121005", "DCM", "Observer Type");
const PERSON: Code<'static> = code("121006", "DCM", "Person");
const OBSERVER_NAME: Code<'static> = code("121008", "DCM", "Person Observer Name");
const OBSERVER_LOGIN: Code<'static> = code("128774", "DCM", "Person Observer's Login Name");
const OBSERVER_ORGANIZATION: Code<'static> = code("121009", "DCM", "Person Observer's Organization Name");
const OBSERVER_ROLE_IN_PROCEDURE: Code<'static> = code("121011", "DCM", "Person Observer's Role in this Procedure");
const READER: Code<'static> = code("C28747", "NCIt", "Reader");
const VERIFYING: Code<'static> = code("121098", "DCM", "Verifying");
const HISTORY: Code<'static> = code("11329-0", "LN", "History");
const FINDINGS: Code<'static> = code("59776-5", "LN", "Findings");
const FINDING: Code<'static> = code("121071", "DCM", "Finding");
const IMPRESSIONS: Code<'static> = code("19005-8", "LN", "Impressions");
const IMPRESSION: Code<'static> = code("121073", "DCM", "Impression");
const CRITICAL_RESULTS: Code<'static> = code("73568-8", "LN", "Communication of Critical Results");
const ACR_CATEGORY_1: Code<'static> = code("RID49480", "RADLEX", "ACR Category 1 Actionable Finding");
const KEY_IMAGES: Code<'static> = code("55113-5", "LN", "Key Images");
const EQUIVALENT_MEANING: Code<'static> = code("121050", "DCM", "Equivalent Meaning of Concept Name");
const SOURCE_OF_MEASUREMENT: Code<'static> = code("121112", "DCM", "Source of Measurement");
const LENGTH: Code<'static> = code("410668003", "SCT", "Length");
const AREA: Code<'static> = code("42798000", "SCT", "Area");
const VOLUME: Code<'static> = code("118565006", "SCT", "Volume");
const ATTENUATION: Code<'static> = code("112031", "DCM", "Attenuation Coefficient");
const MEASUREMENT: Code<'static> = code("MEASUREMENT", P, "Measurement");
const REPORT_RECORD: Code<'static> = code("REPORTREC", P, "Yunying report record");
const REQUEST_ID: Code<'static> = code("REQUESTID", P, "Reading request ID");
const VERSION: Code<'static> = code("VERSION", P, "Report version");
const TEMPLATE: Code<'static> = code("TEMPLATE", P, "Report template");
const AMEND_REASON: Code<'static> = code("AMENDREASON", P, "Amendment reason");
const SIGNED_CONTENT: Code<'static> = code("SIGNEDCONTENT", P, "Signed content");
const SIG_ALGORITHM: Code<'static> = code("SIGALG", P, "Signature algorithm");
const SIG_KEY_ID: Code<'static> = code("SIGKEYID", P, "Signature key ID");
const SIG_DIGEST: Code<'static> = code("SIGDIGEST", P, "Signed content digest");
const SIG_VALUE: Code<'static> = code("SIGVALUE", P, "Signature value");

/// The text of the critical finding's TEXT item.
pub(crate) const CRITICAL_TEXT: &str = "危急值";

pub(crate) fn build(input: &ReportInput, uids: &ReportUids) -> Result<Vec<u8>, ReportError> {
    let description =
        if input.version > 1 { format!("影像诊断报告 第{}版", input.version) } else { "影像诊断报告".to_string() };
    let mut o = dcm::common(
        input,
        &dcm::Common {
            sop_class_uid: ENHANCED_SR_SOP_CLASS_UID,
            sop_instance_uid: &uids.sr_sop_instance_uid,
            modality: "SR",
            series_instance_uid: &uids.series_instance_uid,
            series_number: uids.series_number,
            series_description: &description,
        },
    );
    o.seq(tags::CODING_SCHEME_IDENTIFICATION_SEQUENCE, vec![dcm::private_scheme_identification()]);
    o.empty(tags::REFERENCED_PERFORMED_PROCEDURE_STEP_SEQUENCE, VR::SQ);

    // SR Document General.
    o.str(tags::COMPLETION_FLAG, VR::CS, "COMPLETE");
    o.str(tags::VERIFICATION_FLAG, VR::CS, "VERIFIED");
    o.str(tags::PRELIMINARY_FLAG, VR::CS, "FINAL");
    let signer = input.verifier.as_ref().unwrap_or(&input.author);
    let mut verifying = Obj::new_empty();
    verifying.str(tags::VERIFYING_ORGANIZATION, VR::LO, &input.reading_institution);
    verifying.str(tags::VERIFICATION_DATE_TIME, VR::DT, &dcm::datetime(&input.signed_at));
    verifying.str(tags::VERIFYING_OBSERVER_NAME, VR::PN, &signer.name);
    verifying.seq(tags::VERIFYING_OBSERVER_IDENTIFICATION_CODE_SEQUENCE, vec![code_item(code(&signer.id, P, &signer.name))]);
    o.seq(tags::VERIFYING_OBSERVER_SEQUENCE, vec![verifying]);
    if let Some(p) = &input.predecessor {
        let item = dcm::hierarchical_reference(
            &input.study.study_instance_uid,
            [(p.series_instance_uid.as_str(), ENHANCED_SR_SOP_CLASS_UID, p.sop_instance_uid.as_str())],
        )
        .expect("one reference");
        o.seq(tags::PREDECESSOR_DOCUMENTS_SEQUENCE, vec![item]);
    }
    o.seq(tags::REFERENCED_REQUEST_SEQUENCE, vec![dcm::referenced_request(input)]);
    o.empty(tags::PERFORMED_PROCEDURE_CODE_SEQUENCE, VR::SQ);
    let images: Vec<&ImageRef> = input.measurements.iter().filter_map(|m| m.image.as_ref()).chain(input.key_images.iter()).collect();
    if let Some(evidence) = dcm::evidence(input, &images) {
        o.seq(tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE, vec![evidence]);
    }

    // SR Document Content: the root container.
    o.str(tags::VALUE_TYPE, VR::CS, "CONTAINER");
    o.seq(tags::CONCEPT_NAME_CODE_SEQUENCE, vec![code_item(DIAGNOSTIC_IMAGING_REPORT)]);
    o.str(tags::CONTINUITY_OF_CONTENT, VR::CS, "SEPARATE");
    o.seq(tags::CONTENT_TEMPLATE_SEQUENCE, vec![template("2000")]);
    o.seq(tags::CONTENT_SEQUENCE, content(input));
    dcm::part10(o)
}

pub(crate) fn template(id: &str) -> Obj {
    let mut t = Obj::new_empty();
    t.str(tags::MAPPING_RESOURCE, VR::CS, "DCMR");
    t.str(tags::TEMPLATE_IDENTIFIER, VR::CS, id);
    t
}

fn content(input: &ReportInput) -> Vec<Obj> {
    let mut items = vec![language()];
    items.extend(observer(&input.author, &input.reading_institution, READER));
    if let Some(v) = &input.verifier {
        items.extend(observer(v, &input.reading_institution, VERIFYING));
    }
    if !input.clinical_info.is_empty() {
        items.push(container("CONTAINS", HISTORY, vec![text("CONTAINS", HISTORY, &input.clinical_info)]));
    }

    let mut findings = Vec::new();
    if !input.findings.is_empty() {
        findings.push(text("CONTAINS", FINDING, &input.findings));
    }
    for m in &input.measurements {
        let mut children = vec![text("HAS CONCEPT MOD", EQUIVALENT_MEANING, &m.label)];
        if let Some(img) = &m.image {
            children.push(image("INFERRED FROM", Some(SOURCE_OF_MEASUREMENT), img));
        }
        findings.push(num("CONTAINS", measurement_concept(&m.unit), m.value, code(&m.unit, "UCUM", unit_meaning(&m.unit)), children));
    }
    if !findings.is_empty() {
        items.push(container("CONTAINS", FINDINGS, findings));
    }
    if !input.impression.is_empty() {
        items.push(container("CONTAINS", IMPRESSIONS, vec![text("CONTAINS", IMPRESSION, &input.impression)]));
    }
    if input.critical {
        items.push(container(
            "CONTAINS",
            CRITICAL_RESULTS,
            vec![code_ci("CONTAINS", FINDING, ACR_CATEGORY_1), text("CONTAINS", FINDING, CRITICAL_TEXT)],
        ));
    }
    if !input.key_images.is_empty() {
        items.push(container("CONTAINS", KEY_IMAGES, input.key_images.iter().map(|i| image("CONTAINS", None, i)).collect()));
    }

    let mut record = vec![
        text("CONTAINS", REQUEST_ID, &input.request_id),
        text("CONTAINS", VERSION, &input.version.to_string()),
        text("CONTAINS", TEMPLATE, &input.template_name),
    ];
    if !input.amend_reason.is_empty() {
        record.push(text("CONTAINS", AMEND_REASON, &input.amend_reason));
    }
    let signed = crate::content_for_signature(input);
    record.push(text("CONTAINS", SIGNED_CONTENT, &String::from_utf8(signed).expect("JSON of strings is UTF-8")));
    if let Some(sig) = &input.signature {
        record.push(text("CONTAINS", SIG_ALGORITHM, &sig.algorithm));
        record.push(text("CONTAINS", SIG_KEY_ID, &sig.key_id));
        record.push(text("CONTAINS", SIG_DIGEST, &sig.content_digest_hex));
        record.push(text("CONTAINS", SIG_VALUE, &sig.signature_b64));
    }
    items.push(container("CONTAINS", REPORT_RECORD, record));
    items
}

/// TID 1204: the content is in Chinese (China).
pub(crate) fn language() -> Obj {
    code_ci("HAS CONCEPT MOD", LANGUAGE, CHINESE_CHINA)
}

/// TID 1002 with TID 1003: a person observer.
pub(crate) fn observer(p: &Person, organization: &str, role: Code<'_>) -> Vec<Obj> {
    vec![
        code_ci("HAS OBS CONTEXT", OBSERVER_TYPE, PERSON),
        pname("HAS OBS CONTEXT", OBSERVER_NAME, &p.name),
        text("HAS OBS CONTEXT", OBSERVER_LOGIN, &p.id),
        text("HAS OBS CONTEXT", OBSERVER_ORGANIZATION, organization),
        code_ci("HAS OBS CONTEXT", OBSERVER_ROLE_IN_PROCEDURE, role),
    ]
}

/// The role of the person who signs in KOS observer context.
pub(crate) fn signer_role(input: &ReportInput) -> Code<'static> {
    if input.verifier.is_some() { VERIFYING } else { READER }
}

pub(crate) fn item(relationship: &str, value_type: &str, concept: Option<Code<'_>>) -> Obj {
    let mut o = Obj::new_empty();
    o.str(tags::RELATIONSHIP_TYPE, VR::CS, relationship);
    o.str(tags::VALUE_TYPE, VR::CS, value_type);
    if let Some(c) = concept {
        o.seq(tags::CONCEPT_NAME_CODE_SEQUENCE, vec![code_item(c)]);
    }
    o
}

pub(crate) fn text(relationship: &str, concept: Code<'_>, value: &str) -> Obj {
    let mut o = item(relationship, "TEXT", Some(concept));
    o.str(tags::TEXT_VALUE, VR::UT, value);
    o
}

pub(crate) fn code_ci(relationship: &str, concept: Code<'_>, value: Code<'_>) -> Obj {
    let mut o = item(relationship, "CODE", Some(concept));
    o.seq(tags::CONCEPT_CODE_SEQUENCE, vec![code_item(value)]);
    o
}

pub(crate) fn pname(relationship: &str, concept: Code<'_>, name: &str) -> Obj {
    let mut o = item(relationship, "PNAME", Some(concept));
    o.str(tags::PERSON_NAME, VR::PN, name);
    o
}

pub(crate) fn container(relationship: &str, concept: Code<'_>, children: Vec<Obj>) -> Obj {
    let mut o = item(relationship, "CONTAINER", Some(concept));
    o.str(tags::CONTINUITY_OF_CONTENT, VR::CS, "SEPARATE");
    o.seq(tags::CONTENT_SEQUENCE, children);
    o
}

pub(crate) fn image(relationship: &str, concept: Option<Code<'_>>, img: &ImageRef) -> Obj {
    let mut o = item(relationship, "IMAGE", concept);
    let mut r = dcm::sop_ref(&img.sop_class_uid, &img.sop_instance_uid);
    if let Some(f) = crate::check::referenced_frame(img) {
        r.str(tags::REFERENCED_FRAME_NUMBER, VR::IS, &f.to_string());
    }
    o.seq(tags::REFERENCED_SOP_SEQUENCE, vec![r]);
    o
}

pub(crate) fn num(relationship: &str, concept: Code<'_>, value: f64, unit: Code<'_>, children: Vec<Obj>) -> Obj {
    let mut o = item(relationship, "NUM", Some(concept));
    let mut mv = Obj::new_empty();
    let ds = dcm::ds(value);
    mv.seq(tags::MEASUREMENT_UNITS_CODE_SEQUENCE, vec![code_item(unit)]);
    mv.str(tags::NUMERIC_VALUE, VR::DS, &ds);
    if ds.parse::<f64>().ok() != Some(value) {
        // The decimal string is not exact: the Floating Point Value is.
        mv.put(DataElement::new(tags::FLOATING_POINT_VALUE, VR::FD, PrimitiveValue::from(value)));
    }
    o.seq(tags::MEASURED_VALUE_SEQUENCE, vec![mv]);
    if !children.is_empty() {
        o.seq(tags::CONTENT_SEQUENCE, children);
    }
    o
}

/// The NUM's concept, from the quantity its unit measures.
fn measurement_concept(ucum: &str) -> Code<'static> {
    match ucum {
        "nm" | "um" | "mm" | "cm" | "m" => LENGTH,
        "mm2" | "cm2" | "m2" => AREA,
        "mm3" | "cm3" | "m3" | "ml" | "mL" | "l" | "L" => VOLUME,
        "[hnsf'U]" => ATTENUATION,
        _ => MEASUREMENT,
    }
}

/// The Code Meaning of common UCUM units (as PS3.16 writes them), else the code.
pub(crate) fn unit_meaning(ucum: &str) -> &str {
    match ucum {
        "nm" => "nanometer",
        "um" => "micrometer",
        "mm" => "millimeter",
        "cm" => "centimeter",
        "m" => "meter",
        "mm2" => "square millimeter",
        "cm2" => "square centimeter",
        "m2" => "square meter",
        "mm3" => "cubic millimeter",
        "cm3" => "cubic centimeter",
        "m3" => "cubic meter",
        "ml" | "mL" => "milliliter",
        "l" | "L" => "liter",
        "[hnsf'U]" => "Hounsfield unit",
        "%" => "Percent",
        "1" => "no units",
        "s" => "second",
        "ms" => "millisecond",
        "deg" => "degree",
        "g" => "gram",
        "kg" => "kilogram",
        "mm/s" => "millimeter per second",
        "cm/s" => "centimeter per second",
        "g/ml" | "g/mL" => "gram per milliliter",
        other => other,
    }
}
