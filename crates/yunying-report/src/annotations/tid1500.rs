//! The Comprehensive SR after TID 1500 (the tree is drawn in the module doc).

use dicom_core::value::C;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;

use super::{Annotation, AnnotationDocument, AnnotationSet, COMPREHENSIVE_SR_SOP_CLASS_UID, Tool, common_input};
use crate::dcm::{self, Code, Obj, Put, code, code_item};
use crate::sr::{code_ci, container, image, item, language, num, observer, template, text};
use crate::{ImageRef, PRIVATE_CODING_SCHEME as P, ReportError};

pub(crate) const MEASUREMENT_REPORT: Code<'static> = code("126000", "DCM", "Imaging Measurement Report");
const PROCEDURE_REPORTED: Code<'static> = code("121058", "DCM", "Procedure reported");
const IMAGING_PROCEDURE: Code<'static> = code("363679005", "SCT", "Imaging procedure");
const IMAGE_LIBRARY: Code<'static> = code("111028", "DCM", "Image Library");
const IMAGE_LIBRARY_GROUP: Code<'static> = code("126200", "DCM", "Image Library Group");
pub(crate) const IMAGING_MEASUREMENTS: Code<'static> = code("126010", "DCM", "Imaging Measurements");
pub(crate) const MEASUREMENT_GROUP: Code<'static> = code("125007", "DCM", "Measurement Group");
pub(crate) const TRACKING_ID: Code<'static> = code("112039", "DCM", "Tracking Identifier");
pub(crate) const TRACKING_UID: Code<'static> = code("112040", "DCM", "Tracking Unique Identifier");
const FINDING: Code<'static> = code("121071", "DCM", "Finding");
const ABNORMAL_STRUCTURE: Code<'static> = code("49755003", "SCT", "Morphologically Abnormal Structure");
pub(crate) const IMAGE_REGION: Code<'static> = code("111030", "DCM", "Image Region");
pub(crate) const TOOL: Code<'static> = code("ANNOTTOOL", P, "Annotation tool");
pub(crate) const LABEL: Code<'static> = code("ANNOTLABEL", P, "Annotation label");
pub(crate) const OBSERVER_NAME: Code<'static> = code("121008", "DCM", "Person Observer Name");
pub(crate) const OBSERVER_LOGIN: Code<'static> = code("128774", "DCM", "Person Observer's Login Name");
pub(crate) const READER: Code<'static> = code("C28747", "NCIt", "Reader");

pub(crate) const LENGTH: Code<'static> = code("410668003", "SCT", "Length");
pub(crate) const ANGLE: Code<'static> = code("1483009", "SCT", "Angle");
pub(crate) const AREA: Code<'static> = code("42798000", "SCT", "Area");
pub(crate) const MEAN: Code<'static> = code("373098007", "SCT", "Mean");
pub(crate) const STD_DEV: Code<'static> = code("386136009", "SCT", "Standard Deviation");
pub(crate) const MIN: Code<'static> = code("255605001", "SCT", "Minimum");
pub(crate) const MAX: Code<'static> = code("56851009", "SCT", "Maximum");

const MM: Code<'static> = code("mm", "UCUM", "millimeter");
const DEG: Code<'static> = code("deg", "UCUM", "degree");
const MM2: Code<'static> = code("mm2", "UCUM", "square millimeter");
const HU: Code<'static> = code("[hnsf'U]", "UCUM", "Hounsfield unit");
const NO_UNITS: Code<'static> = code("1", "UCUM", "no units");

/// The Graphic Type and data of an annotation's points: closed outlines
/// end where they start.
pub(crate) fn graphic(a: &Annotation) -> (&'static str, Vec<[f64; 2]>) {
    let mut points = a.points.clone();
    match a.tool {
        Tool::Text => ("POINT", points),
        Tool::Ellipse => {
            // The major axis first.
            let d = |p: [f64; 2], q: [f64; 2]| (p[0] - q[0]).hypot(p[1] - q[1]);
            if d(points[2], points[3]) > d(points[0], points[1]) {
                points.rotate_left(2);
            }
            ("ELLIPSE", points)
        }
        Tool::Rectangle | Tool::Polygon => {
            if points.first() != points.last() {
                points.push(points[0]);
            }
            ("POLYLINE", points)
        }
        Tool::Length | Tool::Angle | Tool::Arrow | Tool::Polyline => ("POLYLINE", points),
    }
}

pub(crate) fn fl(values: impl IntoIterator<Item = f64>) -> PrimitiveValue {
    PrimitiveValue::F32(values.into_iter().map(|v| v as f32).collect::<C<f32>>())
}

fn uidref(relationship: &str, concept: Code<'_>, uid: &str) -> Obj {
    let mut o = item(relationship, "UIDREF", Some(concept));
    o.str(tags::UID, VR::UI, uid);
    o
}

/// The distinct images of the set, in order of first use.
pub(crate) fn images(set: &AnnotationSet) -> Vec<ImageRef> {
    let mut out: Vec<ImageRef> = Vec::new();
    for a in &set.annotations {
        let r = a.image.image_ref();
        if !out.iter().any(|o| o.sop_instance_uid == r.sop_instance_uid && o.frame == r.frame) {
            out.push(r);
        }
    }
    out
}

fn group(n: usize, a: &Annotation) -> Obj {
    let mut children = Vec::new();
    let id = if a.label.is_empty() { format!("Annotation {n}") } else { a.label.clone() };
    children.push(text("HAS OBS CONTEXT", TRACKING_ID, &id));
    children.push(uidref("HAS OBS CONTEXT", TRACKING_UID, &a.tracking_uid));
    children.push(code_ci("CONTAINS", FINDING, ABNORMAL_STRUCTURE));
    let (kind, points) = graphic(a);
    let mut region = item("CONTAINS", "SCOORD", Some(IMAGE_REGION));
    region.str(tags::GRAPHIC_TYPE, VR::CS, kind);
    region.put(DataElement::new(tags::GRAPHIC_DATA, VR::FL, fl(points.iter().flat_map(|p| [p[0], p[1]]))));
    region.seq(tags::CONTENT_SEQUENCE, vec![image("SELECTED FROM", None, &a.image.image_ref())]);
    children.push(region);
    children.push(text("CONTAINS", TOOL, a.tool.name()));
    if !a.label.is_empty() {
        children.push(text("CONTAINS", LABEL, &a.label));
    }
    let v = &a.values;
    let intensity = if v.intensity_unit == "HU" { HU } else { NO_UNITS };
    for (concept, value, unit) in [
        (LENGTH, v.length_mm, MM),
        (ANGLE, v.angle_deg, DEG),
        (AREA, v.area_mm2, MM2),
        (MEAN, v.mean, intensity),
        (STD_DEV, v.std_dev, intensity),
        (MIN, v.min, intensity),
        (MAX, v.max, intensity),
    ] {
        if let Some(x) = value {
            children.push(num("CONTAINS", concept, x, unit, Vec::new()));
        }
    }
    let mut g = container("CONTAINS", MEASUREMENT_GROUP, children);
    g.seq(tags::CONTENT_TEMPLATE_SEQUENCE, vec![template("1410")]);
    g
}

pub(crate) fn build(doc: &AnnotationDocument, set: &AnnotationSet) -> Result<Vec<u8>, ReportError> {
    let input = common_input(doc);
    let mut o = dcm::common(
        &input,
        &dcm::Common {
            sop_class_uid: COMPREHENSIVE_SR_SOP_CLASS_UID,
            sop_instance_uid: &doc.sr_sop_instance_uid,
            modality: "SR",
            series_instance_uid: &doc.sr_series_instance_uid,
            series_number: 9800,
            series_description: "测量标注 Measurements",
        },
    );
    o.seq(tags::CODING_SCHEME_IDENTIFICATION_SEQUENCE, vec![dcm::private_scheme_identification()]);
    o.empty(tags::REFERENCED_PERFORMED_PROCEDURE_STEP_SEQUENCE, VR::SQ);
    o.str(tags::COMPLETION_FLAG, VR::CS, "COMPLETE");
    o.str(tags::VERIFICATION_FLAG, VR::CS, "UNVERIFIED");
    o.empty(tags::PERFORMED_PROCEDURE_CODE_SEQUENCE, VR::SQ);
    let library = images(set);
    if let Some(evidence) = dcm::hierarchical_reference(
        &doc.study.study_instance_uid,
        library.iter().map(|i| (i.series_instance_uid.as_str(), i.sop_class_uid.as_str(), i.sop_instance_uid.as_str())),
    ) {
        o.seq(tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE, vec![evidence]);
    }

    let mut content = vec![language()];
    content.extend(observer(&doc.author, &doc.institution, READER));
    content.push(code_ci("HAS CONCEPT MOD", PROCEDURE_REPORTED, IMAGING_PROCEDURE));
    let entries = library.iter().map(|img| image("CONTAINS", None, img)).collect();
    content.push(container("CONTAINS", IMAGE_LIBRARY, vec![container("CONTAINS", IMAGE_LIBRARY_GROUP, entries)]));
    let groups = set.annotations.iter().enumerate().map(|(i, a)| group(i + 1, a)).collect();
    content.push(container("CONTAINS", IMAGING_MEASUREMENTS, groups));

    o.str(tags::VALUE_TYPE, VR::CS, "CONTAINER");
    o.seq(tags::CONCEPT_NAME_CODE_SEQUENCE, vec![code_item(MEASUREMENT_REPORT)]);
    o.str(tags::CONTINUITY_OF_CONTENT, VR::CS, "SEPARATE");
    o.seq(tags::CONTENT_TEMPLATE_SEQUENCE, vec![template("1500")]);
    o.seq(tags::CONTENT_SEQUENCE, content);
    dcm::part10(o)
}
