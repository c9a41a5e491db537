//! The HTTP connections: our own accept loop on hyper's HTTP/1.1
//! connection, so that every connection is bounded in number and in time.
//!
//! * At most `max_connections` at once (a semaphore; the number is lowered
//!   at start to fit the descriptor limit after what DICOM and the store
//!   need). A connection beyond it is answered `503` with `Retry-After` and
//!   closed at once, by a few tasks at most (beyond those, it is just
//!   closed): it never waits holding a descriptor, and `/healthz` answers
//!   again as soon as a slot frees, which idle connections do within
//!   `header_timeout_secs`.
//! * A request head must be complete within `header_timeout_secs` of the
//!   connection opening or of the previous response (hyper's header read
//!   timeout, which is also the keep-alive idle timeout).
//! * A request body that sends nothing for `body_idle_timeout_secs` fails
//!   (the handler sees an error and answers; a body left unread closes the
//!   connection), and so does a response the client stops reading.
//! * With `[http.tls]`, the TLS handshake happens inside all of this: the
//!   connection holds its slots from the accept, and a handshake not done
//!   within `header_timeout_secs` closes it (`tls.rs`).
//! * SIGTERM: no new connections; idle ones close, requests in flight finish.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Request, header};
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, watch};
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;
use yunying_archive::Archive;

use crate::HttpConfig;
use crate::tls::{self, HttpListener, Tls};

/// Connections beyond the limit answered 503 at once; more are just closed.
const REJECTERS: usize = 32;
/// Descriptors one HTTP connection may hold: its socket, a spool file
/// (STOW-RS), an object being read.
const FDS_PER_CONNECTION: u64 = 3;

/// Raise the soft limit on open descriptors to the hard limit; returns the
/// soft limit in force afterwards.
pub fn raise_nofile_limit() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur
}

/// The connection limit that leaves `reserved` descriptors to the rest of
/// the process (DICOM associations, index, store) under `nofile`.
pub(crate) fn connection_limit(configured: usize, nofile: u64, reserved: u64) -> usize {
    let budget = nofile.saturating_sub(reserved) / FDS_PER_CONNECTION;
    (configured as u64).min(budget).max(1) as usize
}

/// Serve HTTP on `listener` until `shutdown` completes. `reserved_fds`:
/// descriptors the rest of the process may need (the DICOM face, the
/// index, the store), which HTTP connections must never take. HTTPS when
/// `config.tls` is set (a plain `TcpListener` then has its files read
/// here; [`HttpListener::new`] reads them before, to fail at start).
pub async fn serve(
    listener: impl Into<HttpListener>,
    archive: Archive,
    access: yunying_access::Access,
    services: crate::Services,
    config: HttpConfig,
    reserved_fds: u64,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let HttpListener { tcp: listener, tls } = listener.into();
    let tls = match (tls, &config.tls) {
        (Some(acceptor), _) => Some(acceptor),
        (None, Some(files)) => match tls::acceptor(files) {
            Ok(acceptor) => Some(acceptor),
            Err(e) => {
                tracing::error!(error = %e, "HTTPS not served");
                return;
            }
        },
        (None, None) => None,
    };
    let nofile = raise_nofile_limit();
    let limit = connection_limit(config.max_connections, nofile, reserved_fds);
    if limit < config.max_connections {
        tracing::warn!(
            configured = config.max_connections,
            limit,
            nofile,
            reserved_fds,
            "http.max_connections lowered to fit the open file limit; raise `ulimit -n` (hard) to allow more"
        );
    }
    let timeouts =
        Timeouts { header: Duration::from_secs(config.header_timeout_secs), idle: Duration::from_secs(config.body_idle_timeout_secs) };
    let per_address =
        Arc::new(PerAddress { limit: config.max_connections_per_address, exempt: config.trusted_proxies.clone(), open: Mutex::default() });
    let background = crate::background::Background::default();
    let app = crate::router_in(archive, access, services, config, Arc::new(crate::LogSender), background.clone());
    let slots = Arc::new(Semaphore::new(limit));
    let rejecters = Arc::new(Semaphore::new(REJECTERS));
    let (stop_tx, stop_rx) = watch::channel(false);
    // Every connection task holds a receiver; all gone = all closed.
    let (done_tx, done_rx) = watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    accept_error(e).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        let admitted = per_address.take(peer.ip()).and_then(|mine| slots.clone().try_acquire_owned().ok().map(|slot| (mine, slot)));
        match admitted {
            Some(held) => {
                let (app, mut stop, done) = (app.clone(), stop_rx.clone(), done_rx.clone());
                let _ = stream.set_nodelay(true);
                let io = StallGuard { inner: stream, limit: timeouts.idle, write_stall: None };
                let acceptor = tls.as_ref().map(|a| a.current());
                tokio::spawn(async move {
                    match acceptor {
                        None => connection(io, peer, app, timeouts, stop, false).await,
                        Some(acceptor) => {
                            if let Some(io) = tls::handshake(acceptor, io, peer, timeouts.header, &mut stop).await {
                                connection(io, peer, app, timeouts, stop, true).await;
                            }
                        }
                    }
                    drop((held, done));
                });
            }
            // Over a limit on the TLS port: closed without a handshake.
            None if tls.is_some() => drop(stream),
            None => match rejecters.clone().try_acquire_owned() {
                Ok(permit) => {
                    tokio::spawn(async move {
                        reject(stream).await;
                        drop(permit);
                    });
                }
                Err(_) => drop(stream),
            },
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    background.stop();
    drop(done_rx);
    // Requests in progress finish (a long download or upload within the
    // bound), then the work they left running.
    if tokio::time::timeout(DRAIN_TIMEOUT, done_tx.closed()).await.is_err() {
        tracing::warn!(seconds = DRAIN_TIMEOUT.as_secs(), "HTTP requests still running after the drain timeout: closing them");
    }
    let abandoned = background.finish().await;
    if abandoned > 0 {
        tracing::warn!(tasks = abandoned, "film imports or downloads still running at shutdown: stopped");
    }
}

/// How long shutdown lets HTTP requests in progress finish.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections held per client address, so that one client cannot take
/// every connection from the others. Trusted proxies carry many clients
/// and are exempt (the global limit still holds).
struct PerAddress {
    limit: usize,
    exempt: Vec<IpAddr>,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection of an address, given back when dropped.
struct AddressSlot {
    owner: Arc<PerAddress>,
    ip: Option<IpAddr>,
}

impl PerAddress {
    fn take(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        if self.exempt.contains(&ip) {
            return Some(AddressSlot { owner: self.clone(), ip: None });
        }
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let n = open.entry(ip).or_insert(0);
        if *n >= self.limit {
            return None;
        }
        *n += 1;
        Some(AddressSlot { owner: self.clone(), ip: Some(ip) })
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let Some(ip) = self.ip else { return };
        let mut open = self.owner.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = open.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                open.remove(&ip);
            }
        }
    }
}

#[derive(Clone, Copy)]
struct Timeouts {
    header: Duration,
    idle: Duration,
}

async fn accept_error(e: io::Error) {
    if matches!(e.kind(), io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset) {
        return;
    }
    // Out of descriptors (EMFILE) or memory: wait for some to be released.
    tracing::error!(error = %e, "HTTP accept failed");
    tokio::time::sleep(Duration::from_millis(200)).await;
}

/// One connection until it closes, or until shutdown lets it finish;
/// `secure`: it came over TLS (requests get the [`Tls`] extension,
/// responses `Strict-Transport-Security`).
async fn connection<IO>(io: IO, peer: SocketAddr, app: Router, t: Timeouts, mut stop: watch::Receiver<bool>, secure: bool)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    let idle = t.idle;
    let service = hyper::service::service_fn(move |request: Request<Incoming>| {
        let app = app.clone();
        async move {
            let mut request = request.map(|body| Body::new(TimeoutBody::new(idle, body)));
            request.extensions_mut().insert(ConnectInfo(peer));
            if secure {
                request.extensions_mut().insert(Tls);
            }
            let mut response = app.oneshot(request).await.unwrap_or_else(|e| match e {});
            if secure {
                response.headers_mut().entry(header::STRICT_TRANSPORT_SECURITY).or_insert(HeaderValue::from_static(tls::HSTS));
            }
            Ok::<_, Infallible>(response)
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(t.header).keep_alive(true);
    let conn = builder.serve_connection(io, service);
    let mut conn = std::pin::pin!(conn);
    let mut stopping = *stop.borrow();
    if stopping {
        conn.as_mut().graceful_shutdown();
    }
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
                }
                return;
            }
            changed = stop.changed(), if !stopping => {
                stopping = true;
                if changed.is_err() || *stop.borrow() {
                    conn.as_mut().graceful_shutdown();
                }
            }
        }
    }
}

/// Over the limit: say so and close.
async fn reject(mut stream: TcpStream) {
    const BODY: &str = "{\"error\":\"too many connections: try again shortly\",\"status\":503}";
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await?;
        // Read what the client sent until it closes, so that closing does
        // not reset the connection before it has read the answer.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, io::Error>(())
    })
    .await;
}

/// A socket whose writes fail once they have been blocked for `limit`
/// (a client that reads nothing of its response).
struct StallGuard {
    inner: TcpStream,
    limit: Duration,
    write_stall: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl StallGuard {
    fn stalled<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match poll {
            Poll::Ready(r) => {
                self.write_stall = None;
                Poll::Ready(r)
            }
            Poll::Pending => {
                let limit = self.limit;
                let sleep = self.write_stall.get_or_insert_with(|| Box::pin(tokio::time::sleep(limit)));
                if sleep.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "the client stopped reading the response")));
                }
                Poll::Pending
            }
        }
    }
}

impl AsyncRead for StallGuard {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for StallGuard {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.stalled(cx, poll)
    }
    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.stalled(cx, poll)
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.stalled(cx, poll)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_leaves_descriptors_to_the_rest() {
        assert_eq!(connection_limit(1024, 1 << 20, 1000), 1024);
        assert_eq!(connection_limit(1024, 1024, 424), 200);
        assert_eq!(connection_limit(1024, 100, 1000), 1);
    }
}
