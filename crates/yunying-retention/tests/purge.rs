//! The purge on a real index and filesystem store: a purge stopped after
//! its index transaction (the rows gone, the keys queued) is finished by
//! the next run, which deletes exactly the queued objects; a legal hold
//! set after approval blocks execution; runs are idempotent.

use std::sync::Arc;

use yunying_access::{Access, AccessConfig};
use yunying_archive::{Archive, ArchiveConfig};
use yunying_index::{DeletionRequestRow, DeletionTarget, DuplicatePolicy, ExecuteOutcome, HoldRow, Index, InstanceRecord};
use yunying_retention::{Retention, RetentionConfig};
use yunying_store::{FsStore, ObjectStore};

fn record(study: u32, instance: u32, patient: &str) -> InstanceRecord {
    InstanceRecord {
        issuer: "HOSP_A".into(),
        patient_id: patient.into(),
        study_instance_uid: format!("1.2.3.{study}"),
        study_date: "20000101".into(),
        series_instance_uid: format!("1.2.3.{study}.1"),
        sop_instance_uid: format!("1.2.3.{study}.1.{instance}"),
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
        transfer_syntax_uid: "1.2.840.10008.1.2.1".into(),
        received_at_ms: 1,
        size_bytes: 4,
        digest: "00".into(),
        object_key: format!("originals/1.2.3.{study}/1.2.3.{study}.1/1.2.3.{study}.1.{instance}.0000.dcm"),
        ..Default::default()
    }
}

fn approved(id: &str, study: &str) -> DeletionRequestRow {
    DeletionRequestRow {
        request_id: id.into(),
        origin: "manual".into(),
        institution: "HOSP_A".into(),
        reason: "test".into(),
        requested_by: "person:a".into(),
        requested_ms: 1,
        expires_ms: i64::MAX,
        state: "pending".into(),
        decided_by: None,
        decided_ms: None,
        note: String::new(),
        executed_ms: None,
        targets: vec![DeletionTarget {
            study_instance_uid: study.into(),
            series_instance_uid: String::new(),
            sop_instance_uid: String::new(),
        }],
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_purge_is_finished_by_the_next_run_and_holds_block() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open_sqlite(&dir.path().join("index.db")).await.unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(FsStore::open(dir.path().join("store")).unwrap());
    let records = [record(1, 1, "P1"), record(1, 2, "P1"), record(2, 1, "P2")];
    for r in &records {
        store.put_bytes(&r.object_key, b"DICM").unwrap();
        index.insert(r.clone(), DuplicatePolicy::KeepFirst).await.unwrap();
    }
    let archive = Archive::new(store.clone(), index.clone(), ArchiveConfig::default(), dir.path().join("spool"));
    let retention = Retention::new(archive, Access::new(index.clone(), AccessConfig::default()), RetentionConfig::default());

    index.create_deletion_request(&approved("r1", "1.2.3.1")).await.unwrap();
    assert!(index.decide_deletion("r1", "approved", "person:b", 10, "").await.unwrap());
    // The index transaction of a purge, then a crash before the store.
    let ExecuteOutcome::Executed { objects, .. } = index.execute_deletion("r1", 20).await.unwrap() else { panic!("not executed") };
    assert_eq!(objects, 2);
    assert!(index.instance("1.2.3.1.1.1").await.unwrap().is_none(), "rows gone at once");
    assert_eq!(index.retained_object_keys().await.unwrap().len(), 2, "keys queued, so the sweep leaves them");
    assert!(store.size(&records[0].object_key).is_ok(), "object still there");
    assert_eq!(index.execute_deletion("r1", 30).await.unwrap(), ExecuteOutcome::NotApproved, "executed once");

    let report = retention.purge("node-a", false).await.unwrap();
    assert_eq!(report.objects_deleted, 2);
    for r in &records[..2] {
        assert!(store.size(&r.object_key).is_err(), "{} deleted", r.object_key);
    }
    assert_eq!(store.get(&records[2].object_key).unwrap(), b"DICM", "the other study untouched");
    assert!(index.retained_object_keys().await.unwrap().is_empty());
    assert_eq!(retention.purge("node-a", false).await.unwrap().objects_deleted, 0, "idempotent");

    // A hold set after approval: the request is blocked, nothing goes.
    index.create_deletion_request(&approved("r2", "1.2.3.2")).await.unwrap();
    assert!(index.decide_deletion("r2", "approved", "person:b", 40, "").await.unwrap());
    let hold = HoldRow {
        hold_id: "h1".into(),
        issuer: "HOSP_A".into(),
        patient_id: "P2".into(),
        study_instance_uid: String::new(),
        reason: "court".into(),
        set_by: "person:c".into(),
        set_ms: 50,
        lifted_by: None,
        lifted_ms: None,
    };
    index.add_hold(&hold).await.unwrap();
    let report = retention.purge("node-a", false).await.unwrap();
    assert_eq!(report.blocked, vec!["r2".to_string()]);
    assert!(index.instance("1.2.3.2.1.1").await.unwrap().is_some());
    assert_eq!(store.get(&records[2].object_key).unwrap(), b"DICM");
    assert_eq!(index.deletion_request("r2").await.unwrap().unwrap().state, "blocked");

    // A series of a study: the study stays, with the other series only.
    let mut other = record(3, 1, "P3");
    let mut second = record(3, 2, "P3");
    second.series_instance_uid = "1.2.3.3.2".into();
    second.object_key = "originals/1.2.3.3/1.2.3.3.2/1.2.3.3.1.2.0000.dcm".into();
    for r in [&mut other, &mut second] {
        store.put_bytes(&r.object_key, b"DICM").unwrap();
        index.insert(r.clone(), DuplicatePolicy::KeepFirst).await.unwrap();
    }
    let mut by_series = approved("r3", "1.2.3.3");
    by_series.targets[0].series_instance_uid = "1.2.3.3.1".into();
    index.create_deletion_request(&by_series).await.unwrap();
    assert!(index.decide_deletion("r3", "approved", "person:b", 60, "").await.unwrap());
    assert_eq!(retention.purge("node-a", false).await.unwrap().objects_deleted, 1);
    assert!(store.size(&other.object_key).is_err());
    assert_eq!(store.get(&second.object_key).unwrap(), b"DICM");
    assert_eq!(index.study_aggregates("1.2.3.3").await.unwrap().map(|(series, instances, _)| (series, instances)), Some((1, 1)));

    // Another node holding the lease: this run waits its turn.
    assert!(index.try_lease("retention-purge", "node-b", yunying_access::now_ms(), yunying_access::now_ms() + 60_000).await.unwrap());
    assert!(retention.purge("node-a", false).await.unwrap().busy);
    index.close().await;
}
