//! Storage commitment reports owed to requesters that are no longer on the
//! association that asked, delivered on a new association to the
//! requester's registered AE.
//!
//! Every accepted N-ACTION is in the index (`commitment_requests`) before
//! it is answered. A report acknowledged on its association removes it;
//! otherwise one node at a time (the `commitment-delivery` lease) checks
//! the references again, as they stand then, and sends the report, with
//! the requester's rights as the AE registry has them now. A failed
//! delivery is tried again after 2 s, 10 s, 1 min, 5 min, 15 min, then
//! hourly, and given up a day after the request (a warning says so; the
//! requester then still holds its copies, which is what it does without a
//! report). A node that stops, gracefully or not, leaves the rest to the
//! next node or the next start.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use yunying_access::{Action, Denied, Principal};
use yunying_archive::Archive;
use yunying_archive::syntax::{EXPLICIT_VR_LE, IMPLICIT_VR_LE};
use yunying_index::CommitmentRequest;

use crate::DimseConfig;
use crate::association::STORAGE_COMMITMENT_PUSH;
use crate::client::{Client, Proposal};
use crate::commitment::{Report, Request, check, event_report_command};

/// The lease that makes one node at a time deliver, renewed before each
/// delivery (a delivery is bounded by the connect and DIMSE timeouts); a
/// node that dies holding it delays the others by at most this.
const LEASE: &str = "commitment-delivery";
const LEASE_MS: i64 = 20_000;
/// How long a request waits for its own association to acknowledge the
/// report before a node delivers it anew (a node killed with the
/// association open leaves it so long).
pub(crate) const HOLD_MS: i64 = 5 * 60_000;
/// Requests given up this long after they came.
const GIVE_UP_MS: i64 = 24 * 3_600_000;
/// Deliveries per round.
const BATCH: i64 = 16;
/// How often due reports are looked for.
const EVERY: Duration = Duration::from_secs(1);

/// When to try again after `attempts` failed deliveries.
fn retry_after_ms(attempts: i64) -> i64 {
    match attempts {
        ..=1 => 2_000,
        2 => 10_000,
        3 => 60_000,
        4 => 300_000,
        5 => 900_000,
        _ => 3_600_000,
    }
}

/// Deliver owed reports until `stop` turns true, as `holder` of the lease.
/// A delivery under way when it does is finished (each is bounded by the
/// connect and DIMSE timeouts).
pub(crate) async fn run(archive: Archive, access: yunying_access::Access, config: Arc<DimseConfig>, mut stop: watch::Receiver<bool>) {
    let holder = format!("{}:{}:{:x}", config.aet, std::process::id(), yunying_access::now_ms());
    loop {
        if let Err(e) = round(&archive, &access, &config, &holder).await {
            tracing::warn!(error = %e, "storage commitment deliveries: round failed");
        }
        tokio::select! {
            _ = stop.wait_for(|s| *s) => break,
            _ = tokio::time::sleep(EVERY) => {}
        }
    }
    let _ = archive.index().release_lease(LEASE, &holder).await;
}

/// Deliver what is due now, if this node holds the lease.
async fn round(archive: &Archive, access: &yunying_access::Access, config: &DimseConfig, holder: &str) -> yunying_index::Result<()> {
    let due = archive.index().commitments_due(yunying_access::now_ms(), BATCH).await?;
    for owed in due {
        let now = yunying_access::now_ms();
        if !archive.index().try_lease(LEASE, holder, now, now + LEASE_MS).await? {
            return Ok(());
        }
        match deliver(archive, access, config, &owed).await {
            Ok(()) => archive.index().commitment_done(owed.id).await?,
            Err(why) if yunying_access::now_ms() - owed.received_ms >= GIVE_UP_MS => {
                tracing::warn!(requester = %owed.requester, attempts = owed.attempts + 1, error = %why,
                    "storage commitment report given up a day after the request");
                archive.index().commitment_done(owed.id).await?;
            }
            Err(why) => {
                let wait = retry_after_ms(owed.attempts + 1);
                tracing::warn!(requester = %owed.requester, attempts = owed.attempts + 1, retry_in_secs = wait / 1000, error = %why,
                    "storage commitment report delivery failed");
                archive.index().commitment_failed(owed.id, yunying_access::now_ms() + wait, &why).await?;
            }
        }
    }
    Ok(())
}

/// Check `owed` again and send its report to the requester's registered AE.
async fn deliver(archive: &Archive, access: &yunying_access::Access, config: &DimseConfig, owed: &CommitmentRequest) -> Result<(), String> {
    let ae = match archive.index().remote_ae(&owed.requester).await {
        Ok(Some(ae)) => ae,
        Ok(None) => return Err("the requester is not in the AE registry".into()),
        Err(e) => return Err(format!("AE registry unavailable: {e}")),
    };
    let principal = Principal::ae(&owed.requester, Some(&ae.institution), ae.rights, true);
    let scope = match access.scope(&principal, Action::Commit).await {
        Ok(scope) => scope,
        Err(Denied::Unavailable(m)) => return Err(m),
        Err(denied) => return Err(format!("the requester may no longer ask for storage commitment: {denied}")),
    };
    let request = Request { transaction_uid: owed.transaction_uid.clone(), references: owed.references.clone() };
    let report = check(archive, config, &request, scope.as_ref()).await;
    send(config, &ae, &report).await?;
    tracing::info!(requester = %owed.requester, event_type = report.event_type, "storage commitment report delivered on a new association");
    Ok(())
}

async fn send(config: &DimseConfig, ae: &yunying_index::RemoteAe, report: &Report) -> Result<(), String> {
    let proposals = [Proposal {
        abstract_syntax: STORAGE_COMMITMENT_PUSH.to_string(),
        transfer_syntaxes: vec![EXPLICIT_VR_LE.to_string(), IMPLICIT_VR_LE.to_string()],
    }];
    let sent = async {
        let mut client =
            Client::connect(&ae.host, ae.port, &config.aet, &ae.ae_title, &proposals, &[STORAGE_COMMITMENT_PUSH], config.connect_timeout)
                .await?;
        let context = client.accepted[0].clone();
        let id = client.next_message_id();
        let data = crate::dataset::encode(&report.dataset, context.transfer_syntax != IMPLICIT_VR_LE);
        client.send(context.id, &event_report_command(id, report.event_type), Some(&data)).await?;
        let response = client.response(id).await?;
        client.release().await;
        Ok::<_, crate::client::ClientError>(response.status())
    };
    match sent.await {
        Ok(Some(0x0000)) => Ok(()),
        Ok(status) => Err(format!("the requester answered the report with status {status:04X?}")),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_hourly() {
        let waits: Vec<i64> = (1..=8).map(retry_after_ms).collect();
        assert_eq!(waits, [2_000, 10_000, 60_000, 300_000, 900_000, 3_600_000, 3_600_000, 3_600_000]);
        let first_day: i64 = (1..=30).map(retry_after_ms).sum();
        assert!(first_day > GIVE_UP_MS, "about thirty attempts before a request is given up, not thousands");
    }
}
