//! Witnesses end to end: server A's checkpoints are cosigned by server B
//! (a Yunying node configured as A's witness) and the proof bundles carry
//! B's cosignature, checked offline; a third server C holding a copy of
//! A's signing key shows B a different history, and B refuses it, raises
//! the alarm and records it; a directory witness gets every checkpoint
//! with a consistency proof that verifies.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use yunying_ledger::{Checkpoint, HashAlg, Note, verify_consistency};

use crate::film::{Reply, request};
use crate::harness::*;
use crate::people::{add_user, enrolled, login, post};

fn get(port: u16, path: &str, cookie: &str) -> Reply {
    request(port, "GET", path, &[("Cookie", cookie)], None)
}

/// `yunying audit key [--witness]` on a data directory (makes the key).
fn key_of(data: &Path, witness: bool) -> String {
    let mut cmd = cli(data);
    cmd.args(["audit", "key"]);
    if witness {
        cmd.arg("--witness");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// A plain-text POST (what a tlog-witness client sends).
fn post_text(port: u16, path: &str, body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    let (headers, body) = raw.split_once("\r\n\r\n").unwrap();
    (headers.split_whitespace().nth(1).unwrap().parse().unwrap(), body.to_string())
}

fn checkpoint_now(port: u16, auditor: &str) -> Value {
    let cp = post(port, "/api/audit/checkpoints", Some(auditor), &json!({}));
    assert_eq!(cp.status, 200, "{}", String::from_utf8_lossy(&cp.body));
    cp.json()
}

fn opened(note: &str) -> Checkpoint {
    Checkpoint::parse(&Note::parse(note).unwrap().text).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_witness_cosigns_and_raises_the_alarm_on_a_fork() {
    let tmp = tempfile::tempdir().unwrap();
    let (data_a, data_b, data_c) = (tmp.path().join("a"), tmp.path().join("b"), tmp.path().join("c"));
    let anchor = tmp.path().join("anchor");
    for d in [&data_a, &data_b, &data_c] {
        add_user(d, "auditor", None, "audit-admin");
    }
    let log_key = key_of(&data_a, false);
    let witness_key = key_of(&data_b, true);
    assert!(witness_key.starts_with("yunying/audit/witness+"), "{witness_key}");

    let mut b = Server::start(&data_b, Some(&format!("[[audit.witness_of]]\nkey = \"{log_key}\"\n")));
    // Checkpoints only on demand during the test (the periodic one would
    // race with the sizes asserted below).
    let config_a = format!(
        "[audit]\ncheckpoint_secs = 3600\n[[audit.witnesses]]\nkind = \"http\"\nurl = \"http://127.0.0.1:{}/audit/witness/add-checkpoint\"\nkey = \"{witness_key}\"\n\
         [[audit.witnesses]]\nkind = \"dir\"\ndir = \"{}\"\n",
        b.http_port,
        anchor.display()
    );
    let mut a = Server::start(&data_a, Some(&config_a));
    let (pa, pb) = (a.http_port, b.http_port);

    // Activity on A, a checkpoint, B's cosignature.
    assert_eq!(login(pa, "nobody", "wrong", None).status, 401);
    let (auditor_a, _) = enrolled(pa, "auditor");
    let first = checkpoint_now(pa, &auditor_a);
    assert!(first["tree_size"].as_u64().unwrap() >= 2, "{first}");
    let events = get(pa, "/api/audit/events?event=sign-in", &auditor_a).json();
    let leaf = events.as_array().unwrap().iter().find(|e| e["event"]["result"] == "denied").expect("the failed sign-in")["leaf_index"]
        .as_i64()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let proof = loop {
        let proof = get(pa, &format!("/api/audit/proof?leaf={leaf}"), &auditor_a).json();
        if proof["bundle"].as_str().unwrap().contains("\u{2014} yunying/audit/witness ") {
            break proof;
        }
        assert!(Instant::now() < deadline, "B never cosigned A's checkpoint: {proof}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };

    // The bundle, B's cosignature included, checks offline; without B's
    // key the same policy fails.
    let dir = tmp.path().join("proof");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("a.tlog-proof"), proof["bundle"].as_str().unwrap()).unwrap();
    std::fs::write(dir.join("a.entry"), proof["entry"].as_str().unwrap()).unwrap();
    let nowhere = tmp.path().join("no-data-dir");
    let check = |witness: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_yunying"));
        cmd.args(["--data-dir", nowhere.to_str().unwrap(), "audit", "check-proof", dir.to_str().unwrap(), "--log-key", &log_key]);
        if let Some(w) = witness {
            cmd.args(["--witness-key", w]);
        }
        cmd.args(["--min-cosignatures", "1"]).output().unwrap()
    };
    let out = check(Some(&witness_key));
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!check(None).status.success(), "no trusted witness: too few cosignatures");

    // More activity, a second checkpoint: B follows (consistency from the
    // first), and the directory anchor holds both with proofs that verify.
    assert_eq!(login(pa, "nobody", "wrong-again", None).status, 401);
    let second = checkpoint_now(pa, &auditor_a);
    let second_size = second["tree_size"].as_u64().unwrap();
    assert!(second_size > first["tree_size"].as_u64().unwrap());
    let anchored = anchor.join("yunying_audit");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !anchored.join(format!("{second_size}.checkpoint")).exists() {
        assert!(Instant::now() < deadline, "the directory witness never got checkpoint {second_size}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let mut verified = 0;
    for entry in std::fs::read_dir(&anchored).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "consistency") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        let old: u64 = lines.next().unwrap().strip_prefix("old ").unwrap().parse().unwrap();
        let hashes: Vec<yunying_ledger::Hash> = lines.map(|l| yunying_ledger::Hash::from_base64(l).unwrap()).collect();
        let new = opened(&std::fs::read_to_string(path.with_extension("checkpoint")).unwrap());
        let old_root = if old == 0 {
            HashAlg::Sm3.empty_root()
        } else {
            opened(&std::fs::read_to_string(anchored.join(format!("{old}.checkpoint"))).unwrap()).root
        };
        verify_consistency(HashAlg::Sm3, old, new.size, &hashes, &old_root, &new.root)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        verified += 1;
    }
    assert!(verified >= 2, "one proof per exported checkpoint");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let p = get(pa, &format!("/api/audit/proof?leaf={leaf}&size={second_size}"), &auditor_a).json();
        if p["bundle"].as_str().unwrap().contains("\u{2014} yunying/audit/witness ") {
            break;
        }
        assert!(Instant::now() < deadline, "B never cosigned the second checkpoint");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // C: A's key, another history, more events than A.
    let key_file = data_a.join("audit").join("signing-key.pem");
    let mut c = Server::start(&data_c, Some(&format!("[audit]\nsigning_key_file = \"{}\"\n", key_file.display())));
    let pc = c.http_port;
    for i in 0..(second_size + 5) {
        assert_eq!(login(pc, &format!("someone-{i}"), "wrong", None).status, 401);
    }
    let (auditor_c, _) = enrolled(pc, "auditor");
    let forged = checkpoint_now(pc, &auditor_c);
    let forged_size = forged["tree_size"].as_u64().unwrap();
    assert!(forged_size > second_size, "{forged_size} > {second_size}");
    // C's own proof from B's size: true of C's tree, not of A's.
    let (status, proof) = http_get(pc, &format!("/audit/consistency?old={second_size}&new={forged_size}")).unwrap();
    assert_eq!(status, 200);
    let body = format!("old {second_size}\n{proof}\n{}", forged["note"].as_str().unwrap());
    let (status, said) = post_text(pb, "/audit/witness/add-checkpoint", &body);
    assert_eq!(status, 422, "{said}");

    // The alarm: listed for B's audit administrator, with both roots.
    let (auditor_b, _) = enrolled(pb, "auditor");
    let deadline = Instant::now() + Duration::from_secs(20);
    let alarm = loop {
        let alarms = get(pb, "/api/audit/witness/alarms", &auditor_b).json();
        if let Some(a) = alarms["alarms"].as_array().unwrap().first() {
            break a.clone();
        }
        assert!(Instant::now() < deadline, "no alarm listed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let facts = &alarm["facts"];
    assert_eq!(facts["origin"], "yunying/audit");
    assert_eq!(facts["cosigned_size"].as_u64(), Some(second_size));
    assert_eq!(facts["conflicting_size"].as_u64(), Some(forged_size));
    assert_eq!(facts["cosigned_root"].as_str(), Some(opened(second["note"].as_str().unwrap()).root.to_hex().as_str()));
    assert_eq!(facts["conflicting_note"], forged["note"]);
    assert!(matches!(get(pb, "/api/audit/witness/alarms", "").status, 401 | 403), "the alarms are the audit administrator's");

    // The same size with another root is a fork outright (409), and A's
    // true checkpoint is still accepted afterwards.
    let c_at_a_size = {
        let cps = get(pc, "/api/audit/checkpoints", &auditor_c).json();
        cps["checkpoints"].as_array().unwrap().iter().find(|c| c["tree_size"].as_u64() == Some(second_size)).cloned()
    };
    if let Some(cp) = c_at_a_size {
        let (status, said) =
            post_text(pb, "/audit/witness/add-checkpoint", &format!("old {second_size}\n\n{}", cp["note"].as_str().unwrap()));
        assert_eq!(status, 409, "{said}");
    }
    let (status, said) = post_text(pb, "/audit/witness/add-checkpoint", &format!("old 0\n\n{}", second["note"].as_str().unwrap()));
    assert_eq!((status, said.trim()), (409, second_size.to_string().as_str()), "a stale old size is told B's size");
    for s in [&mut a, &mut b, &mut c] {
        s.stop();
    }
}
