//! The MLLP server: accepts connections (at most `max_connections` at
//! once; past them a connection is closed at once), reads MLLP frames,
//! hands each message to the [`Handler`] in the order received and writes
//! its ACK before reading the next. A framing error (bytes outside a
//! frame, an oversize frame) closes the connection without an answer; so
//! do the idle timeout (no byte for `idle_timeout`) and the frame timeout
//! (a frame begun but not finished within `frame_timeout`).
//!
//! Shutdown (the `shutdown` future completing) stops accepting, closes
//! connections waiting for a message, lets each message being handled be
//! answered, and waits up to `drain_timeout` for that.
//!
//! Logs carry the peer's address, the control ID, message type, event and
//! ACK code: never a segment's content.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;

use crate::ack::{self, AckDecision, LocalNames};
use crate::adt::{AdtEvent, Header};
use crate::charset::Charset;
use crate::error::AdtError;
use crate::mllp::{Deframer, frame};
use crate::parse::{Delimiters, Message, ParseOptions};

/// Decides the answer to each message: the EMPI plugs in here.
///
/// It gets the typed event, or the reason the message is not one (parse
/// error, unsupported type, event or version, missing or malformed
/// field), and returns the ACK to send; for an error,
/// [`AckDecision::from_error`] is the usual answer. Messages of one
/// connection are handled one at a time, in order; messages of several
/// connections concurrently. Any `Fn(Result<AdtEvent, AdtError>) -> impl
/// Future<Output = AckDecision>` closure is a handler.
pub trait Handler: Send + Sync + 'static {
    /// Handle one message.
    fn handle(&self, message: Result<AdtEvent, AdtError>) -> impl Future<Output = AckDecision> + Send;
}

impl<F, Fut> Handler for F
where
    F: Fn(Result<AdtEvent, AdtError>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = AckDecision> + Send,
{
    fn handle(&self, message: Result<AdtEvent, AdtError>) -> impl Future<Output = AckDecision> + Send {
        self(message)
    }
}

/// How the server reads and answers.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Message bounds and the default charset; `limits.max_message_bytes`
    /// is also the largest MLLP frame accepted.
    pub parse: ParseOptions,
    /// Our application and facility, for an ACK whose request left MSH-5/6 empty.
    pub local: LocalNames,
    /// Most connections at once (default 16).
    pub max_connections: usize,
    /// A connection with no byte for this long is closed (default 10 min;
    /// MPIs keep their connection open between messages).
    pub idle_timeout: Duration,
    /// A frame must be complete this long after its first byte (default 60 s).
    pub frame_timeout: Duration,
    /// Writing an ACK may take this long (default 30 s).
    pub write_timeout: Duration,
    /// How long shutdown waits for messages being handled (default 30 s).
    pub drain_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            parse: ParseOptions::default(),
            local: LocalNames::default(),
            max_connections: 16,
            idle_timeout: Duration::from_secs(600),
            frame_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
        }
    }
}

/// Serve MLLP on `listener` until `shutdown` completes, then drain.
pub async fn serve<H: Handler>(listener: TcpListener, config: ServerConfig, handler: H, shutdown: impl Future<Output = ()>) {
    let config = Arc::new(config);
    let handler = Arc::new(handler);
    let slots = Arc::new(Semaphore::new(config.max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            _ = &mut shutdown => break,
            Some(joined) = tasks.join_next(), if !tasks.is_empty() => {
                if let Err(e) = joined {
                    tracing::error!(error = %e, "HL7 connection task failed");
                }
                continue;
            }
            accepted = listener.accept() => accepted,
        };
        let (socket, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "HL7 accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, limit = config.max_connections, "HL7 connection refused: too many connections");
            continue;
        };
        let _ = socket.set_nodelay(true);
        tracing::info!(%peer, "HL7 connection accepted");
        let connection =
            Connection { socket, peer, config: config.clone(), handler: handler.clone(), stop: stop_rx.clone(), _permit: permit };
        tasks.spawn(connection.run());
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(config.drain_timeout, async {
        while let Some(joined) = tasks.join_next().await {
            if let Err(e) = joined {
                tracing::error!(error = %e, "HL7 connection task failed");
            }
        }
    })
    .await;
    if drained.is_err() {
        tracing::warn!(left = tasks.len(), "HL7 connections still busy after the drain timeout; aborted");
        tasks.shutdown().await;
    }
}

/// One accepted connection.
struct Connection<H> {
    socket: TcpStream,
    peer: SocketAddr,
    config: Arc<ServerConfig>,
    handler: Arc<H>,
    stop: watch::Receiver<bool>,
    _permit: OwnedSemaphorePermit,
}

impl<H: Handler> Connection<H> {
    async fn run(mut self) {
        let peer = self.peer;
        let mut deframer = Deframer::new(self.config.parse.limits.max_message_bytes);
        let mut buffer = vec![0u8; 16 * 1024];
        let mut frame_started: Option<Instant> = None;
        loop {
            if *self.stop.borrow() {
                tracing::debug!(%peer, "HL7 connection closed for shutdown");
                return;
            }
            match deframer.next_frame() {
                Ok(Some(payload)) => {
                    frame_started = None;
                    let ack = self.answer(&payload).await;
                    match tokio::time::timeout(self.config.write_timeout, self.socket.write_all(&frame(&ack))).await {
                        Ok(Ok(())) => continue,
                        Ok(Err(e)) => tracing::info!(%peer, error = %e, "HL7 ACK not written; connection closed"),
                        Err(_) => tracing::warn!(%peer, "HL7 ACK not written within the write timeout; connection closed"),
                    }
                    return;
                }
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "HL7 connection closed: not MLLP or past the size limit");
                    return;
                }
            }
            let wait = if deframer.in_frame() {
                let started = *frame_started.get_or_insert_with(Instant::now);
                self.config.idle_timeout.min(self.config.frame_timeout.saturating_sub(started.elapsed()))
            } else {
                self.config.idle_timeout
            };
            tokio::select! {
                _ = self.stop.wait_for(|stop| *stop) => {
                    tracing::debug!(%peer, "HL7 connection closed for shutdown");
                    return;
                }
                read = tokio::time::timeout(wait, self.socket.read(&mut buffer)) => match read {
                    Ok(Ok(0)) if deframer.in_frame() => {
                        tracing::info!(%peer, "HL7 connection closed by the peer inside a frame");
                        return;
                    }
                    Ok(Ok(0)) => {
                        tracing::info!(%peer, "HL7 connection closed by the peer");
                        return;
                    }
                    Ok(Ok(n)) => deframer.extend(&buffer[..n]),
                    Ok(Err(e)) => {
                        tracing::info!(%peer, error = %e, "HL7 connection read failed");
                        return;
                    }
                    Err(_) => {
                        tracing::info!(%peer, in_frame = deframer.in_frame(), "HL7 connection closed after its timeout");
                        return;
                    }
                },
            }
        }
    }

    /// Parse, hand to the handler, and return the encoded ACK.
    async fn answer(&self, payload: &[u8]) -> Vec<u8> {
        let options = &self.config.parse;
        let (header, delimiters, charset, message) = match Message::parse(payload, options) {
            Ok(m) => (Header::from_message(&m), m.delimiters().clone(), m.charset(), AdtEvent::from_message(&m)),
            Err(e) => match Message::parse_header(payload, options) {
                Some(m) => {
                    let mut header = Header::from_message(&m);
                    if Charset::from_msh18(&header.charset).is_none() {
                        header.charset.clear();
                    }
                    (header, m.delimiters().clone(), m.charset(), Err(AdtError::Parse(e)))
                }
                None => (Header::default(), Delimiters::STANDARD, Charset::Utf8, Err(AdtError::Parse(e))),
            },
        };
        let rejected = message.as_ref().err().map(ToString::to_string);
        let decision = self.handler.handle(message).await;
        tracing::info!(
            peer = %self.peer,
            control_id = ?short(&header.control_id),
            message_type = ?short(&header.message_type),
            event = ?short(&header.trigger_code),
            ack = decision.code().as_str(),
            error = ?rejected,
            "HL7 message acknowledged"
        );
        charset.encode(&ack::build(&header, &delimiters, &decision, &self.config.local, SystemTime::now()))
    }
}

/// A header value bounded for a log line (printed with `?`, so control
/// characters are escaped).
fn short(value: &str) -> &str {
    match value.char_indices().nth(40) {
        Some((at, _)) => &value[..at],
        None => value,
    }
}
