//! Lossless HTJ2K encoding (JPEG 2000 Part 15, transfer syntax
//! 1.2.840.10008.1.2.4.201) with `openjph-core`, a pure Rust port of
//! OpenJPH: the full-fidelity streaming copy renditions keep next to the
//! original. Decoding goes through OpenJPEG like every other J2K stream.
//! The crate is vendored with a fix (`vendor/openjph-core/PATCHES.md`):
//! 0.1.0 as published wrote an extra byte after some packet headers, and
//! about 2% of CT slices got a copy no decoder could read (issue 28).

use openjph_core::codestream::Codestream;
use openjph_core::file::MemOutfile;
use openjph_core::types::{Point, Size};

use crate::{PixelInfo, TranscodeError};

/// HTJ2K Lossless Only.
pub const HTJ2K_LOSSLESS: &str = "1.2.840.10008.1.2.4.201";

/// Encode one native frame (little-endian samples, as [`crate::decode_frame`]
/// returns them) as a lossless HTJ2K codestream. Only the BitsStored bits of
/// each sample are kept (sign-extended when signed), which is what the
/// sample means; colour components are coded as they are (no transform).
pub fn encode_htj2k_lossless(info: &PixelInfo, frame: &[u8]) -> Result<Vec<u8>, TranscodeError> {
    let (w, h, spp) = (info.columns as usize, info.rows as usize, info.samples_per_pixel as usize);
    let bytes = match info.bits_allocated {
        8 => 1,
        16 => 2,
        other => return Err(TranscodeError::Unsupported(format!("HTJ2K copy of {other}-bit samples"))),
    };
    if !(spp == 1 || spp == 3) || w == 0 || h == 0 {
        return Err(TranscodeError::Unsupported(format!("HTJ2K copy of {spp} samples per pixel")));
    }
    let bits = info.bits_stored.clamp(1, info.bits_allocated) as u32;
    if frame.len() < w * h * spp * bytes {
        return Err(TranscodeError::FrameTooShort { expected: w * h * spp * bytes, actual: frame.len() });
    }
    let signed = info.pixel_representation == 1;
    let planar = info.planar_configuration == 1 && spp > 1;
    let sample = |i: usize| -> i32 {
        let raw = if bytes == 1 { frame[i] as u32 } else { u16::from_le_bytes([frame[2 * i], frame[2 * i + 1]]) as u32 };
        let v = raw & ((1u64 << bits) - 1) as u32;
        if signed && v >> (bits - 1) & 1 == 1 { v as i32 - (1i32 << bits) } else { v as i32 }
    };

    let mut cs = Codestream::new();
    let siz = cs.access_siz_mut();
    siz.set_image_extent(Point::new(w as u32, h as u32));
    siz.set_num_components(spp as u32);
    for c in 0..spp as u32 {
        siz.set_comp_info(c, Point::new(1, 1), bits, signed);
    }
    siz.set_tile_size(Size::new(w as u32, h as u32));
    let cod = cs.access_cod_mut();
    cod.set_num_decomposition(5);
    cod.set_reversible(true);
    // No colour transform: decoders disagree on undoing it for RGB-labelled
    // data, and losslessness is what matters here.
    cod.set_color_transform(false);
    cs.set_planar(0);
    let mut out = MemOutfile::new();
    cs.write_headers(&mut out, &[]).map_err(codec)?;
    let mut line = vec![0i32; w];
    for y in 0..h {
        for c in 0..spp {
            for (x, v) in line.iter_mut().enumerate() {
                let p = y * w + x;
                *v = sample(if planar { c * w * h + p } else { p * spp + c });
            }
            cs.exchange(&line, c as u32).map_err(codec)?;
        }
    }
    cs.flush(&mut out).map_err(codec)?;
    Ok(out.get_data().to_vec())
}

fn codec(e: impl std::fmt::Display) -> TranscodeError {
    TranscodeError::Encode(format!("HTJ2K: {e}"))
}
