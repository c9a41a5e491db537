//! The walk over the store against a real index and filesystem store:
//! which objects are unreferenced, page by page, and what each action does
//! to those that are not valid instances.

use std::sync::Arc;
use std::time::Duration;

use yunying_index::{DuplicatePolicy, Index, InstanceRecord};
use yunying_store::{FsStore, ObjectStore, original_key, rendition_key};

use super::*;
use crate::Archive;

/// Every unreferenced object, walking pages of `limit` keys.
async fn walk_all(index: &Index, store: &Arc<dyn ObjectStore>, grace: Duration, limit: usize) -> (Vec<Unreferenced>, usize) {
    let (mut found, mut listed, mut after) = (Vec::new(), 0, None::<String>);
    let cutoff = cutoff(grace);
    loop {
        let page = scan_page(index, store, after.as_deref(), cutoff, limit).await.unwrap();
        assert!(page.listed <= limit);
        listed += page.listed;
        found.extend(page.unreferenced);
        match page.next {
            Some(next) => after = Some(next),
            None => return (found, listed),
        }
    }
}

fn record(sop: &str, key: &str) -> InstanceRecord {
    InstanceRecord {
        issuer: "H1".into(),
        patient_id: "P".into(),
        study_instance_uid: "1".into(),
        series_instance_uid: "1.1".into(),
        sop_instance_uid: sop.into(),
        sop_class_uid: "1.2.840.10008.5.1.4.1.1.7".into(),
        digest: "00".repeat(32),
        object_key: key.into(),
        ..Default::default()
    }
}

#[test]
fn keys_name_their_instance_only_in_the_layout() {
    assert_eq!(original_sop(&original_key("1", "1.1", "1.1.1", "0123456789abcdef")), Some("1.1.1"));
    assert_eq!(original_sop("originals/1/1.1/1.1.1.0123456789abcdeg.dcm"), None, "not hex");
    assert_eq!(original_sop("originals/1/1.1/1.1.1.0123.dcm"), None, "too short");
    assert_eq!(original_sop("originals/1/1.1/x/1.1.1.0123456789abcdef.dcm"), None, "too deep");
    assert_eq!(original_sop("originals/1.1.1.0123456789abcdef.dcm"), None);
    assert_eq!(rendition_sop(&rendition_key("1", "1.1", "1.1.1", "thumbnail.jpg")), Some("1.1.1"));
    assert_eq!(rendition_sop("renditions/1/1.1/thumbnail.jpg"), None);
    assert_eq!("adopt".parse::<OrphanAction>(), Ok(OrphanAction::Adopt));
    assert!("remove".parse::<OrphanAction>().is_err());
}

#[tokio::test(flavor = "multi_thread")]
async fn only_unreferenced_objects_older_than_the_grace_period_are_found_page_by_page() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(FsStore::open(dir.path().join("store")).unwrap());
    let index = Index::open_sqlite(&dir.path().join("index.db")).await.unwrap();

    // Indexed: an instance and one of its renditions (recorded below).
    let kept = original_key("1", "1.1", "1.1.1", "0123456789abcdef");
    store.put_bytes(&kept, b"indexed").unwrap();
    index.insert(record("1.1.1", &kept), DuplicatePolicy::KeepFirst).await.unwrap();
    // Not indexed: a second copy of it, a stray original, a rendition of
    // no instance, a key outside the layout.
    let loser = original_key("1", "1.1", "1.1.1", "fedcba9876543210");
    let stray = original_key("1", "1.1", "1.1.2", "0123456789abcdef");
    let rendition = rendition_key("1", "1.1", "1.1.9", "thumbnail.jpg");
    let foreign = "originals/odd-name".to_string();
    for (key, bytes) in [(&loser, &b"indexed"[..]), (&stray, b"not dicom"), (&rendition, b"jpeg"), (&foreign, b"?")] {
        store.put_bytes(key, bytes).unwrap();
    }

    let (found, listed) = walk_all(&index, &store, DEFAULT_GRACE, 2).await;
    assert!(found.is_empty(), "fresh objects are left alone: {found:?}");
    assert_eq!(listed, 5);
    for limit in [1, 2, 3, 1000] {
        let (found, listed) = walk_all(&index, &store, Duration::ZERO, limit).await;
        assert_eq!(listed, 5, "pages of {limit}");
        let keys: Vec<(&str, &str, Option<&str>)> = found.iter().map(|u| (u.key.as_str(), u.object, u.indexed_as.as_deref())).collect();
        assert_eq!(
            keys,
            [
                (loser.as_str(), "original", Some(kept.as_str())),
                (stray.as_str(), "original", None),
                (foreign.as_str(), "original", None),
                (rendition.as_str(), "rendition", None),
            ],
            "pages of {limit}"
        );
    }

    let archive = Archive::new(store.clone(), index.clone(), Default::default(), dir.path().join("spool"));
    let (found, _) = walk_all(&index, &store, Duration::ZERO, 1000).await;
    let reported = handle(&archive, found.clone(), OrphanAction::Report).await;
    assert!(reported.iter().all(|o| o.result == "reported"));
    let adopted = handle(&archive, found.clone(), OrphanAction::Adopt).await;
    assert_eq!(adopted.iter().map(|o| o.result).collect::<Vec<_>>(), ["superseded", "invalid", "invalid", "rendition"]);
    assert_eq!(store.list("").unwrap().len(), 5, "adopting deletes nothing");
    assert_eq!(index.counts().await.unwrap().instances, 1);

    let deleted = handle(&archive, found, OrphanAction::Delete).await;
    assert!(deleted.iter().all(|o| o.result == "deleted"), "{deleted:?}");
    assert_eq!(store.list("").unwrap().into_iter().map(|o| o.key).collect::<Vec<_>>(), [kept], "only the indexed object is left");
    assert!(walk_all(&index, &store, Duration::ZERO, 1000).await.0.is_empty());
    index.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delete_candidate_a_row_came_to_name_is_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(FsStore::open(dir.path().join("store")).unwrap());
    let index = Index::open_sqlite(&dir.path().join("index.db")).await.unwrap();
    let key = original_key("1", "1.1", "1.1.1", "0123456789abcdef");
    store.put_bytes(&key, b"bytes").unwrap();
    let listed = walk_all(&index, &store, Duration::ZERO, 10).await.0;
    assert_eq!(listed.len(), 1);
    // Indexed after it was listed (a `reindex` running meanwhile).
    index.insert(record("1.1.1", &key), DuplicatePolicy::KeepFirst).await.unwrap();
    let archive = Archive::new(store.clone(), index.clone(), Default::default(), dir.path().join("spool"));
    let mut stale = listed.clone();
    stale[0].indexed_as = Some("originals/other".into());
    let outcome = handle(&archive, stale, OrphanAction::Delete).await;
    assert_eq!(outcome[0].result, "referenced");
    assert_eq!(store.get(&key).unwrap(), b"bytes");
    index.close().await;
}
