//! Archive settings: duplicates, institutions and who may send, and the
//! bounds on what an instance may make us hold or decode.

use std::net::IpAddr;
use std::sync::RwLock;

use serde::{Deserialize, Serialize};
use yunying_index::DuplicatePolicy;

use crate::walker::WalkLimits;

/// Settings of the archive core.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArchiveConfig {
    /// What to do with a second instance with the same SOP Instance UID.
    pub duplicate_policy: DuplicatePolicy,
    /// Reject callers whose AE title (and address) match no institution.
    /// When false, unknown callers are accepted, logged, and attributed to
    /// `default_institution`.
    pub strict_institutions: bool,
    /// Issuer code for callers that match no institution.
    pub default_institution: String,
    /// Character set for text with no Specific Character Set declared and
    /// non-ASCII bytes, for callers with no institution default (e.g. "GBK").
    pub default_charset: Option<String>,
    /// Largest instance accepted, in bytes; larger ones are refused (A700).
    pub max_instance_bytes: u64,
    /// Elements a data set may have, counted at every depth (items and
    /// pixel data fragments too); more are refused (A700).
    pub max_elements: u64,
    /// Sequence nesting a data set may have (at most 64); deeper is refused (A700).
    pub max_depth: u32,
    /// Bytes reading a data set may hold in memory (values kept for the
    /// index and metadata, the tree's own structures, sequences being
    /// parsed); past it the instance is refused (A700).
    pub max_retained_bytes: u64,
    /// Largest deflated data set once inflated; larger ones are refused (A700).
    pub max_inflated_bytes: u64,
    /// Pixels (Rows x Columns) of a frame that will be decoded (renditions,
    /// rendering, transcoding); larger ones are refused with an error.
    pub max_frame_pixels: u64,
    /// Number of Frames of an instance that will be decoded.
    pub max_frames: u64,
    /// Rows x Columns x Number of Frames of an instance that will be decoded.
    pub max_pixels: u64,
    /// Seconds between sweeps of objects no index row refers to (left by a
    /// crash during ingest, or renditions of instances that are gone); 0
    /// turns the sweep off. One node at a time (a lease in the index)
    /// walks the store a page at a time from where the last run stopped.
    /// Default: daily.
    pub sweep_interval_secs: u64,
    /// Objects written less than this many seconds ago are left alone by
    /// the sweep (an ingest stores its object before its index row).
    pub sweep_grace_secs: u64,
    /// What the sweep does with what it finds: `report` (log it), `adopt`
    /// (the default: index each original that is a valid instance nobody
    /// indexed, as `reindex` would; delete nothing) or `delete` (adopt as
    /// `adopt` does, then delete second copies of indexed instances,
    /// objects that are not valid instances and renditions of no indexed
    /// instance). What it adopts or deletes is recorded in the ledger.
    pub orphan_sweep: crate::orphans::OrphanAction,
    /// Unreferenced objects one sweep handles at most; the next run goes
    /// on from there.
    pub sweep_max_objects: usize,
    /// Instances stored without an SM3 (the digester computes it after the
    /// sender heard success) are looked for by any node once they are this
    /// many seconds old: those of a node that stopped, or from before a
    /// crash. The node that stored one hashes it at once.
    pub digest_grace_secs: u64,
    /// Known institutions and the AE titles that speak for them.
    pub institutions: Vec<InstitutionConfig>,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig {
            duplicate_policy: DuplicatePolicy::KeepFirst,
            strict_institutions: false,
            default_institution: "LOCAL".to_string(),
            default_charset: None,
            max_instance_bytes: 8 << 30,
            max_elements: WalkLimits::DEFAULT.max_elements,
            max_depth: WalkLimits::DEFAULT.max_depth as u32,
            max_retained_bytes: WalkLimits::DEFAULT.max_retained_bytes,
            max_inflated_bytes: DEFAULT_MAX_INFLATED_BYTES,
            max_frame_pixels: yunying_transcode::Limits::DEFAULT.max_frame_pixels,
            max_frames: yunying_transcode::Limits::DEFAULT.max_frames,
            max_pixels: yunying_transcode::Limits::DEFAULT.max_pixels,
            sweep_interval_secs: 86_400,
            sweep_grace_secs: 3600,
            orphan_sweep: crate::orphans::OrphanAction::Adopt,
            sweep_max_objects: 10_000,
            digest_grace_secs: 60,
            institutions: Vec::new(),
        }
    }
}

const DEFAULT_MAX_INFLATED_BYTES: u64 = 256 << 20;

/// The bounds on reading data sets, for the whole process: ingest, and
/// reading stored objects back (whose free functions have no configuration
/// at hand). Set by [`crate::Archive::new`], with the pixel limits of
/// `yunying-transcode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ReadLimits {
    pub walk: WalkLimits,
    pub max_inflated_bytes: u64,
}

static READ_LIMITS: RwLock<ReadLimits> =
    RwLock::new(ReadLimits { walk: WalkLimits::DEFAULT, max_inflated_bytes: DEFAULT_MAX_INFLATED_BYTES });

/// The bounds in force.
pub(crate) fn read_limits() -> ReadLimits {
    *READ_LIMITS.read().unwrap_or_else(|e| e.into_inner())
}

/// One institution: the issuer of its own PatientIDs.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InstitutionConfig {
    /// Short stable code, used as the issuer of PatientIDs (e.g. "TJ001").
    pub code: String,
    /// Display name (e.g. "天津市第一中心医院").
    pub name: String,
    /// Calling AE titles of its modalities and PACS.
    pub ae_titles: Vec<String>,
    /// If not empty, the caller must also connect from one of these addresses.
    pub addresses: Vec<IpAddr>,
    /// Character set for undeclared non-ASCII text from this institution.
    pub default_charset: Option<String>,
}

/// Who is sending, as resolved against the institution table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub calling_ae: String,
    /// Issuer code (institution) the caller's PatientIDs belong to.
    pub issuer: String,
    /// Whether the caller matched a configured institution.
    pub known: bool,
    pub default_charset: Option<String>,
}

impl ArchiveConfig {
    /// Make this configuration's bounds the process's: data set reading
    /// here, pixel decoding in `yunying-transcode`.
    pub fn apply_limits(&self) {
        let walk =
            WalkLimits { max_elements: self.max_elements, max_depth: self.max_depth as usize, max_retained_bytes: self.max_retained_bytes };
        *READ_LIMITS.write().unwrap_or_else(|e| e.into_inner()) = ReadLimits { walk, max_inflated_bytes: self.max_inflated_bytes };
        yunying_transcode::set_limits(yunying_transcode::Limits {
            max_frame_pixels: self.max_frame_pixels,
            max_frames: self.max_frames,
            max_pixels: self.max_pixels,
        });
    }

    /// Resolve a caller. `None` means the caller is unknown and strict mode
    /// is on: the association must be rejected.
    /// The caller for a sender known to speak for institution `code` (an
    /// AE registered for it, a person or key of it): that institution's
    /// issuer and default character set.
    pub fn caller_of_institution(&self, calling_ae: &str, code: &str) -> Caller {
        let charset = self.institutions.iter().find(|i| i.code == code).and_then(|i| i.default_charset.clone());
        Caller {
            calling_ae: calling_ae.trim().to_string(),
            issuer: code.to_string(),
            known: true,
            default_charset: charset.or_else(|| self.default_charset.clone()),
        }
    }

    pub fn resolve_caller(&self, calling_ae: &str, peer: Option<IpAddr>) -> Option<Caller> {
        let ae = calling_ae.trim();
        let found = self.institutions.iter().find(|inst| {
            inst.ae_titles.iter().any(|t| t.trim() == ae)
                && (inst.addresses.is_empty() || peer.is_some_and(|p| inst.addresses.contains(&p)))
        });
        match found {
            Some(inst) => Some(Caller {
                calling_ae: ae.to_string(),
                issuer: inst.code.clone(),
                known: true,
                default_charset: inst.default_charset.clone().or_else(|| self.default_charset.clone()),
            }),
            None if self.strict_institutions => None,
            None => Some(Caller {
                calling_ae: ae.to_string(),
                issuer: self.default_institution.clone(),
                known: false,
                default_charset: self.default_charset.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> ArchiveConfig {
        ArchiveConfig {
            institutions: vec![
                InstitutionConfig { code: "A".into(), ae_titles: vec!["CT1".into()], ..Default::default() },
                InstitutionConfig {
                    code: "B".into(),
                    ae_titles: vec!["PACS".into()],
                    addresses: vec!["10.1.1.1".parse().unwrap()],
                    default_charset: Some("GBK".into()),
                    ..Default::default()
                },
            ],
            ..Default::default()
        }
    }

    #[test]
    fn callers_resolve_to_their_institution() {
        let c = config();
        assert_eq!(c.resolve_caller("CT1", None).unwrap().issuer, "A");
        let b = c.resolve_caller("PACS", Some("10.1.1.1".parse().unwrap())).unwrap();
        assert_eq!((b.issuer.as_str(), b.default_charset.as_deref()), ("B", Some("GBK")));
        // Right AE from the wrong address is not institution B.
        let other = c.resolve_caller("PACS", Some("127.0.0.1".parse().unwrap())).unwrap();
        assert!(!other.known);
        assert_eq!(other.issuer, "LOCAL");
    }

    #[test]
    fn strict_mode_rejects_unknown_callers() {
        let c = ArchiveConfig { strict_institutions: true, ..config() };
        assert!(c.resolve_caller("STRANGER", None).is_none());
        assert!(c.resolve_caller("CT1", None).is_some());
    }
}
