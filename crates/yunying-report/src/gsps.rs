//! The Grayscale Softcopy Presentation State of the measurements' graphics
//! (what it holds is in the crate doc).

use dicom_core::value::C;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;

use crate::dcm::{self, Obj, Put, code, code_item};
use crate::{GSPS_SOP_CLASS_UID, ImageRef, Measurement, PRIVATE_CODING_SCHEME, ReportError, ReportInput, ReportUids, check};

/// The graphic layer every graphic and text is on.
pub(crate) const LAYER: &str = "MEASUREMENTS";
/// The Content Label.
pub(crate) const CONTENT_LABEL: &str = "MEASUREMENTS";

/// Whether the report has a GSPS: a measurement with an image and points.
pub(crate) fn wanted(input: &ReportInput) -> bool {
    input.measurements.iter().any(|m| m.image.is_some() && !m.points.is_empty())
}

/// Units whose polyline is a path, not the outline of a region: lengths and angles.
fn open_unit(ucum: &str) -> bool {
    matches!(ucum, "nm" | "um" | "mm" | "cm" | "m" | "deg" | "rad")
}

/// The Graphic Type and Graphic Data of a measurement's points (see
/// [`Measurement::points`]): one point is a POINT; a polyline of three or
/// more points is closed unless its unit is a length or an angle.
pub(crate) fn graphic(m: &Measurement) -> (&'static str, Vec<(f64, f64)>) {
    let mut points = m.points.clone();
    if points.len() == 1 {
        return ("POINT", points);
    }
    if points.len() >= 3 && points.first() != points.last() && !open_unit(&m.unit) {
        points.push(points[0]);
    }
    ("POLYLINE", points)
}

/// The text shown beside a measurement's graphic: label, value and unit.
pub(crate) fn text(m: &Measurement) -> String {
    let unit = crate::pdf::unit_display(&m.unit);
    if unit.is_empty() { format!("{} {}", m.label, dcm::ds(m.value)) } else { format!("{} {} {}", m.label, dcm::ds(m.value), unit) }
}

/// Where the text is anchored: the graphic's rightmost point (the topmost
/// of those), so the viewer sets the text beside the graphic.
fn anchor(points: &[(f64, f64)]) -> (f64, f64) {
    points.iter().copied().fold(points[0], |best, p| if p.0 > best.0 || (p.0 == best.0 && p.1 < best.1) { p } else { best })
}

fn fl(values: impl IntoIterator<Item = f64>) -> PrimitiveValue {
    // Within an image's 0..=65535 pixels, f32 keeps a 1/256 pixel.
    PrimitiveValue::F32(values.into_iter().map(|v| v as f32).collect::<C<f32>>())
}

fn strs(values: impl IntoIterator<Item = String>) -> PrimitiveValue {
    PrimitiveValue::Strs(values.into_iter().collect())
}

/// One referenced image of the Presentation State Relationship: its frames
/// (`None`: the whole image, every frame).
struct Target<'a> {
    img: &'a ImageRef,
    frames: Option<Vec<u32>>,
}

/// An Image SOP Instance Reference item.
fn image_item(img: &ImageRef, frames: Option<&[u32]>) -> Obj {
    let mut o = dcm::sop_ref(&img.sop_class_uid, &img.sop_instance_uid);
    if let Some(f) = frames {
        o.put(DataElement::new(tags::REFERENCED_FRAME_NUMBER, VR::IS, strs(f.iter().map(u32::to_string))));
    }
    o
}

/// Body Part Examined values of unpaired parts: for these the series has no
/// Laterality. For any other (or none) Laterality is written empty: unknown,
/// as the presentation state may span both sides.
const UNPAIRED_BODY_PARTS: &[&str] = &[
    "ABDOMEN",
    "ABDOMENPELVIS",
    "AORTA",
    "BLADDER",
    "BRAIN",
    "CHEST",
    "CHESTABDOMEN",
    "CHESTABDPELVIS",
    "COCCYX",
    "COLON",
    "CSPINE",
    "ESOPHAGUS",
    "FACE",
    "HEAD",
    "HEADNECK",
    "HEART",
    "LARYNX",
    "LIVER",
    "LSPINE",
    "MEDIASTINUM",
    "NECK",
    "NECKCHEST",
    "PANCREAS",
    "PELVIS",
    "PROSTATE",
    "SKULL",
    "SPINE",
    "SPLEEN",
    "SSPINE",
    "STOMACH",
    "THYROID",
    "TRACHEA",
    "TSPINE",
    "UTERUS",
    "WHOLEBODY",
];

/// Whether a value is a CS value (upper-case letters, digits, space, underscore).
fn is_cs(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b' ' || b == b'_')
}

/// The measurements the GSPS draws: those with an image and points whose
/// image is of the SOP Class of the first of them (a presentation state's
/// images are of one SOP Class: PS3.3 C.11.11.1, and DCMTK refuses others).
pub(crate) fn drawn(input: &ReportInput) -> Vec<(&Measurement, &ImageRef)> {
    let all = input.measurements.iter().filter_map(|m| m.image.as_ref().filter(|_| !m.points.is_empty()).map(|img| (m, img)));
    let Some(class) = all.clone().next().map(|(_, img)| img.sop_class_uid.as_str()) else {
        return Vec::new();
    };
    all.filter(|(_, img)| img.sop_class_uid == class).collect()
}

pub(crate) fn build(input: &ReportInput, uids: &ReportUids) -> Result<Vec<u8>, ReportError> {
    let drawn = drawn(input);
    if drawn.is_empty() {
        return Err(ReportError::Dicom("a presentation state without graphics".into()));
    }

    // The images, each once, in the order first drawn on, with the frames drawn on.
    let mut targets: Vec<Target<'_>> = Vec::new();
    for (_, img) in &drawn {
        let frame = check::referenced_frame(img);
        match targets.iter_mut().find(|t| t.img.sop_instance_uid == img.sop_instance_uid) {
            None => targets.push(Target { img, frames: frame.map(|f| vec![f]) }),
            Some(t) => match (&mut t.frames, frame) {
                (Some(frames), Some(f)) => {
                    if !frames.contains(&f) {
                        frames.push(f);
                        frames.sort_unstable();
                    }
                }
                // A reference to the whole image covers every frame.
                (frames, None) => *frames = None,
                (None, Some(_)) => {}
            },
        }
    }

    let description = if input.version > 1 {
        format!("影像诊断报告测量 第{}版", input.version)
    } else {
        "影像诊断报告测量".to_string()
    };
    let mut o = dcm::common(
        input,
        &dcm::Common {
            sop_class_uid: GSPS_SOP_CLASS_UID,
            sop_instance_uid: &uids.gsps_sop_instance_uid,
            modality: "PR",
            series_instance_uid: &uids.gsps_series_instance_uid,
            series_number: uids.gsps_series_number,
            series_description: "测量标注",
        },
    );
    // A presentation state has Presentation Creation Date/Time, not Content Date/Time.
    o.remove_element(tags::CONTENT_DATE);
    o.remove_element(tags::CONTENT_TIME);
    o.seq(tags::CODING_SCHEME_IDENTIFICATION_SEQUENCE, vec![dcm::private_scheme_identification()]);
    // General Series.
    if is_cs(&input.body_part) {
        o.str(tags::BODY_PART_EXAMINED, VR::CS, &input.body_part);
    }
    if !UNPAIRED_BODY_PARTS.contains(&input.body_part.as_str()) {
        o.empty(tags::LATERALITY, VR::CS);
    }

    // Presentation State Identification (Instance Number is in `common`).
    let signer = input.verifier.as_ref().unwrap_or(&input.author);
    o.str(tags::CONTENT_LABEL, VR::CS, CONTENT_LABEL);
    o.str(tags::CONTENT_DESCRIPTION, VR::LO, &description);
    o.str(tags::PRESENTATION_CREATION_DATE, VR::DA, &input.signed_at.date);
    o.str(tags::PRESENTATION_CREATION_TIME, VR::TM, &input.signed_at.time);
    o.str(tags::CONTENT_CREATOR_NAME, VR::PN, &signer.name);
    // Person Identification Macro: the Yunying principal id, as in the SR's Verifying Observer.
    let mut creator = Obj::new_empty();
    creator.seq(tags::PERSON_IDENTIFICATION_CODE_SEQUENCE, vec![code_item(code(&signer.id, PRIVATE_CODING_SCHEME, &signer.name))]);
    creator.str(tags::INSTITUTION_NAME, VR::LO, &input.reading_institution);
    o.seq(tags::CONTENT_CREATOR_IDENTIFICATION_CODE_SEQUENCE, vec![creator]);

    // Presentation State Relationship: the images, grouped by series.
    let mut series: Vec<(&str, Vec<Obj>)> = Vec::new();
    for t in &targets {
        let item = image_item(t.img, t.frames.as_deref());
        match series.iter_mut().find(|(s, _)| *s == t.img.series_instance_uid) {
            Some((_, items)) => items.push(item),
            None => series.push((&t.img.series_instance_uid, vec![item])),
        }
    }
    o.seq(
        tags::REFERENCED_SERIES_SEQUENCE,
        series
            .into_iter()
            .map(|(uid, items)| {
                let mut s = Obj::new_empty();
                s.seq(tags::REFERENCED_IMAGE_SEQUENCE, items);
                s.str(tags::SERIES_INSTANCE_UID, VR::UI, uid);
                s
            })
            .collect(),
    );

    // Displayed Area: each whole image, scaled to fit; one item per image
    // size, naming its images unless it is the only one.
    let mut sizes: Vec<((u16, u16), Vec<&Target<'_>>)> = Vec::new();
    for t in &targets {
        let size = match (t.img.columns, t.img.rows) {
            (Some(c), Some(r)) => (c, r),
            _ => return Err(ReportError::Dicom("an image with graphics and no rows or columns".into())),
        };
        match sizes.iter_mut().find(|(s, _)| *s == size) {
            Some((_, ts)) => ts.push(t),
            None => sizes.push((size, vec![t])),
        }
    }
    let one_size = sizes.len() == 1;
    let areas = sizes
        .into_iter()
        .map(|((columns, rows), ts)| {
            let mut a = Obj::new_empty();
            if !one_size {
                a.seq(tags::REFERENCED_IMAGE_SEQUENCE, ts.iter().map(|t| image_item(t.img, t.frames.as_deref())).collect());
            }
            a.put(DataElement::new(tags::DISPLAYED_AREA_TOP_LEFT_HAND_CORNER, VR::SL, PrimitiveValue::I32([1, 1].into_iter().collect())));
            a.put(DataElement::new(
                tags::DISPLAYED_AREA_BOTTOM_RIGHT_HAND_CORNER,
                VR::SL,
                PrimitiveValue::I32([i32::from(columns), i32::from(rows)].into_iter().collect()),
            ));
            a.str(tags::PRESENTATION_SIZE_MODE, VR::CS, "SCALE TO FIT");
            a.put(DataElement::new(tags::PRESENTATION_PIXEL_ASPECT_RATIO, VR::IS, strs(["1".to_string(), "1".to_string()])));
            a
        })
        .collect();
    o.seq(tags::DISPLAYED_AREA_SELECTION_SEQUENCE, areas);

    // Graphic Annotation: per measurement, its graphic and its text, on
    // its image (named unless that image, as referenced, is all there is).
    let annotations = drawn
        .iter()
        .map(|(m, img)| {
            let frame = check::referenced_frame(img);
            let mut a = Obj::new_empty();
            let whole = targets.len() == 1 && targets[0].frames == frame.map(|f| vec![f]);
            if !whole {
                a.seq(tags::REFERENCED_IMAGE_SEQUENCE, vec![image_item(img, frame.as_ref().map(std::slice::from_ref))]);
            }
            a.str(tags::GRAPHIC_LAYER, VR::CS, LAYER);

            let (kind, points) = graphic(m);
            let mut t = Obj::new_empty();
            t.str(tags::ANCHOR_POINT_ANNOTATION_UNITS, VR::CS, "PIXEL");
            t.str(tags::UNFORMATTED_TEXT_VALUE, VR::ST, &text(m));
            let (x, y) = anchor(&points);
            t.put(DataElement::new(tags::ANCHOR_POINT, VR::FL, fl([x, y])));
            t.str(tags::ANCHOR_POINT_VISIBILITY, VR::CS, "N");
            a.seq(tags::TEXT_OBJECT_SEQUENCE, vec![t]);

            let mut g = Obj::new_empty();
            g.str(tags::GRAPHIC_ANNOTATION_UNITS, VR::CS, "PIXEL");
            g.put(DataElement::new(tags::GRAPHIC_DIMENSIONS, VR::US, PrimitiveValue::from(2_u16)));
            let n = u16::try_from(points.len()).map_err(|_| ReportError::Dicom("over 65,535 graphic points".into()))?;
            g.put(DataElement::new(tags::NUMBER_OF_GRAPHIC_POINTS, VR::US, PrimitiveValue::from(n)));
            g.put(DataElement::new(tags::GRAPHIC_DATA, VR::FL, fl(points.iter().flat_map(|&(x, y)| [x, y]))));
            g.str(tags::GRAPHIC_TYPE, VR::CS, kind);
            if kind == "POLYLINE" && points.first() == points.last() {
                g.str(tags::GRAPHIC_FILLED, VR::CS, "N");
            }
            a.seq(tags::GRAPHIC_OBJECT_SEQUENCE, vec![g]);
            Ok(a)
        })
        .collect::<Result<Vec<Obj>, ReportError>>()?;
    o.seq(tags::GRAPHIC_ANNOTATION_SEQUENCE, annotations);

    // Graphic Layer: the one layer, white on a grayscale display.
    let mut layer = Obj::new_empty();
    layer.str(tags::GRAPHIC_LAYER, VR::CS, LAYER);
    layer.put(DataElement::new(tags::GRAPHIC_LAYER_ORDER, VR::IS, PrimitiveValue::from("1")));
    layer.put(DataElement::new(tags::GRAPHIC_LAYER_RECOMMENDED_DISPLAY_GRAYSCALE_VALUE, VR::US, PrimitiveValue::from(0xFFFF_u16)));
    layer.str(tags::GRAPHIC_LAYER_DESCRIPTION, VR::LO, "影像诊断报告测量");
    o.seq(tags::GRAPHIC_LAYER_SEQUENCE, vec![layer]);

    // Softcopy Presentation LUT.
    o.str(tags::PRESENTATION_LUT_SHAPE, VR::CS, "IDENTITY");
    dcm::part10(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(unit: &str, points: &[(f64, f64)]) -> Measurement {
        Measurement { label: "测量".into(), value: 1.5, unit: unit.into(), image: None, points: points.to_vec() }
    }

    #[test]
    fn graphics_close_regions_only() {
        let square = [(0.0, 0.0), (2.0, 0.0), (2.0, 2.0), (0.0, 2.0)];
        let mut closed = square.to_vec();
        closed.push((0.0, 0.0));
        assert_eq!(graphic(&m("mm2", &square)), ("POLYLINE", closed.clone()));
        assert_eq!(graphic(&m("[hnsf'U]", &square)), ("POLYLINE", closed.clone()));
        // Already closed: as given.
        assert_eq!(graphic(&m("mm2", &closed)), ("POLYLINE", closed.clone()));
        // A path's length, an angle, a line: open.
        assert_eq!(graphic(&m("mm", &square)), ("POLYLINE", square.to_vec()));
        assert_eq!(graphic(&m("deg", &square[..3])), ("POLYLINE", square[..3].to_vec()));
        assert_eq!(graphic(&m("mm2", &square[..2])), ("POLYLINE", square[..2].to_vec()));
        assert_eq!(graphic(&m("[hnsf'U]", &square[..1])), ("POINT", square[..1].to_vec()));
    }

    #[test]
    fn texts_and_anchors() {
        assert_eq!(text(&m("mm", &[])), "测量 1.5 mm");
        assert_eq!(text(&m("[hnsf'U]", &[])), "测量 1.5 HU");
        assert_eq!(text(&m("1", &[])), "测量 1.5");
        assert_eq!(anchor(&[(1.0, 5.0), (3.0, 4.0), (3.0, 2.0), (0.0, 0.0)]), (3.0, 2.0));
    }
}
