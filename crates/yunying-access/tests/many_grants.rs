//! A reading centre holds one grant per request it was sent: more studies
//! than a principal's scope carries as a list. Every one of them still
//! opens, and nothing else does.

use yunying_access::{Access, AccessConfig, Action, Denied, MAX_GRANTED_STUDIES, Principal, Reached, Role};
use yunying_index::{DuplicatePolicy, Grant, Index, InstanceRecord};

fn grant(id: &str, studies: Vec<String>) -> Grant {
    Grant {
        grant_id: id.into(),
        kind: "reading".into(),
        grantor: format!("reading:rr_{id}"),
        grantee_kind: "institution".into(),
        grantee: "CENTRE".into(),
        reason: String::new(),
        created_ms: 0,
        not_before_ms: 0,
        not_after_ms: i64::MAX / 2,
        revoked_ms: None,
        revoked_by: None,
        studies,
    }
}

fn instance(study: &str) -> InstanceRecord {
    InstanceRecord {
        issuer: "TOWN".into(),
        patient_id: format!("P-{study}"),
        study_instance_uid: study.into(),
        series_instance_uid: format!("{study}.1"),
        sop_instance_uid: format!("{study}.1.1"),
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
        digest: "00".repeat(32),
        object_key: format!("originals/{study}.dcm"),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_study_past_the_scope_lists_cap_still_opens_through_its_grant() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open_sqlite(&dir.path().join("index.sqlite")).await.unwrap();
    // As many granted studies as the list carries, all sorting before the
    // last request's study; then that request's grant.
    let many: Vec<String> = (0..MAX_GRANTED_STUDIES).map(|i| format!("1.{i:06}")).collect();
    for (n, chunk) in many.chunks(1000).enumerate() {
        index.insert_grant(&grant(&format!("g{n}"), chunk.to_vec())).await.unwrap();
    }
    index.insert_grant(&grant("last", vec!["9.9".into()])).await.unwrap();
    for study in ["9.9", "8.8", &many[17]] {
        index.insert(instance(study), DuplicatePolicy::KeepFirst).await.unwrap();
    }
    let access = Access::new(index.clone(), AccessConfig::default());
    let li = Principal::person("li", "Li", Some("CENTRE"), vec![Role::Radiologist]);

    assert!(matches!(access.check_study(&li, Action::View, &many[17]).await.unwrap(), Reached::Grant(g) if g == "g0"));
    assert!(
        matches!(access.check_study(&li, Action::View, "9.9").await.unwrap(), Reached::Grant(g) if g == "last"),
        "the request past the list's cap opens its study"
    );
    assert!(matches!(access.check_study(&li, Action::View, "8.8").await, Err(Denied::Forbidden(_))), "a study no grant names stays closed");
    index.close().await;
}
