//! One association: the P-DATA loop serving C-ECHO and C-STORE.

use bytes::BytesMut;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use yunying_archive::{Archive, Caller, Incoming, IngestError, StoreContext};

use crate::association::Context;
use crate::command::{Command, Response, C_CANCEL_RQ, C_ECHO_RQ, C_STORE_RQ};
use crate::pdu::{self, PduError};
use crate::DimseConfig;

/// Command sets are small; anything larger is an abuse.
const MAX_COMMAND_BYTES: usize = 64 * 1024;

/// What the association is in the middle of.
enum State {
    Idle,
    /// Collecting command fragments on a presentation context.
    Command { context_id: u8, bytes: BytesMut },
    /// Receiving the data set of a request.
    Data(Box<DataState>),
}

struct DataState {
    context_id: u8,
    command: Command,
    sink: Sink,
}

/// Where the data set of the request in progress goes.
enum Sink {
    /// Into the archive.
    Store(Incoming),
    /// Discarded: the request already failed (answered when the data ends).
    Failed(IngestError),
    /// Discarded: a request with a data set that we do not serve.
    Unsupported,
}

pub struct Association<'a> {
    pub socket: TcpStream,
    pub archive: &'a Archive,
    pub config: &'a DimseConfig,
    pub caller: Caller,
    pub contexts: Vec<Context>,
    pub shutdown: watch::Receiver<bool>,
}

impl Association<'_> {
    /// Serve requests until release, abort, error or shutdown.
    pub async fn run(mut self) {
        let mut state = State::Idle;
        loop {
            let idle = matches!(state, State::Idle);
            let pdu = if idle {
                // Between requests a shutdown may end the association; during
                // one, the request is allowed to finish.
                let mut shutdown = self.shutdown.clone();
                tokio::select! {
                    pdu = pdu::read_pdu(&mut self.socket, self.config.max_pdu_length, self.config.idle_timeout) => pdu,
                    _ = async { let _ = shutdown.wait_for(|s| *s).await; } => {
                        let _ = pdu::write_abort(&mut self.socket, 0).await;
                        return;
                    }
                }
            } else {
                pdu::read_pdu(&mut self.socket, self.config.max_pdu_length, self.config.data_timeout).await
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
                        match self.on_pdv(state, pdv).await {
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

    async fn on_pdv(&mut self, state: State, pdv: pdu::Pdv) -> Result<State, ProtocolError> {
        let Some(context) = self.contexts.iter().find(|c| c.id == pdv.context_id).cloned() else {
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
                if let Sink::Store(incoming) = &mut data.sink {
                    if let Err(e) = incoming.write(pdv.data).await {
                        data.sink = Sink::Failed(e); // dropping the Incoming discards its spool
                    }
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
        match field {
            C_ECHO_RQ => {
                self.respond(&context, &command, 0x8030, 0x0000, None, None).await?;
                Ok(State::Idle)
            }
            C_CANCEL_RQ => Ok(State::Idle),
            C_STORE_RQ if command.has_data_set() => {
                let sink = match self.begin_store(&context, &command).await {
                    Ok(incoming) => Sink::Store(incoming),
                    Err(e) => Sink::Failed(e),
                };
                Ok(State::Data(Box::new(DataState { context_id: context.id, command, sink })))
            }
            _ if command.has_data_set() => {
                Ok(State::Data(Box::new(DataState { context_id: context.id, command, sink: Sink::Unsupported })))
            }
            _ => {
                self.respond(&context, &command, field | 0x8000, 0x0211, None, Some("unrecognized operation")).await?;
                Ok(State::Idle)
            }
        }
    }

    async fn begin_store(&self, context: &Context, command: &Command) -> Result<Incoming, IngestError> {
        if context.abstract_syntax == yunying_archive::syntax::VERIFICATION {
            return Err(IngestError::SopClassMismatch("C-STORE on the Verification context".into()));
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
        };
        self.archive.begin(ctx).await
    }

    /// The last data fragment arrived: finish the operation and respond.
    async fn complete(&mut self, data: DataState, context: &Context) -> Result<(), ProtocolError> {
        let field = data.command.command_field().unwrap_or(0);
        let result = match data.sink {
            Sink::Unsupported => {
                return self
                    .respond(context, &data.command, field | 0x8000, 0x0211, None, Some("unrecognized operation"))
                    .await;
            }
            Sink::Failed(e) => {
                self.archive.metrics().failed(e.reason());
                Err(e)
            }
            Sink::Store(incoming) => incoming.finish().await,
        };
        let sop_instance_uid = data.command.affected_sop_instance_uid();
        match result {
            Ok(_) => self.respond(context, &data.command, 0x8001, 0x0000, Some(&sop_instance_uid), None).await,
            Err(e) => {
                tracing::warn!(
                    calling_ae = %self.caller.calling_ae,
                    status = format_args!("{:04X}", e.dimse_status()),
                    reason = e.reason(),
                    "C-STORE refused: {}",
                    e.comment()
                );
                let comment = e.comment();
                self.respond(context, &data.command, 0x8001, e.dimse_status(), Some(&sop_instance_uid), Some(&comment))
                    .await
            }
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
        let write = pdu::write_command(&mut self.socket, context.id, &bytes);
        match tokio::time::timeout(self.config.data_timeout, write).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(ProtocolError("could not send the response")),
        }
    }
}

#[derive(Debug)]
struct ProtocolError(&'static str);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

