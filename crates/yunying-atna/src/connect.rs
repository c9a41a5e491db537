//! Connections to the collector: the rustls client configuration read
//! from the configured PEM files (aws-lc-rs, TLS 1.2 and 1.3, as
//! `yunying-tls` serves), and one open connection of any transport.

use std::io;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio_rustls::TlsConnector;

use crate::AtnaError;
use crate::config::{AtnaConfig, Transport};

/// How long a new TLS connection is watched for a refusal (TLS 1.3 sends
/// a client certificate's rejection after the handshake).
const TLS_REFUSAL_WAIT: Duration = Duration::from_millis(200);

/// How to open a connection: the address and, for TLS, the connector.
pub(crate) struct Dialer {
    address: String,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    transport: Transport,
}

/// One open connection.
pub(crate) enum Connection {
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
    Tcp(TcpStream),
    Udp(UdpSocket),
}

impl Dialer {
    /// Reads the TLS files now, so a wrong path fails at start, not at the
    /// first audit event.
    pub(crate) fn new(config: &AtnaConfig) -> Result<Dialer, AtnaError> {
        config.validate()?;
        let (host, _) = config.host_port()?;
        let tls = match config.transport {
            Transport::Tls => {
                let client = client_config(config)?;
                let name = config.server_name.clone().unwrap_or(host);
                let name =
                    ServerName::try_from(name.clone()).map_err(|_| AtnaError::Config(format!("atna: {name:?} is no server name")))?;
                Some((TlsConnector::from(Arc::new(client)), name))
            }
            Transport::Tcp | Transport::Udp => None,
        };
        Ok(Dialer { address: config.collector.clone(), tls, transport: config.transport })
    }

    /// The collector's address, for log lines.
    pub(crate) fn address(&self) -> &str {
        &self.address
    }

    /// Opens a connection within `timeout`.
    pub(crate) async fn connect(&self, timeout: Duration) -> io::Result<Connection> {
        let open = async {
            if self.transport == Transport::Udp {
                let bind = if self.address.starts_with('[') { "[::]:0" } else { "0.0.0.0:0" };
                let socket = UdpSocket::bind(bind).await?;
                socket.connect(&self.address).await?;
                return Ok(Connection::Udp(socket));
            }
            let tcp = TcpStream::connect(&self.address).await?;
            tcp.set_nodelay(true)?;
            match &self.tls {
                Some((connector, name)) => {
                    let mut tls = Connection::Tls(Box::new(connector.connect(name.clone(), tcp).await?));
                    if tls.closed_by_peer(TLS_REFUSAL_WAIT).await {
                        return Err(io::Error::new(
                            io::ErrorKind::ConnectionRefused,
                            "the collector closed the TLS connection after the handshake (our client certificate refused?)",
                        ));
                    }
                    Ok(tls)
                }
                None => Ok(Connection::Tcp(tcp)),
            }
        };
        tokio::time::timeout(timeout, open).await.map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connecting timed out"))?
    }
}

impl Connection {
    /// Whether the collector has closed its end (or sent a TLS alert),
    /// waiting at most `wait` for it: a syslog receiver never sends, so a
    /// read that finds the end of the stream or an error means a write
    /// would be lost. With TLS 1.3 a collector that refuses our client
    /// certificate says so only after the handshake, hence a short wait
    /// after connecting; before each write the wait is zero.
    pub(crate) async fn closed_by_peer(&mut self, wait: Duration) -> bool {
        let mut buf = [0u8; 512];
        let read = match self {
            Connection::Tls(s) => tokio::time::timeout(wait, s.read(&mut buf)).await,
            Connection::Tcp(s) => tokio::time::timeout(wait, s.read(&mut buf)).await,
            Connection::Udp(_) => return false,
        };
        matches!(read, Ok(Ok(0)) | Ok(Err(_)))
    }

    /// Sends syslog messages: framed, in one write, on a stream; one
    /// datagram each on UDP.
    pub(crate) async fn send(&mut self, messages: &[Vec<u8>], timeout: Duration) -> io::Result<()> {
        let write = async {
            match self {
                Connection::Udp(s) => {
                    for m in messages {
                        s.send(m).await?;
                    }
                    Ok(())
                }
                Connection::Tls(s) => write_frames(s.as_mut(), messages).await,
                Connection::Tcp(s) => write_frames(s, messages).await,
            }
        };
        tokio::time::timeout(timeout, write).await.map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "sending timed out"))?
    }

    /// Closes the connection (TLS: close_notify first).
    pub(crate) async fn close(self) {
        let done = async {
            match self {
                Connection::Tls(mut s) => {
                    let _ = s.shutdown().await;
                }
                Connection::Tcp(mut s) => {
                    let _ = s.shutdown().await;
                }
                Connection::Udp(_) => {}
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), done).await;
    }
}

async fn write_frames<S: AsyncWriteExt + Unpin>(stream: &mut S, messages: &[Vec<u8>]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(messages.iter().map(|m| m.len() + 8).sum());
    for m in messages {
        buf.extend_from_slice(&crate::syslog::frame(m));
    }
    stream.write_all(&buf).await?;
    stream.flush().await
}

fn client_config(config: &AtnaConfig) -> Result<ClientConfig, AtnaError> {
    let ca = config.ca_file.as_deref().ok_or_else(|| AtnaError::Config("atna: transport tls needs ca_file".into()))?;
    let mut roots = RootCertStore::empty();
    for cert in read_certs(ca)? {
        roots.add(cert).map_err(|e| tls_error(ca, e))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AtnaError::Config(format!("atna: TLS: {e}")))?
        .with_root_certificates(roots);
    match (&config.client_cert, &config.client_key) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert)?;
            let private = PrivateKeyDer::from_pem_file(key).map_err(|e| tls_error(key, e))?;
            builder.with_client_auth_cert(chain, private).map_err(|e| tls_error(cert, e))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, AtnaError> {
    let certs: Vec<_> =
        CertificateDer::pem_file_iter(path).map_err(|e| tls_error(path, e))?.collect::<Result<_, _>>().map_err(|e| tls_error(path, e))?;
    if certs.is_empty() {
        return Err(tls_error(path, "no certificate in the file"));
    }
    Ok(certs)
}

fn tls_error(path: &Path, e: impl std::fmt::Display) -> AtnaError {
    AtnaError::Tls { file: path.to_path_buf(), reason: e.to_string() }
}
