//! Timing for `audit verify` at 1,000,000 events (ignored by default; run
//! in release):
//!
//! ```text
//! cargo test --release -p yunying-ledger --test bench -- --ignored --nocapture
//! ```
//!
//! It prints: SM3 leaf hashing of 1M ~300-byte events with the frontier (a
//! root read at every 1,000th size, as checkpoints would be), the same with
//! a root at every size, building the in-memory tree, and proof generation.

use std::time::Instant;

use yunying_ledger::{Frontier, HashAlg, Tree, verify_consistency, verify_inclusion};

const N: u64 = 1_000_000;

fn event(i: u64, buf: &mut Vec<u8>) {
    buf.clear();
    buf.extend_from_slice(
        format!(
            "{{\"seq\":{i},\"at\":\"2026-12-05T20:00:00.{:06}Z\",\"event\":\"study.view\",\"principal\":\"person:{:08}\",\"via\":\"grant:{:06}\",\
             \"client\":\"10.1.{}.{}\",\"result\":\"allowed\",\"studies\":[\"1.2.156.112605.1.2.{}.{}\"],\"detail\":\"wado-rs instance retrieve\"}}",
            i % 1_000_000,
            i % 99_991,
            i % 7_919,
            i % 256,
            (i / 256) % 256,
            i,
            i % 4099
        )
        .as_bytes(),
    );
    buf.resize(300, b' ');
}

#[test]
#[ignore = "timing; run in release with --ignored --nocapture"]
fn one_million_events() {
    let alg = HashAlg::Sm3;
    let mut buf = Vec::with_capacity(320);

    let t = Instant::now();
    let mut total = 0usize;
    for i in 0..N {
        event(i, &mut buf);
        total += buf[10] as usize;
    }
    let formatting = t.elapsed();
    assert!(total > 0);

    let t = Instant::now();
    let mut f = Frontier::new(alg);
    let mut checkpoints = Vec::new();
    for i in 0..N {
        event(i, &mut buf);
        f.push(alg.leaf_hash(&buf));
        if (i + 1) % 1000 == 0 {
            checkpoints.push(f.root());
        }
    }
    let one_pass = t.elapsed();

    let t = Instant::now();
    let mut leaves = Vec::with_capacity(N as usize);
    for i in 0..N {
        event(i, &mut buf);
        leaves.push(alg.leaf_hash(&buf));
    }
    let hashing = t.elapsed();

    let t = Instant::now();
    let mut f = Frontier::new(alg);
    let mut last = f.root();
    for l in &leaves {
        f.push(*l);
        last = f.root();
    }
    let every_size = t.elapsed();

    let t = Instant::now();
    let mut tree = Tree::new(alg);
    for l in &leaves {
        tree.push(*l);
    }
    let build = t.elapsed();
    assert_eq!(tree.root(), last);
    for (k, root) in checkpoints.iter().enumerate() {
        assert_eq!(tree.root_at((k as u64 + 1) * 1000).unwrap(), *root);
    }

    let t = Instant::now();
    let mut n = 0;
    for i in (0..N).step_by(1000) {
        let p = tree.inclusion_proof(i, N).unwrap();
        verify_inclusion(alg, i, N, &leaves[i as usize], &p, &last).unwrap();
        n += 1;
    }
    let inclusion = t.elapsed() / n;

    let t = Instant::now();
    let mut n = 0;
    for m in (1..N).step_by(9973) {
        let p = tree.consistency_proof(m, N).unwrap();
        verify_consistency(alg, m, N, &p, &tree.root_at(m).unwrap(), &last).unwrap();
        n += 1;
    }
    let consistency = t.elapsed() / n;

    println!("1,000,000 events of 300 bytes, SM3, {} cores:", std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!("  one pass (leaf hash + frontier, root every 1,000): {one_pass:.2?}");
    println!("  of which making the test events (not hashing):     {formatting:.2?}");
    println!("  leaf hashing alone (events made again):     {hashing:.2?}");
    println!("  frontier with a root at every size:                 {every_size:.2?}");
    println!("  in-memory tree build (hashes given):                {build:.2?}");
    println!("  inclusion proof + verify, each:                     {inclusion:.2?}");
    println!("  consistency proof + root + verify, each:            {consistency:.2?}");
}
