//! Entry points for the fuzz targets (`fuzz/`): the bytes of one
//! connection as the association handler and the service read them,
//! without a socket, a store or an index. Not an API: hidden from the
//! docs, used by nothing else.

use std::net::{IpAddr, Ipv4Addr};

use yunying_archive::ArchiveConfig;

use crate::association::{Negotiated, negotiate};
use crate::command::Command;
use crate::pdu::{self, PduReader};
use crate::service::{MAX_COMMAND_BYTES, MAX_REQUEST_DATASET};
use crate::{DimseConfig, MAX_ASSOCIATE_RQ, UnknownCallers};

/// Most PDUs read after the association request (each is bounded by the
/// PDU limit; the count only bounds the time of one run).
const MAX_PDUS: usize = 64;

/// A connection's bytes: the A-ASSOCIATE-RQ (framed by our reader,
/// decoded by dicom-ul, negotiated), then P-DATA-TF PDUs split into
/// presentation data values, command fragments joined (within the
/// service's limit) and decoded, data set fragments joined (within the
/// identifier limit) and decoded as a network data set in both encodings.
pub fn connection(bytes: &[u8]) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    runtime.block_on(read_connection(bytes));
}

async fn read_connection(mut input: &[u8]) {
    let config = DimseConfig { unknown_callers: UnknownCallers::DemoStore, ..DimseConfig::default() };
    let mut reader = PduReader::default();
    let Ok(raw) = reader.next(&mut input, MAX_ASSOCIATE_RQ).await else { return };
    if raw.pdu_type != pdu::ASSOCIATE_RQ {
        return;
    }
    let Some(rq) = pdu::associate_rq(&raw.body, MAX_ASSOCIATE_RQ) else { return };
    let explicit = match negotiate(rq, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)), &config, &ArchiveConfig::default()) {
        Negotiated::Accept { accepted, .. } => accepted.contexts.iter().map(|c| (c.id, c.explicit_vr())).collect::<Vec<_>>(),
        Negotiated::Reject { .. } => Vec::new(),
    };
    let mut command: Vec<u8> = Vec::new();
    let mut data: Option<Vec<u8>> = Some(Vec::new());
    for _ in 0..MAX_PDUS {
        let Ok(raw) = reader.next(&mut input, config.max_pdu_length).await else { return };
        if raw.pdu_type != pdu::P_DATA_TF {
            continue;
        }
        let Ok(pdvs) = pdu::split_pdata(raw.body) else { continue };
        for pdv in pdvs {
            if pdv.is_command {
                if command.len() + pdv.data.len() > MAX_COMMAND_BYTES {
                    command.clear();
                    continue;
                }
                command.extend_from_slice(&pdv.data);
                if pdv.is_last {
                    if let Some(c) = Command::decode(&command) {
                        let _ = (c.command_field(), c.message_id(), c.has_data_set(), c.status());
                        let _ = (c.affected_sop_class_uid(), c.affected_sop_instance_uid(), c.move_destination());
                        let _ = (c.requested_sop_class_uid(), c.requested_sop_instance_uid(), c.action_type_id());
                    }
                    command.clear();
                }
            } else {
                match &mut data {
                    Some(bytes) if bytes.len() + pdv.data.len() <= MAX_REQUEST_DATASET => bytes.extend_from_slice(&pdv.data),
                    kept => *kept = None,
                }
                if pdv.is_last {
                    if let Some(bytes) = data.take() {
                        let explicit_vr = explicit.iter().find(|(id, _)| *id == pdv.context_id).is_none_or(|(_, e)| *e);
                        if let Ok(identifier) = yunying_archive::metadata::network_dataset_json(&bytes, explicit_vr) {
                            let _ = crate::find::level(&identifier, true);
                        }
                    }
                    data = Some(Vec::new());
                }
            }
        }
    }
}
