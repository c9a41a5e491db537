//! JPEG 2000 and HTJ2K (Part 15) through OpenJPEG 2.5, which also undoes
//! the reversible and irreversible component transforms.

use crate::native::samples_to_bytes;
use crate::{PixelInfo, TranscodeError};

const CODEC: &str = "JPEG 2000";

pub(crate) fn decode(info: &PixelInfo, frame: &[u8]) -> Result<Vec<u8>, TranscodeError> {
    // Some writers wrap the codestream in a JP2 file; OpenJPEG reads both.
    let image = jpeg2k::Image::from_bytes(frame).map_err(|error| TranscodeError::Codec {
        codec: CODEC,
        message: error.to_string(),
    })?;
    let components = image.components();
    let (width, height) = (u32::from(info.columns), u32::from(info.rows));
    let samples = usize::from(info.samples_per_pixel);
    let shapes: Vec<(u32, u32)> = components.iter().map(|c| (c.width(), c.height())).collect();
    if components.len() != samples || shapes.iter().any(|&shape| shape != (width, height)) {
        return Err(TranscodeError::Mismatch {
            codec: CODEC,
            message: format!(
                "components {shapes:?} decoded, {samples} of {width}x{height} expected"
            ),
        });
    }
    if let Some(component) = components
        .iter()
        .find(|c| c.precision() > u32::from(info.bits_allocated))
    {
        return Err(TranscodeError::Mismatch {
            codec: CODEC,
            message: format!(
                "{}-bit samples, BitsAllocated {}",
                component.precision(),
                info.bits_allocated
            ),
        });
    }
    let planes: Vec<&[i32]> = components.iter().map(|c| c.data()).collect();
    let pixels = planes[0].len();
    let values = (0..pixels * samples).map(|i| planes[i % samples][i / samples] as u32);
    Ok(samples_to_bytes(info, values))
}
