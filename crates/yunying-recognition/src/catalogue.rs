//! The recognition catalogue of a region and its configuration.
//!
//! ```toml
//! [recognition]
//! region = "330100"                  # the region's code (杭州市)
//! exclude_own_institution = false    # offer the ordering institution's own studies too
//!
//! [[recognition.items]]
//! code = "CT-CHEST"
//! name = "胸部CT平扫"
//! modality = "CT"                    # alternatives separated by '/': "CR/DX"
//! body_parts = ["CHEST"]
//! procedure_codes = [{ value = "ZJ-CT-001", scheme = "99ZJHR" }]
//! keywords = ["胸部", "chest"]
//! window_days = 30
//! price_fen = 24000
//!
//! [[recognition.local_reasons]]
//! code = "patient-request"
//! name = "患者要求"
//!
//! [[recognition.marks]]
//! institution = "HOSP-A"
//! item = "CT-CHEST"
//! scope = "330000"
//! valid_from = "2026-01-01"
//! valid_to = "2026-12-31"
//! ```
//!
//! Everything is bounded: at most [`MAX_ITEMS`] items, [`MAX_CODES`]
//! procedure codes (and as many keywords and body parts) per item, strings
//! of at most [`MAX_TEXT`] characters.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::RecognitionError;
use crate::date::Date;

/// Most items in a catalogue.
pub const MAX_ITEMS: usize = 5_000;
/// Most procedure codes, keywords or body parts per item.
pub const MAX_CODES: usize = 100;
/// Longest string (characters).
pub const MAX_TEXT: usize = 256;
/// Most quality marks.
pub const MAX_MARKS: usize = 200_000;
/// Most local reasons.
pub const MAX_LOCAL_REASONS: usize = 50;
/// Longest validity window (ten years).
pub const MAX_WINDOW_DAYS: u32 = 3_650;

/// A coded procedure (Procedure Code Sequence item): value and scheme.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProcedureCode {
    /// Code Value (0008,0100).
    pub value: String,
    /// Coding Scheme Designator (0008,0102).
    pub scheme: String,
}

/// One recognisable examination item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub code: String,
    /// Name in zh-CN.
    pub name: String,
    /// Modality, or alternatives separated by `/` (`CR/DX`).
    pub modality: String,
    /// Body Part Examined values (any of them); empty: any body part.
    #[serde(default)]
    pub body_parts: Vec<String>,
    /// Procedure codes that map a study to the item by themselves.
    #[serde(default)]
    pub procedure_codes: Vec<ProcedureCode>,
    /// Study Description keywords (case-insensitive substrings).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// How old a result may be, in days from study date to order date.
    pub window_days: u32,
    /// Price in fen (for the money saved).
    pub price_fen: i64,
}

/// A region's own reason for not recognising, besides the six standard ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalReason {
    pub code: String,
    /// Label in zh-CN.
    pub name: String,
}

/// A quality (HR) mark as configured.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarkConfig {
    pub institution: String,
    pub item: String,
    /// Whether quality control was passed (default true).
    #[serde(default = "yes")]
    pub passed: bool,
    /// The region code the mark holds in.
    pub scope: String,
    /// First and last day (`YYYY-MM-DD` or `YYYYMMDD`).
    pub valid_from: String,
    pub valid_to: String,
}

fn yes() -> bool {
    true
}

/// The `[recognition]` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecognitionConfig {
    /// The region's code (administrative division code).
    pub region: String,
    /// Leave the ordering institution's own studies out of the candidates.
    #[serde(default)]
    pub exclude_own_institution: bool,
    #[serde(default)]
    pub items: Vec<Item>,
    /// Local reasons; when absent, [`default_local_reasons`].
    #[serde(default = "default_local_reasons")]
    pub local_reasons: Vec<LocalReason>,
    #[serde(default)]
    pub marks: Vec<MarkConfig>,
    /// How long opening a candidate opens its images to the doctor
    /// (hours, 1 to 720; default 24).
    #[serde(default = "default_grant_hours")]
    pub grant_hours: u32,
    /// Where each institution's HIS takes its decisions.
    #[serde(default)]
    pub webhooks: Vec<crate::webhook::WebhookConfig>,
}

fn default_grant_hours() -> u32 {
    24
}

/// Patient request, quality doubt, result too old.
pub fn default_local_reasons() -> Vec<LocalReason> {
    [("patient-request", "患者要求"), ("quality-doubt", "质量存疑"), ("result-too-old", "结果时间过久")]
        .into_iter()
        .map(|(code, name)| LocalReason { code: code.into(), name: name.into() })
        .collect()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    recognition: RecognitionConfig,
}

impl RecognitionConfig {
    /// Reads a TOML document holding a `[recognition]` table, and checks it.
    pub fn from_toml(text: &str) -> Result<RecognitionConfig, RecognitionError> {
        if text.len() > 16 << 20 {
            return Err(RecognitionError::Config("the configuration is larger than 16 MiB".into()));
        }
        let doc: Document = toml::from_str(text).map_err(|e| RecognitionError::Config(e.message().to_string()))?;
        doc.recognition.check()?;
        Ok(doc.recognition)
    }

    /// Checks every bound and cross-reference.
    pub fn check(&self) -> Result<(), RecognitionError> {
        check_text("region", &self.region, false)?;
        if !(1..=720).contains(&self.grant_hours) {
            return Err(RecognitionError::Config("grant_hours is 1 to 720".into()));
        }
        Catalogue::new(&self.region, self.items.clone())?;
        if self.webhooks.len() > crate::webhook::MAX_WEBHOOKS {
            return Err(RecognitionError::Config(format!("more than {} webhooks", crate::webhook::MAX_WEBHOOKS)));
        }
        for w in &self.webhooks {
            w.check()?;
        }
        check_local_reasons(&self.local_reasons)?;
        self.marks()?;
        Ok(())
    }

    /// The configured marks, checked.
    pub fn marks(&self) -> Result<Vec<Mark>, RecognitionError> {
        if self.marks.len() > MAX_MARKS {
            return Err(RecognitionError::Config(format!("more than {MAX_MARKS} quality marks")));
        }
        self.marks.iter().map(Mark::from_config).collect()
    }
}

/// Checks a list of local reasons: bounded, unique, not a standard code.
pub fn check_local_reasons(reasons: &[LocalReason]) -> Result<(), RecognitionError> {
    if reasons.len() > MAX_LOCAL_REASONS {
        return Err(RecognitionError::Config(format!("more than {MAX_LOCAL_REASONS} local reasons")));
    }
    let mut seen = std::collections::HashSet::new();
    for r in reasons {
        check_text("local reason code", &r.code, false)?;
        check_text("local reason name", &r.name, false)?;
        if crate::decision::StandardReason::from_code(&r.code).is_some() || !seen.insert(r.code.as_str()) {
            return Err(RecognitionError::Config(format!("local reason code {:?} is used twice or is a standard one", r.code)));
        }
    }
    Ok(())
}

/// A checked quality mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub institution: String,
    pub item_code: String,
    pub passed: bool,
    pub scope: String,
    pub valid_from: Date,
    pub valid_to: Date,
}

impl Mark {
    /// Checks a configured mark.
    pub fn from_config(m: &MarkConfig) -> Result<Mark, RecognitionError> {
        check_text("mark institution", &m.institution, false)?;
        check_text("mark item", &m.item, false)?;
        check_text("mark scope", &m.scope, false)?;
        let date = |s: &str| Date::parse(s).ok_or_else(|| RecognitionError::Config(format!("mark date {s:?} is not a date")));
        let (valid_from, valid_to) = (date(&m.valid_from)?, date(&m.valid_to)?);
        if valid_to < valid_from {
            return Err(RecognitionError::Config("a mark ends before it starts".into()));
        }
        Ok(Mark {
            institution: m.institution.clone(),
            item_code: m.item.clone(),
            passed: m.passed,
            scope: m.scope.clone(),
            valid_from,
            valid_to,
        })
    }

    /// Whether the mark makes a result of `date` HR.
    pub fn holds_on(&self, date: Date) -> bool {
        self.passed && self.valid_from <= date && date <= self.valid_to
    }
}

/// The HR mark of an institution's result for an item on a study date:
/// a passed mark valid that day (the one that started last, if several).
pub fn hr_mark<'a>(marks: &'a [Mark], institution: &str, item_code: &str, study_date: Date) -> Option<&'a Mark> {
    marks.iter().filter(|m| m.institution == institution && m.item_code == item_code && m.holds_on(study_date)).max_by_key(|m| m.valid_from)
}

/// Whether a mark's scope covers a region: equal codes, or the scope is a
/// larger division of it (administrative codes: `330000` covers `330100`
/// and `330106`; `CN` covers every region).
pub fn scope_covers(scope: &str, region: &str) -> bool {
    if scope == region || scope == "CN" {
        return true;
    }
    let mut prefix = scope;
    while let Some(p) = prefix.strip_suffix("00") {
        prefix = p;
    }
    !prefix.is_empty() && prefix.len() < scope.len() && region.len() == scope.len() && region.starts_with(prefix)
}

/// A region's checked catalogue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Catalogue {
    region: String,
    items: Vec<Item>,
    by_code: HashMap<String, usize>,
}

impl Catalogue {
    /// Checks `items` (bounds, unique codes, windows, prices) and indexes them.
    pub fn new(region: &str, items: Vec<Item>) -> Result<Catalogue, RecognitionError> {
        if items.len() > MAX_ITEMS {
            return Err(RecognitionError::Config(format!("more than {MAX_ITEMS} items")));
        }
        let mut by_code = HashMap::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            check_item(item)?;
            if by_code.insert(item.code.clone(), i).is_some() {
                return Err(RecognitionError::Config(format!("item code {:?} appears twice", item.code)));
            }
        }
        Ok(Catalogue { region: region.to_string(), items, by_code })
    }

    /// The region it belongs to.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Every item, in the order given.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// The item of a code.
    pub fn item(&self, code: &str) -> Option<&Item> {
        self.by_code.get(code).map(|&i| &self.items[i])
    }
}

fn check_item(item: &Item) -> Result<(), RecognitionError> {
    check_text("item code", &item.code, false)?;
    check_text("item name", &item.name, false)?;
    check_text("item modality", &item.modality, false)?;
    for (what, n) in
        [("body parts", item.body_parts.len()), ("procedure codes", item.procedure_codes.len()), ("keywords", item.keywords.len())]
    {
        if n > MAX_CODES {
            return Err(RecognitionError::Config(format!("item {:?} has more than {MAX_CODES} {what}", item.code)));
        }
    }
    for s in item.body_parts.iter().chain(&item.keywords) {
        check_text("item body part or keyword", s, false)?;
    }
    for c in &item.procedure_codes {
        check_text("procedure code value", &c.value, false)?;
        check_text("procedure code scheme", &c.scheme, true)?;
    }
    if item.window_days == 0 || item.window_days > MAX_WINDOW_DAYS {
        return Err(RecognitionError::Config(format!("item {:?}: window_days must be 1 to {MAX_WINDOW_DAYS}", item.code)));
    }
    if !(0..=1_000_000_000).contains(&item.price_fen) {
        return Err(RecognitionError::Config(format!("item {:?}: price_fen must be 0 to 10^9", item.code)));
    }
    Ok(())
}

/// A string is at most [`MAX_TEXT`] characters, has no control characters,
/// and (unless `may_be_empty`) is not blank.
pub(crate) fn check_text(what: &str, s: &str, may_be_empty: bool) -> Result<(), RecognitionError> {
    if s.chars().count() > MAX_TEXT || s.chars().any(char::is_control) || (!may_be_empty && s.trim().is_empty()) {
        return Err(RecognitionError::Config(format!("{what} must be 1 to {MAX_TEXT} characters without control characters")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_cover_their_subdivisions_only() {
        assert!(scope_covers("330100", "330100"));
        assert!(scope_covers("330000", "330106"));
        assert!(scope_covers("330100", "330106"));
        assert!(!scope_covers("330100", "330200"));
        assert!(!scope_covers("330000", "320100"));
        assert!(scope_covers("CN", "110000"));
        assert!(!scope_covers("000000", "330100"));
    }

    #[test]
    fn unknown_keys_and_oversized_lists_are_refused() {
        let bad = "[recognition]\nregion = \"330100\"\ncolour = \"red\"\n";
        assert!(matches!(RecognitionConfig::from_toml(bad), Err(RecognitionError::Config(_))));
        let codes: Vec<String> = (0..=MAX_CODES).map(|i| format!("{{ value = \"C{i}\", scheme = \"S\" }}")).collect();
        let big = format!(
            "[recognition]\nregion = \"330100\"\n[[recognition.items]]\ncode = \"X\"\nname = \"x\"\nmodality = \"CT\"\n\
             window_days = 30\nprice_fen = 1\nprocedure_codes = [{}]\n",
            codes.join(",")
        );
        assert!(matches!(RecognitionConfig::from_toml(&big), Err(RecognitionError::Config(_))));
    }
}
