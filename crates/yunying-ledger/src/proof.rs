//! Proof verification (RFC 9162 §2.1.3.2 and §2.1.4.2): what a client, a
//! witness or an auditor runs, with nothing but hashes.

use crate::hash::{Hash, HashAlg};

/// Why a proof does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The leaf index is not below the tree size.
    #[error("leaf {index} is not in a tree of size {size}")]
    IndexOutOfRange {
        /// The leaf index.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The first size is larger than the second.
    #[error("size {old} is larger than {new}")]
    Shrinks {
        /// The first size.
        old: u64,
        /// The second size.
        new: u64,
    },
    /// The proof has the wrong number of hashes for the sizes.
    #[error("the proof has the wrong number of hashes")]
    WrongLength,
    /// The proof leads to another root.
    #[error("the proof does not lead to the expected root")]
    RootMismatch,
}

/// The most hashes a proof of a tree below 2^64 leaves can hold; longer proofs
/// are refused before any work (every input bounded).
pub const MAX_PROOF_HASHES: usize = 64;

/// Checks that `leaf_hash` is leaf `index` of the tree of `size` leaves whose
/// root is `root`.
pub fn verify_inclusion(alg: HashAlg, index: u64, size: u64, leaf_hash: &Hash, proof: &[Hash], root: &Hash) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    if proof.len() > MAX_PROOF_HASHES {
        return Err(ProofError::WrongLength);
    }
    let (mut f, mut s) = (index, size - 1);
    let mut r = *leaf_hash;
    for p in proof {
        if s == 0 {
            return Err(ProofError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            r = alg.node_hash(p, &r);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            r = alg.node_hash(&r, p);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree of `old` leaves with root `old_root` is a prefix of
/// the tree of `new` leaves with root `new_root`. From size 0 the proof must
/// be empty (every tree extends the empty one); between equal sizes it must be
/// empty and the roots equal.
pub fn verify_consistency(alg: HashAlg, old: u64, new: u64, proof: &[Hash], old_root: &Hash, new_root: &Hash) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::Shrinks { old, new });
    }
    if proof.len() > MAX_PROOF_HASHES {
        return Err(ProofError::WrongLength);
    }
    if old == new {
        if !proof.is_empty() {
            return Err(ProofError::WrongLength);
        }
        return if old_root == new_root { Ok(()) } else { Err(ProofError::RootMismatch) };
    }
    if old == 0 {
        return if proof.is_empty() { Ok(()) } else { Err(ProofError::WrongLength) };
    }
    let Some((first, rest)) = proof.split_first() else { return Err(ProofError::WrongLength) };
    // When `old` is a power of two its root is the first hash, not sent.
    let (start, rest): (Hash, &[Hash]) = if old.is_power_of_two() { (*old_root, proof) } else { (*first, rest) };
    let (mut f, mut s) = (old - 1, new - 1);
    while f & 1 == 1 {
        f >>= 1;
        s >>= 1;
    }
    let (mut fr, mut sr) = (start, start);
    for c in rest {
        if s == 0 {
            return Err(ProofError::WrongLength);
        }
        if f & 1 == 1 || f == s {
            fr = alg.node_hash(c, &fr);
            sr = alg.node_hash(c, &sr);
            while f & 1 == 0 && f != 0 {
                f >>= 1;
                s >>= 1;
            }
        } else {
            sr = alg.node_hash(&sr, c);
        }
        f >>= 1;
        s >>= 1;
    }
    if s != 0 {
        return Err(ProofError::WrongLength);
    }
    if fr != *old_root || sr != *new_root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// The Merkle Tree Hash of a list of leaf hashes computed straight from the
/// definition (RFC 9162 §2.1.1): slow, for tests and cross-checks.
pub fn naive_root(alg: HashAlg, leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => alg.empty_root(),
        1 => leaves[0],
        n => {
            let k = 1usize << (usize::BITS - 1 - (n - 1).leading_zeros());
            alg.node_hash(&naive_root(alg, &leaves[..k]), &naive_root(alg, &leaves[k..]))
        }
    }
}
