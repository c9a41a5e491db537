//! Shared by the recognition suites: the two databases (the same
//! assertions for both), a region's configuration, and studies stored
//! through the real index.

#![allow(dead_code)]

use std::io::Write;

use yunying_index::{DuplicatePolicy, Index, InstanceRecord};
use yunying_recognition::{Recognition, RecognitionConfig};

#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One `#[tokio::test]` per function and backend, in modules `sqlite` and
/// `postgres` (PostgreSQL from `YUNYING_TEST_POSTGRES`).
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)] async fn $name() { super::$name(super::Backend::Postgres).await })*
        }
    };
}

/// A fresh index on `backend` (the temporary directory holds SQLite's file).
pub async fn open(backend: Backend, tag: &str) -> (Index, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let index = match backend {
        Backend::Sqlite => Index::open_sqlite(&dir.path().join("index.sqlite")).await.unwrap(),
        Backend::Postgres => Index::open(&yunying_index::testkit::fresh_postgres_database(tag).await).await.unwrap(),
    };
    (index, dir)
}

/// Hangzhou's catalogue: chest CT (30 days, 240 yuan) and head MR (90
/// days, 600 yuan); hospital A holds the HR mark for chest CT in the first
/// half of 2026, province-wide; hospital B failed it.
pub const CONFIG: &str = r#"
[recognition]
region = "330100"

[[recognition.items]]
code = "CT-CHEST"
name = "胸部CT平扫"
modality = "CT"
body_parts = ["CHEST"]
procedure_codes = [{ value = "ZJ-CT-001", scheme = "99ZJHR" }]
keywords = ["胸部", "chest"]
window_days = 30
price_fen = 24000

[[recognition.items]]
code = "MR-HEAD"
name = "头颅MRI平扫"
modality = "MR"
body_parts = ["HEAD", "BRAIN"]
keywords = ["头颅", "head"]
window_days = 90
price_fen = 60000

[[recognition.local_reasons]]
code = "patient-request"
name = "患者要求"

[[recognition.local_reasons]]
code = "quality-doubt"
name = "质量存疑"

[[recognition.marks]]
institution = "HOSP-A"
item = "CT-CHEST"
scope = "330000"
valid_from = "2026-01-01"
valid_to = "2026-06-30"

[[recognition.marks]]
institution = "HOSP-B"
item = "CT-CHEST"
passed = false
scope = "330000"
valid_from = "2026-01-01"
valid_to = "2026-12-31"
"#;

pub fn config() -> RecognitionConfig {
    RecognitionConfig::from_toml(CONFIG).unwrap()
}

/// Recognition on `index` with [`CONFIG`] stored.
pub async fn recognition(index: &Index) -> Recognition {
    let r = Recognition::new(index.clone(), &config()).unwrap();
    assert!(r.seed(&config(), 1).await.unwrap());
    r
}

/// A study as a modality sends it.
pub struct StudySpec<'a> {
    pub uid: &'a str,
    pub issuer: &'a str,
    pub date: &'a str,
    pub modality: &'a str,
    pub body_part: &'a str,
    pub description: &'a str,
    /// `(value, scheme)` of the Procedure Code Sequence.
    pub codes: &'a [(&'a str, &'a str)],
    pub instances: usize,
}

/// Stores a study's instances in the index, with DICOM JSON metadata
/// carrying its Procedure Code Sequence, as the archive does.
pub async fn store(index: &Index, s: &StudySpec<'_>) {
    let codes: Vec<serde_json::Value> = s
        .codes
        .iter()
        .map(|(v, sch)| serde_json::json!({"00080100": {"vr": "SH", "Value": [v]}, "00080102": {"vr": "SH", "Value": [sch]}}))
        .collect();
    let json = serde_json::json!({"00081030": {"vr": "LO", "Value": [s.description]}, "00081032": {"vr": "SQ", "Value": codes}});
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(json.to_string().as_bytes()).unwrap();
    let metadata = enc.finish().unwrap();
    for n in 0..s.instances {
        let record = InstanceRecord {
            issuer: s.issuer.into(),
            patient_id: "P1".into(),
            study_instance_uid: s.uid.into(),
            study_date: s.date.into(),
            study_description: s.description.into(),
            series_instance_uid: format!("{}.1", s.uid),
            modality: s.modality.into(),
            body_part_examined: s.body_part.into(),
            sop_instance_uid: format!("{}.1.{n}", s.uid),
            sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
            transfer_syntax_uid: "1.2.840.10008.1.2.1".into(),
            received_at_ms: 1,
            size_bytes: 100,
            digest: format!("{:064x}", n + 1),
            sm3: Some(format!("{:064x}", n + 1001)),
            object_key: format!("originals/{}/{n}", s.uid),
            metadata: metadata.clone(),
            ..InstanceRecord::default()
        };
        index.insert(record, DuplicatePolicy::KeepFirst).await.unwrap();
    }
}
