//! The Grayscale Softcopy Presentation State of an annotation set: each
//! annotation's graphic and text on its image (an arrow is its line and
//! its text with a visible anchor at the head), and the window shown per
//! image as a Softcopy VOI LUT. Content Label [`CONTENT_LABEL`].

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;

use super::tid1500::{fl, graphic};
use super::{Annotation, AnnotationDocument, AnnotationSet, CONTENT_LABEL, Tool, common_input};
use crate::dcm::{self, Obj, Put, code, code_item};
use crate::{GSPS_SOP_CLASS_UID, ImageRef, PRIVATE_CODING_SCHEME, ReportError, check};

const LAYER: &str = "ANNOTATIONS";

fn image_item(img: &ImageRef) -> Obj {
    let mut o = dcm::sop_ref(&img.sop_class_uid, &img.sop_instance_uid);
    if let Some(f) = check::referenced_frame(img) {
        o.str(tags::REFERENCED_FRAME_NUMBER, VR::IS, &f.to_string());
    }
    o
}

/// The text shown with an annotation: its label and values.
pub(crate) fn caption(a: &Annotation) -> String {
    let v = &a.values;
    let unit = if v.intensity_unit == "HU" { " HU" } else { "" };
    let mut parts: Vec<String> = Vec::new();
    if !a.label.is_empty() {
        parts.push(a.label.clone());
    }
    let r = |x: f64| format!("{:.1}", x);
    if let Some(x) = v.length_mm {
        parts.push(format!("{} mm", r(x)));
    }
    if let Some(x) = v.angle_deg {
        parts.push(format!("{}°", r(x)));
    }
    if let Some(x) = v.area_mm2 {
        parts.push(format!("{} mm²", r(x)));
    }
    if let Some(x) = v.mean {
        parts.push(format!("mean {}{unit}", r(x)));
    }
    if let Some(x) = v.std_dev {
        parts.push(format!("SD {}{unit}", r(x)));
    }
    parts.join(" ")
}

pub(crate) fn build(doc: &AnnotationDocument, set: &AnnotationSet) -> Result<Vec<u8>, ReportError> {
    // A presentation state's images share one SOP Class: the first annotation's.
    let class = set.annotations[0].image.sop_class_uid.as_str();
    let drawn: Vec<&Annotation> = set.annotations.iter().filter(|a| a.image.sop_class_uid == class).collect();
    let displays: Vec<_> = set.displays.iter().filter(|d| d.image.sop_class_uid == class).collect();
    let mut targets: Vec<ImageRef> = Vec::new();
    for img in drawn.iter().map(|a| a.image.image_ref()).chain(displays.iter().map(|d| d.image.image_ref())) {
        if !targets.iter().any(|t| t.sop_instance_uid == img.sop_instance_uid && t.frame == img.frame) {
            targets.push(img);
        }
    }

    let input = common_input(doc);
    let mut o = dcm::common(
        &input,
        &dcm::Common {
            sop_class_uid: GSPS_SOP_CLASS_UID,
            sop_instance_uid: &doc.gsps_sop_instance_uid,
            modality: "PR",
            series_instance_uid: &doc.gsps_series_instance_uid,
            series_number: 9801,
            series_description: "测量标注 Annotations",
        },
    );
    o.remove_element(tags::CONTENT_DATE);
    o.remove_element(tags::CONTENT_TIME);
    o.seq(tags::CODING_SCHEME_IDENTIFICATION_SEQUENCE, vec![dcm::private_scheme_identification()]);
    // Laterality unknown: the annotations may be on either side.
    o.empty(tags::LATERALITY, VR::CS);
    o.str(tags::CONTENT_LABEL, VR::CS, CONTENT_LABEL);
    o.str(tags::CONTENT_DESCRIPTION, VR::LO, "Viewer annotations");
    o.str(tags::PRESENTATION_CREATION_DATE, VR::DA, &doc.created.date);
    o.str(tags::PRESENTATION_CREATION_TIME, VR::TM, &doc.created.time);
    o.str(tags::CONTENT_CREATOR_NAME, VR::PN, &doc.author.name);
    let mut creator = Obj::new_empty();
    creator.seq(tags::PERSON_IDENTIFICATION_CODE_SEQUENCE, vec![code_item(code(&doc.author.id, PRIVATE_CODING_SCHEME, &doc.author.name))]);
    creator.str(tags::INSTITUTION_NAME, VR::LO, &doc.institution);
    o.seq(tags::CONTENT_CREATOR_IDENTIFICATION_CODE_SEQUENCE, vec![creator]);

    // Presentation State Relationship.
    let mut series: Vec<(String, Vec<Obj>)> = Vec::new();
    for t in &targets {
        match series.iter_mut().find(|(s, _)| *s == t.series_instance_uid) {
            Some((_, items)) => items.push(image_item(t)),
            None => series.push((t.series_instance_uid.clone(), vec![image_item(t)])),
        }
    }
    o.seq(
        tags::REFERENCED_SERIES_SEQUENCE,
        series
            .into_iter()
            .map(|(uid, items)| {
                let mut s = Obj::new_empty();
                s.seq(tags::REFERENCED_IMAGE_SEQUENCE, items);
                s.str(tags::SERIES_INSTANCE_UID, VR::UI, &uid);
                s
            })
            .collect(),
    );

    // Displayed Area: each whole image, one item per image.
    let mut areas = Vec::new();
    for t in &targets {
        let (Some(columns), Some(rows)) = (t.columns, t.rows) else {
            return Err(ReportError::Dicom("an annotated image without rows or columns".into()));
        };
        let mut a = Obj::new_empty();
        a.seq(tags::REFERENCED_IMAGE_SEQUENCE, vec![image_item(t)]);
        a.put(DataElement::new(tags::DISPLAYED_AREA_TOP_LEFT_HAND_CORNER, VR::SL, PrimitiveValue::I32([1, 1].into_iter().collect())));
        a.put(DataElement::new(
            tags::DISPLAYED_AREA_BOTTOM_RIGHT_HAND_CORNER,
            VR::SL,
            PrimitiveValue::I32([i32::from(columns), i32::from(rows)].into_iter().collect()),
        ));
        a.str(tags::PRESENTATION_SIZE_MODE, VR::CS, "SCALE TO FIT");
        a.put(DataElement::new(
            tags::PRESENTATION_PIXEL_ASPECT_RATIO,
            VR::IS,
            PrimitiveValue::Strs(["1".to_string(), "1".to_string()].into_iter().collect()),
        ));
        areas.push(a);
    }
    o.seq(tags::DISPLAYED_AREA_SELECTION_SEQUENCE, areas);

    // Graphic Annotation: per annotation, its graphic (none for a text) and its text.
    let mut annotations = Vec::new();
    for a in &drawn {
        let mut item = Obj::new_empty();
        item.seq(tags::REFERENCED_IMAGE_SEQUENCE, vec![image_item(&a.image.image_ref())]);
        item.str(tags::GRAPHIC_LAYER, VR::CS, LAYER);
        let (kind, points) = graphic(a);
        let words = caption(a);
        if !words.is_empty() {
            let mut t = Obj::new_empty();
            t.str(tags::ANCHOR_POINT_ANNOTATION_UNITS, VR::CS, "PIXEL");
            t.str(tags::UNFORMATTED_TEXT_VALUE, VR::ST, &words);
            // An arrow's text points at its head; others sit at the rightmost point.
            let (anchor, visible) = match a.tool {
                Tool::Arrow => (a.points[1], "Y"),
                Tool::Text => (a.points[0], "N"),
                _ => (points.iter().copied().fold(points[0], |b, p| if p[0] > b[0] { p } else { b }), "N"),
            };
            t.put(DataElement::new(tags::ANCHOR_POINT, VR::FL, fl(anchor)));
            t.str(tags::ANCHOR_POINT_VISIBILITY, VR::CS, visible);
            item.seq(tags::TEXT_OBJECT_SEQUENCE, vec![t]);
        }
        if a.tool != Tool::Text {
            let mut g = Obj::new_empty();
            g.str(tags::GRAPHIC_ANNOTATION_UNITS, VR::CS, "PIXEL");
            g.put(DataElement::new(tags::GRAPHIC_DIMENSIONS, VR::US, PrimitiveValue::from(2_u16)));
            let n = u16::try_from(points.len()).map_err(|_| ReportError::Dicom("too many graphic points".into()))?;
            g.put(DataElement::new(tags::NUMBER_OF_GRAPHIC_POINTS, VR::US, PrimitiveValue::from(n)));
            g.put(DataElement::new(tags::GRAPHIC_DATA, VR::FL, fl(points.iter().flat_map(|p| [p[0], p[1]]))));
            g.str(tags::GRAPHIC_TYPE, VR::CS, kind);
            if kind == "ELLIPSE" || (kind == "POLYLINE" && points.first() == points.last()) {
                g.str(tags::GRAPHIC_FILLED, VR::CS, "N");
            }
            item.seq(tags::GRAPHIC_OBJECT_SEQUENCE, vec![g]);
        }
        annotations.push(item);
    }
    o.seq(tags::GRAPHIC_ANNOTATION_SEQUENCE, annotations);

    let mut layer = Obj::new_empty();
    layer.str(tags::GRAPHIC_LAYER, VR::CS, LAYER);
    layer.put(DataElement::new(tags::GRAPHIC_LAYER_ORDER, VR::IS, PrimitiveValue::from("1")));
    layer.put(DataElement::new(tags::GRAPHIC_LAYER_RECOMMENDED_DISPLAY_GRAYSCALE_VALUE, VR::US, PrimitiveValue::from(0xFFFF_u16)));
    layer.str(tags::GRAPHIC_LAYER_DESCRIPTION, VR::LO, "Viewer annotations");
    o.seq(tags::GRAPHIC_LAYER_SEQUENCE, vec![layer]);

    // Softcopy VOI LUT: the window shown, per image.
    if !displays.is_empty() {
        let items = displays
            .iter()
            .map(|d| {
                let mut v = Obj::new_empty();
                v.seq(tags::REFERENCED_IMAGE_SEQUENCE, vec![image_item(&d.image.image_ref())]);
                v.str(tags::WINDOW_CENTER, VR::DS, &dcm::ds(d.window_center));
                v.str(tags::WINDOW_WIDTH, VR::DS, &dcm::ds(d.window_width));
                v
            })
            .collect();
        o.seq(tags::SOFTCOPY_VOILUT_SEQUENCE, items);
    }
    o.str(tags::PRESENTATION_LUT_SHAPE, VR::CS, "IDENTITY");
    dcm::part10(o)
}
