//! Throughput of the MLLP server on loopback, and of parsing alone.
//!
//! `cargo run --release -p yunying-hl7 --example mllp_load -- [connections] [messages per connection]`
//!
//! Starts the server in process with a handler that accepts every event,
//! then `connections` clients each send their messages one at a time
//! (send, wait for the ACK), as an MPI does. Prints messages per second and
//! the ACK latency percentiles; then parses and extracts the same A04 in a
//! loop, without the network.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use yunying_hl7::mllp::{Deframer, frame};
use yunying_hl7::{AckDecision, AdtError, AdtEvent, Message, ParseOptions, ServerConfig};

const A04: &str = "MSH|^~\\&|HIS-MPI|DEMO-HOSP|YUNYING|REGION|20261206120000||ADT^A04^ADT_A01|{ID}|P|2.5|||AL|NE|CHN|UNICODE UTF-8\r\
EVN|A04|20261206120000\r\
PID|1||P1001^^^DEMO-HOSP&2.16.156.1&ISO^PI~110101199001011234^^^CHN^NNCHN~SI9876^^^SI^SS||Wang^Wei^^^^^L^A~王^伟^^^^^L^I||19900101|M|||\
中山路1号^^北京^北京^100000^CHN^H||13800138000^PRN^CP\r\
PV1|1|O\r";

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let connections = args.first().copied().unwrap_or(4);
    let per_connection = args.get(1).copied().unwrap_or(5_000);

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let handler = |message: Result<AdtEvent, AdtError>| async move {
        match message {
            Ok(_) => AckDecision::Accept,
            Err(e) => AckDecision::from_error(&e),
        }
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(yunying_hl7::serve(listener, ServerConfig::default(), handler, async move {
        let _ = stopped.await;
    }));

    let started = Instant::now();
    let clients: Vec<_> = (0..connections)
        .map(|c| {
            tokio::spawn(async move {
                let mut socket = TcpStream::connect(addr).await.unwrap();
                socket.set_nodelay(true).unwrap();
                let mut deframer = Deframer::new(1 << 20);
                let mut buffer = [0u8; 4096];
                let mut latencies = Vec::with_capacity(per_connection);
                for i in 0..per_connection {
                    let message = frame(A04.replace("{ID}", &format!("L{c}-{i}")).as_bytes());
                    let sent = Instant::now();
                    socket.write_all(&message).await.unwrap();
                    let ack = loop {
                        if let Some(ack) = deframer.next_frame().unwrap() {
                            break ack;
                        }
                        let n = socket.read(&mut buffer).await.unwrap();
                        assert!(n > 0, "server closed the connection");
                        deframer.extend(&buffer[..n]);
                    };
                    latencies.push(sent.elapsed());
                    assert!(String::from_utf8_lossy(&ack).contains("MSA|AA|"), "not accepted");
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = Vec::new();
    for client in clients {
        latencies.extend(client.await.unwrap());
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    println!(
        "MLLP: {} messages over {connections} connections in {:.2} s: {:.0} messages/s; ACK latency p50 {:?}, p99 {:?}",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        at(0.50),
        at(0.99)
    );
    let _ = stop.send(());
    server.await.unwrap();

    let bytes = A04.replace("{ID}", "P-1").into_bytes();
    let options = ParseOptions::default();
    let rounds = 100_000;
    let started = Instant::now();
    for _ in 0..rounds {
        let message = Message::parse(&bytes, &options).unwrap();
        std::hint::black_box(AdtEvent::from_message(&message).unwrap());
    }
    let each = started.elapsed() / rounds;
    println!("parse + extract of a {}-byte A04: {each:?} each ({:.0} per second on one core)", bytes.len(), 1.0 / each.as_secs_f64());
}
