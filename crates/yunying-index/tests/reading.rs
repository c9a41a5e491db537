//! What the reading workflow asks the index, on both databases: a
//! request's own worklist row (with its patient) among many in the same
//! status, and the studies one request's grants open, found by grantor
//! among a reading centre's other grants.

use yunying_index::{DuplicatePolicy, Grant, Index, InstanceRecord, ReadingRequestRow, WorklistQuery};

mod backends;
use backends::Backend;

async fn open(backend: Backend, dir: &tempfile::TempDir) -> Index {
    match backend {
        Backend::Sqlite => Index::open_sqlite(&dir.path().join("index.sqlite")).await.unwrap(),
        Backend::Postgres => Index::open(&yunying_index::testkit::fresh_postgres_database("reading").await).await.unwrap(),
    }
}

fn instance(study: &str, patient: &str) -> InstanceRecord {
    InstanceRecord {
        issuer: "TOWN".into(),
        patient_id: patient.into(),
        patient_name: format!("Name^{patient}"),
        study_instance_uid: study.into(),
        series_instance_uid: format!("{study}.1"),
        sop_instance_uid: format!("{study}.1.1"),
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
        modality: "CT".into(),
        digest: "00".repeat(32),
        object_key: format!("originals/{study}.dcm"),
        ..Default::default()
    }
}

fn request(id: &str, study: &str, created_ms: i64) -> ReadingRequestRow {
    ReadingRequestRow {
        request_id: id.into(),
        study_instance_uid: study.into(),
        requesting: "TOWN".into(),
        reading: "CENTRE".into(),
        priority: "routine".into(),
        priority_rank: 2,
        status: "new".into(),
        is_open: true,
        modality: "CT".into(),
        source: "rule".into(),
        created_ms,
        due_ms: created_ms + 3_600_000,
        updated_ms: created_ms,
        ..Default::default()
    }
}

fn grant(id: &str, grantor: &str, grantee: &str, studies: &[&str], not_after_ms: i64) -> Grant {
    Grant {
        grant_id: id.into(),
        kind: "reading".into(),
        grantor: grantor.into(),
        grantee_kind: "institution".into(),
        grantee: grantee.into(),
        reason: String::new(),
        created_ms: 0,
        not_before_ms: 0,
        not_after_ms,
        revoked_ms: None,
        revoked_by: None,
        studies: studies.iter().map(|s| s.to_string()).collect(),
    }
}

async fn a_request_finds_its_own_row_among_others_in_its_status(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let index = open(backend, &dir).await;
    for (i, study) in ["1.1", "1.2", "1.3"].iter().enumerate() {
        index.insert(instance(study, &format!("P{i}")), DuplicatePolicy::KeepFirst).await.unwrap();
        assert!(index.insert_reading_request(&request(&format!("rr_{i}"), study, 1_000 + i as i64)).await.unwrap());
    }
    for (i, study) in ["1.1", "1.2", "1.3"].iter().enumerate() {
        let q = WorklistQuery { institution: "CENTRE".into(), request_id: Some(format!("rr_{i}")), limit: 1, ..Default::default() };
        let (rows, total) = index.reading_worklist(&q).await.unwrap();
        assert_eq!(total, 1);
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].request.study_instance_uid, *study);
        assert_eq!(rows[0].patient_name, format!("Name^P{i}"), "the request's own patient, not the first in its status");
    }
    // Another institution's worklist does not find it.
    let q = WorklistQuery { institution: "ELSEWHERE".into(), request_id: Some("rr_1".into()), limit: 1, ..Default::default() };
    assert!(index.reading_worklist(&q).await.unwrap().0.is_empty());
    index.close().await;
}

async fn a_requests_grants_are_found_by_their_grantor(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let index = open(backend, &dir).await;
    let far = 10_000_000;
    // The request's first grant, a later one for a prior, and grants of
    // other requests and other grantees.
    index.insert_grant(&grant("g1", "reading:rr_a", "CENTRE", &["1.1"], far)).await.unwrap();
    index.insert_grant(&grant("g2", "reading:rr_a", "CENTRE", &["1.0", "1.1"], far)).await.unwrap();
    index.insert_grant(&grant("g3", "reading:rr_b", "CENTRE", &["2.1"], far)).await.unwrap();
    index.insert_grant(&grant("g4", "reading:rr_a", "OTHER", &["9.9"], far)).await.unwrap();
    index.insert_grant(&grant("g5", "reading:rr_a", "CENTRE", &["8.8"], 500)).await.unwrap();
    index.insert_grant(&grant("g6", "reading:rr_a", "CENTRE", &["7.7"], far)).await.unwrap();
    assert!(index.revoke_grant("g6", "person:admin", 100).await.unwrap());

    let studies = index.studies_granted_by("reading:rr_a", "CENTRE", 1_000).await.unwrap();
    assert_eq!(studies, ["1.0", "1.1"], "in force, this grantor's, to this institution, each once");
    assert_eq!(index.studies_granted_by("reading:rr_b", "CENTRE", 1_000).await.unwrap(), ["2.1"]);
    assert_eq!(index.studies_granted_by("reading:rr_a", "CENTRE", 400).await.unwrap(), ["1.0", "1.1", "8.8"], "before g5 ends");
    assert!(index.studies_granted_by("reading:rr_c", "CENTRE", 1_000).await.unwrap().is_empty());

    // Withdrawn: every grant rr_a gave that was not revoked already.
    let revoked = index.revoke_grants_by("reading:rr_a", "person:zhou", 2_000).await.unwrap();
    let ids: Vec<&str> = revoked.iter().map(|g| g.grant_id.as_str()).collect();
    assert_eq!(ids, ["g1", "g2", "g4", "g5"]);
    assert!(index.studies_granted_by("reading:rr_a", "CENTRE", 1_000).await.unwrap().is_empty());
    assert_eq!(index.studies_granted_by("reading:rr_b", "CENTRE", 1_000).await.unwrap(), ["2.1"], "another request's stays");
    index.close().await;
}

async fn a_cancelled_request_is_asked_for_again(backend: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let index = open(backend, &dir).await;
    index.insert(instance("1.1", "P1"), DuplicatePolicy::KeepFirst).await.unwrap();
    assert!(index.insert_reading_request(&request("rr_a", "1.1", 1_000)).await.unwrap());
    let mut again = request("rr_b", "1.1", 5_000);
    again.priority = "urgent".into();
    again.priority_rank = 1;
    again.clinical_info = "咳嗽两周".into();
    assert!(!index.insert_reading_request(&again).await.unwrap(), "one request of a study to a centre");
    assert_eq!(index.reopen_cancelled_reading_request(&again).await.unwrap(), None, "rr_a is open, not cancelled");

    let cancel = yunying_index::RequestUpdate { status: Some("cancelled".into()), ..Default::default() };
    assert!(
        index
            .update_reading_request("rr_a", &yunying_index::Expect { statuses: &["new"], claimed_by: None }, &cancel, 2_000)
            .await
            .unwrap()
    );
    assert_eq!(index.reopen_cancelled_reading_request(&again).await.unwrap().as_deref(), Some("rr_a"));
    let r = index.reading_request("rr_a").await.unwrap().unwrap();
    assert_eq!((r.status.as_str(), r.is_open, r.priority.as_str(), r.clinical_info.as_str()), ("new", true, "urgent", "咳嗽两周"));
    assert_eq!((r.created_ms, r.claimed_by.as_str()), (5_000, ""));
    let (open, _) = index.reading_worklist(&WorklistQuery { institution: "CENTRE".into(), limit: 10, ..Default::default() }).await.unwrap();
    assert_eq!(open.len(), 1, "back on the worklist");
    assert_eq!(index.reopen_cancelled_reading_request(&again).await.unwrap(), None, "once");
    index.close().await;
}

on_every_backend!(
    a_request_finds_its_own_row_among_others_in_its_status,
    a_requests_grants_are_found_by_their_grantor,
    a_cancelled_request_is_asked_for_again
);
