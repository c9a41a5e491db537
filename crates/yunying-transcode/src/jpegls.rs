//! JPEG-LS (lossless and near-lossless) through CharLS.

use std::ffi::{CStr, c_void};

use charls_sys as charls;

use crate::native::{interleave_planes, pixel_count, samples_to_bytes};
use crate::{PixelInfo, TranscodeError};

const CODEC: &str = "JPEG-LS";

// In CharLS 2.4 but missing from charls-sys's bindings.
unsafe extern "C" {
    fn charls_jpegls_decoder_get_interleave_mode(
        decoder: *const charls::charls_jpegls_decoder,
        interleave_mode: *mut charls::charls_interleave_mode,
    ) -> charls::charls_jpegls_errc;
}

pub(crate) fn decode(info: &PixelInfo, frame: &[u8]) -> Result<Vec<u8>, TranscodeError> {
    let decoder = Decoder::new()?;
    let mut frame_info = charls::charls_frame_info { width: 0, height: 0, bits_per_sample: 0, component_count: 0 };
    let mut interleave = charls::charls_interleave_mode_none;
    let mut size = 0usize;
    // SAFETY: the decoder is valid, `frame` outlives it, and every out
    // pointer refers to a local of the type CharLS writes.
    unsafe {
        check(charls::charls_jpegls_decoder_set_source_buffer(decoder.0, frame.as_ptr().cast::<c_void>(), frame.len()))?;
        check(charls::charls_jpegls_decoder_read_header(decoder.0))?;
        check(charls::charls_jpegls_decoder_get_frame_info(decoder.0, &mut frame_info))?;
        check(charls_jpegls_decoder_get_interleave_mode(decoder.0, &mut interleave))?;
    }
    let expected = (u32::from(info.columns), u32::from(info.rows), i32::from(info.samples_per_pixel));
    let actual = (frame_info.width, frame_info.height, frame_info.component_count);
    if actual != expected {
        return Err(TranscodeError::Mismatch {
            codec: CODEC,
            message: format!("{actual:?} decoded, {expected:?} expected (width, height, samples)"),
        });
    }
    let bits = frame_info.bits_per_sample;
    if bits > i32::from(info.bits_allocated) {
        return Err(TranscodeError::Mismatch {
            codec: CODEC,
            message: format!("{bits}-bit samples, BitsAllocated {}", info.bits_allocated),
        });
    }
    // SAFETY: as above.
    unsafe {
        check(charls::charls_jpegls_decoder_get_destination_size(decoder.0, 0, &mut size))?;
    }
    let sample_bytes = if bits > 8 { 2 } else { 1 };
    let samples = pixel_count(info) * usize::from(info.samples_per_pixel);
    if size != samples * sample_bytes {
        return Err(TranscodeError::Mismatch {
            codec: CODEC,
            message: format!("{size} bytes to decode, {} expected", samples * sample_bytes),
        });
    }
    let mut out = vec![0u8; size];
    // SAFETY: `out` is exactly the size CharLS asked for, with stride 0.
    unsafe {
        check(charls::charls_jpegls_decoder_decode_to_buffer(decoder.0, out.as_mut_ptr().cast::<c_void>(), out.len(), 0))?;
    }
    drop(decoder);
    if info.samples_per_pixel == 3 && interleave == charls::charls_interleave_mode_none {
        out = interleave_planes(&out, 3, sample_bytes);
    }
    Ok(match (sample_bytes, info.bits_allocated) {
        (1, 8) => out,
        (1, _) => samples_to_bytes(info, out.into_iter().map(u32::from)),
        _ => {
            let values = out.chunks_exact(2).map(|pair| u32::from(u16::from_ne_bytes([pair[0], pair[1]])));
            samples_to_bytes(info, values)
        }
    })
}

/// A CharLS decoder, destroyed on drop.
struct Decoder(*mut charls::charls_jpegls_decoder);

impl Decoder {
    fn new() -> Result<Self, TranscodeError> {
        // SAFETY: plain constructor; null is checked.
        let decoder = unsafe { charls::charls_jpegls_decoder_create() };
        if decoder.is_null() {
            return Err(TranscodeError::Codec { codec: CODEC, message: "cannot create a CharLS decoder".to_owned() });
        }
        Ok(Decoder(decoder))
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: created by charls_jpegls_decoder_create, destroyed once.
        unsafe { charls::charls_jpegls_decoder_destroy(self.0) }
    }
}

fn check(code: charls::charls_jpegls_errc) -> Result<(), TranscodeError> {
    if code == charls::charls_jpegls_errc_success {
        return Ok(());
    }
    // SAFETY: CharLS returns a static NUL-terminated message for any code.
    let message = unsafe { CStr::from_ptr(charls::charls_get_error_message(code)) };
    Err(TranscodeError::Codec { codec: CODEC, message: message.to_string_lossy().into_owned() })
}
