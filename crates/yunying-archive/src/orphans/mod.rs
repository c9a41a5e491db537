//! Objects no index row points to: originals a crash left behind (stored,
//! never acknowledged, so never indexed: the durability contract allows
//! them), the object of a receipt that lost a race for its SOP Instance
//! UID and was not deleted, and renditions whose instance is gone.
//! `yunying verify` lists them and adopts or deletes them; the sweep
//! (`sweep.rs`) does the same on a schedule, one node at a time.
//!
//! The store is walked a page at a time ([`scan_page`]) and the index asked
//! about that page only, so memory stays bounded at any size. An ingest
//! commits its object before its row, so an object is only considered once
//! it is older than a grace period: one an in-flight ingest is about to
//! reference is never touched. A page is listed before the index is read,
//! so a row committed before that read is seen.

mod judge;
pub mod sweep;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use yunying_index::{Index, IndexError};
use yunying_store::{ORIGINALS_PREFIX, ObjectInfo, ObjectStore, RENDITIONS_PREFIX, StoreError};

pub use judge::handle;

/// The default grace period: one hour.
pub const DEFAULT_GRACE: Duration = Duration::from_secs(3600);

/// Keys listed per page of a walk.
pub const LIST_PAGE: usize = 1000;

/// Why a walk over the store stopped.
#[derive(Debug, thiserror::Error)]
pub enum OrphanError {
    #[error("listing the store: {0}")]
    Store(#[from] StoreError),
    #[error("reading the index: {0}")]
    Index(#[from] IndexError),
    #[error("listing the store: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// What to do with unreferenced objects (`verify --unreferenced`,
/// `[archive] orphan_sweep`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OrphanAction {
    /// List them only.
    #[default]
    Report,
    /// Index each original that is a valid instance not indexed yet (as
    /// `reindex` would); delete nothing, list the rest.
    Adopt,
    /// Adopt as above, then delete the rest: second copies of indexed
    /// instances, objects that are not valid instances, renditions of no
    /// indexed instance. A valid instance nothing else holds is adopted,
    /// never deleted (an instance leaves the archive only through an
    /// approved deletion request).
    Delete,
}

impl OrphanAction {
    pub fn as_str(self) -> &'static str {
        match self {
            OrphanAction::Report => "report",
            OrphanAction::Adopt => "adopt",
            OrphanAction::Delete => "delete",
        }
    }
}

impl std::str::FromStr for OrphanAction {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text {
            "report" => Ok(OrphanAction::Report),
            "adopt" => Ok(OrphanAction::Adopt),
            "delete" => Ok(OrphanAction::Delete),
            _ => Err(format!("{text:?}: expected report, adopt or delete")),
        }
    }
}

/// An object no index row references.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unreferenced {
    pub key: String,
    /// `original` or `rendition`.
    pub object: &'static str,
    pub size: u64,
    /// For an original whose SOP Instance UID is indexed with another
    /// object: that object's key (this one lost a race, or was replaced).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indexed_as: Option<String>,
}

/// One page of a walk over the store.
#[derive(Debug, Default)]
pub struct Page {
    /// Unreferenced objects older than the cutoff among the keys listed,
    /// in key order.
    pub unreferenced: Vec<Unreferenced>,
    /// Keys listed.
    pub listed: usize,
    /// Where the next page starts (pass it as `after`); `None` when the
    /// walk has reached the end.
    pub next: Option<String>,
}

/// The SOP Instance UID an original's key names
/// (`originals/{study}/{series}/{sop}.{16 hex}.dcm`), if it follows the layout.
pub fn original_sop(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(ORIGINALS_PREFIX)?;
    let mut parts = rest.split('/');
    let (_study, _series, name) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let (sop, version) = name.strip_suffix(".dcm")?.rsplit_once('.')?;
    (!sop.is_empty() && version.len() == 16 && version.bytes().all(|b| b.is_ascii_hexdigit())).then_some(sop)
}

/// The SOP Instance UID a rendition's key names
/// (`renditions/{study}/{series}/{sop}/{name}`), if it follows the layout.
pub fn rendition_sop(key: &str) -> Option<&str> {
    let mut parts = key.strip_prefix(RENDITIONS_PREFIX)?.split('/');
    let (_study, _series, sop, _name) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (parts.next().is_none() && !sop.is_empty()).then_some(sop)
}

/// The newest write time an object may have to be considered: now less
/// the grace period.
pub fn cutoff(grace: Duration) -> SystemTime {
    SystemTime::now().checked_sub(grace).unwrap_or(SystemTime::UNIX_EPOCH)
}

/// List the page of at most `limit` keys after `after` (originals first,
/// then renditions) and return the objects among them that were last
/// written at or before `cutoff` and that no index row refers to (objects
/// whose store gives no time are left alone).
pub async fn scan_page(
    index: &Index,
    store: &Arc<dyn ObjectStore>,
    after: Option<&str>,
    cutoff: SystemTime,
    limit: usize,
) -> Result<Page, OrphanError> {
    let limit = limit.max(1);
    let in_originals = after.is_none_or(|a| a < RENDITIONS_PREFIX);
    let (prefix, after_owned) = (if in_originals { ORIGINALS_PREFIX } else { RENDITIONS_PREFIX }, after.map(str::to_string));
    let listed = {
        let store = store.clone();
        tokio::task::spawn_blocking(move || store.list_page(prefix, after_owned.as_deref(), limit)).await??
    };
    let next = match listed.last() {
        Some(last) if listed.len() == limit => Some(last.key.clone()),
        // Every rendition key sorts after this one, every original before.
        _ if in_originals => Some(RENDITIONS_PREFIX.to_string()),
        _ => None,
    };
    let count = listed.len();
    let old: Vec<ObjectInfo> = listed.into_iter().filter(|o| o.modified.is_some_and(|m| m <= cutoff)).collect();
    let unreferenced = unreferenced_among(index, old).await?;
    Ok(Page { unreferenced, listed: count, next })
}

/// Those of `objects` no index row refers to, in the order given.
pub(crate) async fn unreferenced_among(index: &Index, objects: Vec<ObjectInfo>) -> Result<Vec<Unreferenced>, OrphanError> {
    if objects.is_empty() {
        return Ok(Vec::new());
    }
    let (mut original_sops, mut rendition_sops, mut foreign) = (Vec::new(), Vec::new(), Vec::new());
    for o in &objects {
        if let Some(sop) = original_sop(&o.key) {
            original_sops.push(sop.to_string());
        } else if let Some(sop) = rendition_sop(&o.key) {
            rendition_sops.push(sop.to_string());
        } else {
            foreign.push(o.key.clone());
        }
    }
    original_sops.sort();
    original_sops.dedup();
    rendition_sops.sort();
    rendition_sops.dedup();
    let indexed: HashMap<String, String> = index.object_keys_of_instances(&original_sops).await?.into_iter().collect();
    let mut referenced: HashSet<String> = index.rendition_keys_of_instances(&rendition_sops).await?.into_iter().collect();
    referenced.extend(index.rows_naming(&foreign).await?);
    let mut out: Vec<Unreferenced> = Vec::new();
    for o in objects {
        let original = o.key.starts_with(ORIGINALS_PREFIX);
        let indexed_as = original_sop(&o.key).and_then(|sop| indexed.get(sop));
        if indexed_as == Some(&o.key) || referenced.contains(&o.key) {
            continue;
        }
        out.push(Unreferenced {
            object: if original { "original" } else { "rendition" },
            indexed_as: indexed_as.cloned(),
            key: o.key,
            size: o.size,
        });
    }
    // Objects of rejected instances and of a purge under way: no row names
    // them, yet they are neither to adopt nor to delete here.
    let keys: Vec<String> = out.iter().map(|u| u.key.clone()).collect();
    let retained: HashSet<String> = index.retained_among(&keys).await?.into_iter().collect();
    out.retain(|u| !retained.contains(&u.key));
    Ok(out)
}

/// What became of one unreferenced object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Outcome {
    #[serde(flatten)]
    pub object: Unreferenced,
    /// See [`Outcome::RESULTS`].
    pub result: &'static str,
    pub detail: String,
}

impl Outcome {
    /// Every result: `reported` (listed only), `adopted` (now an index
    /// row), `superseded` (its SOP Instance UID is indexed with another
    /// object: to delete), `invalid` (not a valid instance, or not the one
    /// its key names: to delete), `rendition` (of no indexed instance: to
    /// delete), `kept` (a valid object not adopted, such as a rejection
    /// note, never deleted), `deleted` (the detail says which of the
    /// three it was), `referenced` (a row came to refer to it meanwhile),
    /// `gone` (deleted by someone else meanwhile), `failed` (the store or
    /// the index failed; left).
    pub const RESULTS: [&'static str; 10] =
        ["reported", "adopted", "superseded", "invalid", "rendition", "kept", "deleted", "referenced", "gone", "failed"];

    /// Whether this changed the archive (a row added, an object deleted).
    pub fn changed(&self) -> bool {
        matches!(self.result, "adopted" | "deleted")
    }
}

#[cfg(test)]
mod tests;
