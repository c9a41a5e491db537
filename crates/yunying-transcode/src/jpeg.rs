//! JPEG: libjpeg-turbo (through TurboJPEG 3) for the DCT processes, 8- and
//! 12-bit; `jpeg-decoder` for lossless JPEG, which it decodes without any
//! colour conversion, as DICOM expects.

use std::ffi::CStr;

use turbojpeg_sys as tj;

use crate::native::{pixel_count, samples_to_bytes};
use crate::{PixelInfo, TranscodeError};

/// Progressive scans a DCT stream may have (libjpeg-turbo's recommended
/// limit for untrusted input; real encoders write about ten).
const MAX_SCANS: i32 = 500;

/// A DCT-based (baseline or extended) JPEG frame. Colour comes out as RGB.
pub(crate) fn decode_dct(info: &PixelInfo, frame: &[u8]) -> Result<Vec<u8>, TranscodeError> {
    let marked;
    let frame = if info.samples_per_pixel == 3 && info.photometric_interpretation.trim() == "RGB" && colour_space_unmarked(frame) {
        // The stream does not say whether it holds YCbCr or RGB, so
        // libjpeg would assume YCbCr; the dataset says RGB (PS3.5 8.2.1:
        // no colour transform was applied). An Adobe marker with transform
        // 0 tells libjpeg so.
        marked = with_adobe_rgb_marker(frame);
        &marked[..]
    } else {
        frame
    };
    let decompressor = Decompressor::new()?;
    // Defence in depth behind the header check below: libjpeg-turbo itself
    // refuses more pixels than the dataset has, and hostile progressive
    // streams of thousands of scans.
    decompressor.set(tj::TJPARAM_TJPARAM_MAXPIXELS, pixel_count(info).try_into().unwrap_or(i32::MAX))?;
    decompressor.set(tj::TJPARAM_TJPARAM_SCANLIMIT, MAX_SCANS)?;
    decompressor.read_header(frame)?;
    let width = decompressor.get(tj::TJPARAM_TJPARAM_JPEGWIDTH);
    let height = decompressor.get(tj::TJPARAM_TJPARAM_JPEGHEIGHT);
    let precision = decompressor.get(tj::TJPARAM_TJPARAM_PRECISION);
    let colorspace = decompressor.get(tj::TJPARAM_TJPARAM_COLORSPACE);
    let components = if colorspace == tj::TJCS_TJCS_GRAY as i32 { 1 } else { 3 };
    if colorspace == tj::TJCS_TJCS_CMYK as i32 || colorspace == tj::TJCS_TJCS_YCCK as i32 {
        return Err(TranscodeError::Unsupported("CMYK JPEG".to_owned()));
    }
    check_dimensions(info, "JPEG", width, height, components)?;
    let format = if components == 1 { tj::TJPF_TJPF_GRAY } else { tj::TJPF_TJPF_RGB };
    let samples = pixel_count(info) * components as usize;
    match precision {
        8 => {
            let mut out = vec![0u8; samples];
            // SAFETY: `out` holds width * height * components samples, the
            // size TurboJPEG writes for this pixel format and pitch 0.
            let status = unsafe { tj::tj3Decompress8(decompressor.handle, frame.as_ptr(), frame.len() as _, out.as_mut_ptr(), 0, format) };
            decompressor.check(status)?;
            if info.bits_allocated == 8 { Ok(out) } else { Ok(samples_to_bytes(info, out.into_iter().map(u32::from))) }
        }
        12 => {
            let mut out = vec![0i16; samples];
            // SAFETY: as above, with 12-bit samples in 16-bit cells.
            let status = unsafe { tj::tj3Decompress12(decompressor.handle, frame.as_ptr(), frame.len() as _, out.as_mut_ptr(), 0, format) };
            decompressor.check(status)?;
            check_wide(info, 12)?;
            Ok(samples_to_bytes(info, out.into_iter().map(|v| v as u16 as u32)))
        }
        other => Err(TranscodeError::Unsupported(format!("{other}-bit DCT JPEG"))),
    }
}

/// Whether a JPEG stream leaves its colour space to the decoder's guess: no
/// JFIF (APP0) or Adobe (APP14) marker before the frame header, and
/// component identifiers other than 'R', 'G', 'B' (which libjpeg reads as
/// RGB).
fn colour_space_unmarked(frame: &[u8]) -> bool {
    if !frame.starts_with(&[0xFF, 0xD8]) {
        return false;
    }
    let mut at = 2;
    while at + 4 <= frame.len() {
        if frame[at] != 0xFF {
            return false;
        }
        let marker = frame[at + 1];
        if marker == 0xFF {
            at += 1; // fill byte
            continue;
        }
        let len = usize::from(u16::from_be_bytes([frame[at + 2], frame[at + 3]]));
        let segment = frame.get(at + 4..at + 2 + len).unwrap_or(&[]);
        match marker {
            0xE0 if segment.starts_with(b"JFIF\0") => return false,
            0xEE if segment.starts_with(b"Adobe") => return false,
            // SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC).
            0xC0..=0xCF if !matches!(marker, 0xC4 | 0xC8 | 0xCC) => {
                let ids: Vec<u8> =
                    (0..usize::from(*segment.get(5).unwrap_or(&0))).filter_map(|k| segment.get(6 + 3 * k).copied()).collect();
                return ids != b"RGB";
            }
            0xDA | 0xD9 => return false,
            _ => {}
        }
        at += 2 + len;
    }
    false
}

/// `frame` with an Adobe APP14 marker (transform 0: no colour transform)
/// right after SOI.
fn with_adobe_rgb_marker(frame: &[u8]) -> Vec<u8> {
    const ADOBE_RGB: [u8; 16] = [0xFF, 0xEE, 0x00, 0x0E, b'A', b'd', b'o', b'b', b'e', 0x00, 0x64, 0x00, 0x00, 0x00, 0x00, 0x00];
    let mut out = Vec::with_capacity(frame.len() + ADOBE_RGB.len());
    out.extend_from_slice(&frame[..2]);
    out.extend_from_slice(&ADOBE_RGB);
    out.extend_from_slice(&frame[2..]);
    out
}

/// A lossless JPEG (Process 14) frame; samples are returned as coded.
pub(crate) fn decode_lossless(info: &PixelInfo, frame: &[u8]) -> Result<Vec<u8>, TranscodeError> {
    let codec_error = |error: jpeg_decoder::Error| TranscodeError::Codec { codec: "lossless JPEG", message: error.to_string() };
    let mut decoder = jpeg_decoder::Decoder::new(frame);
    // The most the dataset's frame can take (16-bit samples): the decoder
    // refuses a header that needs more.
    let most = pixel_count(info) * usize::from(info.samples_per_pixel) * 2;
    decoder.set_max_decoding_buffer_size(most.max(1));
    guard(|| decoder.read_info())?.map_err(codec_error)?;
    let Some(header) = decoder.info() else {
        return Err(codec_error(jpeg_decoder::Error::Format("no frame header".to_owned())));
    };
    let components = match header.pixel_format {
        jpeg_decoder::PixelFormat::L8 | jpeg_decoder::PixelFormat::L16 => 1,
        jpeg_decoder::PixelFormat::RGB24 => 3,
        jpeg_decoder::PixelFormat::CMYK32 => 4,
    };
    // Checked before decoding allocates anything.
    check_dimensions(info, "lossless JPEG", header.width.into(), header.height.into(), components)?;
    let pixels = guard(|| decoder.decode())?.map_err(codec_error)?;
    let samples = pixel_count(info) * components as usize;
    if pixels.len() == samples {
        // 8-bit precision: one byte per sample.
        check_wide(info, 8)?;
        Ok(if info.bits_allocated == 8 { pixels } else { samples_to_bytes(info, pixels.into_iter().map(u32::from)) })
    } else if pixels.len() == samples * 2 {
        // Other precisions: native-endian u16 per sample.
        check_wide(info, 16.min(info.bits_stored))?;
        let values = pixels.chunks_exact(2).map(|pair| u32::from(u16::from_ne_bytes([pair[0], pair[1]])));
        Ok(samples_to_bytes(info, values))
    } else {
        Err(TranscodeError::Mismatch { codec: "lossless JPEG", message: format!("{} bytes decoded for {samples} samples", pixels.len()) })
    }
}

/// Runs `jpeg-decoder`, turning a panic (it is safe Rust, but hostile input
/// has made such decoders panic before) into an error.
fn guard<T>(decode: impl FnOnce() -> T) -> Result<T, TranscodeError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(decode))
        .map_err(|_| TranscodeError::Codec { codec: "lossless JPEG", message: "the decoder panicked".to_owned() })
}

/// The codestream's size and component count must be the dataset's.
fn check_dimensions(info: &PixelInfo, codec: &'static str, width: i32, height: i32, components: i32) -> Result<(), TranscodeError> {
    let expected = (i32::from(info.columns), i32::from(info.rows), i32::from(info.samples_per_pixel));
    if (width, height, components) != expected {
        return Err(TranscodeError::Mismatch {
            codec,
            message: format!("{width}x{height}x{components} decoded, {}x{}x{} expected", expected.0, expected.1, expected.2),
        });
    }
    Ok(())
}

/// Decoded samples of `bits` must fit in Bits Allocated.
fn check_wide(info: &PixelInfo, bits: u16) -> Result<(), TranscodeError> {
    if info.bits_allocated < bits {
        return Err(TranscodeError::Mismatch {
            codec: "JPEG",
            message: format!("{bits}-bit samples, BitsAllocated {}", info.bits_allocated),
        });
    }
    Ok(())
}

/// A TurboJPEG decompression handle, destroyed on drop.
struct Decompressor {
    handle: tj::tjhandle,
}

impl Decompressor {
    fn new() -> Result<Self, TranscodeError> {
        // SAFETY: plain constructor; a null handle is checked below.
        let handle = unsafe { tj::tj3Init(tj::TJINIT_TJINIT_DECOMPRESS as i32) };
        if handle.is_null() {
            return Err(TranscodeError::Codec { codec: "JPEG", message: "cannot create a TurboJPEG decompressor".to_owned() });
        }
        Ok(Decompressor { handle })
    }

    fn read_header(&self, frame: &[u8]) -> Result<(), TranscodeError> {
        // SAFETY: the handle is valid; the buffer is read within its length.
        let status = unsafe { tj::tj3DecompressHeader(self.handle, frame.as_ptr(), frame.len() as _) };
        self.check(status)
    }

    fn set(&self, parameter: tj::TJPARAM, value: i32) -> Result<(), TranscodeError> {
        // SAFETY: the handle is valid; an unknown parameter gives -1.
        let status = unsafe { tj::tj3Set(self.handle, parameter as i32, value) };
        self.check(status)
    }

    fn get(&self, parameter: tj::TJPARAM) -> i32 {
        // SAFETY: the handle is valid; unknown parameters give -1.
        unsafe { tj::tj3Get(self.handle, parameter as i32) }
    }

    fn check(&self, status: i32) -> Result<(), TranscodeError> {
        if status == 0 {
            return Ok(());
        }
        // SAFETY: TurboJPEG returns a NUL-terminated string it owns, valid
        // until the next call on this handle.
        let message = unsafe { CStr::from_ptr(tj::tj3GetErrorStr(self.handle)) };
        Err(TranscodeError::Codec { codec: "JPEG", message: message.to_string_lossy().into_owned() })
    }
}

impl Drop for Decompressor {
    fn drop(&mut self) {
        // SAFETY: the handle came from tj3Init and is destroyed once.
        unsafe { tj::tj3Destroy(self.handle) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SOI, an optional marker segment, then a 3-component SOF0 header.
    fn stream(extra: &[u8], ids: [u8; 3]) -> Vec<u8> {
        let mut s = vec![0xFF, 0xD8];
        s.extend_from_slice(extra);
        s.extend_from_slice(&[0xFF, 0xC0, 0x00, 0x11, 8, 0, 8, 0, 8, 3]);
        for id in ids {
            s.extend_from_slice(&[id, 0x11, 0]);
        }
        s.extend_from_slice(&[0xFF, 0xDA]);
        s
    }

    #[test]
    fn only_streams_silent_about_their_colour_space_are_unmarked() {
        assert!(colour_space_unmarked(&stream(&[], [0, 1, 2])));
        assert!(colour_space_unmarked(&stream(&[], [1, 2, 3])));
        assert!(!colour_space_unmarked(&stream(&[], *b"RGB")));
        let jfif = [0xFF, 0xE0, 0x00, 0x07, b'J', b'F', b'I', b'F', 0];
        assert!(!colour_space_unmarked(&stream(&jfif, [1, 2, 3])));
        let marked = with_adobe_rgb_marker(&stream(&[], [0, 1, 2]));
        assert!(!colour_space_unmarked(&marked));
        assert_eq!(&marked[2..4], &[0xFF, 0xEE]);
    }
}
