//! WADO-RS frames: `…/instances/{i}/frames/{list}`, through the pixel
//! layout (ranged reads), as stored, decoded, or from the lossless HTJ2K
//! copy.
//!
//! Bounded: a frame may be named once (400), at most
//! `http.max_frames_per_request` frames (400) and `http.max_frames_bytes`
//! bytes in all (413, known from the layout before anything is read). Parts
//! are streamed a few MiB at a time; only the first batch is read before
//! answering, so its errors still become statuses. Film sessions reach
//! these same handlers.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::get;
use bytes::Bytes;
use tracing::Instrument;
use yunying_archive::metadata::PixelLayout;
use yunying_archive::syntax::{DEFLATED_EXPLICIT_VR_LE, EXPLICIT_VR_LE, IMPLICIT_VR_LE, is_compressed};
use yunying_archive::{Archive, InstanceData, RetrieveError};
use yunying_transcode::{HTJ2K_LOSSLESS, PixelInfo};

use crate::AppState;
use crate::error::ApiError;
use crate::media::{self, MediaRange};
use crate::wado::{IMMUTABLE, etag, header_value, not_modified, scope};

/// Bytes of frames read (or decoded) at a time while streaming.
const BATCH_BYTES: u64 = 4 << 20;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/studies/{study}/series/{series}/instances/{instance}/frames/{frames}", get(frames))
}

async fn frames(
    State(s): State<AppState>,
    headers: HeaderMap,
    Path((study, series, sop, list)): Path<(String, String, String, String)>,
) -> Result<Response, ApiError> {
    let numbers = frame_numbers(&list, s.config.max_frames_per_request)?;
    let instance = scope(&s.archive, &study, Some(&series), Some(&sop)).await?.remove(0);
    let stored_ts = instance.stored.transfer_syntax_uid.clone();
    let ranges = media::accept(&headers)?;
    // HTJ2K asked for explicitly: the lossless copy made at ingest, if any.
    let wants_htj2k = ranges.iter().any(|r| r.transfer_syntax.as_deref() == Some(HTJ2K_LOSSLESS));
    let copy = if wants_htj2k && stored_ts != HTJ2K_LOSSLESS { s.archive.lossless_copy(&instance).await? } else { None };
    let (part_type, target) = negotiate_frames(&ranges, &stored_ts, copy.is_some())?;
    let etag = etag([instance.stored.digest.as_str(), list.as_str(), target.as_str()]);
    if let Some(not_modified) = not_modified(&headers, &etag) {
        return Ok(not_modified);
    }
    // Frames of little-endian native data are the same bytes in every
    // little-endian syntax (deflate applies to the dataset, not frames).
    let native_le = matches!(stored_ts.as_str(), IMPLICIT_VR_LE | EXPLICIT_VR_LE | DEFLATED_EXPLICIT_VR_LE);
    let from_copy = copy.filter(|_| target == HTJ2K_LOSSLESS);
    // Only implicit VR data sent as stored keeps its own label.
    let label = if native_le && from_copy.is_none() && (stored_ts != IMPLICIT_VR_LE || target == EXPLICIT_VR_LE) {
        EXPLICIT_VR_LE
    } else {
        target.as_str()
    };
    let content_type = format!("{part_type}; transfer-syntax={label}");
    let as_stored = from_copy.is_some() || target == stored_ts || (target == EXPLICIT_VR_LE && native_le);
    let decode = if as_stored { None } else { Some(Arc::new(s.archive.pixel_info(&instance).await?)) };
    let source = from_copy.unwrap_or(instance);

    // What each frame weighs: from the layout (which also says which
    // frames exist, so a wrong number is 404 before anything is sent), or
    // decoded.
    let layout = PixelLayout::decode(&source.pixel_layout);
    let stored = layout.as_ref().map(|l| numbers.iter().map(|&n| stored_len(l, n)).collect::<Result<Vec<u64>, _>>()).transpose()?;
    let sizes = match &decode {
        Some(info) => Some(vec![decoded_len(info); numbers.len()]),
        None => stored,
    };
    let max = s.config.max_frames_bytes;
    if let Some(total) = sizes.as_ref().map(|s| s.iter().sum::<u64>()) {
        check_total(total, max)?;
    }
    // Without a layout the object is parsed in memory to find the frames:
    // read them all at once (the object's size bounds them).
    let batches = match (&layout, &sizes) {
        (Some(_), Some(sizes)) => batches(&numbers, sizes),
        _ => vec![numbers.clone()],
    };
    let reader = Reader { archive: s.archive.clone(), source: Arc::new(source), decode };
    let first = reader.read(&batches[0]).await?;
    if sizes.is_none() {
        check_total(first.iter().map(|f| f.len() as u64).sum(), max)?;
    }

    let boundary = media::boundary();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    let b = boundary.clone();
    tokio::spawn(
        async move {
            let mut batch = first;
            for next in batches.iter().skip(1).map(Some).chain([None]) {
                for frame in batch {
                    if tx.send(Ok(media::part_header(&b, &content_type, ""))).await.is_err()
                        || tx.send(Ok(Bytes::from(frame))).await.is_err()
                    {
                        return;
                    }
                }
                let Some(next) = next else { break };
                batch = match reader.read(next).await {
                    Ok(frames) => frames,
                    Err(e) => {
                        tracing::error!(error = %e.message, "reading frames failed mid-response");
                        let _ = tx.send(Err(std::io::Error::other(e.message))).await;
                        return;
                    }
                };
            }
            let _ = tx.send(Ok(media::closing(&b))).await;
        }
        .in_current_span(),
    );
    let mut response = Response::new(media::channel_body(rx));
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, header_value(&media::multipart_type(&boundary, part_type)));
    h.insert(header::ETAG, header_value(&etag));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    Ok(response)
}

fn check_total(total: u64, max: u64) -> Result<(), ApiError> {
    if total > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "these frames come to {total} bytes, more than http.max_frames_bytes ({max}) allows in one response: ask for fewer at a time"
            ),
        ));
    }
    Ok(())
}

/// Reads batches of frames of one instance, decoding them when asked to.
struct Reader {
    archive: Archive,
    source: Arc<InstanceData>,
    decode: Option<Arc<PixelInfo>>,
}

impl Reader {
    async fn read(&self, numbers: &[u32]) -> Result<Vec<Vec<u8>>, ApiError> {
        let frames = self.archive.frames(&self.source, numbers).await?;
        let Some(info) = self.decode.clone() else {
            return Ok(frames);
        };
        let ts = self.source.stored.transfer_syntax_uid.clone();
        // Native frames (big endian) keep the layout the metadata announces:
        // planar stays planar, only the byte order changes.
        let native = !is_compressed(&ts);
        let decoded = tokio::task::spawn_blocking(move || {
            frames
                .iter()
                .map(|f| {
                    if native {
                        yunying_transcode::native_frame_as_little_endian(&ts, &info, f)
                    } else {
                        yunying_transcode::decode_frame(&ts, &info, f).map(|d| d.bytes)
                    }
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .map_err(|e| ApiError::internal(format!("decoding frames: {e}")))?;
        Ok(decoded.map_err(RetrieveError::from)?)
    }
}

/// Stored bytes of frame `n`, or 404 when there is no such frame.
fn stored_len(layout: &PixelLayout, n: u32) -> Result<u64, ApiError> {
    let count = layout.number_of_frames();
    if n == 0 || n as usize > count {
        return Err(RetrieveError::NoSuchFrame { requested: n, frames: count }.into());
    }
    Ok(match layout {
        PixelLayout::Native { len, frames, .. } => len / u64::from((*frames).max(1)),
        PixelLayout::Encapsulated { frames } => frames[n as usize - 1].iter().map(|(_, l)| u64::from(*l)).sum(),
    })
}

/// Bytes of one frame decoded to native little-endian samples.
fn decoded_len(info: &PixelInfo) -> u64 {
    let samples = u64::from(info.rows) * u64::from(info.columns) * u64::from(info.samples_per_pixel.max(1));
    if info.bits_allocated == 1 { samples.div_ceil(8) } else { samples * u64::from(info.bits_allocated.div_ceil(8)) }
}

/// Consecutive groups of frames of about [`BATCH_BYTES`] (at least one each).
fn batches(numbers: &[u32], sizes: &[u64]) -> Vec<Vec<u32>> {
    let mut out: Vec<Vec<u32>> = Vec::new();
    let mut weight = 0;
    for (&n, &size) in numbers.iter().zip(sizes) {
        match out.last_mut() {
            Some(batch) if weight + size <= BATCH_BYTES => batch.push(n),
            _ => {
                out.push(vec![n]);
                weight = 0;
            }
        }
        weight += size;
    }
    out
}

/// Frame numbers from `1,2,3` (1-based, each once, at most `max`).
fn frame_numbers(list: &str, max: usize) -> Result<Vec<u32>, ApiError> {
    let mut numbers = Vec::new();
    for n in list.split([',', '%']).filter(|n| !n.is_empty() && !n.eq_ignore_ascii_case("2C")) {
        if numbers.len() == max {
            return Err(ApiError::bad_request(format!("a frame list may name at most {max} frames (http.max_frames_per_request)")));
        }
        let n = n.trim().parse::<u32>().ok().filter(|n| *n >= 1);
        let n = n.ok_or_else(|| ApiError::bad_request(format!("frame list must be numbers from 1, got {:?}", truncated(list))))?;
        numbers.push(n);
    }
    if numbers.is_empty() {
        return Err(ApiError::bad_request("frame list must name at least one frame"));
    }
    let mut sorted = numbers.clone();
    sorted.sort_unstable();
    if let Some(pair) = sorted.windows(2).find(|p| p[0] == p[1]) {
        return Err(ApiError::bad_request(format!("frame {} is named more than once: name each frame once", pair[0])));
    }
    Ok(numbers)
}

fn truncated(s: &str) -> String {
    s.chars().take(64).collect()
}

/// Media types of compressed pixel data, by transfer syntax (PS3.18 Table 8.7.3-2).
fn image_media_type(ts: &str) -> Option<&'static str> {
    Some(match ts {
        "1.2.840.10008.1.2.4.50" | "1.2.840.10008.1.2.4.51" | "1.2.840.10008.1.2.4.57" | "1.2.840.10008.1.2.4.70" => "image/jpeg",
        "1.2.840.10008.1.2.4.80" | "1.2.840.10008.1.2.4.81" => "image/jls",
        "1.2.840.10008.1.2.4.90" | "1.2.840.10008.1.2.4.91" => "image/jp2",
        "1.2.840.10008.1.2.4.201" | "1.2.840.10008.1.2.4.202" | "1.2.840.10008.1.2.4.203" => "image/jphc",
        "1.2.840.10008.1.2.5" => "image/x-dicom-rle",
        "1.2.840.10008.1.2.4.100" | "1.2.840.10008.1.2.4.101" => "video/mpeg",
        "1.2.840.10008.1.2.4.102"
        | "1.2.840.10008.1.2.4.103"
        | "1.2.840.10008.1.2.4.104"
        | "1.2.840.10008.1.2.4.105"
        | "1.2.840.10008.1.2.4.106" => "video/mp4",
        "1.2.840.10008.1.2.4.107" | "1.2.840.10008.1.2.4.108" => "video/H265",
        _ => return None,
    })
}

/// Negotiate frames: (part media type, transfer syntax to send).
/// `htj2k_copy`: the instance has a lossless HTJ2K copy, offered when asked
/// for by name.
fn negotiate_frames(ranges: &[MediaRange], stored: &str, htj2k_copy: bool) -> Result<(&'static str, String), ApiError> {
    let stored_media = image_media_type(stored);
    for r in ranges {
        let payload = r.payload();
        if htj2k_copy && r.transfer_syntax.as_deref() == Some(HTJ2K_LOSSLESS) {
            if media::matches(payload, "application/octet-stream") {
                return Ok(("application/octet-stream", HTJ2K_LOSSLESS.to_string()));
            }
            if media::matches(payload, "image/jphc") {
                return Ok(("image/jphc", HTJ2K_LOSSLESS.to_string()));
            }
        }
        if media::matches(payload, "application/octet-stream") {
            match r.transfer_syntax.as_deref() {
                Some("*") => return Ok(("application/octet-stream", stored.to_string())),
                Some(ts) if ts == stored => {
                    return Ok(("application/octet-stream", stored.to_string()));
                }
                None | Some(EXPLICIT_VR_LE) => {
                    if !is_compressed(stored) || yunying_transcode::can_decode(stored) {
                        return Ok(("application/octet-stream", EXPLICIT_VR_LE.to_string()));
                    }
                }
                Some(_) => {}
            }
            if payload == "application/octet-stream" {
                continue;
            }
        }
        if let Some(m) = stored_media
            && media::matches(payload, m)
            && r.transfer_syntax.as_deref().is_none_or(|t| t == "*" || t == stored)
        {
            return Ok((m, stored.to_string()));
        }
    }
    Err(ApiError::not_acceptable(format!(
        "frames of this instance are available as application/octet-stream with transfer-syntax=* ({stored}){}",
        if !is_compressed(stored) || yunying_transcode::can_decode(stored) { " or 1.2.840.10008.1.2.1" } else { "" }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_lists() {
        assert_eq!(frame_numbers("1,3,2", 10).unwrap(), vec![1, 3, 2]);
        assert!(frame_numbers("0", 10).is_err());
        assert!(frame_numbers("a", 10).is_err());
        assert!(frame_numbers("", 10).is_err());
        assert!(frame_numbers("1,2,1", 10).unwrap_err().message.contains("more than once"));
        assert!(frame_numbers(&vec!["1"; 2000].join(","), 10_000).is_err());
        assert!(frame_numbers("1,2,3", 2).unwrap_err().message.contains("at most 2"));
    }

    #[test]
    fn batches_group_frames_by_weight() {
        let mb = 1 << 20;
        assert_eq!(batches(&[1, 2, 3, 4], &[mb, mb, 3 * mb, mb]), vec![vec![1, 2], vec![3, 4]]);
        assert_eq!(batches(&[5], &[100 * mb]), vec![vec![5]]);
        assert_eq!(batches(&[1, 2], &[10 * mb, 1]), vec![vec![1], vec![2]]);
    }
}
