//! Who may do what on the DICOM port.
//!
//! C-ECHO is open to anyone. Every other service needs a right: a calling
//! AE in the AE registry has the rights registered for it (`yunying ae add
//! … --allow store,find,move,get,commit`), read from the index for every
//! association, so a change applies to the next one on every node; by
//! default an AE title is recognised only when the association comes from
//! the registered host (`check_calling_host`). An AE title listed for an
//! institution in `[[archive.institutions]]` (a configured sender) may
//! C-STORE. Anyone else gets what `unknown_callers` says: nothing but
//! C-ECHO, or also C-STORE in a demo.
//!
//! Refusals: an association from an unrecognised AE that proposes only
//! services it may not use is rejected (A-ASSOCIATE-RJ, permanent, service
//! user, "calling AE title not recognised"); otherwise each refused request
//! is answered with status 0124H. PS3.7 Annex C lists 0124H "Refused: Not
//! authorized" among the general failure statuses any DIMSE service may
//! return ("the DIMSE-service-user was not authorized to invoke the
//! operation"); the service-specific failures (A7xx out of resources, A9xx
//! identifier does not match, Cxxx unable to process, A801 move destination
//! unknown) all say something untrue about such a request.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use yunying_access::{Action, Denied, Principal};
use yunying_archive::Archive;
use yunying_index::search::Scope;

use crate::find::Failure;
use yunying_index::AeRights;

use crate::DimseConfig;
use crate::association::Service;
use crate::command::{C_FIND_RQ, C_GET_RQ, C_MOVE_RQ, C_STORE_RQ, N_ACTION_RQ};

/// Refused: not authorized (PS3.7 Annex C, general status).
pub const NOT_AUTHORIZED: u16 = 0x0124;

/// What calling AEs that are not in the AE registry may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum UnknownCallers {
    /// C-ECHO only.
    #[default]
    #[serde(rename = "echo")]
    Echo,
    /// C-ECHO and C-STORE: anyone may send instances. For demos and trials
    /// only (a log line says so when serving).
    #[serde(rename = "demo-store")]
    DemoStore,
}

/// What a caller may do on one association.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub rights: AeRights,
    /// The calling AE is in the registry (and called from its host).
    pub registered: bool,
    /// The registry could not be read: the caller may be registered, so a
    /// refusal for want of rights is transient, not "not recognised".
    pub registry_unavailable: bool,
    /// The caller as the access layer knows it: which studies its queries
    /// and retrievals reach (its institution's, granted ones).
    pub principal: Principal,
}

impl Access {
    /// Whether a presentation context for `service` can be used at all.
    pub fn permits_service(&self, service: Service) -> bool {
        service_right(service).is_none_or(|r| self.rights.contains(r))
    }

    /// The right a request needs, if it lacks it.
    pub fn missing_for(&self, command_field: u16) -> Option<AeRights> {
        command_right(command_field).filter(|r| !self.rights.contains(*r))
    }
}

/// The right a request (command field) needs; `None`: open to anyone.
pub fn command_right(command_field: u16) -> Option<AeRights> {
    match command_field {
        C_STORE_RQ => Some(AeRights::STORE),
        C_FIND_RQ => Some(AeRights::FIND),
        C_MOVE_RQ => Some(AeRights::MOVE),
        C_GET_RQ => Some(AeRights::GET),
        N_ACTION_RQ => Some(AeRights::COMMIT),
        _ => None,
    }
}

fn service_right(service: Service) -> Option<AeRights> {
    match service {
        Service::Verification => None,
        Service::Storage => Some(AeRights::STORE),
        Service::Find { .. } => Some(AeRights::FIND),
        Service::Move { .. } => Some(AeRights::MOVE),
        // A storage context is also how a C-GET retriever receives: it
        // needs no store right for that; the C-GET itself needs `get`.
        Service::Get { .. } => Some(AeRights::GET),
        Service::Commitment => Some(AeRights::COMMIT),
    }
}

/// The rights of `calling_ae` calling from `peer`; `institution_sender`:
/// it is a configured sender of an institution.
pub async fn lookup(archive: &Archive, config: &DimseConfig, calling_ae: &str, peer: IpAddr, institution_sender: bool) -> Access {
    let unknown = unregistered(config, calling_ae, institution_sender);
    let ae = match archive.index().remote_ae(calling_ae).await {
        Ok(Some(ae)) => ae,
        Ok(None) => return unknown,
        Err(e) => {
            tracing::warn!(calling_ae, %peer, error = %e, "AE registry unavailable: the caller is treated as unregistered");
            return registry_unavailable(config, calling_ae, institution_sender);
        }
    };
    if config.check_calling_host && !host_matches(&ae.host, peer).await {
        tracing::warn!(
            calling_ae, %peer, registered_host = %ae.host,
            "calling AE title is registered for another host: treated as unregistered"
        );
        return unknown;
    }
    let rights = ae.rights.union(unknown.rights);
    Access {
        rights,
        registered: true,
        registry_unavailable: false,
        principal: Principal::ae(calling_ae, Some(&ae.institution), rights, true),
    }
}

impl crate::service::Association<'_> {
    /// The studies the caller's `action` reaches now (asked afresh for each
    /// request, so a revoked grant ends at the next one); a refusal is
    /// 0124H, an access layer that cannot answer C000H (unable to process).
    pub(crate) async fn scope(&self, action: Action) -> Result<Option<Scope>, Failure> {
        self.layer.scope(&self.access.principal, action).await.map_err(|denied| match denied {
            Denied::Unavailable(m) => Failure::new(0xC000, m),
            other => Failure::new(NOT_AUTHORIZED, other.to_string()),
        })
    }
}

/// A caller while the AE registry cannot be read: the rights of an
/// unregistered one, marked so that a refusal is transient.
pub fn registry_unavailable(config: &DimseConfig, calling_ae: &str, institution_sender: bool) -> Access {
    Access { registry_unavailable: true, ..unregistered(config, calling_ae, institution_sender) }
}

/// The rights of a caller not recognised as a registered AE.
pub fn unregistered(config: &DimseConfig, calling_ae: &str, institution_sender: bool) -> Access {
    let mut rights = match config.unknown_callers {
        UnknownCallers::Echo => AeRights::NONE,
        UnknownCallers::DemoStore => AeRights::STORE,
    };
    if institution_sender {
        rights = rights.union(AeRights::STORE);
    }
    Access { rights, registered: false, registry_unavailable: false, principal: Principal::ae(calling_ae, None, rights, false) }
}

/// Whether `host` (an address or a name) is `peer`.
async fn host_matches(host: &str, peer: IpAddr) -> bool {
    let peer = peer.to_canonical();
    if let Ok(ip) = host.parse::<IpAddr>() {
        return ip.to_canonical() == peer;
    }
    match tokio::time::timeout(Duration::from_secs(5), tokio::net::lookup_host((host, 0))).await {
        Ok(Ok(mut addrs)) => addrs.any(|a| a.ip().to_canonical() == peer),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hosts_match_by_address_or_name() {
        assert!(host_matches("127.0.0.1", IpAddr::from([127, 0, 0, 1])).await);
        assert!(host_matches("127.0.0.1", "::ffff:127.0.0.1".parse().unwrap()).await);
        assert!(!host_matches("10.0.0.1", IpAddr::from([127, 0, 0, 1])).await);
        assert!(host_matches("localhost", IpAddr::from([127, 0, 0, 1])).await);
    }

    #[test]
    fn echo_needs_no_right_and_the_others_do() {
        let access = |rights, registered| Access {
            rights,
            registered,
            registry_unavailable: false,
            principal: Principal::ae("T", None, rights, registered),
        };
        let echo_only = access(AeRights::NONE, false);
        assert!(echo_only.permits_service(Service::Verification));
        assert!(!echo_only.permits_service(Service::Storage));
        assert_eq!(echo_only.missing_for(C_FIND_RQ), Some(AeRights::FIND));
        assert_eq!(echo_only.missing_for(crate::command::C_ECHO_RQ), None);
        let finder = access(AeRights::FIND, true);
        assert!(finder.permits_service(Service::Find { patient_root: false }));
        assert_eq!(finder.missing_for(C_GET_RQ), Some(AeRights::GET));
    }
}
