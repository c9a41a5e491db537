//! TLS for the archive's listeners (HTTPS, DICOM over TLS): the server's
//! certificate chain and key read from PEM files, a rustls server
//! configuration, client certificates checked against a CA when asked, and
//! reloading the files on SIGHUP.
//!
//! What is offered (rustls on aws-lc-rs, its defaults): TLS 1.3 with
//! TLS_AES_256_GCM_SHA384, TLS_AES_128_GCM_SHA256 and
//! TLS_CHACHA20_POLY1305_SHA256; TLS 1.2 with ECDHE (X25519, P-256, P-384)
//! and ECDSA or RSA certificates: TLS_ECDHE_{ECDSA,RSA}_WITH_AES_256_GCM_SHA384,
//! …_AES_128_GCM_SHA256 and …_CHACHA20_POLY1305_SHA256. Nothing older than
//! TLS 1.2, no CBC, no RSA key exchange, no renegotiation. That covers the
//! DICOM BCP 195 profiles (PS3.15 B.9, B.10: ECDHE with AES-GCM over TLS
//! 1.2 or later) and the retired AES profile's intent (B.3).
//!
//! Architecture invariant: only transport. Nothing here knows DICOM or HTTP;
//! what a client certificate allows is decided by the caller.

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use sha2::{Digest, Sha256};

pub use tokio_rustls::TlsAcceptor;
pub use tokio_rustls::server::TlsStream;

/// What a TLS listener serves with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// PEM: the server certificate, then its intermediates.
    pub cert: PathBuf,
    /// PEM: the private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key: PathBuf,
    /// PEM: certificate authorities whose client certificates are accepted.
    /// None: clients are not asked for a certificate.
    pub client_ca: Option<PathBuf>,
    /// With `client_ca`: refuse a client without a certificate.
    pub require_client_cert: bool,
    /// ALPN protocols offered (`http/1.1`); empty for none.
    pub alpn: Vec<Vec<u8>>,
    /// The listener, in log lines ("https", "dicom-tls").
    pub name: &'static str,
}

/// A TLS acceptor whose certificate can be replaced while serving:
/// connections take the current one when they start.
pub struct Acceptor {
    settings: Settings,
    current: RwLock<TlsAcceptor>,
}

impl Acceptor {
    /// Read the files of `settings`; an error names the file and why.
    pub fn new(settings: Settings) -> Result<Arc<Acceptor>, String> {
        let config = server_config(&settings)?;
        Ok(Arc::new(Acceptor { settings, current: RwLock::new(TlsAcceptor::from(Arc::new(config))) }))
    }

    /// The acceptor for a new connection.
    pub fn current(&self) -> TlsAcceptor {
        self.current.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Read the files again; on an error the certificate in use stays.
    pub fn reload(&self) -> Result<(), String> {
        let config = server_config(&self.settings)?;
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = TlsAcceptor::from(Arc::new(config));
        Ok(())
    }

    /// Reload on every SIGHUP, for as long as the acceptor is in use (call
    /// inside the tokio runtime).
    pub fn reload_on_sighup(self: &Arc<Self>) -> std::io::Result<()> {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = signal(SignalKind::hangup())?;
        let acceptor = Arc::downgrade(self);
        tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                let Some(acceptor) = acceptor.upgrade() else { return };
                let s = &acceptor.settings;
                match acceptor.reload() {
                    Ok(()) => tracing::info!(listener = s.name, cert = %s.cert.display(), "SIGHUP: TLS certificate and key reloaded"),
                    Err(e) => {
                        tracing::error!(listener = s.name, error = %e, "SIGHUP: TLS certificate not reloaded; the previous one stays in use")
                    }
                }
            }
        });
        Ok(())
    }
}

/// The rustls configuration for `settings`: TLS 1.2 and 1.3 on aws-lc-rs.
pub fn server_config(settings: &Settings) -> Result<ServerConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let chain = read_certificates(&settings.cert)?;
    let key = PrivateKeyDer::from_pem_file(&settings.key)
        .map_err(|e| format!("TLS key {}: {e} (expected a PEM private key: PKCS#8, RSA or EC)", settings.key.display()))?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match &settings.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certificates(ca)? {
                roots.add(cert).map_err(|e| format!("TLS client CA {}: {e}", ca.display()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let verifier = if settings.require_client_cert { verifier } else { verifier.allow_unauthenticated() };
            builder.with_client_cert_verifier(verifier.build().map_err(|e| format!("TLS client CA {}: {e}", ca.display()))?)
        }
    };
    let mut config = builder
        .with_single_cert(chain, key)
        .map_err(|e| format!("TLS certificate {} with key {}: {e}", settings.cert.display(), settings.key.display()))?;
    config.alpn_protocols = settings.alpn.clone();
    Ok(config)
}

fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("TLS certificate file {}: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("TLS certificate file {}: no PEM certificate in it", path.display()));
    }
    Ok(certs)
}

/// SHA-256 of the certificate the client presented (its DER), if any.
pub fn peer_certificate_sha256<IO>(stream: &TlsStream<IO>) -> Option<[u8; 32]> {
    let cert = stream.get_ref().1.peer_certificates()?.first()?;
    Some(Sha256::digest(cert.as_ref()).into())
}

/// A SHA-256 fingerprint written in hex, with or without colons (as
/// `openssl x509 -fingerprint -sha256` prints it).
pub fn parse_sha256(text: &str) -> Result<[u8; 32], String> {
    let digits: String = text.trim().chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(&digits).map_err(|_| format!("{text:?} is not a hex SHA-256 fingerprint"))?;
    bytes.try_into().map_err(|_| format!("{text:?} is not 32 bytes (64 hex digits)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_parse_with_or_without_colons() {
        let plain = "ab".repeat(32);
        let colons = vec!["AB"; 32].join(":");
        assert_eq!(parse_sha256(&plain).unwrap(), [0xAB; 32]);
        assert_eq!(parse_sha256(&colons).unwrap(), [0xAB; 32]);
        assert!(parse_sha256("abcd").is_err());
        assert!(parse_sha256(&"zz".repeat(32)).is_err());
    }

    #[test]
    fn missing_or_empty_files_are_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "").unwrap();
        let settings = |cert: &Path| Settings {
            cert: cert.to_path_buf(),
            key: dir.path().join("key.pem"),
            client_ca: None,
            require_client_cert: false,
            alpn: Vec::new(),
            name: "test",
        };
        let e = server_config(&settings(&dir.path().join("nothing.pem"))).unwrap_err();
        assert!(e.contains("nothing.pem"), "{e}");
        let e = server_config(&settings(&empty)).unwrap_err();
        assert!(e.contains("no PEM certificate"), "{e}");
    }
}
