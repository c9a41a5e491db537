//! DICOMDIR (PS3.10 media directory, PS3.3 F.3): the index of a file set,
//! written for the ZIP downloads of cloud films so that a workstation, DCMTK
//! or pydicom opens the download as a DICOM disc.
//!
//! The directory is small (a few hundred bytes per instance) and built in
//! memory; the files it names are streamed by the caller. Records form the
//! PATIENT → STUDY → SERIES → IMAGE hierarchy, each linked to its next
//! sibling and its first child by byte offsets from the start of the file,
//! so every record is encoded with explicit lengths and the offsets are
//! computed before anything is written.

use std::collections::HashMap;

use crate::meta::FileMeta;
use crate::syntax::EXPLICIT_VR_LE;

/// Media Storage Directory Storage.
pub const DICOMDIR_SOP_CLASS: &str = "1.2.840.10008.1.3.10";

/// One file of the set, with what its directory records show.
#[derive(Debug, Clone, Default)]
pub struct DirEntry {
    pub patient_id: String,
    pub patient_name: String,
    pub study_uid: String,
    pub study_date: String,
    pub study_time: String,
    pub accession_number: String,
    pub study_description: String,
    pub study_id: String,
    pub series_uid: String,
    pub modality: String,
    pub series_number: Option<i64>,
    pub sop_class_uid: String,
    pub sop_instance_uid: String,
    pub transfer_syntax_uid: String,
    pub instance_number: Option<i64>,
    /// Path components of the file in the set (`DICOM`, `ST000001`, …):
    /// at most 8 components of at most 8 characters from `A-Z 0-9 _`.
    pub file_id: Vec<String>,
}

/// Whether `component` may appear in a File ID (PS3.10 8.2).
pub fn valid_file_id_component(component: &str) -> bool {
    !component.is_empty() && component.len() <= 8 && component.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
}

/// The directory record type of a SOP class.
fn record_type(sop_class: &str) -> &'static str {
    match sop_class {
        "1.2.840.10008.5.1.4.1.1.104.1" | "1.2.840.10008.5.1.4.1.1.104.2" | "1.2.840.10008.5.1.4.1.1.104.3" => "ENCAP DOC",
        c if c.starts_with("1.2.840.10008.5.1.4.1.1.88.") => "SR DOCUMENT",
        "1.2.840.10008.5.1.4.1.1.11.1" | "1.2.840.10008.5.1.4.1.1.11.2" => "PRESENTATION",
        _ => "IMAGE",
    }
}

/// Explicit VR Little Endian element with a 2-byte length.
fn element(out: &mut Vec<u8>, group: u16, elem: u16, vr: &[u8; 2], value: &[u8]) {
    let pad = if vr == b"UI" { 0u8 } else { b' ' };
    let len = value.len() + value.len() % 2;
    out.extend_from_slice(&group.to_le_bytes());
    out.extend_from_slice(&elem.to_le_bytes());
    out.extend_from_slice(vr);
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.extend_from_slice(value);
    if value.len() % 2 == 1 {
        out.push(pad);
    }
}

fn ul(out: &mut Vec<u8>, group: u16, elem: u16, value: u32) {
    element(out, group, elem, b"UL", &value.to_le_bytes());
}

fn us(out: &mut Vec<u8>, group: u16, elem: u16, value: u16) {
    element(out, group, elem, b"US", &value.to_le_bytes());
}

/// Text values longer than a 2-byte length allows never occur in these
/// attributes; cut defensively at the VR's maximum anyway.
fn text(out: &mut Vec<u8>, group: u16, elem: u16, vr: &[u8; 2], value: &str, max: usize) {
    let mut v = value.trim_end_matches(['\0', ' ']);
    while v.len() > max {
        let mut end = max;
        while !v.is_char_boundary(end) {
            end -= 1;
        }
        v = &v[..end];
    }
    element(out, group, elem, vr, v.as_bytes());
}

struct Record {
    /// Encoded elements after the four link elements (which have a fixed size).
    body: Vec<u8>,
    kind: &'static str,
    next: Option<usize>,
    child: Option<usize>,
}

fn record_bytes(r: &Record, next: u32, child: u32) -> Vec<u8> {
    let mut inner = Vec::with_capacity(r.body.len() + 64);
    ul(&mut inner, 0x0004, 0x1400, next);
    us(&mut inner, 0x0004, 0x1410, 0xFFFF);
    ul(&mut inner, 0x0004, 0x1420, child);
    text(&mut inner, 0x0004, 0x1430, b"CS", r.kind, 16);
    inner.extend_from_slice(&r.body);
    let mut out = Vec::with_capacity(inner.len() + 8);
    out.extend_from_slice(&0xFFFEu16.to_le_bytes());
    out.extend_from_slice(&0xE000u16.to_le_bytes());
    out.extend_from_slice(&(inner.len() as u32).to_le_bytes());
    out.extend_from_slice(&inner);
    out
}

/// Encode the DICOMDIR of `entries` (in the order given, grouped by
/// patient, study and series as they first appear).
pub fn encode(entries: &[DirEntry], media_instance_uid: &str, file_set_id: &str) -> Vec<u8> {
    let mut records: Vec<Record> = Vec::new();
    // Each record once per (parent, key); children linked in order: the
    // parent's first child, then each one the next of the one before.
    let mut found: HashMap<(Option<usize>, String), usize> = HashMap::new();
    let mut last_child: HashMap<Option<usize>, usize> = HashMap::new();
    let mut roots: Vec<usize> = Vec::new();
    let mut record = |parent: Option<usize>, key: &str, make: &dyn Fn() -> Record| -> usize {
        if let Some(&idx) = found.get(&(parent, key.to_string())) {
            return idx;
        }
        records.push(make());
        let idx = records.len() - 1;
        match last_child.insert(parent, idx) {
            Some(previous) => records[previous].next = Some(idx),
            None => {
                if let Some(p) = parent {
                    records[p].child = Some(idx);
                }
            }
        }
        if parent.is_none() {
            roots.push(idx);
        }
        found.insert((parent, key.to_string()), idx);
        idx
    };
    let charset = |b: &mut Vec<u8>| text(b, 0x0008, 0x0005, b"CS", "ISO_IR 192", 16);
    for e in entries {
        let patient = record(None, &e.patient_id, &|| {
            let mut body = Vec::new();
            charset(&mut body);
            text(&mut body, 0x0010, 0x0010, b"PN", &e.patient_name, 64 * 5);
            text(&mut body, 0x0010, 0x0020, b"LO", &e.patient_id, 64);
            Record { body, kind: "PATIENT", next: None, child: None }
        });
        let study = record(Some(patient), &e.study_uid, &|| {
            let mut body = Vec::new();
            charset(&mut body);
            text(&mut body, 0x0008, 0x0020, b"DA", &e.study_date, 8);
            text(&mut body, 0x0008, 0x0030, b"TM", &e.study_time, 16);
            text(&mut body, 0x0008, 0x0050, b"SH", &e.accession_number, 16 * 4);
            text(&mut body, 0x0008, 0x1030, b"LO", &e.study_description, 64 * 4);
            text(&mut body, 0x0020, 0x000D, b"UI", &e.study_uid, 64);
            text(&mut body, 0x0020, 0x0010, b"SH", &e.study_id, 16 * 4);
            Record { body, kind: "STUDY", next: None, child: None }
        });
        let series = record(Some(study), &e.series_uid, &|| {
            let mut body = Vec::new();
            text(&mut body, 0x0008, 0x0060, b"CS", &e.modality, 16);
            text(&mut body, 0x0020, 0x000E, b"UI", &e.series_uid, 64);
            text(&mut body, 0x0020, 0x0011, b"IS", &e.series_number.map(|n| n.to_string()).unwrap_or_default(), 12);
            Record { body, kind: "SERIES", next: None, child: None }
        });
        record(Some(series), &e.sop_instance_uid, &|| {
            let mut body = Vec::new();
            text(&mut body, 0x0004, 0x1500, b"CS", &e.file_id.join("\\"), 8 * 9);
            text(&mut body, 0x0004, 0x1510, b"UI", &e.sop_class_uid, 64);
            text(&mut body, 0x0004, 0x1511, b"UI", &e.sop_instance_uid, 64);
            text(&mut body, 0x0004, 0x1512, b"UI", &e.transfer_syntax_uid, 64);
            text(&mut body, 0x0020, 0x0013, b"IS", &e.instance_number.map(|n| n.to_string()).unwrap_or_default(), 12);
            Record { body, kind: record_type(&e.sop_class_uid), next: None, child: None }
        });
    }

    let meta = FileMeta {
        sop_class_uid: DICOMDIR_SOP_CLASS.into(),
        sop_instance_uid: media_instance_uid.into(),
        transfer_syntax_uid: EXPLICIT_VR_LE.into(),
        ..FileMeta::default()
    }
    .encode();
    // Root elements before the sequence; their size is fixed, so the
    // offset of the first record is known.
    let root = |first: u32, last: u32| {
        let mut out = Vec::new();
        text(&mut out, 0x0004, 0x1130, b"CS", file_set_id, 16);
        ul(&mut out, 0x0004, 0x1200, first);
        ul(&mut out, 0x0004, 0x1202, last);
        us(&mut out, 0x0004, 0x1212, 0);
        out
    };
    let sequence_header = 12;
    let records_start = meta.len() + root(0, 0).len() + sequence_header;
    let mut offsets = Vec::with_capacity(records.len());
    let mut at = records_start;
    for r in &records {
        offsets.push(at as u32);
        at += record_bytes(r, 0, 0).len();
    }
    let mut seq = Vec::with_capacity(at - records_start);
    for r in &records {
        let next = r.next.map_or(0, |i| offsets[i]);
        let child = r.child.map_or(0, |i| offsets[i]);
        seq.extend_from_slice(&record_bytes(r, next, child));
    }
    let first = roots.first().map_or(0, |&i| offsets[i]);
    let last = roots.last().map_or(0, |&i| offsets[i]);
    let mut out = meta;
    out.extend_from_slice(&root(first, last));
    out.extend_from_slice(&0x0004u16.to_le_bytes());
    out.extend_from_slice(&0x1220u16.to_le_bytes());
    out.extend_from_slice(b"SQ\0\0");
    out.extend_from_slice(&(seq.len() as u32).to_le_bytes());
    out.extend_from_slice(&seq);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(patient: &str, study: &str, series: &str, sop: &str) -> DirEntry {
        DirEntry {
            patient_id: patient.into(),
            patient_name: "Chen^JianGuo=陈^建国".into(),
            study_uid: study.into(),
            series_uid: series.into(),
            modality: "CT".into(),
            sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
            sop_instance_uid: sop.into(),
            transfer_syntax_uid: EXPLICIT_VR_LE.into(),
            instance_number: Some(1),
            file_id: vec!["DICOM".into(), "I1".into()],
            ..DirEntry::default()
        }
    }

    /// Offsets point at item tags of the right record types.
    #[test]
    fn offsets_link_records_in_hierarchy() {
        let entries = [
            entry("P1", "1.2.1", "1.2.1.1", "1.2.1.1.1"),
            entry("P1", "1.2.1", "1.2.1.1", "1.2.1.1.2"),
            entry("P1", "1.2.1", "1.2.1.2", "1.2.1.2.1"),
        ];
        let bytes = encode(&entries, "1.2.3", "YUNYING");
        assert_eq!(&bytes[128..132], b"DICM");
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        // Records are items: FFFE,E000 then length, then (0004,1400) UL next.
        let kind_at = |offset: usize| {
            assert_eq!(&bytes[offset..offset + 4], &[0xFE, 0xFF, 0x00, 0xE0], "item tag at {offset}");
            let kind_el = offset + 8 + 12 + 10 + 12;
            let len = u16::from_le_bytes([bytes[kind_el + 6], bytes[kind_el + 7]]) as usize;
            String::from_utf8_lossy(&bytes[kind_el + 8..kind_el + 8 + len]).trim().to_string()
        };
        let next_of = |offset: usize| u32_at(offset + 8 + 8);
        let child_of = |offset: usize| u32_at(offset + 8 + 12 + 10 + 8);
        let root = bytes.windows(4).position(|w| w == [0x04, 0x00, 0x00, 0x12]).unwrap();
        let patient = u32_at(root + 8);
        assert_eq!(kind_at(patient), "PATIENT");
        assert_eq!(next_of(patient), 0);
        let study = child_of(patient);
        assert_eq!(kind_at(study), "STUDY");
        let series1 = child_of(study);
        assert_eq!(kind_at(series1), "SERIES");
        let series2 = next_of(series1);
        assert_eq!(kind_at(series2), "SERIES");
        assert_eq!(next_of(series2), 0);
        let image1 = child_of(series1);
        assert_eq!(kind_at(image1), "IMAGE");
        let image2 = next_of(image1);
        assert_eq!(kind_at(image2), "IMAGE");
        assert_eq!(next_of(image2), 0);
        assert_eq!(kind_at(child_of(series2)), "IMAGE");
    }

    #[test]
    fn file_id_components_follow_part_10() {
        assert!(valid_file_id_component("ST000001"));
        assert!(!valid_file_id_component("ST0000001"));
        assert!(!valid_file_id_component("st1"));
        assert!(!valid_file_id_component(""));
    }
}
