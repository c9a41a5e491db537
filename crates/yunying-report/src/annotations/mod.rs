//! The viewer's measurements and annotations as DICOM (issue 29): a
//! Comprehensive SR after TID 1500 *Measurement Report* ([`tid1500`]) and a
//! Grayscale Softcopy Presentation State of the same graphics with the
//! window shown ([`pstate`]), a Key Object Selection document "Of Interest"
//! of the images marked as key images (`crate::kos`, when any), and the
//! reader of TID 1500 SRs, ours or other tools' (OHIF, highdicom), and of
//! the key object document back into [`AnnotationSet`] ([`parse`]).
//!
//! Coordinates are image pixels (column, row) as the viewer's
//! `worldToImageCoords` gives them; both objects store them as given.
//!
//! ```text
//! CONTAINER (126000, DCM, "Imaging Measurement Report")             template DCMR 1500
//!  ├ HAS CONCEPT MOD CODE (121049, DCM, "Language of Content Item and Descendants") = zh-CN
//!  ├ HAS OBS CONTEXT … the author (TID 1002/1003: type, name, login name, organization, role)
//!  ├ HAS CONCEPT MOD CODE (121058, DCM, "Procedure reported") = (363679005, SCT, "Imaging procedure")
//!  ├ CONTAINS CONTAINER (111028, DCM, "Image Library")               TID 1600
//!  │   └ CONTAINS CONTAINER (126200, DCM, "Image Library Group")
//!  │       └ CONTAINS IMAGE …                                        each image once
//!  └ CONTAINS CONTAINER (126010, DCM, "Imaging Measurements")
//!      └ CONTAINS CONTAINER (125007, DCM, "Measurement Group")       template DCMR 1410, one per annotation
//!          ├ HAS OBS CONTEXT TEXT (112039, DCM, "Tracking Identifier") = the label, else "Annotation N"
//!          ├ HAS OBS CONTEXT UIDREF (112040, DCM, "Tracking Unique Identifier")
//!          ├ CONTAINS CODE (121071, DCM, "Finding") = (49755003, SCT, "Morphologically Abnormal Structure")
//!          ├ CONTAINS SCOORD (111030, DCM, "Image Region")  POLYLINE | ELLIPSE | POINT
//!          │   └ SELECTED FROM IMAGE …
//!          ├ CONTAINS TEXT (ANNOTTOOL, 99YUNYING, "Annotation tool") = length | angle | rectangle | …
//!          ├ CONTAINS TEXT (ANNOTLABEL, 99YUNYING, "Annotation label")        when labelled
//!          └ CONTAINS NUM (410668003, SCT, "Length") mm | (1483009, SCT, "Angle") deg |
//!                         (42798000, SCT, "Area") mm2 | (373098007, SCT, "Mean") |
//!                         (386136009, SCT, "Standard Deviation") | (255605001, SCT, "Minimum") |
//!                         (56851009, SCT, "Maximum")   the last four in [hnsf'U] (CT) or 1
//! ```

pub mod parse;
pub(crate) mod pstate;
pub(crate) mod tid1500;

use serde::{Deserialize, Serialize};

use crate::check;
use crate::{DateTimeParts, ImageRef, Person, ReportError, StudyIdentity};

/// Comprehensive SR Storage.
pub const COMPREHENSIVE_SR_SOP_CLASS_UID: &str = "1.2.840.10008.5.1.4.1.1.88.33";
/// The presentation state's Content Label.
pub const CONTENT_LABEL: &str = "YUNYING_ANNOT";
/// Most annotations in one set.
pub const MAX_ANNOTATIONS: usize = 200;
/// Most points of one annotation's graphic.
pub const MAX_POINTS: usize = 1_000;
/// Most characters of a label.
pub const MAX_LABEL_CHARS: usize = 256;
/// Most display settings (one per image) in one set.
pub const MAX_DISPLAYS: usize = 200;
/// Most key images in one set.
pub const MAX_KEY_IMAGES: usize = 100;
/// The Key Object Description of the viewer's key object documents.
pub const KEY_IMAGES_DESCRIPTION: &str = "阅片关键图像 Viewer key images";
/// The largest coordinate accepted (an image has at most 65,535 columns).
const MAX_COORDINATE: f64 = 1.0e6;

/// The viewer tool an annotation was drawn with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tool {
    /// A line; 2 points.
    Length,
    /// Two lines meeting; 3 points (the vertex in the middle).
    Angle,
    /// An axis-aligned rectangle; 4 corners in order.
    Rectangle,
    /// An ellipse: the ends of one axis, then of the other; 4 points.
    Ellipse,
    /// An arrow from its tail to its head (2 points) with its text.
    Arrow,
    /// A text at a point (1 point).
    Text,
    /// A closed outline of 3 or more points (from other tools).
    Polygon,
    /// An open path of 3 or more points (from other tools).
    Polyline,
}

impl Tool {
    /// The tool's name in JSON and in the SR.
    pub fn name(self) -> &'static str {
        match self {
            Tool::Length => "length",
            Tool::Angle => "angle",
            Tool::Rectangle => "rectangle",
            Tool::Ellipse => "ellipse",
            Tool::Arrow => "arrow",
            Tool::Text => "text",
            Tool::Polygon => "polygon",
            Tool::Polyline => "polyline",
        }
    }

    /// The tool of a name.
    pub fn from_name(s: &str) -> Option<Tool> {
        [Tool::Length, Tool::Angle, Tool::Rectangle, Tool::Ellipse, Tool::Arrow, Tool::Text, Tool::Polygon, Tool::Polyline]
            .into_iter()
            .find(|t| t.name() == s)
    }

    /// How many points the tool's graphic has: exactly, or at least (`true`).
    fn points(self) -> (usize, bool) {
        match self {
            Tool::Length | Tool::Arrow => (2, false),
            Tool::Angle => (3, false),
            Tool::Rectangle | Tool::Ellipse => (4, false),
            Tool::Text => (1, false),
            Tool::Polygon | Tool::Polyline => (3, true),
        }
    }
}

/// The image an annotation is drawn on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AnnotatedImage {
    /// Series Instance UID.
    pub series_instance_uid: String,
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// Filled in by the server from the index; may be empty in a request.
    #[serde(default)]
    pub sop_class_uid: String,
    /// The frame (from 1) of a multi-frame image.
    #[serde(default)]
    pub frame: Option<u32>,
    /// Rows and Columns, from the index.
    #[serde(default)]
    pub rows: Option<u16>,
    #[serde(default)]
    /// Columns (0028,0011), from the index.
    pub columns: Option<u16>,
}

impl AnnotatedImage {
    /// As the report's image reference.
    pub fn image_ref(&self) -> ImageRef {
        ImageRef {
            sop_class_uid: self.sop_class_uid.clone(),
            sop_instance_uid: self.sop_instance_uid.clone(),
            series_instance_uid: self.series_instance_uid.clone(),
            frame: self.frame,
            rows: self.rows,
            columns: self.columns,
        }
    }
}

/// The values measured on an annotation; each optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Values {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Length, mm.
    pub length_mm: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Angle, degrees.
    pub angle_deg: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Area, mm².
    pub area_mm2: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Mean of the pixel values.
    pub mean: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Standard deviation of the pixel values.
    pub std_dev: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Minimum pixel value.
    pub min: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// Maximum pixel value.
    pub max: Option<f64>,
    /// The unit of mean, standard deviation, minimum and maximum: `HU`
    /// (CT), else empty (no unit).
    #[serde(default)]
    pub intensity_unit: String,
}

/// One measurement or annotation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    /// The tool drawn with.
    pub tool: Tool,
    /// The image drawn on.
    pub image: AnnotatedImage,
    /// Image coordinates (column, row).
    pub points: Vec<[f64; 2]>,
    /// The label or the text (arrows, texts); may be empty.
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    /// The values measured.
    pub values: Values,
    /// The Tracking Unique Identifier; the server assigns one when empty.
    #[serde(default)]
    pub tracking_uid: String,
}

/// The window shown on one image.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Display {
    /// The image drawn on.
    pub image: AnnotatedImage,
    /// Window Center.
    pub window_center: f64,
    /// Window Width (at least 1).
    pub window_width: f64,
}

/// A set of annotations as the viewer saves and loads it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AnnotationSet {
    /// The annotations, in order.
    pub annotations: Vec<Annotation>,
    #[serde(default)]
    /// The window shown per image.
    pub displays: Vec<Display>,
    /// The images marked as key images, in order (a Key Object Selection document).
    #[serde(default)]
    pub key_images: Vec<AnnotatedImage>,
}

/// What the documents are about and by whom: the caller passes every UID and time.
#[derive(Debug, Clone)]
pub struct AnnotationDocument {
    /// The study, copied from it.
    pub study: StudyIdentity,
    /// Who saved it (name, Yunying principal id).
    pub author: Person,
    /// Institution Name, the author's organization.
    pub institution: String,
    /// When: the Content Date and Time.
    pub created: DateTimeParts,
    /// The SR's new series.
    pub sr_series_instance_uid: String,
    /// The SR's SOP Instance UID.
    pub sr_sop_instance_uid: String,
    /// The presentation state's new series.
    pub gsps_series_instance_uid: String,
    /// The presentation state's SOP Instance UID.
    pub gsps_sop_instance_uid: String,
    /// The key object document's new series; unused without key images.
    pub kos_series_instance_uid: String,
    /// The key object document's SOP Instance UID; unused without key images.
    pub kos_sop_instance_uid: String,
}

/// The Part 10 files.
#[derive(Debug, Clone)]
pub struct AnnotationObjects {
    /// The TID 1500 Comprehensive SR, when there are annotations.
    pub sr: Option<Vec<u8>>,
    /// The presentation state, when there are annotations: the graphics on
    /// images of the first annotation's SOP Class (a presentation state's
    /// images share one).
    pub gsps: Option<Vec<u8>>,
    /// The Key Object Selection document of the key images, when there are any.
    pub kos: Option<Vec<u8>>,
}

fn invalid(field: String, reason: &str) -> ReportError {
    ReportError::Invalid { field, reason: reason.into() }
}

fn finite(field: String, v: f64) -> Result<(), ReportError> {
    if v.is_finite() && v.abs() < 1e15 { Ok(()) } else { Err(invalid(field, "not a finite number in range")) }
}

/// Check a set's bounds and shapes (the images must already carry their
/// SOP Class, rows and columns). Nothing is truncated. A set has
/// annotations, key images or both.
pub fn check_set(set: &AnnotationSet) -> Result<(), ReportError> {
    if set.annotations.is_empty() && set.key_images.is_empty() {
        return Err(invalid("annotations".into(), "and key_images are both empty"));
    }
    if set.annotations.len() > MAX_ANNOTATIONS {
        return Err(ReportError::TooLarge { field: "annotations".into(), len: set.annotations.len(), max: MAX_ANNOTATIONS });
    }
    if set.displays.len() > MAX_DISPLAYS {
        return Err(ReportError::TooLarge { field: "displays".into(), len: set.displays.len(), max: MAX_DISPLAYS });
    }
    if set.key_images.len() > MAX_KEY_IMAGES {
        return Err(ReportError::TooLarge { field: "key_images".into(), len: set.key_images.len(), max: MAX_KEY_IMAGES });
    }
    for (i, k) in set.key_images.iter().enumerate() {
        check::image(&format!("key_images[{i}]"), &k.image_ref())?;
        if set.key_images[..i].iter().any(|o| o.sop_instance_uid == k.sop_instance_uid && o.frame == k.frame) {
            return Err(invalid(format!("key_images[{i}]"), "is given twice"));
        }
    }
    for (i, a) in set.annotations.iter().enumerate() {
        let f = |s: &str| format!("annotations[{i}].{s}");
        check::image(&f("image"), &a.image.image_ref())?;
        check::line(&f("label"), &a.label, MAX_LABEL_CHARS)?;
        if !a.tracking_uid.is_empty() {
            check::uid(&f("tracking_uid"), &a.tracking_uid)?;
        }
        if a.points.len() > MAX_POINTS {
            return Err(ReportError::TooLarge { field: f("points"), len: a.points.len(), max: MAX_POINTS });
        }
        let (n, at_least) = a.tool.points();
        if a.points.len() < n || (!at_least && a.points.len() != n) {
            return Err(invalid(f("points"), &format!("a {} has {}{n} points", a.tool.name(), if at_least { "at least " } else { "" })));
        }
        for (j, p) in a.points.iter().enumerate() {
            for v in p {
                if !v.is_finite() || v.abs() > MAX_COORDINATE {
                    return Err(invalid(format!("annotations[{i}].points[{j}]"), "not a finite coordinate in range"));
                }
            }
        }
        let v = &a.values;
        for (name, value) in [
            ("length_mm", v.length_mm),
            ("angle_deg", v.angle_deg),
            ("area_mm2", v.area_mm2),
            ("mean", v.mean),
            ("std_dev", v.std_dev),
            ("min", v.min),
            ("max", v.max),
        ] {
            if let Some(x) = value {
                finite(f(&format!("values.{name}")), x)?;
            }
        }
        if !matches!(v.intensity_unit.as_str(), "" | "HU") {
            return Err(invalid(f("values.intensity_unit"), "is HU or empty"));
        }
    }
    for (i, d) in set.displays.iter().enumerate() {
        check::image(&format!("displays[{i}].image"), &d.image.image_ref())?;
        finite(format!("displays[{i}].window_center"), d.window_center)?;
        finite(format!("displays[{i}].window_width"), d.window_width)?;
        if d.window_width < 1.0 {
            return Err(invalid(format!("displays[{i}].window_width"), "is at least 1"));
        }
    }
    Ok(())
}

/// Build the SR and the presentation state (when there are annotations) and
/// the key object document (when there are key images) of a checked set
/// whose annotations all have a tracking UID.
pub fn build_annotations(doc: &AnnotationDocument, set: &AnnotationSet) -> Result<AnnotationObjects, ReportError> {
    check_set(set)?;
    for (i, a) in set.annotations.iter().enumerate() {
        check::uid(&format!("annotations[{i}].tracking_uid"), &a.tracking_uid)?;
    }
    for (field, uid) in [
        ("sr_series_instance_uid", &doc.sr_series_instance_uid),
        ("sr_sop_instance_uid", &doc.sr_sop_instance_uid),
        ("gsps_series_instance_uid", &doc.gsps_series_instance_uid),
        ("gsps_sop_instance_uid", &doc.gsps_sop_instance_uid),
        ("study_instance_uid", &doc.study.study_instance_uid),
    ] {
        check::uid(field, uid)?;
    }
    if !set.key_images.is_empty() {
        check::uid("kos_series_instance_uid", &doc.kos_series_instance_uid)?;
        check::uid("kos_sop_instance_uid", &doc.kos_sop_instance_uid)?;
    }
    check::line("author.name", &doc.author.name, 64)?;
    check::line("author.id", &doc.author.id, 64)?;
    check::line("institution", &doc.institution, 64)?;
    let kos = if set.key_images.is_empty() { None } else { Some(key_objects(doc, set)?) };
    let (sr, gsps) =
        if set.annotations.is_empty() { (None, None) } else { (Some(tid1500::build(doc, set)?), Some(pstate::build(doc, set)?)) };
    Ok(AnnotationObjects { sr, gsps, kos })
}

/// The key object document of the set's key images, by the author as reader.
fn key_objects(doc: &AnnotationDocument, set: &AnnotationSet) -> Result<Vec<u8>, ReportError> {
    let images: Vec<crate::ImageRef> = set.key_images.iter().map(AnnotatedImage::image_ref).collect();
    crate::kos::document(
        &common_input(doc),
        &crate::kos::KeyObjects {
            sop_instance_uid: &doc.kos_sop_instance_uid,
            series_instance_uid: &doc.kos_series_instance_uid,
            series_number: 9802,
            series_description: "关键图像 Key Images",
            description: KEY_IMAGES_DESCRIPTION,
            observer: &doc.author,
            role: tid1500::READER,
            request: false,
            images: &images,
        },
    )
}

/// A minimal report input carrying what the shared attribute writer reads.
pub(crate) fn common_input(doc: &AnnotationDocument) -> crate::ReportInput {
    crate::ReportInput {
        study: doc.study.clone(),
        requesting_institution: String::new(),
        reading_institution: doc.institution.clone(),
        modality: String::new(),
        body_part: String::new(),
        clinical_info: String::new(),
        template_name: String::new(),
        findings: String::new(),
        impression: String::new(),
        critical: false,
        measurements: Vec::new(),
        key_images: Vec::new(),
        author: doc.author.clone(),
        verifier: None,
        signed_at: doc.created.clone(),
        version: 1,
        predecessor: None,
        amend_reason: String::new(),
        request_id: String::new(),
        signature: None,
    }
}
