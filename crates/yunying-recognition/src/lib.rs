//! Mutual recognition of exams (检查互认): the rules and their storage,
//! for every face (HTTP for the HIS and the viewer, the dashboard) to call.
//!
//! - [`catalogue`]: a region's items (code, zh-CN name, modality, body
//!   parts, procedure codes, keywords, window, price), local reasons and
//!   quality (HR) marks, from `[recognition]` TOML or replaced through
//!   [`Recognition`].
//! - [`classify`]: study → items and HR status (pure).
//! - [`candidates`]: the prior studies recognisable for an order (pure).
//! - [`decision`]: outcomes, the six standard reasons and local ones, the
//!   rules of a complete decision (pure).
//! - [`stats`]: statistics (computed by the index) and their CSV.
//! - [`record`]: the signed recognition record.
//! - [`api`]: the entry points as principals reach them (`*_as`).
//!
//! [`Recognition`] ties them to the index: it stores the catalogue and
//! marks, records each study's items, stores orders with the candidates
//! offered and versioned decisions, and builds records from them.
//!
//! Architecture invariant: no HTTP, DIMSE, grants or identity linking here;
//! the caller passes the studies of every identity of the person, and
//! records security events itself.

pub mod api;
pub mod candidates;
pub mod catalogue;
pub mod classify;
pub mod date;
pub mod decision;
pub mod record;
mod service;
pub mod stats;
pub mod webhook;

pub use api::{CandidateView, CatalogueView, DecisionMade, DecisionRequest, OrderRequest, OrderView, dimension_of, ordering_institution};
pub use candidates::{Candidate, CandidateOptions, Order, StudyFacts, candidates};
pub use catalogue::{Catalogue, Item, LocalReason, Mark, MarkConfig, ProcedureCode, RecognitionConfig};
pub use classify::{StudyItem, StudyTraits, procedure_codes_from_metadata};
pub use date::Date;
pub use decision::{Decision, DecisionError, Outcome, Reasons, StandardReason};
pub use record::{RecognitionRecord, RecordSigner, SignedRecord, sign_record, verify_record};
pub use service::{Offer, Reclassified, Recognition};
pub use webhook::{Notifier, WebhookConfig};
pub use yunying_index::{StatsDimension, StatsQuery, StatsRow};

/// Errors of recognition.
#[derive(Debug, thiserror::Error)]
pub enum RecognitionError {
    /// The index failed.
    #[error(transparent)]
    Index(#[from] yunying_index::IndexError),
    /// Configuration or a catalogue given through the API is invalid.
    #[error("invalid recognition configuration: {0}")]
    Config(String),
    /// The order names an item the region's catalogue does not have.
    #[error("unknown recognition item")]
    UnknownItem,
    /// A date is not `YYYYMMDD` / `YYYY-MM-DD`, or a month not `YYYY-MM`.
    #[error("not a date")]
    BadDate,
    /// More of something than one request may carry.
    #[error("too many {0}")]
    TooMany(&'static str),
    /// The decision breaks a rule.
    #[error(transparent)]
    Decision(#[from] DecisionError),
    /// No such order.
    #[error("unknown recognition order")]
    UnknownOrder,
    /// The study was not offered for the order.
    #[error("the study was not offered as a candidate for this order")]
    NotOffered,
    /// A decision exists; amend it (naming this version) instead.
    #[error("a decision exists (version {version}); amend it instead")]
    AlreadyDecided { version: i64 },
    /// The amendment names a version that is not the one in force.
    #[error("the decision in force is version {current}, not the one amended")]
    StaleAmendment { current: i64 },
    /// No decision to put in a record.
    #[error("no decision on this candidate")]
    Undecided,
    /// Signing or verification failed.
    #[error("recognition record signature: {0}")]
    Signature(String),
}
