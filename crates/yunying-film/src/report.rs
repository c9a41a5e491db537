//! Reports on films: the study's own (Encapsulated PDF documents, and SR
//! documents shown as text) and one uploaded for the film (a PDF or plain
//! text, when the report lives in the RIS and not in the PACS). A share
//! shows the report uploaded for the film it was shared from.

use serde_json::Value as Json;
use yunying_access::Principal;
use yunying_index::Film;

use crate::contents::is_report_class;
use crate::secrets::random_token;
use crate::{FilmError, Films, Result, event};

pub const ENCAPSULATED_PDF: &str = "1.2.840.10008.5.1.4.1.1.104.1";
/// Largest uploaded report.
pub const MAX_UPLOAD: usize = 32 << 20;
/// Films a report is looked for through (a share's parent, its parent…).
const MAX_PARENTS: usize = 8;

/// A report's media type, if `body` is one we take: a PDF that says so,
/// or UTF-8 text.
fn accepted(media_type: &str, body: &[u8]) -> Result<()> {
    match media_type {
        "application/pdf" if body.starts_with(b"%PDF-") => {}
        "application/pdf" => return Err(FilmError::Invalid("the body is not a PDF (no %PDF- header)".into())),
        "text/plain" if std::str::from_utf8(body).is_ok() => {}
        "text/plain" => return Err(FilmError::Invalid("a text report must be UTF-8".into())),
        _ => return Err(FilmError::UnsupportedMediaType("a report is application/pdf or text/plain".into())),
    }
    if body.is_empty() {
        return Err(FilmError::Invalid("the report is empty".into()));
    }
    Ok(())
}

impl Films {
    /// Attach a report (`media_type`: `application/pdf` or `text/plain`,
    /// without parameters, lower case) to a film and the films shared
    /// from it; the report it replaces is deleted.
    pub async fn attach_report(&self, who: &Principal, film_id: &str, media_type: &str, body: Vec<u8>, client: &str) -> Result<()> {
        let film = self.staff_film(who, film_id).await?;
        accepted(media_type, &body)?;
        let key = format!("films/{}/report-{}", film.film_id, random_token(6));
        let store = self.archive.store().clone();
        let (k, len) = (key.clone(), body.len());
        tokio::task::spawn_blocking(move || store.put_bytes(&k, &body))
            .await
            .map_err(|e| FilmError::Internal(format!("store task failed: {e}")))?
            .map_err(|e| FilmError::Unavailable(format!("object store: {e}")))?;
        let e = event(&film, "api", "report-attached", client, "ok", format!("{media_type}, {len} bytes"));
        self.index().set_film_report(&film.film_id, &key, media_type, &e).await?;
        self.audit(&e, Some(who)).await;
        if !film.report_key.is_empty() {
            let (store, old) = (self.archive.store().clone(), film.report_key.clone());
            let _ = tokio::task::spawn_blocking(move || store.delete(&old)).await;
        }
        Ok(())
    }

    /// A report of a film (`which`: `uploaded`, or the SOP Instance UID of
    /// a report in one of its studies): its media type and bytes. Recorded
    /// as viewed.
    pub async fn report(&self, film: &Film, which: &str, client: &str) -> Result<(String, Vec<u8>)> {
        if !film.report {
            return Err(FilmError::Forbidden("this film shows no report".into()));
        }
        let not_found = || FilmError::NotFound("no such report in this film".into());
        let shown = if which == "uploaded" {
            let (key, media_type) = self.uploaded_report(film).await?;
            let store = self.archive.store().clone();
            let bytes = tokio::task::spawn_blocking(move || store.get(&key))
                .await
                .map_err(|e| FilmError::Internal(format!("store task failed: {e}")))?
                .map_err(|e| FilmError::Unavailable(format!("object store: {e}")))?;
            // Text reports were checked to be UTF-8 when uploaded.
            let media_type = if media_type == "text/plain" { "text/plain; charset=utf-8".to_string() } else { media_type };
            (media_type, bytes)
        } else {
            let mut found = None;
            for study in &film.studies {
                if let Some(data) = self.archive.instances(study, None, Some(which)).await?.into_iter().next() {
                    found = Some(data);
                    break;
                }
            }
            let data = found.ok_or_else(not_found)?;
            if data.stored.sop_class_uid == ENCAPSULATED_PDF {
                ("application/pdf".to_string(), self.archive.bulkdata(&data, "00420011").await?)
            } else if is_report_class(&data.stored.sop_class_uid) {
                let json: Json =
                    serde_json::from_slice(&self.archive.metadata(&data).await?).map_err(|e| FilmError::Internal(e.to_string()))?;
                ("text/plain; charset=utf-8".to_string(), sr_text(&json).into_bytes())
            } else {
                return Err(not_found());
            }
        };
        self.viewed(film, client, "report").await?;
        Ok(shown)
    }

    /// The uploaded report of a film, or of the film it was shared from:
    /// its object key and media type.
    async fn uploaded_report(&self, film: &Film) -> Result<(String, String)> {
        let mut current = film.clone();
        for _ in 0..MAX_PARENTS {
            if !current.report_key.is_empty() {
                return Ok((current.report_key, current.report_type));
            }
            if current.parent_film_id.is_empty() {
                break;
            }
            current = self.film(&current.parent_film_id).await?;
        }
        Err(FilmError::NotFound("no report was uploaded for this film".into()))
    }
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
pub fn sr_text(dataset: &Json) -> String {
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
    fn reports_are_a_pdf_or_utf8_text() {
        assert!(accepted("application/pdf", b"%PDF-1.4 ...").is_ok());
        assert!(matches!(accepted("application/pdf", b"<html>"), Err(FilmError::Invalid(_))));
        assert!(accepted("text/plain", "双肺纹理清晰".as_bytes()).is_ok());
        assert!(matches!(accepted("text/plain", b"\xff\xfe"), Err(FilmError::Invalid(_))));
        assert!(matches!(accepted("text/plain", b""), Err(FilmError::Invalid(_))));
        assert!(matches!(accepted("text/html", b"<p>"), Err(FilmError::UnsupportedMediaType(_))));
    }

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
