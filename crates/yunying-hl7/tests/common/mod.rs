//! A real MLLP server on 127.0.0.1:0 with a handler that records what it
//! is given, for the integration tests.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use yunying_hl7::{AckDecision, AdtError, AdtEvent, ServerConfig};

/// What the handler was given, in order.
pub type Received = Arc<Mutex<Vec<Result<AdtEvent, AdtError>>>>;

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub received: Received,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Server {
    /// Start with `config`; the handler accepts every event (after
    /// `delay`) and answers errors with `AckDecision::from_error`.
    pub async fn start(config: ServerConfig, delay: Duration) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let received: Received = Arc::default();
        let seen = received.clone();
        let handler = move |message: Result<AdtEvent, AdtError>| {
            let seen = seen.clone();
            async move {
                tokio::time::sleep(delay).await;
                let decision = match &message {
                    Ok(_) => AckDecision::Accept,
                    Err(e) => AckDecision::from_error(e),
                };
                seen.lock().unwrap().push(message);
                decision
            }
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(yunying_hl7::serve(listener, config, handler, async move {
            let _ = stopped.await;
        }));
        Server { addr, received, stop: Some(stop), task }
    }

    /// Signal shutdown and wait for `serve` to return.
    pub async fn shutdown(mut self) {
        let _ = self.stop.take().unwrap().send(());
        tokio::time::timeout(Duration::from_secs(10), self.task).await.expect("serve returns after shutdown").unwrap();
    }
}

/// Read MLLP frames until `count` have arrived (payloads as text).
pub async fn read_frames(socket: &mut TcpStream, count: usize) -> Vec<String> {
    let mut deframer = yunying_hl7::mllp::Deframer::new(1 << 20);
    let mut frames = Vec::new();
    let mut buffer = [0u8; 4096];
    while frames.len() < count {
        while let Some(f) = deframer.next_frame().unwrap() {
            frames.push(String::from_utf8(f).unwrap());
        }
        if frames.len() == count {
            break;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buffer)).await.expect("an ACK in time").unwrap();
        assert!(n > 0, "connection closed after {} of {count} ACKs", frames.len());
        deframer.extend(&buffer[..n]);
    }
    frames
}

/// Send one framed message and read its ACK.
pub async fn exchange(socket: &mut TcpStream, message: &str) -> String {
    socket.write_all(&yunying_hl7::mllp::frame(message.as_bytes())).await.unwrap();
    read_frames(socket, 1).await.remove(0)
}

/// Wait for the server to close the connection; returns the bytes it sent
/// before (an error such as a reset counts as closed).
pub async fn closed_within(socket: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit, socket.read(&mut buffer)).await.expect("the server closes the connection in time") {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&buffer[..n]),
        }
    }
}

/// MSA-1 and MSA-2 of an ACK.
pub fn msa(ack: &str) -> (String, String) {
    let line = ack.split('\r').find(|l| l.starts_with("MSA|")).unwrap_or_else(|| panic!("no MSA in {ack:?}"));
    let fields: Vec<&str> = line.split('|').collect();
    (fields[1].to_string(), fields.get(2).unwrap_or(&"").to_string())
}

/// A minimal ADT message.
pub fn adt(trigger: &str, control_id: &str) -> String {
    format!("MSH|^~\\&|MPI|HOSP|YUNYING|REGION|20261206120000||ADT^{trigger}|{control_id}|P|2.5\rPID|1||P1^^^HOSP^PI||Li^Na\r")
}
