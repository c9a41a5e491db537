//! Offline proof bundles: built from a log and its witnesses, verified by
//! `verify_bundle` and by the `yunying-proof-check` binary with nothing but
//! files; every way a bundle can lie is refused.

use std::process::Command;

use yunying_ledger::checkpoint::Checkpoint;
use yunying_ledger::witness::TrustedLog;
use yunying_ledger::{
    Bundle, BundleError, CheckpointError, HashAlg, SigType, Signer, Tree, VerifierKey, Witness, WitnessState, open_bundle, verify_bundle,
};

const ORIGIN: &str = "yunying.example/audit";

struct Setup {
    log: Signer,
    witnesses: Vec<Witness>,
    tree: Tree,
    events: Vec<Vec<u8>>,
    /// The signed checkpoint at the tree's size, with every cosignature.
    checkpoint: String,
}

fn event(i: usize) -> Vec<u8> {
    format!("{{\"seq\":{i},\"event\":\"study.view\",\"principal\":\"p-{}\",\"study\":\"1.2.840.{i}\"}}", i % 7).into_bytes()
}

fn setup(hash: HashAlg, n: usize) -> Setup {
    let log = Signer::generate(ORIGIN, SigType::Sm2Cosignature).unwrap();
    let mut witnesses: Vec<Witness> = ["health-commission.example/w", "hospital-a.example/w", "hospital-b.example/w"]
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let kind = if i == 1 { SigType::Ed25519Cosignature } else { SigType::Sm2Cosignature };
            let logs = vec![TrustedLog { key: log.verifier().clone(), hash }];
            Witness::new(Signer::generate(name, kind).unwrap(), logs, WitnessState::default()).unwrap()
        })
        .collect();
    let mut tree = Tree::new(hash);
    let events: Vec<Vec<u8>> = (0..n).map(event).collect();
    for e in &events {
        tree.push_data(e);
    }
    let note =
        Checkpoint { origin: ORIGIN.into(), size: n as u64, root: tree.root(), extensions: vec![] }.sign(&log, 1_765_000_000).unwrap();
    let mut checkpoint = note.clone();
    for w in &mut witnesses {
        checkpoint.push_str(&w.add_checkpoint(&note, 0, &[], 1_765_000_060).unwrap().to_line());
    }
    Setup { log, witnesses, tree, events, checkpoint }
}

fn witness_keys(s: &Setup) -> Vec<VerifierKey> {
    s.witnesses.iter().map(|w| w.verifier().clone()).collect()
}

#[test]
fn every_event_has_a_bundle_that_verifies_and_round_trips() {
    for hash in [HashAlg::Sm3, HashAlg::Sha256] {
        let s = setup(hash, 37);
        let keys = witness_keys(&s);
        for (i, e) in s.events.iter().enumerate() {
            let bundle = Bundle::build(&s.tree, i as u64, 37, &s.checkpoint).unwrap();
            let text = bundle.to_text();
            assert!(text.starts_with(&format!("c2sp.org/tlog-proof@v1\nindex {i}\n")));
            assert_eq!(Bundle::parse(&text).unwrap(), bundle);
            assert_eq!(verify_bundle(&text, e, hash, s.log.verifier(), &keys, 3), Ok((i as u64, 37)));
        }
        let v =
            open_bundle(&Bundle::build(&s.tree, 0, 37, &s.checkpoint).unwrap().to_text(), &s.events[0], hash, s.log.verifier(), &keys, 3)
                .unwrap();
        assert_eq!(v.checkpoint.log_time, Some(1_765_000_000));
        let names: Vec<&str> = v.checkpoint.cosignatures.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["health-commission.example/w", "hospital-a.example/w", "hospital-b.example/w"]);
        assert!(v.checkpoint.cosignatures.iter().all(|c| c.timestamp == Some(1_765_000_060)));
    }
}

#[test]
fn a_bundle_that_lies_is_refused() {
    let s = setup(HashAlg::Sm3, 20);
    let keys = witness_keys(&s);
    let text = Bundle::build(&s.tree, 4, 20, &s.checkpoint).unwrap().to_text();
    let check = |t: &str, leaf: &[u8], min: usize| verify_bundle(t, leaf, HashAlg::Sm3, s.log.verifier(), &keys, min);
    // Another event, or the right event under another index.
    assert!(matches!(check(&text, &event(5), 3), Err(BundleError::Inclusion(_))));
    assert!(matches!(check(&text.replace("index 4\n", "index 5\n"), &event(4), 3), Err(BundleError::Inclusion(_))));
    // Another hash function.
    assert!(verify_bundle(&text, &event(4), HashAlg::Sha256, s.log.verifier(), &keys, 3).is_err());
    // More witnesses required than signed; witnesses not trusted count for nothing.
    assert_eq!(check(&text, &event(4), 4), Err(BundleError::TooFewCosignatures { have: 3, need: 4 }));
    assert_eq!(
        verify_bundle(&text, &event(4), HashAlg::Sm3, s.log.verifier(), &keys[..1], 2),
        Err(BundleError::TooFewCosignatures { have: 1, need: 2 })
    );
    // Not the log's key.
    let impostor = Signer::generate(ORIGIN, SigType::Sm2Cosignature).unwrap();
    assert_eq!(
        verify_bundle(&text, &event(4), HashAlg::Sm3, impostor.verifier(), &keys, 0),
        Err(BundleError::Checkpoint(CheckpointError::NoLogSignature))
    );
    // A checkpoint with another size or root, still carrying the old signatures.
    let size_line = "\n20\n";
    assert!(matches!(
        check(&text.replacen(size_line, "\n21\n", 1), &event(4), 0),
        Err(BundleError::Checkpoint(CheckpointError::BadSignature(_)))
    ));
    // A checkpoint re-signed by the log over another tree is refused by the
    // witnesses' cosignatures (they signed the real one).
    let mut other = s.tree.clone();
    other.push_data(b"extra");
    let resigned = Checkpoint { origin: ORIGIN.into(), size: 21, root: other.root(), extensions: vec![] }.sign(&s.log, 1).unwrap();
    let sigs: String = s.checkpoint.lines().skip(4).map(|l| format!("{l}\n")).collect();
    let lying = Bundle::build(&other, 4, 21, &format!("{resigned}{sigs}")).unwrap().to_text();
    assert!(matches!(check(&lying, &event(4), 1), Err(BundleError::Checkpoint(CheckpointError::BadSignature(_)))));
    // Without the witness cosignatures it verifies only with a policy of zero.
    let bare = Bundle::build(&other, 4, 21, &resigned).unwrap().to_text();
    assert_eq!(check(&bare, &event(4), 0), Ok((4, 21)));
    assert!(check(&bare, &event(4), 1).is_err());
    // Malformed texts.
    for bad in [
        text.replace("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2"),
        text.replace("index 4", "index 04"),
        text.replacen("\n\n", "\n", 1),
        text.replace("index 4\n", "index 4\nnot-base64\n"),
        String::new(),
    ] {
        assert!(matches!(check(&bad, &event(4), 0), Err(BundleError::Malformed(_) | BundleError::Checkpoint(_))), "{bad}");
    }
    // Extra data is carried, and not trusted.
    let mut b = Bundle::parse(&text).unwrap();
    b.extra = Some(b"row 4".to_vec());
    let with_extra = b.to_text();
    assert!(with_extra.contains("\nextra cm93IDQ=\nindex 4\n"));
    assert_eq!(check(&with_extra, &event(4), 3), Ok((4, 20)));
}

#[test]
fn the_proof_check_binary_needs_nothing_but_files() {
    let s = setup(HashAlg::Sm3, 12);
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_string_lossy().to_string();
    std::fs::write(p("log.vkey"), format!("{}\n", s.log.verifier())).unwrap();
    for (i, w) in s.witnesses.iter().enumerate() {
        std::fs::write(p(&format!("w{i}.vkey")), format!("{}\n", w.verifier())).unwrap();
    }
    std::fs::write(p("event.json"), event(7)).unwrap();
    std::fs::write(p("other.json"), event(8)).unwrap();
    std::fs::write(p("proof.tlog-proof"), Bundle::build(&s.tree, 7, 12, &s.checkpoint).unwrap().to_text()).unwrap();
    let run = |args: &[String]| Command::new(env!("CARGO_BIN_EXE_yunying-proof-check")).args(args).output().unwrap();
    let mut args = vec!["--log-key".to_string(), p("log.vkey")];
    for i in 0..3 {
        args.extend(["--witness-key".to_string(), p(&format!("w{i}.vkey"))]);
    }
    let ok = run(&[args.clone(), vec![p("proof.tlog-proof"), p("event.json")]].concat());
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let out = String::from_utf8_lossy(&ok.stdout);
    assert!(out.starts_with("OK: entry 7 of 12 in log yunying.example/audit"), "{out}");
    assert!(out.contains("checkpoint signed by the log at 1765000000"), "{out}");
    assert!(out.contains("cosigned by hospital-a.example/w at 1765000060"), "{out}");
    let wrong = run(&[args.clone(), vec![p("proof.tlog-proof"), p("other.json")]].concat());
    assert_eq!(wrong.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong.stderr).contains("NOT VERIFIED"));
    // A key given inline, and a quorum lower than the keys given.
    let inline = run(&[
        vec!["--log-key".into(), p("log.vkey"), "--witness-key".into(), s.witnesses[0].verifier().to_string()],
        vec!["--min-cosignatures".into(), "1".into(), p("proof.tlog-proof"), p("event.json")],
    ]
    .concat());
    assert!(inline.status.success(), "{}", String::from_utf8_lossy(&inline.stderr));
    let usage = run(&["--log-key".to_string(), p("log.vkey")]);
    assert_eq!(usage.status.code(), Some(2));
}
