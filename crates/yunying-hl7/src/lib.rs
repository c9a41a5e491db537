//! HL7 v2 for the patient index (EMPI) feed and for sending results
//! (signed imaging reports) back to a hospital's HIS: the protocol layer
//! only.
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
//! - [`oru`]: the ORU^R01 (v2.5.1) of a signed imaging report
//!   ([`ReportMessage`], [`build_oru`]): findings and impression as FT,
//!   the Study Instance UID, an optional PDF (ED, Base64), a critical
//!   result flagged (OBX-8 `AA` and an NTE), corrections as status `C`.
//! - [`client`]: [`send`] one message over MLLP and wait for its [`Ack`],
//!   every step bounded ([`ClientConfig`]), the reasons it got none told
//!   apart ([`SendError`]).
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
//! Sending a report:
//!
//! ```no_run
//! use yunying_hl7::{ClientConfig, ReportMessage, build_oru};
//!
//! # async fn run(report: ReportMessage) -> Result<(), Box<dyn std::error::Error>> {
//! let message = build_oru(&report)?;
//! let ack = yunying_hl7::send("his.example:2575", &message, &ClientConfig::default()).await?;
//! if !ack.code.is_accept() {
//!     // AE/AR: the HIS refused it; retrying the same message will not help.
//! }
//! # Ok(())
//! # }
//! ```
//!
//! Architecture invariant: depends on no other Yunying crate and knows
//! nothing of the index or of reports' storage; what an event does, and
//! what to do about an ACK, is the caller's. Log lines carry addresses,
//! control IDs, event types, sizes and results, never patient data, and
//! the error texts sent back in an ACK carry none either.

pub mod ack;
pub mod adt;
mod charset;
pub mod client;
mod error;
mod escape;
pub mod mllp;
pub mod oru;
pub mod parse;
pub mod server;

pub use ack::{AckCode, AckDecision, ErrorCode, LocalNames};
pub use adt::{AdtAction, AdtEvent, Header, Patient, Trigger};
pub use charset::Charset;
pub use client::{Ack, ClientConfig, SendError, send};
pub use error::{AdtError, ParseError};
pub use oru::{Interpreter, OruError, ReportMessage, ReportPatient, ResultStatus, build_oru};
pub use parse::{Delimiters, Limits, Message, ParseOptions};
pub use server::{Handler, ServerConfig, serve};
