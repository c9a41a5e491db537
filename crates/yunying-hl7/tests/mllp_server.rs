//! The MLLP server driven over raw TCP: messages in order on one
//! connection, framing violations and oversize frames closing it, the idle
//! and frame timeouts, the connection limit, and graceful shutdown.

mod common;

use std::time::{Duration, Instant};

use common::{Server, adt, closed_within, exchange, msa, read_frames};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use yunying_hl7::mllp::frame;
use yunying_hl7::{Limits, ParseOptions, ServerConfig};

fn config() -> ServerConfig {
    ServerConfig { idle_timeout: Duration::from_secs(20), ..ServerConfig::default() }
}

#[tokio::test]
async fn several_messages_in_one_write_are_answered_in_order() {
    let server = Server::start(config(), Duration::ZERO).await;
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    let burst =
        [frame(adt("A04", "M1").as_bytes()), frame(adt("A03", "M2").as_bytes()), frame(b"not hl7"), frame(adt("A08", "M4").as_bytes())]
            .concat();
    socket.write_all(&burst).await.unwrap();
    let acks: Vec<_> = read_frames(&mut socket, 4).await.iter().map(|a| msa(a)).collect();
    let expected = [("AA", "M1"), ("AR", "M2"), ("AE", ""), ("AA", "M4")].map(|(c, id)| (c.to_string(), id.to_string()));
    assert_eq!(acks, expected);
    // Bytes that are not UTF-8: AE, still with the message's control ID.
    let mut bad = adt("A04", "M6").into_bytes();
    bad.extend_from_slice(&[0xC3, 0x28, b'\r']);
    socket.write_all(&frame(&bad)).await.unwrap();
    assert_eq!(msa(&read_frames(&mut socket, 1).await[0]), ("AE".to_string(), "M6".to_string()));
    // The connection stays open after an AE/AR.
    assert_eq!(msa(&exchange(&mut socket, &adt("A40", "M5")).await).0, "AE", "an A40 without MRG is an error in content");
    let received = server
        .received
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.as_ref().map(|e| e.header.control_id.clone()).map_err(|e| e.to_string()))
        .collect::<Vec<_>>();
    assert_eq!(received.len(), 6);
    assert_eq!(received[0], Ok("M1".to_string()));
    assert_eq!(received[1], Err("event \"A03\" is not supported".to_string()));
    assert_eq!(received[3], Ok("M4".to_string()));
    server.shutdown().await;
}

#[tokio::test]
async fn an_oversize_frame_closes_the_connection_without_an_answer() {
    let limits = Limits { max_message_bytes: 1024, ..Limits::default() };
    let server = Server::start(ServerConfig { parse: ParseOptions { limits, ..Default::default() }, ..config() }, Duration::ZERO).await;
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    // Exactly the limit is fine.
    let fits = format!("{:<1024}", adt("A04", "FITS"));
    assert_eq!(msa(&exchange(&mut socket, &fits).await), ("AA".to_string(), "FITS".to_string()));
    // One byte more, with no end yet in sight: closed as soon as it is past.
    let mut big = vec![0x0B];
    big.extend_from_slice(format!("{:<1100}", adt("A04", "BIG")).as_bytes());
    socket.write_all(&big).await.unwrap();
    assert!(closed_within(&mut socket, Duration::from_secs(5)).await.is_empty());
    assert_eq!(server.received.lock().unwrap().len(), 1, "the oversize message never reached the handler");
    server.shutdown().await;
}

#[tokio::test]
async fn bytes_before_the_start_block_close_the_connection() {
    let server = Server::start(config(), Duration::ZERO).await;
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    socket.write_all(&[b"GET / HTTP/1.1\r\n".to_vec(), frame(adt("A04", "G1").as_bytes())].concat()).await.unwrap();
    assert!(closed_within(&mut socket, Duration::from_secs(5)).await.is_empty());
    assert!(server.received.lock().unwrap().is_empty());
    // After a good message too.
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(msa(&exchange(&mut socket, &adt("A04", "G2")).await).0, "AA");
    socket.write_all(b"garbage").await.unwrap();
    assert!(closed_within(&mut socket, Duration::from_secs(5)).await.is_empty());
    server.shutdown().await;
}

#[tokio::test]
async fn idle_and_unfinished_connections_are_closed_after_their_timeouts() {
    let short =
        ServerConfig { idle_timeout: Duration::from_millis(300), frame_timeout: Duration::from_secs(30), ..ServerConfig::default() };
    let server = Server::start(short, Duration::ZERO).await;
    let mut socket = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(msa(&exchange(&mut socket, &adt("A04", "I1")).await).0, "AA");
    let idle = Instant::now();
    assert!(closed_within(&mut socket, Duration::from_secs(5)).await.is_empty());
    let waited = idle.elapsed();
    assert!(waited >= Duration::from_millis(250) && waited < Duration::from_secs(3), "closed after {waited:?}");
    server.shutdown().await;

    // A frame trickled byte by byte never goes idle, but must finish in time.
    let slow = ServerConfig { idle_timeout: Duration::from_secs(10), frame_timeout: Duration::from_millis(500), ..ServerConfig::default() };
    let server = Server::start(slow, Duration::ZERO).await;
    let (mut reader, mut writer) = TcpStream::connect(server.addr).await.unwrap().into_split();
    let started = Instant::now();
    let trickle = tokio::spawn(async move {
        writer.write_all(b"\x0bMSH|").await?;
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            writer.write_all(b"x").await?;
        }
        #[allow(unreachable_code)]
        Ok::<(), std::io::Error>(())
    });
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(Duration::from_secs(5), tokio::io::AsyncReadExt::read(&mut reader, &mut buffer)).await;
    let waited = started.elapsed();
    assert!(matches!(read, Ok(Ok(0)) | Ok(Err(_))), "closed without an answer: {read:?}");
    assert!(waited >= Duration::from_millis(400), "closed after {waited:?}, before the frame timeout");
    assert!(waited < Duration::from_secs(3), "a trickled frame was allowed {waited:?}");
    trickle.abort();
    server.shutdown().await;
}

#[tokio::test]
async fn connections_past_the_limit_are_closed_at_once() {
    let server = Server::start(ServerConfig { max_connections: 2, ..config() }, Duration::ZERO).await;
    let mut first = TcpStream::connect(server.addr).await.unwrap();
    let mut second = TcpStream::connect(server.addr).await.unwrap();
    assert_eq!(msa(&exchange(&mut first, &adt("A04", "C1")).await).0, "AA");
    assert_eq!(msa(&exchange(&mut second, &adt("A04", "C2")).await).0, "AA");
    let mut third = TcpStream::connect(server.addr).await.unwrap();
    let _ = third.write_all(&frame(adt("A04", "C3").as_bytes())).await;
    assert!(closed_within(&mut third, Duration::from_secs(5)).await.is_empty());
    // A slot freed is a slot for the next caller.
    drop(first);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut next = TcpStream::connect(server.addr).await.unwrap();
        let _ = next.write_all(&frame(adt("A04", "C4").as_bytes())).await;
        let answer = closed_or_ack(&mut next).await;
        if let Some(ack) = answer {
            assert_eq!(msa(&ack).0, "AA");
            break;
        }
        assert!(Instant::now() < deadline, "the freed slot was never reused");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.shutdown().await;
}

/// The ACK, or `None` when the server closed the connection instead.
async fn closed_or_ack(socket: &mut TcpStream) -> Option<String> {
    let bytes = closed_within_or_frame(socket).await;
    (!bytes.is_empty()).then(|| String::from_utf8(bytes[1..bytes.len() - 2].to_vec()).unwrap())
}

async fn closed_within_or_frame(socket: &mut TcpStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buffer = [0u8; 4096];
    while !got.ends_with(b"\x1c\r") {
        match tokio::time::timeout(Duration::from_secs(5), socket.read(&mut buffer)).await.expect("an answer or a close") {
            Ok(0) | Err(_) => return Vec::new(),
            Ok(n) => got.extend_from_slice(&buffer[..n]),
        }
    }
    got
}

#[tokio::test]
async fn shutdown_answers_the_message_being_handled_then_stops() {
    let server = Server::start(config(), Duration::from_millis(500)).await;
    let addr = server.addr;
    let mut busy = TcpStream::connect(addr).await.unwrap();
    let mut waiting = TcpStream::connect(addr).await.unwrap();
    assert_eq!(msa(&exchange(&mut waiting, &adt("A04", "S0")).await).0, "AA");
    busy.write_all(&frame(adt("A08", "S1").as_bytes())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stopping = tokio::spawn(server.shutdown());
    // The message in hand is still answered; then the connection closes.
    assert_eq!(msa(&read_frames(&mut busy, 1).await[0]), ("AA".to_string(), "S1".to_string()));
    assert!(closed_within(&mut busy, Duration::from_secs(5)).await.is_empty());
    assert!(closed_within(&mut waiting, Duration::from_secs(5)).await.is_empty(), "an idle connection is closed on shutdown");
    stopping.await.unwrap();
    assert!(TcpStream::connect(addr).await.is_err(), "the listener is closed");
}
