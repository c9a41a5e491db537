//! The witness service on a real index: two requests advancing a log from
//! the same old size cannot both win, a fork is refused and recorded, and
//! the cosignatures table is append-only.

use yunying_audit::checkpoint::SignatureKind;
use yunying_audit::witness::{FORK_EVENT, ServeError, WitnessOf, WitnessService};
use yunying_audit::{Audit, Event};
use yunying_index::{CosignatureRow, Index};
use yunying_ledger::witness::format_add_checkpoint;
use yunying_ledger::{Checkpoint, HashAlg, SigType, Signer, Tree, WitnessError};

const ORIGIN: &str = "hospital.example/audit";

fn log_tree(events: &[&str]) -> Tree {
    let mut tree = Tree::new(HashAlg::Sm3);
    for e in events {
        tree.push_data(e.as_bytes());
    }
    tree
}

fn signed(log: &Signer, tree: &Tree, size: u64) -> String {
    Checkpoint { origin: ORIGIN.into(), size, root: tree.root_at(size).unwrap(), extensions: vec![] }.sign(log, 1_765_000_000).unwrap()
}

#[tokio::test]
async fn concurrent_requests_advance_once_and_a_fork_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open_sqlite(&dir.path().join("index.db")).await.unwrap();
    let audit = Audit::ephemeral(index.clone());
    let log = Signer::generate(ORIGIN, SigType::Sm2Cosignature).unwrap();
    let of = [WitnessOf { key: log.verifier().to_string(), hash: HashAlg::Sm3 }];
    let key = yunying_audit::witness::load_or_make_key(&dir.path().join("w.pem"), "city.example/witness", SignatureKind::Sm2).unwrap();
    // Two nodes of the witnessing deployment, one index.
    let w1 = WitnessService::new(index.clone(), key.clone(), &of).unwrap();
    let w2 = WitnessService::new(index.clone(), key, &of).unwrap();

    let tree = log_tree(&["a", "b", "c", "d"]);
    let first = format_add_checkpoint(0, &[], &signed(&log, &tree, 2));
    let second = format_add_checkpoint(0, &[], &signed(&log, &tree, 3));
    let (r1, r2) = tokio::join!(w1.add_checkpoint(&audit, &first), w2.add_checkpoint(&audit, &second));
    let won = [r1.is_ok(), r2.is_ok()];
    assert_eq!(won.iter().filter(|w| **w).count(), 1, "exactly one advances from size 0: {r1:?} {r2:?}");
    let loser = if r1.is_ok() { r2 } else { r1 };
    assert!(matches!(loser, Err(ServeError::Witness(WitnessError::OldSizeMismatch { latest: 2 | 3 }))), "{loser:?}");
    let state = index.witness_logs().await.unwrap();
    assert_eq!(state.len(), 1);
    let at = state[0].tree_size as u64;

    // From there, a consistent checkpoint is cosigned by the other node.
    let next = format_add_checkpoint(at, &tree.consistency_proof(at, 4).unwrap(), &signed(&log, &tree, 4));
    let line = w2.add_checkpoint(&audit, &next).await.unwrap();
    assert!(line.starts_with("\u{2014} city.example/witness "), "{line}");

    // The log signs another history of 4: refused, recorded.
    let other = log_tree(&["a", "b", "c", "forged"]);
    let forged = format_add_checkpoint(4, &[], &signed(&log, &other, 4));
    let Err(ServeError::Witness(refused)) = w1.add_checkpoint(&audit, &forged).await else { panic!("a fork is refused") };
    assert!(matches!(refused, WitnessError::Fork(_)), "{refused:?}");
    assert_eq!(refused.http_status(), 409);
    let bodies = index.recorded_audit_bodies().await.unwrap();
    let alarm = bodies.iter().map(|b| Event::parse(b).unwrap()).find(|e| e.event == FORK_EVENT).expect("the alarm is recorded");
    assert_eq!(alarm.result, "denied");
    assert_eq!(alarm.facts["cosigned_root"], tree.root().to_hex());
    assert_eq!(alarm.facts["conflicting_root"], other.root().to_hex());
    assert_eq!(index.witness_logs().await.unwrap()[0].tree_size, 4, "the state did not move");
}

#[tokio::test]
async fn cosignatures_are_append_only() {
    let dir = tempfile::tempdir().unwrap();
    let index = Index::open_sqlite(&dir.path().join("index.db")).await.unwrap();
    let row = CosignatureRow { tree_size: 3, witness: "w".into(), signature_line: "\u{2014} w AAAA".into(), at_ms: 1 };
    index.add_cosignature(&row).await.unwrap();
    index.add_cosignature(&row).await.unwrap();
    assert_eq!(index.cosignatures(3).await.unwrap(), vec![row]);
    sqlx::any::install_default_drivers();
    let db = sqlx::AnyPool::connect(index.url()).await.unwrap();
    assert!(sqlx::query("UPDATE ledger_cosignatures SET witness = 'x'").execute(&db).await.is_err());
    assert!(sqlx::query("DELETE FROM ledger_cosignatures").execute(&db).await.is_err());
}
