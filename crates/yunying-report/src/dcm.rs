//! DICOM building blocks shared by the SR, the KOS and the encapsulated PDF.

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use dicom_object::meta::FileMetaTableBuilder;

use crate::{IMPLEMENTATION_CLASS_UID, ImageRef, PRIVATE_CODING_SCHEME, ReportError, ReportInput};

pub(crate) type Obj = InMemDicomObject;

const EXPLICIT_VR_LITTLE_ENDIAN: &str = "1.2.840.10008.1.2.1";
/// Implementation Version Name (SH, at most 16 characters).
const IMPLEMENTATION_VERSION_NAME: &str = concat!("YUNYING_", env!("CARGO_PKG_VERSION"));

/// A coded concept: (value, scheme designator, meaning).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Code<'a> {
    pub value: &'a str,
    pub scheme: &'a str,
    pub meaning: &'a str,
}

pub(crate) const fn code<'a>(value: &'a str, scheme: &'a str, meaning: &'a str) -> Code<'a> {
    Code { value, scheme, meaning }
}

/// Setters that read as the attribute tables do.
pub(crate) trait Put {
    fn str(&mut self, tag: Tag, vr: VR, value: &str);
    fn empty(&mut self, tag: Tag, vr: VR);
    fn seq(&mut self, tag: Tag, items: Vec<Obj>);
}

impl Put for Obj {
    fn str(&mut self, tag: Tag, vr: VR, value: &str) {
        self.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
    }
    fn empty(&mut self, tag: Tag, vr: VR) {
        if vr == VR::SQ {
            self.put(DataElement::new(tag, VR::SQ, DataSetSequence::<Obj>::empty()));
        } else {
            self.put(DataElement::new(tag, vr, PrimitiveValue::Empty));
        }
    }
    fn seq(&mut self, tag: Tag, items: Vec<Obj>) {
        self.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
    }
}

/// A Code Sequence item: Code Value (SH) or, over 16 characters, Long Code Value (UC).
pub(crate) fn code_item(c: Code<'_>) -> Obj {
    let mut o = Obj::new_empty();
    if c.value.chars().count() > 16 {
        o.str(tags::LONG_CODE_VALUE, VR::UC, c.value);
    } else {
        o.str(tags::CODE_VALUE, VR::SH, c.value);
    }
    o.str(tags::CODING_SCHEME_DESIGNATOR, VR::SH, c.scheme);
    o.str(tags::CODE_MEANING, VR::LO, c.meaning);
    o
}

/// A Decimal String of at most 16 characters for `v`: the shortest decimal
/// that reads back as `v` when it fits, else exponent notation with as many
/// digits as fit.
pub(crate) fn ds(v: f64) -> String {
    if !v.is_finite() {
        return format!("{v}");
    }
    let plain = format!("{v}");
    if plain.len() <= 16 {
        return plain;
    }
    // The closer of: fixed point with as many decimals as fit, and exponent
    // notation with as many digits as fit (and that does not round past
    // the largest finite value).
    let error = |t: &str| t.parse::<f64>().ok().filter(|b| b.is_finite()).map(|b| (b - v).abs());
    let fixed = (0..16usize).rev().map(|p| format!("{v:.p$}")).find(|t| t.len() <= 16 && error(t).is_some());
    let exp = (0..16usize).rev().map(|p| format!("{v:.p$e}")).find(|t| t.len() <= 16 && error(t).is_some());
    let best = match (fixed, exp) {
        (Some(f), Some(e)) => Some(if error(&e) < error(&f) { e } else { f }),
        (f, e) => f.or(e),
    };
    // "-1e-308" always fits.
    best.unwrap_or_else(|| format!("{v:.0e}"))
}

/// The patient, study, series, equipment and SOP common attributes every
/// object carries.
pub(crate) struct Common<'a> {
    pub sop_class_uid: &'a str,
    pub sop_instance_uid: &'a str,
    pub modality: &'a str,
    pub series_instance_uid: &'a str,
    pub series_number: i32,
    pub series_description: &'a str,
}

pub(crate) fn common(input: &ReportInput, c: &Common<'_>) -> Obj {
    let s = &input.study;
    let t = &input.signed_at;
    let mut o = Obj::new_empty();
    o.str(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192");
    o.str(tags::INSTANCE_CREATION_DATE, VR::DA, &t.date);
    o.str(tags::INSTANCE_CREATION_TIME, VR::TM, &t.time);
    o.str(tags::SOP_CLASS_UID, VR::UI, c.sop_class_uid);
    o.str(tags::SOP_INSTANCE_UID, VR::UI, c.sop_instance_uid);
    o.str(tags::STUDY_DATE, VR::DA, &s.study_date);
    o.str(tags::CONTENT_DATE, VR::DA, &t.date);
    o.str(tags::STUDY_TIME, VR::TM, &s.study_time);
    o.str(tags::CONTENT_TIME, VR::TM, &t.time);
    o.str(tags::ACCESSION_NUMBER, VR::SH, &s.accession_number);
    o.str(tags::MODALITY, VR::CS, c.modality);
    o.str(tags::MANUFACTURER, VR::LO, "Yunying");
    o.str(tags::INSTITUTION_NAME, VR::LO, &input.reading_institution);
    o.str(tags::REFERRING_PHYSICIAN_NAME, VR::PN, &s.referring_physician_name);
    o.str(tags::TIMEZONE_OFFSET_FROM_UTC, VR::SH, &t.tz_offset);
    if !s.study_description.is_empty() {
        o.str(tags::STUDY_DESCRIPTION, VR::LO, &s.study_description);
    }
    o.str(tags::SERIES_DESCRIPTION, VR::LO, c.series_description);
    o.str(tags::PATIENT_NAME, VR::PN, &s.patient_name);
    o.str(tags::PATIENT_ID, VR::LO, &s.patient_id);
    if !s.issuer_of_patient_id.is_empty() {
        o.str(tags::ISSUER_OF_PATIENT_ID, VR::LO, &s.issuer_of_patient_id);
    }
    o.str(tags::PATIENT_BIRTH_DATE, VR::DA, &s.patient_birth_date);
    o.str(tags::PATIENT_SEX, VR::CS, &s.patient_sex);
    o.str(tags::SOFTWARE_VERSIONS, VR::LO, env!("CARGO_PKG_VERSION"));
    o.str(tags::STUDY_INSTANCE_UID, VR::UI, &s.study_instance_uid);
    o.str(tags::SERIES_INSTANCE_UID, VR::UI, c.series_instance_uid);
    o.str(tags::STUDY_ID, VR::SH, &s.study_id);
    o.str(tags::SERIES_NUMBER, VR::IS, &c.series_number.to_string());
    o.str(tags::INSTANCE_NUMBER, VR::IS, "1");
    o
}

/// The Coding Scheme Identification Sequence item declaring `99YUNYING`.
pub(crate) fn private_scheme_identification() -> Obj {
    let mut o = Obj::new_empty();
    o.str(tags::CODING_SCHEME_DESIGNATOR, VR::SH, PRIVATE_CODING_SCHEME);
    o.str(tags::CODING_SCHEME_NAME, VR::ST, "Yunying report codes");
    o.str(tags::CODING_SCHEME_RESPONSIBLE_ORGANIZATION, VR::ST, "Yunying");
    o
}

/// A Referenced SOP Sequence item.
pub(crate) fn sop_ref(sop_class_uid: &str, sop_instance_uid: &str) -> Obj {
    let mut o = Obj::new_empty();
    o.str(tags::REFERENCED_SOP_CLASS_UID, VR::UI, sop_class_uid);
    o.str(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, sop_instance_uid);
    o
}

/// A Hierarchical SOP Instance Reference item (one study): the instances
/// grouped by series, each series and each instance once, in the order they
/// first appear.
pub(crate) fn hierarchical_reference<'a>(
    study_instance_uid: &str,
    refs: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
) -> Option<Obj> {
    // (series, [(class, instance)])
    let mut series: Vec<(&str, Vec<(&str, &str)>)> = Vec::new();
    for (series_uid, class_uid, instance_uid) in refs {
        let entry = match series.iter_mut().position(|(s, _)| *s == series_uid) {
            Some(i) => &mut series[i].1,
            None => {
                series.push((series_uid, Vec::new()));
                &mut series.last_mut().expect("just pushed").1
            }
        };
        if !entry.iter().any(|(_, i)| *i == instance_uid) {
            entry.push((class_uid, instance_uid));
        }
    }
    if series.is_empty() {
        return None;
    }
    let mut study = Obj::new_empty();
    study.str(tags::STUDY_INSTANCE_UID, VR::UI, study_instance_uid);
    let items = series
        .into_iter()
        .map(|(series_uid, instances)| {
            let mut s = Obj::new_empty();
            s.str(tags::SERIES_INSTANCE_UID, VR::UI, series_uid);
            s.seq(tags::REFERENCED_SOP_SEQUENCE, instances.into_iter().map(|(c, i)| sop_ref(c, i)).collect());
            s
        })
        .collect();
    study.seq(tags::REFERENCED_SERIES_SEQUENCE, items);
    Some(study)
}

/// The evidence of a report: every image its content references.
pub(crate) fn evidence(input: &ReportInput, images: &[&ImageRef]) -> Option<Obj> {
    hierarchical_reference(
        &input.study.study_instance_uid,
        images.iter().map(|i| (i.series_instance_uid.as_str(), i.sop_class_uid.as_str(), i.sop_instance_uid.as_str())),
    )
}

/// The Referenced Request Sequence item: the reading request this report answers.
pub(crate) fn referenced_request(input: &ReportInput) -> Obj {
    let s = &input.study;
    let mut o = Obj::new_empty();
    o.str(tags::ACCESSION_NUMBER, VR::SH, &s.accession_number);
    o.empty(tags::REFERENCED_STUDY_SEQUENCE, VR::SQ);
    o.str(tags::STUDY_INSTANCE_UID, VR::UI, &s.study_instance_uid);
    o.empty(tags::REQUESTED_PROCEDURE_DESCRIPTION, VR::LO);
    o.empty(tags::REQUESTED_PROCEDURE_CODE_SEQUENCE, VR::SQ);
    o.empty(tags::REQUESTED_PROCEDURE_ID, VR::SH);
    o.empty(tags::PLACER_ORDER_NUMBER_IMAGING_SERVICE_REQUEST, VR::LO);
    o.str(tags::FILLER_ORDER_NUMBER_IMAGING_SERVICE_REQUEST, VR::LO, &input.request_id);
    o
}

/// The Part 10 file: preamble, File Meta (Explicit VR Little Endian), data set.
pub(crate) fn part10(obj: Obj) -> Result<Vec<u8>, ReportError> {
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax(EXPLICIT_VR_LITTLE_ENDIAN)
        .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
        .implementation_version_name(IMPLEMENTATION_VERSION_NAME);
    let file = obj.with_meta(meta).map_err(|e| ReportError::Dicom(e.to_string()))?;
    let mut out = Vec::new();
    file.write_all(&mut out).map_err(|e| ReportError::Dicom(e.to_string()))?;
    Ok(out)
}

/// The DT of a local date and time with its offset.
pub(crate) fn datetime(t: &crate::DateTimeParts) -> String {
    format!("{}{}{}", t.date, t.time, t.tz_offset)
}

#[cfg(test)]
mod tests {
    use super::ds;

    #[test]
    fn decimal_strings_fit_and_read_back() {
        for v in [0.0, 12.5, -3.25, 1.0 / 3.0, 1e21, 1e-7, 123_456_789.123_456_79, -1.2345678901234567e-300, f64::MAX, f64::MIN_POSITIVE] {
            let s = ds(v);
            assert!(s.len() <= 16, "{s}");
            let back: f64 = s.parse().unwrap();
            assert!(back.is_finite() && (back - v).abs() <= v.abs() * 1e-8, "{v} -> {s}");
        }
        assert_eq!(ds(12.5), "12.5");
        assert_eq!(ds(-45.0), "-45");
    }
}
