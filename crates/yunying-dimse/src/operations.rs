//! C-FIND, C-MOVE, C-GET and N-ACTION (storage commitment) on an
//! association.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use serde_json::{Map, Value as Json};
use yunying_archive::InstanceData;

use crate::association::{Context, STORAGE_COMMITMENT_PUSH, Service};
use crate::client::ClientError;
use crate::command::*;
use yunying_access::Action;

use crate::commitment::{self, WELL_KNOWN_INSTANCE};
use crate::commitment_delivery::HOLD_MS;
use crate::find::{self, Failure, IDENTIFIER_MISMATCH};
use crate::move_worker::{MoveEvent, MoveWorker, proposals_for};
use crate::retrieve::{self, CANCEL, MOVE_DESTINATION_UNKNOWN, PENDING, Progress, UNABLE_TO_PERFORM_SUBOPERATIONS};
use crate::service::{Association, ProtocolError};

/// Refused: out of resources (the C-FIND result cap).
const OUT_OF_RESOURCES: u16 = 0xA700;
/// Pending C-MOVE / C-GET responses (progress counts) go out at most this
/// often: one per sub-operation would make a fast retrieve spend its time
/// on progress messages.
const PENDING_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// A response to send: status, sub-operation counts, comment, data set.
struct Reply<'a> {
    status: u16,
    progress: Option<&'a Progress>,
    comment: Option<&'a str>,
    data: Option<Map<String, Json>>,
}

impl Reply<'_> {
    fn status(status: u16) -> Self {
        Reply { status, progress: None, comment: None, data: None }
    }
}

/// The studies of the instances a retrieve matched, each once.
fn studies_of(instances: &[InstanceData]) -> Vec<String> {
    let mut studies: Vec<String> = instances.iter().map(|i| i.stored.study_instance_uid.clone()).collect();
    studies.sort();
    studies.dedup();
    studies
}

impl Association<'_> {
    /// A request with a data set: dispatch on its command field.
    pub(crate) async fn operation(&mut self, context: &Context, command: &Command, bytes: Option<Vec<u8>>) -> Result<(), ProtocolError> {
        let field = command.command_field().unwrap_or(0);
        let Some(bytes) = bytes else {
            let reply = Reply { comment: Some("the request data set is too large"), ..Reply::status(0xC000) };
            return self.reply(context, command, field | RESPONSE, reply).await;
        };
        let dataset = match yunying_archive::metadata::network_dataset_json(&bytes, context.explicit_vr()) {
            Ok(d) => d,
            Err(e) => {
                let comment = format!("malformed data set: {e}");
                let status = if field == N_ACTION_RQ { 0x0110 } else { IDENTIFIER_MISMATCH };
                let reply = Reply { comment: Some(&comment), ..Reply::status(status) };
                return self.reply(context, command, field | RESPONSE, reply).await;
            }
        };
        match (field, context.service) {
            (C_FIND_RQ, Service::Find { patient_root }) => self.c_find(context, command, patient_root, &dataset).await,
            (C_MOVE_RQ, Service::Move { patient_root }) => self.c_move(context, command, patient_root, &dataset).await,
            (C_GET_RQ, Service::Get { patient_root }) => self.c_get(context, command, patient_root, &dataset).await,
            (N_ACTION_RQ, Service::Commitment) => self.n_action(context, command, &dataset).await,
            _ => {
                let reply = Reply { comment: Some("operation not supported on this presentation context"), ..Reply::status(0x0211) };
                self.reply(context, command, field | RESPONSE, reply).await
            }
        }
    }

    async fn reply(&mut self, context: &Context, request: &Command, field: u16, reply: Reply<'_>) -> Result<(), ProtocolError> {
        self.answered(reply.status);
        let sop_class = request.affected_sop_class_uid();
        let mut b = CommandBuilder::new(field)
            .uid(AFFECTED_SOP_CLASS_UID, if sop_class.is_empty() { &context.abstract_syntax } else { &sop_class })
            .us(MESSAGE_ID_BEING_RESPONDED_TO, request.message_id())
            .us(STATUS, reply.status);
        if let Some(p) = reply.progress {
            if reply.status == PENDING || reply.status == CANCEL {
                b = b.us(REMAINING_SUBOPERATIONS, p.remaining);
            }
            b = b.us(COMPLETED_SUBOPERATIONS, p.completed).us(FAILED_SUBOPERATIONS, p.failed()).us(WARNING_SUBOPERATIONS, p.warning);
        }
        if let Some(comment) = reply.comment {
            b = b.text(ERROR_COMMENT, &comment.chars().take(64).collect::<String>());
        }
        let data = reply.data.map(|d| crate::dataset::encode(&d, context.explicit_vr()));
        if data.is_some() {
            b = b.with_data_set();
        }
        self.send(context.id, &b.encode(), data.as_deref()).await?;
        if let Some(data) = data {
            self.archive.metrics().dimse_sent(crate::trace::operation_name(field & !RESPONSE), data.len() as u64);
        }
        Ok(())
    }

    async fn c_find(
        &mut self,
        context: &Context,
        command: &Command,
        patient_root: bool,
        identifier: &Map<String, Json>,
    ) -> Result<(), ProtocolError> {
        const RSP: u16 = C_FIND_RQ | RESPONSE;
        let started = std::time::Instant::now();
        let scoped = match self.scope(Action::Search).await {
            Ok(scope) => find::find(self.archive, self.config, patient_root, identifier, self.accepted.find, scope).await,
            Err(refused) => Err(refused),
        };
        let level = find::level(identifier, patient_root).ok();
        let found = match scoped {
            Ok(found) => found,
            Err(Failure { status, comment }) => {
                tracing::info!(calling_ae = %self.caller.calling_ae, status = format_args!("{status:04X}"), "C-FIND refused: {comment}");
                self.record_find(identifier, level, status, None).await;
                return self.reply(context, command, RSP, Reply { comment: Some(&comment), ..Reply::status(status) }).await;
            }
        };
        let searched = started.elapsed();
        self.begin(command);
        let count = found.responses.len();
        let status = if found.capped { OUT_OF_RESOURCES } else { 0x0000 };
        self.record_find(identifier, level, status, Some(count)).await;
        for response in found.responses {
            self.pump(None).await?;
            if self.cancel_requested {
                self.current = None;
                return self.reply(context, command, RSP, Reply::status(CANCEL)).await;
            }
            self.reply(context, command, RSP, Reply { data: Some(response), ..Reply::status(PENDING) }).await?;
        }
        self.current = None;
        tracing::info!(
            calling_ae = %self.caller.calling_ae,
            matches = count,
            capped = found.capped,
            search_ms = searched.as_secs_f64() * 1000.0,
            total_ms = started.elapsed().as_secs_f64() * 1000.0,
            "C-FIND"
        );
        if found.capped {
            let comment = format!("more than {} matches; narrow the query", self.config.max_find_results);
            return self.reply(context, command, RSP, Reply { comment: Some(&comment), ..Reply::status(OUT_OF_RESOURCES) }).await;
        }
        self.reply(context, command, RSP, Reply::status(0x0000)).await
    }

    fn begin(&mut self, command: &Command) {
        self.current = Some(command.message_id());
        self.cancel_requested = false;
        self.awaiting_store = None;
        self.store_response = None;
    }

    async fn c_move(
        &mut self,
        context: &Context,
        command: &Command,
        patient_root: bool,
        identifier: &Map<String, Json>,
    ) -> Result<(), ProtocolError> {
        const RSP: u16 = C_MOVE_RQ | RESPONSE;
        let destination = command.move_destination();
        let ae = match self.archive.index().remote_ae(&destination).await {
            Ok(Some(ae)) => ae,
            Ok(None) => {
                tracing::info!(calling_ae = %self.caller.calling_ae, destination = %destination, "C-MOVE to an unknown destination");
                let comment = format!("move destination {destination:?} is not in the AE registry");
                self.record_retrieve("C-MOVE", &destination, &[], &Progress::default(), MOVE_DESTINATION_UNKNOWN).await;
                return self
                    .reply(context, command, RSP, Reply { comment: Some(&comment), ..Reply::status(MOVE_DESTINATION_UNKNOWN) })
                    .await;
            }
            Err(e) => {
                let comment = format!("AE registry: {e}");
                return self.reply(context, command, RSP, Reply { comment: Some(&comment), ..Reply::status(0xC000) }).await;
            }
        };
        let scoped = match self.scope(Action::Retrieve).await {
            Ok(scope) => retrieve::instances(self.archive, patient_root, identifier, scope).await,
            Err(refused) => Err(refused),
        };
        let instances = match scoped {
            Ok(i) => i,
            Err(Failure { status, comment }) => {
                self.record_retrieve("C-MOVE", &destination, &[], &Progress::default(), status).await;
                return self.reply(context, command, RSP, Reply { comment: Some(&comment), ..Reply::status(status) }).await;
            }
        };
        let studies = studies_of(&instances);
        let mut progress = Progress::new(instances.len());
        if instances.is_empty() {
            self.record_retrieve("C-MOVE", &destination, &studies, &progress, 0x0000).await;
            return self.reply(context, command, RSP, Reply { progress: Some(&progress), ..Reply::status(0x0000) }).await;
        }
        self.begin(command);
        let started = std::time::Instant::now();
        // Sub-operations run on up to `move_associations` associations at
        // once, each taking the next instance from one queue: the
        // destination's per-instance round trip is overlapped, and an
        // association that cannot be opened or breaks leaves its share to
        // the others.
        let total = instances.len();
        let queue = Arc::new(Mutex::new(instances.into_iter().collect::<VecDeque<_>>()));
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let workers = self.config.move_associations.clamp(1, 16).min(total);
        let proposals = Arc::new(proposals_for(&queue.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect::<Vec<_>>()));
        for _ in 0..workers {
            let worker = MoveWorker {
                archive: self.archive.clone(),
                host: ae.host.clone(),
                port: ae.port,
                our_aet: self.config.aet.clone(),
                destination: ae.ae_title.clone(),
                proposals: proposals.clone(),
                timeout: self.config.connect_timeout,
                originator: (self.caller.calling_ae.clone(), command.message_id()),
                queue: queue.clone(),
                stop: stop.clone(),
                events: tx.clone(),
            };
            tokio::spawn(tracing::Instrument::in_current_span(worker.run()));
        }
        drop(tx);
        let mut last_error: Option<String> = None;
        let mut last_pending = started.checked_sub(PENDING_INTERVAL).unwrap_or(started);
        loop {
            let event = tokio::select! {
                event = rx.recv() => event,
                _ = tokio::time::sleep(std::time::Duration::from_millis(50)) => {
                    self.pump(None).await?;
                    if self.cancel_requested {
                        stop.store(true, Ordering::Relaxed);
                    }
                    continue;
                }
            };
            match event {
                None => break, // every worker ended
                Some(MoveEvent::Done { uid, status }) => {
                    progress.record(&uid, status);
                    self.pump(None).await?;
                    if self.cancel_requested {
                        stop.store(true, Ordering::Relaxed);
                    }
                    if progress.remaining > 0 && last_pending.elapsed() >= PENDING_INTERVAL {
                        last_pending = std::time::Instant::now();
                        self.reply(context, command, RSP, Reply { progress: Some(&progress), ..Reply::status(PENDING) }).await?;
                    }
                }
                Some(MoveEvent::Ended { error }) => {
                    if let Some(e) = error {
                        tracing::warn!(destination = %destination, error = %e, "C-MOVE: a sub-association ended early");
                        last_error = Some(e);
                    }
                }
            }
        }
        // Instances no association could take: failed, unless cancelled
        // (then they are the remaining count).
        let left: Vec<InstanceData> = queue.lock().unwrap_or_else(|p| p.into_inner()).drain(..).collect();
        if !self.cancel_requested && !left.is_empty() {
            progress.fail_rest(&left);
            if progress.completed == 0 && progress.warning == 0 {
                self.current = None;
                let comment = format!("cannot send to {destination}: {}", last_error.unwrap_or_default());
                let reply = Reply {
                    progress: Some(&progress),
                    comment: Some(&comment),
                    data: progress.failed_list(),
                    status: UNABLE_TO_PERFORM_SUBOPERATIONS,
                };
                self.record_retrieve("C-MOVE", &destination, &studies, &progress, UNABLE_TO_PERFORM_SUBOPERATIONS).await;
                return self.reply(context, command, RSP, reply).await;
            }
        }
        self.finish_retrieve(context, command, RSP, &progress, (&destination, &studies), started).await
    }

    async fn finish_retrieve(
        &mut self,
        context: &Context,
        command: &Command,
        rsp: u16,
        progress: &Progress,
        (destination, studies): (&str, &[String]),
        started: std::time::Instant,
    ) -> Result<(), ProtocolError> {
        let cancelled = std::mem::take(&mut self.cancel_requested);
        self.current = None;
        let status = if cancelled { CANCEL } else { progress.final_status() };
        let operation = if rsp == C_MOVE_RQ | RESPONSE { "C-MOVE" } else { "C-GET" };
        self.record_retrieve(operation, destination, studies, progress, status).await;
        tracing::info!(
            calling_ae = %self.caller.calling_ae,
            destination = %destination,
            completed = progress.completed,
            failed = progress.failed(),
            warning = progress.warning,
            cancelled,
            seconds = started.elapsed().as_secs_f64(),
            "{}", if rsp == C_MOVE_RQ | RESPONSE { "C-MOVE" } else { "C-GET" }
        );
        let reply = Reply { progress: Some(progress), data: progress.failed_list(), ..Reply::status(status) };
        self.reply(context, command, rsp, reply).await
    }

    async fn c_get(
        &mut self,
        context: &Context,
        command: &Command,
        patient_root: bool,
        identifier: &Map<String, Json>,
    ) -> Result<(), ProtocolError> {
        const RSP: u16 = C_GET_RQ | RESPONSE;
        let scoped = match self.scope(Action::Retrieve).await {
            Ok(scope) => retrieve::instances(self.archive, patient_root, identifier, scope).await,
            Err(refused) => Err(refused),
        };
        let caller = self.caller.calling_ae.clone();
        let instances = match scoped {
            Ok(i) => i,
            Err(Failure { status, comment }) => {
                self.record_retrieve("C-GET", &caller, &[], &Progress::default(), status).await;
                return self.reply(context, command, RSP, Reply { comment: Some(&comment), ..Reply::status(status) }).await;
            }
        };
        let studies = studies_of(&instances);
        let mut progress = Progress::new(instances.len());
        self.begin(command);
        let started = std::time::Instant::now();
        let mut last_pending = started.checked_sub(PENDING_INTERVAL).unwrap_or(started);
        for data in &instances {
            self.pump(None).await?;
            if self.cancel_requested {
                break;
            }
            let uid = &data.stored.sop_instance_uid;
            let Some(store_context) = self.store_context_for(data) else {
                tracing::info!(calling_ae = %self.caller.calling_ae, "C-GET: no storage context accepted for an instance's SOP class");
                progress.record(uid, None);
                continue;
            };
            let dataset = match self.archive.network_dataset(data, &store_context.transfer_syntax).await {
                Ok(d) => d,
                Err(e) => {
                    tracing::warn!(error = %e, "C-GET: instance cannot be sent in the accepted syntax");
                    progress.record(uid, None);
                    continue;
                }
            };
            let id = self.next_message_id();
            (self.awaiting_store, self.store_response) = (Some(id), None);
            let store = CommandBuilder::new(C_STORE_RQ)
                .with_data_set()
                .uid(AFFECTED_SOP_CLASS_UID, &data.stored.sop_class_uid)
                .us(MESSAGE_ID, id)
                .us(PRIORITY, 0)
                .uid(AFFECTED_SOP_INSTANCE_UID, uid)
                .encode();
            let sent = crate::retrieve::send_store(
                &mut self.socket,
                self.archive,
                store_context.id,
                &store,
                &dataset,
                self.accepted.peer_max_pdu,
                self.config.data_timeout,
            )
            .await;
            match sent {
                Ok(()) => self.archive.metrics().dimse_sent("C-GET", retrieve::dataset_len(&dataset)),
                Err(crate::retrieve::SendError::Source(e)) => {
                    tracing::warn!(error = %e, "C-GET: a stored instance cannot be read");
                    progress.record(uid, None);
                    continue;
                }
                Err(crate::retrieve::SendError::Broken(_)) => return Err(ProtocolError("could not send to the peer")),
            }
            let status = self.store_response(id).await?;
            progress.record(uid, status);
            if progress.remaining > 0 && last_pending.elapsed() >= PENDING_INTERVAL {
                last_pending = std::time::Instant::now();
                self.reply(context, command, RSP, Reply { progress: Some(&progress), ..Reply::status(PENDING) }).await?;
            }
        }
        self.finish_retrieve(context, command, RSP, &progress, (&caller, &studies), started).await
    }

    /// The storage context to send an instance on in a C-GET: the stored
    /// syntax if accepted, else a little endian one; the requestor's SCP
    /// role preferred.
    fn store_context_for(&self, data: &InstanceData) -> Option<Context> {
        let candidates = |scp: bool| {
            retrieve::syntaxes_for(data).into_iter().find_map(|ts| {
                self.accepted.contexts.iter().find(|c| {
                    c.service == Service::Storage
                        && c.requestor_is_scp == scp
                        && c.abstract_syntax == data.stored.sop_class_uid
                        && c.transfer_syntax == ts
                })
            })
        };
        candidates(true).or_else(|| candidates(false)).cloned()
    }

    /// Wait for the C-STORE response of a C-GET sub-operation (the only
    /// C-STORE response the association takes while it waits).
    async fn store_response(&mut self, message_id: u16) -> Result<Option<u16>, ProtocolError> {
        self.awaiting_store = Some(message_id);
        let response = loop {
            if let Some(response) = self.store_response.take() {
                break response;
            }
            self.pump(Some(self.config.data_timeout)).await?;
        };
        self.awaiting_store = None;
        Ok(response.status())
    }

    async fn n_action(&mut self, context: &Context, command: &Command, dataset: &Map<String, Json>) -> Result<(), ProtocolError> {
        let requested_class = command.requested_sop_class_uid();
        let status = if !requested_class.is_empty() && requested_class != STORAGE_COMMITMENT_PUSH {
            Some((0x0118, "no such SOP class".to_string()))
        } else if command.requested_sop_instance_uid() != WELL_KNOWN_INSTANCE {
            Some((0x0117, format!("the SOP instance must be {WELL_KNOWN_INSTANCE}")))
        } else if command.action_type_id() != Some(1) {
            Some((0x0123, "no such action type".to_string()))
        } else {
            None
        };
        let request = match (status, commitment::parse(dataset)) {
            (Some((status, comment)), _) => return self.n_action_response(context, command, status, Some(&comment)).await,
            (None, Err(missing)) => return self.n_action_response(context, command, 0x0120, Some(missing)).await,
            (None, Ok(request)) => request,
        };
        // Instances the caller does not reach are, to it, no such instances.
        let scope = match self.scope(Action::Commit).await {
            Ok(scope) => scope,
            Err(Failure { status, comment }) => return self.n_action_response(context, command, status, Some(&comment)).await,
        };
        // Kept before it is accepted: a report is owed even if this node
        // stops before the requester has it.
        let now = yunying_access::now_ms();
        let kept = self
            .archive
            .index()
            .commitment_received(
                &request.transaction_uid,
                &self.caller.calling_ae,
                &request.references,
                now,
                now + HOLD_MS,
                self.config.max_owed_reports as i64,
            )
            .await;
        let row = match kept {
            Ok(Some(row)) => row,
            Ok(None) => {
                tracing::warn!(calling_ae = %self.caller.calling_ae, "storage commitment refused: too many reports owed to the requester");
                let comment = "resource limitation: too many storage commitment reports owed to this AE; acknowledge them first";
                return self.n_action_response(context, command, 0x0213, Some(comment)).await;
            }
            Err(e) => {
                tracing::warn!(calling_ae = %self.caller.calling_ae, error = %e, "storage commitment refused: the request could not be kept");
                return self.n_action_response(context, command, 0x0110, Some("processing failure: the request could not be kept")).await;
            }
        };
        // Owed until acknowledged; if the association ends first, the
        // report goes out on a new one.
        self.pending_reports.push((None, row));
        self.n_action_response(context, command, 0x0000, None).await?;
        let report = commitment::check(self.archive, self.config, &request, scope.as_ref()).await;
        tracing::info!(
            calling_ae = %self.caller.calling_ae,
            references = request.references.len(),
            event_type = report.event_type,
            "storage commitment"
        );
        let id = self.next_message_id();
        let data = crate::dataset::encode(&report.dataset, context.explicit_vr());
        let sent = self.send(context.id, &commitment::event_report_command(id, report.event_type), Some(&data)).await;
        if sent.is_ok() {
            self.archive.metrics().dimse_sent("N-ACTION", data.len() as u64);
        }
        if let Some(pending) = self.pending_reports.iter_mut().find(|(_, r)| *r == row) {
            pending.0 = Some(id);
        }
        sent
    }

    async fn n_action_response(
        &mut self,
        context: &Context,
        command: &Command,
        status: u16,
        comment: Option<&str>,
    ) -> Result<(), ProtocolError> {
        self.answered(status);
        let mut b = CommandBuilder::new(N_ACTION_RQ | RESPONSE)
            .uid(AFFECTED_SOP_CLASS_UID, STORAGE_COMMITMENT_PUSH)
            .us(MESSAGE_ID_BEING_RESPONDED_TO, command.message_id())
            .us(STATUS, status)
            .uid(AFFECTED_SOP_INSTANCE_UID, WELL_KNOWN_INSTANCE);
        if status == 0 {
            b = b.us(ACTION_TYPE_ID, 1);
        }
        if let Some(comment) = comment {
            b = b.text(ERROR_COMMENT, comment);
        }
        self.send(context.id, &b.encode(), None).await
    }
}

impl From<ClientError> for ProtocolError {
    fn from(_: ClientError) -> Self {
        ProtocolError("sub-association failed")
    }
}
