//! 8-bit images to JPEG (`jpeg-encoder`) or PNG (`png`).

use crate::render::Image;
use crate::{ImageFormat, TranscodeError};

pub(crate) fn encode(
    image: &Image,
    format: ImageFormat,
    quality: u8,
) -> Result<Vec<u8>, TranscodeError> {
    match format {
        ImageFormat::Jpeg => jpeg(image, quality.clamp(1, 100)),
        ImageFormat::Png => png(image),
    }
}

fn jpeg(image: &Image, quality: u8) -> Result<Vec<u8>, TranscodeError> {
    let color = if image.channels == 1 {
        jpeg_encoder::ColorType::Luma
    } else {
        jpeg_encoder::ColorType::Rgb
    };
    // Rows and Columns are u16, and resizing only shrinks.
    let width = u16::try_from(image.width).map_err(|_| too_large(image))?;
    let height = u16::try_from(image.height).map_err(|_| too_large(image))?;
    let mut out = Vec::new();
    jpeg_encoder::Encoder::new(&mut out, quality)
        .encode(&image.data, width, height, color)
        .map_err(|error| TranscodeError::Encode(error.to_string()))?;
    Ok(out)
}

fn png(image: &Image) -> Result<Vec<u8>, TranscodeError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, image.width, image.height);
    encoder.set_color(if image.channels == 1 {
        png::ColorType::Grayscale
    } else {
        png::ColorType::Rgb
    });
    encoder.set_depth(png::BitDepth::Eight);
    let encode_error = |error: png::EncodingError| TranscodeError::Encode(error.to_string());
    let mut writer = encoder.write_header().map_err(encode_error)?;
    writer.write_image_data(&image.data).map_err(encode_error)?;
    writer.finish().map_err(encode_error)?;
    Ok(out)
}

fn too_large(image: &Image) -> TranscodeError {
    TranscodeError::Encode(format!(
        "{}x{} is too large for JPEG",
        image.width, image.height
    ))
}
