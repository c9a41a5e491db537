//! Sending stored instances to a remote AE on our own initiative (C-STORE
//! SCU): the import of a cloud film into another hospital's PACS.
//!
//! One association; each instance goes in its stored transfer syntax when
//! the peer accepts it (so the peer receives the original bytes), decoded to
//! Explicit or Implicit VR Little Endian otherwise.

use std::time::Duration;

use yunying_archive::{Archive, InstanceData};

use crate::client::{Client, ClientError};
use crate::move_worker::proposals_for;
use crate::retrieve::syntaxes_for;

/// The result of one instance: the peer's status, or why it was not sent.
pub type Outcome = Result<u16, String>;

/// Send `instances` to `called_ae` at `host:port`, reporting each outcome
/// to `on_done` as it arrives. An error is returned when the association
/// cannot be opened or breaks (instances not yet sent are not reported).
pub async fn push(
    archive: &Archive,
    (host, port): (&str, u16),
    calling_ae: &str,
    called_ae: &str,
    instances: &[InstanceData],
    timeout: Duration,
    mut on_done: impl FnMut(&InstanceData, Outcome),
) -> Result<(), String> {
    let proposals = proposals_for(instances);
    let mut client = Client::connect(host, port, calling_ae, called_ae, &proposals, &[], timeout).await.map_err(|e| e.to_string())?;
    for data in instances {
        let uid = &data.stored.sop_instance_uid;
        let chosen = syntaxes_for(data)
            .into_iter()
            .find_map(|ts| client.context(&data.stored.sop_class_uid, ts).map(|c| (c.id, c.transfer_syntax.clone())));
        let Some((context_id, ts)) = chosen else {
            on_done(data, Err("the destination accepted no presentation context for this SOP class".into()));
            continue;
        };
        let dataset = match archive.network_dataset(data, &ts).await {
            Ok(d) => d,
            Err(e) => {
                on_done(data, Err(format!("cannot be sent in an accepted transfer syntax: {e}")));
                continue;
            }
        };
        match client.store(archive, context_id, &data.stored.sop_class_uid, uid, &dataset, None).await {
            Ok(status) => on_done(data, Ok(status)),
            Err(ClientError::Unreadable(e)) => on_done(data, Err(e)),
            Err(e) => {
                client.abort().await;
                return Err(e.to_string());
            }
        }
    }
    client.release().await;
    Ok(())
}
