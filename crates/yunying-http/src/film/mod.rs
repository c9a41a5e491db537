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

use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use axum::{Json, Router};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use yunying_index::search::{Field, Level, Match, Query};
use yunying_index::{Film, FilmEvent, Verified};

use crate::AppState;
use crate::error::ApiError;

mod dicomweb;
mod download;
mod import;
pub(crate) use import::Imports;
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

/// The client's address: the connection's peer, or, when that is a trusted
/// proxy, the last address in `X-Forwarded-For` that is not one.
pub(crate) struct Client(pub String);

impl axum::extract::FromRequestParts<AppState> for Client {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        Ok(Client(client_address(peer, &parts.headers, &state.config.trusted_proxies)))
    }
}

fn client_address(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> String {
    let Some(peer) = peer else { return "unknown".into() };
    if !trusted.contains(&peer) {
        return peer.to_string();
    }
    // Walk X-Forwarded-For from the right (the hops our proxies appended)
    // to the first address no trusted proxy wrote. An entry that is not an
    // address stops the walk: what lies left of it came from the client
    // and proves nothing.
    let hops: Vec<&str> = headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).collect();
    let mut client = peer.to_string();
    for hop in hops.iter().rev().map(|h| h.trim()) {
        match forwarded_address(hop) {
            Some(ip) if trusted.contains(&ip) => client = ip.to_string(),
            Some(ip) => return ip.to_string(),
            None => return hop.chars().take(64).collect(),
        }
    }
    client
}

/// An address as proxies write it in X-Forwarded-For: `ip`, `ip:port`,
/// `[v6]` or `[v6]:port`.
fn forwarded_address(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Ok(socket) = hop.parse::<SocketAddr>() {
        return Some(socket.ip());
    }
    hop.strip_prefix('[').and_then(|h| h.strip_suffix(']')).and_then(|h| h.parse().ok())
}

/// Whether a request reached us over HTTPS: `http.public_url` is https,
/// the request itself came over TLS, or a trusted proxy says the client
/// used https (`X-Forwarded-Proto`). Session cookies are `Secure` then.
pub(crate) struct Https(pub bool);

impl axum::extract::FromRequestParts<AppState> for Https {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut axum::http::request::Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let configured = state.config.public_url.as_deref().is_some_and(|u| u.starts_with("https:"));
        let direct = parts.uri.scheme() == Some(&axum::http::uri::Scheme::HTTPS);
        let peer = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
        let proxied = peer.is_some_and(|p| state.config.trusted_proxies.contains(&p))
            && parts
                .headers
                .get_all("x-forwarded-proto")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .next_back()
                .is_some_and(|p| p.trim().eq_ignore_ascii_case("https"));
        Ok(Https(configured || direct || proxied))
    }
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

/// The management API requires `http.api_token` as a bearer token.
fn require_api_token(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = state.config.api_token.as_deref().filter(|t| !t.is_empty()) else {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "the film API is disabled: set http.api_token (or YUNYING_API_TOKEN)"));
    };
    if crate::bearer_matches(headers, expected) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::UNAUTHORIZED, "missing or invalid API token"))
    }
}

fn index_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(format!("index: {e}"))
}

/// A UID as PS3.5 9.1 writes them: digit components joined by dots (so
/// never `..`, an empty component or anything path-like), 64 characters
/// at most.
fn valid_uid(uid: &str) -> bool {
    uid.len() <= 64 && uid.split('.').all(|c| !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateFilm {
    study: String,
    #[serde(default)]
    include_priors: bool,
    /// `patient` (default) or `share`.
    #[serde(default)]
    kind: Option<String>,
    expires_hours: Option<u64>,
    /// `birth_date` (default), `phone_suffix`, `id_suffix` or `sms`.
    verify: Option<String>,
    /// Phone number or ID number for the suffix methods (only the last four
    /// characters are kept, as a digest), the phone number for `sms`.
    verify_value: Option<String>,
    max_views: Option<i64>,
    download: Option<bool>,
    #[serde(default)]
    created_by: String,
    #[serde(default)]
    recipient: String,
    #[serde(default)]
    purpose: String,
    /// Show the study's reports (PDF and SR documents, and one uploaded
    /// with `PUT /api/films/{id}/report`). Default true.
    report: Option<bool>,
}

#[derive(Serialize)]
struct Created {
    film: Film,
    /// The link to give the patient: shown once, never stored.
    url: String,
    qr_svg: String,
    qr_png_base64: String,
}

fn digits_suffix(value: &str) -> Option<String> {
    let kept: String = value.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
    (kept.len() >= 4).then(|| kept[kept.len() - 4..].to_string())
}

fn normalise_date(value: &str) -> String {
    value.chars().filter(char::is_ascii_digit).collect()
}

async fn create(
    State(s): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    Json(req): Json<CreateFilm>,
) -> Result<Response, ApiError> {
    require_api_token(&s, &headers)?;
    if !valid_uid(&req.study) {
        return Err(ApiError::bad_request("study must be a Study Instance UID"));
    }
    let found = studies_matching(&s, vec![(0x0020_000D, req.study.clone())]).await?;
    let Some(study) = found.first() else {
        return Err(ApiError::not_found(format!("no study {}", req.study)));
    };
    let issuer = study.text(0x0010_0021).to_string();
    let patient_id = study.text(0x0010_0020).to_string();
    let mut studies = vec![req.study.clone()];
    if req.include_priors {
        // The same patient means the same issuer and the same Patient ID,
        // compared exactly; a study without a Patient ID has no priors.
        for uid in s.archive.index().studies_of_patient(&issuer, &patient_id).await.map_err(index_error)? {
            if !studies.contains(&uid) {
                studies.push(uid);
            }
        }
    }
    let kind = req.kind.as_deref().unwrap_or("patient");
    let policy = &s.config.film;
    let now = now_ms();
    let hour = 3_600_000i64;
    let lifetime_hours = match kind {
        "patient" => {
            let max = policy.patient_days * 24;
            let h = req.expires_hours.unwrap_or(max);
            if h > max {
                return Err(ApiError::bad_request(format!("a patient's film lives at most {} days", policy.patient_days)));
            }
            h
        }
        "share" => {
            let h = req.expires_hours.unwrap_or(policy.share_hours);
            if h > policy.share_max_hours {
                return Err(ApiError::bad_request(format!("a share lives at most {} hours", policy.share_max_hours)));
            }
            h
        }
        other => return Err(ApiError::bad_request(format!("kind must be patient or share, not {other:?}"))),
    };
    if lifetime_hours == 0 {
        return Err(ApiError::bad_request("expires_hours must be at least 1"));
    }
    if req.max_views.is_some_and(|v| v < 1) {
        return Err(ApiError::bad_request("max_views must be at least 1"));
    }
    let film_id = format!("F{}", random_token(12));
    let method = req.verify.as_deref().unwrap_or("birth_date").to_string();
    let (verify_hash, verify_hint) = match method.as_str() {
        "birth_date" => {
            let birth = normalise_date(study.text(0x0010_0030));
            if birth.len() != 8 {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "the patient has no birth date on record: choose another verification method",
                ));
            }
            (answer_hash(&film_id, &birth), String::new())
        }
        "phone_suffix" | "id_suffix" => {
            let suffix = req
                .verify_value
                .as_deref()
                .and_then(digits_suffix)
                .ok_or_else(|| ApiError::bad_request(format!("{method} needs verify_value (the phone or ID number)")))?;
            (answer_hash(&film_id, &suffix), String::new())
        }
        "sms" => {
            let phone: String = req.verify_value.as_deref().unwrap_or("").chars().filter(|c| c.is_ascii_digit() || *c == '+').collect();
            if phone.len() < 7 {
                return Err(ApiError::bad_request("sms needs verify_value (the phone number codes go to)"));
            }
            // Nothing to compare against until a code is sent; the number
            // itself only encrypted.
            let key = s.config.film.data_key.as_deref().ok_or_else(|| {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "SMS verification needs http.film.data_key (YUNYING_FILM_KEY)")
            })?;
            (String::new(), sealed::seal(key, &film_id, &phone).map_err(ApiError::internal)?)
        }
        other => return Err(ApiError::bad_request(format!("unknown verification method {other:?}"))),
    };
    let token = random_token(18);
    let film = Film {
        film_id,
        token_hash: token_hash(&token),
        parent_film_id: String::new(),
        kind: kind.into(),
        studies,
        issuer,
        patient_id,
        created_by: req.created_by,
        recipient: req.recipient,
        purpose: req.purpose,
        created_at_ms: now,
        expires_at_ms: now + lifetime_hours as i64 * hour,
        revoked_at_ms: None,
        max_views: req.max_views,
        views: 0,
        download: req.download.unwrap_or(true),
        verify_method: method,
        verify_hash,
        verify_hint,
        code_expires_ms: None,
        code_sent_ms: None,
        failed_attempts: 0,
        locked_at_ms: None,
        report: req.report.unwrap_or(true),
        report_key: String::new(),
        report_type: String::new(),
    };
    let actor = if film.created_by.is_empty() { "api".to_string() } else { format!("staff:{}", film.created_by) };
    let created = event(&film, &actor, "created", &client, "ok", format!("{} film, {} studies", film.kind, film.studies.len()));
    s.archive.index().create_film(&film, &created).await.map_err(index_error)?;
    let url = format!("{}/f#{token}", public_base(&s, &headers));
    let (qr_svg, qr_png) = qr(&url)?;
    let mut shown = film;
    shown.verify_hint = shown_hint(&s, &shown);
    let body = Created { film: shown, url, qr_svg, qr_png_base64: base64::engine::general_purpose::STANDARD.encode(qr_png) };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `http.public_url`, or the scheme and host the request came to.
fn public_base(s: &AppState, headers: &HeaderMap) -> String {
    if let Some(url) = s.config.public_url.as_deref().filter(|u| !u.is_empty()) {
        return url.trim_end_matches('/').to_string();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("http://{host}")
}

/// The link as a QR code: SVG text and PNG bytes (4 px modules, quiet zone of 4).
fn qr(url: &str) -> Result<(String, Vec<u8>), ApiError> {
    let code = qrcode::QrCode::with_error_correction_level(url.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| ApiError::internal(format!("QR code: {e}")))?;
    let svg = code.render::<qrcode::render::svg::Color>().min_dimensions(256, 256).build();
    let width = code.width();
    let colors = code.to_colors();
    let (scale, quiet) = (4usize, 4usize);
    let side = (width + 2 * quiet) * scale;
    let mut pixels = vec![255u8; side * side];
    for (i, c) in colors.iter().enumerate() {
        if *c == qrcode::Color::Dark {
            let (x, y) = (i % width + quiet, i / width + quiet);
            for dy in 0..scale {
                let row = (y * scale + dy) * side;
                pixels[row + x * scale..row + x * scale + scale].fill(0);
            }
        }
    }
    let mut png_bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut png_bytes, side as u32, side as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().map_err(|e| ApiError::internal(format!("QR PNG: {e}")))?;
        writer.write_image_data(&pixels).map_err(|e| ApiError::internal(format!("QR PNG: {e}")))?;
    }
    Ok((svg, png_bytes))
}

async fn film_or_404(s: &AppState, film_id: &str) -> Result<Film, ApiError> {
    s.archive.index().film(film_id).await.map_err(index_error)?.ok_or_else(|| ApiError::not_found(format!("no film {film_id}")))
}

/// A film for the management API: its token checked first.
async fn staff_film(s: &AppState, headers: &HeaderMap, film_id: &str) -> Result<Film, ApiError> {
    require_api_token(s, headers)?;
    film_or_404(s, film_id).await
}

async fn show(State(s): State<AppState>, headers: HeaderMap, Path(film_id): Path<String>) -> Result<Response, ApiError> {
    let mut film = staff_film(&s, &headers, &film_id).await?;
    film.verify_hint = shown_hint(&s, &film);
    Ok(Json(film).into_response())
}

async fn revoke(
    State(s): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    Path(film_id): Path<String>,
) -> Result<Response, ApiError> {
    let film = staff_film(&s, &headers, &film_id).await?;
    let e = event(&film, "api", "revoked", &client, "ok", "");
    let revoked = s.archive.index().revoke_film(&film_id, now_ms(), &e).await.map_err(index_error)?;
    Ok(Json(serde_json::json!({ "revoked": revoked })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Shorten {
    expires_at_ms: i64,
}

/// `POST /api/films/{id}/expires`: end a film (and its shares) earlier; a
/// time in the past ends it now. A film's life is never lengthened.
async fn shorten(
    State(s): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    Path(film_id): Path<String>,
    Json(req): Json<Shorten>,
) -> Result<Response, ApiError> {
    let film = staff_film(&s, &headers, &film_id).await?;
    let at = req.expires_at_ms.max(0);
    if at > film.expires_at_ms {
        return Err(ApiError::bad_request("a film's life can be shortened, not lengthened: make a new film"));
    }
    let e = event(&film, "api", "expiry-shortened", &client, "ok", format!("expires at {at}"));
    s.archive.index().shorten_film(&film.film_id, at, &e).await.map_err(index_error)?;
    let mut film = film_or_404(&s, &film_id).await?;
    film.verify_hint = shown_hint(&s, &film);
    Ok(Json(film).into_response())
}

async fn unlock(
    State(s): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    Path(film_id): Path<String>,
) -> Result<Response, ApiError> {
    let film = staff_film(&s, &headers, &film_id).await?;
    let e = event(&film, "api", "unlocked", &client, "ok", "");
    s.archive.index().unlock_film(&film_id, &e).await.map_err(index_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn events(State(s): State<AppState>, headers: HeaderMap, Path(film_id): Path<String>) -> Result<Response, ApiError> {
    staff_film(&s, &headers, &film_id).await?;
    Ok(Json(s.archive.index().film_events(&film_id).await.map_err(index_error)?).into_response())
}

async fn study_events(State(s): State<AppState>, headers: HeaderMap, Path(study): Path<String>) -> Result<Response, ApiError> {
    require_api_token(&s, &headers)?;
    if !valid_uid(&study) {
        return Err(ApiError::bad_request("not a Study Instance UID"));
    }
    Ok(Json(s.archive.index().film_events_of_study(&study).await.map_err(index_error)?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenBody {
    token: String,
    #[serde(default)]
    answer: Option<String>,
}

/// Why a film cannot be opened now, as the page shows it.
fn closed(film: &Film, now: i64) -> Option<ApiError> {
    if film.revoked_at_ms.is_some() {
        return Some(ApiError::new(StatusCode::GONE, "this link has been withdrawn / 此链接已被撤销"));
    }
    if film.expires_at_ms <= now {
        return Some(ApiError::new(StatusCode::GONE, "this link has expired / 此链接已过期"));
    }
    None
}

/// Why a film cannot be opened or verified now: closed, or locked.
fn refusal(film: &Film, now: i64) -> Option<ApiError> {
    closed(film, now).or_else(|| film.locked_at_ms.map(|_| locked_error()))
}

fn locked_error() -> ApiError {
    ApiError::new(
        StatusCode::LOCKED,
        "too many wrong answers: this film is locked; ask the hospital to unlock it / 验证失败次数过多，胶片已锁定，请联系医院解锁",
    )
}

async fn film_of_token(s: &AppState, token: &str, client: &str) -> Result<Film, ApiError> {
    // Malformed tokens never reach the index (and are never echoed).
    if token.len() > 64 || token.is_empty() {
        return Err(ApiError::not_found("no such film / 胶片不存在"));
    }
    match s.archive.index().film_by_token(&token_hash(token)).await.map_err(index_error)? {
        Some(film) => Ok(film),
        None => {
            tracing::info!(client, "film link with an unknown token");
            Err(ApiError::not_found("no such film / 胶片不存在"))
        }
    }
}

/// The page opens a link: what it needs to ask for the second factor.
async fn open(State(s): State<AppState>, Client(client): Client, Json(body): Json<TokenBody>) -> Result<Response, ApiError> {
    let film = film_of_token(&s, &body.token, &client).await?;
    let now = now_ms();
    let refused = refusal(&film, now);
    let result = if refused.is_some() { "refused" } else { "ok" };
    s.archive.index().record_film_event(&event(&film, "client", "opened", &client, result, "")).await.map_err(index_error)?;
    if let Some(e) = refused {
        return Err(e);
    }
    let institution = studies_matching(&s, vec![(0x0020_000D, film.studies[0].clone())])
        .await?
        .first()
        .map(|m| m.text(0x0008_0080).to_string())
        .unwrap_or_default();
    Ok(Json(serde_json::json!({
        "film_id": film.film_id,
        "verify_method": film.verify_method,
        "verify_hint": shown_hint(&s, &film),
        "institution": institution,
        "expires_at_ms": film.expires_at_ms,
        "kind": film.kind,
    }))
    .into_response())
}

/// Send an SMS code (films verified by SMS).
async fn send_code(State(s): State<AppState>, Client(client): Client, Json(body): Json<TokenBody>) -> Result<Response, ApiError> {
    let film = film_of_token(&s, &body.token, &client).await?;
    let now = now_ms();
    if let Some(e) = refusal(&film, now) {
        return Err(e);
    }
    if film.verify_method != "sms" {
        return Err(ApiError::bad_request("this film is not verified by SMS"));
    }
    let interval = s.config.film.code_interval_seconds as i64 * 1000;
    if film.code_sent_ms.is_some_and(|t| now - t < interval) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "a code was sent a moment ago: wait before asking again / 验证码已发送，请稍后再试",
        ));
    }
    let code = format!("{:06}", rand::random_range(0..1_000_000u32));
    let expires = now + s.config.film.code_minutes as i64 * 60_000;
    let phone = phone_of(&s, &film)?;
    let e = event(&film, "client", "code-sent", &client, "ok", mask_phone(&phone));
    s.archive.index().set_film_code(&film.film_id, &answer_hash(&film.film_id, &code), now, expires, &e).await.map_err(index_error)?;
    s.sms
        .send(&film.film_id, &phone, &code)
        .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, format!("the SMS could not be sent: {e}")))?;
    Ok(Json(serde_json::json!({ "sent_to": mask_phone(&phone), "expires_at_ms": expires })).into_response())
}

fn normalise_answer(method: &str, answer: &str) -> String {
    match method {
        "birth_date" => normalise_date(answer),
        "phone_suffix" | "id_suffix" => digits_suffix(answer).unwrap_or_default(),
        "access_code" => answer.chars().filter(char::is_ascii_digit).collect(),
        _ => answer.trim().to_string(),
    }
}

/// Check the second factor; a pass starts a session for this film only.
///
/// Both limits (per film, per client address) count an attempt before its
/// answer is compared, in the index, so answers sent at once (to one node
/// or several) are never compared more often than the limits allow; a right
/// answer opens a session only if the film is still unlocked then.
async fn verify(
    State(s): State<AppState>,
    Client(client): Client,
    Https(https): Https,
    Json(body): Json<TokenBody>,
) -> Result<Response, ApiError> {
    let policy = &s.config.film;
    let now = now_ms();
    let index = s.archive.index();
    let film = film_of_token(&s, &body.token, &client).await?;
    if let Some(e) = refusal(&film, now) {
        let why = if closed(&film, now).is_some() { "closed" } else { "locked" };
        index.record_film_event(&event(&film, "client", "verify", &client, "refused", why)).await.map_err(index_error)?;
        return Err(e);
    }
    let since = now - policy.client_window_minutes as i64 * 60_000;
    let Some(held) = index.reserve_slot(&format!("verify:{client}"), since, now, policy.client_max_failures).await.map_err(index_error)?
    else {
        index
            .record_film_event(&event(&film, "client", "verify", &client, "refused", "client address blocked"))
            .await
            .map_err(index_error)?;
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many failed verifications from this address: try again in {} minutes / 验证失败次数过多，请稍后再试",
                policy.client_window_minutes
            ),
        ));
    };
    if !index.reserve_film_attempt(&film.film_id, policy.max_failures).await.map_err(index_error)? {
        index.release_slot(held).await.map_err(index_error)?;
        index.record_film_event(&event(&film, "client", "verify", &client, "refused", "locked")).await.map_err(index_error)?;
        return Err(locked_error());
    }
    let answer = normalise_answer(&film.verify_method, body.answer.as_deref().unwrap_or(""));
    let code_live = film.verify_method != "sms" || film.code_expires_ms.is_some_and(|t| t > now);
    let right = code_live && !film.verify_hash.is_empty() && !answer.is_empty() && answer_hash(&film.film_id, &answer) == film.verify_hash;
    if !right {
        let e = event(&film, "client", "verify", &client, "failed", "");
        let attempts = index.film_verification_failed(&film.film_id, policy.max_failures, now, &e).await.map_err(index_error)?;
        if attempts.locked {
            return Err(locked_error());
        }
        let left = (policy.max_failures - attempts.failed).max(0);
        let body = serde_json::json!({
            "error": format!("wrong answer: {left} attempts left / 验证失败，还可尝试 {left} 次"),
            "status": 401,
            "attempts_left": left,
        });
        return Ok((StatusCode::UNAUTHORIZED, Json(body)).into_response());
    }
    index.release_slot(held).await.map_err(index_error)?;
    let session = random_token(18);
    let expires = now + policy.session_minutes as i64 * 60_000;
    let e = event(&film, "client", "verify", &client, "ok", "");
    match index.film_verified(&film.film_id, &token_hash(&session), now, expires, &e).await.map_err(index_error)? {
        Verified::Session => {}
        Verified::Locked => {
            index.record_film_event(&event(&film, "client", "verify", &client, "refused", "locked")).await.map_err(index_error)?;
            return Err(locked_error());
        }
        Verified::ViewsUsedUp => {
            index.record_film_event(&event(&film, "client", "verify", &client, "refused", "views used up")).await.map_err(index_error)?;
            return Err(ApiError::new(StatusCode::GONE, "this link has been opened as often as allowed / 此链接的查看次数已用完"));
        }
    }
    let cookie = format!(
        "{COOKIE}={session}; Path=/api/film/{}; Max-Age={}; HttpOnly; SameSite=Strict{}",
        film.film_id,
        policy.session_minutes * 60,
        if https { "; Secure" } else { "" }
    );
    // The page's first view comes with the session: one round trip less
    // before the first image.
    let info = film_info(&s, &film).await?;
    index.record_film_event(&event(&film, viewer_actor(&film), "viewed", &client, "ok", "film page")).await.map_err(index_error)?;
    let mut response = Json(serde_json::json!({ "film_id": film.film_id, "session_expires_at_ms": expires, "info": info })).into_response();
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(|e| ApiError::internal(e.to_string()))?);
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The film a request's session cookie opens, if it is `film_id` and open.
async fn session_film(s: &AppState, headers: &HeaderMap, film_id: &str) -> Result<Film, ApiError> {
    let now = now_ms();
    let mut session_of = None;
    for value in headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()) {
        for pair in value.split(';') {
            if let Some(token) = pair.trim().strip_prefix(COOKIE).and_then(|r| r.strip_prefix('='))
                && token.len() <= 64
                && let Some(id) = s.archive.index().film_of_session(&token_hash(token), now).await.map_err(index_error)?
                && id == film_id
            {
                session_of = Some(id);
            }
        }
    }
    if session_of.is_none() {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, "verify first: no session for this film / 请先完成验证"));
    }
    let film = film_or_404(s, film_id).await?;
    if let Some(e) = closed(&film, now) {
        return Err(e);
    }
    Ok(film)
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
