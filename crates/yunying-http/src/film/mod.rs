//! Cloud films (云胶片): share links to a patient's studies.
//!
//! Staff or the hospital information system create a film through the
//! management API (`/api/films`, API token). The link is
//! `{public_url}/f#{token}`: the token rides in the fragment, which browsers
//! never send to a server, so it appears in no request line, access log or
//! proxy log. The film page posts it in a request body to open the film and
//! verify the second factor (birth date, last digits of the phone or ID
//! number, or an SMS code); a pass sets a short-lived session cookie whose
//! path is that film's own (`/api/film/{film_id}`), and every film resource
//! checks the session belongs to the film in its path and the study to the
//! film.
//!
//! Secrets (link tokens, session tokens, answers, codes) are stored and
//! compared only as SHA-256 digests; link and session tokens carry 144
//! random bits from the operating system's generator. Every step is an
//! event in the index.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use yunying_archive::is_valid_uid;
use yunying_index::search::{Field, Level, Match, Query};
use yunying_index::{Film, FilmEvent};

use crate::AppState;
use crate::auth::Signed;
use crate::error::ApiError;
use yunying_access::{Action, Principal, Reach};

mod dicomweb;
mod manage;
mod verify;
use manage::*;
use verify::*;
mod download;
mod import;
pub(crate) use import::Imports;
pub(crate) use verify::{Client, Https, client_address};
mod report;
mod sealed;
mod share;

/// Policy for cloud films (`[http.film]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilmConfig {
    /// Lifetime of a patient's own film (the retention period), in days.
    pub patient_days: u64,
    /// Default lifetime of a share to a third party, in hours.
    pub share_hours: u64,
    /// Longest lifetime of a share, in hours.
    pub share_max_hours: u64,
    /// Failed verifications that lock a film.
    pub max_failures: i64,
    /// Failed verifications from one client address, over all films, that
    /// block it for `client_window_minutes`.
    pub client_max_failures: i64,
    pub client_window_minutes: u64,
    /// Lifetime of a verified session, in minutes.
    pub session_minutes: u64,
    /// Lifetime of an SMS code, in minutes; least time between two codes, in seconds.
    pub code_minutes: u64,
    pub code_interval_seconds: u64,
    /// Imports of one film into other archives per hour (an import sends
    /// every original: allowed only when the film allows download).
    pub imports_per_hour: i64,
    /// DICOMweb endpoints films can be imported into by STOW-RS (DICOM
    /// destinations are the AE registry: `yunying ae add`).
    pub stow_destinations: Vec<StowDestination>,
    /// Our AE title on imports by C-STORE: the DICOM service's (`dicom.aet`),
    /// set by the binary.
    #[serde(skip)]
    pub calling_aet: String,
    /// The SM4 key (32 hex digits) that phone numbers for SMS codes are
    /// encrypted with (also `YUNYING_FILM_KEY`; unset, the binary keeps one
    /// in the data directory: several nodes must share one). Never printed.
    #[serde(skip_serializing)]
    pub data_key: Option<String>,
}

/// A hospital's STOW-RS endpoint films can be imported into.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StowDestination {
    /// Name shown to the doctor.
    pub name: String,
    /// The DICOMweb root (`http://pacs.hospital-b.cn/dicom-web`); `/studies` is appended.
    pub url: String,
    #[serde(default)]
    pub institution: String,
    /// Bearer token the endpoint requires. Never logged or printed.
    #[serde(default, skip_serializing)]
    pub token: Option<String>,
}

impl Default for FilmConfig {
    fn default() -> Self {
        FilmConfig {
            patient_days: 15 * 365,
            share_hours: 72,
            share_max_hours: 30 * 24,
            max_failures: 5,
            client_max_failures: 20,
            client_window_minutes: 15,
            session_minutes: 30,
            code_minutes: 5,
            code_interval_seconds: 60,
            imports_per_hour: 3,
            stow_destinations: Vec::new(),
            calling_aet: "YUNYING".into(),
            data_key: None,
        }
    }
}

/// Where SMS verification codes go. The embedded sender writes them to the
/// log (the only secret the log ever holds, by design of the embedded mode).
pub trait SmsSender: Send + Sync {
    fn send(&self, film_id: &str, phone: &str, code: &str) -> Result<(), String>;
}

/// The embedded mode's sender: the code goes to the log.
pub struct LogSender;

impl SmsSender for LogSender {
    fn send(&self, film_id: &str, phone: &str, code: &str) -> Result<(), String> {
        tracing::info!(film = film_id, to = %mask_phone(phone), code, "SMS verification code (embedded sender: written to the log)");
        Ok(())
    }
}

const COOKIE: &str = "yy_film";

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/films", post(create))
        .route("/api/films/{film}", get(show))
        .route("/api/films/{film}/revoke", post(revoke))
        .route("/api/films/{film}/unlock", post(unlock))
        .route("/api/films/{film}/expires", post(shorten))
        .route("/api/films/{film}/events", get(events))
        .route("/api/studies/{study}/film-events", get(study_events))
        .route("/api/film/open", post(open))
        .route("/api/film/code", post(send_code))
        .route("/api/film/verify", post(verify))
        .route("/api/film/{film}/info", get(info))
        .route("/api/film/{film}/dicom-web/{*rest}", any(dicomweb::reads))
        .route("/api/films/{film}/report", put(report::upload).layer(axum::extract::DefaultBodyLimit::max(report::MAX_UPLOAD)))
        .route("/api/film/{film}/report/{which}", get(report::show))
        .route("/api/film/{film}/download", get(download::zip))
        .route("/api/film/{film}/share", post(share::create))
        .route("/api/film/{film}/shares", get(share::list))
        .route("/api/film/{film}/shares/{child}/revoke", post(share::revoke))
        .route("/api/film/{film}/destinations", get(import::destinations))
        .route("/api/film/{film}/import", post(import::start))
        .route("/api/film/{film}/import/{job}", get(import::progress))
        .route("/f", get(page))
}

/// The film page (the built viewer's `film.html`).
async fn page(State(s): State<AppState>) -> Result<Response, ApiError> {
    let mut r = crate::viewer::serve(&s, "film.html").await?;
    // The page holds the link token in its fragment: never let it be framed
    // or leak through a referrer.
    let h = r.headers_mut();
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' blob: data:; style-src 'self' 'unsafe-inline'; frame-src 'self'; \
             object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        ),
    );
    Ok(r)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// `n` bytes from the operating system's generator, URL-safe base64.
fn random_token(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::fill(&mut bytes[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn digest(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update([0x1f]);
        }
        h.update(p.as_bytes());
    }
    hex::encode(h.finalize())
}

fn token_hash(token: &str) -> String {
    digest(&["film-token", token.trim()])
}

fn answer_hash(film_id: &str, answer: &str) -> String {
    digest(&["film-answer", film_id, answer])
}

/// The management API is for principals that may make films.
fn require_films(state: &AppState, who: &Principal) -> Result<(), ApiError> {
    state.access.require(who, Action::Films).map_err(crate::auth::refusal)
}

fn index_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("index: {e}"))
}

fn event(film: &Film, actor: &str, what: &str, client: &str, result: &str, detail: impl Into<String>) -> FilmEvent {
    FilmEvent {
        seq: 0,
        film_id: film.film_id.clone(),
        studies: film.studies.clone(),
        at_ms: now_ms(),
        actor: actor.into(),
        event: what.into(),
        client: client.into(),
        result: result.into(),
        detail: detail.into(),
    }
}

async fn studies_matching(state: &AppState, keys: Vec<(u32, String)>) -> Result<Vec<Match>, ApiError> {
    let query = Query { limit: Some(1000), ..Query::new(Level::Study, keys) };
    match state.archive.index().search(&query).await.map_err(index_error)? {
        Ok(r) => Ok(r.matches),
        Err(e) => Err(ApiError::bad_request(e.to_string())),
    }
}

/// `陈建国` → `陈*国`, `Chen^JianGuo` → `Chen J.`: enough to recognise, not to identify.
pub fn mask_person_name(name: &str) -> String {
    let groups: Vec<&str> = name.split('=').collect();
    if let Some(ideographic) = groups.get(1).filter(|g| !g.trim().is_empty()) {
        let chars: Vec<char> = ideographic.chars().filter(|c| *c != '^' && !c.is_whitespace()).collect();
        return match chars.len() {
            0 => String::new(),
            1 => "*".into(),
            2 => format!("{}*", chars[0]),
            n => format!("{}{}{}", chars[0], "*".repeat(n - 2), chars[n - 1]),
        };
    }
    let mut parts = groups[0].split('^');
    let family = parts.next().unwrap_or("").trim();
    let given = parts.next().unwrap_or("").trim();
    match given.chars().next() {
        Some(initial) => format!("{family} {initial}."),
        None => family.to_string(),
    }
}

/// The phone number SMS codes of a film go to (decrypted).
fn phone_of(s: &AppState, film: &Film) -> Result<String, ApiError> {
    if !sealed::is_sealed(&film.verify_hint) {
        return Ok(film.verify_hint.clone());
    }
    let key =
        s.config.film.data_key.as_deref().ok_or_else(|| ApiError::internal("http.film.data_key is not set: SMS films cannot be read"))?;
    sealed::open(key, &film.film_id, &film.verify_hint).map_err(ApiError::internal)
}

/// The verification hint as shown: the phone number masked.
fn shown_hint(s: &AppState, film: &Film) -> String {
    match phone_of(s, film) {
        Ok(phone) => mask_phone(&phone),
        Err(_) => "***".into(),
    }
}

/// `13812345678` → `138****5678`.
pub fn mask_phone(phone: &str) -> String {
    let n = phone.chars().count();
    if n < 7 {
        return "*".repeat(n);
    }
    let chars: Vec<char> = phone.chars().collect();
    format!("{}{}{}", chars[..3].iter().collect::<String>(), "*".repeat(n - 7), chars[n - 4..].iter().collect::<String>())
}

fn text_of(m: &Match, tag: u32) -> String {
    m.text(tag).to_string()
}

fn integer_of(m: &Match, tag: u32) -> Option<i64> {
    match m.get(tag) {
        Some(Field::Integer(n)) => Some(*n),
        Some(Field::Text(t)) => t.trim().parse().ok(),
        _ => None,
    }
}

/// What the film page shows: masked patient, studies, their image series
/// with thumbnails and instances in order, and reports.
async fn info(
    State(s): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    Path(film_id): Path<String>,
) -> Result<Response, ApiError> {
    let film = session_film(&s, &headers, &film_id).await?;
    let body = film_info(&s, &film).await?;
    s.archive
        .index()
        .record_film_event(&event(&film, viewer_actor(&film), "viewed", &client, "ok", "film page"))
        .await
        .map_err(index_error)?;
    let mut response = Json(body).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    Ok(response)
}

/// Who looks at a film: its patient, or the third party it was shared to.
fn viewer_actor(film: &Film) -> &'static str {
    if film.kind == "share" { "recipient" } else { "patient" }
}

pub(crate) fn is_report_class(sop_class: &str) -> bool {
    sop_class == report::ENCAPSULATED_PDF || sop_class.starts_with("1.2.840.10008.5.1.4.1.1.88.")
}

/// Every instance of a study, in series and instance order.
pub(crate) async fn study_instances(s: &AppState, study: &str) -> Result<Vec<Match>, ApiError> {
    let query = Query { limit: Some(1_000_000), ..Query::new(Level::Instance, vec![(0x0020_000D, study.to_string())]) };
    let mut matches = match s.archive.index().search(&query).await.map_err(index_error)? {
        Ok(r) => r.matches,
        Err(e) => return Err(ApiError::internal(e.to_string())),
    };
    matches.sort_by_key(|m| {
        (
            integer_of(m, 0x0020_0011).unwrap_or(i64::MAX),
            text_of(m, 0x0020_000E),
            integer_of(m, 0x0020_0013).unwrap_or(i64::MAX),
            text_of(m, 0x0008_0018),
        )
    });
    Ok(matches)
}

/// The film page's view of a film.
pub(crate) async fn film_info(s: &AppState, film: &Film) -> Result<serde_json::Value, ApiError> {
    let base = format!("/api/film/{}/dicom-web", film.film_id);
    let mut studies = Vec::new();
    let mut patient = serde_json::Value::Null;
    let mut reports = Vec::new();
    if film.report && !film.report_key.is_empty() {
        reports.push(serde_json::json!({
            "title": "诊断报告 / Report",
            "media_type": film.report_type,
            "url": format!("/api/film/{}/report/uploaded", film.film_id),
        }));
    }
    for uid in &film.studies {
        let Some(study) = studies_matching(s, vec![(0x0020_000D, uid.clone())]).await?.into_iter().next() else { continue };
        if patient.is_null() {
            patient = serde_json::json!({
                "name": mask_person_name(study.text(0x0010_0010)),
                "sex": study.text(0x0010_0040),
            });
        }
        let mut series: Vec<serde_json::Value> = Vec::new();
        for m in study_instances(s, uid).await? {
            let sop_class = text_of(&m, 0x0008_0016);
            let sop = text_of(&m, 0x0008_0018);
            if is_report_class(&sop_class) {
                if film.report {
                    let pdf = sop_class == report::ENCAPSULATED_PDF;
                    let description = text_of(&m, 0x0008_103E);
                    reports.push(serde_json::json!({
                        "title": if description.is_empty() { "报告 / Report".to_string() } else { description },
                        "media_type": if pdf { "application/pdf" } else { "text/plain" },
                        "url": format!("/api/film/{}/report/{sop}", film.film_id),
                        "study": uid,
                    }));
                }
                continue;
            }
            let se = text_of(&m, 0x0020_000E);
            if series.last().is_none_or(|last| last["uid"] != se.as_str()) {
                series.push(serde_json::json!({
                    "uid": se,
                    "number": integer_of(&m, 0x0020_0011),
                    "description": text_of(&m, 0x0008_103E),
                    "modality": text_of(&m, 0x0008_0060),
                    "thumbnail": format!("{base}/studies/{uid}/series/{se}/thumbnail"),
                    "instances": [],
                }));
            }
            let frames = integer_of(&m, 0x0028_0008).unwrap_or(1).max(1);
            let entry = if frames > 1 { serde_json::json!([sop, frames]) } else { serde_json::json!(sop) };
            series.last_mut().expect("pushed above")["instances"].as_array_mut().expect("an array").push(entry);
        }
        studies.push(serde_json::json!({
            "uid": uid,
            "date": study.text(0x0008_0020),
            "description": study.text(0x0008_1030),
            "institution": study.text(0x0008_0080),
            "modalities": study.text(0x0008_0061),
            "series": series,
        }));
    }
    Ok(serde_json::json!({
        "film_id": film.film_id,
        "kind": film.kind,
        "patient": patient,
        "studies": studies,
        "reports": reports,
        "download": film.download,
        "share": film.kind == "patient",
        "recipient": film.recipient,
        "expires_at_ms": film.expires_at_ms,
        "dicomweb": base,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_phones_are_masked() {
        assert_eq!(mask_person_name("Chen^JianGuo=陈^建国"), "陈*国");
        assert_eq!(mask_person_name("Li^Na=李^娜"), "李*");
        assert_eq!(mask_person_name("Chen^JianGuo"), "Chen J.");
        assert_eq!(mask_phone("13812345678"), "138****5678");
        assert_eq!(mask_phone("123"), "***");
    }

    #[test]
    fn tokens_are_random_and_long_enough() {
        let a = random_token(18);
        let b = random_token(18);
        assert_ne!(a, b);
        assert_eq!(a.len(), 24, "144 bits in URL-safe base64");
        assert!(a.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(token_hash(&a), a);
    }

    #[test]
    fn answers_normalise_before_hashing() {
        assert_eq!(normalise_answer("birth_date", "1975-03-02"), "19750302");
        assert_eq!(normalise_answer("id_suffix", "11010519491231002x"), "002X");
        assert_eq!(normalise_answer("phone_suffix", "138 1234 5678"), "5678");
        assert_eq!(normalise_answer("phone_suffix", "12"), "");
    }

    #[test]
    fn client_address_behind_trusted_proxies() {
        let proxy: std::net::IpAddr = "10.0.0.5".parse().unwrap();
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", HeaderValue::from_static("198.51.100.9, 203.0.113.7"));
        headers.append("x-forwarded-for", HeaderValue::from_static("10.0.0.5"));
        assert_eq!(client_address(Some(proxy), &headers, &[proxy]), "203.0.113.7", "the last hop the trusted proxies did not add");
        assert_eq!(client_address(Some(proxy), &headers, &[]), "10.0.0.5", "no trusted proxies: the peer");
        let other: std::net::IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(client_address(Some(other), &headers, &[proxy]), "192.0.2.1", "a header from an untrusted peer is ignored");
    }

    #[test]
    fn forwarded_hops_with_ports_are_parsed_not_skipped() {
        let proxy: std::net::IpAddr = "10.0.0.5".parse().unwrap();
        let forwarded = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.append("x-forwarded-for", HeaderValue::from_static(value));
            client_address(Some(proxy), &headers, &[proxy])
        };
        // The attack: a spoofed entry left of a hop the proxy wrote with a port.
        assert_eq!(forwarded("198.51.100.9, 203.0.113.7:51234"), "203.0.113.7");
        assert_eq!(forwarded("198.51.100.9, [2001:db8::7]:443"), "2001:db8::7");
        assert_eq!(forwarded("198.51.100.9, [2001:db8::8]"), "2001:db8::8");
        assert_eq!(forwarded("198.51.100.9, 2001:db8::9"), "2001:db8::9");
        assert_eq!(forwarded("198.51.100.9, 10.0.0.5:80, 203.0.113.8:1"), "203.0.113.8");
        // A hop that is no address stops the walk: never the entry left of it.
        assert_eq!(forwarded("198.51.100.9, unknown"), "unknown");
        assert_eq!(forwarded("198.51.100.9, _hidden"), "_hidden");
    }

    #[test]
    fn qr_code_is_a_png() {
        let (svg, png_bytes) = qr("http://127.0.0.1:8042/f#abcdefghijklmnopqrstuvwx").unwrap();
        assert!(svg.contains("<svg"));
        assert_eq!(&png_bytes[..8], b"\x89PNG\r\n\x1a\n");
    }
}
