//! DICOM over TLS (PS3.15 Annex B, the BCP 195 secure transport
//! profiles): a second listener (`dicom_tls_port`, 2762 by default) with
//! `[dicom.tls] cert` and `key`, serving the same associations as the plain
//! port, under the same admission slots and limits. TLS 1.2 and 1.3 only,
//! the suites `yunying-tls` lists (ECDHE with AES-GCM or ChaCha20).
//!
//! Client certificates: with `client_ca`, a client certificate is asked
//! for and, when presented, must chain to that CA (with
//! `require_client_cert`, a client without one fails its handshake). The
//! SHA-256 of a presented certificate is kept on the association; an AE
//! with a certificate bound to it in the registry (`yunying ae add …
//! --cert-sha256 HEX`) is recognised only with that certificate, on
//! either port: otherwise it is treated as unregistered.
//!
//! [`Stream`] is the connection of an association, plain or TLS, so the
//! service code is the same for both. A plain one sends stored instances
//! with `sendfile`; over TLS they are read and encrypted 256 KiB at a time.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use yunying_archive::Archive;
use yunying_tls::{Acceptor, Settings, TlsAcceptor, TlsStream};

/// `[dicom.tls]`: the DICOM TLS port's certificate and client policy.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DicomTls {
    /// PEM file: the server certificate, then its intermediates.
    pub cert: PathBuf,
    /// PEM file: its private key (PKCS#8, RSA or EC).
    pub key: PathBuf,
    /// PEM file: CAs whose client certificates are accepted. Unset: no
    /// client certificate is asked for.
    #[serde(default)]
    pub client_ca: Option<PathBuf>,
    /// With `client_ca`: a client must present a certificate.
    #[serde(default)]
    pub require_client_cert: bool,
}

impl DicomTls {
    /// Read the files (an error names the file and why); reloaded on SIGHUP.
    pub fn acceptor(&self) -> Result<Arc<Acceptor>, String> {
        if self.require_client_cert && self.client_ca.is_none() {
            return Err("dicom.tls.require_client_cert needs dicom.tls.client_ca".into());
        }
        let acceptor = Acceptor::new(Settings {
            cert: self.cert.clone(),
            key: self.key.clone(),
            client_ca: self.client_ca.clone(),
            require_client_cert: self.require_client_cert,
            alpn: Vec::new(),
            name: "dicom-tls",
        })?;
        acceptor.reload_on_sighup().map_err(|e| format!("SIGHUP handler: {e}"))?;
        Ok(acceptor)
    }
}

/// The DICOM TLS port: a bound socket and its certificate.
pub struct TlsListener {
    pub(crate) tcp: TcpListener,
    pub(crate) acceptor: Arc<Acceptor>,
}

impl TlsListener {
    pub fn new(tcp: TcpListener, tls: &DicomTls) -> Result<TlsListener, String> {
        Ok(TlsListener { tcp, acceptor: tls.acceptor()? })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.tcp.local_addr()
    }
}

/// The connection of an association.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// The socket, when nothing is between it and the peer (`sendfile`).
    pub(crate) fn plain(&mut self) -> Option<&mut TcpStream> {
        match self {
            Stream::Plain(s) => Some(s),
            Stream::Tls(_) => None,
        }
    }
}

/// Handshake on a new connection of the TLS port, within `limit`: the
/// stream and the SHA-256 of the client's certificate, if it sent one.
pub(crate) async fn handshake(
    acceptor: TlsAcceptor,
    socket: TcpStream,
    peer: SocketAddr,
    limit: Duration,
) -> Option<(Stream, Option<[u8; 32]>)> {
    match tokio::time::timeout(limit, acceptor.accept(socket)).await {
        Ok(Ok(stream)) => {
            let fingerprint = yunying_tls::peer_certificate_sha256(&stream);
            Some((Stream::Tls(Box::new(stream)), fingerprint))
        }
        Ok(Err(e)) => {
            tracing::info!(%peer, error = %e, "DICOM TLS handshake failed; connection closed");
            None
        }
        Err(_) => {
            tracing::info!(%peer, "no DICOM TLS handshake in time; connection closed");
            None
        }
    }
}

/// Whether the certificate bound to `calling_ae` in the registry, if any,
/// is the one presented (an AE with none bound is not checked here);
/// `None` when the registry cannot be read.
pub(crate) async fn certificate_bound(archive: &Archive, calling_ae: &str, peer: SocketAddr, presented: Option<[u8; 32]>) -> Option<bool> {
    match archive.index().ae_certificate(calling_ae).await {
        Ok(None) => Some(true),
        Ok(Some(bound)) if presented == Some(bound) => Some(true),
        Ok(Some(_)) => {
            tracing::warn!(
                calling_ae, %peer, presented = presented.map(hex).as_deref().unwrap_or("none"),
                "calling AE title has a certificate bound to it and this association did not present it: treated as unregistered"
            );
            Some(false)
        }
        Err(e) => {
            tracing::warn!(calling_ae, %peer, error = %e, "AE registry unavailable: the caller is treated as unregistered");
            None
        }
    }
}

/// Lower-case hex, for log lines.
pub(crate) fn hex(digest: [u8; 32]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }
    fn poll_write_vectored(self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
