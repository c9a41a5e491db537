//! Hanging protocols of the web viewer (issue 29): which layout a study
//! opens in and which series, of the study or of a prior, each viewport
//! shows in which window. The viewer evaluates them (`viewer/src/hanging.ts`);
//! this crate owns their format and bounds (the same rules as
//! `docs/hanging-protocols.schema.json`) and the administrators' list in the
//! index (`viewer_settings`, name `hanging-protocols`): anyone who reads
//! images (or administers the system) reads it, only the system
//! administrator replaces it, and every replacement is a ledger event
//! (`viewer-config-changed`). Without a stored list the built-in defaults
//! (`src/defaults.json`) apply.
//!
//! Architecture invariant: no HTTP, no DICOM; access through
//! `yunying-access`.

use serde::{Deserialize, Serialize};
use yunying_access::{Access, Action, Denied, Principal};
use yunying_index::ViewerSetting;

/// The setting's name in `viewer_settings`.
pub const SETTING: &str = "hanging-protocols";
/// The built-in protocols, as the viewer ships them.
pub const DEFAULTS: &str = include_str!("defaults.json");

pub const MAX_BODY_BYTES: usize = 256 << 10;
pub const MAX_PROTOCOLS: usize = 100;
pub const MAX_PATTERN: usize = 200;
pub const MAX_NAME: usize = 120;
pub const MAX_PRIOR: u32 = 9;
pub const LAYOUTS: [&str; 5] = ["1x1", "1x2", "2x2", "1x3", "2x3"];
pub const PRESETS: [&str; 5] = ["default", "soft", "lung", "bone", "brain"];

/// The list as stored and served.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Protocols {
    pub protocols: Vec<Protocol>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    pub id: String,
    pub name: String,
    #[serde(rename = "match", default)]
    pub when: Match,
    pub layout: String,
    pub viewports: Vec<Viewport>,
}

/// What a study must be for the protocol to apply: every criterion given holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Match {
    /// Any of these modalities is in the study.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub modalities: Vec<String>,
    /// A pattern (case-insensitive) of a series' Body Part Examined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_part: Option<String>,
    /// A pattern (case-insensitive) of the Study Description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A pattern matching the body part or the study description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anatomy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_priors: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_priors: Option<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Viewport {
    pub series: Selector,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
}

/// Which series a viewport shows: of the study (`prior` 0) or of its Nth
/// prior (newest first), the `nth` series (from 0, by series number) that
/// meets every criterion given.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    #[serde(default, skip_serializing_if = "is_zero")]
    pub prior: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modality: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub number: Option<i64>,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub nth: u32,
}

fn is_zero(v: &u32) -> bool {
    *v == 0
}

/// What `GET` answers.
#[derive(Debug, Clone, Serialize)]
pub struct Stored {
    pub protocols: Vec<Protocol>,
    /// False: the built-in defaults (nothing stored).
    pub stored: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_by: Option<String>,
}

fn cells(layout: &str) -> Option<usize> {
    LAYOUTS.contains(&layout).then(|| layout.split('x').map(|n| n.parse::<usize>().unwrap_or(0)).product())
}

fn check_pattern(at: &str, pattern: &Option<String>, problems: &mut Vec<String>) {
    let Some(p) = pattern else { return };
    if p.is_empty() || p.chars().count() > MAX_PATTERN {
        problems.push(format!("{at}: a pattern is 1 to {MAX_PATTERN} characters"));
        return;
    }
    // The viewer runs it as a JavaScript RegExp (flags `iu`): only the
    // syntax both share (no look-around, no back-references).
    if let Err(e) = regex_syntax::ParserBuilder::new().case_insensitive(true).build().parse(p) {
        let first = e.to_string().lines().last().unwrap_or("invalid").trim().to_string();
        problems.push(format!("{at}: not a valid pattern ({first})"));
    }
}

fn code_ok(code: &str) -> bool {
    !code.is_empty() && code.len() <= 16 && code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Parse and check a list: every problem found, each with where it is.
pub fn parse(body: &str) -> Result<Protocols, Vec<String>> {
    if body.len() > MAX_BODY_BYTES {
        return Err(vec![format!("the list is over {} KiB", MAX_BODY_BYTES >> 10)]);
    }
    let list: Protocols = serde_json::from_str(body).map_err(|e| vec![format!("not a protocol list: {e}")])?;
    let mut problems = Vec::new();
    if list.protocols.len() > MAX_PROTOCOLS {
        problems.push(format!("at most {MAX_PROTOCOLS} protocols"));
    }
    let mut ids = std::collections::HashSet::new();
    for (i, p) in list.protocols.iter().enumerate() {
        let at = format!("protocols[{i}]");
        let id_ok = !p.id.is_empty() && p.id.len() <= 64 && p.id.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !id_ok {
            problems.push(format!("{at}.id: 1 to 64 letters, digits, '.', '_' or '-'"));
        } else if !ids.insert(p.id.as_str()) {
            problems.push(format!("{at}.id: {} is used twice", p.id));
        }
        if p.name.trim().is_empty() || p.name.chars().count() > MAX_NAME || p.name.chars().any(char::is_control) {
            problems.push(format!("{at}.name: 1 to {MAX_NAME} characters, no control characters"));
        }
        let m = &p.when;
        if m.modalities.len() > 16 || !m.modalities.iter().all(|c| code_ok(c)) {
            problems.push(format!("{at}.match.modalities: at most 16 upper-case codes such as CT"));
        }
        check_pattern(&format!("{at}.match.bodyPart"), &m.body_part, &mut problems);
        check_pattern(&format!("{at}.match.description"), &m.description, &mut problems);
        check_pattern(&format!("{at}.match.anatomy"), &m.anatomy, &mut problems);
        if m.min_priors.is_some_and(|n| n > MAX_PRIOR) || m.max_priors.is_some_and(|n| n > MAX_PRIOR) {
            problems.push(format!("{at}.match: minPriors and maxPriors are 0 to {MAX_PRIOR}"));
        }
        if let (Some(lo), Some(hi)) = (m.min_priors, m.max_priors)
            && lo > hi
        {
            problems.push(format!("{at}.match: minPriors is over maxPriors"));
        }
        let Some(n) = cells(&p.layout) else {
            problems.push(format!("{at}.layout: one of {}", LAYOUTS.join(", ")));
            continue;
        };
        if p.viewports.is_empty() || p.viewports.len() > n {
            problems.push(format!("{at}.viewports: 1 to {n} for layout {}", p.layout));
        }
        for (k, v) in p.viewports.iter().enumerate() {
            let at = format!("{at}.viewports[{k}]");
            let s = &v.series;
            if s.prior > MAX_PRIOR || s.nth > 99 {
                problems.push(format!("{at}.series: prior is 0 to {MAX_PRIOR}, nth 0 to 99"));
            }
            if s.modality.as_deref().is_some_and(|c| !code_ok(c)) {
                problems.push(format!("{at}.series.modality: an upper-case code such as CT"));
            }
            if s.number.is_some_and(|n| !(0..=99_999).contains(&n)) {
                problems.push(format!("{at}.series.number: 0 to 99999"));
            }
            check_pattern(&format!("{at}.series.description"), &s.description, &mut problems);
            if v.preset.as_deref().is_some_and(|p| !PRESETS.contains(&p)) {
                problems.push(format!("{at}.preset: one of {}", PRESETS.join(", ")));
            }
        }
    }
    if problems.is_empty() { Ok(list) } else { Err(problems) }
}

/// The built-in list.
pub fn defaults() -> Protocols {
    parse(DEFAULTS).expect("the built-in hanging protocols are valid (tested)")
}

fn may_read(access: &Access, who: &Principal) -> Result<(), Denied> {
    access.require(who, Action::View).or_else(|e| access.require(who, Action::ManageSystem).map_err(|_| e))
}

/// The list in force, for anyone who reads images or administers the system.
pub async fn protocols_as(access: &Access, who: &Principal) -> Result<Stored, Denied> {
    may_read(access, who)?;
    stored(access).await
}

async fn stored(access: &Access) -> Result<Stored, Denied> {
    Ok(match access.index().viewer_setting(SETTING).await? {
        Some(s) => Stored {
            // Stored only after `parse`; a later, stricter build still serves it.
            protocols: serde_json::from_str::<Protocols>(&s.body).map(|p| p.protocols).unwrap_or_else(|_| defaults().protocols),
            stored: true,
            updated_ms: Some(s.updated_ms),
            updated_by: Some(s.updated_by),
        },
        None => Stored { protocols: defaults().protocols, stored: false, updated_ms: None, updated_by: None },
    })
}

/// Replace the list (the system administrator); `body` is the JSON sent.
pub async fn replace_as(access: &Access, who: &Principal, body: &str, client: &str, now_ms: i64) -> Result<Stored, Denied> {
    access.require(who, Action::ManageSystem)?;
    let list = parse(body).map_err(|problems| Denied::Invalid(problems.into_iter().take(20).collect::<Vec<_>>().join("; ")))?;
    let canonical = serde_json::to_string(&list).map_err(|e| Denied::Invalid(e.to_string()))?;
    access.index().set_viewer_setting(SETTING, &ViewerSetting { body: canonical, updated_ms: now_ms, updated_by: who.id.clone() }).await?;
    let detail = format!(
        "{SETTING}: {} protocols ({})",
        list.protocols.len(),
        list.protocols.iter().map(|p| p.id.as_str()).collect::<Vec<_>>().join(",")
    );
    access.record(&who.id, "viewer-config-changed", &[], "viewer", client, "ok", &detail).await;
    stored(access).await
}

/// Back to the built-in list (the system administrator).
pub async fn reset_as(access: &Access, who: &Principal, client: &str) -> Result<Stored, Denied> {
    access.require(who, Action::ManageSystem)?;
    access.index().remove_viewer_setting(SETTING).await?;
    access.record(&who.id, "viewer-config-changed", &[], "viewer", client, "ok", &format!("{SETTING}: built-in defaults")).await;
    stored(access).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_protocols_are_valid() {
        let list = defaults();
        assert!(list.protocols.len() >= 5);
        assert!(list.protocols.iter().any(|p| p.id == "ct-chest-prior" && p.layout == "2x2"));
    }

    #[test]
    fn problems_are_found_with_where_they_are() {
        let body = r#"{"protocols":[
            {"id":"a","name":"A","layout":"3x3","viewports":[{"series":{}}]},
            {"id":"a","name":"","match":{"description":"(unclosed"},"layout":"1x2",
             "viewports":[{"series":{"prior":12}},{"series":{"modality":"ct"},"preset":"liver"},{"series":{}}]}]}"#;
        let problems = parse(body).unwrap_err();
        let all = problems.join("\n");
        for want in [
            "protocols[0].layout",
            "protocols[1].id: a is used twice",
            "protocols[1].name",
            "protocols[1].match.description: not a valid pattern",
            "protocols[1].viewports: 1 to 2",
            "protocols[1].viewports[0].series: prior",
            "protocols[1].viewports[1].series.modality",
            "protocols[1].viewports[1].preset",
        ] {
            assert!(all.contains(want), "{want} missing from:\n{all}");
        }
        assert!(parse(r#"{"protocols":[],"extra":1}"#).is_err());
        let long = format!(
            r#"{{"protocols":[{{"id":"x","name":"x","match":{{"anatomy":"{}"}},"layout":"1x1","viewports":[{{"series":{{}}}}]}}]}}"#,
            "a".repeat(201)
        );
        assert!(parse(&long).unwrap_err()[0].contains("1 to 200 characters"));
        let chinese =
            r#"{"protocols":[{"id":"x","name":"胸部 CT","match":{"anatomy":"胸|chest"},"layout":"1x1","viewports":[{"series":{}}]}]}"#;
        assert!(parse(chinese).is_ok());
        assert!(parse(&" ".repeat(MAX_BODY_BYTES + 1)).is_err());
    }
}
