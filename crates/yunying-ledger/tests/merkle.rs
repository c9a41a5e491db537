//! The tree maths against the published RFC 6962 vectors (SHA-256, from the
//! certificate-transparency reference tests), and exhaustively against the
//! definition for every tree of up to 64 leaves, with both hash functions.

use yunying_ledger::proof::naive_root;
use yunying_ledger::{Frontier, Hash, HashAlg, ProofError, Tree, verify_consistency, verify_inclusion};

fn h(hex: &str) -> Hash {
    Hash(hex::decode(hex).unwrap().try_into().unwrap())
}

const LEAVES: [&str; 8] = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

fn reference_tree() -> Tree {
    let mut t = Tree::new(HashAlg::Sha256);
    for l in LEAVES {
        t.push_data(&hex::decode(l).unwrap());
    }
    t
}

#[test]
fn roots_match_rfc6962_reference_at_every_size() {
    let t = reference_tree();
    let mut f = Frontier::new(HashAlg::Sha256);
    assert_eq!(f.root(), h(ROOTS[0]));
    for (n, leaf) in LEAVES.iter().enumerate() {
        f.push_data(&hex::decode(leaf).unwrap());
        assert_eq!(f.root(), h(ROOTS[n + 1]), "frontier at size {}", n + 1);
    }
    for (n, root) in ROOTS.iter().enumerate() {
        assert_eq!(t.root_at(n as u64).unwrap(), h(root), "tree at size {n}");
    }
}

#[test]
fn inclusion_proofs_match_rfc6962_reference() {
    let t = reference_tree();
    // (leaf index, tree size, proof) from the reference tests.
    let vectors: [(u64, u64, &[&str]); 4] = [
        (
            0,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            5,
            8,
            &[
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
        (
            1,
            5,
            &[
                "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (index, size, want) in vectors {
        let want: Vec<Hash> = want.iter().map(|x| h(x)).collect();
        assert_eq!(t.inclusion_proof(index, size).unwrap(), want, "leaf {index} size {size}");
        let leaf = t.leaf_hash(index).unwrap();
        verify_inclusion(HashAlg::Sha256, index, size, &leaf, &want, &h(ROOTS[size as usize])).unwrap();
        assert!(verify_inclusion(HashAlg::Sha256, index, size, &leaf, &want, &h(ROOTS[0])).is_err());
    }
}

#[test]
fn consistency_proofs_match_rfc6962_reference() {
    let t = reference_tree();
    let vectors: [(u64, u64, &[&str]); 4] = [
        (1, 1, &[]),
        (
            1,
            8,
            &[
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            ],
        ),
        (
            6,
            8,
            &[
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            ],
        ),
        (
            2,
            5,
            &[
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            ],
        ),
    ];
    for (old, new, want) in vectors {
        let want: Vec<Hash> = want.iter().map(|x| h(x)).collect();
        assert_eq!(t.consistency_proof(old, new).unwrap(), want, "{old} -> {new}");
        let (r1, r2) = (h(ROOTS[old as usize]), h(ROOTS[new as usize]));
        verify_consistency(HashAlg::Sha256, old, new, &want, &r1, &r2).unwrap();
        if old != new {
            assert!(verify_consistency(HashAlg::Sha256, old, new, &want, &r2, &r2).is_err());
        }
    }
}

fn leaves(alg: HashAlg, n: u64) -> Vec<Hash> {
    (0..n).map(|i| alg.leaf_hash(format!("event {i}").as_bytes())).collect()
}

fn flipped(h: &Hash) -> Hash {
    let mut x = *h;
    x.0[7] ^= 0x20;
    x
}

/// Every proof of every tree of up to 64 leaves verifies against the roots
/// computed from the definition, and no altered proof, leaf, root, index or
/// size does.
fn exhaustive(alg: HashAlg) {
    let all = leaves(alg, 64);
    let mut tree = Tree::new(alg);
    let mut frontier = Frontier::new(alg);
    let roots: Vec<Hash> = (0..=64).map(|n| naive_root(alg, &all[..n])).collect();
    for (n, leaf) in all.iter().enumerate() {
        tree.push(*leaf);
        frontier.push(*leaf);
        assert_eq!(frontier.root(), roots[n + 1]);
    }
    for n in 0..=64u64 {
        let root = roots[n as usize];
        assert_eq!(tree.root_at(n).unwrap(), root);
        for i in 0..n {
            let proof = tree.inclusion_proof(i, n).unwrap();
            let leaf = all[i as usize];
            verify_inclusion(alg, i, n, &leaf, &proof, &root).unwrap_or_else(|e| panic!("leaf {i} of {n}: {e}"));
            assert!(verify_inclusion(alg, i, n, &flipped(&leaf), &proof, &root).is_err());
            assert!(verify_inclusion(alg, i, n, &leaf, &proof, &flipped(&root)).is_err());
            for k in 0..proof.len() {
                let mut bad = proof.clone();
                bad[k] = flipped(&bad[k]);
                assert!(verify_inclusion(alg, i, n, &leaf, &bad, &root).is_err());
            }
            if n > 1 {
                let other = (i + 1) % n;
                assert!(verify_inclusion(alg, other, n, &leaf, &proof, &root).is_err(), "leaf {i} of {n} at {other}");
            }
            let mut longer = proof.clone();
            longer.push(root);
            assert!(verify_inclusion(alg, i, n, &leaf, &longer, &root).is_err());
        }
        for m in 0..=n {
            let proof = tree.consistency_proof(m, n).unwrap();
            let old = roots[m as usize];
            verify_consistency(alg, m, n, &proof, &old, &root).unwrap_or_else(|e| panic!("{m} -> {n}: {e}"));
            if m > 0 && m < n {
                assert!(verify_consistency(alg, m, n, &proof, &flipped(&old), &root).is_err());
                assert!(verify_consistency(alg, m, n, &proof, &old, &flipped(&root)).is_err());
                for k in 0..proof.len() {
                    let mut bad = proof.clone();
                    bad[k] = flipped(&bad[k]);
                    assert!(verify_consistency(alg, m, n, &bad, &old, &root).is_err(), "{m} -> {n} hash {k}");
                }
                assert!(verify_consistency(alg, m, n, &proof[..proof.len() - 1], &old, &root).is_err());
                // A tree that is not an extension of the first.
                if m + 1 < n {
                    let forged =
                        naive_root(alg, &[&all[..m as usize], &[flipped(&all[m as usize])], &all[m as usize + 1..n as usize]].concat());
                    assert!(verify_consistency(alg, m, n, &proof, &old, &forged).is_err());
                }
            }
        }
        assert!(verify_consistency(alg, n, n, &[], &root, &flipped(&root)).is_err());
    }
}

#[test]
fn every_proof_of_every_tree_up_to_64_leaves_sha256() {
    exhaustive(HashAlg::Sha256);
}

#[test]
fn every_proof_of_every_tree_up_to_64_leaves_sm3() {
    exhaustive(HashAlg::Sm3);
}

#[test]
fn out_of_range_requests_are_errors_not_panics() {
    let mut t = Tree::new(HashAlg::Sm3);
    for l in leaves(HashAlg::Sm3, 5) {
        t.push(l);
    }
    assert!(t.root_at(6).is_err());
    assert!(t.inclusion_proof(5, 5).is_err());
    assert!(t.inclusion_proof(0, 6).is_err());
    assert!(t.consistency_proof(4, 3).is_err());
    assert!(t.consistency_proof(3, 6).is_err());
    let root = t.root();
    assert_eq!(verify_inclusion(HashAlg::Sm3, 5, 5, &root, &[], &root), Err(ProofError::IndexOutOfRange { index: 5, size: 5 }));
    assert!(verify_inclusion(HashAlg::Sm3, 0, u64::MAX, &root, &[root; 65], &root).is_err());
    assert!(verify_consistency(HashAlg::Sm3, 4, 3, &[], &root, &root).is_err());
    assert!(verify_consistency(HashAlg::Sm3, 0, 5, &[root], &root, &root).is_err());
}

#[test]
fn sm3_and_sha256_trees_differ() {
    let mut a = Tree::new(HashAlg::Sm3);
    let mut b = Tree::new(HashAlg::Sha256);
    a.push_data(b"x");
    b.push_data(b"x");
    assert_ne!(a.root(), b.root());
    assert_eq!(a.root(), HashAlg::Sm3.digest(&[b"\x00x"]));
}
