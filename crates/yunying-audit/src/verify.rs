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
//!
//! It streams: a task reads pages of `PAGE` entries (with their search
//! rows) while the page before is hashed and checked on the rayon pool and
//! folded, in order, into a [`Frontier`] (the roots of the perfect subtrees
//! on the right edge); each checkpoint's root is compared when the fold
//! reaches its size. At most three pages are in memory (about 115 MB peak
//! for a ledger of 1,000,000 events of 1.8 KB).

use std::collections::BTreeSet;

use rayon::prelude::*;
use yunying_index::{CheckpointRow, Index, LedgerEntry};
use yunying_ledger::{Bundle, Frontier, Hash, HashAlg, SignedCheckpoint, Tree, VerifierKey, checkpoint};

use crate::AuditError;
use crate::event::{Event, PatientRef};
use crate::sequencer::parse_hex;

/// Checkpoints looked at for cosignatures when a proof picks one.
const MAX_COSIGNED_LOOKUPS: usize = 200;

/// Entries read per page (about 15 MB of bodies of 1.8 KB).
const PAGE: i64 = 8_192;

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
    // Pages are read by a task of their own while the one before is hashed
    // (on the rayon pool) and folded into the tree here: at most three
    // pages (read, waiting, checked) are in memory at once.
    let (pages_tx, mut pages) = tokio::sync::mpsc::channel::<Result<Page, VerifyError>>(1);
    let reader = tokio::spawn(read_pages(index.clone(), pages_tx));
    let _stop_reader = AbortOnDrop(reader);
    while let Some(page) = pages.recv().await {
        let page = page?;
        let (from_leaf, to_leaf) = (page.from, page.from + page.entries.len() as i64);
        let checked = tokio::task::spawn_blocking(move || check_page(alg, trusted_below, page))
            .await
            .map_err(|e| VerifyError::Audit(AuditError::Corrupt(format!("verification stopped: {e}"))))?;
        for (e, c) in checked.entries.iter().zip(&checked.checks) {
            let leaf = frontier.size();
            if e.leaf_index as u64 != leaf {
                return Err(bad(
                    Some(leaf),
                    format!("entry {leaf} is missing (the next stored is {}): entries were removed", e.leaf_index),
                ));
            }
            let hash = c.hash.ok_or_else(|| bad(Some(leaf), format!("entry {leaf}'s recorded hash is unreadable")))?;
            if !c.matches {
                return Err(bad(
                    Some(leaf),
                    format!("entry {leaf} was changed after it was recorded (its content does not match its hash)"),
                ));
            }
            if let Some(err) = &c.columns {
                return Err(bad(Some(leaf), err.clone()));
            }
            frontier.push(hash);
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
        if checked.stray_search_rows {
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

/// A search row: a leaf and a study (or patient digest) it names.
type SearchRow = (i64, String);

/// A page of entries from leaf `from`, with the search rows of
/// `from..from + entries.len()`.
struct Page {
    from: i64,
    entries: Vec<LedgerEntry>,
    studies: Vec<SearchRow>,
    patients: Vec<SearchRow>,
}

/// A page after its checks that need no order: the entries and, for each,
/// what it found.
struct CheckedPage {
    entries: Vec<LedgerEntry>,
    checks: Vec<Check>,
    /// Search rows left over once every entry took its own.
    stray_search_rows: bool,
}

/// One entry's checks. The caller reports them in the order the one-pass
/// verification meets them (recorded hash, content, columns), entry by
/// entry, so the first problem named is the same as checking in order.
struct Check {
    /// The recorded leaf hash, if readable.
    hash: Option<Hash>,
    /// The content hashes to it (or it is below a trusted checkpoint).
    matches: bool,
    /// Why the columns or search rows disagree with the content.
    columns: Option<String>,
}

/// Reads the ledger page after page into `out` until it ends (or the
/// receiver goes).
async fn read_pages(index: Index, out: tokio::sync::mpsc::Sender<Result<Page, VerifyError>>) {
    let mut from = 0i64;
    loop {
        let page = async {
            let entries = index.ledger_entries(from, PAGE).await?;
            let to = from + entries.len() as i64;
            let (studies, patients) = if entries.is_empty() { Default::default() } else { index.ledger_search_rows(from, to).await? };
            Ok::<_, VerifyError>(Page { from, entries, studies, patients })
        }
        .await;
        let next = page.as_ref().ok().map(|p| p.entries.len() as i64);
        if next == Some(0) || out.send(page).await.is_err() {
            return;
        }
        match next {
            Some(n) => from += n,
            None => return,
        }
    }
}

/// Aborts the reader task when verification returns early.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The checks of a page that need no order, in parallel: leaf hashes,
/// and each entry's columns and search rows against its content.
fn check_page(alg: HashAlg, trusted_below: u64, page: Page) -> CheckedPage {
    let Page { from, entries, studies, patients } = page;
    // Each entry takes the search rows of its leaf, in order, as a
    // one-pass read does (up to the first entry out of place).
    let mut rows: Vec<(&[SearchRow], &[SearchRow])> = Vec::with_capacity(entries.len());
    let (mut s, mut p) = (0, 0);
    for (i, e) in entries.iter().enumerate() {
        let leaf = from + i as i64;
        if e.leaf_index != leaf {
            break;
        }
        let (s0, p0) = (s, p);
        while s < studies.len() && studies[s].0 == leaf {
            s += 1;
        }
        while p < patients.len() && patients[p].0 == leaf {
            p += 1;
        }
        rows.push((&studies[s0..s], &patients[p0..p]));
    }
    let stray_search_rows = s < studies.len() || p < patients.len();
    let checks: Vec<Check> = entries
        .par_iter()
        .enumerate()
        .map(|(i, e)| {
            let hash = parse_hex(&e.leaf_hash);
            let Some(stored) = hash else { return Check { hash, matches: false, columns: None } };
            if (e.leaf_index as u64) < trusted_below {
                return Check { hash, matches: true, columns: None };
            }
            let matches = alg.leaf_hash(e.body.as_bytes()) == stored;
            let columns = match (matches, rows.get(i)) {
                (true, Some((s, p))) => check_columns(e, s, p).err(),
                _ => None,
            };
            Check { hash, matches, columns }
        })
        .collect();
    CheckedPage { entries, checks, stray_search_rows }
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
/// The body is read for just those fields ([`Columns`]); when that does not
/// settle it, the whole [`Event`] is, as the sequencer read it.
fn check_columns(e: &LedgerEntry, studies: &[SearchRow], patients: &[SearchRow]) -> Result<(), String> {
    let leaf = e.leaf_index;
    // Sorted here: the database's collation need not be byte order.
    let rows_s = sorted_distinct(studies.iter().map(|(_, s)| s.as_str()));
    let rows_p = sorted_distinct(patients.iter().map(|(_, p)| p.as_str()));
    if let Ok(body) = serde_json::from_str::<Columns>(&e.body)
        && e.event != "unreadable"
    {
        let same = body.event == e.event && body.principal == e.principal && body.institution == e.institution && body.result == e.result;
        if same
            && sorted_distinct(body.studies.iter().map(String::as_str)) == rows_s
            && sorted_distinct(body.patients.iter().map(|p| p.digest.as_str())) == rows_p
        {
            return Ok(());
        }
    }
    let Ok(body) = Event::parse(&e.body) else {
        return if e.event == "unreadable" { Ok(()) } else { Err(format!("entry {leaf}'s content is unreadable")) };
    };
    let same = body.event == e.event && body.principal == e.principal && body.institution == e.institution && body.result == e.result;
    let body_studies: BTreeSet<&str> = body.studies.iter().map(String::as_str).collect();
    let body_patients: BTreeSet<&str> = body.patients.iter().map(|p| p.digest.as_str()).collect();
    if !same || body_studies.into_iter().ne(rows_s) || body_patients.into_iter().ne(rows_p) {
        return Err(format!("entry {leaf}'s searchable columns disagree with its content (changed after it was recorded)"));
    }
    Ok(())
}

fn sorted_distinct<'a>(values: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut v: Vec<&str> = values.collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The fields of an [`Event`] its columns and search rows hold, read
/// without building the rest (`facts` is skipped, not parsed into values).
/// Field names and types are the event's, unknown fields refused as there,
/// so a body reads as these only if it has the event's shape.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // read to check their types, as `Event::parse` does
struct Columns {
    v: u32,
    at_ms: i64,
    node: IgnoredStr,
    event: String,
    result: String,
    principal: String,
    institution: String,
    via: IgnoredStr,
    client: IgnoredStr,
    studies: Vec<String>,
    patients: Vec<PatientRef>,
    detail: IgnoredStr,
    #[serde(default)]
    facts: std::collections::BTreeMap<String, serde::de::IgnoredAny>,
}

/// A JSON string, checked and not kept.
struct IgnoredStr;

impl<'de> serde::Deserialize<'de> for IgnoredStr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = IgnoredStr;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<IgnoredStr, E> {
                Ok(IgnoredStr)
            }
        }
        d.deserialize_str(V)
    }
}

/// The whole tree from the stored leaf hashes (for proofs): every leaf
/// hash in memory, about 64 bytes a ledger entry.
pub async fn load_tree(index: &Index, alg: HashAlg) -> Result<Tree, AuditError> {
    let mut tree = Tree::new(alg);
    load_leaves(index, |h| tree.push(h)).await?;
    Ok(tree)
}

/// The right edge of the tree from the stored leaf hashes (for the
/// sequencer, which only appends and signs roots): O(log n) memory however
/// long the ledger grows.
pub async fn load_frontier(index: &Index, alg: HashAlg) -> Result<Frontier, AuditError> {
    let mut frontier = Frontier::new(alg);
    load_leaves(index, |h| frontier.push(h)).await?;
    Ok(frontier)
}

/// Every stored leaf hash, in order, given to `push`; the number of leaves.
async fn load_leaves(index: &Index, mut push: impl FnMut(Hash)) -> Result<u64, AuditError> {
    let mut size = 0u64;
    loop {
        let hashes = index.ledger_leaf_hashes(size as i64, 50_000).await?;
        if hashes.is_empty() {
            return Ok(size);
        }
        for (i, hex) in hashes {
            if i != size as i64 {
                return Err(AuditError::Corrupt(format!("the ledger has no entry {size} (the next is {i})")));
            }
            push(parse_hex(&hex).ok_or_else(|| AuditError::Corrupt(format!("entry {i}'s leaf hash is not 32 bytes of hex")))?);
            size += 1;
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
