//! 8-bit images to JPEG (libjpeg-turbo) or PNG (`png`).

use turbojpeg_sys as tj;

use crate::render::Image;
use crate::{ImageFormat, TranscodeError};

pub(crate) fn encode(image: &Image, format: ImageFormat, quality: u8) -> Result<Vec<u8>, TranscodeError> {
    match format {
        ImageFormat::Jpeg => jpeg(image, quality.clamp(1, 100)),
        ImageFormat::Png => png(image),
    }
}

/// JPEG through libjpeg-turbo (its SIMD encoder; already linked for
/// decoding): grayscale, or RGB without chroma subsampling.
fn jpeg(image: &Image, quality: u8) -> Result<Vec<u8>, TranscodeError> {
    let (format, subsampling) =
        if image.channels == 1 { (tj::TJPF_TJPF_GRAY, tj::TJSAMP_TJSAMP_GRAY) } else { (tj::TJPF_TJPF_RGB, tj::TJSAMP_TJSAMP_444) };
    let (width, height) =
        (i32::try_from(image.width).map_err(|_| too_large(image))?, i32::try_from(image.height).map_err(|_| too_large(image))?);
    if width > 65_535 || height > 65_535 {
        return Err(too_large(image));
    }
    let expected = image.width as usize * image.height as usize * usize::from(image.channels);
    if image.data.len() != expected {
        return Err(TranscodeError::Encode(format!("{} bytes for a {}x{}x{} image", image.data.len(), width, height, image.channels)));
    }
    // SAFETY: plain constructor; a null handle is checked.
    let handle = unsafe { tj::tj3Init(tj::TJINIT_TJINIT_COMPRESS as i32) };
    if handle.is_null() {
        return Err(TranscodeError::Encode("cannot create a TurboJPEG compressor".into()));
    }
    let compressor = Compressor(handle);
    let mut buffer: *mut u8 = std::ptr::null_mut();
    let mut size: tj::size_t = 0;
    // SAFETY: the handle is valid; `image.data` holds width × height ×
    // channels bytes (checked above), packed (pitch 0); TurboJPEG allocates
    // the output, freed below.
    let status = unsafe {
        let mut status = tj::tj3Set(compressor.0, tj::TJPARAM_TJPARAM_QUALITY as i32, i32::from(quality));
        if status == 0 {
            status = tj::tj3Set(compressor.0, tj::TJPARAM_TJPARAM_SUBSAMP as i32, subsampling);
        }
        if status == 0 {
            status = tj::tj3Compress8(compressor.0, image.data.as_ptr(), width, 0, height, format, &mut buffer, &mut size);
        }
        status
    };
    let result = if status == 0 && !buffer.is_null() {
        // SAFETY: TurboJPEG wrote `size` bytes at `buffer`.
        Ok(unsafe { std::slice::from_raw_parts(buffer, size as usize) }.to_vec())
    } else {
        // SAFETY: a NUL-terminated message owned by the handle.
        let message = unsafe { std::ffi::CStr::from_ptr(tj::tj3GetErrorStr(compressor.0)) };
        Err(TranscodeError::Encode(message.to_string_lossy().into_owned()))
    };
    if !buffer.is_null() {
        // SAFETY: allocated by TurboJPEG for this call, freed once.
        unsafe { tj::tj3Free(buffer.cast()) };
    }
    result
}

struct Compressor(tj::tjhandle);

impl Drop for Compressor {
    fn drop(&mut self) {
        // SAFETY: the handle came from tj3Init and is destroyed once.
        unsafe { tj::tj3Destroy(self.0) }
    }
}

fn png(image: &Image) -> Result<Vec<u8>, TranscodeError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, image.width, image.height);
    encoder.set_color(if image.channels == 1 { png::ColorType::Grayscale } else { png::ColorType::Rgb });
    encoder.set_depth(png::BitDepth::Eight);
    let encode_error = |error: png::EncodingError| TranscodeError::Encode(error.to_string());
    let mut writer = encoder.write_header().map_err(encode_error)?;
    writer.write_image_data(&image.data).map_err(encode_error)?;
    writer.finish().map_err(encode_error)?;
    Ok(out)
}

fn too_large(image: &Image) -> TranscodeError {
    TranscodeError::Encode(format!("{}x{} is too large for JPEG", image.width, image.height))
}
