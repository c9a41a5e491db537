//! IHE ATNA audit messages for Yunying: DICOM PS3.15 A.5 `AuditMessage`
//! XML (`model`, `xml`, with constructors for the events Yunying records
//! in `events`), sent as RFC 5424 syslog (`syslog`: facility authpriv,
//! severity notice, MSGID `IHE+RFC-3881`) over TLS with RFC 5425 framing,
//! or plain TCP or UDP, by an asynchronous sender with a bounded queue
//! (`sender`, configured by `AtnaConfig`).
//!
//! The schema the XML follows is checked in under `schema/` (PS3.15
//! A.5.1.1, with its provenance); the tests validate every constructor's
//! output against it and send every kind through a real rsyslogd.
//!
//! Architecture invariant: self-contained. It knows no other Yunying
//! crate, no database and no HTTP; callers map their own events onto the
//! input types here (`Head`, `ActiveParticipant`, `Patient`, `Study`,
//! `Query`).

mod config;
mod connect;
pub mod events;
mod model;
mod sender;
pub mod syslog;
mod time;
mod xml;

use std::path::PathBuf;

pub use config::{AtnaConfig, Overflow, QueueConfig, Transport};
pub use events::{Activity, AuthKind, Head, Patient, Query, Study, codes, security_subject};
pub use model::{
    ActiveParticipant, AuditMessage, AuditSource, Code, EventAction, EventIdentification, NetworkAccessPoint, ObjectDescription,
    ObjectName, ObjectRole, ObjectType, Outcome, ParticipantObject, SopClass,
};
pub use sender::{AuditSender, Stats};
pub use time::rfc3339_utc;

/// A sender that cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AtnaError {
    /// A setting is wrong; the text names it.
    #[error("{0}")]
    Config(String),
    /// A certificate or key file does not load.
    #[error("atna: {file}: {reason}")]
    Tls {
        /// The file.
        file: PathBuf,
        /// Why.
        reason: String,
    },
}

/// A message the sender did not queue.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The syslog message is over `max_message_bytes` (cutting it would
    /// break the XML).
    #[error("audit message of {bytes} bytes is over the limit of {max}")]
    TooLarge {
        /// Its size.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// `shutdown` has begun.
    #[error("the audit sender is shutting down")]
    Closed,
}
