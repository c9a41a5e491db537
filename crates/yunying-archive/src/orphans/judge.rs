//! What is done with each unreferenced object: an original is read whole
//! and adopted when it is a valid instance under the key its bytes give
//! and its SOP Instance UID is not indexed yet (inserted as `reindex`
//! inserts, so ingest's row, metadata and rendition job); the rest are
//! delete candidates, deleted only when asked, after the index is asked
//! once more whether a row refers to them.

use yunying_index::InsertOutcome;
use yunying_store::{ObjectInfo, StoreError, original_key};

use super::{OrphanAction, Outcome, Unreferenced, unreferenced_among};
use crate::Archive;
use crate::rebuild::{ReadError, insert_read, read_original};

/// Apply `action` to each object (from [`super::scan_page`]); one outcome
/// each, in the order given.
pub async fn handle(archive: &Archive, objects: Vec<Unreferenced>, action: OrphanAction) -> Vec<Outcome> {
    let mut out = Vec::with_capacity(objects.len());
    for object in objects {
        let (result, detail) = match action {
            OrphanAction::Report => ("reported", object.indexed_as.as_ref().map(|k| format!("indexed as {k}")).unwrap_or_default()),
            OrphanAction::Adopt | OrphanAction::Delete => judge(archive, &object).await,
        };
        out.push(Outcome { object, result, detail });
    }
    if action == OrphanAction::Delete {
        delete_candidates(archive, &mut out).await;
    }
    out
}

/// Whether an outcome marks its object for deletion.
fn to_delete(result: &str) -> bool {
    matches!(result, "superseded" | "invalid" | "rendition")
}

/// Adopt the object if it is a valid instance nobody indexed; otherwise
/// say why not.
async fn judge(archive: &Archive, object: &Unreferenced) -> (&'static str, String) {
    if object.object == "rendition" {
        return ("rendition", "of no indexed instance; its job writes it again if the instance needs it".into());
    }
    if let Some(indexed) = &object.indexed_as {
        return ("superseded", format!("indexed as {indexed}"));
    }
    let read = match read_original(archive, &object.key).await {
        Ok(read) => read,
        Err(ReadError::Invalid(why)) => return ("invalid", why),
        Err(ReadError::Store(e)) if is_not_found(&e) => return ("gone", String::new()),
        Err(e @ ReadError::Store(_)) => return ("failed", e.to_string()),
    };
    let r = &read.record;
    if read.meta_sop_instance_uid != r.sop_instance_uid || read.meta_sop_class_uid != r.sop_class_uid {
        return ("invalid", "its file meta names another SOP Instance or Class UID than its data set".into());
    }
    let expected = original_key(&r.study_instance_uid, &r.series_instance_uid, &r.sop_instance_uid, &r.digest[..16]);
    if expected != object.key {
        return ("invalid", format!("its bytes belong under {expected}"));
    }
    if is_rejection_note(r) {
        // Applied only as its sender stores it again (and hears success).
        return ("kept", "an IOCM rejection note never acknowledged: not applied here".into());
    }
    match insert_read(archive, read.record).await {
        Ok(InsertOutcome::KeptExisting { existing_key }) => ("superseded", format!("indexed as {existing_key}")),
        Ok(_) => ("adopted", String::new()),
        Err(e) => ("failed", e.to_string()),
    }
}

/// An IOCM rejection note (a KOS with a rejection title).
fn is_rejection_note(record: &yunying_index::InstanceRecord) -> bool {
    if record.sop_class_uid != crate::rejection::KEY_OBJECT_SELECTION {
        return false;
    }
    let json = crate::record::inflate(&record.metadata)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .unwrap_or_default();
    // A note naming too many instances is still a note.
    !matches!(crate::rejection::parse(&record.sop_class_uid, &json), Ok(None))
}

fn is_not_found(e: &std::io::Error) -> bool {
    e.get_ref().and_then(|inner| inner.downcast_ref::<StoreError>()).is_some_and(|s| matches!(s, StoreError::NotFound { .. }))
}

/// Delete every delete candidate among `outcomes` that still has no row
/// (asked again: a row may have come to refer to one since it was listed).
async fn delete_candidates(archive: &Archive, outcomes: &mut [Outcome]) {
    let candidates: Vec<ObjectInfo> = outcomes
        .iter()
        .filter(|o| to_delete(o.result))
        .map(|o| ObjectInfo { key: o.object.key.clone(), size: o.object.size, modified: None })
        .collect();
    if candidates.is_empty() {
        return;
    }
    let still: std::collections::HashSet<String> = match unreferenced_among(archive.index(), candidates).await {
        Ok(still) => still.into_iter().map(|u| u.key).collect(),
        Err(e) => {
            for o in outcomes.iter_mut().filter(|o| to_delete(o.result)) {
                (o.result, o.detail) = ("failed", format!("not deleted: the index did not answer: {e}"));
            }
            return;
        }
    };
    for o in outcomes.iter_mut().filter(|o| to_delete(o.result)) {
        if !still.contains(&o.object.key) {
            (o.result, o.detail) = ("referenced", "a row refers to it now".into());
            continue;
        }
        let (store, key) = (archive.store().clone(), o.object.key.clone());
        let why = std::mem::take(&mut o.detail);
        let was = o.result;
        (o.result, o.detail) = match tokio::task::spawn_blocking(move || store.delete(&key)).await {
            Ok(Ok(())) | Ok(Err(StoreError::NotFound { .. })) => {
                ("deleted", format!("{was}{}", if why.is_empty() { String::new() } else { format!(": {why}") }))
            }
            Ok(Err(e)) => ("failed", format!("not deleted: {e}")),
            Err(e) => ("failed", format!("not deleted: {e}")),
        };
    }
}
