//! Associations we open: C-STORE sub-operations of a C-MOVE, and storage
//! commitment reports to a requester that has released its association.

use std::time::Duration;

use bytes::BytesMut;
use dicom_ul::Pdu;
use dicom_ul::pdu::{AssociationRQ, PresentationContextProposed, PresentationContextResultReason, RequestorRoles, UserVariableItem};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use yunying_archive::syntax::trim_uid;

use crate::association::APPLICATION_CONTEXT;
use crate::command::{AFFECTED_SOP_CLASS_UID, AFFECTED_SOP_INSTANCE_UID, C_STORE_RQ, Command, CommandBuilder, MESSAGE_ID};
use crate::command::{MOVE_ORIGINATOR_AE_TITLE, MOVE_ORIGINATOR_MESSAGE_ID, PRIORITY};
use crate::pdu::{self, PduError, PduReader};
use crate::tls::Stream;

/// Largest PDU we accept on associations we open.
const OUR_MAX_PDU: u32 = 1 << 20;

/// A presentation context to propose.
#[derive(Debug, Clone)]
pub struct Proposal {
    pub abstract_syntax: String,
    pub transfer_syntaxes: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect: {0}")]
    Connect(std::io::Error),
    #[error("association rejected (result {0}, source {1}, reason {2})")]
    Rejected(u8, u8, u8),
    #[error("no presentation context was accepted")]
    NoContext,
    #[error("protocol error: {0}")]
    Protocol(&'static str),
    #[error("the peer aborted or closed the association")]
    Closed,
    #[error("timed out waiting for the peer")]
    Timeout,
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// The instance to send could not be read; nothing was sent and the
    /// association is intact.
    #[error("{0}")]
    Unreadable(String),
}

impl From<PduError> for ClientError {
    fn from(e: PduError) -> Self {
        match e {
            PduError::Closed => ClientError::Closed,
            PduError::Timeout => ClientError::Timeout,
            PduError::Io(e) => ClientError::Io(e),
            _ => ClientError::Protocol("malformed PDU"),
        }
    }
}

/// An accepted context of an association we opened.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub id: u8,
    pub abstract_syntax: String,
    pub transfer_syntax: String,
}

/// An open association, we the requestor.
pub struct Client {
    socket: Stream,
    reader: PduReader,
    pub accepted: Vec<Accepted>,
    peer_max_pdu: u32,
    next_message_id: u16,
    timeout: Duration,
}

impl Client {
    /// Connect and negotiate. `scp_role_for`: SOP classes for which we ask
    /// to be the SCP (storage commitment reports we send as requestor).
    pub async fn connect(
        host: &str,
        port: u16,
        calling_ae: &str,
        called_ae: &str,
        proposals: &[Proposal],
        scp_role_for: &[&str],
        timeout: Duration,
    ) -> Result<Client, ClientError> {
        let socket = tokio::time::timeout(timeout, TcpStream::connect((host, port)))
            .await
            .map_err(|_| ClientError::Timeout)?
            .map_err(ClientError::Connect)?;
        let _ = socket.set_nodelay(true);
        let mut user_variables = vec![
            UserVariableItem::MaxLength(OUR_MAX_PDU),
            UserVariableItem::ImplementationClassUID(yunying_archive::meta::IMPLEMENTATION_CLASS_UID.to_string()),
            UserVariableItem::ImplementationVersionName(yunying_archive::meta::IMPLEMENTATION_VERSION_NAME.to_string()),
        ];
        for uid in scp_role_for {
            user_variables.push(UserVariableItem::ScuScpRoleSelectionSubItem(uid.to_string(), RequestorRoles { scu: false, scp: true }));
        }
        let contexts: Vec<PresentationContextProposed> = proposals
            .iter()
            .take(128)
            .enumerate()
            .map(|(i, p)| PresentationContextProposed {
                id: (2 * i + 1) as u8,
                abstract_syntax: p.abstract_syntax.clone(),
                transfer_syntaxes: p.transfer_syntaxes.clone(),
            })
            .collect();
        let rq = Pdu::AssociationRQ(AssociationRQ {
            protocol_version: 1,
            calling_ae_title: calling_ae.to_string(),
            called_ae_title: called_ae.to_string(),
            application_context_name: APPLICATION_CONTEXT.to_string(),
            presentation_contexts: contexts.clone(),
            user_variables,
        });
        let mut bytes = Vec::with_capacity(1024);
        dicom_ul::write_pdu(&mut bytes, &rq).map_err(|_| ClientError::Protocol("cannot encode A-ASSOCIATE-RQ"))?;
        let mut client = Client {
            socket: Stream::Plain(socket),
            reader: PduReader::default(),
            accepted: Vec::new(),
            peer_max_pdu: 0,
            next_message_id: 1,
            timeout,
        };
        client.socket.write_all(&bytes).await?;
        client.socket.flush().await?;
        let raw = client.reader.next_within(&mut client.socket, 256 * 1024, timeout).await?;
        match raw.pdu_type {
            pdu::ASSOCIATE_AC => {}
            pdu::ASSOCIATE_RJ if raw.body.len() >= 4 => return Err(ClientError::Rejected(raw.body[1], raw.body[2], raw.body[3])),
            _ => return Err(ClientError::Protocol("unexpected answer to A-ASSOCIATE-RQ")),
        }
        let mut whole = Vec::with_capacity(6 + raw.body.len());
        whole.extend_from_slice(&[pdu::ASSOCIATE_AC, 0]);
        whole.extend_from_slice(&(raw.body.len() as u32).to_be_bytes());
        whole.extend_from_slice(&raw.body);
        let Ok(Some(Pdu::AssociationAC(ac))) = dicom_ul::read_pdu(&whole[..], 256 * 1024, false) else {
            return Err(ClientError::Protocol("malformed A-ASSOCIATE-AC"));
        };
        for item in &ac.user_variables {
            if let UserVariableItem::MaxLength(n) = item {
                client.peer_max_pdu = *n;
            }
        }
        for result in &ac.presentation_contexts {
            if result.reason != PresentationContextResultReason::Acceptance {
                continue;
            }
            if let Some(proposed) = contexts.iter().find(|c| c.id == result.id) {
                client.accepted.push(Accepted {
                    id: result.id,
                    abstract_syntax: proposed.abstract_syntax.clone(),
                    transfer_syntax: trim_uid(&result.transfer_syntax).to_string(),
                });
            }
        }
        if client.accepted.is_empty() {
            client.abort().await;
            return Err(ClientError::NoContext);
        }
        Ok(client)
    }

    /// The accepted context for a SOP class in a transfer syntax.
    pub fn context(&self, abstract_syntax: &str, transfer_syntax: &str) -> Option<&Accepted> {
        self.accepted.iter().find(|c| c.abstract_syntax == abstract_syntax && c.transfer_syntax == transfer_syntax)
    }

    pub fn next_message_id(&mut self) -> u16 {
        let id = self.next_message_id;
        self.next_message_id = self.next_message_id.wrapping_add(1).max(1);
        id
    }

    /// Send a message.
    pub async fn send(&mut self, context_id: u8, command: &[u8], data: Option<&[u8]>) -> Result<(), ClientError> {
        let write = pdu::write_message(&mut self.socket, context_id, command, data, self.peer_max_pdu);
        tokio::time::timeout(self.timeout, write).await.map_err(|_| ClientError::Timeout)??;
        Ok(())
    }

    /// Wait for the response to `message_id`.
    pub async fn response(&mut self, message_id: u16) -> Result<Command, ClientError> {
        let mut partial = BytesMut::new();
        loop {
            let raw = self.reader.next_within(&mut self.socket, OUR_MAX_PDU, self.timeout).await?;
            match raw.pdu_type {
                pdu::P_DATA_TF => {
                    for pdv in pdu::split_pdata(raw.body)? {
                        if !pdv.is_command {
                            continue;
                        }
                        partial.extend_from_slice(&pdv.data);
                        if !pdv.is_last {
                            continue;
                        }
                        let command = Command::decode(&partial).ok_or(ClientError::Protocol("malformed command set"))?;
                        partial.clear();
                        if command.message_id_being_responded_to() == Some(message_id) {
                            return Ok(command);
                        }
                    }
                }
                pdu::RELEASE_RQ => {
                    let _ = pdu::write_release_rp(&mut self.socket).await;
                    return Err(ClientError::Closed);
                }
                _ => return Err(ClientError::Closed),
            }
        }
    }

    /// C-STORE one data set; returns the response status.
    pub async fn store(
        &mut self,
        archive: &yunying_archive::Archive,
        context_id: u8,
        sop_class_uid: &str,
        sop_instance_uid: &str,
        dataset: &yunying_archive::NetworkDataset,
        move_originator: Option<(&str, u16)>,
    ) -> Result<u16, ClientError> {
        let id = self.next_message_id();
        let mut command = CommandBuilder::new(C_STORE_RQ)
            .with_data_set()
            .uid(AFFECTED_SOP_CLASS_UID, sop_class_uid)
            .us(MESSAGE_ID, id)
            .us(PRIORITY, 0)
            .uid(AFFECTED_SOP_INSTANCE_UID, sop_instance_uid);
        if let Some((ae, message_id)) = move_originator {
            command = command.text(MOVE_ORIGINATOR_AE_TITLE, ae).us(MOVE_ORIGINATOR_MESSAGE_ID, message_id);
        }
        let sent =
            crate::retrieve::send_store(&mut self.socket, archive, context_id, &command.encode(), dataset, self.peer_max_pdu, self.timeout)
                .await;
        match sent {
            Ok(()) => {}
            Err(crate::retrieve::SendError::Source(e)) => return Err(ClientError::Unreadable(e.to_string())),
            Err(crate::retrieve::SendError::Broken(e)) => return Err(ClientError::Io(std::io::Error::other(e))),
        }
        let response = self.response(id).await?;
        response.status().ok_or(ClientError::Protocol("response without a status"))
    }

    /// Release the association (bounded wait for the reply).
    pub async fn release(mut self) {
        if pdu::write_release_rq(&mut self.socket).await.is_err() {
            return;
        }
        let wait = async {
            loop {
                match self.reader.next(&mut self.socket, OUR_MAX_PDU).await {
                    Ok(raw) if raw.pdu_type == pdu::RELEASE_RP => return,
                    Ok(_) => continue,
                    Err(_) => return,
                }
            }
        };
        let _ = tokio::time::timeout(self.timeout, wait).await;
        let _ = self.socket.shutdown().await;
    }

    pub async fn abort(mut self) {
        let _ = pdu::write_abort(&mut self.socket, 0).await;
        let _ = self.socket.shutdown().await;
    }
}
