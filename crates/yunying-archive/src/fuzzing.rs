//! Entry points for the fuzz targets (`fuzz/`): what ingest and retrieval
//! do with an object's bytes, without a store or an index around them.
//! Not an API: hidden from the docs, used by nothing else.

use std::io::Cursor;
use std::path::Path;

use yunying_index::{InstanceData, InstanceRecord, StoredInstance};
use yunying_store::{ObjectInfo, ObjectStore, StoreError};
use yunying_transcode::{ImageFormat, RenderOptions};

use crate::meta::{FileMeta, MetaError};

/// An object received whole (C-STORE, STOW-RS, import): its meta read or,
/// for a raw dataset, inferred; its record, metadata and pixel layout
/// extracted as ingest does; then what a rendition worker does with what
/// ingest accepted: every frame read back through the recorded layout,
/// and the first two decoded and rendered.
pub fn instance(object: &[u8]) {
    let (meta, start, stored) = match FileMeta::read(&mut &object[..]) {
        Ok((meta, start)) => (meta, start, object.to_vec()),
        Err(MetaError::NotPart10) => {
            let Some(meta) = crate::raw::infer_meta(object) else { return };
            // Stored as ingest stores it: with the meta it would have had.
            let mut stored = meta.encode();
            let start = stored.len() as u64;
            stored.extend_from_slice(object);
            (meta, start, stored)
        }
        Err(_) => return,
    };
    let end = stored.len() as u64;
    let Ok(record) = crate::extract_record(&mut Cursor::new(&stored), start, end, &meta.transfer_syntax_uid, None) else { return };
    let data = InstanceData {
        stored: StoredInstance {
            sop_instance_uid: record.sop_instance_uid.clone(),
            sop_class_uid: record.sop_class_uid.clone(),
            series_instance_uid: record.series_instance_uid.clone(),
            study_instance_uid: record.study_instance_uid.clone(),
            transfer_syntax_uid: meta.transfer_syntax_uid.clone(),
            object_key: KEY.to_string(),
            digest: String::new(),
            size_bytes: end as i64,
            sm3: None,
        },
        metadata: record.metadata,
        pixel_layout: record.pixel_layout,
    };
    let store = OneObject(stored);
    let Ok((info, frames)) = crate::read_pixels(&store, &data) else { return };
    for (i, frame) in frames.iter().enumerate().take(2) {
        let info = info.for_frame(i);
        let _ = yunying_transcode::decode_frame(&meta.transfer_syntax_uid, &info, frame);
        let options = RenderOptions { viewport: Some((64, 64)), format: ImageFormat::Png, ..RenderOptions::default() };
        let _ = yunying_transcode::render(&meta.transfer_syntax_uid, &info, frame, &options);
    }
    // A retrieval that asks for Explicit VR Little Endian.
    let _ = crate::to_explicit_le(&store.0);
}

/// A data set as a DIMSE identifier arrives (C-FIND, C-MOVE, C-GET,
/// N-ACTION), in both encodings.
pub fn network_dataset(bytes: &[u8]) {
    let _ = crate::metadata::network_dataset_json(bytes, true);
    let _ = crate::metadata::network_dataset_json(bytes, false);
}

/// A film download's DICOMDIR, round trip: entries made of the input's
/// text (NUL-separated fields, six per entry: patient ID and name, study,
/// series and SOP instance UID, study description) are written, and what
/// was written is read back by the walker and the JSON builder as any
/// DICOM file is. It must parse whole; it holds one record per patient,
/// study, series and instance; every link between records points at one;
/// and every instance is named under its own UID.
pub fn dicomdir(bytes: &[u8]) {
    use std::collections::HashSet;

    use crate::dicomdir::{DirEntry, encode};

    let fields: Vec<String> = bytes.split(|&b| b == 0).map(|f| String::from_utf8_lossy(f).into_owned()).collect();
    let entries: Vec<DirEntry> = fields
        .chunks(6)
        .take(64)
        .enumerate()
        .map(|(i, f)| {
            let field = |n: usize| f.get(n).cloned().unwrap_or_default();
            DirEntry {
                patient_id: field(0),
                patient_name: field(1),
                study_uid: field(2),
                series_uid: field(3),
                sop_instance_uid: field(4),
                study_description: field(5),
                modality: "CT".into(),
                sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
                transfer_syntax_uid: crate::syntax::EXPLICIT_VR_LE.into(),
                instance_number: Some(i as i64 + 1),
                file_id: vec!["DICOM".into(), format!("I{i}")],
                ..DirEntry::default()
            }
        })
        .collect();
    let written = encode(&entries, "1.2.3.4", "YUNYING");
    let (meta, start) = FileMeta::read(&mut &written[..]).expect("a DICOMDIR's file meta reads back");
    assert_eq!(meta.sop_class_uid, crate::dicomdir::DICOMDIR_SOP_CLASS);
    let json = crate::metadata::network_dataset_json(&written[start as usize..], true).expect("a DICOMDIR walks whole");
    let records = json["00041220"]["Value"].as_array().expect("the directory record sequence");
    let (mut patients, mut studies, mut series, mut instances) = (HashSet::new(), HashSet::new(), HashSet::new(), HashSet::new());
    for e in &entries {
        patients.insert(&e.patient_id);
        studies.insert((&e.patient_id, &e.study_uid));
        series.insert((&e.patient_id, &e.study_uid, &e.series_uid));
        instances.insert((&e.patient_id, &e.study_uid, &e.series_uid, &e.sop_instance_uid));
    }
    assert_eq!(records.len(), patients.len() + studies.len() + series.len() + instances.len(), "one record per level and key");
    let is_item = |offset: u64| {
        let at = offset as usize;
        written.get(at..at + 4) == Some(&[0xFE, 0xFF, 0x00, 0xE0][..])
    };
    let link = |r: &serde_json::Value, tag: &str| r[tag]["Value"][0].as_u64().unwrap_or_else(|| panic!("{tag} in {r}"));
    for r in records {
        for tag in ["00041400", "00041420"] {
            let offset = link(r, tag);
            assert!(offset == 0 || is_item(offset), "{tag} = {offset} points at no record");
        }
    }
    for tag in ["00041200", "00041202"] {
        assert!(is_item(json[tag]["Value"][0].as_u64().expect("root record offsets")), "{tag}");
    }
    let named: HashSet<&str> = records.iter().filter_map(|r| r["00041511"]["Value"][0].as_str()).collect();
    for e in &entries {
        let uid = e.sop_instance_uid.trim_end_matches(['\0', ' ']);
        // What a UID may hold (a value with a backslash is several values).
        if !uid.is_empty() && uid.len() <= 64 && uid.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') {
            assert!(named.contains(uid), "instance {uid:?} not in the directory");
        }
    }
}

/// The index records of the test data's instances (`testdata/dicom`), as
/// ingest would make them: what a search fuzz target searches.
pub fn testdata_records() -> Vec<InstanceRecord> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/dicom");
    let mut paths: Vec<_> = std::fs::read_dir(&dir).expect("testdata/dicom").map(|e| e.expect("a directory entry").path()).collect();
    paths.sort();
    let mut records = Vec::new();
    for (i, path) in paths.iter().enumerate() {
        let Ok(bytes) = std::fs::read(path) else { continue };
        let Ok((meta, start)) = FileMeta::read(&mut &bytes[..]) else { continue };
        let end = bytes.len() as u64;
        let Ok(mut record) = crate::extract_record(&mut Cursor::new(&bytes), start, end, &meta.transfer_syntax_uid, None) else { continue };
        record.transfer_syntax_uid = meta.transfer_syntax_uid;
        record.object_key = format!("fuzz/{i}.dcm");
        record.digest = format!("{i:064x}");
        record.size_bytes = end as i64;
        records.push(record);
    }
    records
}

const KEY: &str = "fuzz/object.dcm";

/// A store holding the one object under test.
struct OneObject(Vec<u8>);

impl OneObject {
    fn check(&self, key: &str) -> yunying_store::Result<()> {
        if key == KEY { Ok(()) } else { Err(StoreError::NotFound { key: key.to_string() }) }
    }
}

impl ObjectStore for OneObject {
    fn put_file(&self, key: &str, _local: &std::path::Path) -> yunying_store::Result<()> {
        Err(StoreError::InvalidKey { key: key.to_string() })
    }
    fn put_bytes(&self, key: &str, _bytes: &[u8]) -> yunying_store::Result<()> {
        Err(StoreError::InvalidKey { key: key.to_string() })
    }
    fn get(&self, key: &str) -> yunying_store::Result<Vec<u8>> {
        self.check(key)?;
        Ok(self.0.clone())
    }
    fn get_range(&self, key: &str, start: u64, len: u64) -> yunying_store::Result<Vec<u8>> {
        self.check(key)?;
        let end = start.checked_add(len).filter(|&e| e <= self.0.len() as u64);
        let Some(end) = end else {
            return Err(StoreError::InvalidRange { start, end: start.saturating_add(len), len: self.0.len() as u64 });
        };
        Ok(self.0[start as usize..end as usize].to_vec())
    }
    fn size(&self, key: &str) -> yunying_store::Result<u64> {
        self.check(key)?;
        Ok(self.0.len() as u64)
    }
    fn delete(&self, key: &str) -> yunying_store::Result<()> {
        Err(StoreError::InvalidKey { key: key.to_string() })
    }
    fn list_page(&self, _prefix: &str, _after: Option<&str>, _limit: usize) -> yunying_store::Result<Vec<ObjectInfo>> {
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod dicomdir_tests {
    /// The round trip holds for the seeds' shapes: a Chinese name, two
    /// series, no input, odd bytes.
    #[test]
    fn a_film_directory_reads_back_whole() {
        let fields = ["P1", "Chen^JianGuo=陈^建国", "1.2.1", "1.2.1.1", "1.2.1.1.1", "胸部CT", "P1", "x", "1.2.1", "1.2.1.2", "1.2.1.2.1"];
        super::dicomdir(fields.join("\0").as_bytes());
        super::dicomdir(b"");
        super::dicomdir(b"\xff\xfe\0\0 1.2 \0\\\0\x1b$B");
    }
}
