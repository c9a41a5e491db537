//! QIDO-RS: searches at every path of PS3.18 10.6, answered from the index.

use std::collections::HashMap;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Router};
use dicom_core::dictionary::DataDictionary;
use dicom_dictionary_std::StandardDataDictionary;
use serde_json::{Map, Value as Json, json};
use yunying_index::search::{self, Level, Match, Query};

use crate::AppState;
use crate::auth::Scoped;
use crate::error::ApiError;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/studies", get(studies))
        .route("/series", get(all_series))
        .route("/instances", get(all_instances))
        .route("/studies/{study}/series", get(study_series))
        .route("/studies/{study}/instances", get(study_instances))
        .route("/studies/{study}/series/{series}/instances", get(series_instances))
}

async fn studies(State(s): State<AppState>, w: Within, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    search(&s, w, &headers, Level::Study, &[], q).await
}
async fn all_series(State(s): State<AppState>, w: Within, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    search(&s, w, &headers, Level::Series, &[], q).await
}
async fn all_instances(State(s): State<AppState>, w: Within, headers: HeaderMap, RawQuery(q): RawQuery) -> Result<Response, ApiError> {
    search(&s, w, &headers, Level::Instance, &[], q).await
}
async fn study_series(
    State(s): State<AppState>,
    w: Within,
    headers: HeaderMap,
    Path(study): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    search(&s, w, &headers, Level::Series, &[(STUDY_UID, study)], q).await
}
async fn study_instances(
    State(s): State<AppState>,
    w: Within,
    headers: HeaderMap,
    Path(study): Path<String>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    search(&s, w, &headers, Level::Instance, &[(STUDY_UID, study)], q).await
}
async fn series_instances(
    State(s): State<AppState>,
    w: Within,
    headers: HeaderMap,
    Path((study, series)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Result<Response, ApiError> {
    search(&s, w, &headers, Level::Instance, &[(STUDY_UID, study), (SERIES_UID, series)], q).await
}

/// The request's scope, set by the access check of every DICOMweb route.
type Within = Extension<Scoped>;

const STUDY_UID: u32 = 0x0020_000D;
const SERIES_UID: u32 = 0x0020_000E;
const SOP_UID: u32 = 0x0008_0018;
const MAX_VALUE_LEN: usize = 1024;

/// What `includefield` asked for.
#[derive(Default)]
struct Include {
    all: bool,
    tags: Vec<u32>,
}

async fn search(
    state: &AppState,
    within: Within,
    headers: &HeaderMap,
    level: Level,
    scope: &[(u32, String)],
    raw: Option<String>,
) -> Result<Response, ApiError> {
    let Extension(Scoped { scope: within, principal, client }) = within;
    let asked = AskedBy { principal: &principal, client: &client };
    let mut keys = Vec::new();
    let answer = run_search(state, within, headers, level, scope, raw, &mut keys).await;
    let (result, count) = match &answer {
        Ok((_, count)) => ("ok", Some(*count)),
        Err(_) => ("failed", None),
    };
    record_query(state, &asked, level, &keys, result, count).await;
    answer.map(|(response, _)| response)
}

/// Who asked a search, for its access record.
struct AskedBy<'a> {
    principal: &'a yunying_access::Principal,
    client: &'a str,
}

/// One `query` event: the level, the keys (patient-identifying values
/// withheld), how many matched (never what).
async fn record_query(state: &AppState, asked: &AskedBy<'_>, level: Level, keys: &[(u32, String)], result: &str, count: Option<usize>) {
    let (kept, withheld) = yunying_archive::query_keys::recorded_keys(keys.iter().map(|(t, v)| (*t, v.as_str())));
    let mut e = yunying_audit::Event::new("query", &asked.principal.id, result)
        .institution(asked.principal.institution.as_deref())
        .client(asked.client)
        .fact("face", "qido-rs")
        .fact("level", level_name(level))
        .fact("keys", kept)
        .fact("withheld", withheld);
    if let Some(count) = count {
        e = e.fact("count", count);
    }
    state.access.audit().record_soon(e).await;
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::Patient => "PATIENT",
        Level::Study => "STUDY",
        Level::Series => "SERIES",
        Level::Instance => "IMAGE",
    }
}

/// Run a search; `keys` gets its matching keys (for the record) even when
/// it fails. The response and how many matches it holds.
async fn run_search(
    state: &AppState,
    within: Option<yunying_index::search::Scope>,
    headers: &HeaderMap,
    level: Level,
    scope: &[(u32, String)],
    raw: Option<String>,
    keys: &mut Vec<(u32, String)>,
) -> Result<(Response, usize), ApiError> {
    let max = state.config.max_results;
    let mut query = Query { limit: Some(max), scope: within, ..Query::new(level, scope.to_vec()) };
    let answer = parse_and_search(state, headers, level, scope, raw, max, &mut query).await;
    *keys = std::mem::take(&mut query.keys);
    answer
}

async fn parse_and_search(
    state: &AppState,
    headers: &HeaderMap,
    level: Level,
    scope: &[(u32, String)],
    raw: Option<String>,
    max: u64,
    query: &mut Query,
) -> Result<(Response, usize), ApiError> {
    let mut include = Include::default();
    let mut unsupported: Vec<String> = Vec::new();
    for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        if value.len() > MAX_VALUE_LEN {
            return Err(ApiError::bad_request(format!("value of {name} is longer than {MAX_VALUE_LEN} bytes")));
        }
        match name.as_ref() {
            "limit" => {
                let limit: u64 = value.parse().map_err(|_| ApiError::bad_request(format!("limit must be a number, got {value:?}")))?;
                query.limit = Some(limit.min(max));
            }
            "offset" => {
                query.offset = value.parse().map_err(|_| ApiError::bad_request(format!("offset must be a number, got {value:?}")))?
            }
            "fuzzymatching" => {
                query.fuzzy = match value.as_ref() {
                    "true" => true,
                    "false" => false,
                    other => return Err(ApiError::bad_request(format!("fuzzymatching must be true or false, got {other:?}"))),
                }
            }
            "includefield" => {
                for field in value.split(',').map(str::trim).filter(|f| !f.is_empty()) {
                    if field == "all" {
                        include.all = true;
                    } else {
                        include.tags.push(resolve_tag(field)?);
                    }
                }
            }
            _ => {
                if name.contains('.') {
                    unsupported.push(name.to_string()); // sequence matching
                    continue;
                }
                let tag = resolve_tag(&name)?;
                if search::attribute(tag).is_some_and(|a| a.level <= level) {
                    // A repeated key is a list of values (UID list matching).
                    let scoped = scope.iter().any(|(s, _)| *s == tag);
                    match query.keys.iter_mut().skip(scope.len()).find(|(t, _)| *t == tag) {
                        Some((_, existing)) if !scoped => {
                            existing.push('\\');
                            existing.push_str(&value);
                        }
                        _ => query.keys.push((tag, value.into_owned())),
                    }
                } else {
                    unsupported.push(name.to_string());
                }
            }
        }
    }
    let result = state.archive.index().search(query).await?.map_err(|e| ApiError::bad_request(e.to_string()))?;

    let base = base_url(headers);
    let extra = extra_attributes(state, &result.matches, level, &include).await?;
    let mut out = String::with_capacity(result.matches.len() * 1024);
    out.push('[');
    for (i, m) in result.matches.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let mut obj = match_json(m, level, &base);
        if let Some(extra) = extra.get(&m.instance_pk) {
            for (k, v) in extra {
                obj.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        out.push_str(&Json::Object(obj).to_string());
    }
    out.push(']');

    let mut response = ([(header::CONTENT_TYPE, "application/dicom+json")], out).into_response();
    let mut warnings = Vec::new();
    if result.truncated {
        warnings.push("299 yunying \"The results were limited; request more with offset\"".to_string());
    }
    if !unsupported.is_empty() {
        warnings
            .push(format!("299 yunying \"These attributes are not supported for matching and were ignored: {}\"", unsupported.join(", ")));
    }
    for w in warnings {
        if let Ok(v) = HeaderValue::from_str(&w) {
            response.headers_mut().append(header::WARNING, v);
        }
    }
    Ok((response, result.matches.len()))
}

/// A tag from `GGGGEEEE` or a keyword of the standard dictionary.
fn resolve_tag(name: &str) -> Result<u32, ApiError> {
    if name.len() == 8 && name.bytes().all(|b| b.is_ascii_hexdigit()) {
        return u32::from_str_radix(name, 16).map_err(|_| ApiError::bad_request(format!("bad tag {name:?}")));
    }
    if let Some(a) = search::attribute_by_keyword(name) {
        return Ok(a.tag);
    }
    StandardDataDictionary
        .by_name(name)
        .map(|e| {
            let t = e.tag.inner();
            ((t.group() as u32) << 16) | t.element() as u32
        })
        .ok_or_else(|| ApiError::bad_request(format!("unknown attribute {name:?}")))
}

/// The URL prefix of DICOMweb as the client reached it (the scheme: see
/// `guard::forwarded_proto`, which leaves only a trustworthy
/// `X-Forwarded-Proto`).
pub(crate) fn base_url(headers: &HeaderMap) -> String {
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    let proto = if crate::guard::forwarded_https(headers) { "https" } else { "http" };
    format!("{proto}://{host}/dicom-web")
}

/// One result as DICOM JSON.
fn match_json(m: &Match, level: Level, base: &str) -> Map<String, Json> {
    let mut obj = yunying_archive::metadata::match_json(m);
    obj.insert("00080005".into(), json!({"vr": "CS", "Value": ["ISO_IR 192"]}));
    obj.insert("00080056".into(), json!({"vr": "CS", "Value": ["ONLINE"]}));
    let mut url = format!("{base}/studies/{}", m.text(STUDY_UID));
    if level >= Level::Series {
        url.push_str(&format!("/series/{}", m.text(SERIES_UID)));
    }
    if level == Level::Instance {
        url.push_str(&format!("/instances/{}", m.text(SOP_UID)));
    }
    obj.insert("00081190".into(), json!({"vr": "UR", "Value": [url]}));
    obj
}

/// Attributes the index does not keep, from each match's representative
/// instance metadata: those named in `includefield`, or for `all`, every
/// attribute of the level's modules.
async fn extra_attributes(
    state: &AppState,
    matches: &[Match],
    level: Level,
    include: &Include,
) -> Result<HashMap<i64, Map<String, Json>>, ApiError> {
    let wanted: Vec<u32> = include.tags.iter().copied().filter(|t| search::attribute(*t).is_none()).collect();
    if wanted.is_empty() && !include.all {
        return Ok(HashMap::new());
    }
    let pks: Vec<i64> = matches.iter().map(|m| m.instance_pk).collect();
    let mut out = HashMap::new();
    for chunk in pks.chunks(500) {
        for (pk, deflated) in state.archive.index().metadata_by_pk(chunk).await? {
            let Ok(bytes) = yunying_archive::inflate(&deflated) else { continue };
            let Ok(Json::Object(meta)) = serde_json::from_slice::<Json>(&bytes) else { continue };
            let selected: Map<String, Json> = meta
                .into_iter()
                .filter(|(k, v)| {
                    let Ok(tag) = u32::from_str_radix(k, 16) else { return false };
                    wanted.contains(&tag) || (include.all && belongs_to(tag, level) && v.get("BulkDataURI").is_none())
                })
                .collect();
            out.insert(pk, selected);
        }
    }
    Ok(out)
}

/// Whether an attribute belongs to the modules of a level (for
/// `includefield=all`): patient and study modules for studies, series
/// modules for series, everything for instances.
fn belongs_to(tag: u32, level: Level) -> bool {
    const STUDY: &[u32] = &[
        0x0008_0020,
        0x0008_0030,
        0x0008_0050,
        0x0008_0051,
        0x0008_0080,
        0x0008_0081,
        0x0008_0090,
        0x0008_0096,
        0x0008_1030,
        0x0008_1032,
        0x0008_1048,
        0x0008_1049,
        0x0008_1060,
        0x0008_1062,
        0x0008_1080,
        0x0008_1110,
        0x0020_000D,
        0x0020_0010,
        0x0032_1032,
        0x0032_1033,
        0x0032_1060,
        0x0032_1064,
        0x0040_1012,
    ];
    const SERIES: &[u32] = &[
        0x0008_0021,
        0x0008_0031,
        0x0008_0060,
        0x0008_0070,
        0x0008_1010,
        0x0008_103E,
        0x0008_1050,
        0x0008_1070,
        0x0008_1090,
        0x0008_1111,
        0x0018_0015,
        0x0018_1030,
        0x0018_5100,
        0x0020_000E,
        0x0020_0011,
        0x0020_0052,
        0x0020_0060,
        0x0040_0244,
        0x0040_0245,
        0x0040_0253,
        0x0040_0254,
        0x0040_0260,
        0x0040_0275,
    ];
    match level {
        Level::Patient => tag >> 16 == 0x0010,
        Level::Study => tag >> 16 == 0x0010 || STUDY.contains(&tag),
        Level::Series => SERIES.contains(&tag),
        Level::Instance => true,
    }
}
