//! The cursor of a background pass over new instances (the reading router,
//! the recognition classifier): no instance is passed over when ids and
//! receipt times of concurrent stores are in different orders.

use yunying_index::{DuplicatePolicy, Index, InstanceRecord};

mod backends;
use backends::Backend;

async fn open(backend: Backend, dir: &tempfile::TempDir) -> Index {
    match backend {
        Backend::Sqlite => Index::open_sqlite(&dir.path().join("index.sqlite")).await.unwrap(),
        Backend::Postgres => Index::open(&yunying_index::testkit::fresh_postgres_database("cursors").await).await.unwrap(),
    }
}

fn record(study: &str, received_at_ms: i64) -> InstanceRecord {
    InstanceRecord {
        issuer: "H1".into(),
        patient_id: "P".into(),
        study_instance_uid: study.into(),
        series_instance_uid: format!("{study}.1"),
        sop_instance_uid: format!("{study}.1.1"),
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.7".into(),
        digest: "00".repeat(32),
        object_key: format!("originals/{study}.dcm"),
        received_at_ms,
        ..Default::default()
    }
}

async fn an_instance_received_after_the_cutoff_holds_the_cursor_back(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let index = open(backend, &dir).await;
    // Three stores: the second took its id after the first but stamped its
    // receipt later than the third (concurrent associations).
    index.insert(record("1.1", 1_000), DuplicatePolicy::KeepFirst).await.unwrap();
    index.insert(record("1.2", 9_000), DuplicatePolicy::KeepFirst).await.unwrap();
    index.insert(record("1.3", 2_000), DuplicatePolicy::KeepFirst).await.unwrap();

    // At cutoff 5,000 only the first is settled and read; the third waits
    // behind the second instead of moving the cursor past it.
    let (studies, last) = index.studies_of_instances_after(0, 5_000, 100).await.unwrap();
    assert_eq!(studies, ["1.1"]);
    assert!(last > 0);
    let (studies, again) = index.studies_of_instances_after(last, 5_000, 100).await.unwrap();
    assert!(studies.is_empty(), "nothing settled after the first yet: {studies:?}");
    assert_eq!(again, last, "the cursor stays");

    // Later both are read.
    let (studies, end) = index.studies_of_instances_after(last, 10_000, 100).await.unwrap();
    assert_eq!(studies, ["1.2", "1.3"]);
    assert!(end > last);
    // And a limit still moves the cursor a page at a time.
    let (studies, first_page) = index.studies_of_instances_after(0, 10_000, 2).await.unwrap();
    assert_eq!(studies, ["1.1", "1.2"]);
    let (studies, _) = index.studies_of_instances_after(first_page, 10_000, 2).await.unwrap();
    assert_eq!(studies, ["1.3"]);
    index.close().await;
}

on_every_backend!(an_instance_received_after_the_cutoff_holds_the_cursor_back);
