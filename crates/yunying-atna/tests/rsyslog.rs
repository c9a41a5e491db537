//! The sender against a real syslog receiver: a private rsyslogd (Debian's
//! package) on loopback receives every message kind over TLS with a client
//! certificate, over plain TCP and over UDP; what it writes to its file is
//! read back, checked field by field (PRI 85, APP-NAME, MSGID
//! IHE+RFC-3881), compared byte for byte with what was sent (Chinese text
//! included) and validated against the DICOM audit schema. Also: messages
//! queued while the collector is down arrive once it is up; a full queue
//! drops the oldest or the newest as configured and counts them; the
//! sender reconnects after the collector restarts.

mod common;

use std::path::Path;
use std::time::Duration;

use common::rsyslog::{Input, Pki, Rsyslog, free_port, make_pki, parse};
use common::{every_kind, validate};
use yunying_atna::{ActiveParticipant, AtnaConfig, AuditMessage, AuditSender, AuditSource, AuthKind, Head, Outcome, Overflow, Transport};

const WAIT: Duration = Duration::from_secs(20);

fn config(port: u16, transport: Transport, pki: Option<&Pki>) -> AtnaConfig {
    let mut c = AtnaConfig::new(format!("127.0.0.1:{port}"), transport);
    c.app_name = "yunying-test".into();
    c.hostname = Some("node-1".into());
    if let Some(pki) = pki {
        c.ca_file = Some(pki.ca());
        c.client_cert = Some(pki.client_cert());
        c.client_key = Some(pki.client_key());
    }
    c
}

/// Checks what rsyslog wrote against what was sent, and validates it.
fn check_received(daemon: &Rsyslog, sent: &[(String, String)]) {
    let lines = daemon.wait_lines(sent.len(), WAIT);
    assert_eq!(lines.len(), sent.len(), "rsyslog wrote {} of {} messages; {}", lines.len(), sent.len(), daemon.diagnostics());
    let mut received = Vec::new();
    for (line, (name, xml)) in lines.iter().zip(sent) {
        let l = parse(line);
        assert_eq!(l.pri, "85", "{name}: facility 10 (authpriv), severity 5 (notice)");
        assert_eq!(l.hostname, "node-1");
        assert_eq!(l.app_name, "yunying-test");
        assert_eq!(l.msgid, "IHE+RFC-3881");
        assert_eq!(&l.msg, xml, "{name}: the XML arrives byte for byte");
        received.push((format!("received-{name}"), l.msg));
    }
    if let Err(report) = validate(&received) {
        panic!("received messages fail the schema:\n{report}");
    }
}

fn numbered(i: usize) -> AuditMessage {
    let source = AuditSource::application_server("yunying@node-1", None);
    let head = Head::now(&source, Outcome::MinorFailure).describe(format!("n={i}"));
    AuditMessage::user_authentication(head, AuthKind::Login, ActiveParticipant::user("李雷", None), None)
}

fn numbers(daemon: &Rsyslog, n: usize) -> Vec<usize> {
    daemon
        .wait_lines(n, WAIT)
        .iter()
        .map(|l| {
            let msg = parse(l).msg;
            let at = msg.find("n=").unwrap() + 2;
            msg[at..].split('<').next().unwrap().parse().unwrap()
        })
        .collect()
}

#[tokio::test]
async fn every_kind_arrives_over_tls_with_a_client_certificate_even_when_queued_before_the_collector_is_up() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let port = free_port();
    let sender = AuditSender::start(&config(port, Transport::Tls, Some(&pki))).unwrap();
    let kinds = every_kind();
    let sent: Vec<(String, String)> = kinds.iter().map(|(n, m)| (n.to_string(), m.to_xml())).collect();
    for (_, m) in &kinds {
        sender.send(m).unwrap();
    }
    // Nobody listens yet: everything waits in the queue.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(sender.stats().sent, 0);
    assert_eq!(sender.stats().queued, kinds.len() as u64);
    let daemon = Rsyslog::start(&dir.path().join("rsyslog"), Input::Tls, port, Some(&pki));
    let stats = sender.shutdown(WAIT).await;
    assert_eq!((stats.sent, stats.queued, stats.dropped), (kinds.len() as u64, 0, 0), "{}", daemon.diagnostics());
    check_received(&daemon, &sent);
    daemon.kill();
}

#[tokio::test]
async fn tls_without_the_collectors_ca_delivers_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let other = make_pki(&{
        let d = dir.path().join("other-ca");
        std::fs::create_dir_all(&d).unwrap();
        d
    });
    let port = free_port();
    let daemon = Rsyslog::start(&dir.path().join("rsyslog"), Input::Tls, port, Some(&pki));
    let mut c = config(port, Transport::Tls, Some(&pki));
    c.ca_file = Some(other.ca());
    let sender = AuditSender::start(&c).unwrap();
    sender.send(&numbered(1)).unwrap();
    let stats = sender.shutdown(Duration::from_secs(2)).await;
    assert_eq!((stats.sent, stats.queued), (0, 1), "a collector whose certificate does not chain to ca_file is not sent to");
    assert!(daemon.wait_lines(1, Duration::from_millis(300)).is_empty());
}

#[tokio::test]
async fn a_collector_that_requires_a_client_certificate_refuses_us_without_one_and_nothing_counts_as_sent() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let port = free_port();
    let daemon = Rsyslog::start(&dir.path().join("rsyslog"), Input::Tls, port, Some(&pki));
    let mut c = config(port, Transport::Tls, Some(&pki));
    (c.client_cert, c.client_key) = (None, None);
    let sender = AuditSender::start(&c).unwrap();
    sender.send(&numbered(1)).unwrap();
    let stats = sender.shutdown(Duration::from_secs(2)).await;
    assert_eq!((stats.sent, stats.queued), (0, 1), "{}", daemon.diagnostics());
    assert!(daemon.wait_lines(1, Duration::from_millis(300)).is_empty());
}

#[tokio::test]
async fn plain_tcp_and_udp_deliver_too() {
    for (input, transport) in [(Input::Tcp, Transport::Tcp), (Input::Udp, Transport::Udp)] {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let daemon = Rsyslog::start(&dir.path().join("rsyslog"), input, port, None);
        let sender = AuditSender::start(&config(port, transport, None)).unwrap();
        let kinds: Vec<_> = every_kind().into_iter().take(4).collect();
        for (_, m) in &kinds {
            sender.send(m).unwrap();
            // UDP has no flow control: pace it a little, as a real event stream is.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let stats = sender.shutdown(WAIT).await;
        assert_eq!(stats.sent, 4);
        let sent: Vec<(String, String)> = kinds.iter().map(|(n, m)| (n.to_string(), m.to_xml())).collect();
        check_received(&daemon, &sent);
    }
}

async fn overflow_keeps(overflow: Overflow) -> (Vec<usize>, u64) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut c = config(port, Transport::Tcp, None);
    c.queue.capacity = 3;
    c.queue.overflow = overflow;
    let sender = AuditSender::start(&c).unwrap();
    for i in 0..10 {
        sender.send(&numbered(i)).unwrap();
    }
    let dropped = sender.stats().dropped;
    let daemon = Rsyslog::start(Path::new(&dir.path().join("rsyslog")), Input::Tcp, port, None);
    let stats = sender.shutdown(WAIT).await;
    assert_eq!(stats.sent, 3);
    (numbers(&daemon, 3), dropped)
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_without_blocking_the_caller() {
    assert_eq!(overflow_keeps(Overflow::DropOldest).await, (vec![7, 8, 9], 7));
    assert_eq!(overflow_keeps(Overflow::DropNewest).await, (vec![0, 1, 2], 7));
}

// Multi-threaded: the test waits for rsyslog's file with blocking sleeps
// while the sender's task must run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sender_reconnects_after_the_collector_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let port = free_port();
    let first = Rsyslog::start(&dir.path().join("first"), Input::Tls, port, Some(&pki));
    let sender = AuditSender::start(&config(port, Transport::Tls, Some(&pki))).unwrap();
    sender.send(&numbered(1)).unwrap();
    assert_eq!(numbers(&first, 1), vec![1]);
    first.kill();
    let second = Rsyslog::start(&dir.path().join("second"), Input::Tls, port, Some(&pki));
    sender.send(&numbered(2)).unwrap();
    sender.send(&numbered(3)).unwrap();
    let stats = sender.shutdown(WAIT).await;
    assert_eq!(numbers(&second, 2), vec![2, 3], "{}", second.diagnostics());
    assert_eq!(stats.sent, 3);
    assert!(stats.connects >= 2);
}

/// Also the throughput figure: run with `--nocapture` to see it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_ten_thousand_arrives_complete_and_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let pki = make_pki(dir.path());
    let port = free_port();
    let daemon = Rsyslog::start(&dir.path().join("rsyslog"), Input::Tls, port, Some(&pki));
    let mut c = config(port, Transport::Tls, Some(&pki));
    c.queue.capacity = 10_000;
    let sender = AuditSender::start(&c).unwrap();
    let n = 10_000;
    let messages: Vec<AuditMessage> = (0..n).map(numbered).collect();
    let start = std::time::Instant::now();
    let mut slowest = Duration::ZERO;
    for m in &messages {
        let t = std::time::Instant::now();
        sender.send(m).unwrap();
        slowest = slowest.max(t.elapsed());
    }
    let queued_in = start.elapsed();
    let stats = sender.shutdown(Duration::from_secs(60)).await;
    assert_eq!((stats.sent, stats.dropped, stats.queued), (n as u64, 0, 0));
    assert_eq!(numbers(&daemon, n), (0..n).collect::<Vec<_>>());
    let total = start.elapsed();
    println!(
        "atna burst: {n} messages queued in {queued_in:?} (slowest send {slowest:?}), all written by rsyslog after {total:?}: {:.0} messages/s over TLS",
        n as f64 / total.as_secs_f64()
    );
}
