//! Checking the ledger against its signed checkpoints, and proving what
//! is in it.
//!
//! [`verify`] reads every entry in order, recomputes its leaf hash from the
//! stored body, checks the columns and search rows the views use agree
//! with the body, rebuilds the Merkle tree and compares its root at every
//! checkpoint's size with the signed root. A changed, deleted, inserted
//! or moved row, or a replaced checkpoint, is found; the first problem is
//! named (an entry when the damage shows in one, else the range between
//! two checkpoints).

use std::collections::BTreeSet;

use yunying_index::{CheckpointRow, Index, LedgerEntry};
use yunying_ledger::{Bundle, Frontier, Hash, HashAlg, SignedCheckpoint, Tree, VerifierKey, checkpoint};

use crate::AuditError;
use crate::event::Event;
use crate::sequencer::parse_hex;

/// Checkpoints looked at for cosignatures when a proof picks one.
const MAX_COSIGNED_LOOKUPS: usize = 200;

/// Entries read per page.
const PAGE: i64 = 20_000;

/// What a clean verification covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Entries in the ledger.
    pub entries: u64,
    /// Checkpoints whose signature and root were checked.
    pub checkpoints: usize,
    /// The largest signed tree size.
    pub signed_size: u64,
}

/// Why verification failed.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// The ledger is not what its checkpoints signed.
    #[error("{what}")]
    Bad {
        /// The first entry found bad, when the damage shows in one.
        leaf: Option<u64>,
        what: String,
    },
    #[error(transparent)]
    Audit(#[from] AuditError),
}

impl From<yunying_index::IndexError> for VerifyError {
    fn from(e: yunying_index::IndexError) -> Self {
        VerifyError::Audit(e.into())
    }
}

fn bad(leaf: Option<u64>, what: String) -> VerifyError {
    VerifyError::Bad { leaf, what }
}

/// Verify the whole ledger with `log_key`. With `from` (a checkpoint note
/// trusted from an earlier run or a witness), entries below its size are
/// taken by their stored hashes, and its root must match.
pub async fn verify(index: &Index, alg: HashAlg, log_key: &VerifierKey, from: Option<&str>) -> Result<Report, VerifyError> {
    let mut signed = open_checkpoints(&index.checkpoints().await?, log_key)?;
    let mut trusted_below = 0;
    if let Some(note) = from {
        let t = checkpoint::open(note, log_key, &[]).map_err(|e| bad(None, format!("the checkpoint given with --from: {e}")))?;
        trusted_below = t.checkpoint.size;
        match signed.iter().find(|s| s.checkpoint.size == t.checkpoint.size) {
            Some(s) if s.checkpoint.root != t.checkpoint.root => {
                return Err(bad(
                    None,
                    format!(
                        "the stored checkpoint of size {} differs from the one given: the log was forked or rewritten",
                        t.checkpoint.size
                    ),
                ));
            }
            Some(_) => {}
            None => {
                signed.push(t);
                signed.sort_by_key(|s| s.checkpoint.size);
            }
        }
    }
    let mut frontier = Frontier::new(alg);
    let mut next_checkpoint = 0;
    let mut last_good = 0u64;
    loop {
        let from_leaf = frontier.size() as i64;
        let entries = index.ledger_entries(from_leaf, PAGE).await?;
        if entries.is_empty() {
            break;
        }
        let to_leaf = from_leaf + entries.len() as i64;
        let (studies, patients) = index.ledger_search_rows(from_leaf, to_leaf).await?;
        let (mut studies, mut patients) = (studies.into_iter().peekable(), patients.into_iter().peekable());
        for e in entries {
            let leaf = frontier.size();
            if e.leaf_index as u64 != leaf {
                return Err(bad(
                    Some(leaf),
                    format!("entry {leaf} is missing (the next stored is {}): entries were removed", e.leaf_index),
                ));
            }
            let stored = parse_hex(&e.leaf_hash).ok_or_else(|| bad(Some(leaf), format!("entry {leaf}'s recorded hash is unreadable")))?;
            if leaf < trusted_below {
                frontier.push(stored);
            } else {
                let hash = alg.leaf_hash(e.body.as_bytes());
                if hash != stored {
                    return Err(bad(
                        Some(leaf),
                        format!("entry {leaf} was changed after it was recorded (its content does not match its hash)"),
                    ));
                }
                let mine_s: BTreeSet<String> = std::iter::from_fn(|| studies.next_if(|(l, _)| *l as u64 == leaf).map(|(_, s)| s)).collect();
                let mine_p: BTreeSet<String> =
                    std::iter::from_fn(|| patients.next_if(|(l, _)| *l as u64 == leaf).map(|(_, p)| p)).collect();
                check_columns(leaf, &e, &mine_s, &mine_p)?;
                frontier.push(hash);
            }
            while let Some(cp) = signed.get(next_checkpoint)
                && cp.checkpoint.size == frontier.size()
            {
                if frontier.root() != cp.checkpoint.root {
                    return Err(bad(
                        None,
                        format!(
                            "the first {} entries do not match the checkpoint signed over them: an entry between {} and {} was changed, \
                             removed, inserted or moved",
                            cp.checkpoint.size,
                            last_good,
                            cp.checkpoint.size - 1
                        ),
                    ));
                }
                last_good = cp.checkpoint.size;
                next_checkpoint += 1;
            }
        }
        if studies.next().is_some() || patients.next().is_some() {
            return Err(bad(None, format!("search rows name entries the ledger does not have (between {from_leaf} and {to_leaf})")));
        }
    }
    if let Some(cp) = signed.get(next_checkpoint) {
        let size = frontier.size();
        return Err(bad(
            Some(size),
            format!("the ledger ends after {size} entries but a checkpoint was signed over {}: entries were removed", cp.checkpoint.size),
        ));
    }
    Ok(Report { entries: frontier.size(), checkpoints: signed.len(), signed_size: signed.last().map_or(0, |s| s.checkpoint.size) })
}

/// Every stored checkpoint, opened with `log_key`; its row's columns must
/// agree with its note.
fn open_checkpoints(rows: &[CheckpointRow], log_key: &VerifierKey) -> Result<Vec<SignedCheckpoint>, VerifyError> {
    let mut out: Vec<SignedCheckpoint> = Vec::with_capacity(rows.len());
    for row in rows {
        let s = checkpoint::open(&row.note, log_key, &[])
            .map_err(|e| bad(None, format!("the checkpoint of size {} is not signed by the log's key: {e}", row.tree_size)))?;
        if s.checkpoint.size != row.tree_size as u64 || s.checkpoint.root.to_hex() != row.root_hash {
            return Err(bad(None, format!("the checkpoint of size {}: its columns disagree with its signed note", row.tree_size)));
        }
        out.push(s);
    }
    Ok(out)
}

/// The columns and search rows of an entry must say what its body says.
fn check_columns(leaf: u64, e: &LedgerEntry, studies: &BTreeSet<String>, patients: &BTreeSet<String>) -> Result<(), VerifyError> {
    let Ok(body) = Event::parse(&e.body) else {
        return if e.event == "unreadable" { Ok(()) } else { Err(bad(Some(leaf), format!("entry {leaf}'s content is unreadable"))) };
    };
    let same = body.event == e.event && body.principal == e.principal && body.institution == e.institution && body.result == e.result;
    let body_studies: BTreeSet<String> = body.studies.iter().cloned().collect();
    let body_patients: BTreeSet<String> = body.patients.iter().map(|p| p.digest.clone()).collect();
    if !same || &body_studies != studies || &body_patients != patients {
        return Err(bad(
            Some(leaf),
            format!("entry {leaf}'s searchable columns disagree with its content (changed after it was recorded)"),
        ));
    }
    Ok(())
}

/// The whole tree from the stored leaf hashes (for proofs and the
/// sequencer).
pub async fn load_tree(index: &Index, alg: HashAlg) -> Result<Tree, AuditError> {
    let mut tree = Tree::new(alg);
    loop {
        let hashes = index.ledger_leaf_hashes(tree.size() as i64, 50_000).await?;
        if hashes.is_empty() {
            return Ok(tree);
        }
        for (i, hex) in hashes {
            if i != tree.size() as i64 {
                return Err(AuditError::Corrupt(format!("the ledger has no entry {} (the next is {i})", tree.size())));
            }
            tree.push(parse_hex(&hex).ok_or_else(|| AuditError::Corrupt(format!("entry {i}'s leaf hash is not 32 bytes of hex")))?);
        }
    }
}

/// An offline proof (C2SP `tlog-proof`) that entry `leaf` is in the log,
/// under the smallest stored checkpoint that covers it (or the one of
/// `size`), with the entry's body.
pub async fn prove(index: &Index, alg: HashAlg, leaf: u64, size: Option<u64>) -> Result<(String, String), AuditError> {
    let checkpoints = index.checkpoints().await?;
    let covering: Vec<&CheckpointRow> =
        checkpoints.iter().filter(|c| c.tree_size as u64 > leaf && size.is_none_or(|s| c.tree_size as u64 == s)).collect();
    let first = *covering.first().ok_or_else(|| AuditError::Key(format!("no checkpoint covers entry {leaf} yet (sign one first)")))?;
    // The witnesses' cosignatures travel with the checkpoint: the smallest
    // covering checkpoint a witness cosigned, else the smallest.
    let mut cp = first;
    let mut cosignatures = Vec::new();
    for c in covering.into_iter().take(MAX_COSIGNED_LOOKUPS) {
        let found = index.cosignatures(c.tree_size).await?;
        if !found.is_empty() {
            (cp, cosignatures) = (c, found);
            break;
        }
    }
    let tree = load_tree(index, alg).await?;
    let lines: String = cosignatures.iter().map(|c| format!("{}\n", c.signature_line)).collect();
    let note = yunying_ledger::note::append_signatures(&cp.note, &lines).map_err(|e| AuditError::Corrupt(e.to_string()))?;
    let bundle = Bundle::build(&tree, leaf, cp.tree_size as u64, &note).map_err(|e| AuditError::Corrupt(e.to_string()))?;
    let body = index.ledger_entries(leaf as i64, 1).await?.pop().map(|e| e.body).unwrap_or_default();
    Ok((bundle.to_text(), body))
}

/// A consistency proof that the tree of `new` entries extends that of
/// `old` entries.
pub async fn prove_consistency(index: &Index, alg: HashAlg, old: u64, new: u64) -> Result<Vec<Hash>, AuditError> {
    let tree = load_tree(index, alg).await?;
    tree.consistency_proof(old, new).map_err(|e| AuditError::Corrupt(e.to_string()))
}
