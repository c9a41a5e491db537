//! The sequencer: one node at a time (the lease `audit-sequencer`) moves
//! pending events into the ledger in order, numbering them densely as the
//! leaves of the Merkle tree, and signs checkpoints of the tree.
//!
//! Two nodes never fork the log: a node sequences only while it holds the
//! lease, and the index refuses a batch whose first leaf index is taken or
//! whose pending events another node has moved ([`IndexError::Conflict`]);
//! the loser forgets its tree and reloads it from the database. The tree
//! is held as its right edge ([`Frontier`]: O(log n) hashes), not every
//! leaf: the sequencer only appends and signs roots, and a node that kept
//! every leaf hash grew by about 64 bytes an event for as long as it ran.

use std::sync::Arc;
use std::time::Duration;

use rayon::prelude::*;
use tokio::sync::Notify;
use yunying_index::{CheckpointRow, Index, IndexError, LedgerEntry, PendingEvent};
use yunying_ledger::{Frontier, Hash, HashAlg};

use crate::checkpoint::Signer;
use crate::event::Event;
use crate::{AuditError, now_ms};

/// The lease that makes one node the sequencer.
pub const LEASE: &str = "audit-sequencer";

/// Most pending events moved in one transaction.
pub const BATCH: i64 = 1_000;

/// How long a sequencer's lease lasts without renewal.
const LEASE_MS: i64 = 10_000;

/// Moves pending events into the ledger and signs checkpoints.
pub struct Sequencer {
    index: Index,
    holder: String,
    alg: HashAlg,
    signer: Arc<Signer>,
    every: Duration,
    checkpoint_ms: i64,
    /// The tree as this node knows it (None: not loaded, or not trusted
    /// after a conflict).
    tree: Option<Frontier>,
    last_checkpoint: (u64, i64),
    wake: Arc<Notify>,
}

/// What one step did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Whether this node holds the lease.
    pub sequencer: bool,
    /// Events moved into the ledger.
    pub sequenced: usize,
    /// The tree size of a checkpoint signed in this step.
    pub checkpoint: Option<u64>,
}

impl Sequencer {
    pub fn new(index: Index, holder: &str, alg: HashAlg, signer: Arc<Signer>, every: Duration, checkpoint_every: Duration) -> Sequencer {
        Sequencer {
            index,
            holder: holder.to_string(),
            alg,
            signer,
            every,
            checkpoint_ms: checkpoint_every.as_millis() as i64,
            tree: None,
            last_checkpoint: (0, 0),
            wake: Arc::default(),
        }
    }

    /// Wakes the sequencer to sign a checkpoint now (`POST
    /// /api/audit/checkpoints`).
    pub fn waker(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Run until `shutdown`, then sequence what is left once more and
    /// sign it.
    pub async fn run(mut self, mut shutdown: tokio::sync::watch::Receiver<bool>) {
        let wake = self.wake.clone();
        loop {
            let forced = tokio::select! {
                _ = tokio::time::sleep(self.every) => false,
                _ = wake.notified() => true,
                _ = shutdown.changed() => break,
            };
            if let Err(err) = self.step(forced).await {
                tracing::warn!(error = %err, "audit sequencer step failed");
                self.tree = None;
            }
        }
        // The last step signs what this node leaves behind.
        if let Err(err) = self.step(true).await {
            tracing::warn!(error = %err, "audit sequencer's last step failed");
        }
    }

    /// Take (or keep) the lease, move a batch of pending events, and sign
    /// a checkpoint when one is due (or `force`d and the tree has grown).
    pub async fn step(&mut self, force: bool) -> Result<Step, AuditError> {
        let now = now_ms();
        if !self.index.try_lease(LEASE, &self.holder, now, now + LEASE_MS).await? {
            self.tree = None;
            return Ok(Step::default());
        }
        let mut step = Step { sequencer: true, ..Step::default() };
        if self.tree.is_none() {
            self.tree = Some(self.load().await?);
            if let Some(latest) = self.index.latest_checkpoint().await? {
                self.last_checkpoint = (latest.tree_size as u64, latest.at_ms);
            }
        }
        loop {
            let pending = self.index.pending_audit_events(BATCH).await?;
            if pending.is_empty() {
                break;
            }
            // Hashing and reading the columns out of the bodies happen
            // before the transaction, on the rayon pool.
            let alg = self.alg;
            let (ids, hashes, entries) = tokio::task::spawn_blocking(move || prepare(alg, pending))
                .await
                .map_err(|e| AuditError::Corrupt(format!("the sequencer's hashing stopped: {e}")))?;
            let tree = self.tree.as_mut().expect("loaded above");
            let first = tree.size() as i64;
            match self.index.sequence_audit_events(first, &ids, &entries).await {
                Ok(()) => {
                    for h in hashes {
                        tree.push(h);
                    }
                    step.sequenced += ids.len();
                }
                Err(IndexError::Conflict(why)) => {
                    tracing::info!(why, "another node sequenced the audit log; reloading it");
                    self.tree = None;
                    return Ok(step);
                }
                Err(e) => return Err(e.into()),
            }
            if (ids.len() as i64) < BATCH {
                break;
            }
        }
        let size = self.tree.as_ref().map_or(0, Frontier::size);
        let due = now_ms() - self.last_checkpoint.1 >= self.checkpoint_ms;
        if size > self.last_checkpoint.0 && (force || due) {
            self.checkpoint().await?;
            step.checkpoint = Some(size);
        }
        Ok(step)
    }

    async fn checkpoint(&mut self) -> Result<(), AuditError> {
        let tree = self.tree.as_ref().expect("loaded");
        let (size, root, at_ms) = (tree.size(), tree.root(), now_ms());
        let note = self.signer.sign(size, &root, at_ms)?;
        self.index.add_checkpoint(&CheckpointRow { tree_size: size as i64, root_hash: root.to_hex(), at_ms, note }).await?;
        self.last_checkpoint = (size, at_ms);
        Ok(())
    }

    async fn load(&self) -> Result<Frontier, AuditError> {
        crate::verify::load_frontier(&self.index, self.alg).await
    }
}

/// The ids, leaf hashes and ledger rows of a batch of pending events, in
/// order (hashed and parsed in parallel).
fn prepare(alg: HashAlg, pending: Vec<PendingEvent>) -> (Vec<i64>, Vec<Hash>, Vec<LedgerEntry>) {
    let (hashes, entries): (Vec<Hash>, Vec<LedgerEntry>) = pending
        .par_iter()
        .map(|p| {
            let hash = alg.leaf_hash(p.body.as_bytes());
            (hash, entry_of(p.at_ms, &p.body, &hash))
        })
        .unzip();
    (pending.iter().map(|p| p.id).collect(), hashes, entries)
}

/// The row of an event: the columns the views search, read from the body.
fn entry_of(at_ms: i64, body: &str, hash: &Hash) -> LedgerEntry {
    let (event, principal, institution, result, studies, patients) = match Event::parse(body) {
        Ok(e) => (e.event, e.principal, e.institution, e.result, e.studies, e.patients.into_iter().map(|p| p.digest).collect()),
        // Recorded by a newer node: the row keeps the body whole; the
        // views find it by time only.
        Err(_) => ("unreadable".into(), String::new(), String::new(), String::new(), Vec::new(), Vec::new()),
    };
    LedgerEntry {
        leaf_index: 0,
        at_ms,
        event,
        principal,
        institution,
        result,
        leaf_hash: hash.to_hex(),
        body: body.to_string(),
        studies,
        patients,
    }
}

/// A hash from 64 hex digits.
pub fn parse_hex(text: &str) -> Option<Hash> {
    let mut h = [0u8; 32];
    hex::decode_to_slice(text, &mut h).ok()?;
    Some(Hash(h))
}
