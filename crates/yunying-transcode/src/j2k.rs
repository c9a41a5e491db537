//! JPEG 2000 and HTJ2K (Part 15) through OpenJPEG 2.5, which also undoes
//! the reversible and irreversible component transforms. OpenJPEG's
//! warnings and errors end up in the returned error (`codec_log`), never
//! as log lines of their own.

use crate::native::samples_to_bytes;
use crate::{PixelInfo, TranscodeError};

const CODEC: &str = "JPEG 2000";

/// Tiles a codestream may have: OpenJPEG allocates several kilobytes of
/// coding parameters per tile and component while reading the main header,
/// so the norm's 65535 would be hundreds of megabytes before any pixel.
const MAX_TILES: u64 = 4096;

pub(crate) fn decode(info: &PixelInfo, frame: &[u8]) -> Result<Vec<u8>, TranscodeError> {
    // Our own reading of the SIZ marker first: OpenJPEG allocates the whole
    // image (and per-tile state) from it before it could be checked.
    check_header(info, &siz(frame)?)?;
    // Some writers wrap the codestream in a JP2 file; OpenJPEG reads both.
    // What OpenJPEG says goes into the error, not into the log.
    let (image, messages) = crate::codec_log::capture(|| jpeg2k::Image::from_bytes(frame));
    let image = image
        .map_err(|error| TranscodeError::Codec { codec: CODEC, message: format!("{error}{}", crate::codec_log::suffix(&messages)) })?;
    let components = image.components();
    let (width, height) = (u32::from(info.columns), u32::from(info.rows));
    let samples = usize::from(info.samples_per_pixel);
    let shapes: Vec<(u32, u32)> = components.iter().map(|c| (c.width(), c.height())).collect();
    if components.len() != samples || shapes.iter().any(|&shape| shape != (width, height)) {
        return Err(TranscodeError::Mismatch {
            codec: CODEC,
            message: format!("components {shapes:?} decoded, {samples} of {width}x{height} expected"),
        });
    }
    if let Some(component) = components.iter().find(|c| c.precision() > u32::from(info.bits_allocated)) {
        return Err(TranscodeError::Mismatch {
            codec: CODEC,
            message: format!("{}-bit samples, BitsAllocated {}", component.precision(), info.bits_allocated),
        });
    }
    let planes: Vec<&[i32]> = components.iter().map(|c| c.data()).collect();
    let pixels = planes[0].len();
    let values = (0..pixels * samples).map(|i| planes[i % samples][i / samples] as u32);
    Ok(samples_to_bytes(info, values))
}

/// What a codestream's SIZ marker segment declares.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Siz {
    pub width: u32,
    pub height: u32,
    pub tiles: u64,
    /// Per component: (width, height, precision in bits).
    pub components: Vec<(u32, u32, u32)>,
}

/// The SIZ of a raw codestream or of the first codestream of a JP2 file.
pub(crate) fn siz(frame: &[u8]) -> Result<Siz, TranscodeError> {
    let cs = codestream(frame).ok_or_else(|| codec_error("no JPEG 2000 codestream".to_owned()))?;
    if cs.get(..4) != Some(&[0xFF, 0x4F, 0xFF, 0x51][..]) {
        return Err(codec_error("the codestream does not start with SOC and SIZ".to_owned()));
    }
    let seg = &cs[4..];
    let u16_at = |at: usize| seg.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let u32_at = |at: usize| seg.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
    let short = || codec_error("SIZ marker segment cut short".to_owned());
    let field = |at: usize| u32_at(at).ok_or_else(short);
    let (x, y, x0, y0) = (field(4)?, field(8)?, field(12)?, field(16)?);
    let (tx, ty, tx0, ty0) = (field(20)?, field(24)?, field(28)?, field(32)?);
    let count = u16_at(36).ok_or_else(short)?;
    if x <= x0 || y <= y0 || tx == 0 || ty == 0 || tx0 > x0 || ty0 > y0 {
        return Err(codec_error(format!("invalid image or tile size in SIZ ({x}x{y}, origin {x0},{y0}, tiles {tx}x{ty})")));
    }
    let tiles = u64::from((x - tx0).div_ceil(tx)) * u64::from((y - ty0).div_ceil(ty));
    let mut components = Vec::with_capacity(usize::from(count.min(16)));
    for c in 0..usize::from(count) {
        let b = seg.get(38 + 3 * c..41 + 3 * c).ok_or_else(short)?;
        let (dx, dy) = (u32::from(b[1]), u32::from(b[2]));
        if dx == 0 || dy == 0 {
            return Err(codec_error(format!("component {c} with sub-sampling {dx}x{dy}")));
        }
        let width = x.div_ceil(dx) - x0.div_ceil(dx);
        let height = y.div_ceil(dy) - y0.div_ceil(dy);
        components.push((width, height, u32::from(b[0] & 0x7F) + 1));
        if components.len() > 16 {
            break; // more than any dataset has: the count check refuses it
        }
    }
    Ok(Siz { width: x - x0, height: y - y0, tiles, components })
}

/// The declared image must be the dataset's frame, before OpenJPEG sees it.
fn check_header(info: &PixelInfo, siz: &Siz) -> Result<(), TranscodeError> {
    let expected = (u32::from(info.columns), u32::from(info.rows));
    let samples = usize::from(info.samples_per_pixel);
    if (siz.width, siz.height) != expected || siz.components.len() != samples || siz.components.iter().any(|&(w, h, _)| (w, h) != expected)
    {
        return Err(TranscodeError::Mismatch {
            codec: CODEC,
            message: format!(
                "the header declares {}x{} with components {:?}, {samples} of {}x{} expected",
                siz.width, siz.height, siz.components, expected.0, expected.1
            ),
        });
    }
    if let Some(&(_, _, bits)) = siz.components.iter().find(|c| c.2 > u32::from(info.bits_allocated)) {
        return Err(TranscodeError::Mismatch {
            codec: CODEC,
            message: format!("{bits}-bit samples, BitsAllocated {}", info.bits_allocated),
        });
    }
    if siz.tiles > MAX_TILES {
        return Err(TranscodeError::Unsupported(format!("JPEG 2000 codestream of {} tiles (at most {MAX_TILES})", siz.tiles)));
    }
    Ok(())
}

/// The codestream: the frame itself, or the contents of the first `jp2c`
/// box of a JP2 file.
fn codestream(frame: &[u8]) -> Option<&[u8]> {
    if frame.starts_with(&[0xFF, 0x4F]) {
        return Some(frame);
    }
    let mut at = 0usize;
    while at + 8 <= frame.len() {
        let len = u32::from_be_bytes(frame[at..at + 4].try_into().ok()?) as u64;
        let kind = &frame[at + 4..at + 8];
        let (header, len) = match len {
            0 => (8, (frame.len() - at) as u64),
            1 => (16, u64::from_be_bytes(frame.get(at + 8..at + 16)?.try_into().ok()?)),
            n => (8, n),
        };
        if len < header {
            return None;
        }
        let end = at.checked_add(usize::try_from(len).ok()?)?.min(frame.len());
        if kind == b"jp2c" {
            return frame.get(at + header as usize..end);
        }
        at = end;
    }
    None
}

fn codec_error(message: String) -> TranscodeError {
    TranscodeError::Codec { codec: CODEC, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SOC and a SIZ of one tile and `components` 16-bit components.
    pub(crate) fn header(width: u32, height: u32, components: u16) -> Vec<u8> {
        let mut s = vec![0xFF, 0x4F, 0xFF, 0x51];
        s.extend((38 + 3 * components).to_be_bytes());
        s.extend(0u16.to_be_bytes());
        for v in [width, height, 0, 0, width, height, 0, 0] {
            s.extend(v.to_be_bytes());
        }
        s.extend(components.to_be_bytes());
        for _ in 0..components {
            s.extend([15, 1, 1]);
        }
        s
    }

    #[test]
    fn siz_is_read_from_codestreams_and_jp2_files() {
        let cs = header(512, 256, 1);
        let expected = Siz { width: 512, height: 256, tiles: 1, components: vec![(512, 256, 16)] };
        assert_eq!(siz(&cs).unwrap(), expected);
        let mut jp2 = vec![0, 0, 0, 12, b'j', b'P', b' ', b' ', 0x0D, 0x0A, 0x87, 0x0A];
        jp2.extend(((cs.len() + 8) as u32).to_be_bytes());
        jp2.extend(b"jp2c");
        jp2.extend(&cs);
        assert_eq!(siz(&jp2).unwrap(), expected);
        assert!(siz(&cs[..20]).is_err());
        assert!(siz(b"not a codestream").is_err());
    }
}
