//! The MLLP client: [`send`] opens a connection, writes one message in an
//! MLLP frame, reads one framed acknowledgement and closes the connection.
//! Every step is bounded ([`ClientConfig`]): connecting, writing, waiting
//! for the ACK and the ACK's size. The ACK's MSA-2 must echo the message's
//! MSH-10.
//!
//! AE, AR (and the commit codes CE, CR) are an `Ok(Ack)`: the peer
//! answered, and what to do about its answer is the caller's decision.
//! A [`SendError`] says what went wrong on the way, for an outbox that
//! retries: [`SendError::Connect`] and [`SendError::ConnectTimeout`] mean
//! the message was not delivered; after the first byte is written the HIS
//! may have it (a retry should keep the control ID, so it can tell).
//!
//! One message per connection; no connection is kept between messages.
//! Plain TCP only: TLS (and a persistent connection) are left out for now.
//!
//! Log lines carry the peer's address, the control ID, sizes and the ACK
//! code: never the message's content.

use std::io;
use std::time::Duration;

use thiserror::Error;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};

use crate::ack::AckCode;
use crate::adt::{Header, clip};
use crate::charset::Charset;
use crate::mllp::{Deframer, FrameError, frame};
use crate::parse::{Limits, Message, ParseOptions};

/// How [`send`] waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Connecting (name resolution included) may take this long (default 5 s).
    pub connect_timeout: Duration,
    /// Writing the message may take this long (default 30 s; a message with
    /// a PDF may be megabytes).
    pub write_timeout: Duration,
    /// The ACK must be complete this long after the message is written
    /// (default 30 s).
    pub ack_timeout: Duration,
    /// Largest ACK accepted, in bytes (default 64 KiB).
    pub max_ack_bytes: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            connect_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(30),
            ack_timeout: Duration::from_secs(30),
            max_ack_bytes: 64 * 1024,
        }
    }
}

/// The peer's acknowledgement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    /// MSA-1.
    pub code: AckCode,
    /// MSA-2: the control ID acknowledged (equal to the message's MSH-10).
    pub control_id: String,
    /// The peer's text: MSA-3, else ERR-8 (user message), else ERR-3.2
    /// (the error code's text); empty when none. It comes from the peer
    /// and may name the patient: not for log lines.
    pub text: String,
}

/// Why a message got no usable acknowledgement.
#[derive(Debug, Error)]
pub enum SendError {
    /// The message has no MSH-10, or declares an MSH-18 this crate cannot
    /// encode; nothing was sent (retrying will not help).
    #[error("the message cannot be sent: {0}")]
    InvalidMessage(&'static str),
    /// Connecting failed (refused, unreachable, unknown host): not delivered.
    #[error("connecting failed: {0}")]
    Connect(#[source] io::Error),
    /// No connection within the connect timeout: not delivered.
    #[error("connecting timed out after {0:?}")]
    ConnectTimeout(Duration),
    /// The message was not written within the write timeout.
    #[error("writing the message timed out after {0:?}")]
    WriteTimeout(Duration),
    /// The peer closed (or reset) the connection before a whole ACK arrived.
    #[error("the peer closed the connection before acknowledging")]
    PeerClosed,
    /// No whole ACK within the ACK timeout.
    #[error("no acknowledgement within {0:?}")]
    AckTimeout(Duration),
    /// The answer grew past [`ClientConfig::max_ack_bytes`].
    #[error("the acknowledgement exceeds {limit} bytes")]
    AckTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The answer is not an MLLP-framed HL7 message with a valid MSA.
    #[error("malformed acknowledgement: {0}")]
    MalformedAck(String),
    /// The ACK's MSA-2 is not the message's MSH-10.
    #[error("the acknowledgement is for control ID {received:?}, not {expected:?}")]
    ControlIdMismatch {
        /// The message's MSH-10.
        expected: String,
        /// The ACK's MSA-2 (at most 20 characters of it).
        received: String,
    },
    /// Any other I/O error on the connection.
    #[error("connection error: {0}")]
    Io(#[source] io::Error),
}

/// Send one HL7 message to `addr` (`host:port`) over MLLP and wait for its
/// acknowledgement. The message is encoded in the charset its MSH-18
/// names (UTF-8 when empty); the ACK is read in its own MSH-18's, or the
/// message's when it declares none.
pub async fn send(addr: &str, message: &str, config: &ClientConfig) -> Result<Ack, SendError> {
    let (control_id, charset) = header_of(message)?;
    let payload = frame(&charset.encode(message));
    let result = exchange(addr, &payload, &control_id, charset, config).await;
    let (id, bytes) = (clip(&control_id), payload.len());
    match &result {
        Ok((peer, ack)) => tracing::info!(%peer, control_id = ?id, bytes, ack = ack.code.as_str(), "HL7 message acknowledged"),
        Err((peer, e)) => {
            let peer = peer.as_deref().unwrap_or(addr);
            tracing::info!(peer, control_id = ?id, bytes, error = %e, "HL7 message not acknowledged");
        }
    }
    result.map(|(_, ack)| ack).map_err(|(_, e)| e)
}

/// MSH-10 and the charset to encode in.
fn header_of(message: &str) -> Result<(String, Charset), SendError> {
    let header = Message::parse_header(message.as_bytes(), &ParseOptions::default())
        .map(|m| Header::from_message(&m))
        .ok_or(SendError::InvalidMessage("no readable MSH segment"))?;
    if header.control_id.is_empty() {
        return Err(SendError::InvalidMessage("MSH-10 is empty"));
    }
    let charset = match header.charset.as_str() {
        "" => Charset::Utf8,
        name => Charset::from_msh18(name).ok_or(SendError::InvalidMessage("MSH-18 names a character set this crate does not write"))?,
    };
    Ok((header.control_id, charset))
}

/// Connect, write, read the ACK; the error comes with the peer's address
/// when connected.
async fn exchange(
    addr: &str,
    payload: &[u8],
    control_id: &str,
    charset: Charset,
    config: &ClientConfig,
) -> Result<(String, Ack), (Option<String>, SendError)> {
    let mut stream = match timeout(config.connect_timeout, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => return Err((None, SendError::Connect(e))),
        Err(_) => return Err((None, SendError::ConnectTimeout(config.connect_timeout))),
    };
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_else(|_| addr.to_string());
    let fail = |e: SendError| (Some(peer.clone()), e);
    match timeout(config.write_timeout, stream.write_all(payload)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return Err(fail(io_error(e))),
        Err(_) => return Err(fail(SendError::WriteTimeout(config.write_timeout))),
    }
    let reply = read_reply(&mut stream, config).await.map_err(fail)?;
    let ack = read_ack(&reply, control_id, charset, config.max_ack_bytes).map_err(fail)?;
    Ok((peer, ack))
}

/// Read one MLLP frame within the ACK timeout.
async fn read_reply(stream: &mut TcpStream, config: &ClientConfig) -> Result<Vec<u8>, SendError> {
    let deadline = Instant::now() + config.ack_timeout;
    let mut deframer = Deframer::new(config.max_ack_bytes);
    let mut buffer = vec![0u8; 8192];
    loop {
        match deframer.next_frame() {
            Ok(Some(payload)) => return Ok(payload),
            Ok(None) => {}
            Err(FrameError::TooLarge { limit }) => return Err(SendError::AckTooLarge { limit }),
            Err(e) => return Err(SendError::MalformedAck(e.to_string())),
        }
        match timeout_at(deadline, stream.read(&mut buffer)).await {
            Ok(Ok(0)) => return Err(SendError::PeerClosed),
            Ok(Ok(n)) => deframer.extend(&buffer[..n]),
            Ok(Err(e)) => return Err(io_error(e)),
            Err(_) => return Err(SendError::AckTimeout(config.ack_timeout)),
        }
    }
}

/// The ACK in a frame's payload, checked against the control ID sent.
fn read_ack(payload: &[u8], control_id: &str, charset: Charset, max_bytes: usize) -> Result<Ack, SendError> {
    let options = ParseOptions { limits: Limits { max_message_bytes: max_bytes, ..Limits::default() }, default_charset: charset };
    let m = Message::parse(payload, &options).map_err(|e| SendError::MalformedAck(e.to_string()))?;
    if m.segment("MSA").is_none() {
        return Err(SendError::MalformedAck("no MSA segment".into()));
    }
    let code = AckCode::from_code(&m.get("MSA", 1).value())
        .ok_or_else(|| SendError::MalformedAck("MSA-1 is not an acknowledgement code".into()))?;
    let received = m.get("MSA", 2).value();
    if received.trim() != control_id {
        return Err(SendError::ControlIdMismatch { expected: control_id.to_string(), received: clip(&received) });
    }
    let text = [m.get("MSA", 3).value(), m.get("ERR", 8).value(), m.get("ERR", 3).first().value(2)]
        .into_iter()
        .find(|t| !t.trim().is_empty())
        .unwrap_or_default();
    Ok(Ack { code, control_id: received.trim().to_string(), text })
}

/// A reset or broken pipe is the peer closing; anything else stays an I/O error.
fn io_error(e: io::Error) -> SendError {
    match e.kind() {
        io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionAborted | io::ErrorKind::BrokenPipe | io::ErrorKind::UnexpectedEof => {
            SendError::PeerClosed
        }
        _ => SendError::Io(e),
    }
}
