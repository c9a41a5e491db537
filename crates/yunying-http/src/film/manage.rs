//! The management API (`/api/films`, for principals that may make films:
//! API keys with `films:create`, `http.api_token`): a film of a study and
//! its link as a QR code, and revoking, shortening, unlocking and reading
//! its record. The rules are the domain's (`yunying_film::Films`).

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use base64::Engine;
use serde::{Deserialize, Serialize};
use yunying_film::NewFilm;
use yunying_index::Film;

use super::{Answer, Client, Https, no_store};
use crate::AppState;
use crate::auth::Signed;
use crate::error::ApiError;
use crate::extract::{Json, Path};

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

/// `POST /api/films`.
pub(super) async fn create(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,
    Https(https): Https,
    headers: HeaderMap,
    Json(req): Json<CreateFilm>,
) -> Answer {
    let req = NewFilm {
        study: req.study,
        include_priors: req.include_priors,
        kind: req.kind,
        expires_hours: req.expires_hours,
        verify: req.verify,
        verify_value: req.verify_value,
        max_views: req.max_views,
        download: req.download,
        created_by: req.created_by,
        recipient: req.recipient,
        purpose: req.purpose,
        report: req.report,
    };
    let made = s.films.create(&who, req, &client).await?;
    let url = format!("{}/f#{}", public_base(&s, &headers, https), made.token);
    let (qr_svg, qr_png) = qr(&url)?;
    let body = Created { film: made.film, url, qr_svg, qr_png_base64: base64::engine::general_purpose::STANDARD.encode(qr_png) };
    Ok(no_store((StatusCode::CREATED, Json(body)).into_response(), "no-store"))
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

/// `GET /api/films/{id}`.
pub(super) async fn show(State(s): State<AppState>, Signed(who): Signed, Path(film_id): Path<String>) -> Answer {
    Ok(Json(s.films.show(&who, &film_id).await?).into_response())
}

/// `POST /api/films/{id}/revoke`: the film and its shares.
pub(super) async fn revoke(State(s): State<AppState>, Signed(who): Signed, Client(client): Client, Path(film_id): Path<String>) -> Answer {
    let revoked = s.films.revoke(&who, &film_id, &client).await?;
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
) -> Answer {
    Ok(Json(s.films.shorten(&who, &film_id, req.expires_at_ms, &client).await?).into_response())
}

/// `POST /api/films/{id}/unlock`.
pub(super) async fn unlock(State(s): State<AppState>, Signed(who): Signed, Client(client): Client, Path(film_id): Path<String>) -> Answer {
    s.films.unlock(&who, &film_id, &client).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/films/{id}/events`.
pub(super) async fn events(State(s): State<AppState>, Signed(who): Signed, Path(film_id): Path<String>) -> Answer {
    Ok(Json(s.films.events(&who, &film_id).await?).into_response())
}

/// `GET /api/studies/{study}/film-events`.
pub(super) async fn study_events(State(s): State<AppState>, Signed(who): Signed, Path(study): Path<String>) -> Answer {
    Ok(Json(s.films.study_events(&who, &study).await?).into_response())
}
