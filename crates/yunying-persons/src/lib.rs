//! One patient across institutions: the EMPI service.
//!
//! Every (issuer, Patient ID) identity is kept as it came (DICOM is never
//! rewritten) and linked into a person. Identities arrive from the
//! archive's patients ([`dicom`]), from the hospital's MPI over HL7 v2
//! ([`hl7`]) and from the API; they are stored unlinked, and the linker
//! ([`Persons::link_pending`], one node at a time under a lease) decides
//! with [`yunying_empi`]'s matcher: the same national ID / insurance code
//! digest links deterministically, otherwise a Fellegi–Sunter score links,
//! queues a review, or starts a new person.
//!
//! Merges (HL7 A40, A24, the API) and unlinks (A37) move identities
//! between persons as one operation each; [`Persons::unmerge`] undoes one
//! exactly. Every link, merge and unmerge is an audit event.
//!
//! Architecture invariant: no name, Patient ID or identifier value is
//! logged or put in an event; national IDs and insurance codes are kept
//! only as keyed digests and masked forms.

mod api;
pub mod dicom;
pub mod hl7;
pub mod input;
mod linker;
pub mod pdq;
pub mod review;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use yunying_audit::{Audit, Event};
use yunying_empi::PlatformKey;
use yunying_index::{Index, IndexError, Move};

pub use dicom::{IdSource, InstitutionIds};
pub use input::IdentityInput;
pub use linker::Round;

/// `[empi]` settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct EmpiConfig {
    /// Link identities at all (the linker runs on one node at a time).
    pub enabled: bool,
    /// Score (bits) at or above which an identity is linked automatically.
    pub auto_link: f64,
    /// Score (bits) at or above which, below `auto_link`, a review entry is made.
    pub review: f64,
    /// Seconds between looks for identities to link (each new patient is
    /// also linked as soon as the linker is told).
    pub link_every_secs: u64,
    /// Where HL7 v2 ADT messages from hospitals' MPIs are received over
    /// MLLP (`host:port`; empty: not at all).
    pub mllp_bind: String,
    /// Where each institution's instances carry national IDs and insurance codes.
    pub institutions: Vec<InstitutionIds>,
    /// The platform key identifier digests are made with (32 random bytes,
    /// hex; made on first start). Every node of a platform needs the same
    /// one. Empty: `<data_dir>/empi/platform-key`.
    pub key_file: String,
}

impl Default for EmpiConfig {
    fn default() -> Self {
        let m = yunying_empi::MatchConfig::default();
        EmpiConfig {
            enabled: true,
            auto_link: m.auto_link,
            review: m.review,
            link_every_secs: 10,
            mllp_bind: String::new(),
            institutions: Vec::new(),
            key_file: String::new(),
        }
    }
}

impl EmpiConfig {
    /// Where the platform key is.
    pub fn key_path(&self, data: &std::path::Path) -> std::path::PathBuf {
        if self.key_file.is_empty() { data.join("empi").join("platform-key") } else { std::path::PathBuf::from(&self.key_file) }
    }

    /// Where `institution`'s instances carry identifiers.
    pub fn ids_of(&self, institution: &str) -> InstitutionIds {
        self.institutions.iter().find(|i| i.institution == institution).cloned().unwrap_or_default()
    }
}

/// Why an EMPI request failed.
#[derive(Debug, thiserror::Error)]
pub enum PersonsError {
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A request named an identity the EMPI does not have.
    #[error("no such identity")]
    UnknownIdentity,
    #[error("invalid request: {0}")]
    Invalid(String),
}

/// The EMPI of a node. Cheap to clone.
#[derive(Clone)]
pub struct Persons(Arc<Shared>);

struct Shared {
    index: Index,
    key: PlatformKey,
    config: EmpiConfig,
    /// Thresholds and weights (the linker's, and demographic queries').
    matching: yunying_empi::MatchConfig,
    audit: Audit,
    linker: tokio::sync::Mutex<linker::Linker>,
    wake: tokio::sync::Notify,
}

/// A person's identities and studies.
#[derive(Debug, Clone, Serialize)]
pub struct PersonView {
    pub person: i64,
    pub identities: Vec<IdentityView>,
    pub studies: Vec<StudyView>,
}

/// One identity of a person, as shown (identifiers masked).
#[derive(Debug, Clone, Serialize)]
pub struct IdentityView {
    pub issuer: String,
    pub patient_id: String,
    pub name: String,
    pub birth_date: String,
    pub sex: String,
    pub ids_masked: Vec<String>,
    pub source: String,
    pub decision: String,
}

/// One study of a person, marked with its institution.
#[derive(Debug, Clone, Serialize)]
pub struct StudyView {
    pub study_instance_uid: String,
    pub institution: String,
    pub patient_id: String,
    pub study_date: String,
    pub modalities: String,
    pub description: String,
}

impl From<yunying_index::PersonStudy> for StudyView {
    fn from(s: yunying_index::PersonStudy) -> StudyView {
        StudyView {
            study_instance_uid: s.study_instance_uid,
            institution: s.issuer,
            patient_id: s.patient_id,
            study_date: s.study_date,
            modalities: s.modalities,
            description: s.description,
        }
    }
}

impl Persons {
    /// The EMPI on `index`, digesting identifiers under `key`, recording
    /// through `audit`.
    pub fn new(index: Index, key: PlatformKey, config: EmpiConfig, audit: Audit) -> Result<Persons, PersonsError> {
        let matching = yunying_empi::MatchConfig { auto_link: config.auto_link, review: config.review, ..Default::default() };
        let linker = linker::Linker::new(matching.clone()).map_err(|e| PersonsError::Invalid(e.to_string()))?;
        Ok(Persons(Arc::new(Shared {
            index,
            key,
            config,
            matching,
            audit,
            linker: tokio::sync::Mutex::new(linker),
            wake: tokio::sync::Notify::new(),
        })))
    }

    pub fn config(&self) -> &EmpiConfig {
        &self.0.config
    }

    pub fn index(&self) -> &Index {
        &self.0.index
    }

    /// Record what a feed says of an identity (new: unlinked until the
    /// linker decides; known: its fields updated, its person kept).
    /// Returns the identity's key.
    pub async fn put_identity(&self, input: &IdentityInput, source: &str) -> Result<i64, PersonsError> {
        if input.issuer.is_empty() || input.patient_id.is_empty() || input.issuer.len() > 64 || input.patient_id.len() > 64 {
            return Err(PersonsError::Invalid("an identity needs an issuer and a Patient ID of at most 64 characters".into()));
        }
        let prepared = input.prepare(&self.0.key, source, now_ms());
        let (id, new) = self.0.index.empi_put_identity(&prepared.row, &prepared.digests).await?;
        if new {
            self.0.wake.notify_one();
        } else if let Some(person) = self.0.index.empi_identity_by_id(id).await?.and_then(|r| r.person) {
            // The linker (on whichever node) matches it by its new fields
            // once it follows the history to this row.
            let update = Move { identity: id, from: Some(person), to: Some(person) };
            match self.0.index.empi_move(&new_op(), &[update], "update", source, "", now_ms()).await {
                Ok(()) | Err(yunying_index::IndexError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(id)
    }

    /// The identity (issuer, Patient ID), made known (unlinked, no fields)
    /// if it was not.
    async fn identity_key(&self, issuer: &str, patient_id: &str, source: &str) -> Result<(i64, Option<i64>), PersonsError> {
        if let Some(row) = self.0.index.empi_identity(issuer, patient_id).await? {
            return Ok((row.id, row.person));
        }
        let input = IdentityInput { issuer: issuer.into(), patient_id: patient_id.into(), ..Default::default() };
        let id = self.put_identity(&input, source).await?;
        Ok((id, None))
    }

    /// An identity with a person of its own (a new one when it had none).
    async fn placed(&self, issuer: &str, patient_id: &str, source: &str) -> Result<(i64, i64), PersonsError> {
        let (id, person) = self.identity_key(issuer, patient_id, source).await?;
        match person {
            Some(p) => Ok((id, p)),
            None => {
                let p = self.0.index.empi_new_person(now_ms()).await?;
                self.0.index.empi_link(&new_op(), id, p, "new", now_ms()).await?;
                Ok((id, p))
            }
        }
    }

    /// Merge `prior` into `survivor`'s person: every identity of the
    /// prior's person moves (one operation). Returns the operation id.
    pub async fn merge(&self, prior: (&str, &str), survivor: (&str, &str), actor: &str, source: &str) -> Result<String, PersonsError> {
        let (_, to) = self.placed(survivor.0, survivor.1, source).await?;
        let (_, from) = self.placed(prior.0, prior.1, source).await?;
        let op = new_op();
        if from != to {
            let moving = self.0.index.empi_identities_of(from).await?;
            let moves: Vec<Move> = moving.iter().map(|i| Move { identity: i.id, from: Some(from), to: Some(to) }).collect();
            self.0.index.empi_move(&op, &moves, "merge", actor, source, now_ms()).await?;
            self.record("patient-merged", actor, &op, moves.len()).await;
        }
        self.0.wake.notify_one();
        Ok(op)
    }

    /// Put `identity` in a person of its own (A37, or a reviewer's "not
    /// the same"). Returns the operation id.
    pub async fn unlink(&self, identity: (&str, &str), actor: &str, source: &str) -> Result<String, PersonsError> {
        let row = self.0.index.empi_identity(identity.0, identity.1).await?.ok_or(PersonsError::UnknownIdentity)?;
        let to = self.0.index.empi_new_person(now_ms()).await?;
        let op = new_op();
        self.0
            .index
            .empi_move(&op, &[Move { identity: row.id, from: row.person, to: Some(to) }], "unlink", actor, source, now_ms())
            .await?;
        self.record("patient-unlinked", actor, &op, 1).await;
        self.0.wake.notify_one();
        Ok(op)
    }

    /// Undo operation `op` (a merge, a link, an unlink): every identity it
    /// moved goes back, and with it its studies. Returns the new
    /// operation's id.
    pub async fn unmerge(&self, op: &str, actor: &str) -> Result<String, PersonsError> {
        let undo = new_op();
        let moves = self.0.index.empi_undo(op, &undo, actor, now_ms()).await?;
        self.record("patient-unmerged", actor, &undo, moves.len()).await;
        self.0.wake.notify_one();
        Ok(undo)
    }

    /// The person of an identity, if linked.
    pub async fn person_of(&self, issuer: &str, patient_id: &str) -> Result<Option<i64>, PersonsError> {
        Ok(self.0.index.empi_identity(issuer, patient_id).await?.and_then(|r| r.person))
    }

    /// A person's identities and studies (newest first).
    pub async fn person(&self, person: i64) -> Result<PersonView, PersonsError> {
        let identities = self.0.index.empi_identities_of(person).await?;
        let studies = self.0.index.empi_studies_of(person).await?;
        Ok(PersonView {
            person,
            identities: identities
                .into_iter()
                .map(|i| IdentityView {
                    issuer: i.issuer,
                    patient_id: i.patient_id,
                    name: i.name,
                    birth_date: i.birth_date,
                    sex: i.sex,
                    ids_masked: i.ids_masked.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
                    source: i.source,
                    decision: i.decision,
                })
                .collect(),
            studies: studies.into_iter().map(StudyView::from).collect(),
        })
    }

    /// Ask the linker to look for identities to link now.
    pub fn wake(&self) {
        self.0.wake.notify_one();
    }

    async fn record(&self, kind: &str, actor: &str, op: &str, identities: usize) {
        let e = Event::new(kind, actor, "ok").fact("operation", op).fact("identities", identities);
        let _ = self.0.audit.record(e).await;
    }
}

/// A new operation id (random, 16 hex digits).
fn new_op() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
