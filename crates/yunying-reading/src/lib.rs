//! Remote reading (基层检查、上级诊断): a township hospital acquires the
//! images, a regional reading centre's radiologists read them, and the
//! signed report goes back the same day.
//!
//! - [`model`]: priorities, statuses, relationships (which institution
//!   reads for which, with the modalities covered, turnaround targets and
//!   where reports go back), templates and a report's content (pure).
//! - [`Reading`] (`service.rs`, `workflow.rs`): relationships and
//!   templates stored in the index (seeded from `[reading]`, replaced
//!   through the API), requests made by routing rules on arrival or on
//!   demand, each with its grant to the reading institution (the study
//!   and the patient's priors across institutions), the worklist, claims,
//!   drafts, two-step signing with an SM2 signature over the report's
//!   content, amendments as new versions.
//! - [`deliver`]: the outbox of a signed report: stored in the archive as
//!   DICOM (SR, Key Object Selection, encapsulated PDF: `yunying-report`),
//!   sent to the requesting PACS, HIS (HL7 ORU^R01) and webhook through a
//!   [`Transport`] the binary provides; critical findings at once.
//! - [`stats`]: turnaround by institution, modality and radiologist,
//!   backlog, critical findings and time to notify.
//!
//! Who may do what is decided here, for every face: the reading side is
//! the reading institution's people with [`yunying_access::Action::Reading`]
//! (signing needs `SignReports`), the requesting side its people and keys
//! with `RequestReading`. Every step is a ledger event.
//!
//! Architecture invariant: no HTTP or DIMSE; outgoing transports are
//! behind [`Transport`].

pub mod config;
pub mod deliver;
pub mod model;
mod objects;
mod service;
pub mod stats;
mod views;
mod workflow;

pub use config::{ReadingConfig, WebhookSecret};
pub use deliver::{Outgoing, Transport};
pub use model::{KeyImage, Measurement, Priority, Relationship, ReportContent, Status, Template, Turnaround};
pub use service::{NewRequest, Reading, ReportSigner};
pub use stats::{Stats, StatsLine, StatsRequest, to_csv};
pub use views::{DeliveryView, ReportView, RequestDetail, RequestView, WorklistFilter, WorklistPage};

use yunying_access::Denied;

/// Errors of remote reading.
#[derive(Debug, thiserror::Error)]
pub enum ReadingError {
    /// The index failed.
    #[error(transparent)]
    Index(#[from] yunying_index::IndexError),
    /// Not allowed, not found, or not possible for this principal.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// A request that cannot be right (HTTP 400).
    #[error("{0}")]
    Invalid(String),
    /// The request is not in a state that allows this (HTTP 409).
    #[error("{0}")]
    Conflict(String),
    /// Signing or building the report's objects failed (HTTP 503).
    #[error("{0}")]
    Unavailable(String),
}

impl ReadingError {
    pub(crate) fn not_found(what: &str) -> ReadingError {
        ReadingError::Denied(Denied::NotFound(format!("no reading request {what}")))
    }
}
