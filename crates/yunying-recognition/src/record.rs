//! The signed recognition record: what the receiving institution archives.
//!
//! The record is JSON (compact, fields in a fixed order) naming the order,
//! the prior study with every instance's SHA-256 and SM3, its HR status as
//! shown, and the decision with the doctor and the times. Its signature is
//! detached: a C2SP signed-note signature line (`— <key name> <base64>`)
//! over the exact JSON text, made by a [`RecordSigner`]. The ledger's
//! [`yunying_ledger::keys::Signer`] is one: with an SM2 key
//! (`sm2-sm3-cosignature/v1`) the signature also carries its time; the
//! matching [`VerifierKey`] checks it, offline.

use serde::{Deserialize, Serialize};
use yunying_ledger::keys::{Signer, VerifierKey};
use yunying_ledger::note::NoteSignature;

use crate::RecognitionError;

/// The format name written in every record.
pub const RECORD_FORMAT: &str = "yunying-recognition-record/v1";
/// Largest record or signature line accepted for verification.
const MAX_RECORD_BYTES: usize = 64 << 20;

/// A recognition record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecognitionRecord {
    /// [`RECORD_FORMAT`].
    pub format: String,
    pub region: String,
    pub order: RecordOrder,
    pub study: RecordStudy,
    pub decision: RecordDecision,
    /// When the record was made (ms since the epoch).
    pub issued_ms: i64,
}

/// The order a record answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordOrder {
    pub order_id: String,
    pub his_order_id: String,
    pub item_code: String,
    pub item_name: String,
    pub order_date: String,
    pub institution: String,
    pub department: String,
    pub doctor: String,
}

impl RecordOrder {
    /// A stored order as records and order views name it.
    pub fn of(order: &yunying_index::RecognitionOrderRow, item_name: String) -> RecordOrder {
        RecordOrder {
            order_id: order.order_id.clone(),
            his_order_id: order.his_order_id.clone(),
            item_code: order.item_code.clone(),
            item_name,
            order_date: order.order_date.clone(),
            institution: order.institution.clone(),
            department: order.department.clone(),
            doctor: order.doctor.clone(),
        }
    }
}

/// The prior study considered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordStudy {
    pub study_instance_uid: String,
    pub source_institution: String,
    pub study_date: String,
    pub hr: bool,
    pub hr_scope: String,
    pub instances: Vec<RecordInstance>,
}

/// One instance of the study and its digests (hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordInstance {
    pub sop_instance_uid: String,
    pub sha256: String,
    /// `None` when not computed yet.
    pub sm3: Option<String>,
}

/// The decision in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordDecision {
    pub version: i64,
    /// `recognised`, `partial`, `not-recognised`.
    pub outcome: String,
    pub reason: String,
    pub reason_label: String,
    pub note: String,
    pub patient_informed: bool,
    pub reexam_order_id: String,
    pub doctor: String,
    pub department: String,
    pub institution: String,
    pub opened_ms: i64,
    pub decided_ms: i64,
}

/// Something that signs record text: returns a signed-note signature.
pub trait RecordSigner {
    /// Signs `text` at `timestamp` (POSIX seconds; untimed key types ignore it).
    fn sign_record_text(&self, text: &str, timestamp: u64) -> Result<NoteSignature, RecognitionError>;
}

impl RecordSigner for Signer {
    fn sign_record_text(&self, text: &str, timestamp: u64) -> Result<NoteSignature, RecognitionError> {
        self.sign(text, timestamp).map_err(|e| RecognitionError::Signature(e.to_string()))
    }
}

/// A record and its detached signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRecord {
    /// The record's JSON text, exactly as signed.
    pub record: String,
    /// The signature line (`— name base64\n`).
    pub signature: String,
}

/// Serialises and signs a record.
pub fn sign_record(record: &RecognitionRecord, signer: &dyn RecordSigner, timestamp: u64) -> Result<SignedRecord, RecognitionError> {
    let text = serde_json::to_string(record).map_err(|e| RecognitionError::Signature(e.to_string()))?;
    let signature = signer.sign_record_text(&text, timestamp)?;
    Ok(SignedRecord { record: text, signature: signature.to_line() })
}

/// Checks a signed record with `key` and returns the record and the
/// signature's time (for timestamped key types).
pub fn verify_record(signed: &SignedRecord, key: &VerifierKey) -> Result<(RecognitionRecord, Option<u64>), RecognitionError> {
    if signed.record.len() > MAX_RECORD_BYTES || signed.signature.len() > 4096 {
        return Err(RecognitionError::Signature("record or signature too large".into()));
    }
    let sig = NoteSignature::parse_line(&signed.signature).map_err(|e| RecognitionError::Signature(e.to_string()))?;
    if !key.matches(&sig) {
        return Err(RecognitionError::Signature("the signature is not by this key".into()));
    }
    let time = key.verify(&signed.record, &sig.signature).map_err(|e| RecognitionError::Signature(e.to_string()))?;
    let record: RecognitionRecord = serde_json::from_str(&signed.record).map_err(|e| RecognitionError::Signature(e.to_string()))?;
    if record.format != RECORD_FORMAT {
        return Err(RecognitionError::Signature("not a recognition record".into()));
    }
    Ok((record, time))
}
