//! A signed reading report (issue 27, remote reading) as the DICOM objects a
//! peer PACS stores and any viewer shows:
//!
//! - an **Enhanced SR** (`1.2.840.10008.5.1.4.1.1.88.22`) structured after
//!   TID 2000 *Basic Diagnostic Imaging Report* ([`build`] → [`Built::sr`]);
//! - a **Key Object Selection** document (`…88.59`, TID 2010, title
//!   `(113000, DCM, "Of Interest")`) of the key images ([`Built::kos`], `None`
//!   when the report has none);
//! - a **Grayscale Softcopy Presentation State** (`…11.1`, Modality `PR`)
//!   of what the radiologist drew: each measurement's line or outline with
//!   its label and value, on its image ([`Built::gsps`], `None` when no
//!   measurement has [points](Measurement::points)), so the annotations
//!   survive in any viewer that applies presentation states;
//! - an **Encapsulated PDF** (`…104.1`, Modality `DOC`) of the report
//!   rendered on A4 with an embedded subset of a CJK font
//!   ([`Built::pdf_dicom`]; the raw PDF is [`Built::pdf`]).
//!
//! Architecture invariant: pure. No index, no network, no clock, no
//! randomness: the caller passes every UID ([`ReportUids`]) and time
//! ([`ReportInput::signed_at`]); equal inputs give equal bytes.
//!
//! # The DICOM objects
//!
//! All four are Part 10 files (preamble, File Meta with Explicit VR Little
//! Endian, Implementation Class UID [`IMPLEMENTATION_CLASS_UID`]),
//! Specific Character Set `ISO_IR 192` (UTF-8; every string is written as
//! UTF-8), with the study's patient and study attributes copied exactly from
//! [`StudyIdentity`], each in a series of its own (the SR in
//! [`ReportUids::series_instance_uid`], Modality `SR`; the KOS in
//! [`ReportUids::kos_series_instance_uid`], Modality `KO`; the presentation
//! state in [`ReportUids::gsps_series_instance_uid`], Modality `PR`; the PDF
//! in [`ReportUids::pdf_series_instance_uid`], Modality `DOC`: one series
//! may not mix modalities), Instance Number 1, Content Date/Time (for the
//! presentation state: Presentation Creation Date/Time) and Instance
//! Creation Date/Time from [`ReportInput::signed_at`] with its Timezone
//! Offset From UTC, Manufacturer `Yunying`, Institution Name = the reading
//! institution.
//!
//! ## The SR content tree (TID 2000)
//!
//! ```text
//! CONTAINER (18748-4, LN, "Diagnostic Imaging Report")        template DCMR 2000
//!  ├ HAS CONCEPT MOD CODE (121049, DCM, "Language of Content Item and Descendants") = (zh-CN, RFC5646, "Chinese (China)")
//!  ├ HAS OBS CONTEXT CODE (121005, DCM, "Observer Type") = (121006, DCM, "Person")          ┐ the author
//!  ├ HAS OBS CONTEXT PNAME (121008, DCM, "Person Observer Name")                            │ (TID 1002/1003)
//!  ├ HAS OBS CONTEXT TEXT (128774, DCM, "Person Observer's Login Name") = Yunying id        │
//!  ├ HAS OBS CONTEXT TEXT (121009, DCM, "Person Observer's Organization Name")              │
//!  ├ HAS OBS CONTEXT CODE (121011, DCM, "…Role in this Procedure") = (C28747, NCIt, "Reader")┘
//!  ├ … the same five for the verifier, role (121098, DCM, "Verifying"), when there is one
//!  ├ CONTAINS CONTAINER (11329-0, LN, "History")            when there is clinical information
//!  │   └ CONTAINS TEXT (11329-0, LN, "History")
//!  ├ CONTAINS CONTAINER (59776-5, LN, "Findings")
//!  │   ├ CONTAINS TEXT (121071, DCM, "Finding") = the findings, as given
//!  │   └ CONTAINS NUM  (concept by unit: (410668003, SCT, "Length"), (42798000, SCT, "Area"),
//!  │       │            (118565006, SCT, "Volume"), (112031, DCM, "Attenuation Coefficient"),
//!  │       │            else (MEASUREMENT, 99YUNYING, "Measurement")); unit (code, UCUM, meaning)
//!  │       ├ HAS CONCEPT MOD TEXT (121050, DCM, "Equivalent Meaning of Concept Name") = the label
//!  │       └ INFERRED FROM IMAGE (121112, DCM, "Source of Measurement")   when it has an image
//!  ├ CONTAINS CONTAINER (19005-8, LN, "Impressions")
//!  │   └ CONTAINS TEXT (121073, DCM, "Impression") = the impression, as given
//!  ├ CONTAINS CONTAINER (73568-8, LN, "Communication of Critical Results")   only when critical
//!  │   ├ CONTAINS CODE (121071, DCM, "Finding") = (RID49480, RADLEX, "ACR Category 1 Actionable Finding")
//!  │   └ CONTAINS TEXT (121071, DCM, "Finding") = "危急值"
//!  ├ CONTAINS CONTAINER (55113-5, LN, "Key Images")          when there are key images
//!  │   └ CONTAINS IMAGE …                                    (with Referenced Frame Number when given)
//!  └ CONTAINS CONTAINER (REPORTREC, 99YUNYING, "Yunying report record")
//!      ├ CONTAINS TEXT (REQUESTID, 99YUNYING, "Reading request ID")
//!      ├ CONTAINS TEXT (VERSION, 99YUNYING, "Report version")
//!      ├ CONTAINS TEXT (TEMPLATE, 99YUNYING, "Report template")
//!      ├ CONTAINS TEXT (AMENDREASON, 99YUNYING, "Amendment reason")        versions after 1
//!      ├ CONTAINS TEXT (SIGNEDCONTENT, 99YUNYING, "Signed content")        content_for_signature, as text
//!      └ when signed: TEXT (SIGALG, …"Signature algorithm"), (SIGKEYID, …"Signature key ID"),
//!        (SIGDIGEST, …"Signed content digest"), (SIGVALUE, …"Signature value")
//! ```
//!
//! The section headings are the LOINC codes of CID 7001 (the DICOM codes
//! `121070 Findings` and `121072 Impressions` are retired in favour of
//! them); the items are the DICOM codes of CID 7002. A **critical finding**
//! (危急值) is a section of its own with the CID 7001 heading *Communication
//! of Critical Results* holding a CODE whose value is from CID 7035
//! *Actionable Finding Classification*: ACR category 1 is the finding that is
//! to be communicated at once, which is what 危急值 means. A reader finds it
//! by that heading or that code, not by reading the text. The measurement's
//! own label is the TID 1210 *Equivalent Meaning of Concept Name*, since the
//! labels are free text.
//!
//! The private coding scheme `99YUNYING` (declared in the Coding Scheme
//! Identification Sequence) has these codes: `MEASUREMENT` *Measurement* (a
//! NUM whose unit names no coded quantity), `REPORTREC` *Yunying report
//! record*, `REQUESTID` *Reading request ID*, `VERSION` *Report version*,
//! `TEMPLATE` *Report template*, `AMENDREASON` *Amendment reason*,
//! `SIGNEDCONTENT` *Signed content*, `SIGALG` *Signature algorithm*,
//! `SIGKEYID` *Signature key ID*, `SIGDIGEST` *Signed content digest*,
//! `SIGVALUE` *Signature value*; and a person's Yunying principal id is the
//! code value of the Verifying Observer Identification Code Sequence
//! (meaning: the name).
//!
//! **Where the SM2 signature goes**: in the record container above, as
//! text, with the exact signed bytes ([`content_for_signature`]) beside it,
//! so a verifier holding only the SR can check the signature and then
//! compare the signed fields with the tree. The DICOM Digital Signatures
//! Sequence was not used: its MAC and signature algorithms are fixed by PS3.15
//! (RSA, ECDSA on NIST curves) and do not include SM2.
//!
//! Document attributes: Completion Flag `COMPLETE`, Verification Flag
//! `VERIFIED` with the Verifying Observer Sequence (the verifier, or the
//! author when the author signed alone; organization = the reading
//! institution; date/time = `signed_at`), Preliminary Flag `FINAL`, the
//! Referenced Request Sequence (Filler Order Number = the Yunying reading
//! request id, Accession Number), the Current Requested Procedure Evidence
//! Sequence (every instance the tree references, grouped by series; omitted
//! when it references none), and for an amendment the Predecessor Documents
//! Sequence.
//!
//! ## The presentation state (GSPS)
//!
//! Made from the measurements that have an image and
//! [points](Measurement::points) (the graphic in the image's pixel space,
//! as the viewer drew it):
//!
//! - **Presentation State Identification**: Content Label `MEASUREMENTS`,
//!   Content Description `影像诊断报告测量` (`… 第N版` for an amendment),
//!   Content Creator's Name = the verifier, or the author who signed alone,
//!   with the Yunying principal id in the Content Creator's Identification
//!   Code Sequence (as the SR's verifying observer), Presentation Creation
//!   Date/Time = `signed_at`. General Series: Body Part Examined when the
//!   report's is a CS value; Laterality empty (unknown: the state may span
//!   both sides) unless that body part is an unpaired one.
//! - **Presentation State Relationship**: the images drawn on, each once,
//!   grouped by series; for a multi-frame image, Referenced Frame Number =
//!   the frames drawn on (as for the SR: none for a single-frame SOP Class,
//!   none when a measurement names no frame, i.e. every frame).
//! - **Displayed Area**: each image whole (1\1 to Columns\Rows, from
//!   [`ImageRef::rows`]/[`ImageRef::columns`], which such an image must
//!   have), `SCALE TO FIT`, Presentation Pixel Aspect Ratio 1\1; one item
//!   per image size, naming its images unless there is only one size.
//! - **Graphic Layer**: one, `MEASUREMENTS`, order 1, recommended grayscale
//!   value FFFFH (white).
//! - **Graphic Annotation**: one item per measurement, in order, naming its
//!   image (and frame) unless that is all the state applies to; a graphic
//!   object (PIXEL units, FL values): one point is a `POINT`; more is a
//!   `POLYLINE`, closed (the first point repeated at the end, unless the
//!   caller already closed it) when it has three points or more and its unit
//!   is not a length (`nm um mm cm m`) nor an angle (`deg rad`), i.e. when it
//!   outlines a region (an area, a mean CT value); a closed one has Graphic
//!   Filled `N`. And a text object: `<label> <value> <unit>` (e.g.
//!   `结节长径 12.5 mm`, `HU` for `[hnsf'U]`), anchored (PIXEL units) at the
//!   graphic's rightmost point with Anchor Point Visibility `N` and no
//!   bounding box, so the viewer sets the text beside the graphic.
//! - **Softcopy Presentation LUT**: Presentation LUT Shape `IDENTITY`; no
//!   Softcopy VOI LUT, no shutters, no spatial transformation.
//!
//! The images of one presentation state are of one SOP Class (PS3.3
//! C.11.11.1; DCMTK refuses a state that mixes them): the state holds the
//! measurements on images of the SOP Class of the first measurement with
//! points; a measurement drawn on an image of another SOP Class (a PET
//! image in a PET/CT report, say) has no graphic in it, its value stays in
//! the SR and the PDF. The points are not signed
//! ([`content_for_signature`]): they say where a value was measured, not
//! what the report says.
//!
//! Known limits, from PS3.4 N.2.1: a viewer that applies the state applies
//! its whole grayscale pipeline, so (1) with no VOI LUT in it the VOI is
//! the identity, not the image's window (a strict renderer such as DCMTK's
//! shows a CT with little contrast until the user sets a window), and (2)
//! `IDENTITY` displays a `MONOCHROME1` image (many CR/DX images) inverted;
//! it is meant for grayscale images (not colour ultrasound), and assumes
//! square pixels. Fixing these needs each image's window and photometric
//! interpretation from the index.
//!
//! ## The encapsulated PDF
//!
//! A4 pages: the reading institution and the title 影像诊断报告, the patient
//! (the ideographic part of Patient's Name when it has one, else the
//! alphabetic; sex; age at the study and birth date; ID), accession number,
//! study date, modality and body part, requesting institution, clinical
//! information; 影像所见 (findings), a measurements table, 诊断意见
//! (impression), a red 危急值 box when critical, the author, verifier and
//! signing time; and on every page a footer with the signature's algorithm,
//! key id and digest and `第 N 页 共 M 页`. Text wraps at any CJK character
//! (not before closing or after opening punctuation), at spaces in Latin
//! text, and inside a Latin word longer than a line; it flows onto further
//! pages. The font is embedded as a subset and text is extractable (a
//! ToUnicode map).
//!
//! The PDF is written by **krilla** (0.8, without its default features).
//! Chosen because it is what typst writes PDF with (maintained, widely
//! used), it subsets and embeds CFF-flavoured OpenType fonts from TrueType
//! collections (the Debian `fonts-noto-cjk` `.ttc`) as well as TrueType
//! ones, and writes the ToUnicode maps that make the text extractable; with
//! default features off it adds no image codecs and no shaper (CJK report
//! text needs none: glyphs are placed from the font's cmap and advances,
//! read with skrifa, the same font reader krilla uses). `printpdf` was
//! heavier (its own layout and image stack) and `pdf-writer` with
//! `subsetter` directly would have meant writing the CID-keyed font
//! dictionaries, widths and ToUnicode maps that krilla already gets right.
//!
//! [`Fonts`] is loaded once and reused: a render parses nothing but the
//! glyphs it uses. `examples/render_bench.rs` prints the median of 50 renders.
//!
//! # Limits and input rules
//!
//! Everything is checked before anything is built, and nothing is ever
//! truncated: a report is signed, so a shortened value would not be what was
//! signed. A value over a limit is refused with [`ReportError::TooLarge`];
//! lengths count characters (Unicode scalar values), as DICOM's maximum
//! lengths do.
//!
//! | input | limit |
//! | --- | --- |
//! | findings | [`MAX_FINDINGS_CHARS`] (20,000) |
//! | impression | [`MAX_IMPRESSION_CHARS`] (10,000) |
//! | clinical information | [`MAX_CLINICAL_INFO_CHARS`] (4,000) |
//! | amendment reason | [`MAX_AMEND_REASON_CHARS`] (1,000) |
//! | measurements | [`MAX_MEASUREMENTS`] (100) |
//! | key images | [`MAX_KEY_IMAGES`] (200) |
//! | points of a measurement | [`MAX_MEASUREMENT_POINTS`] (1,000); finite, within the image (0 to Columns, 0 to Rows), only with an image whose rows and columns are given |
//! | names, institutions, template, labels, ids (LO, PN component group) | 64 |
//! | modality, body part (CS) | 16 |
//! | UIDs | 64, digits and dots |
//! | signature: algorithm 64, key id 64, digest 128 (hex), signature 1,024 (base64) | |
//!
//! The free texts (findings, impression, clinical information, amendment
//! reason) go into UT values (TEXT content items), so they keep every
//! character; they may hold newlines and tabs (LF, CR, TAB). Any other
//! control character (C0, DEL, C1) is **refused** with
//! [`ReportError::ControlCharacter`], in the free texts and in every other
//! field, where newlines and tabs are refused too (and a backslash, DICOM's
//! value delimiter, in the short string fields). Values copied from the
//! study are checked against their VR's length and refused if over it.

#![warn(missing_docs)]

pub mod annotations;
mod check;
mod dcm;
mod encap;
mod fonts;
mod gsps;
mod kos;
mod pdf;
mod signed;
mod sr;

use std::path::PathBuf;

pub use fonts::{Fonts, SYSTEM_FONT_PATHS};
pub use signed::{SIGNED_CONTENT_FORMAT, content_for_signature};

/// Yunying's Implementation Class UID, written in every File Meta.
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.238945392867137405126870425318434815317";
/// Enhanced SR Storage, the SR's SOP Class.
pub const ENHANCED_SR_SOP_CLASS_UID: &str = "1.2.840.10008.5.1.4.1.1.88.22";
/// Key Object Selection Document Storage.
pub const KOS_SOP_CLASS_UID: &str = "1.2.840.10008.5.1.4.1.1.88.59";
/// Encapsulated PDF Storage.
pub const ENCAPSULATED_PDF_SOP_CLASS_UID: &str = "1.2.840.10008.5.1.4.1.1.104.1";
/// Grayscale Softcopy Presentation State Storage.
pub const GSPS_SOP_CLASS_UID: &str = "1.2.840.10008.5.1.4.1.1.11.1";
/// The private coding scheme designator of the codes listed in the crate doc.
pub const PRIVATE_CODING_SCHEME: &str = "99YUNYING";

/// Most characters in the findings.
pub const MAX_FINDINGS_CHARS: usize = 20_000;
/// Most characters in the impression.
pub const MAX_IMPRESSION_CHARS: usize = 10_000;
/// Most characters in the clinical information.
pub const MAX_CLINICAL_INFO_CHARS: usize = 4_000;
/// Most characters in the amendment reason.
pub const MAX_AMEND_REASON_CHARS: usize = 1_000;
/// Most measurements in one report.
pub const MAX_MEASUREMENTS: usize = 100;
/// Most key images in one report.
pub const MAX_KEY_IMAGES: usize = 200;
/// Most points in one measurement's graphic ([`Measurement::points`]).
pub const MAX_MEASUREMENT_POINTS: usize = 1_000;

/// What a signed report says, and about which study.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportInput {
    /// The study reported on, copied from it.
    pub study: StudyIdentity,
    /// Display name of the hospital that asked for the reading, e.g. "XX镇卫生院".
    pub requesting_institution: String,
    /// Display name of the reading centre, e.g. "XX市影像诊断中心" (Institution Name).
    pub reading_institution: String,
    /// The study's modality, e.g. "CT".
    pub modality: String,
    /// Body part examined, e.g. "CHEST"; may be empty.
    pub body_part: String,
    /// 临床信息 from the request; may be empty.
    pub clinical_info: String,
    /// The report template's name, e.g. "胸部CT平扫".
    pub template_name: String,
    /// 影像所见: free text, may hold newlines.
    pub findings: String,
    /// 诊断意见.
    pub impression: String,
    /// 危急值: the report has a critical finding.
    pub critical: bool,
    /// Measurements, in order.
    pub measurements: Vec<Measurement>,
    /// Key images, in order.
    pub key_images: Vec<ImageRef>,
    /// Who drafted the report.
    pub author: Person,
    /// Who reviewed and signed it (two-step reading); `None` when the author signed alone.
    pub verifier: Option<Person>,
    /// When it was signed.
    pub signed_at: DateTimeParts,
    /// 1, then 2, 3… for amendments.
    pub version: u32,
    /// The SR this one amends (required for versions after 1).
    pub predecessor: Option<Predecessor>,
    /// Why it was amended; empty for version 1.
    pub amend_reason: String,
    /// Yunying's reading request id, e.g. "rr_0123…".
    pub request_id: String,
    /// The SM2 signature over [`content_for_signature`], shown in the PDF and carried in the SR.
    pub signature: Option<SignatureInfo>,
}

/// The patient and study attributes, as stored in the study (copied exactly).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StudyIdentity {
    /// Patient's Name (PN) as stored, e.g. "Zhang^San=张^三".
    pub patient_name: String,
    /// Patient ID.
    pub patient_id: String,
    /// Issuer of Patient ID; may be empty.
    pub issuer_of_patient_id: String,
    /// Patient's Birth Date (YYYYMMDD); may be empty.
    pub patient_birth_date: String,
    /// Patient's Sex (M, F, O); may be empty.
    pub patient_sex: String,
    /// Study Instance UID.
    pub study_instance_uid: String,
    /// Study ID; may be empty.
    pub study_id: String,
    /// Accession Number; may be empty.
    pub accession_number: String,
    /// Study Date (YYYYMMDD); may be empty.
    pub study_date: String,
    /// Study Time; may be empty.
    pub study_time: String,
    /// Referring Physician's Name; may be empty.
    pub referring_physician_name: String,
    /// Study Description; may be empty.
    pub study_description: String,
}

/// One measurement.
#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    /// What was measured, e.g. "结节长径".
    pub label: String,
    /// The value (finite).
    pub value: f64,
    /// Its unit as a UCUM code, e.g. "mm", "[hnsf'U]", "mm2".
    pub unit: String,
    /// The image it was measured on, if known.
    pub image: Option<ImageRef>,
    /// What was drawn, in the image's pixel space as DICOM Graphic Data
    /// (PIXEL units) holds it: (column, row) pairs, sub-pixel allowed, from
    /// (0, 0) at the top left corner of the top left pixel to
    /// (columns, rows) at the bottom right corner of the bottom right one.
    /// One point is a point (a CT value probe, say); two a line (a length);
    /// three or more a polyline, closed (the first point repeated at the
    /// end, unless it already is) when it outlines a region, i.e. unless
    /// the unit is a length or an angle (see the crate doc). Empty: nothing
    /// drawn. Points need an [`image`](Self::image) with rows and columns;
    /// they become the Grayscale Softcopy Presentation State
    /// ([`Built::gsps`]). At most [`MAX_MEASUREMENT_POINTS`]; written as
    /// FL (32-bit floats). Not part of [`content_for_signature`]: they say
    /// where the value was measured, not what the report says.
    pub points: Vec<(f64, f64)>,
}

/// A reference to an image (or a frame of one) of the study.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ImageRef {
    /// Its SOP Class UID.
    pub sop_class_uid: String,
    /// Its SOP Instance UID.
    pub sop_instance_uid: String,
    /// Its Series Instance UID.
    pub series_instance_uid: String,
    /// The frame (from 1) of a multi-frame image. For an image of a
    /// single-frame SOP Class (CT, MR, CR, DX, MG, IO, US, SC, PET, VL
    /// Photographic Image Storage) frame 1 is the image and no Referenced
    /// Frame Number is written; a later frame of one is refused.
    pub frame: Option<u32>,
    /// The image's Rows (0028,0010), from the index. Required, with
    /// [`columns`](Self::columns), for an image a measurement draws on (the
    /// presentation state's displayed area is the whole image); else unused.
    pub rows: Option<u16>,
    /// The image's Columns (0028,0011); see [`rows`](Self::rows).
    pub columns: Option<u16>,
}

/// A person who wrote or signed the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Display name, e.g. "李医生".
    pub name: String,
    /// Yunying principal id.
    pub id: String,
}

/// A local date and time with its offset from UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateTimeParts {
    /// YYYYMMDD.
    pub date: String,
    /// HHMMSS.
    pub time: String,
    /// "+0800".
    pub tz_offset: String,
}

impl DateTimeParts {
    /// The date, time and offset of `ms` (since the Unix epoch) at a fixed
    /// offset from UTC, in minutes.
    pub fn at(ms: i64, offset_minutes: i32) -> DateTimeParts {
        let secs = ms.div_euclid(1000) + i64::from(offset_minutes) * 60;
        let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
        // Howard Hinnant's civil_from_days.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = doy - (153 * mp + 2) / 5 + 1;
        let month = if mp < 10 { mp + 3 } else { mp - 9 };
        let year = yoe + era * 400 + i64::from(month <= 2);
        let sign = if offset_minutes < 0 { '-' } else { '+' };
        let off = offset_minutes.unsigned_abs();
        DateTimeParts {
            date: format!("{year:04}{month:02}{day:02}"),
            time: format!("{:02}{:02}{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
            tz_offset: format!("{sign}{:02}{:02}", off / 60, off % 60),
        }
    }
}

/// The SR an amendment replaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Predecessor {
    /// Its SOP Instance UID.
    pub sop_instance_uid: String,
    /// Its Series Instance UID.
    pub series_instance_uid: String,
}

/// The signature over [`content_for_signature`]'s bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureInfo {
    /// The algorithm, e.g. "SM2-SM3".
    pub algorithm: String,
    /// Which key signed.
    pub key_id: String,
    /// Hex digest of the signed content (e.g. SM3, 64 hex digits).
    pub content_digest_hex: String,
    /// The signature, base64.
    pub signature_b64: String,
}

/// The UIDs and numbers of the new objects, made by the caller.
///
/// The four objects are in four series (one series holds one modality):
/// all eight UIDs must differ from one another. The KOS's are checked only
/// when there are key images, the GSPS's only when a measurement has points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportUids {
    /// The SR's series (Modality SR).
    pub series_instance_uid: String,
    /// The SR.
    pub sr_sop_instance_uid: String,
    /// The KOS's series (Modality KO); unused when there are no key images.
    pub kos_series_instance_uid: String,
    /// The KOS; unused when there are no key images.
    pub kos_sop_instance_uid: String,
    /// The encapsulated PDF's series (Modality DOC).
    pub pdf_series_instance_uid: String,
    /// The encapsulated PDF.
    pub pdf_sop_instance_uid: String,
    /// The presentation state's series (Modality PR); unused when no measurement has points.
    pub gsps_series_instance_uid: String,
    /// The Grayscale Softcopy Presentation State; unused when no measurement has points.
    pub gsps_sop_instance_uid: String,
    /// The SR's Series Number, e.g. 9901 + version.
    pub series_number: i32,
    /// The KOS's Series Number.
    pub kos_series_number: i32,
    /// The encapsulated PDF's Series Number.
    pub pdf_series_number: i32,
    /// The presentation state's Series Number.
    pub gsps_series_number: i32,
}

/// What [`build`] makes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The Enhanced SR, a Part 10 file.
    pub sr: Vec<u8>,
    /// The Key Object Selection document, a Part 10 file; `None` without key images.
    pub kos: Option<Vec<u8>>,
    /// The Grayscale Softcopy Presentation State of the measurements' graphics
    /// and labels, a Part 10 file; `None` when no measurement has an image and points.
    pub gsps: Option<Vec<u8>>,
    /// The Encapsulated PDF, a Part 10 file.
    pub pdf_dicom: Vec<u8>,
    /// The PDF itself (the encapsulated document's bytes, without padding).
    pub pdf: Vec<u8>,
    /// How many pages the PDF has.
    pub pdf_pages: usize,
}

/// Why a report was not built, or fonts not loaded.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A value or a list is over its limit (see the crate doc); nothing is truncated.
    #[error("{field}: {len} is over the limit of {max}")]
    TooLarge {
        /// Which field, e.g. `findings` or `measurements[2].label`.
        field: String,
        /// Its length (characters) or count.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A control character other than those allowed (see the crate doc).
    #[error("{field}: control character U+{code:04X} at character {position}")]
    ControlCharacter {
        /// Which field.
        field: String,
        /// The character.
        code: u32,
        /// Where (0-based, in characters).
        position: usize,
    },
    /// A value that is not valid for its field.
    #[error("{field}: {reason}")]
    Invalid {
        /// Which field.
        field: String,
        /// Why.
        reason: String,
    },
    /// A font file that does not load or lacks Chinese glyphs.
    #[error("font {path}: {reason}")]
    Font {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// None of [`SYSTEM_FONT_PATHS`] holds a usable font.
    #[error("no Chinese font found; tried {tried:?} (install fonts-noto-cjk or fonts-wqy-microhei)")]
    NoSystemFont {
        /// The paths tried, with why each failed.
        tried: Vec<String>,
    },
    /// Writing the DICOM data set failed (a bug: inputs are checked first).
    #[error("writing DICOM: {0}")]
    Dicom(String),
    /// Writing the PDF failed.
    #[error("writing the PDF: {0}")]
    Pdf(String),
}

/// Builds the SR, the KOS (when there are key images), the GSPS (when a
/// measurement has points) and the encapsulated PDF of a signed report.
///
/// Checks the whole input first (see the crate doc's limits and rules).
/// Deterministic: equal arguments give equal bytes.
pub fn build(input: &ReportInput, uids: &ReportUids, fonts: &Fonts) -> Result<Built, ReportError> {
    check::input(input)?;
    let with_gsps = gsps::wanted(input);
    check::uids(uids, !input.key_images.is_empty(), with_gsps)?;
    let sr = sr::build(input, uids)?;
    let kos = if input.key_images.is_empty() { None } else { Some(kos::build(input, uids)?) };
    let gsps = if with_gsps { Some(gsps::build(input, uids)?) } else { None };
    let rendered = pdf::render(input, uids, fonts)?;
    let pdf_dicom = encap::build(input, uids, &rendered.bytes)?;
    Ok(Built { sr, kos, gsps, pdf_dicom, pdf: rendered.bytes, pdf_pages: rendered.pages })
}

/// Renders only the PDF (what [`build`] encapsulates), checking the input
/// the same way; for previews and benchmarks.
pub fn render_pdf(input: &ReportInput, uids: &ReportUids, fonts: &Fonts) -> Result<Vec<u8>, ReportError> {
    check::input(input)?;
    Ok(pdf::render(input, uids, fonts)?.bytes)
}
