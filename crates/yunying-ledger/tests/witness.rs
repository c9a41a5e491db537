//! Checkpoints signed by a log, cosigned by witnesses that check consistency,
//! and the witness's refusals: unknown log, bad signature, old size mismatch,
//! bad proof, and a fork (with both checkpoints as evidence).

use yunying_ledger::checkpoint::{self, Checkpoint};
use yunying_ledger::note::append_signatures;
use yunying_ledger::witness::{TrustedLog, format_add_checkpoint, parse_add_checkpoint};
use yunying_ledger::{CheckpointError, HashAlg, Note, SigType, Signer, Tree, Witness, WitnessError, WitnessState};

const ORIGIN: &str = "yunying.example/audit";

struct Log {
    signer: Signer,
    tree: Tree,
}

impl Log {
    fn new(kind: SigType) -> Log {
        Log { signer: Signer::generate(ORIGIN, kind).unwrap(), tree: Tree::new(HashAlg::Sm3) }
    }

    fn append(&mut self, n: usize) {
        for _ in 0..n {
            let i = self.tree.size();
            self.tree.push_data(format!("{{\"event\":\"study.view\",\"seq\":{i}}}").as_bytes());
        }
    }

    fn checkpoint(&self, size: u64, time: u64) -> String {
        Checkpoint { origin: ORIGIN.into(), size, root: self.tree.root_at(size).unwrap(), extensions: vec![] }
            .sign(&self.signer, time)
            .unwrap()
    }
}

fn witness(log: &Log, kind: SigType) -> Witness {
    let logs = vec![TrustedLog { key: log.signer.verifier().clone(), hash: HashAlg::Sm3 }];
    Witness::new(Signer::generate("witness.example/w1", kind).unwrap(), logs, WitnessState::default()).unwrap()
}

#[test]
fn checkpoints_carry_the_logs_time_in_its_signature_and_three_standard_lines() {
    for kind in [SigType::Sm2Cosignature, SigType::Ed25519Cosignature] {
        let mut log = Log::new(kind);
        log.append(10);
        let note = log.checkpoint(10, 1_765_000_000);
        let text = Note::parse(&note).unwrap().text;
        assert_eq!(text.lines().count(), 3, "{text}");
        let opened = checkpoint::open(&note, log.signer.verifier(), &[]).unwrap();
        assert_eq!(opened.checkpoint.size, 10);
        assert_eq!(opened.checkpoint.root, log.tree.root_at(10).unwrap());
        assert_eq!(opened.log_time, Some(1_765_000_000));
        // Another key of the same name is not the log's.
        let other = Signer::generate(ORIGIN, kind).unwrap();
        assert_eq!(checkpoint::open(&note, other.verifier(), &[]).unwrap_err(), CheckpointError::NoLogSignature);
        // A changed body fails the known key's signature.
        let forged = note.replacen("\n10\n", "\n11\n", 1);
        assert!(matches!(checkpoint::open(&forged, log.signer.verifier(), &[]), Err(CheckpointError::BadSignature(_))));
    }
    // A plain Ed25519 log signature carries no time.
    let mut log = Log::new(SigType::Ed25519);
    log.append(1);
    assert_eq!(checkpoint::open(&log.checkpoint(1, 99), log.signer.verifier(), &[]).unwrap().log_time, None);
}

#[test]
fn checkpoint_bodies_are_parsed_strictly() {
    let root = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    assert!(Checkpoint::parse(&format!("o\n0\n{root}\n")).is_ok());
    assert_eq!(Checkpoint::parse(&format!("o\n5\n{root}\next\n")).unwrap().extensions, vec!["ext".to_string()]);
    for bad in [
        format!("o\n05\n{root}\n"),
        format!("o\n-1\n{root}\n"),
        format!("o\n1\n{root}"),
        format!("\n1\n{root}\n"),
        format!("o\n1\n{root}\n\n"),
        "o\n1\nAAAA\n".to_string(),
        format!("o\n99999999999999999999\n{root}\n"),
        format!("o\n1\n{}\n", root.replace('=', "")),
    ] {
        assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
    }
    // What does not read back as itself is not signed.
    let signer = Signer::generate("o", SigType::Ed25519Cosignature).unwrap();
    let mut cp = Checkpoint::parse(&format!("o\n1\n{root}\n")).unwrap();
    cp.extensions = vec!["a\nb".into()];
    assert!(cp.sign(&signer, 1).is_err());
    cp.extensions = vec![String::new()];
    assert!(cp.sign(&signer, 1).is_err());
    cp.extensions = vec![];
    assert!(cp.sign(&signer, 1).is_ok());
    cp.origin = "p".into();
    assert_eq!(cp.sign(&signer, 1).unwrap_err(), CheckpointError::WrongOrigin);
    assert!(Note::parse(&format!("o\n1\n{root}\n\n")).is_err());
    assert!(Note::parse(&format!("o\n1\n{root}\n\n\u{2014} x\n")).is_err());
    assert!(Note::parse(&"a".repeat((1 << 20) + 1)).is_err());
    let many = format!("o\n1\n{root}\n\n{}", "\u{2014} k AAAAAAA=\n".repeat(101));
    assert!(Note::parse(&many).is_err());
    assert!(Note::parse(&format!("o\u{7}\n1\n{root}\n\n\u{2014} k AAAAAAA=\n")).is_err());
}

#[test]
fn a_witness_cosigns_consistent_checkpoints_and_clients_count_them() {
    for kind in [SigType::Sm2Cosignature, SigType::Ed25519Cosignature] {
        let mut log = Log::new(SigType::Sm2Cosignature);
        let mut w = witness(&log, kind);
        log.append(5);
        let cp5 = log.checkpoint(5, 100);
        let cosig = w.add_checkpoint(&cp5, 0, &[], 1_000).unwrap();
        assert_eq!(w.state().logs[ORIGIN].size, 5);
        log.append(20);
        let cp25 = log.checkpoint(25, 200);
        let proof = log.tree.consistency_proof(5, 25).unwrap();
        // Through the wire format of add-checkpoint.
        let body = format_add_checkpoint(5, &proof, &cp25);
        let (old, p, note) = parse_add_checkpoint(&body).unwrap();
        assert_eq!((old, p.as_slice(), note), (5, proof.as_slice(), cp25.as_str()));
        let line = w.add_checkpoint_request(&body, 2_000).unwrap();
        let cosigned = append_signatures(&cp25, &line).unwrap();
        assert_eq!(cosigned, format!("{cp25}{line}"));
        assert!(append_signatures(&cp25, "not a signature\n").is_err());
        assert!(append_signatures(&cp25, line.trim_end()).is_err());
        let opened = checkpoint::open(&cosigned, log.signer.verifier(), &[w.verifier().clone()]).unwrap();
        assert_eq!(opened.cosignatures.len(), 1);
        assert_eq!(opened.cosignatures[0].timestamp, Some(2_000));
        // The first cosignature was over another checkpoint: it does not
        // verify on this one, and a bad signature of a known key refuses it.
        let wrong = format!("{cp25}{}", cosig.to_line());
        assert!(matches!(checkpoint::open(&wrong, log.signer.verifier(), &[w.verifier().clone()]), Err(CheckpointError::BadSignature(_))));
        // The state survives serialisation.
        let json = serde_json::to_string(w.state()).unwrap();
        let state: WitnessState = serde_json::from_str(&json).unwrap();
        assert_eq!(&state, w.state());
        assert_eq!(state.logs[ORIGIN].size, 25);
    }
}

#[test]
fn a_witness_refuses_what_the_spec_refuses() {
    let mut log = Log::new(SigType::Sm2Cosignature);
    let mut w = witness(&log, SigType::Ed25519Cosignature);
    log.append(8);
    let cp8 = log.checkpoint(8, 1);
    w.add_checkpoint(&cp8, 0, &[], 10).unwrap();
    log.append(8);
    let cp16 = log.checkpoint(16, 2);
    let proof = log.tree.consistency_proof(8, 16).unwrap();

    // Unknown log: 404.
    let stranger = Log::new(SigType::Sm2Cosignature);
    let mut other_origin = Checkpoint::parse(&Note::parse(&cp8).unwrap().text).unwrap();
    other_origin.origin = "elsewhere.example/log".into();
    let stray = other_origin.sign(&Signer::generate("elsewhere.example/log", SigType::Sm2Cosignature).unwrap(), 1).unwrap();
    let e = w.add_checkpoint(&stray, 8, &proof, 11).unwrap_err();
    assert_eq!((e.http_status(), e.clone()), (404, WitnessError::UnknownLog));
    // Signed by another key of the log's name: 403.
    let e = w.add_checkpoint(&stranger.checkpoint(0, 1), 0, &[], 11).unwrap_err();
    assert_eq!((e.http_status(), e), (403, WitnessError::BadSignature));
    // Old size above the checkpoint's: 400; not the latest cosigned: 409.
    assert_eq!(w.add_checkpoint(&cp16, 17, &proof, 11).unwrap_err().http_status(), 400);
    let e = w.add_checkpoint(&cp16, 4, &proof, 11).unwrap_err();
    assert_eq!((e.http_status(), e), (409, WitnessError::OldSizeMismatch { latest: 8 }));
    // A proof that does not verify: 422, with the checkpoint kept.
    let mut bad = proof.clone();
    bad[0].0[0] ^= 1;
    let e = w.add_checkpoint(&cp16, 8, &bad, 11).unwrap_err();
    assert_eq!(e.http_status(), 422);
    assert_eq!(e, WitnessError::BadProof { checkpoint: cp16.clone(), cosigned: Some(cp8.clone()) });
    // Nothing of that changed the state.
    assert_eq!(w.state().logs[ORIGIN].size, 8);
    w.add_checkpoint(&cp16, 8, &proof, 12).unwrap();
    // The same checkpoint again is cosigned again.
    w.add_checkpoint(&cp16, 16, &[], 13).unwrap();
    // Malformed requests: 400.
    assert_eq!(w.add_checkpoint_request("old 01\n\n", 1).unwrap_err().http_status(), 400);
    assert_eq!(w.add_checkpoint_request(&format!("old 0\n{}\n\n{cp8}", proof[0].to_base64()), 1).unwrap_err().http_status(), 400);
    assert_eq!(w.add_checkpoint_request(&format!("old 16\n{}", "x\n".repeat(3)), 1).unwrap_err().http_status(), 400);
}

#[test]
fn a_fork_is_caught_with_both_checkpoints_as_evidence() {
    let mut log = Log::new(SigType::Sm2Cosignature);
    let mut w = witness(&log, SigType::Sm2Cosignature);
    log.append(10);
    let honest = log.checkpoint(10, 1);
    w.add_checkpoint(&honest, 0, &[], 5).unwrap();
    // The log's key signs another history of the same size.
    let mut other = Tree::new(HashAlg::Sm3);
    for i in 0..10 {
        other.push_data(
            if i == 3 { b"rewritten".to_vec() } else { format!("{{\"event\":\"study.view\",\"seq\":{i}}}").into_bytes() }.as_slice(),
        );
    }
    let forked = Checkpoint { origin: ORIGIN.into(), size: 10, root: other.root(), extensions: vec![] }.sign(&log.signer, 2).unwrap();
    let e = w.add_checkpoint(&forked, 10, &[], 6).unwrap_err();
    assert_eq!(e.http_status(), 409);
    let WitnessError::Fork(evidence) = e else { panic!("{e:?}") };
    assert_eq!((evidence.cosigned.as_str(), evidence.conflicting.as_str()), (honest.as_str(), forked.as_str()));
    // Both are validly signed by the log, with different roots for one size.
    let a = checkpoint::open(&evidence.cosigned, log.signer.verifier(), &[]).unwrap().checkpoint;
    let b = checkpoint::open(&evidence.conflicting, log.signer.verifier(), &[]).unwrap().checkpoint;
    assert_eq!(a.size, b.size);
    assert_ne!(a.root, b.root);
    // A later checkpoint of the rewritten history has no valid proof from the cosigned one.
    for i in 10..20 {
        other.push_data(format!("{i}").as_bytes());
    }
    let later = Checkpoint { origin: ORIGIN.into(), size: 20, root: other.root(), extensions: vec![] }.sign(&log.signer, 3).unwrap();
    let proof = other.consistency_proof(10, 20).unwrap();
    assert_eq!(w.add_checkpoint(&later, 10, &proof, 7).unwrap_err().http_status(), 422);
    assert_eq!(w.state().logs[ORIGIN].checkpoint, honest);
}

#[test]
fn a_witness_needs_a_timestamped_key() {
    let log = Log::new(SigType::Sm2Cosignature);
    let plain = Signer::generate("w", SigType::Ed25519).unwrap();
    let logs = vec![TrustedLog { key: log.signer.verifier().clone(), hash: HashAlg::Sm3 }];
    assert!(Witness::new(plain, logs, WitnessState::default()).is_err());
}
