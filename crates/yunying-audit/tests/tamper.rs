//! Tamper tests: every way of changing the ledger's rows directly in the
//! database (change, delete, reorder, insert an entry; replace a
//! checkpoint; edit what the views search) is found by `verify`, and the
//! sequencer never forks the log between two nodes.

use std::sync::Arc;
use std::time::Duration;

use sqlx::AnyPool;
use yunying_audit::checkpoint::{SignatureKind, Signer};
use yunying_audit::sequencer::Sequencer;
use yunying_audit::verify::{VerifyError, verify};
use yunying_audit::{Audit, Event};
use yunying_index::Index;
use yunying_ledger::{Checkpoint, HashAlg};

const ORIGIN: &str = "test.yunying/audit";

struct Ledger {
    _dir: tempfile::TempDir,
    index: Index,
    signer: Arc<Signer>,
    db: AnyPool,
}

/// 30 events in the ledger, checkpoints at 20 and 30.
async fn ledger() -> Ledger {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open_sqlite(&dir.path().join("index.db")).await.unwrap();
    let audit = Audit::ephemeral(index.clone());
    let signer = Arc::new(Signer::ephemeral(ORIGIN, SignatureKind::Sm2));
    let mut seq =
        Sequencer::new(index.clone(), "node-a", HashAlg::Sm3, signer.clone(), Duration::from_millis(10), Duration::from_secs(3600));
    for i in 0..30 {
        let e = Event::new("study-viewed", &format!("person:u{}", i % 3), "ok").studies(&[format!("1.2.3.{i}")]).client("10.0.0.1");
        audit.record(e).await.unwrap();
        if i == 19 {
            assert_eq!(seq.step(true).await.unwrap().checkpoint, Some(20));
        }
    }
    let step = seq.step(true).await.unwrap();
    assert_eq!((step.sequenced, step.checkpoint), (10, Some(30)));
    sqlx::any::install_default_drivers();
    let db = AnyPool::connect(index.url()).await.unwrap();
    for t in ["entries", "studies", "patients", "checkpoints"] {
        // What an attacker with the database owner's rights does first.
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TRIGGER ledger_{t}_append_only"))).execute(&db).await.unwrap();
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TRIGGER ledger_{t}_no_delete"))).execute(&db).await.unwrap();
    }
    Ledger { _dir: dir, index, signer, db }
}

impl Ledger {
    async fn sql(&self, sql: &str) {
        sqlx::query(sqlx::AssertSqlSafe(sql.to_string())).execute(&self.db).await.unwrap();
    }

    async fn verify(&self) -> Result<yunying_audit::verify::Report, VerifyError> {
        verify(&self.index, HashAlg::Sm3, self.signer.verifier(), None).await
    }

    async fn body(&self, leaf: i64) -> String {
        self.index.ledger_entries(leaf, 1).await.unwrap().pop().unwrap().body
    }
}

fn leaf_named(r: Result<yunying_audit::verify::Report, VerifyError>) -> (Option<u64>, String) {
    match r {
        Err(VerifyError::Bad { leaf, what }) => (leaf, what),
        other => panic!("expected the damage to be found, got {other:?}"),
    }
}

#[tokio::test]
async fn an_untouched_ledger_verifies() {
    let l = ledger().await;
    let report = l.verify().await.unwrap();
    assert_eq!((report.entries, report.checkpoints, report.signed_size), (30, 2, 30));
}

#[tokio::test]
async fn the_ledger_refuses_update_and_delete_while_its_triggers_stand() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open_sqlite(&dir.path().join("index.db")).await.unwrap();
    Audit::ephemeral(index.clone()).record(Event::new("sign-in", "person:u1", "ok")).await.unwrap();
    let signer = Arc::new(Signer::ephemeral(ORIGIN, SignatureKind::Ed25519));
    let mut seq = Sequencer::new(index.clone(), "n", HashAlg::Sha256, signer, Duration::from_millis(10), Duration::from_secs(1));
    seq.step(true).await.unwrap();
    sqlx::any::install_default_drivers();
    let db = AnyPool::connect(index.url()).await.unwrap();
    for sql in ["UPDATE ledger_entries SET result = 'denied'", "DELETE FROM ledger_entries", "DELETE FROM ledger_checkpoints"] {
        let err = sqlx::query(sql).execute(&db).await.expect_err(sql);
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
}

#[tokio::test]
async fn a_changed_entry_is_named() {
    let l = ledger().await;
    l.sql("UPDATE ledger_entries SET body = replace(body, '\"result\":\"ok\"', '\"result\":\"no\"'), result = 'no' WHERE leaf_index = 5")
        .await;
    let (leaf, what) = leaf_named(l.verify().await);
    assert_eq!(leaf, Some(5), "{what}");
}

#[tokio::test]
async fn a_changed_entry_with_a_recomputed_hash_breaks_the_signed_root() {
    let l = ledger().await;
    let body = l.body(5).await.replace("person:u2", "person:u0");
    let hash = HashAlg::Sm3.leaf_hash(body.as_bytes()).to_hex();
    sqlx::query("UPDATE ledger_entries SET body = $1, leaf_hash = $2, principal = 'person:u0' WHERE leaf_index = 5")
        .bind(&body)
        .bind(&hash)
        .execute(&l.db)
        .await
        .unwrap();
    let (leaf, what) = leaf_named(l.verify().await);
    assert_eq!(leaf, None);
    assert!(what.contains("between 0 and 19"), "{what}");
}

#[tokio::test]
async fn a_deleted_entry_is_named() {
    let l = ledger().await;
    l.sql("DELETE FROM ledger_entries WHERE leaf_index = 7").await;
    assert_eq!(leaf_named(l.verify().await).0, Some(7));
}

#[tokio::test]
async fn a_deleted_last_entry_is_found() {
    let l = ledger().await;
    l.sql("DELETE FROM ledger_studies WHERE leaf_index = 29").await;
    l.sql("DELETE FROM ledger_patients WHERE leaf_index = 29").await;
    l.sql("DELETE FROM ledger_entries WHERE leaf_index = 29").await;
    let (leaf, what) = leaf_named(l.verify().await);
    assert_eq!(leaf, Some(29), "{what}");
}

#[tokio::test]
async fn reordered_entries_break_the_signed_root() {
    let l = ledger().await;
    // Swap entries 3 and 4 whole (rows and search rows).
    l.sql("UPDATE ledger_entries SET leaf_index = -1 WHERE leaf_index = 3").await;
    l.sql("UPDATE ledger_entries SET leaf_index = 3 WHERE leaf_index = 4").await;
    l.sql("UPDATE ledger_entries SET leaf_index = 4 WHERE leaf_index = -1").await;
    for t in ["ledger_studies", "ledger_patients"] {
        l.sql(&format!("UPDATE {t} SET leaf_index = -1 WHERE leaf_index = 3")).await;
        l.sql(&format!("UPDATE {t} SET leaf_index = 3 WHERE leaf_index = 4")).await;
        l.sql(&format!("UPDATE {t} SET leaf_index = 4 WHERE leaf_index = -1")).await;
    }
    let (leaf, what) = leaf_named(l.verify().await);
    assert_eq!(leaf, None);
    assert!(what.contains("between 0 and 19"), "{what}");
}

#[tokio::test]
async fn an_inserted_entry_breaks_the_signed_root() {
    let l = ledger().await;
    for t in ["ledger_entries", "ledger_studies", "ledger_patients"] {
        l.sql(&format!("UPDATE {t} SET leaf_index = leaf_index + 1000 WHERE leaf_index >= 25")).await;
        l.sql(&format!("UPDATE {t} SET leaf_index = leaf_index - 999 WHERE leaf_index >= 1000")).await;
    }
    let body = Event::new("sign-in", "person:u9", "ok").body();
    let hash = HashAlg::Sm3.leaf_hash(body.as_bytes()).to_hex();
    sqlx::query(
        "INSERT INTO ledger_entries (leaf_index, at_ms, event, principal, institution, result, leaf_hash, body)
         VALUES (25, 0, 'sign-in', 'person:u9', '', 'ok', $1, $2)",
    )
    .bind(&hash)
    .bind(&body)
    .execute(&l.db)
    .await
    .unwrap();
    let (leaf, what) = leaf_named(l.verify().await);
    assert_eq!(leaf, None);
    assert!(what.contains("between 20 and 29"), "{what}");
}

#[tokio::test]
async fn a_replaced_checkpoint_is_found() {
    let l = ledger().await;
    // Another key with the same name signs the same tree: not the log's.
    let other = Signer::ephemeral(ORIGIN, SignatureKind::Sm2);
    let row = l.index.checkpoints().await.unwrap().remove(0);
    let cp = Checkpoint::parse(&yunying_ledger::Note::parse(&row.note).unwrap().text).unwrap();
    let forged = other.sign(cp.size, &cp.root, row.at_ms).unwrap();
    sqlx::query("UPDATE ledger_checkpoints SET note = $1 WHERE tree_size = 20").bind(&forged).execute(&l.db).await.unwrap();
    let (_, what) = leaf_named(l.verify().await);
    assert!(what.contains("checkpoint of size 20"), "{what}");
    // A checkpoint row whose root column is edited is found too.
    let l = ledger().await;
    l.sql("UPDATE ledger_checkpoints SET root_hash = 'ab' WHERE tree_size = 30").await;
    assert!(leaf_named(l.verify().await).1.contains("size 30"));
}

#[tokio::test]
async fn edited_search_rows_are_found() {
    let l = ledger().await;
    l.sql("DELETE FROM ledger_studies WHERE leaf_index = 2").await;
    assert_eq!(leaf_named(l.verify().await).0, Some(2), "an access hidden from 'who saw this study'");
    let l = ledger().await;
    l.sql("UPDATE ledger_entries SET principal = 'person:u9' WHERE leaf_index = 11").await;
    assert_eq!(leaf_named(l.verify().await).0, Some(11));
}

#[tokio::test]
async fn two_sequencers_never_fork_the_log() {
    let l = ledger().await;
    let audit = Audit::ephemeral(l.index.clone());
    let alg = HashAlg::Sm3;
    let every = Duration::from_millis(1);
    let mut a = Sequencer::new(l.index.clone(), "node-a", alg, l.signer.clone(), every, Duration::from_secs(3600));
    let mut b = Sequencer::new(l.index.clone(), "node-b", alg, l.signer.clone(), every, Duration::from_secs(3600));
    for i in 0..5 {
        audit.record(Event::new("query", "person:u1", "ok").detail(&format!("q{i}"))).await.unwrap();
    }
    assert!(a.step(false).await.unwrap().sequencer, "node-a still holds the lease it took");
    assert!(!b.step(false).await.unwrap().sequencer, "one sequencer at a time");
    // node-a's lease runs out; node-b takes over from what is stored.
    sqlx::query("UPDATE leases SET until_ms = 0 WHERE name = 'audit-sequencer'").execute(&l.db).await.unwrap();
    for i in 0..5 {
        audit.record(Event::new("query", "person:u2", "ok").detail(&format!("r{i}"))).await.unwrap();
    }
    let step = b.step(true).await.unwrap();
    assert_eq!((step.sequenced, step.checkpoint), (5, Some(40)));
    assert_eq!(l.index.ledger_size().await.unwrap(), 40);
    l.verify().await.expect("one log, whoever sequenced it");
}

#[tokio::test]
async fn verifying_from_a_trusted_checkpoint_skips_its_entries_but_checks_the_rest() {
    let l = ledger().await;
    let note = l.index.checkpoints().await.unwrap().remove(0).note;
    let report = verify(&l.index, HashAlg::Sm3, l.signer.verifier(), Some(&note)).await.expect("the entries below 20 are trusted");
    assert_eq!((report.entries, report.signed_size), (30, 30));
    l.sql("DELETE FROM ledger_studies WHERE leaf_index = 24").await;
    let (leaf, what) = leaf_named(verify(&l.index, HashAlg::Sm3, l.signer.verifier(), Some(&note)).await);
    assert_eq!(leaf, Some(24), "{what}");
}
