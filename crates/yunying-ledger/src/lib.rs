//! Yunying's verifiable audit ledger, as a pure library: no database, no
//! async, no network.
//!
//! Every security event becomes a leaf of an append-only Merkle tree
//! (RFC 9162); the node signs checkpoints (`c2sp.org/tlog-checkpoint` signed
//! notes); witnesses cosign them after checking consistency
//! (`c2sp.org/tlog-witness`); anyone can check an offline proof bundle
//! (`c2sp.org/tlog-proof`) with [`verify_bundle`] or the
//! `yunying-proof-check` binary. See README.md for the formats and choices.

pub mod bundle;
pub mod checkpoint;
pub mod hash;
pub mod keyfile;
pub mod keys;
pub mod note;
pub mod proof;
pub mod tree;
pub mod witness;

pub use bundle::{Bundle, BundleError, VerifiedBundle, open_bundle, verify_bundle};
pub use checkpoint::{Checkpoint, CheckpointError, SignedCheckpoint};
pub use hash::{Hash, HashAlg};
pub use keys::{KeyError, SigType, Signer, VerifierKey};
pub use note::{Note, NoteError, NoteSignature};
pub use proof::{ProofError, verify_consistency, verify_inclusion};
pub use tree::{Frontier, Tree, TreeError};
pub use witness::{Witness, WitnessError, WitnessState};
