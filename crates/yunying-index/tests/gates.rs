//! An insert whose object is still being flushed (`insert_when_durable`):
//! its row is committed only after the object is said durable, never when
//! it is said lost, and a lost one spoils no other write of its batch.

use std::time::Duration;

use tokio::sync::oneshot;
use yunying_index::{DuplicatePolicy, Index, IndexError, InsertOutcome, InstanceRecord};

mod backends;
use backends::Backend;

async fn open(backend: Backend, dir: &tempfile::TempDir) -> Index {
    match backend {
        Backend::Sqlite => Index::open_sqlite(&dir.path().join("index.sqlite")).await.unwrap(),
        Backend::Postgres => Index::open(&yunying_index::testkit::fresh_postgres_database("gates").await).await.unwrap(),
    }
}

fn record(sop: &str) -> InstanceRecord {
    InstanceRecord {
        issuer: "H1".into(),
        patient_id: "P".into(),
        study_instance_uid: "1.9".into(),
        series_instance_uid: "1.9.1".into(),
        sop_instance_uid: sop.into(),
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.7".into(),
        digest: "00".repeat(32),
        object_key: format!("originals/1.9/1.9.1/{sop}.dcm"),
        received_at_ms: 1_000,
        ..Default::default()
    }
}

async fn stored(index: &Index, sop: &str) -> bool {
    index.instance(sop).await.unwrap().is_some()
}

async fn a_row_waits_for_its_object_and_a_lost_object_leaves_no_row(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let index = open(backend, &dir).await;

    // Durable later: no row until it is said, then the insert returns.
    let (durable, gate) = oneshot::channel();
    let pending = tokio::spawn({
        let index = index.clone();
        async move { index.insert_when_durable(record("1.9.1.1"), DuplicatePolicy::KeepFirst, gate).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(!pending.is_finished(), "the insert waits for its object");
    assert!(!stored(&index, "1.9.1.1").await, "no row is committed before its object is durable");
    durable.send(Ok(())).unwrap();
    assert!(matches!(pending.await.unwrap(), Ok(InsertOutcome::Inserted)));
    assert!(stored(&index, "1.9.1.1").await);

    // Lost, while another insert and a plain one share its batch: only the
    // lost one is refused.
    let (lost, lost_gate) = oneshot::channel();
    let (kept, kept_gate) = oneshot::channel();
    let writes = tokio::spawn({
        let index = index.clone();
        async move {
            tokio::join!(
                index.insert_when_durable(record("1.9.1.2"), DuplicatePolicy::KeepFirst, lost_gate),
                index.insert_when_durable(record("1.9.1.3"), DuplicatePolicy::KeepFirst, kept_gate),
                index.insert(record("1.9.1.4"), DuplicatePolicy::KeepFirst),
            )
        }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    lost.send(Err("disk failed".into())).unwrap();
    kept.send(Ok(())).unwrap();
    let (lost, kept, plain) = writes.await.unwrap();
    assert!(matches!(&lost, Err(IndexError::ObjectNotDurable(why)) if why.contains("disk failed")), "{lost:?}");
    assert!(matches!(kept, Ok(InsertOutcome::Inserted)), "{kept:?}");
    assert!(matches!(plain, Ok(InsertOutcome::Inserted)), "{plain:?}");
    assert!(!stored(&index, "1.9.1.2").await, "the lost object's row is not committed");
    assert!(stored(&index, "1.9.1.3").await && stored(&index, "1.9.1.4").await);

    // A store that never answers (its sender dropped) is a lost object.
    let (gone, gone_gate) = oneshot::channel::<Result<(), String>>();
    drop(gone);
    let refused = index.insert_when_durable(record("1.9.1.5"), DuplicatePolicy::KeepFirst, gone_gate).await;
    assert!(matches!(refused, Err(IndexError::ObjectNotDurable(_))), "{refused:?}");
    assert!(!stored(&index, "1.9.1.5").await);

    // The totals count only what was committed.
    assert_eq!(index.counts().await.unwrap().instances, 3);
    index.close().await;
}

on_every_backend!(a_row_waits_for_its_object_and_a_lost_object_leaves_no_row);
