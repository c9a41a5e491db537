//! The queue's promises that need no collector: `send` refuses what is
//! too large and anything after shutdown; a full queue counts what
//! it drops and says so in a WARN line (counts only, never a message's
//! content) once per warn interval; shutdown gives up at its deadline and
//! reports what stayed queued.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::rsyslog::free_port;
use yunying_atna::{ActiveParticipant, AtnaConfig, AuditMessage, AuditSender, AuditSource, AuthKind, Head, Outcome, SendError, Transport};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn login(user: &str) -> AuditMessage {
    let source = AuditSource::application_server("yunying@node-1", None);
    AuditMessage::user_authentication(Head::now(&source, Outcome::Success), AuthKind::Login, ActiveParticipant::user(user, None), None)
}

fn down_collector() -> AtnaConfig {
    // A loopback port nobody listens on: connections are refused.
    let mut c = AtnaConfig::new(format!("127.0.0.1:{}", free_port()), Transport::Tcp);
    c.queue.capacity = 2;
    c.queue.warn_interval_secs = 1;
    c
}

#[test]
fn a_full_queue_warns_with_the_count_and_no_content() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    // One thread: the sender's task logs under this thread's subscriber.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let sender = AuditSender::start(&down_collector()).unwrap();
        for _ in 0..6 {
            sender.send(&login("秘密病人")).unwrap();
        }
        assert_eq!(sender.stats().dropped, 4);
        tokio::time::sleep(Duration::from_millis(1600)).await;
        let stats = sender.shutdown(Duration::from_millis(200)).await;
        assert_eq!((stats.sent, stats.dropped, stats.queued), (0, 4, 2));
    });
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let warn = log.lines().find(|l| l.contains("audit queue full")).unwrap_or_else(|| panic!("no drop warning in:\n{log}"));
    assert!(warn.contains("WARN") && warn.contains("dropped=4"), "{warn}");
    assert!(log.contains("cannot reach the audit collector"), "{log}");
    assert!(!log.contains("秘密病人"), "log lines carry no message content:\n{log}");
}

#[tokio::test]
async fn send_refuses_oversized_messages_and_anything_after_shutdown() {
    let mut c = down_collector();
    c.max_message_bytes = 1024;
    let sender = AuditSender::start(&c).unwrap();
    let big = login(&"x".repeat(2000));
    assert!(matches!(sender.send(&big), Err(SendError::TooLarge { max: 1024, .. })));
    sender.send(&login("a")).unwrap();
    let started = Instant::now();
    let stats = sender.shutdown(Duration::from_millis(300)).await;
    assert!(started.elapsed() < Duration::from_secs(3), "shutdown keeps to its deadline");
    assert_eq!((stats.sent, stats.queued), (0, 1));
    assert_eq!(sender.send(&login("b")), Err(SendError::Closed));
    assert_eq!(sender.shutdown(Duration::from_millis(300)).await, stats, "a second shutdown changes nothing");
}
