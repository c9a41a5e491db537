//! Storage Commitment Push Model SCP (PS3.4 Annex J).
//!
//! An N-ACTION names instances; the N-EVENT-REPORT says which of them are
//! durable here. An instance is committed when the index has it with the
//! same SOP class and the object store holds its object at the indexed size
//! (the index row is written only after the object is durable, so this is
//! what a modality may delete its copy on). The report goes back on the
//! same association while it is open; when the requester released it
//! before acknowledging, on a new association to the requester's AE from
//! the registry (`commitment_delivery.rs`, from the request kept in the
//! index before the N-ACTION was answered).

use serde_json::{Map, Value as Json, json};
use yunying_archive::Archive;

use crate::DimseConfig;
use crate::association::STORAGE_COMMITMENT_PUSH;
use crate::command::{AFFECTED_SOP_CLASS_UID, AFFECTED_SOP_INSTANCE_UID, CommandBuilder, EVENT_TYPE_ID, MESSAGE_ID, N_EVENT_REPORT_RQ};
use std::collections::HashMap;

use yunying_index::search::Scope;

use crate::find::first_text;

/// The well-known SOP Instance of the Storage Commitment Push Model.
pub const WELL_KNOWN_INSTANCE: &str = "1.2.840.10008.1.20.1.1";
const TRANSACTION_UID: &str = "00081195";
const REFERENCED_SOP_SEQUENCE: &str = "00081199";
const FAILED_SOP_SEQUENCE: &str = "00081198";
const REFERENCED_SOP_CLASS_UID: &str = "00081150";
const REFERENCED_SOP_INSTANCE_UID: &str = "00081155";
const FAILURE_REASON: &str = "00081197";
const RETRIEVE_AE_TITLE: &str = "00080054";

/// Failure reasons (PS3.3 C.14.1.1).
const NO_SUCH_OBJECT_INSTANCE: u16 = 0x0112;
const PROCESSING_FAILURE: u16 = 0x0110;
const CLASS_INSTANCE_CONFLICT: u16 = 0x0119;

/// A commitment request: its transaction and the references in it.
#[derive(Debug, Clone)]
pub struct Request {
    pub transaction_uid: String,
    pub references: Vec<(String, String)>,
}

/// Parse an N-ACTION data set; `Err` names what is missing.
pub fn parse(dataset: &Map<String, Json>) -> Result<Request, &'static str> {
    let transaction_uid = first_text(dataset, TRANSACTION_UID).filter(|t| !t.is_empty()).ok_or("no Transaction UID")?;
    let items =
        dataset.get(REFERENCED_SOP_SEQUENCE).and_then(|s| s.get("Value")).and_then(Json::as_array).ok_or("no Referenced SOP Sequence")?;
    let mut references = Vec::with_capacity(items.len());
    for item in items.iter().filter_map(Json::as_object) {
        let class = first_text(item, REFERENCED_SOP_CLASS_UID).unwrap_or_default();
        let instance = first_text(item, REFERENCED_SOP_INSTANCE_UID).ok_or("a reference without a SOP Instance UID")?;
        references.push((class, instance));
    }
    Ok(Request { transaction_uid, references })
}

/// The outcome to report.
#[derive(Debug, Clone)]
pub struct Report {
    pub event_type: u16,
    pub dataset: Map<String, Json>,
}

/// Check each reference against the index and the object store.
/// Only instances within `scope` (the requester's studies; `None`: all) count
/// as held: others are reported as no such object instance.
pub async fn check(archive: &Archive, config: &DimseConfig, request: &Request, scope: Option<&Scope>) -> Report {
    let mut committed = Vec::new();
    let mut failed = Vec::new();
    let mut reached: HashMap<String, bool> = HashMap::new();
    for (class, instance) in &request.references {
        let mut found = archive.index().instance(instance).await;
        if let (Ok(Some(stored)), Some(scope)) = (&found, scope) {
            let study = stored.study_instance_uid.clone();
            let within = match reached.get(&study) {
                Some(&within) => within,
                None => {
                    let issuer = archive.index().study_issuer(&study).await.ok().flatten();
                    let within = scope.studies.contains(&study) || issuer.is_some_and(|i| scope.issuers.contains(&i));
                    reached.insert(study, within);
                    within
                }
            };
            if !within {
                found = Ok(None);
            }
        }
        let reason = match found {
            Ok(Some(stored)) if !class.is_empty() && stored.sop_class_uid != *class => Some(CLASS_INSTANCE_CONFLICT),
            Ok(Some(stored)) => {
                let store = archive.store().clone();
                let key = stored.object_key.clone();
                let size = tokio::task::spawn_blocking(move || store.size(&key)).await;
                match size {
                    Ok(Ok(n)) if n == stored.size_bytes as u64 => None,
                    _ => Some(PROCESSING_FAILURE),
                }
            }
            Ok(None) => Some(NO_SUCH_OBJECT_INSTANCE),
            Err(_) => Some(PROCESSING_FAILURE),
        };
        let mut item = Map::new();
        item.insert(REFERENCED_SOP_CLASS_UID.into(), json!({"vr": "UI", "Value": [class]}));
        item.insert(REFERENCED_SOP_INSTANCE_UID.into(), json!({"vr": "UI", "Value": [instance]}));
        match reason {
            None => {
                item.insert(RETRIEVE_AE_TITLE.into(), json!({"vr": "AE", "Value": [config.aet]}));
                committed.push(Json::Object(item));
            }
            Some(reason) => {
                item.insert(FAILURE_REASON.into(), json!({"vr": "US", "Value": [reason]}));
                failed.push(Json::Object(item));
            }
        }
    }
    let mut dataset = Map::new();
    dataset.insert(TRANSACTION_UID.into(), json!({"vr": "UI", "Value": [request.transaction_uid]}));
    dataset.insert(RETRIEVE_AE_TITLE.into(), json!({"vr": "AE", "Value": [config.aet]}));
    if !committed.is_empty() {
        dataset.insert(REFERENCED_SOP_SEQUENCE.into(), json!({"vr": "SQ", "Value": committed}));
    }
    let event_type = if failed.is_empty() { 1 } else { 2 };
    if !failed.is_empty() {
        dataset.insert(FAILED_SOP_SEQUENCE.into(), json!({"vr": "SQ", "Value": failed}));
    }
    Report { event_type, dataset }
}

/// The N-EVENT-REPORT-RQ command set.
pub fn event_report_command(message_id: u16, event_type: u16) -> Vec<u8> {
    CommandBuilder::new(N_EVENT_REPORT_RQ)
        .with_data_set()
        .uid(AFFECTED_SOP_CLASS_UID, STORAGE_COMMITMENT_PUSH)
        .us(MESSAGE_ID, message_id)
        .uid(AFFECTED_SOP_INSTANCE_UID, WELL_KNOWN_INSTANCE)
        .us(EVENT_TYPE_ID, event_type)
        .encode()
}
