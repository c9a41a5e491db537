//! Uncompressed frames, and the checks and sample layout every codec shares.

use crate::{PixelInfo, TranscodeError};

/// Rejects attributes no frame could satisfy.
pub(crate) fn validate(info: &PixelInfo) -> Result<(), TranscodeError> {
    let invalid = |message: String| Err(TranscodeError::InvalidPixelInfo(message));
    if info.rows == 0 || info.columns == 0 {
        return invalid(format!("{}x{} pixels", info.columns, info.rows));
    }
    if !matches!(info.samples_per_pixel, 1 | 3) {
        return invalid(format!("SamplesPerPixel {}", info.samples_per_pixel));
    }
    if !matches!(info.bits_allocated, 1 | 8 | 16 | 32) {
        return invalid(format!("BitsAllocated {}", info.bits_allocated));
    }
    if info.bits_stored == 0 || info.bits_stored > info.bits_allocated {
        return invalid(format!("BitsStored {} with BitsAllocated {}", info.bits_stored, info.bits_allocated));
    }
    if info.pixel_representation > 1 {
        return invalid(format!("PixelRepresentation {}", info.pixel_representation));
    }
    if info.samples_per_pixel == 3 && info.bits_allocated == 1 {
        return invalid("1-bit colour".to_owned());
    }
    Ok(())
}

/// Number of pixels in one frame.
pub(crate) fn pixel_count(info: &PixelInfo) -> usize {
    usize::from(info.rows) * usize::from(info.columns)
}

/// Whether a native frame holds YBR_FULL_422 subsampled as PS3.3 C.7.6.3.1.2
/// describes: Y1 Y2 Cb Cr for each pair of pixels.
pub(crate) fn is_native_422(info: &PixelInfo) -> bool {
    info.samples_per_pixel == 3 && info.photometric_interpretation.trim() == "YBR_FULL_422"
}

/// Size in bytes of one native frame.
pub(crate) fn frame_len(info: &PixelInfo) -> usize {
    let samples = pixel_count(info) * usize::from(info.samples_per_pixel);
    match info.bits_allocated {
        1 => samples.div_ceil(8),
        bits => {
            let bytes = samples * usize::from(bits / 8);
            if is_native_422(info) {
                // two samples per pixel instead of three
                bytes / 3 * 2
            } else {
                bytes
            }
        }
    }
}

/// A native frame with little-endian samples, in its own layout (planar
/// stays planar): only the byte order changes.
pub(crate) fn to_little_endian(info: &PixelInfo, frame: &[u8], big_endian: bool) -> Result<Vec<u8>, TranscodeError> {
    let expected = frame_len(info);
    if frame.len() < expected {
        return Err(TranscodeError::FrameTooShort { expected, actual: frame.len() });
    }
    let mut bytes = frame[..expected].to_vec();
    // 8-bit data are taken as OB, which has no byte order.
    if big_endian && info.bits_allocated >= 16 {
        let width = usize::from(info.bits_allocated / 8);
        bytes.chunks_exact_mut(width).for_each(|sample| sample.reverse());
    }
    Ok(bytes)
}

/// A native frame in Explicit VR Little Endian layout, interleaved.
pub(crate) fn decode(info: &PixelInfo, frame: &[u8], big_endian: bool) -> Result<Vec<u8>, TranscodeError> {
    let mut bytes = to_little_endian(info, frame, big_endian)?;
    if info.samples_per_pixel == 3 && info.planar_configuration == 1 && !is_native_422(info) {
        bytes = interleave_planes(&bytes, 3, usize::from(info.bits_allocated / 8));
    }
    Ok(bytes)
}

/// `RRR..GGG..BBB..` to `RGBRGB..`, for samples `sample_bytes` wide.
pub(crate) fn interleave_planes(planar: &[u8], planes: usize, sample_bytes: usize) -> Vec<u8> {
    let plane_len = planar.len() / planes;
    let mut out = vec![0; plane_len * planes];
    for plane in 0..planes {
        let source = &planar[plane * plane_len..(plane + 1) * plane_len];
        for (i, sample) in source.chunks_exact(sample_bytes).enumerate() {
            let at = (i * planes + plane) * sample_bytes;
            out[at..at + sample_bytes].copy_from_slice(sample);
        }
    }
    out
}

/// Writes decoded sample values (codec output, one `u32` bit pattern per
/// sample) as little-endian samples of `bits_allocated`, sign-extending
/// signed values from `bits_stored` so that e.g. a 12-bit codestream of
/// signed pixels gives proper 16-bit two's complement.
pub(crate) fn samples_to_bytes(info: &PixelInfo, samples: impl ExactSizeIterator<Item = u32>) -> Vec<u8> {
    let width = usize::from(info.bits_allocated / 8).max(1);
    let mut out = Vec::with_capacity(samples.len() * width);
    let stored = u32::from(info.bits_stored);
    let signed = info.pixel_representation == 1 && stored < 32;
    for value in samples {
        let value = if signed {
            let shift = 32 - stored;
            (((value << shift) as i32) >> shift) as u32
        } else {
            value
        };
        out.extend_from_slice(&value.to_le_bytes()[..width]);
    }
    out
}
