//! C-MOVE and C-GET: which instances a request names, and the sub-operation
//! bookkeeping both share.

use std::time::Duration;

use serde_json::{Map, Value as Json, json};
use tokio::io::AsyncWriteExt;
use yunying_archive::NetworkDataset;
use yunying_archive::syntax::{EXPLICIT_VR_LE, IMPLICIT_VR_LE};
use yunying_archive::{Archive, InstanceData};
use yunying_index::search::{Level, Query, Scope};

use crate::find::{self, Failure, IDENTIFIER_MISMATCH, UNABLE_TO_PROCESS};

/// Refused: out of resources, unable to perform sub-operations.
pub const UNABLE_TO_PERFORM_SUBOPERATIONS: u16 = 0xA702;
/// Refused: move destination unknown.
pub const MOVE_DESTINATION_UNKNOWN: u16 = 0xA801;
/// Sub-operations complete, one or more failures or warnings.
pub const SUBOPERATIONS_WITH_FAILURES: u16 = 0xB000;
pub const CANCEL: u16 = 0xFE00;
pub const PENDING: u16 = 0xFF00;

/// The instances a C-MOVE / C-GET identifier names, through the unique
/// keys of its level and the levels above.
pub async fn instances(
    archive: &Archive,
    patient_root: bool,
    identifier: &Map<String, Json>,
    scope: Option<Scope>,
) -> Result<Vec<InstanceData>, Failure> {
    let level = find::level(identifier, patient_root)?;
    let unique: &[(&str, u32, Level)] = &[
        ("PatientID", 0x0010_0020, Level::Patient),
        ("StudyInstanceUID", 0x0020_000D, Level::Study),
        ("SeriesInstanceUID", 0x0020_000E, Level::Series),
        ("SOPInstanceUID", 0x0008_0018, Level::Instance),
    ];
    let mut keys = Vec::new();
    for (keyword, tag, key_level) in unique {
        if *key_level > level || (*key_level == Level::Patient && !patient_root) {
            continue;
        }
        let value = identifier.get(&format!("{tag:08X}")).map(find::query_value).unwrap_or_default();
        if value.is_empty() {
            if *key_level == level {
                return Err(Failure::new(
                    IDENTIFIER_MISMATCH,
                    format!("a retrieve at the {} level needs {keyword}", find::level_name(level)),
                ));
            }
            continue;
        }
        if value.contains(['*', '?']) {
            return Err(Failure::new(IDENTIFIER_MISMATCH, format!("{keyword} must not contain wildcards in a retrieve")));
        }
        keys.push((*tag, value));
    }
    let query = Query { scope, ..Query::new(Level::Instance, keys) };
    let found = archive
        .index()
        .search(&query)
        .await
        .map_err(|e| Failure::new(UNABLE_TO_PROCESS, format!("index: {e}")))?
        .map_err(|e| Failure::new(IDENTIFIER_MISMATCH, e.to_string()))?;
    let pks: Vec<i64> = found.matches.iter().map(|m| m.instance_pk).collect();
    archive.index().instances_by_pk(&pks).await.map_err(|e| Failure::new(UNABLE_TO_PROCESS, format!("index: {e}")))
}

/// Sub-operation counts of a C-MOVE or C-GET.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    pub remaining: u16,
    pub completed: u16,
    pub warning: u16,
    pub failed_uids: Vec<String>,
}

impl Progress {
    pub fn new(total: usize) -> Progress {
        Progress { remaining: total.min(u16::MAX as usize) as u16, ..Progress::default() }
    }

    pub fn failed(&self) -> u16 {
        self.failed_uids.len().min(u16::MAX as usize) as u16
    }

    /// Record the outcome of one sub-operation by its C-STORE status.
    pub fn record(&mut self, sop_instance_uid: &str, status: Option<u16>) {
        self.remaining = self.remaining.saturating_sub(1);
        match status {
            Some(0x0000) => self.completed += 1,
            Some(s) if s & 0xF000 == 0xB000 => self.warning += 1,
            _ => self.failed_uids.push(sop_instance_uid.to_string()),
        }
    }

    /// The rest failed without being attempted (the destination went away).
    pub fn fail_rest(&mut self, rest: &[InstanceData]) {
        for data in rest {
            self.record(&data.stored.sop_instance_uid, None);
        }
    }

    /// Final status when every sub-operation was attempted.
    pub fn final_status(&self) -> u16 {
        if self.failed() > 0 && self.completed == 0 && self.warning == 0 {
            UNABLE_TO_PERFORM_SUBOPERATIONS
        } else if self.failed() > 0 || self.warning > 0 {
            SUBOPERATIONS_WITH_FAILURES
        } else {
            0x0000
        }
    }

    /// The Failed SOP Instance UID List data set, if any failed.
    pub fn failed_list(&self) -> Option<Map<String, Json>> {
        if self.failed_uids.is_empty() {
            return None;
        }
        let mut m = Map::new();
        m.insert("00080058".into(), json!({"vr": "UI", "Value": self.failed_uids}));
        Some(m)
    }
}

/// The transfer syntaxes to try for sending an instance, best first: as
/// stored, then Explicit and Implicit VR Little Endian (decoded).
pub fn syntaxes_for(data: &InstanceData) -> [&str; 3] {
    [data.stored.transfer_syntax_uid.as_str(), EXPLICIT_VR_LE, IMPLICIT_VR_LE]
}

/// Bytes of a stored object read per step when sending it.
const SEND_CHUNK: u64 = 1 << 20;

/// Why an instance could not be sent.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Nothing was sent: the instance cannot be read.
    #[error("cannot read the instance: {0}")]
    Source(yunying_archive::RetrieveError),
    /// The connection failed, or reading failed after part was sent: the
    /// association cannot continue.
    #[error("sending failed: {0}")]
    Broken(String),
}

/// The bytes of a data set as [`send_store`] sends it.
pub fn dataset_len(dataset: &NetworkDataset) -> u64 {
    match dataset {
        NetworkDataset::Encoded(bytes) => bytes.len() as u64,
        NetworkDataset::Local { start, end, .. } | NetworkDataset::Stored { start, end, .. } => end.saturating_sub(*start),
    }
}

/// Send a C-STORE request: its command, then the data set: a local file's
/// bytes with `sendfile`, a remote object's read piece by piece (bounded
/// memory either way).
pub async fn send_store(
    w: &mut crate::tls::Stream,
    archive: &Archive,
    context_id: u8,
    command: &[u8],
    dataset: &NetworkDataset,
    max_pdu: u32,
    timeout: Duration,
) -> Result<(), SendError> {
    let broken = |e: std::io::Error| SendError::Broken(e.to_string());
    match dataset {
        NetworkDataset::Encoded(bytes) => {
            within(timeout, crate::pdu::write_message(w, context_id, command, Some(bytes), max_pdu)).await.map_err(broken)
        }
        NetworkDataset::Local { file, start, end } => {
            within(timeout, crate::pdu::write_fragments(w, context_id, true, command, true, max_pdu)).await.map_err(broken)?;
            within(timeout, crate::pdu::send_file_fragments(w, context_id, file, *start, *end, max_pdu)).await.map_err(broken)
        }
        NetworkDataset::Stored { key, start, end } => {
            let first_len = (end - start).min(SEND_CHUNK);
            let mut chunk = archive.read_object_range(key, *start, first_len).await.map_err(SendError::Source)?;
            within(timeout, crate::pdu::write_fragments(w, context_id, true, command, true, max_pdu)).await.map_err(broken)?;
            let mut offset = start + first_len;
            loop {
                let last = offset >= *end;
                within(timeout, crate::pdu::write_fragments(w, context_id, false, &chunk, last, max_pdu)).await.map_err(broken)?;
                if last {
                    break;
                }
                let len = (end - offset).min(SEND_CHUNK);
                chunk = archive.read_object_range(key, offset, len).await.map_err(|e| SendError::Broken(e.to_string()))?;
                offset += len;
            }
            w.flush().await.map_err(broken)
        }
    }
}

async fn within(timeout: Duration, f: impl std::future::Future<Output = std::io::Result<()>>) -> std::io::Result<()> {
    tokio::time::timeout(timeout, f).await.unwrap_or_else(|_| Err(std::io::ErrorKind::TimedOut.into()))
}
