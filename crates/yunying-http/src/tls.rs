//! HTTPS served directly (`[http.tls]`): the HTTP port then speaks TLS
//! only (HTTP/1.1, ALPN `http/1.1`), responses carry
//! `Strict-Transport-Security`, and handlers see a [`Tls`] extension on
//! the request. The certificate and key are read again on SIGHUP (a file
//! that does not load is logged and the previous certificate stays).
//!
//! The handshake runs inside the connection limits of `conn.rs`: a
//! connection holds its slot (global and per address) from the accept on,
//! and must complete its handshake within `header_timeout_secs` (then its
//! first request head has `header_timeout_secs` again). Connections beyond
//! the limits are closed without a handshake (no `503`: answering would
//! cost a handshake each).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use yunying_tls::{Acceptor, Settings, TlsAcceptor, TlsStream};

use crate::HttpConfig;

/// `[http.tls]`: the certificate the HTTP port serves HTTPS with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTls {
    /// PEM file: the server certificate, then its intermediates.
    pub cert: PathBuf,
    /// PEM file: its private key (PKCS#8, RSA or EC).
    pub key: PathBuf,
}

/// A request extension: the request came over TLS to our own port.
#[derive(Debug, Clone, Copy)]
pub struct Tls;

/// `Strict-Transport-Security` of responses over TLS: one year.
pub(crate) const HSTS: &str = "max-age=31536000";

/// The HTTP port: a bound socket, with the TLS acceptor when it serves
/// HTTPS.
pub struct HttpListener {
    pub(crate) tcp: TcpListener,
    pub(crate) tls: Option<Arc<Acceptor>>,
}

impl HttpListener {
    /// The listener for `config`: with `[http.tls]`, its files are read
    /// now (an error names the file) and again on every SIGHUP.
    pub fn new(tcp: TcpListener, config: &HttpConfig) -> Result<HttpListener, String> {
        let tls = config.tls.as_ref().map(acceptor).transpose()?;
        Ok(HttpListener { tcp, tls })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.tcp.local_addr()
    }

    /// Whether it serves HTTPS.
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }
}

/// Plain HTTP (with `[http.tls]` set, `serve` reads its files itself).
impl From<TcpListener> for HttpListener {
    fn from(tcp: TcpListener) -> HttpListener {
        HttpListener { tcp, tls: None }
    }
}

pub(crate) fn acceptor(tls: &HttpTls) -> Result<Arc<Acceptor>, String> {
    let acceptor = Acceptor::new(Settings {
        cert: tls.cert.clone(),
        key: tls.key.clone(),
        client_ca: None,
        require_client_cert: false,
        alpn: vec![b"http/1.1".to_vec()],
        name: "https",
    })?;
    acceptor.reload_on_sighup().map_err(|e| format!("SIGHUP handler: {e}"))?;
    Ok(acceptor)
}

/// The TLS handshake of a new connection, within `limit`; None when it
/// fails, takes too long or the server stops meanwhile.
pub(crate) async fn handshake<IO: AsyncRead + AsyncWrite + Unpin>(
    acceptor: TlsAcceptor,
    io: IO,
    peer: SocketAddr,
    limit: Duration,
    stop: &mut watch::Receiver<bool>,
) -> Option<TlsStream<IO>> {
    tokio::select! {
        shaken = tokio::time::timeout(limit, acceptor.accept(io)) => match shaken {
            Ok(Ok(stream)) => Some(stream),
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "TLS handshake failed; connection closed");
                None
            }
            Err(_) => {
                tracing::debug!(%peer, "no TLS handshake within http.header_timeout_secs; connection closed");
                None
            }
        },
        _ = stop.wait_for(|s| *s) => None,
    }
}
