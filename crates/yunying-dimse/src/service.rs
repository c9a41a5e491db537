//! One association: the P-DATA loop. C-ECHO and C-STORE are served here;
//! query/retrieve and storage commitment in `operations`.
//!
//! Requests are served one at a time (no asynchronous operations window).
//! While a C-FIND, C-MOVE or C-GET runs, the connection is polled between
//! responses for its C-CANCEL (and, for C-GET, read for the C-STORE
//! responses of the sub-operations) through a cancel-safe PDU reader.
//!
//! Nothing the peer sends is kept beyond the request it belongs to: a
//! response is taken only when it answers a request of ours that waits for
//! it (a C-GET sub-operation's C-STORE, a storage commitment report); any
//! other response aborts the association. Requests the caller has no right
//! to are answered 0124H (refused: not authorized) without being read
//! into memory.

use std::net::SocketAddr;

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use tracing::Instrument;
use yunying_archive::{Archive, Caller, Incoming, IngestError, StoreContext};
use yunying_audit::ingest::Received;

use crate::DimseConfig;
use crate::access::{Access, NOT_AUTHORIZED};
use crate::admission::Slot;
use crate::association::{Accepted, Context};
use crate::command::{C_CANCEL_RQ, C_ECHO_RQ, C_FIND_RQ, C_GET_RQ, C_MOVE_RQ, C_STORE_RQ, Command, N_ACTION_RQ, RESPONSE, Response};
use crate::pdu::{self, PduError, PduReader};
use crate::tls::Stream;

/// Command sets are small; anything larger is an abuse.
pub(crate) const MAX_COMMAND_BYTES: usize = 64 * 1024;
/// Largest identifier (C-FIND, C-MOVE, C-GET) or N-ACTION data set.
pub(crate) const MAX_REQUEST_DATASET: usize = 4 << 20;
const N_EVENT_REPORT_RSP: u16 = 0x8100;
const C_STORE_RSP: u16 = 0x8001;
/// Refused: resource limitation (PS3.7 Annex C, general status).
const RESOURCE_LIMITATION: u16 = 0x0213;

/// What the association is in the middle of.
enum State {
    Idle,
    /// Collecting command fragments on a presentation context.
    Command {
        context_id: u8,
        bytes: BytesMut,
    },
    /// Receiving the data set of a request.
    Data(Box<DataState>),
}

struct DataState {
    context_id: u8,
    command: Command,
    sink: Sink,
}

/// Where the data set of the request in progress goes.
// Boxed as a whole in `State::Data`: one allocation per request.
#[allow(clippy::large_enum_variant)]
enum Sink {
    /// Into the archive.
    Store(Incoming),
    /// Discarded: the request already failed (answered when the data ends).
    Failed(IngestError),
    /// Kept in memory: the identifier of a query/retrieve or N-ACTION
    /// (`None` once it grew past the limit).
    Collect(Option<Vec<u8>>),
    /// Discarded: a request with a data set that we do not serve.
    Unsupported,
    /// Discarded: a request refused before its data set arrived (answered
    /// with this status and comment when it ends).
    Refused(u16, &'static str),
}

/// The connection of an accepted association.
pub struct Link<'a> {
    pub socket: Stream,
    pub reader: PduReader,
    pub peer: SocketAddr,
    /// Its association slot (idle between requests, may be evicted then).
    pub slot: &'a Slot,
    /// What the caller may do.
    pub access: Access,
    /// The access layer, asked for the caller's scope at every request.
    pub layer: yunying_access::Access,
    /// SHA-256 of the client certificate, on the TLS port when one was
    /// presented (already checked against the AE registry).
    pub peer_certificate_sha256: Option<[u8; 32]>,
}

pub struct Association<'a> {
    pub(crate) socket: Stream,
    pub(crate) reader: PduReader,
    pub(crate) archive: &'a Archive,
    pub(crate) config: &'a DimseConfig,
    pub(crate) caller: Caller,
    pub(crate) accepted: Accepted,
    pub(crate) peer: SocketAddr,
    slot: &'a Slot,
    pub(crate) access: Access,
    pub(crate) layer: yunying_access::Access,
    /// SHA-256 of the client's TLS certificate, if it presented one.
    pub(crate) peer_certificate_sha256: Option<[u8; 32]>,
    /// Requests refused for want of a right (the first is logged).
    refused: u32,
    shutdown: watch::Receiver<bool>,
    /// Command fragments read while an operation runs.
    partial: Option<(u8, BytesMut)>,
    /// Message ID of the operation in progress (for its C-CANCEL).
    pub(crate) current: Option<u16>,
    pub(crate) cancel_requested: bool,
    /// Message ID of the C-STORE (a C-GET sub-operation) awaiting its
    /// response, and the response once it arrived.
    pub(crate) awaiting_store: Option<u16>,
    pub(crate) store_response: Option<Command>,
    /// Storage commitment reports sent here and not yet acknowledged: the
    /// message ID that awaits a response (None: refused here, for a new
    /// association) and the request's row in the index.
    pub(crate) pending_reports: Vec<(Option<u16>, i64)>,
    next_message_id: u16,
    /// This association's number on the node (its C-STORE audit batches).
    pub(crate) id: u64,
    /// The operation in progress: its command field and when its command
    /// arrived (for the access log and metrics when it is answered), and
    /// its span (`[tracing]`; disabled when off).
    operation: Option<(u16, std::time::Instant, tracing::Span)>,
}

impl<'a> Association<'a> {
    pub fn new(
        link: Link<'a>,
        archive: &'a Archive,
        config: &'a DimseConfig,
        caller: Caller,
        accepted: Accepted,
        shutdown: watch::Receiver<bool>,
    ) -> Association<'a> {
        Association {
            socket: link.socket,
            reader: link.reader,
            archive,
            config,
            caller,
            accepted,
            peer: link.peer,
            slot: link.slot,
            access: link.access,
            layer: link.layer,
            peer_certificate_sha256: link.peer_certificate_sha256,
            refused: 0,
            shutdown,
            partial: None,
            current: None,
            cancel_requested: false,
            awaiting_store: None,
            store_response: None,
            pending_reports: Vec::new(),
            next_message_id: 1,
            id: crate::audit::next_association_id(),
            operation: None,
        }
    }

    /// Serve requests until release, abort, error or shutdown; then hand
    /// unacknowledged storage commitment reports to a new association.
    pub async fn run(mut self) {
        self.serve().await;
        self.layer.audit().flush_ingest(Some(self.id), false).await;
        if self.refused > 1 {
            tracing::warn!(calling_ae = %self.caller.calling_ae, peer = %self.peer, refused = self.refused, "requests refused on the association (not authorized)");
        }
        // Reports not acknowledged here go out on new associations
        // (`commitment_delivery.rs`), from now on.
        for (_, row) in std::mem::take(&mut self.pending_reports) {
            if let Err(e) = self.archive.index().commitment_release(row, yunying_access::now_ms()).await {
                tracing::warn!(calling_ae = %self.caller.calling_ae, error = %e, "storage commitment report left to its hold: index unavailable");
            }
        }
    }

    async fn serve(&mut self) {
        let mut state = State::Idle;
        loop {
            let idle = matches!(state, State::Idle);
            let max = self.config.max_pdu_length;
            let pdu = if idle {
                // Between requests a shutdown may end the association, or a
                // new caller take its slot; during one, the request is
                // allowed to finish.
                let mut shutdown = self.shutdown.clone();
                let slot = self.slot;
                slot.idle();
                let pdu = tokio::select! {
                    pdu = self.reader.next_within(&mut self.socket, max, self.config.idle_timeout) => pdu,
                    _ = async { let _ = shutdown.wait_for(|s| *s).await; } => {
                        let _ = pdu::write_abort(&mut self.socket, 0).await;
                        return;
                    }
                    // Taken: `busy` below fails.
                    _ = slot.evicted() => Err(PduError::Timeout),
                };
                if !slot.busy() {
                    tracing::info!(calling_ae = %self.caller.calling_ae, peer = %self.peer, "idle association aborted: its slot went to a new association");
                    let _ = pdu::write_abort(&mut self.socket, 0).await;
                    return;
                }
                pdu
            } else {
                self.reader.next_within(&mut self.socket, max, self.config.data_timeout).await
            };
            let pdu = match pdu {
                Ok(pdu) => pdu,
                Err(PduError::Closed) => return,
                Err(e) => {
                    tracing::info!(calling_ae = %self.caller.calling_ae, error = %e, "aborting association");
                    let _ = pdu::write_abort(&mut self.socket, 0).await;
                    return;
                }
            };
            match pdu.pdu_type {
                pdu::P_DATA_TF => {
                    let pdvs = match pdu::split_pdata(pdu.body) {
                        Ok(pdvs) => pdvs,
                        Err(e) => {
                            tracing::info!(calling_ae = %self.caller.calling_ae, error = %e, "aborting association");
                            let _ = pdu::write_abort(&mut self.socket, 6).await;
                            return;
                        }
                    };
                    for pdv in pdvs {
                        let span = self.operation.as_ref().map_or_else(tracing::Span::none, |(_, _, span)| span.clone());
                        match self.on_pdv(state, pdv).instrument(span).await {
                            Ok(next) => state = next,
                            Err(e) => {
                                tracing::info!(calling_ae = %self.caller.calling_ae, error = %e, "aborting association");
                                let _ = pdu::write_abort(&mut self.socket, 2).await;
                                return;
                            }
                        }
                    }
                }
                pdu::RELEASE_RQ => {
                    let _ = pdu::write_release_rp(&mut self.socket).await;
                    let _ = self.socket.shutdown().await;
                    return;
                }
                pdu::ABORT => return,
                _ => {
                    let _ = pdu::write_abort(&mut self.socket, 2).await;
                    return;
                }
            }
        }
    }

    fn context(&self, id: u8) -> Option<Context> {
        self.accepted.contexts.iter().find(|c| c.id == id).cloned()
    }

    async fn on_pdv(&mut self, state: State, pdv: pdu::Pdv) -> Result<State, ProtocolError> {
        let Some(context) = self.context(pdv.context_id) else {
            return Err(ProtocolError("PDV on a presentation context that was not accepted"));
        };
        match (state, pdv.is_command) {
            (State::Idle, true) => {
                let bytes = BytesMut::from(&pdv.data[..]);
                self.command_fragment(context, bytes, pdv.is_last).await
            }
            (State::Command { context_id, mut bytes }, true) if context_id == pdv.context_id => {
                if bytes.len() + pdv.data.len() > MAX_COMMAND_BYTES {
                    return Err(ProtocolError("command set too large"));
                }
                bytes.extend_from_slice(&pdv.data);
                self.command_fragment(context, bytes, pdv.is_last).await
            }
            (State::Data(mut data), false) if data.context_id == pdv.context_id => {
                // Every data set byte read, kept or not.
                let operation = crate::trace::operation_name(data.command.command_field().unwrap_or(0));
                self.archive.metrics().dimse_received(operation, pdv.data.len() as u64);
                match &mut data.sink {
                    Sink::Store(incoming) => {
                        if let Err(e) = incoming.write(pdv.data).await {
                            data.sink = Sink::Failed(e); // dropping the Incoming discards its spool
                        }
                    }
                    Sink::Collect(Some(bytes)) if bytes.len() + pdv.data.len() <= MAX_REQUEST_DATASET => {
                        bytes.extend_from_slice(&pdv.data);
                    }
                    Sink::Collect(kept) => *kept = None,
                    Sink::Failed(_) | Sink::Unsupported | Sink::Refused(..) => {}
                }
                if pdv.is_last {
                    self.complete(*data, &context).await?;
                    return Ok(State::Idle);
                }
                Ok(State::Data(data))
            }
            _ => Err(ProtocolError("PDV out of sequence")),
        }
    }

    async fn command_fragment(&mut self, context: Context, bytes: BytesMut, last: bool) -> Result<State, ProtocolError> {
        if !last {
            return Ok(State::Command { context_id: context.id, bytes });
        }
        let command = Command::decode(&bytes).ok_or(ProtocolError("malformed command set"))?;
        let field = command.command_field().ok_or(ProtocolError("command set without Command Field"))?;
        if field & RESPONSE == 0 && field != C_CANCEL_RQ {
            let span = crate::trace::operation_span(field, &self.caller.calling_ae, &command);
            self.operation = Some((field, std::time::Instant::now(), span));
        }
        match field {
            C_ECHO_RQ => {
                self.respond(&context, &command, 0x8030, 0x0000, None, None).await?;
                Ok(State::Idle)
            }
            C_CANCEL_RQ => Ok(State::Idle), // for an operation already finished
            _ if field & RESPONSE != 0 => {
                self.on_response(command).await?;
                Ok(State::Idle)
            }
            _ if self.access.missing_for(field).is_some() => {
                self.log_refusal(field);
                self.record_refused_request(field, command.affected_sop_class_uid(), command.affected_sop_instance_uid()).await;
                let comment = "not authorized: ask the archive administrator";
                if command.has_data_set() {
                    let sink = Sink::Refused(NOT_AUTHORIZED, comment);
                    return Ok(State::Data(Box::new(DataState { context_id: context.id, command, sink })));
                }
                self.respond(&context, &command, field | RESPONSE, NOT_AUTHORIZED, None, Some(comment)).await?;
                Ok(State::Idle)
            }
            N_ACTION_RQ if command.has_data_set() && self.pending_reports.len() >= self.config.max_pending_reports => {
                tracing::warn!(calling_ae = %self.caller.calling_ae, peer = %self.peer, "storage commitment refused: too many unacknowledged reports on the association");
                let sink = Sink::Refused(RESOURCE_LIMITATION, "too many unacknowledged reports");
                Ok(State::Data(Box::new(DataState { context_id: context.id, command, sink })))
            }
            C_STORE_RQ if command.has_data_set() => {
                let sink = match self.begin_store(&context, &command).await {
                    Ok(incoming) => Sink::Store(incoming),
                    Err(e) => Sink::Failed(e),
                };
                Ok(State::Data(Box::new(DataState { context_id: context.id, command, sink })))
            }
            C_FIND_RQ | C_MOVE_RQ | C_GET_RQ | N_ACTION_RQ if command.has_data_set() => {
                Ok(State::Data(Box::new(DataState { context_id: context.id, command, sink: Sink::Collect(Some(Vec::new())) })))
            }
            _ if command.has_data_set() => {
                Ok(State::Data(Box::new(DataState { context_id: context.id, command, sink: Sink::Unsupported })))
            }
            _ => {
                self.respond(&context, &command, field | RESPONSE, 0x0211, None, Some("unrecognized operation")).await?;
                Ok(State::Idle)
            }
        }
    }

    /// A response from the peer: taken only when it answers a request of
    /// ours that waits for it; anything else is a protocol error (a peer
    /// must not fill our memory with responses to nothing).
    async fn on_response(&mut self, command: Command) -> Result<(), ProtocolError> {
        let id = command.message_id_being_responded_to();
        match command.command_field() {
            Some(N_EVENT_REPORT_RSP) if id.is_some() && self.pending_reports.iter().any(|(m, _)| *m == id) => {
                if command.status() == Some(0x0000) {
                    for (_, row) in self.pending_reports.extract_if(.., |(m, _)| *m == id) {
                        if let Err(e) = self.archive.index().commitment_done(row).await {
                            // Then it is delivered once more, later.
                            tracing::warn!(calling_ae = %self.caller.calling_ae, error = %e, "acknowledged storage commitment report still owed: index unavailable");
                        }
                    }
                } else {
                    // Refused here (a requester not listening on this
                    // association): it goes out on a new one when this
                    // ends, and awaits no other response here.
                    tracing::info!(calling_ae = %self.caller.calling_ae, status = ?command.status(), "storage commitment report refused on the association");
                    self.pending_reports.iter_mut().filter(|(m, _)| *m == id).for_each(|(m, _)| *m = None);
                }
                Ok(())
            }
            Some(C_STORE_RSP) if id.is_some() && id == self.awaiting_store && self.store_response.is_none() => {
                self.store_response = Some(command);
                Ok(())
            }
            _ => Err(ProtocolError("a response to no request of ours")),
        }
    }

    /// Log the first request refused for want of a right (the count of
    /// the others when the association ends).
    fn log_refusal(&mut self, field: u16) {
        self.refused += 1;
        if self.refused == 1 {
            let service = match field {
                C_STORE_RQ => "C-STORE",
                C_FIND_RQ => "C-FIND",
                C_MOVE_RQ => "C-MOVE",
                C_GET_RQ => "C-GET",
                _ => "storage commitment",
            };
            let why =
                if self.access.registered { "not among the AE's registered rights" } else { "the calling AE is not in the AE registry" };
            let certificate = self.peer_certificate_sha256.map(crate::tls::hex);
            tracing::warn!(
                calling_ae = %self.caller.calling_ae, peer = %self.peer, certificate = certificate.as_deref().unwrap_or("none"),
                "{service} refused (0124, not authorized): {why}"
            );
        }
    }

    async fn begin_store(&self, context: &Context, command: &Command) -> Result<Incoming, IngestError> {
        if context.service != crate::association::Service::Storage {
            return Err(IngestError::SopClassMismatch(format!("C-STORE on a {} context", context.abstract_syntax)));
        }
        if command.affected_sop_class_uid() != context.abstract_syntax {
            return Err(IngestError::SopClassMismatch(format!(
                "request names {}, context is {}",
                command.affected_sop_class_uid(),
                context.abstract_syntax
            )));
        }
        let ctx = StoreContext {
            caller: self.caller.clone(),
            sop_class_uid: context.abstract_syntax.clone(),
            sop_instance_uid: command.affected_sop_instance_uid(),
            transfer_syntax_uid: context.transfer_syntax.clone(),
            source: "dimse",
            expected_study_instance_uid: None,
            principal: format!("ae:{}", self.caller.calling_ae),
        };
        self.archive.begin(ctx).await
    }

    /// The last data fragment arrived: finish the operation and respond.
    async fn complete(&mut self, data: DataState, context: &Context) -> Result<(), ProtocolError> {
        let field = data.command.command_field().unwrap_or(0);
        let result = match data.sink {
            Sink::Unsupported => {
                return self.respond(context, &data.command, field | RESPONSE, 0x0211, None, Some("unrecognized operation")).await;
            }
            Sink::Refused(status, comment) => {
                let uid = data.command.affected_sop_instance_uid();
                return self.respond(context, &data.command, field | RESPONSE, status, Some(&uid), Some(comment)).await;
            }
            Sink::Collect(bytes) => return self.operation(context, &data.command, bytes).await,
            // Counted by the archive when it refused.
            Sink::Failed(e) => Err(e),
            Sink::Store(incoming) => incoming.finish().await,
        };
        let sop_instance_uid = data.command.affected_sop_instance_uid();
        let received = match &result {
            Ok(stored) => Received {
                sop_instance_uid: stored.sop_instance_uid.clone(),
                sop_class_uid: stored.sop_class_uid.clone(),
                sha256: stored.sha256.clone(),
                duplicate: stored.duplicate,
                study: stored.study_instance_uid.clone(),
                ..Default::default()
            },
            Err(e) => Received {
                sop_instance_uid: sop_instance_uid.clone(),
                sop_class_uid: data.command.affected_sop_class_uid(),
                status: format!("{:04X}", e.dimse_status()),
                ..Default::default()
            },
        };
        self.record_received(received).await;
        match result {
            Ok(_) => self.respond(context, &data.command, 0x8001, 0x0000, Some(&sop_instance_uid), None).await,
            Err(e) => {
                tracing::warn!(
                    calling_ae = %self.caller.calling_ae,
                    status = format_args!("{:04X}", e.dimse_status()),
                    reason = e.reason(),
                    // Whole here; the peer gets the first 64 characters.
                    "C-STORE refused: {e}"
                );
                let comment = e.comment();
                self.respond(context, &data.command, 0x8001, e.dimse_status(), Some(&sop_instance_uid), Some(&comment)).await
            }
        }
    }

    pub(crate) fn next_message_id(&mut self) -> u16 {
        let id = self.next_message_id;
        self.next_message_id = self.next_message_id.wrapping_add(1).max(1);
        id
    }

    /// Send a message (command and optional data set) within the data timeout.
    pub(crate) async fn send(&mut self, context_id: u8, command: &[u8], data: Option<&[u8]>) -> Result<(), ProtocolError> {
        let write = pdu::write_message(&mut self.socket, context_id, command, data, self.accepted.peer_max_pdu);
        match tokio::time::timeout(self.config.data_timeout, write).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(ProtocolError("could not send to the peer")),
        }
    }

    async fn respond(
        &mut self,
        context: &Context,
        request: &Command,
        command_field: u16,
        status: u16,
        sop_instance_uid: Option<&str>,
        error_comment: Option<&str>,
    ) -> Result<(), ProtocolError> {
        self.answered(status);
        let sop_class = request.affected_sop_class_uid();
        let bytes = Response {
            command_field,
            message_id_being_responded_to: request.message_id(),
            status,
            affected_sop_class_uid: if sop_class.is_empty() { &context.abstract_syntax } else { &sop_class },
            affected_sop_instance_uid: sop_instance_uid.filter(|s| !s.is_empty()),
            error_comment,
        }
        .encode();
        self.send(context.id, &bytes, None).await
    }

    /// The operation in progress is being answered with `status`: once
    /// final (not pending), one access log line (who, from where, which
    /// operation, status, time; never its identifiers or data) and its
    /// metrics.
    pub(crate) fn answered(&mut self, status: u16) {
        if status == 0xFF00 || status == 0xFF01 {
            return;
        }
        let Some((field, started, span)) = self.operation.take() else { return };
        let operation = crate::trace::operation_name(field);
        crate::trace::record_status(&span, status);
        let took = started.elapsed();
        self.archive.metrics().observe_dimse(operation, status, took);
        tracing::info!(
            target: "yunying::access",
            face = "dimse",
            who = %format_args!("ae:{}", self.caller.calling_ae),
            client = %self.peer.ip(),
            operation,
            status = %format_args!("{status:04X}"),
            ms = took.as_secs_f64() * 1000.0,
            "operation"
        );
    }

    /// Read what the peer sent while an operation runs: without waiting
    /// (`wait` = None) or for at most `wait`. C-CANCEL of the current
    /// operation and responses are recorded; anything else is a protocol
    /// error (one operation at a time).
    pub(crate) async fn pump(&mut self, wait: Option<std::time::Duration>) -> Result<(), ProtocolError> {
        let max = self.config.max_pdu_length;
        let raw = match wait {
            None => match self.reader.ready(&mut self.socket, max).await {
                None => return Ok(()),
                Some(r) => r,
            },
            Some(d) => self.reader.next_within(&mut self.socket, max, d).await,
        };
        let raw = raw.map_err(|e| match e {
            PduError::Timeout => ProtocolError("timed out waiting for the peer"),
            _ => ProtocolError("the peer closed the connection during an operation"),
        })?;
        match raw.pdu_type {
            pdu::P_DATA_TF => {}
            pdu::ABORT => return Err(ProtocolError("the peer aborted during an operation")),
            _ => return Err(ProtocolError("unexpected PDU during an operation")),
        }
        for pdv in pdu::split_pdata(raw.body).map_err(|_| ProtocolError("malformed P-DATA"))? {
            if !pdv.is_command {
                return Err(ProtocolError("a data set arrived while an operation runs"));
            }
            let (_, bytes) = self.partial.get_or_insert_with(|| (pdv.context_id, BytesMut::new()));
            if bytes.len() + pdv.data.len() > MAX_COMMAND_BYTES {
                return Err(ProtocolError("command set too large"));
            }
            bytes.extend_from_slice(&pdv.data);
            if !pdv.is_last {
                continue;
            }
            let (_, bytes) = self.partial.take().unwrap_or_default();
            let command = Command::decode(&bytes).ok_or(ProtocolError("malformed command set"))?;
            match command.command_field() {
                Some(C_CANCEL_RQ) => {
                    if command.message_id_being_responded_to().is_some() && command.message_id_being_responded_to() == self.current {
                        self.cancel_requested = true;
                    }
                }
                Some(f) if f & RESPONSE != 0 => self.on_response(command).await?,
                _ => return Err(ProtocolError("a request arrived while another is in progress")),
            }
        }
        Ok(())
    }
}

#[derive(Debug)]
pub struct ProtocolError(pub &'static str);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}
