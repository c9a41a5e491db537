//! Field comparators and their Fellegi–Sunter weights.
//!
//! Each field of a pair of identities is compared into one agreement
//! [`Level`]; each (field, level) has `m` = P(level | same person) and `u` =
//! P(level | different persons), and contributes `log2(m/u)` bits to the score.
//! A level on a missing value contributes nothing.
//!
//! Names are compared knowing how they are typed: Hanzi come from Pinyin input
//! methods, so two Hanzi names of one person differ by homophones, not by
//! random characters. With Hanzi on both sides the levels are same Hanzi,
//! homophone (same Pinyin, weaker) or disagree; Pinyin typos (Jaro-Winkler ≥
//! 0.94, or equal once zh/z, ch/c, sh/s, -ng/-n and l/n are folded) count as
//! close only when one side has no Hanzi. A name with no Hanzi on one side is
//! also compared with family and given swapped (`San Zhang`); agreement that
//! way round counts as close at best.

use crate::id::IdDigest;
use crate::name::NormName;
use crate::record::{BirthDate, Identity};

/// The compared fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    /// Family name (Hanzi and Pinyin).
    FamilyName,
    /// Given name (Hanzi and Pinyin).
    GivenName,
    /// Birth date.
    BirthDate,
    /// Sex.
    Sex,
    /// Phone digest.
    Phone,
    /// Address text.
    Address,
    /// National ID / insurance code digests (different digests of one kind disagree).
    Id,
}

/// How far two values of a field agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Level {
    /// Names: same Hanzi.
    HanziExact,
    /// Names: same Pinyin, one side without Hanzi.
    PinyinExact,
    /// Names: different Hanzi with the same Pinyin (张/章).
    Homophone,
    /// Names: Pinyin close (typo, fuzzy-Pinyin equal), one side without Hanzi.
    PinyinClose,
    /// Birth date: same full date.
    Exact,
    /// Birth date: day and month exchanged.
    DayMonthSwapped,
    /// Birth date: one digit of YYYYMMDD differs.
    OneDigit,
    /// Birth date: one side partial, year and month agree.
    YearMonth,
    /// Birth date: one side partial, the year agrees.
    Year,
    /// Sex, phone, address (most tokens shared), ID: agree.
    Agree,
    /// Address: some tokens shared.
    Partial,
    /// The values differ.
    Disagree,
    /// A value is missing on either side: no evidence (0 bits).
    Missing,
}

const FIELDS: usize = 7;
const LEVELS: usize = 13;

/// m and u probabilities of one (field, level).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Mu {
    /// P(level | same person).
    pub m: f64,
    /// P(level | different persons).
    pub u: f64,
}

/// The m/u table. [`Weights::default`] is the documented starting point:
///
/// | field | level | m | u | bits |
/// |---|---|---|---|---|
/// | family | Hanzi exact / Pinyin exact | .93 | .03 / .035 | 4.95 / 4.73 |
/// | family | homophone / Pinyin close | .02 / .03 | .006 / .01 | 1.74 / 1.58 |
/// | family | disagree | .01 | .95 | −6.57 |
/// | given | Hanzi exact / Pinyin exact | .90 | .002 / .003 | 8.81 / 8.23 |
/// | given | homophone / Pinyin close | .03 / .05 | .0015 / .004 | 4.32 / 3.64 |
/// | given | disagree | .02 | .99 | −5.63 |
/// | birth date | exact / swapped / one digit | .90 / .01 / .015 | 5e-5 / 2e-5 / .0015 | 14.1 / 8.97 / 3.32 |
/// | birth date | year+month / year / disagree | .03 / .02 / .01 | .0012 / .015 / .98 | 4.64 / 0.42 / −6.61 |
/// | sex | agree / disagree | .98 / .01 | .5 / .5 | 0.97 / −5.64 |
/// | phone | agree / disagree | .6 / .4 | 2e-4 / .9998 | 11.55 / −1.32 |
/// | address | agree / partial / disagree | .5 / .3 / .2 | .01 / .1 / .89 | 5.64 / 1.58 / −2.15 |
/// | ID | agree / disagree | .999 / .002 | 1e-6 / .9999 | 19.9 / −8.97 |
///
/// The u values are rough population frequencies (the most common surnames
/// hold a few percent each; about 22,000 birth dates in use); `m` values
/// assume a few percent of errors per field. [`crate::em`] re-estimates them
/// from unlabelled candidate pairs.
#[derive(Debug, Clone, PartialEq)]
pub struct Weights {
    mu: [[Option<Mu>; LEVELS]; FIELDS],
    bits: [[f64; LEVELS]; FIELDS],
}

/// A (field, level) that has no weight, or probabilities outside (0, 1).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WeightError {
    /// The level is not one this field is compared into.
    #[error("{0:?} is never compared into {1:?}")]
    NotApplicable(Field, Level),
    /// m or u not strictly between 0 and 1.
    #[error("m and u must be strictly between 0 and 1")]
    OutOfRange,
}

const DEFAULTS: &[(Field, Level, f64, f64)] = &[
    (Field::FamilyName, Level::HanziExact, 0.93, 0.03),
    (Field::FamilyName, Level::PinyinExact, 0.93, 0.035),
    (Field::FamilyName, Level::Homophone, 0.02, 0.006),
    (Field::FamilyName, Level::PinyinClose, 0.03, 0.01),
    (Field::FamilyName, Level::Disagree, 0.01, 0.95),
    (Field::GivenName, Level::HanziExact, 0.90, 0.002),
    (Field::GivenName, Level::PinyinExact, 0.90, 0.003),
    (Field::GivenName, Level::Homophone, 0.03, 0.0015),
    (Field::GivenName, Level::PinyinClose, 0.05, 0.004),
    (Field::GivenName, Level::Disagree, 0.02, 0.99),
    (Field::BirthDate, Level::Exact, 0.90, 0.00005),
    (Field::BirthDate, Level::DayMonthSwapped, 0.01, 0.00002),
    (Field::BirthDate, Level::OneDigit, 0.015, 0.0015),
    (Field::BirthDate, Level::YearMonth, 0.03, 0.0012),
    (Field::BirthDate, Level::Year, 0.02, 0.015),
    (Field::BirthDate, Level::Disagree, 0.01, 0.98),
    (Field::Sex, Level::Agree, 0.98, 0.5),
    (Field::Sex, Level::Disagree, 0.01, 0.5),
    (Field::Phone, Level::Agree, 0.6, 0.0002),
    (Field::Phone, Level::Disagree, 0.4, 0.9998),
    (Field::Address, Level::Agree, 0.5, 0.01),
    (Field::Address, Level::Partial, 0.3, 0.1),
    (Field::Address, Level::Disagree, 0.2, 0.89),
    (Field::Id, Level::Agree, 0.999, 0.000001),
    (Field::Id, Level::Disagree, 0.002, 0.9999),
];

impl Default for Weights {
    fn default() -> Self {
        let mut w = Weights { mu: [[None; LEVELS]; FIELDS], bits: [[0.0; LEVELS]; FIELDS] };
        for &(f, l, m, u) in DEFAULTS {
            w.put(f, l, Mu { m, u });
        }
        w
    }
}

impl Weights {
    /// Weight in bits of a (field, level); 0 for `Missing` or an unused level.
    pub fn bits(&self, field: Field, level: Level) -> f64 {
        self.bits[field as usize][level as usize]
    }

    /// The m/u of a (field, level), if it has one.
    pub fn get(&self, field: Field, level: Level) -> Option<Mu> {
        self.mu[field as usize][level as usize]
    }

    /// Replace the m/u of a (field, level) the field is compared into.
    pub fn set(&mut self, field: Field, level: Level, mu: Mu) -> Result<(), WeightError> {
        if self.get(field, level).is_none() {
            return Err(WeightError::NotApplicable(field, level));
        }
        if !(mu.m > 0.0 && mu.m < 1.0 && mu.u > 0.0 && mu.u < 1.0) {
            return Err(WeightError::OutOfRange);
        }
        self.put(field, level, mu);
        Ok(())
    }

    /// Every (field, level) with a weight.
    pub fn entries(&self) -> impl Iterator<Item = (Field, Level, Mu)> + '_ {
        DEFAULTS.iter().filter_map(|&(f, l, _, _)| self.get(f, l).map(|mu| (f, l, mu)))
    }

    fn put(&mut self, field: Field, level: Level, mu: Mu) {
        self.mu[field as usize][level as usize] = Some(mu);
        self.bits[field as usize][level as usize] = (mu.m / mu.u).log2();
    }
}

/// One field's part of a score, for the reviewer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FieldScore {
    /// The field.
    pub field: Field,
    /// How it agreed.
    pub level: Level,
    /// Its weight in bits.
    pub bits: f64,
}

/// The agreement levels of one pair, in [`ALL_FIELDS`] order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Comparison(pub [Level; FIELDS]);

/// Every field, in the order of [`Comparison`].
pub const ALL_FIELDS: [Field; FIELDS] =
    [Field::FamilyName, Field::GivenName, Field::BirthDate, Field::Sex, Field::Phone, Field::Address, Field::Id];

impl Comparison {
    /// The level of one field.
    pub fn level(&self, field: Field) -> Level {
        self.0[field as usize]
    }

    /// Total weight in bits.
    pub fn score(&self, w: &Weights) -> f64 {
        ALL_FIELDS.iter().map(|&f| w.bits(f, self.level(f))).sum()
    }

    /// Per-field explanation.
    pub fn explain(&self, w: &Weights) -> Vec<FieldScore> {
        ALL_FIELDS.iter().map(|&f| FieldScore { field: f, level: self.level(f), bits: w.bits(f, self.level(f)) }).collect()
    }
}

/// An identity in the form comparators read.
#[derive(Debug, Clone)]
pub(crate) struct Features {
    pub name: NormName,
    pub birth: BirthDate,
    pub sex: Option<bool>,
    pub ids: Vec<IdDigest>,
    pub phone: Option<IdDigest>,
    /// Sorted, deduplicated hashes of address tokens.
    pub address: Vec<u64>,
}

impl Features {
    pub fn new(identity: &Identity) -> Features {
        Features {
            name: NormName::new(&identity.name),
            birth: identity.birth_date,
            sex: identity.sex.known(),
            ids: identity.id_digests.clone(),
            phone: identity.phone,
            address: identity.address.as_deref().map(address_tokens).unwrap_or_default(),
        }
    }
}

/// Compare two identities field by field, as the matcher does (without its
/// name-frequency adjustment, which depends on what it holds).
pub fn compare_identities(a: &Identity, b: &Identity, weights: &Weights) -> Comparison {
    compare(&Features::new(a), &Features::new(b), weights)
}

/// Compare two identities' features field by field.
pub(crate) fn compare(a: &Features, b: &Features, w: &Weights) -> Comparison {
    let (family, given) = compare_names(&a.name, &b.name, w);
    let sex = match (a.sex, b.sex) {
        (Some(x), Some(y)) => agree(x == y),
        _ => Level::Missing,
    };
    let phone = match (a.phone, b.phone) {
        (Some(x), Some(y)) => agree(x == y),
        _ => Level::Missing,
    };
    Comparison([
        family,
        given,
        compare_dates(&a.birth, &b.birth),
        sex,
        phone,
        compare_address(&a.address, &b.address),
        compare_ids(&a.ids, &b.ids),
    ])
}

fn agree(same: bool) -> Level {
    if same { Level::Agree } else { Level::Disagree }
}

fn compare_ids(a: &[IdDigest], b: &[IdDigest]) -> Level {
    let mut level = Level::Missing;
    for x in a {
        for y in b.iter().filter(|y| y.kind() == x.kind()) {
            if x == y {
                return Level::Agree;
            }
            level = Level::Disagree;
        }
    }
    level
}

fn compare_names(a: &NormName, b: &NormName, w: &Weights) -> (Level, Level) {
    if let (Some(ra), Some(rb)) = (&a.hz_reading, &b.hz_reading) {
        let hz = |x: &str, y: &str, px: &str, py: &str| match () {
            _ if x.is_empty() || y.is_empty() => Level::Missing,
            _ if x == y => Level::HanziExact,
            _ if px == py => Level::Homophone,
            _ => Level::Disagree,
        };
        return (hz(&a.hz_family, &b.hz_family, &ra.0, &rb.0), hz(&a.hz_given, &b.hz_given, &ra.1, &rb.1));
    }
    let score = |l: (Level, Level)| w.bits(Field::FamilyName, l.0) + w.bits(Field::GivenName, l.1);
    let mut best = (Level::Missing, Level::Missing);
    let mut best_score = f64::NEG_INFINITY;
    let (ra, rb) = (readings(a), readings(b));
    for &(af, ag) in &ra {
        for &(bf, bg) in &rb {
            let straight = pinyin_pair(af, ag, bf, bg);
            let mut candidates = vec![straight];
            if straight != (Level::PinyinExact, Level::PinyinExact) {
                // At most one side has Hanzi here, so `a` may have been typed
                // the western way round: its given name is also compared as
                // family. That agreement is weaker evidence (`Xu Yan` and `Yan
                // Xu` are both names): exact counts as close.
                let weaker = |l| if l == Level::PinyinExact { Level::PinyinClose } else { l };
                let swapped = pinyin_pair(ag, af, bf, bg);
                candidates.push((weaker(swapped.0), weaker(swapped.1)));
            }
            for c in candidates {
                let s = score(c);
                if s > best_score {
                    (best, best_score) = (c, s);
                }
            }
        }
    }
    best
}

fn readings(n: &NormName) -> Vec<(Py<'_>, Py<'_>)> {
    n.pinyin.iter().zip(&n.fuzzy).map(|((f, g), (ff, fg))| (Py { s: f, fuzzy: ff }, Py { s: g, fuzzy: fg })).collect()
}

/// A folded Pinyin string with its fuzzy form.
#[derive(Clone, Copy)]
struct Py<'a> {
    s: &'a str,
    fuzzy: &'a str,
}

/// Levels of (family, given) in Pinyin; a name not split into family and
/// given on either side is compared whole.
fn pinyin_pair(af: Py, ag: Py, bf: Py, bg: Py) -> (Level, Level) {
    if ag.s.is_empty() || bg.s.is_empty() {
        let (x, y) = ([af.s, ag.s].concat(), [bf.s, bg.s].concat());
        let (fx, fy) = ([af.fuzzy, ag.fuzzy].concat(), [bf.fuzzy, bg.fuzzy].concat());
        let l = pinyin_level(Py { s: &x, fuzzy: &fx }, Py { s: &y, fuzzy: &fy });
        return (l, l);
    }
    (pinyin_level(af, bf), pinyin_level(ag, bg))
}

fn pinyin_level(x: Py, y: Py) -> Level {
    if x.s.is_empty() || y.s.is_empty() {
        Level::Missing
    } else if x.s == y.s {
        Level::PinyinExact
    } else if x.fuzzy == y.fuzzy || jaro_winkler(x.s.as_bytes(), y.s.as_bytes()) >= 0.94 {
        Level::PinyinClose
    } else {
        Level::Disagree
    }
}

fn compare_dates(a: &BirthDate, b: &BirthDate) -> Level {
    let (Some(ya), Some(yb)) = (a.year, b.year) else {
        return Level::Missing;
    };
    if a.is_full() && b.is_full() {
        let (ma, da, mb, db) = (a.month, a.day, b.month, b.day);
        return if a == b {
            Level::Exact
        } else if ya == yb && ma == db && da == mb {
            Level::DayMonthSwapped
        } else if digit_differences(a, b) == 1 {
            Level::OneDigit
        } else {
            Level::Disagree
        };
    }
    if ya != yb {
        return Level::Disagree;
    }
    match (a.month, b.month) {
        (Some(x), Some(y)) if x == y => Level::YearMonth,
        (Some(_), Some(_)) => Level::Disagree,
        _ => Level::Year,
    }
}

/// How many of the eight digits of YYYYMMDD differ.
fn digit_differences(a: &BirthDate, b: &BirthDate) -> usize {
    let n = |d: &BirthDate| u32::from(d.year.unwrap_or(0)) * 10_000 + u32::from(d.month.unwrap_or(0)) * 100 + u32::from(d.day.unwrap_or(0));
    let (mut x, mut y) = (n(a), n(b));
    let mut differ = 0;
    for _ in 0..8 {
        differ += usize::from(x % 10 != y % 10);
        (x, y) = (x / 10, y / 10);
    }
    differ
}

fn compare_address(a: &[u64], b: &[u64]) -> Level {
    if a.is_empty() || b.is_empty() {
        return Level::Missing;
    }
    let (mut i, mut j, mut shared) = (0, 0, 0usize);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                shared += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let jaccard = shared as f64 / (a.len() + b.len() - shared) as f64;
    if jaccard >= 0.6 {
        Level::Agree
    } else if jaccard >= 0.3 {
        Level::Partial
    } else {
        Level::Disagree
    }
}

/// Address tokens: character bigrams of the CJK text, lower-cased words of
/// the rest; punctuation and spaces dropped.
fn address_tokens(text: &str) -> Vec<u64> {
    let mut tokens = Vec::new();
    let cjk: Vec<char> = text.chars().filter(|c| crate::name::is_cjk(*c)).collect();
    for pair in cjk.windows(2) {
        tokens.push(hash_str(&pair.iter().collect::<String>()));
    }
    for word in text.split(|c: char| !c.is_ascii_alphanumeric()).filter(|w| !w.is_empty()) {
        tokens.push(hash_str(&word.to_ascii_lowercase()));
    }
    tokens.sort_unstable();
    tokens.dedup();
    tokens
}

pub(crate) fn hash_str(s: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

/// Jaro-Winkler similarity (prefix scale 0.1, at most 4 prefix characters)
/// of the first 64 bytes of each string.
pub fn jaro_winkler(a: &[u8], b: &[u8]) -> f64 {
    let (a, b) = (&a[..a.len().min(64)], &b[..b.len().min(64)]);
    if a.is_empty() || b.is_empty() {
        return if a == b { 1.0 } else { 0.0 };
    }
    let window = (a.len().max(b.len()) / 2).saturating_sub(1);
    let mut b_used = 0u64;
    let mut a_matched = [0u8; 64];
    let mut m = 0;
    for (i, &c) in a.iter().enumerate() {
        let lo = i.saturating_sub(window);
        let hi = (i + window + 1).min(b.len());
        if let Some(j) = (lo..hi).find(|&j| b_used & (1 << j) == 0 && b[j] == c) {
            b_used |= 1 << j;
            a_matched[m] = c;
            m += 1;
        }
    }
    if m == 0 {
        return 0.0;
    }
    let b_matched = b.iter().enumerate().filter(|(j, _)| b_used & (1 << j) != 0).map(|(_, c)| *c);
    let transpositions = a_matched[..m].iter().zip(b_matched).filter(|(x, y)| **x != *y).count() / 2;
    let m = m as f64;
    let jaro = (m / a.len() as f64 + m / b.len() as f64 + (m - transpositions as f64) / m) / 3.0;
    let prefix = a.iter().zip(b).take(4).take_while(|(x, y)| x == y).count() as f64;
    jaro + prefix * 0.1 * (1.0 - jaro)
}
