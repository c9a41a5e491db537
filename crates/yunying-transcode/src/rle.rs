//! RLE Lossless (PS3.5 Annex G): a 64-byte header of segment offsets, then
//! one PackBits segment per byte plane, most significant byte first, sample
//! after sample.

use crate::native::pixel_count;
use crate::{PixelInfo, TranscodeError};

const CODEC: &str = "RLE";

pub(crate) fn decode(info: &PixelInfo, frame: &[u8]) -> Result<Vec<u8>, TranscodeError> {
    if info.bits_allocated == 1 {
        return Err(TranscodeError::Unsupported("1-bit RLE".to_owned()));
    }
    let bytes_per_sample = usize::from(info.bits_allocated / 8);
    let samples = usize::from(info.samples_per_pixel);
    let expected_segments = bytes_per_sample * samples;
    let offsets = header(frame)?;
    if offsets.len() != expected_segments {
        return Err(TranscodeError::Mismatch {
            codec: CODEC,
            message: format!(
                "{} segments, {expected_segments} expected for {samples} samples of {} bits",
                offsets.len(),
                info.bits_allocated
            ),
        });
    }
    let pixels = pixel_count(info);
    // Two bytes of PackBits make at most 128: segments too short for the
    // frame are refused before its buffer is allocated.
    for (index, &start) in offsets.iter().enumerate() {
        let end = offsets.get(index + 1).copied().unwrap_or(frame.len());
        if end.saturating_sub(start) / 2 * 128 < pixels {
            return Err(codec_error(format!("segment {index} of {} bytes cannot hold {pixels} pixels", end.saturating_sub(start))));
        }
    }
    let stride = samples * bytes_per_sample;
    let mut out = vec![0u8; pixels * stride];
    let mut plane = Vec::with_capacity(pixels);
    for (index, &start) in offsets.iter().enumerate() {
        let end = offsets.get(index + 1).copied().unwrap_or(frame.len());
        if start < 64 || start > end || end > frame.len() {
            return Err(codec_error(format!("segment {index} at {start}..{end} is out of bounds")));
        }
        unpack_bits(&frame[start..end], pixels, &mut plane)?;
        // Segment `index` holds byte `index % bytes_per_sample` (counted from
        // the most significant) of sample `index / bytes_per_sample`.
        let sample = index / bytes_per_sample;
        let byte = bytes_per_sample - 1 - index % bytes_per_sample;
        let first = sample * bytes_per_sample + byte;
        for (pixel, &value) in plane.iter().enumerate() {
            out[pixel * stride + first] = value;
        }
    }
    Ok(out)
}

/// The segment offsets from the header.
fn header(frame: &[u8]) -> Result<Vec<usize>, TranscodeError> {
    if frame.len() < 64 {
        return Err(codec_error(format!("{} bytes, shorter than the header", frame.len())));
    }
    let word = |i: usize| {
        let bytes = [frame[4 * i], frame[4 * i + 1], frame[4 * i + 2], frame[4 * i + 3]];
        u32::from_le_bytes(bytes) as usize
    };
    let count = word(0);
    if !(1..=15).contains(&count) {
        return Err(codec_error(format!("{count} segments in the header")));
    }
    Ok((1..=count).map(word).collect())
}

/// Decodes one PackBits segment into exactly `len` bytes. Bytes past `len`
/// (the padding of an odd-length segment) are ignored.
fn unpack_bits(segment: &[u8], len: usize, out: &mut Vec<u8>) -> Result<(), TranscodeError> {
    out.clear();
    let mut at = 0;
    while out.len() < len && at < segment.len() {
        let header = segment[at] as i8;
        at += 1;
        match header {
            0..=127 => {
                let count = header as usize + 1;
                let literal =
                    segment.get(at..at + count).ok_or_else(|| codec_error("literal run past the end of its segment".to_owned()))?;
                out.extend_from_slice(literal);
                at += count;
            }
            -127..=-1 => {
                let count = 1 - header as isize;
                let &value = segment.get(at).ok_or_else(|| codec_error("replicate run past the end of its segment".to_owned()))?;
                out.extend(std::iter::repeat_n(value, count as usize));
                at += 1;
            }
            -128 => {}
        }
    }
    if out.len() < len {
        return Err(codec_error(format!("segment decodes to {} of {len} bytes", out.len())));
    }
    out.truncate(len);
    Ok(())
}

fn codec_error(message: String) -> TranscodeError {
    TranscodeError::Codec { codec: CODEC, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packbits_runs() {
        let mut out = Vec::new();
        // literal 3, replicate 4 x 7, no-op, literal 1
        unpack_bits(&[2, 1, 2, 3, 0xFD, 7, 0x80, 0, 9], 8, &mut out).unwrap();
        assert_eq!(out, [1, 2, 3, 7, 7, 7, 7, 9]);
    }

    #[test]
    fn truncated_segments_are_errors() {
        let mut out = Vec::new();
        assert!(unpack_bits(&[5, 1, 2], 6, &mut out).is_err());
        assert!(unpack_bits(&[0xFD], 4, &mut out).is_err());
        assert!(unpack_bits(&[0, 1], 4, &mut out).is_err());
    }

    #[test]
    fn two_byte_samples_put_the_high_segment_first() {
        let info = PixelInfo { rows: 1, columns: 2, bits_allocated: 16, bits_stored: 16, high_bit: 15, ..PixelInfo::default() };
        let mut frame = vec![0u8; 64];
        frame[0] = 2;
        frame[4] = 64;
        frame[8] = 67;
        frame.extend_from_slice(&[1, 0x12, 0x34]); // high bytes
        frame.extend_from_slice(&[1, 0x56, 0x78]); // low bytes
        assert_eq!(decode(&info, &frame).unwrap(), [0x56, 0x12, 0x78, 0x34]);
    }
}
