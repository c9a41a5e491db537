//! C-FIND: from a request identifier to response identifiers.
//!
//! Matching runs on the index's search engine (the same one as QIDO-RS).
//! Keys the index keeps are matched in SQL; sequence keys are matched
//! against the stored metadata of each match's representative instance;
//! other keys are return keys only (universal matching, PS3.4 C.2.2.1.3
//! allows it for optional keys). Return keys the index does not keep come
//! from that same metadata.

use std::collections::HashMap;

use serde_json::{Map, Value as Json, json};
use yunying_archive::Archive;
use yunying_index::search::{self, Level, Match, Query, Scope};

use crate::DimseConfig;
use crate::association::FindOptions;

pub const QUERY_RETRIEVE_LEVEL: &str = "00080052";
const SPECIFIC_CHARACTER_SET: &str = "00080005";
const RETRIEVE_AE_TITLE: &str = "00080054";
const INSTANCE_AVAILABILITY: &str = "00080056";
const PATIENT_COUNTS: [(&str, usize); 3] = [("00201200", 0), ("00201202", 1), ("00201204", 2)];

/// A refused request: DIMSE status and error comment.
#[derive(Debug, Clone)]
pub struct Failure {
    pub status: u16,
    pub comment: String,
}

impl Failure {
    pub fn new(status: u16, comment: impl Into<String>) -> Failure {
        Failure { status, comment: comment.into() }
    }
}

/// Identifier does not match SOP Class.
pub const IDENTIFIER_MISMATCH: u16 = 0xA900;
/// Unable to process.
pub const UNABLE_TO_PROCESS: u16 = 0xC000;

/// The query/retrieve level of an identifier.
pub fn level(identifier: &Map<String, Json>, patient_root: bool) -> Result<Level, Failure> {
    let value = first_text(identifier, QUERY_RETRIEVE_LEVEL).unwrap_or_default();
    let level = match value.trim().to_ascii_uppercase().as_str() {
        "PATIENT" => Level::Patient,
        "STUDY" => Level::Study,
        "SERIES" => Level::Series,
        "IMAGE" => Level::Instance,
        "" => return Err(Failure::new(IDENTIFIER_MISMATCH, "the identifier has no Query/Retrieve Level (0008,0052)")),
        other => return Err(Failure::new(IDENTIFIER_MISMATCH, format!("unknown Query/Retrieve Level {other:?}"))),
    };
    if level == Level::Patient && !patient_root {
        return Err(Failure::new(IDENTIFIER_MISMATCH, "the Study Root model has no PATIENT level"));
    }
    Ok(level)
}

pub fn level_name(level: Level) -> &'static str {
    match level {
        Level::Patient => "PATIENT",
        Level::Study => "STUDY",
        Level::Series => "SERIES",
        Level::Instance => "IMAGE",
    }
}

/// The responses to a C-FIND.
pub struct Found {
    pub responses: Vec<Map<String, Json>>,
    /// More entities matched than the configured cap.
    pub capped: bool,
}

/// Run a C-FIND.
pub async fn find(
    archive: &Archive,
    config: &DimseConfig,
    patient_root: bool,
    identifier: &Map<String, Json>,
    options: FindOptions,
    scope: Option<Scope>,
) -> Result<Found, Failure> {
    let level = level(identifier, patient_root)?;
    let mut keys: Vec<(u32, String)> = Vec::new();
    let mut sequences: Vec<(String, Map<String, Json>)> = Vec::new();
    let mut names: Vec<(u32, String)> = Vec::new();
    for (key, element) in identifier {
        let Ok(tag) = u32::from_str_radix(key, 16) else { continue };
        if key == SPECIFIC_CHARACTER_SET || key == QUERY_RETRIEVE_LEVEL || tag >> 16 == 0 {
            continue;
        }
        if element.get("vr").and_then(Json::as_str) == Some("SQ") {
            let item = element.get("Value").and_then(|v| v.get(0)).and_then(Json::as_object).cloned().unwrap_or_default();
            sequences.push((key.clone(), item));
            continue;
        }
        let value = query_value(element);
        if value.is_empty() {
            continue;
        }
        if let Some(a) = search::attribute(tag).filter(|a| a.level <= level) {
            if a.vr == "PN" && !config.case_insensitive_names {
                names.push((tag, value.clone()));
            }
            keys.push((tag, value));
        }
    }
    if options.combined_datetime {
        keys = combine_datetime(keys);
    }
    let cap = config.max_find_results;
    let query = Query { fuzzy: options.fuzzy_names, limit: Some(cap as u64), scope, ..Query::new(level, keys) };
    let result = archive
        .index()
        .search(&query)
        .await
        .map_err(|e| Failure::new(UNABLE_TO_PROCESS, format!("index: {e}")))?
        .map_err(|e| Failure::new(IDENTIFIER_MISMATCH, e.to_string()))?;

    let needs_metadata = !sequences.is_empty()
        || identifier
            .keys()
            .any(|k| u32::from_str_radix(k, 16).is_ok_and(|t| search::attribute(t).is_none() && !is_computed(k) && t >> 16 != 0));
    let metadata = if needs_metadata { metadata_of(archive, &result.matches).await? } else { HashMap::new() };

    let mut responses = Vec::with_capacity(result.matches.len());
    for m in &result.matches {
        if !names.iter().all(|(tag, pattern)| matches_case_sensitive(m.text(*tag), pattern)) {
            continue;
        }
        let meta = metadata.get(&m.instance_pk);
        let mut returned_sequences = Map::new();
        let mut sequences_match = true;
        for (key, item) in &sequences {
            match match_sequence(meta.and_then(|m| m.get(key)), item) {
                Some(element) => {
                    returned_sequences.insert(key.clone(), element);
                }
                None => sequences_match = false,
            }
        }
        if !sequences_match {
            continue;
        }
        let mut response = response_for(archive, config, m, level, identifier, meta).await?;
        response.extend(returned_sequences);
        responses.push(response);
    }
    Ok(Found { responses, capped: result.truncated })
}

/// Whether a return key is computed here rather than read from the index or metadata.
fn is_computed(key: &str) -> bool {
    key == RETRIEVE_AE_TITLE || key == INSTANCE_AVAILABILITY || PATIENT_COUNTS.iter().any(|(k, _)| *k == key)
}

/// One response identifier: every requested key, with its value or empty.
async fn response_for(
    archive: &Archive,
    config: &DimseConfig,
    m: &Match,
    level: Level,
    identifier: &Map<String, Json>,
    meta: Option<&Map<String, Json>>,
) -> Result<Map<String, Json>, Failure> {
    let indexed = yunying_archive::metadata::match_json(m);
    let mut out = Map::new();
    out.insert(QUERY_RETRIEVE_LEVEL.into(), json!({"vr": "CS", "Value": [level_name(level)]}));
    // The unique key of the level (and, in any case, of the levels above
    // that the caller asked for) is always returned.
    let unique = match level {
        Level::Patient => "00100020",
        Level::Study => "0020000D",
        Level::Series => "0020000E",
        Level::Instance => "00080018",
    };
    if let Some(v) = indexed.get(unique) {
        out.insert(unique.into(), v.clone());
    }
    let mut patient_counts: Option<(i64, i64, i64)> = None;
    for (key, element) in identifier {
        let Ok(tag) = u32::from_str_radix(key, 16) else { continue };
        if key == SPECIFIC_CHARACTER_SET || key == QUERY_RETRIEVE_LEVEL || tag >> 16 == 0 {
            continue;
        }
        let vr = element.get("vr").and_then(Json::as_str).unwrap_or("UN").to_string();
        if vr == "SQ" {
            continue; // answered by sequence matching
        }
        let value = if let Some(a) = search::attribute(tag) {
            if a.level <= level { indexed.get(key).cloned() } else { None }
        } else if key == RETRIEVE_AE_TITLE {
            Some(json!({"vr": "AE", "Value": [config.aet]}))
        } else if key == INSTANCE_AVAILABILITY {
            Some(json!({"vr": "CS", "Value": ["ONLINE"]}))
        } else if let Some((_, i)) = PATIENT_COUNTS.iter().find(|(k, _)| k == key) {
            if patient_counts.is_none() {
                let issuer = m.text(0x0010_0021);
                let id = m.text(0x0010_0020);
                patient_counts = Some(
                    archive.index().patient_counts(issuer, id).await.map_err(|e| Failure::new(UNABLE_TO_PROCESS, format!("index: {e}")))?,
                );
            }
            let c = patient_counts.unwrap_or_default();
            let n = [c.0, c.1, c.2][*i];
            Some(json!({"vr": "IS", "Value": [n]}))
        } else {
            meta.and_then(|m| m.get(key)).filter(|v| v.get("BulkDataURI").is_none()).cloned()
        };
        out.insert(key.clone(), value.unwrap_or_else(|| json!({ "vr": vr })));
    }
    if crate::dataset::has_non_ascii(&out) {
        out.insert(SPECIFIC_CHARACTER_SET.into(), json!({"vr": "CS", "Value": ["ISO_IR 192"]}));
    }
    Ok(out)
}

/// Stored metadata of each match's representative instance.
async fn metadata_of(archive: &Archive, matches: &[Match]) -> Result<HashMap<i64, Map<String, Json>>, Failure> {
    let pks: Vec<i64> = matches.iter().map(|m| m.instance_pk).collect();
    let mut out = HashMap::new();
    for chunk in pks.chunks(500) {
        let rows = archive.index().metadata_by_pk(chunk).await.map_err(|e| Failure::new(UNABLE_TO_PROCESS, format!("index: {e}")))?;
        for (pk, deflated) in rows {
            let Ok(bytes) = yunying_archive::inflate(&deflated) else { continue };
            if let Ok(Json::Object(meta)) = serde_json::from_slice::<Json>(&bytes) {
                out.insert(pk, meta);
            }
        }
    }
    Ok(out)
}

/// A key's value as a DICOM query string: values joined by `\`, person
/// names as their component groups joined by `=`.
pub fn query_value(element: &Json) -> String {
    let Some(values) = element.get("Value").and_then(Json::as_array) else { return String::new() };
    let parts: Vec<String> = values
        .iter()
        .map(|v| match v {
            Json::String(s) => s.clone(),
            Json::Number(n) => n.to_string(),
            Json::Object(groups) => crate::dataset::person_name(groups),
            _ => String::new(),
        })
        .collect();
    parts.join("\\")
}

/// The first value of a text element.
pub fn first_text(json: &Map<String, Json>, key: &str) -> Option<String> {
    json.get(key)?.get("Value")?.get(0)?.as_str().map(str::to_string)
}

/// Combined date-time matching (PS3.4 C.2.2.2.5): a date range and a time
/// range on the same entity form one date-time range. The engine takes it
/// as the date key carrying `date time` bounds.
fn combine_datetime(keys: Vec<(u32, String)>) -> Vec<(u32, String)> {
    const PAIRS: [(u32, u32); 3] = [(0x0008_0020, 0x0008_0030), (0x0008_0021, 0x0008_0031), (0x0008_0023, 0x0008_0033)];
    let mut keys = keys;
    for (date_tag, time_tag) in PAIRS {
        let date = keys.iter().find(|(t, _)| *t == date_tag).map(|(_, v)| v.clone());
        let time = keys.iter().find(|(t, _)| *t == time_tag).map(|(_, v)| v.clone());
        let (Some(date), Some(time)) = (date, time) else { continue };
        let (Some((dl, dh)), Some((tl, th))) = (date.split_once('-'), time.split_once('-')) else { continue };
        let pad = |t: &str, with: char| {
            let t = t.replace(':', "");
            let (whole, fraction) = t.split_once('.').map_or((t.as_str(), ""), |(w, f)| (w, f));
            let mut whole = whole.to_string();
            while whole.len() < 6 {
                whole.push(with);
            }
            if fraction.is_empty() { whole } else { format!("{whole}.{fraction}") }
        };
        let lo = if dl.is_empty() { String::new() } else { format!("{dl}{}", pad(tl, '0')) };
        let hi = if dh.is_empty() {
            String::new()
        } else {
            format!("{dh}{}", if th.is_empty() { "235959.999999".into() } else { pad(th, '9') })
        };
        keys.retain(|(t, _)| *t != date_tag && *t != time_tag);
        keys.push((date_tag | search::COMBINED_DATETIME, format!("{lo}-{hi}")));
    }
    keys
}

/// Case-sensitive person-name matching (when configured): the pattern
/// against each component group, as written.
fn matches_case_sensitive(name: &str, pattern: &str) -> bool {
    let groups: Vec<&str> = name.splitn(3, '=').collect();
    let wanted: Vec<&str> = pattern.splitn(3, '=').collect();
    if wanted.len() == 1 {
        return groups.iter().any(|g| wildcard(g.trim_end_matches('^'), wanted[0].trim_end_matches('^')));
    }
    wanted.iter().enumerate().all(|(i, w)| {
        w.is_empty() || *w == "*" || groups.get(i).is_some_and(|g| wildcard(g.trim_end_matches('^'), w.trim_end_matches('^')))
    })
}

/// DICOM wildcard matching (`*` any run, `?` one character).
pub fn wildcard(value: &str, pattern: &str) -> bool {
    let (v, p): (Vec<char>, Vec<char>) = (value.chars().collect(), pattern.chars().collect());
    let (mut vi, mut pi, mut star, mut mark) = (0, 0, None, 0);
    while vi < v.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            vi += 1;
            pi += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = vi;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            vi = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// Sequence matching (PS3.4 C.2.2.2.6) against an entity's sequence:
/// `Some(returned element)` when it matches. An item with no non-empty
/// keys matches anything (universal); otherwise some item of the entity
/// must match every non-empty key. Returned items carry the requested keys.
fn match_sequence(stored: Option<&Json>, query_item: &Map<String, Json>) -> Option<Json> {
    let items: Vec<&Map<String, Json>> = stored
        .and_then(|s| s.get("Value"))
        .and_then(Json::as_array)
        .map(|a| a.iter().filter_map(Json::as_object).collect())
        .unwrap_or_default();
    let conditions: Vec<(&String, String)> = query_item.iter().map(|(k, v)| (k, query_value(v))).filter(|(_, v)| !v.is_empty()).collect();
    let matching: Vec<&Map<String, Json>> = items
        .into_iter()
        .filter(|item| {
            conditions.iter().all(|(k, pattern)| {
                let value = item.get(*k).map(query_value).unwrap_or_default();
                pattern.split('\\').any(|p| if p.contains(['*', '?']) { wildcard(&value, p) } else { value == p })
            })
        })
        .collect();
    if !conditions.is_empty() && matching.is_empty() {
        return None;
    }
    let returned: Vec<Json> = matching
        .into_iter()
        .map(|item| {
            if query_item.is_empty() {
                return Json::Object(item.clone());
            }
            let mut out = Map::new();
            for (k, v) in query_item {
                let vr = v.get("vr").cloned().unwrap_or(json!("UN"));
                out.insert(k.clone(), item.get(k).cloned().unwrap_or_else(|| json!({ "vr": vr })));
            }
            Json::Object(out)
        })
        .collect();
    Some(if returned.is_empty() { json!({"vr": "SQ"}) } else { json!({"vr": "SQ", "Value": returned}) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard("Wang^Wei", "Wang*"));
        assert!(wildcard("Wang^Wei", "W?ng^W*"));
        assert!(!wildcard("Wang^Wei", "wang*"));
        assert!(wildcard("王^伟", "王*"));
        assert!(wildcard("", "*"));
        assert!(!wildcard("abc", "ab"));
    }

    #[test]
    fn case_sensitive_names_match_each_group() {
        assert!(matches_case_sensitive("Wang^Wei=王^伟", "Wang*"));
        assert!(matches_case_sensitive("Wang^Wei=王^伟", "王*"));
        assert!(!matches_case_sensitive("Wang^Wei=王^伟", "WANG*"));
        assert!(matches_case_sensitive("Wang^Wei=王^伟", "=王^伟"));
    }

    #[test]
    fn combined_datetime_becomes_one_range() {
        let keys = combine_datetime(vec![(0x0008_0020, "20240101-20240102".into()), (0x0008_0030, "120000-".into())]);
        assert_eq!(keys, vec![(0x0008_0020 | search::COMBINED_DATETIME, "20240101120000-20240102235959.999999".into())]);
    }

    #[test]
    fn sequence_matching() {
        let stored = json!({"vr": "SQ", "Value": [
            {"00081150": {"vr": "UI", "Value": ["1.2"]}, "00081155": {"vr": "UI", "Value": ["1.2.3"]}},
            {"00081150": {"vr": "UI", "Value": ["1.2"]}, "00081155": {"vr": "UI", "Value": ["1.2.4"]}},
        ]});
        let q = json!({"00081155": {"vr": "UI", "Value": ["1.2.4"]}});
        let got = match_sequence(Some(&stored), q.as_object().unwrap()).unwrap();
        assert_eq!(got["Value"].as_array().unwrap().len(), 1);
        assert_eq!(got["Value"][0]["00081155"]["Value"][0], "1.2.4");
        assert!(got["Value"][0].get("00081150").is_none());
        let q = json!({"00081155": {"vr": "UI", "Value": ["9.9"]}});
        assert!(match_sequence(Some(&stored), q.as_object().unwrap()).is_none());
        assert!(match_sequence(None, &Map::new()).is_some());
    }
}
