//! From decoded samples to 8-bit display values: modality rescale, VOI,
//! MONOCHROME1 inversion, colour to RGB (PS3.3 C.11 and C.7.6.3).

use crate::native::{frame_len, is_native_422, pixel_count};
use crate::{Decoded, Lut, PixelInfo, TranscodeError};

/// An 8-bit image, grayscale (1 channel) or RGB (3), rows top to bottom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Image {
    pub width: u32,
    pub height: u32,
    pub channels: u8,
    pub data: Vec<u8>,
}

/// The VOI transform chosen for a monochrome frame.
#[derive(Debug, Clone, PartialEq)]
enum Voi<'a> {
    Window { center: f64, width: f64, function: Function },
    Lut(&'a Lut),
    MinMax,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Function {
    Linear,
    LinearExact,
    Sigmoid,
}

/// Display values for a decoded frame. `window` is the request's (center,
/// width, function), which wins over everything in the dataset.
pub(crate) fn to_display(
    info: &PixelInfo,
    decoded: &Decoded,
    window: Option<&(f64, f64, Option<String>)>,
) -> Result<Image, TranscodeError> {
    let (width, height) = (u32::from(info.columns), u32::from(info.rows));
    let photometric = decoded.photometric_interpretation.as_str();
    // Colour is three samples a pixel, grey levels and palette indices one
    // (the fuzz target `frame` found RGB and YBR with one sample: a panic,
    // issue 24).
    let samples = match photometric {
        "RGB" | "YBR_FULL" | "YBR_FULL_422" => Some(3),
        "MONOCHROME1" | "MONOCHROME2" | "PALETTE COLOR" => Some(1),
        _ => None,
    };
    if let Some(samples) = samples
        && info.samples_per_pixel != samples
    {
        return Err(TranscodeError::InvalidPixelInfo(format!("{photometric} with {} samples per pixel", info.samples_per_pixel)));
    }
    let data = match photometric {
        "MONOCHROME1" | "MONOCHROME2" => {
            let voi = choose_voi(info, window)?;
            let mut data = monochrome(info, &decoded.bytes, &voi);
            if photometric == "MONOCHROME1" {
                data.iter_mut().for_each(|value| *value = 255 - *value);
            }
            return Ok(Image { width, height, channels: 1, data });
        }
        "PALETTE COLOR" => palette(info, &decoded.bytes)?,
        "RGB" => rgb(info, &decoded.bytes)?,
        "YBR_FULL" => ybr_full(&rgb(info, &decoded.bytes)?),
        // Native YBR_FULL_422 is subsampled; from a codec it is not.
        "YBR_FULL_422" if decoded.bytes.len() == frame_len(info) && is_native_422(info) => ybr_full(&upsample_422(info, &decoded.bytes)?),
        "YBR_FULL_422" => ybr_full(&rgb(info, &decoded.bytes)?),
        other => {
            return Err(TranscodeError::Unsupported(format!("rendering photometric interpretation {other:?}")));
        }
    };
    // Resizing and encoding index the image by its size.
    let expected = pixel_count(info) * 3;
    if data.len() != expected {
        return Err(TranscodeError::FrameTooShort { expected, actual: data.len() });
    }
    Ok(Image { width, height, channels: 3, data })
}

/// Request window > dataset window (the first pair) > VOI LUT > min/max.
fn choose_voi<'a>(info: &'a PixelInfo, window: Option<&(f64, f64, Option<String>)>) -> Result<Voi<'a>, TranscodeError> {
    if let Some((center, width, function)) = window {
        let function = parse_function(function.as_deref())?;
        return window_voi(*center, *width, function).ok_or_else(|| TranscodeError::InvalidPixelInfo(format!("window {center}/{width}")));
    }
    // A dataset function we do not know falls back to LINEAR.
    let function = parse_function(info.voi_lut_function.as_deref()).unwrap_or(Function::Linear);
    if let Some(voi) = info.windows.first().and_then(|&(center, width)| window_voi(center, width, function)) {
        return Ok(voi);
    }
    match &info.voi_lut {
        Some(lut) if !lut.data.is_empty() => Ok(Voi::Lut(lut)),
        _ => Ok(Voi::MinMax),
    }
}

/// A window, if its width is usable for the function (PS3.3 C.11.2.1.2).
fn window_voi(center: f64, width: f64, function: Function) -> Option<Voi<'static>> {
    let minimum = if function == Function::Linear { 1.0 } else { 0.0 };
    let usable = center.is_finite() && width.is_finite() && width >= minimum && width > 0.0;
    usable.then_some(Voi::Window { center, width, function })
}

fn parse_function(function: Option<&str>) -> Result<Function, TranscodeError> {
    match function.map(|f| f.trim().to_ascii_uppercase()).as_deref() {
        None | Some("") | Some("LINEAR") => Ok(Function::Linear),
        Some("LINEAR_EXACT") => Ok(Function::LinearExact),
        Some("SIGMOID") => Ok(Function::Sigmoid),
        Some(other) => Err(TranscodeError::Unsupported(format!("VOI LUT function {other}"))),
    }
}

/// Stored values of a monochrome frame, as `i64` within Bits Stored.
fn stored_values(info: &PixelInfo, bytes: &[u8]) -> Vec<i64> {
    let count = pixel_count(info);
    let stored = u32::from(info.bits_stored);
    // Lenient about High Bit: a value that cannot be right means "stored
    // bits at the bottom".
    let high_bit = u32::from(info.high_bit);
    let shift = if high_bit < u32::from(info.bits_allocated) && high_bit + 1 >= stored { high_bit + 1 - stored } else { 0 };
    let mask = if stored >= 32 { u32::MAX } else { (1 << stored) - 1 };
    let signed = info.pixel_representation == 1;
    let extract = |raw: u32| {
        let value = (raw >> shift) & mask;
        if signed && stored < 32 && value >> (stored - 1) == 1 {
            i64::from(value) - (1i64 << stored)
        } else if signed && stored == 32 {
            i64::from(value as i32)
        } else {
            i64::from(value)
        }
    };
    match info.bits_allocated {
        1 => (0..count).map(|i| extract(u32::from(bytes[i / 8] >> (i % 8) & 1))).collect(),
        8 => bytes[..count].iter().map(|&b| extract(u32::from(b))).collect(),
        16 => bytes.chunks_exact(2).take(count).map(|s| extract(u32::from(u16::from_le_bytes([s[0], s[1]])))).collect(),
        _ => bytes.chunks_exact(4).take(count).map(|s| extract(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))).collect(),
    }
}

/// Modality rescale then VOI, to 0..=255.
fn monochrome(info: &PixelInfo, bytes: &[u8], voi: &Voi) -> Vec<u8> {
    let stored = stored_values(info, bytes);
    let slope = if info.rescale_slope.is_finite() && info.rescale_slope != 0.0 { info.rescale_slope } else { 1.0 };
    let intercept = if info.rescale_intercept.is_finite() { info.rescale_intercept } else { 0.0 };
    let modality = |value: i64| value as f64 * slope + intercept;
    match voi {
        Voi::Window { center, width, function } => {
            let display = |v: i64| to_u8(window(modality(v), *center, *width, *function));
            // A table over the stored values' range when the image has more
            // pixels than the range has values (CT, MR, CR: always).
            let (lo, hi) = stored.iter().fold((i64::MAX, i64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            if lo <= hi && ((hi - lo) as usize) < stored.len() / 2 {
                let table: Vec<u8> = (lo..=hi).map(display).collect();
                stored.iter().map(|&v| table[(v - lo) as usize]).collect()
            } else {
                stored.iter().map(|&v| display(v)).collect()
            }
        }
        Voi::Lut(lut) => {
            let (first, maximum) = lut_range(lut, info.pixel_representation == 1);
            let last = lut.data.len() - 1;
            stored
                .iter()
                .map(|&v| {
                    let index = (modality(v).round() - first as f64).clamp(0.0, last as f64);
                    to_u8(f64::from(lut.data[index as usize]) / maximum)
                })
                .collect()
        }
        Voi::MinMax => {
            let values: Vec<f64> = stored.iter().map(|&v| modality(v)).collect();
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let range = max - min;
            values.iter().map(|&v| if range > 0.0 { to_u8((v - min) / range) } else { 0 }).collect()
        }
    }
}

/// The VOI window functions of PS3.3 C.11.2.1.2, giving 0.0..=1.0.
fn window(x: f64, center: f64, width: f64, function: Function) -> f64 {
    match function {
        Function::Linear => {
            let (c, w) = (center - 0.5, width - 1.0);
            if x <= c - w / 2.0 {
                0.0
            } else if x > c + w / 2.0 {
                1.0
            } else {
                (x - c) / w + 0.5
            }
        }
        Function::LinearExact => {
            if x <= center - width / 2.0 {
                0.0
            } else if x > center + width / 2.0 {
                1.0
            } else {
                (x - center) / width + 0.5
            }
        }
        Function::Sigmoid => 1.0 / (1.0 + (-4.0 * (x - center) / width).exp()),
    }
}

/// First mapped input value and the largest possible entry of a LUT.
fn lut_range(lut: &Lut, signed: bool) -> (i64, f64) {
    let [_, first, bits] = lut.descriptor;
    let first = if signed { i64::from(first as u16 as i16) } else { i64::from(first) };
    let maximum = if (1..=16).contains(&bits) {
        f64::from((1u32 << bits) - 1)
    } else {
        f64::from(lut.data.iter().copied().max().unwrap_or(1).max(1))
    };
    (first, maximum)
}

fn to_u8(unit: f64) -> u8 {
    (unit.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Interleaved colour samples to 8 bits (wider ones keep their top bits).
fn rgb(info: &PixelInfo, bytes: &[u8]) -> Result<Vec<u8>, TranscodeError> {
    let count = pixel_count(info) * 3;
    let sample_bytes = match info.bits_allocated {
        8 => 1,
        16 => 2,
        _ => 4,
    };
    if bytes.len() < count * sample_bytes {
        return Err(TranscodeError::FrameTooShort { expected: count * sample_bytes, actual: bytes.len() });
    }
    Ok(match info.bits_allocated {
        8 => bytes[..count].to_vec(),
        16 => {
            let shift = info.bits_stored.saturating_sub(8).min(8);
            bytes.chunks_exact(2).take(count).map(|s| (u16::from_le_bytes([s[0], s[1]]) >> shift).min(255) as u8).collect()
        }
        _ => {
            let shift = info.bits_stored.saturating_sub(8).min(24);
            bytes.chunks_exact(4).take(count).map(|s| (u32::from_le_bytes([s[0], s[1], s[2], s[3]]) >> shift).min(255) as u8).collect()
        }
    })
}

/// YCbCr (full range, PS3.3 C.7.6.3.1.2) to RGB, in place of 8-bit triples.
fn ybr_full(ybr: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(ybr.len());
    for pixel in ybr.chunks_exact(3) {
        let y = f64::from(pixel[0]);
        let cb = f64::from(pixel[1]) - 128.0;
        let cr = f64::from(pixel[2]) - 128.0;
        let clamp = |v: f64| v.round().clamp(0.0, 255.0) as u8;
        out.push(clamp(y + 1.402 * cr));
        out.push(clamp(y - 0.344136 * cb - 0.714136 * cr));
        out.push(clamp(y + 1.772 * cb));
    }
    out
}

/// Native YBR_FULL_422 (Y1 Y2 Cb Cr per pair of pixels) to YBR_FULL triples.
fn upsample_422(info: &PixelInfo, bytes: &[u8]) -> Result<Vec<u8>, TranscodeError> {
    if info.bits_allocated != 8 || !info.columns.is_multiple_of(2) {
        return Err(TranscodeError::Unsupported("YBR_FULL_422 other than 8-bit with an even number of columns".to_owned()));
    }
    let mut out = Vec::with_capacity(pixel_count(info) * 3);
    for pair in bytes[..frame_len(info)].chunks_exact(4) {
        out.extend_from_slice(&[pair[0], pair[2], pair[3], pair[1], pair[2], pair[3]]);
    }
    Ok(out)
}

/// PALETTE COLOR through the red, green and blue LUTs.
fn palette(info: &PixelInfo, bytes: &[u8]) -> Result<Vec<u8>, TranscodeError> {
    let Some(luts) = &info.palette else {
        return Err(TranscodeError::InvalidPixelInfo("PALETTE COLOR without palette LUTs".to_owned()));
    };
    if luts.iter().any(|lut| lut.data.is_empty()) {
        return Err(TranscodeError::InvalidPixelInfo("empty palette LUT".to_owned()));
    }
    let stored = stored_values(info, bytes);
    let mut out = Vec::with_capacity(stored.len() * 3);
    for value in stored {
        for lut in luts {
            // Palette indices are unsigned even for signed data (C.7.6.3.1.5).
            let (first, maximum) = lut_range(lut, false);
            let index = (value - first).clamp(0, lut.data.len() as i64 - 1) as usize;
            out.push(to_u8(f64::from(lut.data[index]) / maximum));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_window_matches_the_standard() {
        // C.11.2.1.2.1: center 40, width 400 maps <= -160 to 0, > 239 to 1.
        assert_eq!(window(-160.0, 40.0, 400.0, Function::Linear), 0.0);
        assert_eq!(window(240.0, 40.0, 400.0, Function::Linear), 1.0);
        assert!((window(39.5, 40.0, 400.0, Function::Linear) - 0.5).abs() < 1e-9);
        assert!((window(40.0, 40.0, 400.0, Function::LinearExact) - 0.5).abs() < 1e-9);
        assert!((window(40.0, 40.0, 400.0, Function::Sigmoid) - 0.5).abs() < 1e-9);
    }

    #[test]
    fn signed_12_bit_values_in_16_bits_are_sign_extended() {
        let info = PixelInfo {
            rows: 1,
            columns: 2,
            bits_allocated: 16,
            bits_stored: 12,
            high_bit: 11,
            pixel_representation: 1,
            ..PixelInfo::default()
        };
        // 0x0FFF is -1 in 12 bits; 0xF7FF has junk above the high bit.
        assert_eq!(stored_values(&info, &[0xFF, 0x0F, 0xFF, 0xF7]), [-1, 2047]);
    }

    #[test]
    fn ybr_full_grey_stays_grey() {
        assert_eq!(ybr_full(&[100, 128, 128]), [100, 100, 100]);
    }
}
