//! The in-memory matcher: identities are added one at a time (as they arrive
//! at ingest), each is linked to a person or starts a new one, and the
//! decision says why.
//!
//! Order of decisions for a new identity:
//! 1. **Deterministic**: an identity with the same national ID / insurance
//!    code digest is the same person, unless sex or full birth date disagree:
//!    then the pair goes to review ([`ReviewReason::IdConflict`]).
//! 2. **Probabilistic** (Fellegi–Sunter): candidates come from blocking keys
//!    (birth date with day and month in either order; fuzzy Pinyin family name
//!    and birth year; fuzzy Pinyin full name in both orders; phone digest),
//!    each read for at most `max_block` most recent entries, so no add scans
//!    everything. The best person's score ≥ `auto_link` links; between
//!    `review` and `auto_link` it is a review entry; below, a new person.
//! 3. **Guards**: a would-be auto-link goes to review instead when a name,
//!    the sex or a (checksum-valid) ID number disagrees, or the given names are near but both real Pinyin on
//!    the same birth date (twins share surname, birth date, address and often
//!    the parents' phone: those fields are no independent evidence for them).

use crate::compare::{Comparison, Features, Field, FieldScore, Level, Weights, compare, hash_str};
use crate::id::{IdDigest, IdKind};
use crate::record::{Identity, RecordError};
use std::collections::{HashMap, HashSet};

mod known;

/// Thresholds and weights.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchConfig {
    /// Score (bits) at or above which a candidate person is linked.
    pub auto_link: f64,
    /// Score (bits) at or above which, below `auto_link`, a review entry is made.
    pub review: f64,
    /// Field weights.
    pub weights: Weights,
    /// Most entries read from one blocking key (the most recent ones).
    pub max_block: usize,
    /// Send a would-be auto-link to review when the family or given names,
    /// the sexes or the ID numbers disagree (Chinese surnames do not change at marriage;
    /// opposite-sex twins share everything else), or given names
    /// close but both real Pinyin (so not a typo: `minghui`/`minghua`)
    /// while the birth dates agree exactly: the signature of twins, whose
    /// other fields (surname, address, phone) are no independent evidence.
    pub guards: bool,
    /// Adjust exact name agreement by how common the name is among the
    /// identities added so far (`u` = its frequency): `Wang` and `Wei` count
    /// less than a rare surname or given name.
    pub name_frequency: bool,
}

impl Default for MatchConfig {
    /// Thresholds chosen on the synthetic benchmark (`benches/empi/`).
    fn default() -> Self {
        MatchConfig { auto_link: 22.0, review: 14.0, weights: Weights::default(), max_block: 2000, guards: true, name_frequency: true }
    }
}

/// Why an identity could not be matched.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MatchError {
    /// The identity is malformed or out of bounds.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// `(issuer, patient id)` is already in the matcher.
    #[error("identity already present")]
    Duplicate,
    /// `review` above `auto_link`, a threshold not finite, or `max_block` 0.
    #[error("review threshold must be finite and not above the auto-link threshold; max_block at least 1")]
    BadConfig,
    /// An identity or person number the matcher never gave out.
    #[error("unknown identity or person")]
    Unknown,
}

/// An identity's number in the matcher (order of adding, from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IdentityId(pub u32);

/// A person's number in the matcher.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PersonId(pub u32);

/// A scored candidate, with the explanation a reviewer sees.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The best-scoring identity of the candidate person.
    pub identity: IdentityId,
    /// The candidate person.
    pub person: PersonId,
    /// Score in bits.
    pub score: f64,
    /// Per-field levels and weights.
    pub explanation: Vec<FieldScore>,
}

/// Why a review entry was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewReason {
    /// Same identifier digest but sex or birth date disagree.
    IdConflict(IdKind),
    /// Score between the review and auto-link thresholds.
    Score,
    /// Score above auto-link but the family or the given names disagree.
    NameDisagrees,
    /// Score above auto-link, same birth date, given names only close.
    PossibleTwin,
    /// Score above auto-link but the sexes disagree (opposite-sex twins).
    SexDisagrees,
    /// Score above auto-link but both carry valid, different ID numbers (or
    /// insurance codes) of one kind.
    IdDisagrees,
}

/// What happened to an added identity.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Linked by identifier digest to the person of `with`.
    Deterministic {
        /// An identity with the same digest.
        with: IdentityId,
        /// Which identifier.
        kind: IdKind,
    },
    /// Linked by score.
    AutoLink(Candidate),
    /// Placed alone in a new person until a reviewer decides; the candidates
    /// (best first) are what they choose among.
    Review {
        /// Why.
        reason: ReviewReason,
        /// Candidate persons, best first (at most 3).
        candidates: Vec<Candidate>,
    },
    /// A new person; the best candidate below the review threshold, if any.
    NewPerson {
        /// For diagnostics.
        best: Option<Candidate>,
    },
}

/// The outcome of [`Matcher::add`].
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The new identity's number.
    pub identity: IdentityId,
    /// The person it now belongs to (a new one for review and new person).
    pub person: PersonId,
    /// How it was decided.
    pub decision: Decision,
}

struct Entry {
    features: Features,
    person: PersonId,
    /// [`name_keys`] of the features.
    name_keys: NameKeys,
}

/// The blocking index and the identity → person assignment.
pub struct Matcher {
    config: MatchConfig,
    entries: Vec<Entry>,
    blocks: HashMap<u64, Vec<u32>>,
    by_digest: HashMap<IdDigest, Vec<u32>>,
    /// How many identities carry each family / given name reading.
    name_counts: HashMap<u64, u32>,
    keys: HashSet<(String, String)>,
    persons: u32,
    seen: Vec<u32>,
    round: u32,
    comparisons: u64,
}

impl Matcher {
    /// An empty matcher.
    pub fn new(config: MatchConfig) -> Result<Matcher, MatchError> {
        if !(config.auto_link.is_finite() && config.review.is_finite() && config.review <= config.auto_link && config.max_block > 0) {
            return Err(MatchError::BadConfig);
        }
        Ok(Matcher {
            config,
            entries: Vec::new(),
            blocks: HashMap::new(),
            by_digest: HashMap::new(),
            name_counts: HashMap::new(),
            keys: HashSet::new(),
            persons: 0,
            seen: Vec::new(),
            round: 0,
            comparisons: 0,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &MatchConfig {
        &self.config
    }

    /// Number of identities added.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was added.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Pairs compared so far by [`Matcher::add`] (the cost blocking leaves).
    pub fn comparisons(&self) -> u64 {
        self.comparisons
    }

    /// The person an identity belongs to.
    pub fn person_of(&self, identity: IdentityId) -> Option<PersonId> {
        self.entries.get(identity.0 as usize).map(|e| e.person)
    }

    /// A reviewer's decision: move one identity to a person.
    pub fn assign(&mut self, identity: IdentityId, person: PersonId) -> Result<(), MatchError> {
        if person.0 >= self.persons {
            return Err(MatchError::Unknown);
        }
        let entry = self.entries.get_mut(identity.0 as usize).ok_or(MatchError::Unknown)?;
        entry.person = person;
        Ok(())
    }

    /// An identity's fields changed (a registration update): it is
    /// matched by its new features from now on (blocks, name counts and
    /// digests re-indexed); its person stays. Its issuer and Patient ID
    /// do not change.
    pub fn update(&mut self, identity: IdentityId, changed: &Identity) -> Result<(), MatchError> {
        changed.validate()?;
        let i = identity.0;
        let entry = self.entries.get(i as usize).ok_or(MatchError::Unknown)?;
        let old_blocks = block_keys(&entry.features);
        let old_names = entry.name_keys;
        let old_ids = entry.features.ids.clone();
        for k in old_blocks {
            if let Some(v) = self.blocks.get_mut(&k) {
                v.retain(|&e| e != i);
            }
        }
        for k in old_names.into_iter().flatten() {
            if let Some(n) = self.name_counts.get_mut(&k) {
                *n = n.saturating_sub(1);
            }
        }
        for d in &old_ids {
            if let Some(v) = self.by_digest.get_mut(d) {
                v.retain(|&e| e != i);
            }
        }
        let features = Features::new(changed);
        for k in block_keys(&features) {
            self.blocks.entry(k).or_default().push(i);
        }
        let keys = name_keys(&features);
        for k in keys.into_iter().flatten() {
            *self.name_counts.entry(k).or_default() += 1;
        }
        for d in &features.ids {
            self.by_digest.entry(*d).or_default().push(i);
        }
        let entry = &mut self.entries[i as usize];
        entry.features = features;
        entry.name_keys = keys;
        Ok(())
    }

    /// Match an identity against everything added so far, then add it.
    pub fn add(&mut self, identity: &Identity) -> Result<Outcome, MatchError> {
        identity.validate()?;
        let key = (identity.issuer.clone(), identity.patient_id.clone());
        if self.keys.contains(&key) {
            return Err(MatchError::Duplicate);
        }
        let features = Features::new(identity);
        let decision = self.decide(&features);
        let person = match &decision {
            Decision::Deterministic { with, .. } => self.entries[with.0 as usize].person,
            Decision::AutoLink(c) => c.person,
            Decision::Review { .. } | Decision::NewPerson { .. } => self.new_person(),
        };
        let id = self.push(key, features, person);
        Ok(Outcome { identity: id, person, decision })
    }

    /// Index an identity's features under `person` (blocks, name counts,
    /// digests): every later identity is matched against it.
    fn push(&mut self, key: (String, String), features: Features, person: PersonId) -> IdentityId {
        let id = IdentityId(self.entries.len() as u32);
        for k in block_keys(&features) {
            self.blocks.entry(k).or_default().push(id.0);
        }
        let keys = name_keys(&features);
        for k in keys.into_iter().flatten() {
            *self.name_counts.entry(k).or_default() += 1;
        }
        for d in &features.ids {
            self.by_digest.entry(*d).or_default().push(id.0);
        }
        self.keys.insert(key);
        self.entries.push(Entry { features, person, name_keys: keys });
        self.seen.push(0);
        id
    }

    fn decide(&mut self, f: &Features) -> Decision {
        let w = &self.config.weights;
        for d in &f.ids {
            let Some(&first) = self.by_digest.get(d).and_then(|v| v.first()) else { continue };
            let other = &self.entries[first as usize];
            let c = compare(f, &other.features, w);
            let conflict = c.level(Field::Sex) == Level::Disagree
                || (f.birth.is_full() && other.features.birth.is_full() && c.level(Field::BirthDate) != Level::Exact);
            if !conflict {
                return Decision::Deterministic { with: IdentityId(first), kind: d.kind() };
            }
            let candidate = self.candidate(first, c, [None, None]);
            return Decision::Review { reason: ReviewReason::IdConflict(d.kind()), candidates: vec![candidate] };
        }
        let mut ranked = self.scored_persons(f);
        let Some(best) = ranked.first() else {
            return Decision::NewPerson { best: None };
        };
        if best.score < self.config.review {
            return Decision::NewPerson { best: ranked.into_iter().next() };
        }
        let level = |field| best.explanation.iter().find(|s| s.field == field).map_or(Level::Missing, |s| s.level);
        let same_family = matches!(level(Field::FamilyName), Level::HanziExact | Level::PinyinExact | Level::Homophone);
        let real_names = || f.name.is_real_pinyin() && self.entries[best.identity.0 as usize].features.name.is_real_pinyin();
        let guard = match (level(Field::GivenName), level(Field::BirthDate)) {
            _ if !self.config.guards => None,
            _ if level(Field::FamilyName) == Level::Disagree => Some(ReviewReason::NameDisagrees),
            _ if level(Field::Sex) == Level::Disagree => Some(ReviewReason::SexDisagrees),
            _ if level(Field::Id) == Level::Disagree => Some(ReviewReason::IdDisagrees),
            (Level::Disagree, _) => Some(ReviewReason::NameDisagrees),
            (Level::PinyinClose, Level::Exact) if same_family && real_names() => Some(ReviewReason::PossibleTwin),
            _ => None,
        };
        if best.score >= self.config.auto_link {
            match guard {
                None => return Decision::AutoLink(ranked.swap_remove(0)),
                Some(reason) => {
                    let review = self.config.review;
                    ranked.retain(|c| c.score >= review);
                    ranked.truncate(3);
                    return Decision::Review { reason, candidates: ranked };
                }
            }
        }
        let reason = ReviewReason::Score;
        let review = self.config.review;
        ranked.retain(|c| c.score >= review);
        ranked.truncate(3);
        Decision::Review { reason, candidates: ranked }
    }

    /// The best identity of every candidate person, best person first.
    fn scored_persons(&mut self, f: &Features) -> Vec<Candidate> {
        self.round = self.round.wrapping_add(1);
        if self.round == 0 {
            self.seen.iter_mut().for_each(|s| *s = 0);
            self.round = 1;
        }
        let keys = if self.config.name_frequency { name_keys(f) } else { [None, None] };
        let mut best: HashMap<PersonId, (f64, u32, Comparison, NameKeys)> = HashMap::new();
        for k in block_keys(f) {
            let Some(ids) = self.blocks.get(&k) else { continue };
            let start = ids.len().saturating_sub(self.config.max_block);
            for &i in &ids[start..] {
                if self.seen[i as usize] == self.round {
                    continue;
                }
                self.seen[i as usize] = self.round;
                self.comparisons += 1;
                let e = &self.entries[i as usize];
                let c = compare(f, &e.features, &self.config.weights);
                // The frequency of the name as written by the side whose
                // family and given name are known apart.
                let keys = if keys[0].is_some() || !self.config.name_frequency { keys } else { e.name_keys };
                let s = c.score(&self.config.weights) + self.frequency_bits(&c, keys).iter().sum::<f64>();
                let slot = best.entry(e.person).or_insert((f64::NEG_INFINITY, i, c, keys));
                if s > slot.0 {
                    *slot = (s, i, c, keys);
                }
            }
        }
        let mut ranked: Vec<Candidate> = best.into_values().map(|(_, i, c, keys)| self.candidate(i, c, keys)).collect();
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.identity.cmp(&b.identity)));
        ranked
    }

    fn candidate(&self, i: u32, c: Comparison, keys: NameKeys) -> Candidate {
        let mut explanation = c.explain(&self.config.weights);
        for (s, adjust) in explanation.iter_mut().zip(self.frequency_bits(&c, keys)) {
            s.bits += adjust;
        }
        let score = explanation.iter().map(|s| s.bits).sum();
        Candidate { identity: IdentityId(i), person: self.entries[i as usize].person, score, explanation }
    }

    /// Bits to add to the family and given name weights (in that order) when
    /// they agree exactly: `log2(u / u_value)`, with `u_value` the share of
    /// identities carrying the name, smoothed towards `u` while few are known
    /// and kept within a factor of 8 of it.
    fn frequency_bits(&self, c: &Comparison, keys: NameKeys) -> [f64; 2] {
        let mut out = [0.0; 2];
        let n = self.entries.len() as f64;
        for (slot, (field, key)) in out.iter_mut().zip([Field::FamilyName, Field::GivenName].into_iter().zip(keys)) {
            let level = c.level(field);
            let (Some(key), Level::HanziExact | Level::PinyinExact) = (key, level) else { continue };
            let Some(mu) = self.config.weights.get(field, level) else { continue };
            let count = f64::from(self.name_counts.get(&key).copied().unwrap_or(0));
            let u_value = ((count + PRIOR_WEIGHT * mu.u) / (n + PRIOR_WEIGHT)).clamp(mu.u / 8.0, mu.u * 8.0);
            *slot = (mu.u / u_value).log2();
        }
        out
    }

    /// Comparisons of up to `max` pairs that share a blocking key of one
    /// kind (at most 16 recent entries of each key, keys in a fixed order):
    /// the unlabelled input of [`crate::em::estimate`].
    pub fn blocked_pairs(&self, kind: BlockKind, max: usize) -> Vec<Comparison> {
        let mut out = Vec::new();
        let mut keys: Vec<&u64> = self.blocks.keys().filter(|k| BlockKind::of(**k) == kind).collect();
        keys.sort_unstable();
        'outer: for k in keys {
            let ids = &self.blocks[k];
            let ids = &ids[ids.len().saturating_sub(16)..];
            for (n, &a) in ids.iter().enumerate() {
                for &b in &ids[n + 1..] {
                    if out.len() >= max {
                        break 'outer;
                    }
                    out.push(compare(&self.entries[a as usize].features, &self.entries[b as usize].features, &self.config.weights));
                }
            }
        }
        out
    }

    /// Comparisons of `n` pseudo-random pairs of identities (seeded): the
    /// input `u` is estimated from.
    pub fn random_pairs(&self, n: usize, seed: u64) -> Vec<Comparison> {
        let len = self.entries.len() as u64;
        if len < 2 {
            return Vec::new();
        }
        let mut x = seed | 1;
        let mut next = || {
            // xorshift64*
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            x.wrapping_mul(0x2545_F491_4F6C_DD1D) % len
        };
        (0..n)
            .filter_map(|_| {
                let (a, b) = (next(), next());
                (a != b).then(|| compare(&self.entries[a as usize].features, &self.entries[b as usize].features, &self.config.weights))
            })
            .collect()
    }
}

/// The kinds of blocking key; pairs found through one kind agree on its
/// fields by construction, which EM has to leave out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// Full birth date, day and month in either order.
    BirthDate,
    /// Fuzzy Pinyin family name and birth year.
    FamilyYear,
    /// Fuzzy Pinyin family and given name, in both orders.
    Name,
    /// Phone digest.
    Phone,
}

impl BlockKind {
    /// A hash with the kind in its top two bits.
    fn tag(self, hash: u64) -> u64 {
        (hash >> 2) | ((self as u64) << 62)
    }

    fn of(key: u64) -> BlockKind {
        [BlockKind::BirthDate, BlockKind::FamilyYear, BlockKind::Name, BlockKind::Phone][(key >> 62) as usize]
    }
}

/// Keys of a family and a given name reading (see [`name_keys`]).
type NameKeys = [Option<u64>; 2];

/// Weight, in identities, of the default `u` in the name frequency estimate.
const PRIOR_WEIGHT: f64 = 1000.0;

/// Keys of the family and given name readings counted for name frequency:
/// the reading of the Hanzi when there are Hanzi, else the Pinyin sent; none
/// when family and given name are not known apart.
fn name_keys(f: &Features) -> NameKeys {
    let reading = f.name.hz_reading.as_ref().or(f.name.pinyin.first().filter(|_| f.name.ordered));
    let Some((family, given)) = reading else {
        return [None, None];
    };
    if given.is_empty() {
        return [None, None];
    }
    [Some(hash_str(&format!("F{family}"))), Some(hash_str(&format!("G{given}")))]
}

/// Blocking keys of an identity (hashed, tagged by kind).
fn block_keys(f: &Features) -> Vec<u64> {
    let mut keys = Vec::with_capacity(8);
    let b = &f.birth;
    if let (Some(y), Some(m), Some(d)) = (b.year, b.month, b.day) {
        keys.push(BlockKind::BirthDate.tag(hash_str(&format!("{y}-{}-{}", m.min(d), m.max(d)))));
    }
    for (fam, giv) in &f.name.fuzzy {
        if let Some(y) = b.year {
            if !fam.is_empty() {
                keys.push(BlockKind::FamilyYear.tag(hash_str(&format!("{fam}-{y}"))));
            }
            if !f.name.ordered && !giv.is_empty() {
                keys.push(BlockKind::FamilyYear.tag(hash_str(&format!("{giv}-{y}"))));
            }
        }
        if !fam.is_empty() || !giv.is_empty() {
            keys.push(BlockKind::Name.tag(hash_str(&format!("{fam}{giv}"))));
            if !giv.is_empty() {
                keys.push(BlockKind::Name.tag(hash_str(&format!("{giv}{fam}"))));
            }
        }
    }
    if let Some(p) = f.phone {
        keys.push(BlockKind::Phone.tag(u64::from_le_bytes(p.bytes()[..8].try_into().expect("8 bytes"))));
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}
