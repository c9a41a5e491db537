//! HL7 v2 for the patient index (EMPI) feed: the protocol layer only.
//!
//! - [`parse`]: HL7 v2.x messages: encoding characters from MSH-1/MSH-2,
//!   segments on CR (LF and CRLF tolerated), escape sequences, the MSH-18
//!   character set (UTF-8, GB 18030, ISO 8859-1), bounded before any work
//!   ([`Limits`]).
//! - [`adt`]: the typed patient event ([`AdtEvent`]) of an ADT message:
//!   register/update (A01, A04, A05, A08, A28, A31), merge (A40), link
//!   (A24) and unlink (A37), with identifiers (CX), names (XPN, alphabetic
//!   and ideographic), birth date, sex, addresses and phones.
//! - [`ack`]: the original-mode acknowledgement (MSA AA/AE/AR, ERR).
//! - [`mllp`] and [`server`]: MLLP framing and a tokio server that hands
//!   each message to a [`Handler`] and answers with its [`AckDecision`].
//!
//! Plugging in a patient index:
//!
//! ```no_run
//! use yunying_hl7::{AckDecision, AdtAction, AdtError, AdtEvent, ServerConfig};
//!
//! # async fn run(shutdown: tokio::sync::oneshot::Receiver<()>) -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("0.0.0.0:2575").await?;
//! let handler = |message: Result<AdtEvent, AdtError>| async move {
//!     match message {
//!         Ok(event) => match event.action {
//!             AdtAction::Merge(merges) => {
//!                 // retire each merge's prior_identifiers into its survivor…
//!                 let _ = merges;
//!                 AckDecision::Accept
//!             }
//!             _ => AckDecision::Accept,
//!         },
//!         Err(e) => AckDecision::from_error(&e),
//!     }
//! };
//! yunying_hl7::serve(listener, ServerConfig::default(), handler, async {
//!     let _ = shutdown.await;
//! })
//! .await;
//! # Ok(())
//! # }
//! ```
//!
//! Architecture invariant: depends on no other Yunying crate and knows
//! nothing of the index; what an event does is the caller's. Log lines
//! carry control IDs, event types and results, never patient data, and
//! the error texts sent back in an ACK carry none either.

pub mod ack;
pub mod adt;
mod charset;
mod error;
mod escape;
pub mod mllp;
pub mod parse;
pub mod server;

pub use ack::{AckCode, AckDecision, ErrorCode, LocalNames};
pub use adt::{AdtAction, AdtEvent, Header, Patient, Trigger};
pub use charset::Charset;
pub use error::{AdtError, ParseError};
pub use parse::{Delimiters, Limits, Message, ParseOptions};
pub use server::{Handler, ServerConfig, serve};
