//! From an encoded dataset to the attributes the index keeps.
//!
//! The dataset is walked once ([`crate::walker`]); the raw bytes of the
//! indexed top-level attributes are decoded here: text with the dataset's
//! Specific Character Set (or the caller's default for undeclared non-ASCII
//! bytes), binary US values with the dataset's byte order.

use std::io::{BufReader, Read, Seek, SeekFrom};

use yunying_charset::{SpecificCharacterSet, TextKind, encoding_for_term};
use yunying_index::InstanceRecord;

use crate::error::IngestError;
use crate::metadata::{dicom_json, pixel_layout};
use crate::syntax::dataset_encoding;
use crate::walker::{Capped, Collect, DatasetEncoding, Extracted, SeekSource, StreamSource, WalkError, is_too_long, walk_collect};

const SPECIFIC_CHARACTER_SET: u32 = 0x0008_0005;
const SOP_CLASS_UID: u32 = 0x0008_0016;
const SOP_INSTANCE_UID: u32 = 0x0008_0018;
const STUDY_DATE: u32 = 0x0008_0020;
const SERIES_DATE: u32 = 0x0008_0021;
const CONTENT_DATE: u32 = 0x0008_0023;
const STUDY_TIME: u32 = 0x0008_0030;
const SERIES_TIME: u32 = 0x0008_0031;
const CONTENT_TIME: u32 = 0x0008_0033;
const ACCESSION_NUMBER: u32 = 0x0008_0050;
const MODALITY: u32 = 0x0008_0060;
const INSTITUTION_NAME: u32 = 0x0008_0080;
const REFERRING_PHYSICIAN_NAME: u32 = 0x0008_0090;
const STUDY_DESCRIPTION: u32 = 0x0008_1030;
const SERIES_DESCRIPTION: u32 = 0x0008_103E;
const PATIENT_NAME: u32 = 0x0010_0010;
const PATIENT_ID: u32 = 0x0010_0020;
const PATIENT_BIRTH_DATE: u32 = 0x0010_0030;
const PATIENT_SEX: u32 = 0x0010_0040;
const BODY_PART_EXAMINED: u32 = 0x0018_0015;
const STUDY_INSTANCE_UID: u32 = 0x0020_000D;
const SERIES_INSTANCE_UID: u32 = 0x0020_000E;
const STUDY_ID: u32 = 0x0020_0010;
const SERIES_NUMBER: u32 = 0x0020_0011;
const INSTANCE_NUMBER: u32 = 0x0020_0013;
const NUMBER_OF_FRAMES: u32 = 0x0028_0008;
const ROWS: u32 = 0x0028_0010;
const COLUMNS: u32 = 0x0028_0011;
const ADMISSION_ID: u32 = 0x0038_0010;
const CURRENT_PATIENT_LOCATION: u32 = 0x0038_0300;

/// Every top-level attribute the index keeps.
const INDEXED: [u32; 30] = [
    SPECIFIC_CHARACTER_SET,
    SOP_CLASS_UID,
    SOP_INSTANCE_UID,
    STUDY_DATE,
    SERIES_DATE,
    CONTENT_DATE,
    STUDY_TIME,
    SERIES_TIME,
    CONTENT_TIME,
    ACCESSION_NUMBER,
    MODALITY,
    INSTITUTION_NAME,
    REFERRING_PHYSICIAN_NAME,
    STUDY_DESCRIPTION,
    SERIES_DESCRIPTION,
    PATIENT_NAME,
    PATIENT_ID,
    PATIENT_BIRTH_DATE,
    PATIENT_SEX,
    BODY_PART_EXAMINED,
    STUDY_INSTANCE_UID,
    SERIES_INSTANCE_UID,
    STUDY_ID,
    SERIES_NUMBER,
    INSTANCE_NUMBER,
    NUMBER_OF_FRAMES,
    ROWS,
    COLUMNS,
    ADMISSION_ID,
    CURRENT_PATIENT_LOCATION,
];

/// Walk the dataset stored in `file` from `start` to `end` (absolute
/// offsets) in transfer syntax `ts`, and return the DICOM attributes of its
/// index record, its metadata (DICOM JSON, deflated) and pixel layout
/// (provenance fields are left for the caller to fill).
///
/// The walk is held to the configured bounds (elements, depth, bytes held,
/// inflated size: [`crate::ArchiveConfig`]); past one, the instance is
/// refused as out of resources.
pub fn extract_record<R: Read + Seek>(
    file: &mut R,
    start: u64,
    end: u64,
    ts: &str,
    default_charset: Option<&str>,
) -> Result<InstanceRecord, IngestError> {
    let (enc, deflated) = dataset_encoding(ts);
    file.seek(SeekFrom::Start(start)).map_err(|e| IngestError::OutOfResources(format!("spool read: {e}")))?;
    let wanted = |tag: u32| INDEXED.contains(&tag);
    let limits = crate::config::read_limits();
    let collect = Collect { wanted: &wanted, tree: true, is_sequence: &is_sequence, limits: limits.walk };
    let walked = if deflated {
        let limited = BufReader::new(&mut *file).take(end - start);
        let mut src = StreamSource(Capped::new(flate2::read::DeflateDecoder::new(limited), limits.max_inflated_bytes));
        walk_collect(&mut src, enc, &collect)
    } else {
        let mut src = SeekSource::new(BufReader::with_capacity(64 * 1024, &mut *file), end)
            .map_err(|e| IngestError::OutOfResources(format!("spool read: {e}")))?;
        walk_collect(&mut src, enc, &collect)
    };
    let extracted = walked.map_err(|e| match e {
        WalkError::Limit(what) => {
            release_memory();
            IngestError::OutOfResources(what)
        }
        WalkError::Io(e) if is_too_long(&e) => IngestError::OutOfResources(format!("deflated data set {e} (max_inflated_bytes)")),
        WalkError::Io(e) if deflated => IngestError::CannotUnderstand(format!("bad deflate stream: {e}")),
        WalkError::Io(e) => IngestError::OutOfResources(format!("spool read: {e}")),
        other => IngestError::CannotUnderstand(other.to_string()),
    })?;
    // The metadata built from the tree costs about 1 KB an element.
    let large = extracted.peak_retained_bytes + extracted.walked_elements * 1024 > TRIM_AFTER;
    let record = record_of(extracted, enc, ts, start, deflated, default_charset);
    if large {
        release_memory();
    }
    record
}

/// Bytes (held by the walk, then by the metadata built from it) past which
/// the memory is given back to the system once freed.
const TRIM_AFTER: u64 = 16 << 20;

fn record_of(
    extracted: Extracted,
    enc: DatasetEncoding,
    ts: &str,
    start: u64,
    deflated: bool,
    default_charset: Option<&str>,
) -> Result<InstanceRecord, IngestError> {
    let mut record = to_record(&extracted, enc, default_charset)?;
    let fallback = default_charset.and_then(encoding_for_term);
    let json = dicom_json(&extracted.tree, enc, ts, &record.sop_instance_uid, fallback);
    record.metadata = deflate(&serde_json::to_vec(&json).expect("JSON maps always serialise"));
    // Offsets inside a deflated dataset do not address the stored object.
    if !deflated {
        record.pixel_layout = pixel_layout(&extracted.tree, start, ts).map(|l| l.encode()).unwrap_or_default();
    }
    Ok(record)
}

/// Give the heap a large walk freed back to the system. glibc keeps freed
/// memory in the arena of the (blocking pool) thread that freed it, so
/// without this one hostile data set would leave the process gigabytes
/// larger for good.
pub(crate) fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Whether a tag is a sequence, for implicit VR datasets.
pub(crate) fn is_sequence(tag: u32) -> bool {
    use dicom_core::dictionary::{DataDictionary, VirtualVr};
    matches!(
        dicom_dictionary_std::StandardDataDictionary.by_tag(dicom_core::Tag((tag >> 16) as u16, tag as u16)).map(|e| e.vr),
        Some(VirtualVr::Exact(dicom_core::VR::SQ))
    )
}

/// Compress stored metadata (DICOM JSON compresses about 5:1).
pub fn deflate(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::with_capacity(bytes.len() / 3), flate2::Compression::fast());
    enc.write_all(bytes).expect("writing to a Vec cannot fail");
    enc.finish().expect("writing to a Vec cannot fail")
}

/// Decompress stored metadata.
pub fn inflate(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() * 5);
    flate2::read::DeflateDecoder::new(bytes).read_to_end(&mut out)?;
    Ok(out)
}

fn to_record(x: &Extracted, enc: DatasetEncoding, default_charset: Option<&str>) -> Result<InstanceRecord, IngestError> {
    let charset = x
        .values
        .get(&SPECIFIC_CHARACTER_SET)
        .map(|raw| SpecificCharacterSet::parse(raw))
        .unwrap_or_else(SpecificCharacterSet::default_repertoire);
    let fallback = default_charset.and_then(encoding_for_term);
    let decode = |tag: u32, kind: TextKind| -> String {
        x.values.get(&tag).map(|raw| charset.decode_as(raw, kind, fallback)).unwrap_or_default().trim().to_string()
    };
    let text = |tag: u32| decode(tag, TextKind::Text);
    let person_name = |tag: u32| decode(tag, TextKind::PersonName);
    let ascii = |tag: u32| -> String {
        x.values
            .get(&tag)
            .map(|raw| String::from_utf8_lossy(raw).trim_matches(|c: char| c == '\0' || c.is_whitespace()).to_string())
            .unwrap_or_default()
    };
    let number = |tag: u32| -> Option<i64> { ascii(tag).split('\\').next()?.trim().parse().ok() };
    let us = |tag: u32| -> Option<i64> {
        let v = x.values.get(&tag)?;
        let b: [u8; 2] = v.get(..2)?.try_into().ok()?;
        Some(if enc.big_endian { u16::from_be_bytes(b) } else { u16::from_le_bytes(b) } as i64)
    };

    let record = InstanceRecord {
        patient_id: text(PATIENT_ID),
        patient_name: person_name(PATIENT_NAME),
        patient_birth_date: ascii(PATIENT_BIRTH_DATE),
        patient_sex: ascii(PATIENT_SEX),
        study_instance_uid: ascii(STUDY_INSTANCE_UID),
        study_date: ascii(STUDY_DATE),
        study_time: ascii(STUDY_TIME),
        accession_number: text(ACCESSION_NUMBER),
        study_id: text(STUDY_ID),
        study_description: text(STUDY_DESCRIPTION),
        referring_physician_name: person_name(REFERRING_PHYSICIAN_NAME),
        institution_name: text(INSTITUTION_NAME),
        series_instance_uid: ascii(SERIES_INSTANCE_UID),
        modality: ascii(MODALITY),
        series_number: number(SERIES_NUMBER),
        series_description: text(SERIES_DESCRIPTION),
        body_part_examined: ascii(BODY_PART_EXAMINED),
        series_date: ascii(SERIES_DATE),
        series_time: ascii(SERIES_TIME),
        sop_instance_uid: ascii(SOP_INSTANCE_UID),
        sop_class_uid: ascii(SOP_CLASS_UID),
        instance_number: number(INSTANCE_NUMBER),
        number_of_frames: number(NUMBER_OF_FRAMES).or(if x.has_pixel_data { Some(1) } else { None }),
        rows: us(ROWS),
        columns: us(COLUMNS),
        content_date: ascii(CONTENT_DATE),
        content_time: ascii(CONTENT_TIME),
        specific_character_set: ascii(SPECIFIC_CHARACTER_SET),
        // DICOM has no reliable patient class. An Admission ID or a Current
        // Patient Location (a ward, a bed) is only given to admitted
        // patients: inpatient. Without either the class stays unknown
        // (kept longest) until a person sets it.
        patient_class: if text(ADMISSION_ID).is_empty() && text(CURRENT_PATIENT_LOCATION).is_empty() {
            String::new()
        } else {
            "inpatient".into()
        },
        ..Default::default()
    };
    for (value, name) in [
        (&record.sop_class_uid, "SOP Class UID"),
        (&record.sop_instance_uid, "SOP Instance UID"),
        (&record.study_instance_uid, "Study Instance UID"),
        (&record.series_instance_uid, "Series Instance UID"),
    ] {
        if !is_valid_uid(value) {
            return Err(IngestError::CannotUnderstand(format!("missing or invalid {name}")));
        }
    }
    Ok(record)
}

/// A UID as PS3.5 9.1 has it: at most 64 characters, components of digits
/// separated by single dots (no empty component: not `..`, `1..2`, `.1` or
/// `1.`).
///
/// One rule of the grammar is deliberately not enforced: a multi-digit
/// component must not start with 0. Modalities in service write such UIDs
/// (`1.2.840.0113654…`), they are as safe as any other as keys and paths,
/// and refusing them would refuse clinical images.
pub fn is_valid_uid(uid: &str) -> bool {
    uid.len() <= 64 && uid.split('.').all(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::is_valid_uid;

    #[test]
    fn uids_follow_the_grammar() {
        for good in ["1", "1.2.840.10008.5.1.4.1.1.2", "2.25.329800735698586629295641978511506172918", "1.2.840.0113654.2.70.1"] {
            assert!(is_valid_uid(good), "{good}");
        }
        let long = format!("1.{}", "2".repeat(63));
        for bad in ["", ".", "..", "1..2", ".1", "1.", "1.2.abc", "1.2 ", "1.2/3", "../1", "1.2\\3", long.as_str()] {
            assert!(!is_valid_uid(bad), "{bad:?}");
        }
    }
}
