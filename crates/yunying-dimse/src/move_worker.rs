//! The sending side of C-MOVE: workers that each open a sub-association
//! to the destination and send instances from a shared queue, reporting
//! each sub-operation back to the association that asked.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use yunying_archive::InstanceData;
use yunying_archive::syntax::{EXPLICIT_VR_LE, IMPLICIT_VR_LE};

use crate::client::{Client, ClientError, Proposal};
use crate::retrieve;

/// Most presentation contexts in one association (odd IDs 1..=255).
const MAX_CONTEXTS: usize = 128;

/// What a C-MOVE worker reports.
pub(crate) enum MoveEvent {
    /// One sub-operation finished (`None`: failed without a status).
    Done { uid: String, status: Option<u16> },
    /// The worker stopped: the queue is empty, the operation was cancelled,
    /// or its association could not be opened or broke (`error`).
    Ended { error: Option<String> },
}

/// One sub-association of a C-MOVE.
pub(crate) struct MoveWorker {
    pub(crate) archive: yunying_archive::Archive,
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) our_aet: String,
    pub(crate) destination: String,
    pub(crate) proposals: Arc<Vec<Proposal>>,
    pub(crate) timeout: std::time::Duration,
    pub(crate) originator: (String, u16),
    pub(crate) queue: Arc<Mutex<VecDeque<InstanceData>>>,
    pub(crate) stop: Arc<AtomicBool>,
    pub(crate) events: mpsc::UnboundedSender<MoveEvent>,
}

impl MoveWorker {
    pub(crate) async fn run(self) {
        let error = self.send_all().await.err();
        let _ = self.events.send(MoveEvent::Ended { error });
    }

    async fn send_all(&self) -> Result<(), String> {
        let mut client = Client::connect(&self.host, self.port, &self.our_aet, &self.destination, &self.proposals, &[], self.timeout)
            .await
            .map_err(|e| e.to_string())?;
        // The next instance is read while the destination stores the
        // current one: its round trip hides our read.
        let mut next = self.prepare(&client);
        while let Some(current) = next.take() {
            if self.stop.load(Ordering::Relaxed) {
                self.put_back(current);
                break;
            }
            let uid = current.data.stored.sop_instance_uid.clone();
            let dataset = match current.dataset.await {
                Ok(Ok(d)) => d,
                Ok(Err(e)) => {
                    tracing::warn!(destination = %self.destination, error = %e, "C-MOVE: instance cannot be sent in an accepted syntax");
                    let _ = self.events.send(MoveEvent::Done { uid, status: None });
                    next = self.prepare(&client);
                    continue;
                }
                Err(e) => {
                    tracing::warn!(destination = %self.destination, error = %e, "C-MOVE: reading an instance failed");
                    let _ = self.events.send(MoveEvent::Done { uid, status: None });
                    next = self.prepare(&client);
                    continue;
                }
            };
            next = self.prepare(&client);
            let originator = Some((self.originator.0.as_str(), self.originator.1));
            let sop_class_uid = &current.data.stored.sop_class_uid;
            match client.store(&self.archive, current.context_id, sop_class_uid, &uid, &dataset, originator).await {
                Ok(status) => {
                    self.archive.metrics().dimse_sent("C-MOVE", retrieve::dataset_len(&dataset));
                    let _ = self.events.send(MoveEvent::Done { uid, status: Some(status) });
                }
                Err(ClientError::Unreadable(e)) => {
                    tracing::warn!(destination = %self.destination, error = %e, "C-MOVE: a stored instance cannot be read");
                    let _ = self.events.send(MoveEvent::Done { uid, status: None });
                }
                Err(e) => {
                    let _ = self.events.send(MoveEvent::Done { uid, status: None });
                    if let Some(prepared) = next.take() {
                        self.put_back(prepared);
                    }
                    client.abort().await;
                    return Err(e.to_string());
                }
            }
        }
        client.release().await;
        Ok(())
    }

    /// Take the next instance from the queue and start reading it, in a
    /// syntax the destination accepted. Instances whose SOP class it
    /// accepted in no syntax fail here.
    fn prepare(&self, client: &Client) -> Option<Prepared> {
        loop {
            if self.stop.load(Ordering::Relaxed) {
                return None;
            }
            let data = self.queue.lock().unwrap_or_else(|p| p.into_inner()).pop_front()?;
            let chosen = retrieve::syntaxes_for(&data)
                .into_iter()
                .find_map(|ts| client.context(&data.stored.sop_class_uid, ts).map(|c| (c.id, c.transfer_syntax.clone())));
            let Some((context_id, ts)) = chosen else {
                tracing::info!(destination = %self.destination, "C-MOVE: the destination accepted no context for an instance's SOP class");
                let _ = self.events.send(MoveEvent::Done { uid: data.stored.sop_instance_uid.clone(), status: None });
                continue;
            };
            let (archive, for_read) = (self.archive.clone(), data.clone());
            let dataset = tokio::spawn(tracing::Instrument::in_current_span(async move { archive.network_dataset(&for_read, &ts).await }));
            return Some(Prepared { data, context_id, dataset });
        }
    }

    /// An instance taken but not sent goes back to the front of the queue
    /// (for another association, or the remaining count).
    fn put_back(&self, prepared: Prepared) {
        prepared.dataset.abort();
        self.queue.lock().unwrap_or_else(|p| p.into_inner()).push_front(prepared.data);
    }
}

/// An instance taken from a C-MOVE's queue, being read.
struct Prepared {
    data: InstanceData,
    context_id: u8,
    dataset: tokio::task::JoinHandle<Result<yunying_archive::NetworkDataset, yunying_archive::RetrieveError>>,
}

/// Presentation contexts for sending `instances`: per SOP class, one
/// offering Explicit and Implicit VR Little Endian (the fallback, first so
/// that it survives the 128-context limit), and one per stored syntax.
pub(crate) fn proposals_for(instances: &[InstanceData]) -> Vec<Proposal> {
    let pairs: BTreeSet<(&str, &str)> =
        instances.iter().map(|d| (d.stored.sop_class_uid.as_str(), d.stored.transfer_syntax_uid.as_str())).collect();
    let classes: BTreeSet<&str> = pairs.iter().map(|(c, _)| *c).collect();
    let mut out = Vec::new();
    for class in &classes {
        out.push(Proposal {
            abstract_syntax: class.to_string(),
            transfer_syntaxes: vec![EXPLICIT_VR_LE.to_string(), IMPLICIT_VR_LE.to_string()],
        });
    }
    for (class, ts) in &pairs {
        out.push(Proposal { abstract_syntax: class.to_string(), transfer_syntaxes: vec![ts.to_string()] });
    }
    if out.len() > MAX_CONTEXTS {
        tracing::warn!(
            contexts = out.len(),
            "more SOP class / transfer syntax pairs than an association can carry; the rest are sent decompressed"
        );
        out.truncate(MAX_CONTEXTS);
    }
    out
}
