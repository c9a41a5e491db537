//! Yunying's verifiable audit ledger, as a pure library: no database, no
//! async, no network.
//!
//! Every security event becomes a leaf of an append-only Merkle tree
//! (RFC 9162); the node signs checkpoints (`c2sp.org/tlog-checkpoint` signed
//! notes); witnesses cosign them after checking consistency
//! (`c2sp.org/tlog-witness`); anyone can check an offline proof bundle
//! (`c2sp.org/tlog-proof`) with [`verify_bundle`] or the
//! `yunying-proof-check` binary. See README.md for the formats and choices.
//!
//! ```
//! use yunying_ledger::witness::{TrustedLog, format_add_checkpoint};
//! use yunying_ledger::{checkpoint, note, Bundle, Checkpoint, Frontier, HashAlg, SigType, Signer, Tree, Witness, WitnessState};
//!
//! // The node: events in, a signed checkpoint out.
//! let log = Signer::generate("yunying.example/audit", SigType::Sm2Cosignature)?;
//! let mut tree = Tree::new(HashAlg::Sm3);
//! for event in [&b"{\"seq\":0}"[..], b"{\"seq\":1}", b"{\"seq\":2}"] {
//!     tree.push_data(event);
//! }
//! let signed = Checkpoint { origin: "yunying.example/audit".into(), size: 3, root: tree.root(), extensions: vec![] }.sign(&log, 1_765_000_000)?;
//!
//! // A witness (over HTTP in real life): the request body, the cosignature lines back.
//! let mut witness = Witness::new(
//!     Signer::generate("commission.example/w", SigType::Sm2Cosignature)?,
//!     vec![TrustedLog { key: log.verifier().clone(), hash: HashAlg::Sm3 }],
//!     WitnessState::default(),
//! )?;
//! let body = format_add_checkpoint(0, &tree.consistency_proof(0, 3)?, &signed);
//! let response = witness.add_checkpoint_request(&body, 1_765_000_005)?;
//! let cosigned = note::append_signatures(&signed, &response)?;
//!
//! // A patient's proof for event 1, checked offline.
//! let bundle = Bundle::build(&tree, 1, 3, &cosigned)?.to_text();
//! let witnesses = [witness.verifier().clone()];
//! assert_eq!(yunying_ledger::verify_bundle(&bundle, b"{\"seq\":1}", HashAlg::Sm3, log.verifier(), &witnesses, 1)?, (1, 3));
//!
//! // `audit verify`: recompute from the rows in one pass, compare at each checkpoint size.
//! let mut frontier = Frontier::new(HashAlg::Sm3);
//! for event in [&b"{\"seq\":0}"[..], b"{\"seq\":1}", b"{\"seq\":2}"] {
//!     frontier.push_data(event);
//! }
//! assert_eq!(frontier.root(), checkpoint::open(&cosigned, log.verifier(), &[])?.checkpoint.root);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

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
