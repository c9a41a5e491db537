//! What the record says of a doctor's looks at a study: sittings in the
//! ledger, waiting for the sequencer and still open all count, each once;
//! other studies, other principals and sittings before the moment asked
//! about do not.

use std::sync::Arc;
use std::time::Duration;

use yunying_audit::batch::Seen;
use yunying_audit::checkpoint::{SignatureKind, Signer};
use yunying_audit::sequencer::Sequencer;
use yunying_audit::{Audit, Event};
use yunying_index::Index;
use yunying_ledger::HashAlg;

fn sitting(principal: &str, study: &str, first: i64, last: i64) -> Event {
    let mut e = Event::new("study-viewed", principal, "ok")
        .studies(&[study.to_string()])
        .client("10.0.0.7")
        .fact("first_ms", first)
        .fact("last_ms", last);
    e.at_ms = first;
    e
}

#[tokio::test]
async fn sittings_count_once_wherever_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open_sqlite(&dir.path().join("index.db")).await.unwrap();
    let audit = Audit::ephemeral(index.clone());
    let signer = Arc::new(Signer::ephemeral("test.yunying/audit", SignatureKind::Sm2));
    let mut seq = Sequencer::new(index.clone(), "n", HashAlg::Sm3, signer, Duration::from_millis(10), Duration::from_secs(3600));

    assert_eq!(audit.viewing("person:b", "1.2.3", 0).await.unwrap().opened_ms, 0, "never opened");
    // In the ledger: 4 s on the study, a sitting before the moment asked
    // about, another study, another doctor.
    for e in [
        sitting("person:b", "1.2.3", 10_000, 14_000),
        sitting("person:b", "1.2.3", 1_000, 2_000),
        sitting("person:b", "1.2.4", 10_000, 90_000),
        sitting("person:a", "1.2.3", 10_000, 90_000),
    ] {
        audit.record(e).await.unwrap();
    }
    seq.step(true).await.unwrap();
    // Waiting for the sequencer: a one-request sitting (it still counts).
    audit.record(sitting("person:b", "1.2.3", 20_000, 20_000)).await.unwrap();
    // Still open in the batcher.
    for _ in 0..3 {
        audit.viewed(Seen {
            principal: "person:b".into(),
            study: "1.2.3".into(),
            what: "frames",
            items: 1,
            client: "10.0.0.7".into(),
            ..Seen::default()
        });
    }
    // The images stay on screen after the last request: an open sitting
    // lasts until it is asked about.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let seen = audit.viewing("person:b", "1.2.3", 5_000).await.unwrap();
    assert_eq!(seen.sittings, 3, "{seen:?}");
    assert!((4_001 + 300..4_001 + 1_300).contains(&seen.opened_ms), "{seen:?}");
    // The open sitting was ended and recorded as it was (first to last
    // request): asked again, after the sequencer moved it, it counts once.
    seq.step(true).await.unwrap();
    let again = audit.viewing("person:b", "1.2.3", 5_000).await.unwrap();
    assert_eq!(again.sittings, 3, "{again:?}");
    assert!((4_002..4_002 + 200).contains(&again.opened_ms), "{again:?}");
}
