//! Which object keys the index refers to, asked a page at a time (the walk
//! behind `verify` and the sweep of unreferenced objects), and the key
//! cursor a walk resumes from, on both databases.

use yunying_index::{DuplicatePolicy, Index, InstanceRecord};

mod backends;
use backends::Backend;

async fn open(backend: Backend, dir: &tempfile::TempDir) -> Index {
    match backend {
        Backend::Sqlite => Index::open_sqlite(&dir.path().join("index.sqlite")).await.unwrap(),
        Backend::Postgres => Index::open(&yunying_index::testkit::fresh_postgres_database("references").await).await.unwrap(),
    }
}

fn key(sop: &str) -> String {
    format!("originals/1/1.1/{sop}.0123456789abcdef.dcm")
}

fn record(sop: &str) -> InstanceRecord {
    InstanceRecord {
        issuer: "H1".into(),
        patient_id: "P".into(),
        study_instance_uid: "1".into(),
        series_instance_uid: "1.1".into(),
        sop_instance_uid: sop.into(),
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.7".into(),
        digest: "00".repeat(32),
        object_key: key(sop),
        ..Default::default()
    }
}

async fn instances_are_found_by_the_uids_their_keys_name(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let index = open(backend, &dir).await;
    // Every third of 450 UIDs indexed: the lookups span several statements.
    let sops: Vec<String> = (0..450).map(|i| format!("1.1.{i}")).collect();
    for sop in sops.iter().step_by(3) {
        index.insert(record(sop), DuplicatePolicy::KeepFirst).await.unwrap();
    }
    let mut found = index.object_keys_of_instances(&sops).await.unwrap();
    found.sort();
    let mut expected: Vec<(String, String)> = sops.iter().step_by(3).map(|s| (s.clone(), key(s))).collect();
    expected.sort();
    assert_eq!(found, expected);
    assert!(index.object_keys_of_instances(&[]).await.unwrap().is_empty());
    assert!(index.rendition_keys_of_instances(&sops).await.unwrap().is_empty(), "no renditions recorded");

    let asked: Vec<String> = vec![key("1.1.0"), key("1.1.1"), "originals/odd".into()];
    assert_eq!(index.rows_naming(&asked).await.unwrap(), [key("1.1.0")]);
    assert!(index.retained_among(&asked).await.unwrap().is_empty(), "nothing withheld or queued for the purge");
    index.close().await;
}

async fn a_key_cursor_is_kept_moved_and_reset(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let index = open(backend, &dir).await;
    assert_eq!(index.key_cursor("sweep").await.unwrap(), None);
    index.set_key_cursor("sweep", Some("originals/1/2")).await.unwrap();
    index.set_key_cursor("other", Some("renditions/")).await.unwrap();
    index.set_key_cursor("sweep", Some("originals/1/3")).await.unwrap();
    assert_eq!(index.key_cursor("sweep").await.unwrap().as_deref(), Some("originals/1/3"));
    index.set_key_cursor("sweep", None).await.unwrap();
    assert_eq!(index.key_cursor("sweep").await.unwrap(), None);
    assert_eq!(index.key_cursor("other").await.unwrap().as_deref(), Some("renditions/"));
    index.close().await;
}

on_every_backend!(instances_are_found_by_the_uids_their_keys_name, a_key_cursor_is_kept_moved_and_reset);
