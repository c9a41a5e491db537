//! Reports on films: the study's own (Encapsulated PDF documents, and SR
//! documents shown as text) and one uploaded through the API for the film
//! (a PDF or plain text, when the report lives in the RIS and not in the
//! PACS).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::Value as Json;

use super::{Client, event, film_or_404, index_error, session_film, staff_film, viewer_actor};
use crate::AppState;
use crate::auth::Signed;
use crate::error::ApiError;

pub(crate) const ENCAPSULATED_PDF: &str = "1.2.840.10008.5.1.4.1.1.104.1";
/// Largest uploaded report.
pub(crate) const MAX_UPLOAD: usize = 32 << 20;

/// `PUT /api/films/{id}/report`: attach a report (`application/pdf` or
/// `text/plain`) to a film and the films shared from it.
pub(crate) async fn upload(
    State(s): State<AppState>,
    Signed(who): Signed,
    Client(client): Client,
    headers: HeaderMap,
    Path(film_id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let film = staff_film(&s, &who, &film_id).await?;
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match media_type.as_str() {
        "application/pdf" if body.starts_with(b"%PDF-") => {}
        "application/pdf" => return Err(ApiError::bad_request("the body is not a PDF (no %PDF- header)")),
        "text/plain" if std::str::from_utf8(&body).is_ok() => {}
        "text/plain" => return Err(ApiError::bad_request("a text report must be UTF-8")),
        _ => return Err(ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "a report is application/pdf or text/plain")),
    }
    if body.is_empty() {
        return Err(ApiError::bad_request("the report is empty"));
    }
    let key = format!("films/{}/report-{}", film.film_id, super::random_token(6));
    let store = s.archive.store().clone();
    let (k, bytes) = (key.clone(), body.clone());
    tokio::task::spawn_blocking(move || store.put_bytes(&k, &bytes))
        .await
        .map_err(|e| ApiError::internal(format!("store task failed: {e}")))?
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("object store: {e}")))?;
    let e = event(&film, "api", "report-attached", &client, "ok", format!("{media_type}, {} bytes", body.len()));
    s.archive.index().set_film_report(&film.film_id, &key, &media_type, &e).await.map_err(index_error)?;
    if !film.report_key.is_empty() {
        let (store, old) = (s.archive.store().clone(), film.report_key.clone());
        let _ = tokio::task::spawn_blocking(move || store.delete(&old)).await;
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /api/film/{id}/report/{uploaded | SOP Instance UID}`.
pub(crate) async fn show(
    State(s): State<AppState>,
    Client(client): Client,
    headers: HeaderMap,
    Path((film_id, which)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let film = session_film(&s, &headers, &film_id).await?;
    if !film.report {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "this film shows no report"));
    }
    let (media_type, bytes) = if which == "uploaded" {
        let key = reported_key(&s, &film).await?;
        let store = s.archive.store().clone();
        let bytes = tokio::task::spawn_blocking(move || store.get(&key.0))
            .await
            .map_err(|e| ApiError::internal(format!("store task failed: {e}")))?
            .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, format!("object store: {e}")))?;
        // Text reports were checked to be UTF-8 when uploaded.
        let media_type = if key.1 == "text/plain" { "text/plain; charset=utf-8".to_string() } else { key.1 };
        (media_type, bytes)
    } else {
        let mut found = None;
        for study in &film.studies {
            if let Some(data) = s.archive.instances(study, None, Some(&which)).await?.into_iter().next() {
                found = Some(data);
                break;
            }
        }
        let data = found.ok_or_else(|| ApiError::not_found("no such report in this film"))?;
        if data.stored.sop_class_uid == ENCAPSULATED_PDF {
            ("application/pdf".to_string(), s.archive.bulkdata(&data, "00420011").await?)
        } else if super::is_report_class(&data.stored.sop_class_uid) {
            let json: Json = serde_json::from_slice(&s.archive.metadata(&data).await?).map_err(|e| ApiError::internal(e.to_string()))?;
            ("text/plain; charset=utf-8".to_string(), sr_text(&json).into_bytes())
        } else {
            return Err(ApiError::not_found("no such report in this film"));
        }
    };
    s.archive
        .index()
        .record_film_event(&event(&film, viewer_actor(&film), "viewed", &client, "ok", "report"))
        .await
        .map_err(index_error)?;
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_str(&media_type).map_err(|e| ApiError::internal(e.to_string()))?);
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("inline"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    Ok(r)
}

/// The uploaded report of a film, or of the film it was shared from.
async fn reported_key(s: &AppState, film: &yunying_index::Film) -> Result<(String, String), ApiError> {
    let mut current = film.clone();
    for _ in 0..8 {
        if !current.report_key.is_empty() {
            return Ok((current.report_key, current.report_type));
        }
        if current.parent_film_id.is_empty() {
            break;
        }
        current = film_or_404(s, &current.parent_film_id).await?;
    }
    Err(ApiError::not_found("no report was uploaded for this film"))
}

fn first_string(item: &Json, tag: &str) -> Option<String> {
    let v = item.get(tag)?.get("Value")?.get(0)?;
    match v {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Object(o) => o.get("Alphabetic").or_else(|| o.get("Ideographic")).and_then(|a| a.as_str()).map(str::to_string),
        _ => None,
    }
}

fn code_meaning(item: &Json, sequence: &str) -> Option<String> {
    first_string(item.get(sequence)?.get("Value")?.get(0)?, "00080104")
}

/// An SR document as indented text: each content item's concept name and
/// value, in document order.
pub(crate) fn sr_text(dataset: &Json) -> String {
    fn walk(item: &Json, depth: usize, out: &mut String) {
        let name = code_meaning(item, "0040A043").unwrap_or_default();
        let value = match first_string(item, "0040A040").as_deref() {
            Some("TEXT") => first_string(item, "0040A160"),
            Some("CODE") => code_meaning(item, "0040A168"),
            Some("NUM") => item.get("0040A300").and_then(|m| m.get("Value")).and_then(|v| v.get(0)).map(|m| {
                let n = first_string(m, "0040A30A").unwrap_or_default();
                let unit = code_meaning(m, "004008EA").unwrap_or_default();
                format!("{n} {unit}").trim().to_string()
            }),
            Some("DATE") => first_string(item, "0040A121"),
            Some("TIME") => first_string(item, "0040A122"),
            Some("DATETIME") => first_string(item, "0040A120"),
            Some("PNAME") => first_string(item, "0040A123"),
            Some("UIDREF") => first_string(item, "0040A124"),
            _ => None,
        };
        if !name.is_empty() || value.is_some() {
            let indent = "  ".repeat(depth);
            match value {
                Some(v) if !name.is_empty() => out.push_str(&format!("{indent}{name}: {v}\n")),
                Some(v) => out.push_str(&format!("{indent}{v}\n")),
                None => out.push_str(&format!("{indent}{name}\n")),
            }
        }
        if let Some(children) = item.get("0040A730").and_then(|c| c.get("Value")).and_then(|v| v.as_array()) {
            for child in children {
                walk(child, depth + 1, out);
            }
        }
    }
    let mut out = String::new();
    walk(dataset, 0, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sr_content_tree_becomes_text() {
        let sr = serde_json::json!({
            "0040A040": {"vr": "CS", "Value": ["CONTAINER"]},
            "0040A043": {"vr": "SQ", "Value": [{"00080104": {"vr": "LO", "Value": ["影像诊断报告"]}}]},
            "0040A730": {"vr": "SQ", "Value": [
                {"0040A040": {"vr": "CS", "Value": ["TEXT"]},
                 "0040A043": {"vr": "SQ", "Value": [{"00080104": {"vr": "LO", "Value": ["Findings"]}}]},
                 "0040A160": {"vr": "UT", "Value": ["双肺纹理清晰"]}},
                {"0040A040": {"vr": "CS", "Value": ["NUM"]},
                 "0040A043": {"vr": "SQ", "Value": [{"00080104": {"vr": "LO", "Value": ["Diameter"]}}]},
                 "0040A300": {"vr": "SQ", "Value": [{"0040A30A": {"vr": "DS", "Value": [12.5]},
                     "004008EA": {"vr": "SQ", "Value": [{"00080104": {"vr": "LO", "Value": ["mm"]}}]}}]}}
            ]}
        });
        assert_eq!(sr_text(&sr), "影像诊断报告\n  Findings: 双肺纹理清晰\n  Diameter: 12.5 mm\n");
    }
}
