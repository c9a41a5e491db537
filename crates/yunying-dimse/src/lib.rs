//! The DICOM network service on tokio: C-ECHO and C-STORE SCP, C-FIND,
//! C-MOVE and C-GET SCP (Patient Root and Study Root), and the Storage
//! Commitment Push Model SCP.
//!
//! Associations are negotiated here on dicom-ul's PDU codec (so we choose
//! transfer syntaxes: compressed ones first for storage) and their P-DATA is
//! streamed into the archive's ingest path. Every socket gets TCP_NODELAY; every read
//! has a timeout; the number of concurrent associations is bounded, per
//! address too, and idle ones give way to new callers (`admission`);
//! C-ECHO is open to anyone, every other service needs a right (`access`);
//! shutdown stops accepting, lets in-flight C-STOREs finish, then aborts
//! idle associations.
//!
//! Architecture invariant: a C-STORE success response is written only after
//! `Incoming::finish` returned, i.e. after the instance is durable.

mod access;
mod admission;
mod association;
mod audit;
mod client;
mod command;
mod commitment;
mod commitment_delivery;
mod dataset;
mod find;
#[doc(hidden)]
pub mod fuzzing;
mod move_worker;
mod operations;
mod pdu;
mod push;
mod retrieve;
mod service;
mod tls;
mod trace;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use yunying_archive::Archive;

pub use access::UnknownCallers;
use admission::{Admission, Refusal, Slot};
use association::{Negotiated, negotiate};
pub use push::{Outcome, push};
pub use tls::{DicomTls, TlsListener};

/// Settings of the DICOM service.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DimseConfig {
    /// Our AE title.
    pub aet: String,
    /// Reject associations whose called AE title is not ours.
    pub check_called_ae: bool,
    /// Most associations open at once (connections waiting for their
    /// A-ASSOCIATE-RQ included). When all are taken, a new one takes the
    /// slot of one idle for `evict_idle_after` or more (aborted), from the
    /// address holding the most; if none is, it is rejected (transient).
    pub max_associations: usize,
    /// Most associations from one address; beyond, a new one takes the slot
    /// of that address's longest-idle one (idle for `evict_idle_after`), or
    /// is rejected if none is.
    /// Raise it (up to `max_associations`) when many senders share one
    /// address (NAT).
    pub max_associations_per_address: usize,
    /// How long an association must have waited for its peer before a new
    /// caller may take its slot at a limit; 0 = never evict (associations
    /// beyond a limit are rejected).
    #[serde(with = "secs")]
    pub evict_idle_after: Duration,
    /// What calling AEs not in the AE registry may do: "echo" (C-ECHO
    /// only) or "demo-store" (C-ECHO and C-STORE from anyone: demos only).
    /// Registered AEs have the rights registered for them.
    pub unknown_callers: UnknownCallers,
    /// A registered AE title is recognised only on associations from the
    /// AE's registered host (address, or a name resolving to it).
    pub check_calling_host: bool,
    /// Storage commitment reports an association may leave unacknowledged;
    /// a further N-ACTION is refused (0213H, resource limitation).
    pub max_pending_reports: usize,
    /// Storage commitment reports owed to one requester AE at once, across
    /// its associations and the nodes (kept in the index until
    /// acknowledged or given up); a further N-ACTION is refused (0213H).
    pub max_owed_reports: usize,
    /// Largest PDU we accept (bytes), advertised in the A-ASSOCIATE-AC.
    pub max_pdu_length: u32,
    /// How long an idle association may wait between requests.
    #[serde(with = "secs")]
    pub idle_timeout: Duration,
    /// How long a peer may stall in the middle of a request.
    #[serde(with = "secs")]
    pub data_timeout: Duration,
    /// How long connecting to a C-MOVE destination (or a storage commitment
    /// requester) may take.
    #[serde(with = "secs")]
    pub connect_timeout: Duration,
    /// Person names match case-insensitively in C-FIND (`Wang*` finds
    /// `WANG^WEI`); false matches case as written.
    pub case_insensitive_names: bool,
    /// Most matches a C-FIND returns; beyond it the search ends with status
    /// A700 (out of resources) and a comment, after the first matches.
    pub max_find_results: usize,
    /// Associations a C-MOVE opens to its destination at once (1 to 16).
    /// A destination that takes fewer leaves the rest refused or waiting;
    /// the associations it accepted send everything.
    pub move_associations: usize,
    /// DICOM over TLS on `dicom_tls_port` (`[dicom.tls] cert`, `key`,
    /// optional `client_ca` and `require_client_cert`). Unset: no TLS port.
    pub tls: Option<DicomTls>,
}

impl Default for DimseConfig {
    fn default() -> Self {
        DimseConfig {
            aet: "YUNYING".to_string(),
            check_called_ae: false,
            max_associations: 32,
            max_associations_per_address: 16,
            evict_idle_after: Duration::from_secs(1),
            unknown_callers: UnknownCallers::Echo,
            check_calling_host: true,
            max_pending_reports: 4,
            max_owed_reports: 200,
            max_pdu_length: 1 << 20,
            idle_timeout: Duration::from_secs(120),
            data_timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            case_insensitive_names: true,
            max_find_results: 10_000,
            move_associations: 4,
            tls: None,
        }
    }
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_secs())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_secs(u64::deserialize(d)?))
    }
}

/// Time allowed for the A-ASSOCIATE-RQ after connecting.
const ASSOCIATE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for associations to end.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);
/// An A-ASSOCIATE-RQ larger than this is not a real one.
pub(crate) const MAX_ASSOCIATE_RQ: u32 = 256 * 1024;

/// Serve DICOM on `listener` until `shutdown` completes, then drain.
pub async fn serve(
    listener: TcpListener,
    archive: Archive,
    access: yunying_access::Access,
    config: DimseConfig,
    shutdown: impl Future<Output = ()>,
) {
    serve_with_tls(listener, None, archive, access, config, shutdown).await
}

/// [`serve`], and DICOM over TLS on `tls` when given: one set of
/// association slots and limits for both ports.
pub async fn serve_with_tls(
    listener: TcpListener,
    tls: Option<TlsListener>,
    archive: Archive,
    access: yunying_access::Access,
    config: DimseConfig,
    shutdown: impl Future<Output = ()>,
) {
    let config = Arc::new(config);
    if config.unknown_callers == UnknownCallers::DemoStore {
        tracing::warn!(
            "dicom.unknown_callers = \"demo-store\": any calling AE may C-STORE (for a demo only; C-FIND, C-MOVE, C-GET and storage commitment still need `yunying ae add`)"
        );
    }
    let evict_after = Some(config.evict_idle_after).filter(|d| !d.is_zero());
    let admission = Admission::new(config.max_associations, config.max_associations_per_address, evict_after);
    let refusals = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    // Storage commitment reports owed on new associations: stopped after
    // the associations drain (they may leave reports to it).
    let (deliveries_stop, deliveries_stopped) = watch::channel(false);
    let deliveries = tokio::spawn(commitment_delivery::run(archive.clone(), access.clone(), config.clone(), deliveries_stopped));
    let mut tasks = tokio::task::JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted.map(|(socket, peer)| (socket, peer, None)),
            accepted = accept_tls(tls.as_ref()) => accepted.map(|(socket, peer, acceptor)| (socket, peer, Some(acceptor))),
            _ = &mut shutdown => break,
        };
        let (socket, peer, acceptor) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = socket.set_nodelay(true);
        let slot = admission.admit(peer.ip()).map(|(slot, evicted)| {
            if let Some(e) = evicted {
                tracing::info!(
                    evicted_peer = %e.ip, evicted_calling_ae = %e.calling_ae, idle_secs = e.idle.as_secs(), new_peer = %peer,
                    "association limit reached: aborting an idle association to admit a new one"
                );
            }
            slot
        });
        // A connection without a slot waits for its A-ASSOCIATE-RQ to be
        // told why (A-ASSOCIATE-RJ); at most `max_associations` wait so at
        // once, so silent connections cannot use up our file descriptors.
        // Beyond, it is closed at once.
        let refusing = match &slot {
            Err(_) if refusals.load(Ordering::Relaxed) >= config.max_associations => {
                archive.metrics().associations_rejected_total.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%peer, "association limit reached and too many connections waiting to be rejected; closing");
                continue;
            }
            Err(_) => Some(Waiting::new(&refusals)),
            Ok(_) => None,
        };
        let (archive, access, config, stop) = (archive.clone(), access.clone(), config.clone(), stop_rx.clone());
        tasks.spawn(async move {
            handle(Accepted { socket, acceptor, peer }, archive, access, &config, slot, stop).await;
            drop(refusing);
        });
        while tasks.try_join_next().is_some() {}
    }
    drop((listener, tls));
    let _ = stop_tx.send(true);
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!("associations still open after the drain timeout; closing them");
        tasks.abort_all();
    }
    let _ = deliveries_stop.send(true);
    let _ = deliveries.await;
}

/// The next connection of the TLS port (never, without one).
async fn accept_tls(tls: Option<&TlsListener>) -> std::io::Result<(TcpStream, SocketAddr, yunying_tls::TlsAcceptor)> {
    let Some(tls) = tls else { return std::future::pending().await };
    let (socket, peer) = tls.tcp.accept().await?;
    Ok((socket, peer, tls.acceptor.current()))
}

/// A connection waiting to be rejected, counted while it lives.
struct Waiting(Arc<AtomicUsize>);

impl Waiting {
    fn new(count: &Arc<AtomicUsize>) -> Waiting {
        count.fetch_add(1, Ordering::Relaxed);
        Waiting(count.clone())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection just accepted: its socket, the TLS acceptor of its port
/// (none on the plain port), its peer.
struct Accepted {
    socket: TcpStream,
    acceptor: Option<yunying_tls::TlsAcceptor>,
    peer: SocketAddr,
}

async fn handle(
    accepted: Accepted,
    archive: Archive,
    layer: yunying_access::Access,
    config: &DimseConfig,
    slot: Result<Slot, Refusal>,
    shutdown: watch::Receiver<bool>,
) {
    let Accepted { socket, acceptor, peer } = accepted;
    let metrics = archive.metrics();
    // The TLS handshake and the A-ASSOCIATE-RQ share one time limit.
    let deadline = Instant::now() + ASSOCIATE_TIMEOUT;
    let (mut socket, certificate) = match acceptor {
        None => (tls::Stream::Plain(socket), None),
        Some(acceptor) => {
            let handshake = tls::handshake(acceptor, socket, peer, ASSOCIATE_TIMEOUT);
            let shaken = match &slot {
                Ok(slot) => tokio::select! {
                    shaken = handshake => shaken,
                    _ = slot.evicted() => {
                        tracing::info!(%peer, "connection evicted during its TLS handshake");
                        return;
                    }
                },
                Err(_) => handshake.await,
            };
            match shaken {
                Some(shaken) => shaken,
                None => return,
            }
        }
    };
    let mut reader = pdu::PduReader::default();
    let read_rq = reader.next_within(&mut socket, MAX_ASSOCIATE_RQ, deadline.saturating_duration_since(Instant::now()));
    let received = match &slot {
        Ok(slot) => tokio::select! {
            r = read_rq => r,
            _ = slot.evicted() => {
                tracing::info!(%peer, "connection evicted before its A-ASSOCIATE-RQ");
                return;
            }
        },
        Err(_) => read_rq.await,
    };
    let rq = match received {
        Ok(raw) if raw.pdu_type == pdu::ASSOCIATE_RQ => match pdu::associate_rq(&raw.body, MAX_ASSOCIATE_RQ) {
            Some(rq) => rq,
            None => {
                tracing::info!(%peer, "malformed A-ASSOCIATE-RQ; dropping connection");
                return;
            }
        },
        Ok(_) | Err(_) => {
            tracing::info!(%peer, "connection did not start with an A-ASSOCIATE-RQ; dropping it");
            return;
        }
    };
    let calling_ae = rq.calling_ae_title.trim().to_string();
    let slot = match slot {
        Ok(slot) if slot.busy() => slot,
        Ok(_) => return, // evicted just as its request arrived
        Err(refusal) => {
            metrics.associations_rejected_total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let why = match refusal {
                Refusal::AddressLimit => "association limit of its address reached (all busy)",
                Refusal::Full => "association limit reached (all busy)",
            };
            tracing::warn!(%peer, calling_ae = %calling_ae, "{why}; rejecting");
            let _ = pdu::write_reject(&mut socket, 2, 3, 2).await;
            return;
        }
    };
    slot.set_calling_ae(&calling_ae);
    match negotiate(rq, Some(peer.ip()), config, archive.config()) {
        Negotiated::Reject { result, source, reason, why } => {
            metrics.associations_rejected_total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::warn!(%peer, "association rejected: {why}");
            let _ = pdu::write_reject(&mut socket, result, source, reason).await;
        }
        Negotiated::Accept { ac, caller, accepted } => {
            // An AE with a certificate bound to it is recognised only with it.
            let access = match tls::certificate_bound(&archive, &caller.calling_ae, peer, certificate).await {
                Some(true) => access::lookup(&archive, config, &caller.calling_ae, peer.ip(), caller.known).await,
                Some(false) => access::unregistered(config, &caller.calling_ae, caller.known),
                None => access::registry_unavailable(config, &caller.calling_ae, caller.known),
            };
            // An AE registered for an institution stores that institution's
            // patients, whatever the configured institution rules say.
            let caller = match &access.principal.institution {
                Some(code) => archive.config().caller_of_institution(&caller.calling_ae, code),
                None => caller,
            };
            let usable = accepted.contexts.iter().any(|c| access.permits_service(c.service));
            if !access.registered && !accepted.contexts.is_empty() && !usable {
                metrics.associations_rejected_total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let (result, source, reason) = if access.registry_unavailable {
                    // The caller may well be registered: try again later
                    // (rejected-transient, service user, no reason given),
                    // not "calling AE not recognised", which a modality
                    // takes as final.
                    tracing::warn!(%peer, calling_ae = %caller.calling_ae, "association rejected (transient): the AE registry is unavailable");
                    (2, 1, 1)
                } else {
                    tracing::warn!(%peer, calling_ae = %caller.calling_ae, "association rejected: calling AE title not recognised (not in the AE registry) for the services it proposed");
                    (1, 1, 3)
                };
                let _ = pdu::write_reject(&mut socket, result, source, reason).await;
                return;
            }
            let mut bytes = Vec::with_capacity(512);
            if dicom_ul::write_pdu(&mut bytes, &ac).is_err() {
                return;
            }
            let sent = async {
                tokio::io::AsyncWriteExt::write_all(&mut socket, &bytes).await?;
                tokio::io::AsyncWriteExt::flush(&mut socket).await
            };
            if sent.await.is_err() {
                return;
            }
            if !caller.known {
                tracing::info!(%peer, calling_ae = %caller.calling_ae, "association from an AE of no configured institution");
            }
            metrics.associations_total.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            metrics.associations_active.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if let Some(certificate) = certificate {
                tracing::debug!(%peer, calling_ae = %caller.calling_ae, certificate = %tls::hex(certificate), "association over TLS with a client certificate");
            }
            let link = service::Link { socket, reader, peer, slot: &slot, access, layer, peer_certificate_sha256: certificate };
            service::Association::new(link, &archive, config, caller, accepted, shutdown).run().await;
            metrics.associations_active.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}
