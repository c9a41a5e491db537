//! `Accept` negotiation and multipart/related bodies.

use axum::body::Body;
use axum::http::HeaderMap;
use bytes::Bytes;
use futures_util::Stream;

use crate::error::ApiError;

/// One media range of an `Accept` header.
#[derive(Debug, Clone, PartialEq)]
pub struct MediaRange {
    /// `type/subtype`, lower case.
    pub mime: String,
    /// The `type` parameter of `multipart/related`, lower case.
    pub part_type: Option<String>,
    /// The `transfer-syntax` parameter.
    pub transfer_syntax: Option<String>,
    pub q: f32,
}

impl MediaRange {
    /// The media type of the payload: the part type for multipart ranges.
    pub fn payload(&self) -> &str {
        if self.mime == "multipart/related" { self.part_type.as_deref().unwrap_or("*/*") } else { &self.mime }
    }
    pub fn is_multipart(&self) -> bool {
        self.mime == "multipart/related"
    }
}

/// Parse an `Accept` header (all values); best quality first. No header is `*/*`.
pub fn accept(headers: &HeaderMap) -> Result<Vec<MediaRange>, ApiError> {
    let mut ranges = Vec::new();
    for value in headers.get_all(axum::http::header::ACCEPT) {
        let value = value.to_str().map_err(|_| ApiError::bad_request("Accept header is not ASCII"))?;
        for range in split_outside_quotes(value, ',') {
            if range.trim().is_empty() {
                continue;
            }
            ranges.push(parse_range(&range)?);
        }
    }
    if ranges.is_empty() {
        ranges.push(MediaRange { mime: "*/*".into(), part_type: None, transfer_syntax: None, q: 1.0 });
    }
    ranges.sort_by(|a, b| b.q.partial_cmp(&a.q).unwrap_or(std::cmp::Ordering::Equal));
    Ok(ranges)
}

fn parse_range(range: &str) -> Result<MediaRange, ApiError> {
    let mut parts = split_outside_quotes(range, ';').into_iter();
    let mime = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    if !mime.contains('/') {
        return Err(ApiError::bad_request(format!("malformed media range in Accept: {range:?}")));
    }
    let mut out = MediaRange { mime, part_type: None, transfer_syntax: None, q: 1.0 };
    for param in parts {
        let Some((name, value)) = param.split_once('=') else { continue };
        let value = value.trim().trim_matches('"').to_string();
        match name.trim().to_ascii_lowercase().as_str() {
            "type" => out.part_type = Some(value.to_ascii_lowercase()),
            "transfer-syntax" => out.transfer_syntax = Some(value),
            "q" => out.q = value.parse().map_err(|_| ApiError::bad_request(format!("bad q value in Accept: {value:?}")))?,
            _ => {}
        }
    }
    Ok(out)
}

/// Split on `sep` except inside double quotes.
pub fn split_outside_quotes(s: &str, sep: char) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut quoted = false;
    for c in s.chars() {
        if c == '"' {
            quoted = !quoted;
        }
        if c == sep && !quoted {
            out.push(String::new());
        } else {
            out.last_mut().expect("never empty").push(c);
        }
    }
    out
}

/// Whether a media range accepts `mime` (wildcards allowed).
pub fn matches(range: &str, mime: &str) -> bool {
    range == "*/*" || range == mime || (range.ends_with("/*") && mime.starts_with(&range[..range.len() - 1]))
}

/// A fresh multipart boundary.
pub fn boundary() -> String {
    format!("yunying-{:032x}", rand::random::<u128>())
}

/// The header of one part (after the boundary line).
pub fn part_header(boundary: &str, content_type: &str, extra: &str) -> Bytes {
    Bytes::from(format!("\r\n--{boundary}\r\nContent-Type: {content_type}\r\n{extra}\r\n"))
}

/// The closing delimiter.
pub fn closing(boundary: &str) -> Bytes {
    Bytes::from(format!("\r\n--{boundary}--\r\n"))
}

/// The `Content-Type` of a multipart/related response.
pub fn multipart_type(boundary: &str, part_type: &str) -> String {
    format!("multipart/related; type=\"{part_type}\"; boundary={boundary}")
}

/// A body from parts already in memory.
pub fn multipart_body(boundary: &str, parts: Vec<(String, Vec<u8>)>) -> Body {
    let mut body = Vec::new();
    for (content_type, bytes) in parts {
        body.extend_from_slice(&part_header(boundary, &content_type, ""));
        body.extend(bytes);
    }
    body.extend_from_slice(&closing(boundary));
    Body::from(body)
}

/// A streamed body fed by a channel.
pub fn channel_body(rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>) -> Body {
    Body::from_stream(receiver_stream(rx))
}

fn receiver_stream(rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn parses_dicomweb_accept_headers() {
        let mut h = HeaderMap::new();
        h.insert(
            "accept",
            HeaderValue::from_static("multipart/related; type=\"application/octet-stream\"; transfer-syntax=*, image/jpeg;q=0.5"),
        );
        let r = accept(&h).unwrap();
        assert_eq!(r[0].mime, "multipart/related");
        assert_eq!(r[0].payload(), "application/octet-stream");
        assert_eq!(r[0].transfer_syntax.as_deref(), Some("*"));
        assert_eq!(r[1].mime, "image/jpeg");
        assert_eq!(r[1].q, 0.5);
        assert!(matches("image/*", "image/png"));
        assert!(!matches("image/*", "application/dicom"));
        h.insert("accept", HeaderValue::from_static("garbage"));
        assert!(accept(&h).is_err());
    }
}
