//! Reading a TID 1500 Measurement Report back: ours (the tool and label
//! are in private TEXT items) or another tool's (OHIF, highdicom), whose
//! planar ROI groups (TID 1410: an Image Region SCOORD selected from an
//! image, with NUM measurements) give the tool by their graphic. Groups
//! without a region are skipped. Also the windows of our presentation state
//! and the images of a Key Object Selection document.

use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;

use super::tid1500::{ANGLE, AREA, IMAGING_MEASUREMENTS, LABEL, LENGTH, MAX, MEAN, MEASUREMENT_REPORT, MIN, STD_DEV, TOOL, TRACKING_UID};
use super::{AnnotatedImage, Annotation, AnnotationSet, Display, MAX_ANNOTATIONS, MAX_DISPLAYS, MAX_KEY_IMAGES, MAX_POINTS, Tool, Values};
use crate::dcm::Code;
use crate::{ReportError, check};

type Obj = InMemDicomObject;

/// A TID 1500 report read back.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedReport {
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// Person Observer Name, when given.
    pub author_name: String,
    /// Person Observer's Login Name (a Yunying principal id for ours), when given.
    pub author_id: String,
    /// Content Date and Time (YYYYMMDD, HHMMSS…).
    pub content_date: String,
    /// Content Time.
    pub content_time: String,
    /// The annotations and (empty) displays.
    pub set: AnnotationSet,
}

fn bad(reason: impl Into<String>) -> ReportError {
    ReportError::Invalid { field: "sr".into(), reason: reason.into() }
}

/// Read a Part 10 file (with or without its preamble).
pub fn read_part10(bytes: &[u8]) -> Result<Obj, ReportError> {
    let body = if bytes.len() > 132 && &bytes[128..132] == b"DICM" { &bytes[128..] } else { bytes };
    let file = dicom_object::from_reader(body).map_err(|e| bad(format!("not a DICOM file: {e}")))?;
    Ok(file.into_inner())
}

fn string(o: &Obj, tag: dicom_core::Tag) -> String {
    o.element(tag).ok().and_then(|e| e.to_str().ok()).map(|s| s.trim_end_matches(['\0', ' ']).trim().to_string()).unwrap_or_default()
}

fn items(o: &Obj, tag: dicom_core::Tag) -> &[Obj] {
    o.element(tag).ok().and_then(|e| e.items()).unwrap_or(&[])
}

/// The (value, scheme) of a code sequence's first item.
fn code_of(o: &Obj, tag: dicom_core::Tag) -> Option<(String, String)> {
    let c = items(o, tag).first()?;
    let mut value = string(c, tags::CODE_VALUE);
    if value.is_empty() {
        value = string(c, tags::LONG_CODE_VALUE);
    }
    Some((value, string(c, tags::CODING_SCHEME_DESIGNATOR)))
}

fn is(o: &Obj, concept: Code<'_>) -> bool {
    code_of(o, tags::CONCEPT_NAME_CODE_SEQUENCE).is_some_and(|(v, s)| v == concept.value && s == concept.scheme)
}

fn value_type(o: &Obj) -> String {
    string(o, tags::VALUE_TYPE)
}

/// Whether this is a TID 1500 report (its title is Imaging Measurement Report).
pub fn is_measurement_report(o: &Obj) -> bool {
    value_type(o) == "CONTAINER" && is(o, MEASUREMENT_REPORT)
}

/// Read a TID 1500 SR's planar annotations; `series` maps a referenced
/// instance to its series when the evidence does not say.
pub fn parse_sr(bytes: &[u8]) -> Result<ParsedReport, ReportError> {
    let o = read_part10(bytes)?;
    if !is_measurement_report(&o) {
        return Err(bad("not a TID 1500 Imaging Measurement Report"));
    }
    // Instance → series, from the evidence sequences.
    let series_of = evidence_series(&o, &[tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE, tags::PERTINENT_OTHER_EVIDENCE_SEQUENCE]);
    let mut report = ParsedReport {
        sop_instance_uid: string(&o, tags::SOP_INSTANCE_UID),
        author_name: String::new(),
        author_id: String::new(),
        content_date: string(&o, tags::CONTENT_DATE),
        content_time: string(&o, tags::CONTENT_TIME),
        set: AnnotationSet::default(),
    };
    for c in items(&o, tags::CONTENT_SEQUENCE) {
        if is(c, super::tid1500::OBSERVER_NAME) && report.author_name.is_empty() {
            report.author_name = string(c, tags::PERSON_NAME);
        }
        if is(c, super::tid1500::OBSERVER_LOGIN) && report.author_id.is_empty() {
            report.author_id = string(c, tags::TEXT_VALUE);
        }
        if value_type(c) != "CONTAINER" || !is(c, IMAGING_MEASUREMENTS) {
            continue;
        }
        for g in items(c, tags::CONTENT_SEQUENCE) {
            if value_type(g) != "CONTAINER" {
                continue;
            }
            if let Some(a) = group(g, &series_of)? {
                if report.set.annotations.len() == MAX_ANNOTATIONS {
                    return Err(ReportError::TooLarge { field: "annotations".into(), len: MAX_ANNOTATIONS + 1, max: MAX_ANNOTATIONS });
                }
                report.set.annotations.push(a);
            }
        }
    }
    Ok(report)
}

fn number(c: &Obj) -> Option<(f64, String)> {
    let mv = items(c, tags::MEASURED_VALUE_SEQUENCE).first()?;
    let exact = mv.element(tags::FLOATING_POINT_VALUE).ok().and_then(|e| e.to_float64().ok());
    let v = exact.or_else(|| string(mv, tags::NUMERIC_VALUE).parse::<f64>().ok())?;
    let unit = code_of(mv, tags::MEASUREMENT_UNITS_CODE_SEQUENCE).map(|(v, _)| v).unwrap_or_default();
    v.is_finite().then_some((v, unit))
}

/// One measurement group; `None` when it has no image region.
fn group(g: &Obj, series_of: &[(String, String)]) -> Result<Option<Annotation>, ReportError> {
    let mut tool = None;
    let mut label = String::new();
    let mut tracking_id = String::new();
    let mut tracking_uid = String::new();
    let mut values = Values::default();
    let mut region: Option<(String, Vec<[f64; 2]>, AnnotatedImage)> = None;
    for c in items(g, tags::CONTENT_SEQUENCE) {
        match value_type(c).as_str() {
            "TEXT" if is(c, TOOL) => tool = Tool::from_name(&string(c, tags::TEXT_VALUE)),
            "TEXT" if is(c, LABEL) => label = string(c, tags::TEXT_VALUE),
            "TEXT" if is(c, super::tid1500::TRACKING_ID) => tracking_id = string(c, tags::TEXT_VALUE),
            "UIDREF" if is(c, TRACKING_UID) => tracking_uid = string(c, tags::UID),
            "SCOORD" if region.is_none() => {
                let kind = string(c, tags::GRAPHIC_TYPE);
                let data = c.element(tags::GRAPHIC_DATA).ok().and_then(|e| e.to_multi_float32().ok()).unwrap_or_default();
                if data.len() % 2 != 0 || data.len() / 2 > MAX_POINTS || data.iter().any(|v| !v.is_finite()) {
                    return Err(bad("an image region's graphic data is not a list of points"));
                }
                let points: Vec<[f64; 2]> = data.chunks(2).map(|p| [f64::from(p[0]), f64::from(p[1])]).collect();
                let Some(img) = items(c, tags::CONTENT_SEQUENCE).iter().find(|i| value_type(i) == "IMAGE") else { continue };
                let Some(r) = items(img, tags::REFERENCED_SOP_SEQUENCE).first() else { continue };
                let instance = string(r, tags::REFERENCED_SOP_INSTANCE_UID);
                let frame = string(r, tags::REFERENCED_FRAME_NUMBER).split('\\').next().and_then(|f| f.trim().parse::<u32>().ok());
                let image = AnnotatedImage {
                    series_instance_uid: series_of.iter().find(|(i, _)| *i == instance).map(|(_, s)| s.clone()).unwrap_or_default(),
                    sop_class_uid: string(r, tags::REFERENCED_SOP_CLASS_UID),
                    sop_instance_uid: instance,
                    frame,
                    rows: None,
                    columns: None,
                };
                region = Some((kind, points, image));
            }
            "NUM" => {
                let Some((v, unit)) = number(c) else { continue };
                let Some((code, scheme)) = code_of(c, tags::CONCEPT_NAME_CODE_SEQUENCE) else { continue };
                let known = |k: Code<'_>| code == k.value && scheme == k.scheme;
                if known(LENGTH) || (scheme == "DCM" && code == "121206") || (scheme == "SCT" && code == "103339001") {
                    values.length_mm.get_or_insert(length_in_mm(v, &unit));
                } else if known(ANGLE) {
                    values.angle_deg.get_or_insert(v);
                } else if known(AREA) {
                    values.area_mm2.get_or_insert(if unit == "cm2" { v * 100.0 } else { v });
                } else if known(MEAN) || known(STD_DEV) || known(MIN) || known(MAX) {
                    if unit == "[hnsf'U]" {
                        values.intensity_unit = "HU".into();
                    }
                    let slot = if known(MEAN) {
                        &mut values.mean
                    } else if known(STD_DEV) {
                        &mut values.std_dev
                    } else if known(MIN) {
                        &mut values.min
                    } else {
                        &mut values.max
                    };
                    slot.get_or_insert(v);
                }
            }
            _ => {}
        }
    }
    let Some((kind, mut points, image)) = region else { return Ok(None) };
    if points.is_empty() {
        return Ok(None);
    }
    let closed = points.len() > 2 && points.first() == points.last();
    let tool = match (tool, kind.as_str()) {
        (Some(t), _) => t,
        (None, "POINT") => Tool::Text,
        (None, "ELLIPSE") => Tool::Ellipse,
        (None, "CIRCLE") if points.len() == 2 => {
            let ([cx, cy], [ex, ey]) = (points[0], points[1]);
            let r = (ex - cx).hypot(ey - cy);
            points = vec![[cx - r, cy], [cx + r, cy], [cx, cy - r], [cx, cy + r]];
            Tool::Ellipse
        }
        (None, "POLYLINE" | "POLYGON") if closed || kind == "POLYGON" => {
            let n = points.len() - usize::from(closed);
            let axis_aligned = n == 4
                && (0..4).all(|i| {
                    let (p, q) = (points[i], points[(i + 1) % 4]);
                    p[0] == q[0] || p[1] == q[1]
                });
            if axis_aligned { Tool::Rectangle } else { Tool::Polygon }
        }
        (None, "POLYLINE") if points.len() == 2 => {
            if values.length_mm.is_none() && !tracking_id.is_empty() && label.is_empty() {
                label = tracking_id.clone();
            }
            if values.length_mm.is_some() { Tool::Length } else { Tool::Arrow }
        }
        (None, "POLYLINE") if points.len() == 3 && values.angle_deg.is_some() => Tool::Angle,
        (None, "POLYLINE" | "MULTIPOINT") => Tool::Polyline,
        _ => return Ok(None),
    };
    if matches!(tool, Tool::Rectangle | Tool::Polygon) && closed {
        points.pop();
    }
    if check::uid("tracking_uid", &tracking_uid).is_err() {
        tracking_uid.clear();
    }
    Ok(Some(Annotation { tool, image, points, label, values, tracking_uid }))
}

fn length_in_mm(v: f64, unit: &str) -> f64 {
    match unit {
        "cm" => v * 10.0,
        "um" => v / 1000.0,
        _ => v,
    }
}

/// The windows of a presentation state (its Softcopy VOI LUT items that
/// name images), with each image's series from its relationship.
pub fn parse_displays(bytes: &[u8]) -> Result<Vec<Display>, ReportError> {
    let o = read_part10(bytes)?;
    let mut series_of: Vec<(String, String)> = Vec::new();
    for s in items(&o, tags::REFERENCED_SERIES_SEQUENCE) {
        let uid = string(s, tags::SERIES_INSTANCE_UID);
        for i in items(s, tags::REFERENCED_IMAGE_SEQUENCE) {
            series_of.push((string(i, tags::REFERENCED_SOP_INSTANCE_UID), uid.clone()));
        }
    }
    let mut out = Vec::new();
    for v in items(&o, tags::SOFTCOPY_VOILUT_SEQUENCE).iter().take(MAX_DISPLAYS) {
        let first = |t| string(v, t).split('\\').next().and_then(|x| x.trim().parse::<f64>().ok());
        let (Some(center), Some(width)) = (first(tags::WINDOW_CENTER), first(tags::WINDOW_WIDTH)) else { continue };
        for r in items(v, tags::REFERENCED_IMAGE_SEQUENCE) {
            let instance = string(r, tags::REFERENCED_SOP_INSTANCE_UID);
            out.push(Display {
                image: AnnotatedImage {
                    series_instance_uid: series_of.iter().find(|(i, _)| *i == instance).map(|(_, s)| s.clone()).unwrap_or_default(),
                    sop_class_uid: string(r, tags::REFERENCED_SOP_CLASS_UID),
                    sop_instance_uid: instance,
                    frame: string(r, tags::REFERENCED_FRAME_NUMBER).split('\\').next().and_then(|f| f.trim().parse().ok()),
                    rows: None,
                    columns: None,
                },
                window_center: center,
                window_width: width,
            });
        }
    }
    Ok(out)
}

/// A Key Object Selection document read back.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedKeyImages {
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// Person Observer Name, when given.
    pub author_name: String,
    /// The Key Object Description, when given.
    pub description: String,
    /// Content Date.
    pub content_date: String,
    /// Content Time.
    pub content_time: String,
    /// The images selected, in order (at most [`MAX_KEY_IMAGES`]).
    pub images: Vec<AnnotatedImage>,
}

/// (SOP Instance UID, Series Instance UID) of every instance the evidence
/// sequences `seqs` of `o` reference.
fn evidence_series(o: &Obj, seqs: &[dicom_core::Tag]) -> Vec<(String, String)> {
    let mut series_of = Vec::new();
    for &seq in seqs {
        for study in items(o, seq) {
            for s in items(study, tags::REFERENCED_SERIES_SEQUENCE) {
                let uid = string(s, tags::SERIES_INSTANCE_UID);
                for i in items(s, tags::REFERENCED_SOP_SEQUENCE) {
                    series_of.push((string(i, tags::REFERENCED_SOP_INSTANCE_UID), uid.clone()));
                }
            }
        }
    }
    series_of
}

/// Read a Key Object Selection document (title any of CID 7010's, e.g.
/// (113000, DCM, "Of Interest")): its observer and its images, each with its
/// series from the evidence.
pub fn parse_key_images(bytes: &[u8]) -> Result<ParsedKeyImages, ReportError> {
    let o = read_part10(bytes)?;
    if string(&o, tags::SOP_CLASS_UID) != crate::KOS_SOP_CLASS_UID || value_type(&o) != "CONTAINER" {
        return Err(bad("not a Key Object Selection document"));
    }
    let series_of = evidence_series(&o, &[tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE]);
    let mut out = ParsedKeyImages {
        sop_instance_uid: string(&o, tags::SOP_INSTANCE_UID),
        author_name: String::new(),
        description: String::new(),
        content_date: string(&o, tags::CONTENT_DATE),
        content_time: string(&o, tags::CONTENT_TIME),
        images: Vec::new(),
    };
    for c in items(&o, tags::CONTENT_SEQUENCE) {
        if is(c, super::tid1500::OBSERVER_NAME) && out.author_name.is_empty() {
            out.author_name = string(c, tags::PERSON_NAME);
        }
        if value_type(c) == "TEXT" && is(c, crate::kos::KEY_OBJECT_DESCRIPTION) && out.description.is_empty() {
            out.description = string(c, tags::TEXT_VALUE);
        }
        if value_type(c) != "IMAGE" || out.images.len() == MAX_KEY_IMAGES {
            continue;
        }
        let Some(r) = items(c, tags::REFERENCED_SOP_SEQUENCE).first() else { continue };
        let instance = string(r, tags::REFERENCED_SOP_INSTANCE_UID);
        out.images.push(AnnotatedImage {
            series_instance_uid: series_of.iter().find(|(i, _)| *i == instance).map(|(_, s)| s.clone()).unwrap_or_default(),
            sop_class_uid: string(r, tags::REFERENCED_SOP_CLASS_UID),
            sop_instance_uid: instance,
            frame: string(r, tags::REFERENCED_FRAME_NUMBER).split('\\').next().and_then(|f| f.trim().parse().ok()),
            rows: None,
            columns: None,
        });
    }
    Ok(out)
}
