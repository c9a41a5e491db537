//! The MLLP client against scripted peers on 127.0.0.1:0: an answer of
//! each kind, silence, a wrong control ID, garbage, an oversize answer, a
//! peer that closes, one that does not read; and against this crate's
//! own server. Every wait is bounded.

mod common;

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use yunying_hl7::mllp::{Deframer, frame};
use yunying_hl7::{AckCode, ClientConfig, SendError, ServerConfig, send};

const MESSAGE: &str =
    "MSH|^~\\&|YUNYING|RC|HIS|H|20261206120000||ORU^R01^ORU_R01|C-1|P|2.5.1|||||CHN|UNICODE UTF-8\rPID|1||P1^^^H^PI||张^三\r";

fn config() -> ClientConfig {
    ClientConfig {
        connect_timeout: Duration::from_secs(5),
        write_timeout: Duration::from_secs(5),
        ack_timeout: Duration::from_millis(300),
        max_ack_bytes: 1024,
    }
}

fn ack(code: &str, control_id: &str, tail: &str) -> Vec<u8> {
    frame(format!("MSH|^~\\&|HIS|H|YUNYING|RC|20261206120001||ACK^R01^ACK|A-1|P|2.5.1\rMSA|{code}|{control_id}{tail}").as_bytes())
}

/// What the scripted peer does once it has the message.
enum Peer {
    /// Write these bytes, then wait for the client to close.
    Answer(Vec<u8>),
    /// Write nothing; wait for the client to close.
    Silent,
    /// Close the connection as soon as it is accepted, reading nothing.
    CloseAtOnce,
    /// Write these bytes and close.
    AnswerAndClose(Vec<u8>),
    /// Accept and never read.
    NeverRead,
}

/// A one-connection peer; its task returns the payload it received.
async fn peer(behaviour: Peer) -> (String, JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let payload = match behaviour {
            Peer::CloseAtOnce => return Vec::new(),
            Peer::NeverRead => {
                let _ = tokio::time::timeout(Duration::from_secs(10), std::future::pending::<()>()).await;
                return Vec::new();
            }
            _ => read_frame(&mut socket).await,
        };
        match behaviour {
            Peer::Answer(bytes) => {
                let _ = socket.write_all(&bytes).await;
                wait_for_close(&mut socket).await;
            }
            Peer::AnswerAndClose(bytes) => {
                let _ = socket.write_all(&bytes).await;
            }
            _ => wait_for_close(&mut socket).await,
        }
        payload
    });
    (addr, task)
}

async fn read_frame(socket: &mut TcpStream) -> Vec<u8> {
    let mut deframer = Deframer::new(64 << 20);
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        if let Some(payload) = deframer.next_frame().unwrap() {
            return payload;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), socket.read(&mut buffer)).await.expect("the message in time").unwrap();
        assert!(n > 0, "the client closed before its message was whole");
        deframer.extend(&buffer[..n]);
    }
}

async fn wait_for_close(socket: &mut TcpStream) {
    let mut buffer = [0u8; 256];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, socket.read(&mut buffer)).await {
        if n == 0 {
            return;
        }
    }
}

#[tokio::test]
async fn aa_is_returned_with_the_control_id_and_the_message_arrives_framed_and_whole() {
    let (addr, task) = peer(Peer::Answer(ack("AA", "C-1", ""))).await;
    let got = send(&addr, MESSAGE, &config()).await.unwrap();
    assert_eq!((got.code, got.control_id.as_str(), got.text.as_str()), (AckCode::Accept, "C-1", ""));
    assert!(got.code.is_accept());
    assert_eq!(task.await.unwrap(), MESSAGE.as_bytes(), "UTF-8 as MSH-18 says");
}

#[tokio::test]
async fn ae_ar_and_commit_codes_are_answers_not_errors() {
    let cases = [
        ("AE", "|Patient unknown", AckCode::Error, "Patient unknown"),
        ("AR", "\rERR||||E||||病人不存在", AckCode::Reject, "病人不存在"),
        ("AE", "\rERR|||204^Unknown key identifier^HL70357|E", AckCode::Error, "Unknown key identifier"),
        ("CA", "", AckCode::CommitAccept, ""),
        ("CR", "", AckCode::CommitReject, ""),
    ];
    for (code, tail, expected, text) in cases {
        let (addr, task) = peer(Peer::Answer(ack(code, "C-1", tail))).await;
        let got = send(&addr, MESSAGE, &config()).await.unwrap();
        assert_eq!((got.code, got.text.as_str()), (expected, text), "{code}");
        assert_eq!(got.code.is_accept(), code == "CA");
        task.await.unwrap();
    }
}

#[tokio::test]
async fn silence_is_an_ack_timeout_within_the_bound() {
    let (addr, task) = peer(Peer::Silent).await;
    let started = Instant::now();
    let err = send(&addr, MESSAGE, &config()).await.unwrap_err();
    assert!(matches!(err, SendError::AckTimeout(d) if d == Duration::from_millis(300)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(task.await.unwrap(), MESSAGE.as_bytes(), "the peer got the message and saw the connection closed");
}

#[tokio::test]
async fn an_ack_for_another_message_is_a_mismatch() {
    let (addr, task) = peer(Peer::Answer(ack("AA", "C-0", ""))).await;
    let err = send(&addr, MESSAGE, &config()).await.unwrap_err();
    match err {
        SendError::ControlIdMismatch { expected, received } => assert_eq!((expected.as_str(), received.as_str()), ("C-1", "C-0")),
        other => panic!("{other:?}"),
    }
    task.await.unwrap();
}

#[tokio::test]
async fn garbage_is_a_malformed_ack() {
    let answers: [(&[u8], &str); 5] = [
        (b"HTTP/1.1 400 Bad Request\r\n\r\n", "outside an MLLP frame"),
        (&frame(b"not hl7 at all"), "MSH"),
        (&frame(b"MSH|^~\\&|HIS|H|||20261206||ACK|A-1|P|2.5.1\r"), "no MSA"),
        (&ack("OK", "C-1", ""), "MSA-1"),
        (b"\x0bMSH|^~\\&|HIS\x1cX", "not followed by CR"),
    ];
    for (answer, reason) in answers {
        let (addr, task) = peer(Peer::Answer(answer.to_vec())).await;
        let err = send(&addr, MESSAGE, &config()).await.unwrap_err();
        assert!(matches!(&err, SendError::MalformedAck(text) if text.contains(reason)), "{reason}: {err:?}");
        task.abort();
    }
}

#[tokio::test]
async fn an_answer_past_the_limit_is_refused_before_it_ends() {
    // A frame that never ends: the client gives up once it is past the limit.
    let answer = [vec![0x0B], vec![b'x'; 5000]].concat();
    let (addr, task) = peer(Peer::Answer(answer)).await;
    let err = send(&addr, MESSAGE, &config()).await.unwrap_err();
    assert!(matches!(err, SendError::AckTooLarge { limit: 1024 }), "{err:?}");
    task.await.unwrap();
    // A whole ACK one byte past the limit.
    let mut big = ack("AA", "C-1", "|");
    let pad = 1024 - (big.len() - 3) + 1;
    big.splice(big.len() - 2..big.len() - 2, std::iter::repeat_n(b'x', pad));
    assert_eq!(big.len() - 3, 1025);
    let (addr, task) = peer(Peer::Answer(big)).await;
    assert!(matches!(send(&addr, MESSAGE, &config()).await, Err(SendError::AckTooLarge { limit: 1024 })));
    task.await.unwrap();
}

#[tokio::test]
async fn a_peer_that_closes_is_peer_closed() {
    for behaviour in [Peer::CloseAtOnce, Peer::AnswerAndClose(Vec::new()), Peer::AnswerAndClose(b"\x0bMSH|^~\\&|HIS|H".to_vec())] {
        let (addr, task) = peer(behaviour).await;
        let err = send(&addr, MESSAGE, &config()).await.unwrap_err();
        assert!(matches!(err, SendError::PeerClosed), "{err:?}");
        task.await.unwrap();
    }
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error_and_a_bad_message_is_not_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    drop(listener);
    let err = send(&addr, MESSAGE, &config()).await.unwrap_err();
    assert!(matches!(&err, SendError::Connect(e) if e.kind() == std::io::ErrorKind::ConnectionRefused), "{err:?}");

    let (addr, task) = peer(Peer::Silent).await;
    for message in
        ["PID|1||P1\r", "MSH|^~\\&|A|B|C|D|2026||ORU^R01|||2.5.1\r", "MSH|^~\\&|A|B|C|D|2026||ORU^R01|X|P|2.5.1|||||CHN|ISO IR87\r"]
    {
        let err = send(&addr, message, &config()).await.unwrap_err();
        assert!(matches!(err, SendError::InvalidMessage(_)), "{message:?}: {err:?}");
    }
    task.abort();
}

#[tokio::test]
async fn a_peer_that_does_not_read_is_a_write_timeout() {
    let (addr, task) = peer(Peer::NeverRead).await;
    // More than the loopback socket buffers hold.
    let message = format!("{MESSAGE}OBX|1|ED|PDF||^application^pdf^Base64^{}\r", "A".repeat(32 << 20));
    let config = ClientConfig { write_timeout: Duration::from_millis(300), ..config() };
    let started = Instant::now();
    let err = send(&addr, &message, &config).await.unwrap_err();
    assert!(matches!(err, SendError::WriteTimeout(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "{:?}", started.elapsed());
    task.abort();
}

#[tokio::test]
async fn gb18030_messages_are_encoded_as_msh18_says_and_so_is_an_ack_without_msh18() {
    let message = "MSH|^~\\&|YUNYING|RC|HIS|H|20261206||ORU^R01^ORU_R01|GB-1|P|2.5.1|||||CHN|GB 18030-2000\rPID|1||P1^^^H^PI||億^乗\r";
    let reply = encoding_rs::GB18030.encode("MSH|^~\\&|HIS|H|||20261206||ACK|A|P|2.5.1\rMSA|AE|GB-1|病人ID不存在\r").0.into_owned();
    let (addr, task) = peer(Peer::Answer(frame(&reply))).await;
    let got = send(&addr, message, &config()).await.unwrap();
    assert_eq!((got.code, got.text.as_str()), (AckCode::Error, "病人ID不存在"));
    assert_eq!(task.await.unwrap(), encoding_rs::GB18030.encode(message).0.into_owned());
}

#[tokio::test]
async fn this_crates_adt_server_rejects_an_oru_with_ar() {
    let server = common::Server::start(ServerConfig::default(), Duration::ZERO).await;
    let got = send(&server.addr.to_string(), MESSAGE, &config()).await.unwrap();
    assert_eq!((got.code, got.control_id.as_str()), (AckCode::Reject, "C-1"));
    assert_eq!(got.text, "message type \"ORU\" is not supported");
    server.shutdown().await;
}
