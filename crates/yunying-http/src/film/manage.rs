//! The management API (`/api/films`, with `http.api_token`): making a
//! film of a study (its priors by exact identity), its link and QR code,
//! and revoking, shortening, unlocking and reading its events.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde::{Deserialize, Serialize};
use yunying_index::Film;

use super::*;
use crate::AppState;
use crate::error::ApiError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateFilm {
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
pub(super) struct Created {
    film: Film,
    /// The link to give the patient: shown once, never stored.
    url: String,
    qr_svg: String,
    qr_png_base64: String,
}

pub(super) fn digits_suffix(value: &str) -> Option<String> {
    let kept: String = value.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
    (kept.len() >= 4).then(|| kept[kept.len() - 4..].to_string())
}

pub(super) fn normalise_date(value: &str) -> String {
    value.chars().filter(char::is_ascii_digit).collect()
}

pub(super) async fn create(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,
    Https(https): Https,
    headers: HeaderMap,
    Json(req): Json<CreateFilm>,
) -> Result<Response, ApiError> {
    require_films(&s, &who)?;
    if !is_valid_uid(&req.study) {
        return Err(ApiError::bad_request("study must be a Study Instance UID"));
    }
    s.access.check_study(&who, Action::Films, &req.study).await.map_err(crate::auth::refusal)?;
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
        // Only priors the maker may reach themselves go into the film.
        for uid in s.archive.index().studies_of_patient(&issuer, &patient_id).await.map_err(index_error)? {
            if !studies.contains(&uid) && s.access.check_study(&who, Action::Films, &uid).await.is_ok() {
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
    let url = format!("{}/f#{token}", public_base(&s, &headers, https));
    let (qr_svg, qr_png) = qr(&url)?;
    let mut shown = film;
    shown.verify_hint = shown_hint(&s, &shown);
    let body = Created { film: shown, url, qr_svg, qr_png_base64: base64::engine::general_purpose::STANDARD.encode(qr_png) };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `http.public_url`, or the scheme (`https` over TLS, ours or a trusted
/// proxy's) and host the request came to.
pub(super) fn public_base(s: &AppState, headers: &HeaderMap, https: bool) -> String {
    if let Some(url) = s.config.public_url.as_deref().filter(|u| !u.is_empty()) {
        return url.trim_end_matches('/').to_string();
    }
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
    format!("{}://{host}", if https { "https" } else { "http" })
}

/// The link as a QR code: SVG text and PNG bytes (4 px modules, quiet zone of 4).
pub(super) fn qr(url: &str) -> Result<(String, Vec<u8>), ApiError> {
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

pub(super) async fn film_or_404(s: &AppState, film_id: &str) -> Result<Film, ApiError> {
    s.archive.index().film(film_id).await.map_err(index_error)?.ok_or_else(|| ApiError::not_found(format!("no film {film_id}")))
}

/// A film for the management API: its token checked first.
/// A film for the management API: the principal may make films, and the
/// film is of its institution's patients (or it speaks for the platform).
pub(super) async fn staff_film(s: &AppState, who: &Principal, film_id: &str) -> Result<Film, ApiError> {
    require_films(s, who)?;
    let film = film_or_404(s, film_id).await?;
    if who.reach != Reach::All && who.institution.as_deref() != Some(film.issuer.as_str()) {
        return Err(ApiError::not_found(format!("no film {film_id}")));
    }
    Ok(film)
}

pub(super) async fn show(State(s): State<AppState>, Signed(who): Signed, Path(film_id): Path<String>) -> Result<Response, ApiError> {
    let mut film = staff_film(&s, &who, &film_id).await?;
    film.verify_hint = shown_hint(&s, &film);
    Ok(Json(film).into_response())
}

pub(super) async fn revoke(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,

    Path(film_id): Path<String>,
) -> Result<Response, ApiError> {
    let film = staff_film(&s, &who, &film_id).await?;
    let e = event(&film, "api", "revoked", &client, "ok", "");
    let revoked = s.archive.index().revoke_film(&film_id, now_ms(), &e).await.map_err(index_error)?;
    Ok(Json(serde_json::json!({ "revoked": revoked })).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Shorten {
    expires_at_ms: i64,
}

/// `POST /api/films/{id}/expires`: end a film (and its shares) earlier; a
/// time in the past ends it now. A film's life is never lengthened.
pub(super) async fn shorten(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,

    Path(film_id): Path<String>,
    Json(req): Json<Shorten>,
) -> Result<Response, ApiError> {
    let film = staff_film(&s, &who, &film_id).await?;
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

pub(super) async fn unlock(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,

    Path(film_id): Path<String>,
) -> Result<Response, ApiError> {
    let film = staff_film(&s, &who, &film_id).await?;
    let e = event(&film, "api", "unlocked", &client, "ok", "");
    s.archive.index().unlock_film(&film_id, &e).await.map_err(index_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub(super) async fn events(State(s): State<AppState>, Signed(who): Signed, Path(film_id): Path<String>) -> Result<Response, ApiError> {
    staff_film(&s, &who, &film_id).await?;
    Ok(Json(s.archive.index().film_events(&film_id).await.map_err(index_error)?).into_response())
}

pub(super) async fn study_events(State(s): State<AppState>, Signed(who): Signed, Path(study): Path<String>) -> Result<Response, ApiError> {
    require_films(&s, &who)?;
    if !is_valid_uid(&study) {
        return Err(ApiError::bad_request("not a Study Instance UID"));
    }
    Ok(Json(s.archive.index().film_events_of_study(&study).await.map_err(index_error)?).into_response())
}
