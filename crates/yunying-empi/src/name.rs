//! Person names as DICOM PN (`Family^Given=汉字^名=phonetic`) and the
//! normalised forms matching compares.
//!
//! Hanzi become toneless Pinyin (with the surname readings that differ from a
//! character's everyday one: 单 shan, 曾 zeng, 区 ou, …), so `张^三` and
//! `Zhang^San` compare; Pinyin is folded (case, spaces, apostrophes, tone
//! marks and digits, `ü`/`u:` → `v`). A name with no `^` is split on its first
//! space (`ZHANG SAN`), its order marked unknown so `San Zhang` still matches.

use pinyin::ToPinyin;
use std::collections::HashSet;
use std::sync::OnceLock;

/// Longest PN value looked at (3 groups of at most 64 characters and separators).
pub const MAX_PN_CHARS: usize = 200;

/// Why a person name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// More than [`MAX_PN_CHARS`] characters.
    #[error("person name longer than {MAX_PN_CHARS} characters")]
    TooLong,
}

/// Family and given name of one component group, as sent (trimmed). Its
/// `Debug` shows lengths only: names are personal data.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct NameGroup {
    /// First component (family name).
    pub family: String,
    /// Second component (given name); with no `^`, empty.
    pub given: String,
}

/// A DICOM person name split into its component groups; either may be empty.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PersonName {
    /// Single-byte group, usually Pinyin (`Wang^Xiaoming`).
    pub alphabetic: NameGroup,
    /// Ideographic group, usually Hanzi (`王^小明`).
    pub ideographic: NameGroup,
    /// Phonetic group (rarely used in China; kept, not compared).
    pub phonetic: NameGroup,
}

impl std::fmt::Debug for NameGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NameGroup {{ family: <{} chars>, given: <{} chars> }}", self.family.chars().count(), self.given.chars().count())
    }
}

impl PersonName {
    /// The PN value again (`Family^Given=家^名`, empty trailing groups left
    /// out), for showing to a reviewer. Never log it.
    pub fn to_dicom(&self) -> String {
        let group = |g: &NameGroup| if g.given.is_empty() { g.family.clone() } else { format!("{}^{}", g.family, g.given) };
        let mut groups = vec![group(&self.alphabetic), group(&self.ideographic), group(&self.phonetic)];
        while groups.len() > 1 && groups.last().is_some_and(String::is_empty) {
            groups.pop();
        }
        groups.join("=")
    }

    /// Parse a PN value already decoded to UTF-8.
    pub fn parse(pn: &str) -> Result<Self, NameError> {
        if pn.chars().count() > MAX_PN_CHARS {
            return Err(NameError::TooLong);
        }
        let mut groups = pn.splitn(3, '=').map(group);
        Ok(PersonName {
            alphabetic: groups.next().unwrap_or_default(),
            ideographic: groups.next().unwrap_or_default(),
            phonetic: groups.next().unwrap_or_default(),
        })
    }

    /// Whether no group carries anything.
    pub fn is_empty(&self) -> bool {
        [&self.alphabetic, &self.ideographic].iter().all(|g| g.family.is_empty() && g.given.is_empty())
    }
}

fn group(text: &str) -> NameGroup {
    let mut parts = text.split('^').map(str::trim);
    let family = parts.next().unwrap_or_default().to_string();
    // Middle names, prefixes and suffixes are not used by Chinese names; a
    // middle component is taken as part of the given name.
    let given: Vec<&str> = parts.take(2).filter(|p| !p.is_empty()).collect();
    NameGroup { family, given: given.join(" ") }
}

/// The matching form of a name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NormName {
    /// Hanzi family and given name (empty when the name has no Hanzi).
    pub hz_family: String,
    pub hz_given: String,
    /// (family, given) Pinyin readings: from the alphabetic group and from the
    /// Hanzi, at most two, deduplicated.
    pub pinyin: Vec<(String, String)>,
    /// [`fuzzy_pinyin`] of each reading, in the same order.
    pub fuzzy: Vec<(String, String)>,
    /// The reading of the Hanzi alone (for telling homophones from the same Hanzi).
    pub hz_reading: Option<(String, String)>,
    /// Whether family and given are known apart in every reading (a `^` or Hanzi).
    pub ordered: bool,
}

impl NormName {
    pub fn new(name: &PersonName) -> NormName {
        let mut out = NormName { ordered: true, ..NormName::default() };
        let mut alpha = name.alphabetic.clone();
        let mut ideo = name.ideographic.clone();
        // Hanzi sent in the first group (common without a character set switch).
        if ideo.family.is_empty() && ideo.given.is_empty() && has_cjk(&alpha.family) {
            ideo = std::mem::take(&mut alpha);
        }
        if !ideo.family.is_empty() || !ideo.given.is_empty() {
            let (f, g) = split_hanzi(&ideo);
            out.hz_family = f;
            out.hz_given = g;
        }
        if !alpha.family.is_empty() || !alpha.given.is_empty() {
            let (family, given, ordered) = split_alpha(&alpha);
            let (family, given) = (fold_pinyin(&family), fold_pinyin(&given));
            if !family.is_empty() || !given.is_empty() {
                out.ordered &= ordered;
                out.pinyin.push((family, given));
            }
        }
        if !out.hz_family.is_empty() || !out.hz_given.is_empty() {
            let reading = (surname_pinyin(&out.hz_family), hanzi_pinyin(&out.hz_given));
            if !out.pinyin.contains(&reading) {
                out.pinyin.push(reading.clone());
            }
            out.hz_reading = Some(reading);
        }
        out.fuzzy = out.pinyin.iter().map(|(f, g)| (fuzzy_pinyin(f), fuzzy_pinyin(g))).collect();
        out
    }

    /// Whether every Pinyin reading is a sequence of real syllables (a typo
    /// such as `uhawei` or `tingwxi` is not; a different name is).
    pub fn is_real_pinyin(&self) -> bool {
        self.pinyin.iter().all(|(f, g)| is_pinyin_word(f) && is_pinyin_word(g))
    }
}

/// The toneless syllables of every CJK Unified Ideograph's reading (about 410).
fn syllables() -> &'static HashSet<String> {
    static SET: OnceLock<HashSet<String>> = OnceLock::new();
    SET.get_or_init(|| ('\u{4E00}'..='\u{9FFF}').filter_map(|c| c.to_pinyin()).map(|p| p.plain().replace('ü', "v")).collect())
}

/// Whether a folded string splits into Pinyin syllables (empty counts).
pub(crate) fn is_pinyin_word(s: &str) -> bool {
    let set = syllables();
    let n = s.len();
    let mut reachable = vec![false; n + 1];
    reachable[0] = true;
    for i in 0..n {
        if !reachable[i] {
            continue;
        }
        for len in 1..=6.min(n - i) {
            if s.is_char_boundary(i + len) && set.contains(&s[i..i + len]) {
                reachable[i + len] = true;
            }
        }
    }
    reachable[n]
}

/// Family/given of an alphabetic group; `false` when the order is a guess.
fn split_alpha(g: &NameGroup) -> (String, String, bool) {
    if !g.given.is_empty() {
        return (g.family.clone(), g.given.clone(), true);
    }
    if let Some((f, rest)) = g.family.split_once(',') {
        return (f.to_string(), rest.to_string(), true);
    }
    match g.family.trim().split_once(' ') {
        Some((f, rest)) => (f.to_string(), rest.to_string(), false),
        None => (g.family.clone(), String::new(), false),
    }
}

/// Compound surnames: a Hanzi name sent without `^` takes two characters as
/// its family name when they are one of these.
const COMPOUND_SURNAMES: [&str; 20] = [
    "欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐", "司徒", "夏侯", "长孙", "宇文", "轩辕", "端木", "南宫",
    "申屠", "独孤", "西门",
];

fn split_hanzi(g: &NameGroup) -> (String, String) {
    let clean = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let (family, given) = (clean(&g.family), clean(&g.given));
    if !given.is_empty() || family.chars().count() < 2 {
        return (family, given);
    }
    let cut = if COMPOUND_SURNAMES.iter().any(|c| family.starts_with(c)) { 2 } else { 1 };
    let at = family.char_indices().nth(cut).map_or(family.len(), |(i, _)| i);
    (family[..at].to_string(), family[at..].to_string())
}

/// Surname readings that differ from the character's most common reading.
const SURNAME_READINGS: [(&str, &str); 18] = [
    ("单", "shan"),
    ("曾", "zeng"),
    ("区", "ou"),
    ("仇", "qiu"),
    ("解", "xie"),
    ("朴", "piao"),
    ("查", "zha"),
    ("盖", "ge"),
    ("乐", "yue"),
    ("覃", "qin"),
    ("缪", "miao"),
    ("翟", "zhai"),
    ("尉迟", "yuchi"),
    ("长孙", "zhangsun"),
    ("种", "chong"),
    ("召", "shao"),
    ("繁", "po"),
    ("秘", "bi"),
];

fn surname_pinyin(family: &str) -> String {
    match SURNAME_READINGS.iter().find(|(h, _)| *h == family) {
        Some((_, p)) => (*p).to_string(),
        None => hanzi_pinyin(family),
    }
}

/// Toneless Pinyin of Hanzi, syllables joined, `ü` as `v`; other characters dropped.
pub(crate) fn hanzi_pinyin(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if let Some(p) = c.to_pinyin() {
            out.extend(p.plain().chars().map(|c| if c == 'ü' { 'v' } else { c }));
        }
    }
    out
}

/// Whether any character is a CJK ideograph.
pub(crate) fn has_cjk(s: &str) -> bool {
    s.chars().any(is_cjk)
}

pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{2FFFF}' | '〇')
}

/// Lower-case a-z only: tone marks to their vowel, `ü`/`u:` to `v`, digits,
/// spaces, apostrophes, hyphens and everything else dropped.
pub(crate) fn fold_pinyin(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        let c = match c {
            'A'..='Z' => c.to_ascii_lowercase(),
            'a'..='z' => c,
            'ā' | 'á' | 'ǎ' | 'à' | 'Ā' | 'Á' | 'Ǎ' | 'À' => 'a',
            'ē' | 'é' | 'ě' | 'è' | 'Ē' | 'É' | 'Ě' | 'È' | 'ê' => 'e',
            'ī' | 'í' | 'ǐ' | 'ì' | 'Ī' | 'Í' | 'Ǐ' | 'Ì' => 'i',
            'ō' | 'ó' | 'ǒ' | 'ò' | 'Ō' | 'Ó' | 'Ǒ' | 'Ò' => 'o',
            'ū' | 'ú' | 'ǔ' | 'ù' | 'Ū' | 'Ú' | 'Ǔ' | 'Ù' => 'u',
            'ü' | 'ǖ' | 'ǘ' | 'ǚ' | 'ǜ' | 'Ü' | 'Ǖ' | 'Ǘ' | 'Ǚ' | 'Ǜ' => 'v',
            _ => continue,
        };
        if c == 'u' && chars.peek() == Some(&':') {
            chars.next();
            out.push('v');
        } else {
            out.push(c);
        }
    }
    out
}

/// A coarse Pinyin key for blocking and near matches: the confusions of
/// southern speech and of typists folded (zh/z, ch/c, sh/s, -ng/-n, l/n, v/u).
pub(crate) fn fuzzy_pinyin(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let next = b.get(i + 1).copied();
        match (b[i], next) {
            (b'z' | b'c' | b's', Some(b'h')) => {
                out.push(b[i] as char);
                i += 2;
                continue;
            }
            (b'n', Some(b'g')) => {
                out.push('n');
                i += 2;
                continue;
            }
            (b'l', _) => out.push('n'),
            (b'v', _) => out.push('u'),
            (c, _) => out.push(c as char),
        }
        i += 1;
    }
    out
}
