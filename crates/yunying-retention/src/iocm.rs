//! IHE IOCM: a stored rejection note hides the instances it names and asks
//! for their deletion. The archive recognises the note and calls here
//! before it acknowledges the store; the caller was allowed to store for
//! the note's institution, and only that institution's instances are
//! hidden (others named are ignored). Hiding takes the rows out of the
//! index at once, so every read path (QIDO-RS, WADO-RS, renditions,
//! C-FIND, C-MOVE, C-GET, films) stops finding them; their objects are
//! kept, withheld, until the deletion request (origin `iocm`, reason the
//! code) is approved by a person and purged. Refused, they stay hidden
//! and kept.

use std::future::Future;
use std::pin::Pin;

use yunying_access::{now_ms, random_id};
use yunying_archive::rejection::{HandlerResult, REJECTION_CODES, RejectionHandler, RejectionNote};
use yunying_index::DeletionRequestRow;

use crate::Retention;

impl RejectionHandler for Retention {
    fn rejected(&self, note: RejectionNote) -> Pin<Box<dyn Future<Output = HandlerResult> + Send + '_>> {
        Box::pin(async move { self.reject(note).await.map_err(|e| e.to_string()) })
    }
}

impl Retention {
    async fn reject(&self, note: RejectionNote) -> Result<(), yunying_access::Denied> {
        let meaning = REJECTION_CODES.iter().find(|(c, _)| *c == note.code).map_or("", |(_, m)| m);
        let now = now_ms();
        let request = DeletionRequestRow {
            request_id: random_id(8),
            origin: "iocm".into(),
            institution: note.issuer.clone(),
            reason: format!("(DCM, {}, \"{meaning}\")", note.code),
            requested_by: note.principal.clone(),
            requested_ms: now,
            expires_ms: now + self.config.request_ttl_days * 86_400_000,
            state: "pending".into(),
            decided_by: None,
            decided_ms: None,
            note: format!("rejection note {}", note.note_sop_instance_uid),
            executed_ms: None,
            targets: Vec::new(),
        };
        let sops: Vec<String> = note.instances.iter().map(|(_, _, sop)| sop.clone()).collect();
        let hidden = self.index().reject_instances(request.clone(), sops).await?;
        if hidden.is_empty() {
            return Ok(());
        }
        let mut studies: Vec<String> =
            note.instances.iter().filter(|(_, _, sop)| hidden.contains(sop)).map(|(study, _, _)| study.clone()).collect();
        studies.sort();
        studies.dedup();
        let detail = format!("{} instances rejected ({}), request {}", hidden.len(), note.code, request.request_id);
        self.access.record(&note.principal, "instances-rejected", &studies, "iocm", "", "ok", &detail).await;
        if let Some(stored) = self.index().deletion_request(&request.request_id).await? {
            self.record_request(&stored, "").await;
        }
        Ok(())
    }
}
