//! The README's Python check (gmssl, an independent SM2/SM3 implementation)
//! run on bundles this crate makes. Ignored by default: it needs
//! `pip install gmssl==3.2.2`; `YUNYING_PYTHON` names the interpreter.
//!
//! ```text
//! YUNYING_PYTHON=/path/to/python cargo test -p yunying-ledger --test python -- --ignored
//! ```

use std::process::Command;

use yunying_ledger::checkpoint::Checkpoint;
use yunying_ledger::witness::TrustedLog;
use yunying_ledger::{Bundle, HashAlg, Note, SigType, Signer, Tree, Witness, WitnessState};

fn readme_script() -> String {
    let readme = include_str!("../README.md");
    let after = readme.split("<!-- check_bundle.py -->\n```python\n").nth(1).expect("the README holds the script");
    after.split("```").next().unwrap().to_string()
}

#[test]
#[ignore = "needs python with gmssl; set YUNYING_PYTHON"]
fn the_readme_python_check_agrees_with_the_library() {
    let python = std::env::var("YUNYING_PYTHON").unwrap_or_else(|_| "python3".into());
    let dir = tempfile::tempdir().unwrap();
    let p = |name: &str| dir.path().join(name).to_string_lossy().to_string();
    std::fs::write(p("check_bundle.py"), readme_script()).unwrap();
    // Many keys, so that public keys with leading zero or 4 hex digits occur.
    for round in 0..6 {
        let log = Signer::generate("yunying.example/audit", SigType::Sm2Cosignature).unwrap();
        let logs = vec![TrustedLog { key: log.verifier().clone(), hash: HashAlg::Sm3 }];
        let mut w = Witness::new(Signer::generate("w.example/1", SigType::Sm2Cosignature).unwrap(), logs, WitnessState::default()).unwrap();
        let mut tree = Tree::new(HashAlg::Sm3);
        let n = 5 + round * 7;
        for i in 0..n {
            tree.push_data(format!("event {i}").as_bytes());
        }
        let note = Checkpoint { origin: "yunying.example/audit".into(), size: n, root: tree.root(), extensions: vec![] }
            .sign(&log, 1_765_000_000)
            .unwrap();
        let cosigned = format!("{note}{}", w.add_checkpoint(&note, 0, &[], 1_765_000_001).unwrap().to_line());
        let index = round * 3 % n;
        std::fs::write(p("b.tlog-proof"), Bundle::build(&tree, index, n, &cosigned).unwrap().to_text()).unwrap();
        std::fs::write(p("leaf"), format!("event {index}")).unwrap();
        std::fs::write(p("wrong"), format!("event {}", index + 1)).unwrap();
        std::fs::write(p("log.vkey"), log.verifier().to_string()).unwrap();
        std::fs::write(p("w.vkey"), w.verifier().to_string()).unwrap();
        let run = |leaf: &str| {
            Command::new(&python).args([p("check_bundle.py"), p("b.tlog-proof"), p(leaf), p("log.vkey"), p("w.vkey")]).output().unwrap()
        };
        let ok = run("leaf");
        assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
        assert_eq!(
            String::from_utf8_lossy(&ok.stdout),
            format!("OK: entry {index} of {n} in yunying.example/audit; cosigned by 1 of 1 witnesses\n")
        );
        assert!(!run("wrong").status.success());
        // A log signature with one bit changed is refused.
        let mut bad = Note::parse(&cosigned).unwrap();
        bad.signatures[0].signature[20] ^= 1;
        std::fs::write(p("b.tlog-proof"), Bundle::build(&tree, index, n, &bad.to_text()).unwrap().to_text()).unwrap();
        let refused = run("leaf");
        assert!(!refused.status.success());
        assert!(String::from_utf8_lossy(&refused.stderr).contains("bad signature of yunying.example/audit"));
    }
}
