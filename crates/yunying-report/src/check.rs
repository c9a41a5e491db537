//! Every input rule of the crate doc, checked before anything is built.

use crate::{
    ImageRef, MAX_AMEND_REASON_CHARS, MAX_CLINICAL_INFO_CHARS, MAX_FINDINGS_CHARS, MAX_IMPRESSION_CHARS, MAX_KEY_IMAGES,
    MAX_MEASUREMENT_POINTS, MAX_MEASUREMENTS, ReportError, ReportInput, ReportUids,
};

/// LO, and a PN component group.
pub(crate) const LO_MAX: usize = 64;
/// SH.
pub(crate) const SH_MAX: usize = 16;
/// CS.
pub(crate) const CS_MAX: usize = 16;
/// UI.
pub(crate) const UI_MAX: usize = 64;
/// The signature's fields.
pub(crate) const SIG_ALGORITHM_MAX: usize = 64;
pub(crate) const SIG_KEY_ID_MAX: usize = 64;
pub(crate) const SIG_DIGEST_MAX: usize = 128;
pub(crate) const SIG_VALUE_MAX: usize = 1024;

fn too_large(field: impl Into<String>, len: usize, max: usize) -> ReportError {
    ReportError::TooLarge { field: field.into(), len, max }
}

fn invalid(field: impl Into<String>, reason: impl Into<String>) -> ReportError {
    ReportError::Invalid { field: field.into(), reason: reason.into() }
}

fn is_control(c: char) -> bool {
    let u = c as u32;
    u < 0x20 || (0x7f..=0x9f).contains(&u)
}

/// A free text: any character but control characters other than LF, CR, TAB.
pub(crate) fn free_text(field: &str, value: &str, max: usize) -> Result<(), ReportError> {
    let mut n = 0;
    for (i, c) in value.chars().enumerate() {
        if is_control(c) && !matches!(c, '\n' | '\r' | '\t') {
            return Err(ReportError::ControlCharacter { field: field.to_string(), code: c as u32, position: i });
        }
        n += 1;
    }
    if n > max {
        return Err(too_large(field, n, max));
    }
    Ok(())
}

/// A one-line string value (LO, SH, CS, PN…): no control characters, no backslash.
pub(crate) fn line(field: &str, value: &str, max: usize) -> Result<(), ReportError> {
    let mut n = 0;
    for (i, c) in value.chars().enumerate() {
        if is_control(c) {
            return Err(ReportError::ControlCharacter { field: field.to_string(), code: c as u32, position: i });
        }
        if c == '\\' {
            return Err(invalid(field, "a backslash (the DICOM value delimiter) is not allowed"));
        }
        n += 1;
    }
    if n > max {
        return Err(too_large(field, n, max));
    }
    Ok(())
}

fn required_line(field: &str, value: &str, max: usize) -> Result<(), ReportError> {
    line(field, value, max)?;
    if value.trim().is_empty() {
        return Err(invalid(field, "is empty"));
    }
    Ok(())
}

/// A person name: each of the (up to three) component groups within LO's 64 characters.
fn person_name(field: &str, value: &str, required: bool) -> Result<(), ReportError> {
    line(field, value, 3 * LO_MAX + 2)?;
    let groups: Vec<&str> = value.split('=').collect();
    if groups.len() > 3 {
        return Err(invalid(field, "more than three component groups"));
    }
    for g in groups {
        let n = g.chars().count();
        if n > LO_MAX {
            return Err(too_large(format!("{field} (a component group)"), n, LO_MAX));
        }
        if g.split('^').count() > 5 {
            return Err(invalid(field, "more than five components in a group"));
        }
    }
    if required && value.trim_matches(|c| c == '^' || c == '=' || c == ' ').is_empty() {
        return Err(invalid(field, "is empty"));
    }
    Ok(())
}

/// A UID: 1 to 64 characters of digits and dots, components without leading zeros.
pub(crate) fn uid(field: &str, value: &str) -> Result<(), ReportError> {
    if value.is_empty() {
        return Err(invalid(field, "is empty"));
    }
    if value.len() > UI_MAX {
        return Err(too_large(field, value.chars().count(), UI_MAX));
    }
    for comp in value.split('.') {
        if comp.is_empty() || !comp.bytes().all(|b| b.is_ascii_digit()) || (comp.len() > 1 && comp.starts_with('0')) {
            return Err(invalid(field, format!("not a UID: {value:?}")));
        }
    }
    Ok(())
}

fn digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

/// A DA value YYYYMMDD with a plausible month and day.
pub(crate) fn is_date(s: &str) -> bool {
    if s.len() != 8 || !digits(s) {
        return false;
    }
    let m: u32 = s[4..6].parse().unwrap_or(0);
    let d: u32 = s[6..8].parse().unwrap_or(0);
    (1..=12).contains(&m) && (1..=31).contains(&d)
}

fn date(field: &str, value: &str, required: bool) -> Result<(), ReportError> {
    if value.is_empty() && !required {
        return Ok(());
    }
    if !is_date(value) {
        return Err(invalid(field, format!("not a date YYYYMMDD: {value:?}")));
    }
    Ok(())
}

/// A TM value as stored: HH, HHMM, HHMMSS or HHMMSS.FFFFFF.
fn study_time(field: &str, value: &str) -> Result<(), ReportError> {
    if value.is_empty() {
        return Ok(());
    }
    let (whole, frac) = value.split_once('.').unwrap_or((value, ""));
    let ok = matches!(whole.len(), 2 | 4 | 6) && digits(whole) && frac.len() <= 6 && digits(frac) && (frac.is_empty() || whole.len() == 6);
    if !ok {
        return Err(invalid(field, format!("not a time: {value:?}")));
    }
    Ok(())
}

/// Storage SOP Classes whose instances have one frame only (no Number of
/// Frames): CT, MR, CR, DX, MG and IO (for presentation and processing),
/// US, Secondary Capture, PET, VL Photographic.
const SINGLE_FRAME_CLASSES: &[&str] = &[
    "1.2.840.10008.5.1.4.1.1.2",
    "1.2.840.10008.5.1.4.1.1.4",
    "1.2.840.10008.5.1.4.1.1.1",
    "1.2.840.10008.5.1.4.1.1.1.1",
    "1.2.840.10008.5.1.4.1.1.1.1.1",
    "1.2.840.10008.5.1.4.1.1.1.2",
    "1.2.840.10008.5.1.4.1.1.1.2.1",
    "1.2.840.10008.5.1.4.1.1.1.3",
    "1.2.840.10008.5.1.4.1.1.1.3.1",
    "1.2.840.10008.5.1.4.1.1.6.1",
    "1.2.840.10008.5.1.4.1.1.7",
    "1.2.840.10008.5.1.4.1.1.128",
    "1.2.840.10008.5.1.4.1.1.77.1.4",
];

/// The Referenced Frame Number to write for an image reference: its frame,
/// except frame 1 of an image of a single-frame SOP Class, which is the
/// whole image (DICOM has no frame number for those).
pub(crate) fn referenced_frame(img: &ImageRef) -> Option<u32> {
    img.frame.filter(|_| !SINGLE_FRAME_CLASSES.contains(&img.sop_class_uid.as_str()))
}

pub(crate) fn image(field: &str, img: &ImageRef) -> Result<(), ReportError> {
    if img.frame.is_some_and(|f| f > 1) && SINGLE_FRAME_CLASSES.contains(&img.sop_class_uid.as_str()) {
        return Err(invalid(format!("{field}.frame"), "an image of a single-frame SOP Class has no frame after 1"));
    }
    uid(&format!("{field}.sop_class_uid"), &img.sop_class_uid)?;
    uid(&format!("{field}.sop_instance_uid"), &img.sop_instance_uid)?;
    uid(&format!("{field}.series_instance_uid"), &img.series_instance_uid)?;
    if img.frame == Some(0) {
        return Err(invalid(format!("{field}.frame"), "frames are numbered from 1"));
    }
    if img.frame.is_some_and(|f| f > 99_999_999) {
        return Err(invalid(format!("{field}.frame"), "over IS's range"));
    }
    if img.rows == Some(0) {
        return Err(invalid(format!("{field}.rows"), "an image has at least one row"));
    }
    if img.columns == Some(0) {
        return Err(invalid(format!("{field}.columns"), "an image has at least one column"));
    }
    Ok(())
}

/// A measurement's points: finite, at most [`MAX_MEASUREMENT_POINTS`], on
/// an image whose rows and columns are known, within it.
fn points(field: &str, m: &crate::Measurement) -> Result<(), ReportError> {
    if m.points.is_empty() {
        return Ok(());
    }
    if m.points.len() > MAX_MEASUREMENT_POINTS {
        return Err(too_large(format!("{field}.points"), m.points.len(), MAX_MEASUREMENT_POINTS));
    }
    let Some(img) = &m.image else {
        return Err(invalid(format!("{field}.points"), "points are drawn on an image, and the measurement has none"));
    };
    let (Some(rows), Some(columns)) = (img.rows, img.columns) else {
        let which = if img.rows.is_none() { "rows" } else { "columns" };
        return Err(invalid(format!("{field}.image.{which}"), "an image with points needs its rows and columns (from the index)"));
    };
    for (j, &(x, y)) in m.points.iter().enumerate() {
        if !x.is_finite() || !y.is_finite() {
            return Err(invalid(format!("{field}.points[{j}]"), "not a finite number"));
        }
        if !(0.0..=f64::from(columns)).contains(&x) || !(0.0..=f64::from(rows)).contains(&y) {
            return Err(invalid(
                format!("{field}.points[{j}]"),
                format!("({x}, {y}) is outside the image: columns 0 to {columns}, rows 0 to {rows}"),
            ));
        }
    }
    Ok(())
}

/// A UCUM code: 1 to 64 printable ASCII characters without spaces.
fn ucum(field: &str, value: &str) -> Result<(), ReportError> {
    if value.is_empty() {
        return Err(invalid(field, "is empty (use \"1\" for a unitless value)"));
    }
    if value.len() > LO_MAX {
        return Err(too_large(field, value.chars().count(), LO_MAX));
    }
    if !value.bytes().all(|b| (0x21..=0x7e).contains(&b)) || value.contains('\\') {
        return Err(invalid(field, format!("not a UCUM code: {value:?}")));
    }
    Ok(())
}

pub(crate) fn input(r: &ReportInput) -> Result<(), ReportError> {
    let s = &r.study;
    person_name("study.patient_name", &s.patient_name, false)?;
    line("study.patient_id", &s.patient_id, LO_MAX)?;
    line("study.issuer_of_patient_id", &s.issuer_of_patient_id, LO_MAX)?;
    date("study.patient_birth_date", &s.patient_birth_date, false)?;
    line("study.patient_sex", &s.patient_sex, CS_MAX)?;
    uid("study.study_instance_uid", &s.study_instance_uid)?;
    line("study.study_id", &s.study_id, SH_MAX)?;
    line("study.accession_number", &s.accession_number, SH_MAX)?;
    date("study.study_date", &s.study_date, false)?;
    study_time("study.study_time", &s.study_time)?;
    person_name("study.referring_physician_name", &s.referring_physician_name, false)?;
    line("study.study_description", &s.study_description, LO_MAX)?;

    required_line("requesting_institution", &r.requesting_institution, LO_MAX)?;
    required_line("reading_institution", &r.reading_institution, LO_MAX)?;
    required_line("modality", &r.modality, CS_MAX)?;
    line("body_part", &r.body_part, CS_MAX)?;
    free_text("clinical_info", &r.clinical_info, MAX_CLINICAL_INFO_CHARS)?;
    required_line("template_name", &r.template_name, LO_MAX)?;
    free_text("findings", &r.findings, MAX_FINDINGS_CHARS)?;
    free_text("impression", &r.impression, MAX_IMPRESSION_CHARS)?;
    if r.findings.trim().is_empty() && r.impression.trim().is_empty() {
        return Err(invalid("findings", "a report needs findings or an impression"));
    }

    if r.measurements.len() > MAX_MEASUREMENTS {
        return Err(too_large("measurements", r.measurements.len(), MAX_MEASUREMENTS));
    }
    for (i, m) in r.measurements.iter().enumerate() {
        let f = format!("measurements[{i}]");
        required_line(&format!("{f}.label"), &m.label, LO_MAX)?;
        if !m.value.is_finite() {
            return Err(invalid(format!("{f}.value"), "not a finite number"));
        }
        ucum(&format!("{f}.unit"), &m.unit)?;
        if let Some(img) = &m.image {
            image(&format!("{f}.image"), img)?;
        }
        points(&f, m)?;
    }
    // The presentation state shows each image drawn on whole: one size an image.
    let drawn: Vec<(usize, &ImageRef)> = r
        .measurements
        .iter()
        .enumerate()
        .filter_map(|(i, m)| m.image.as_ref().filter(|_| !m.points.is_empty()).map(|img| (i, img)))
        .collect();
    for (n, &(i, img)) in drawn.iter().enumerate() {
        if let Some(&(k, _)) =
            drawn[..n].iter().find(|(_, o)| o.sop_instance_uid == img.sop_instance_uid && (o.rows, o.columns) != (img.rows, img.columns))
        {
            return Err(invalid(
                format!("measurements[{i}].image.rows"),
                format!("the same image as measurements[{k}], with other rows or columns"),
            ));
        }
    }
    if r.key_images.len() > MAX_KEY_IMAGES {
        return Err(too_large("key_images", r.key_images.len(), MAX_KEY_IMAGES));
    }
    for (i, img) in r.key_images.iter().enumerate() {
        image(&format!("key_images[{i}]"), img)?;
    }

    person("author", &r.author)?;
    if let Some(v) = &r.verifier {
        person("verifier", v)?;
    }
    let t = &r.signed_at;
    date("signed_at.date", &t.date, true)?;
    if t.time.len() != 6 || !digits(&t.time) || t.time[0..2] > *"23" || t.time[2..4] > *"59" || t.time[4..6] > *"60" {
        return Err(invalid("signed_at.time", format!("not a time HHMMSS: {:?}", t.time)));
    }
    let tz = t.tz_offset.as_bytes();
    if tz.len() != 5
        || !matches!(tz[0], b'+' | b'-')
        || !digits(&t.tz_offset[1..])
        || t.tz_offset[1..3] > *"14"
        || t.tz_offset[3..5] > *"59"
    {
        return Err(invalid("signed_at.tz_offset", format!("not an offset like +0800: {:?}", t.tz_offset)));
    }

    if r.version == 0 {
        return Err(invalid("version", "versions start at 1"));
    }
    match (&r.predecessor, r.version) {
        (None, v) if v > 1 => return Err(invalid("predecessor", "an amendment (version 2 or later) names the SR it amends")),
        (Some(_), 1) => return Err(invalid("predecessor", "version 1 amends nothing")),
        (Some(p), _) => {
            uid("predecessor.sop_instance_uid", &p.sop_instance_uid)?;
            uid("predecessor.series_instance_uid", &p.series_instance_uid)?;
        }
        _ => {}
    }
    free_text("amend_reason", &r.amend_reason, MAX_AMEND_REASON_CHARS)?;
    if r.version > 1 && r.amend_reason.trim().is_empty() {
        return Err(invalid("amend_reason", "an amendment says why"));
    }
    required_line("request_id", &r.request_id, LO_MAX)?;

    if let Some(sig) = &r.signature {
        required_line("signature.algorithm", &sig.algorithm, SIG_ALGORITHM_MAX)?;
        required_line("signature.key_id", &sig.key_id, SIG_KEY_ID_MAX)?;
        required_line("signature.content_digest_hex", &sig.content_digest_hex, SIG_DIGEST_MAX)?;
        if !sig.content_digest_hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid("signature.content_digest_hex", "not hexadecimal"));
        }
        required_line("signature.signature_b64", &sig.signature_b64, SIG_VALUE_MAX)?;
        if !sig.signature_b64.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_')) {
            return Err(invalid("signature.signature_b64", "not base64"));
        }
    }
    Ok(())
}

fn person(field: &str, p: &crate::Person) -> Result<(), ReportError> {
    person_name(&format!("{field}.name"), &p.name, true)?;
    required_line(&format!("{field}.id"), &p.id, LO_MAX)
}

pub(crate) fn uids(u: &ReportUids, with_kos: bool, with_gsps: bool) -> Result<(), ReportError> {
    let mut all = vec![
        ("uids.series_instance_uid", &u.series_instance_uid),
        ("uids.sr_sop_instance_uid", &u.sr_sop_instance_uid),
        ("uids.pdf_series_instance_uid", &u.pdf_series_instance_uid),
        ("uids.pdf_sop_instance_uid", &u.pdf_sop_instance_uid),
    ];
    if with_kos {
        all.push(("uids.kos_series_instance_uid", &u.kos_series_instance_uid));
        all.push(("uids.kos_sop_instance_uid", &u.kos_sop_instance_uid));
    }
    if with_gsps {
        all.push(("uids.gsps_series_instance_uid", &u.gsps_series_instance_uid));
        all.push(("uids.gsps_sop_instance_uid", &u.gsps_sop_instance_uid));
    }
    for (i, (field, value)) in all.iter().enumerate() {
        uid(field, value)?;
        if let Some((other, _)) = all[..i].iter().find(|(_, v)| v == value) {
            return Err(invalid(*field, format!("the same UID as {other}: each object and series has its own")));
        }
    }
    for (field, n) in [
        ("uids.series_number", u.series_number),
        ("uids.kos_series_number", u.kos_series_number),
        ("uids.pdf_series_number", u.pdf_series_number),
        ("uids.gsps_series_number", u.gsps_series_number),
    ] {
        if !(-99_999_999..=999_999_999).contains(&n) {
            return Err(invalid(field, "over IS's range"));
        }
    }
    Ok(())
}
