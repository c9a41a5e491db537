//! How much pixel data a decode may produce, checked before anything is
//! allocated: the dataset's declared size (Rows × Columns, frames) against
//! configured limits here, and each codec's own header against the dataset
//! in the codec modules. A 1 KB codestream that declares 65500 × 65500
//! pixels is an error, not a 4 GB allocation.
//!
//! The limits are one setting for the process ([`set_limits`], from the
//! archive configuration at start-up), so that every caller of
//! [`crate::decode_frame`] (renditions, rendering on demand, WADO-RS frames,
//! DIMSE re-encoding) is held to the same bounds.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::{PixelInfo, TranscodeError};

/// Bounds on what a dataset may declare before its pixels are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Rows × Columns of one frame.
    pub max_frame_pixels: u64,
    /// Number of Frames of one instance.
    pub max_frames: u64,
    /// Rows × Columns × Number of Frames of one instance.
    pub max_pixels: u64,
}

impl Limits {
    /// 8192 × 8192 pixels a frame (a decoded 16-bit frame of 128 MiB),
    /// 65536 frames, 2^30 pixels an instance.
    pub const DEFAULT: Limits = Limits { max_frame_pixels: 1 << 26, max_frames: 1 << 16, max_pixels: 1 << 30 };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

static MAX_FRAME_PIXELS: AtomicU64 = AtomicU64::new(Limits::DEFAULT.max_frame_pixels);
static MAX_FRAMES: AtomicU64 = AtomicU64::new(Limits::DEFAULT.max_frames);
static MAX_PIXELS: AtomicU64 = AtomicU64::new(Limits::DEFAULT.max_pixels);

/// Set the limits every decode in this process is held to.
pub fn set_limits(limits: Limits) {
    MAX_FRAME_PIXELS.store(limits.max_frame_pixels, Relaxed);
    MAX_FRAMES.store(limits.max_frames, Relaxed);
    MAX_PIXELS.store(limits.max_pixels, Relaxed);
}

/// The limits in force.
pub fn limits() -> Limits {
    Limits { max_frame_pixels: MAX_FRAME_PIXELS.load(Relaxed), max_frames: MAX_FRAMES.load(Relaxed), max_pixels: MAX_PIXELS.load(Relaxed) }
}

/// Whether the pixel data a dataset declares is within the limits in force:
/// callers that read every frame before decoding check this first.
pub fn check_declared_size(info: &PixelInfo) -> Result<(), TranscodeError> {
    check_within(info, &limits())
}

/// [`check_declared_size`] against explicit limits.
pub fn check_within(info: &PixelInfo, limits: &Limits) -> Result<(), TranscodeError> {
    let frame = u64::from(info.rows) * u64::from(info.columns);
    let frames = u64::from(info.number_of_frames.max(1));
    if frame > limits.max_frame_pixels {
        return Err(TranscodeError::TooLarge(format!(
            "{} x {} pixels a frame, more than the limit of {} (max_frame_pixels)",
            info.columns, info.rows, limits.max_frame_pixels
        )));
    }
    if frames > limits.max_frames {
        return Err(TranscodeError::TooLarge(format!("{frames} frames, more than the limit of {} (max_frames)", limits.max_frames)));
    }
    if frame * frames > limits.max_pixels {
        return Err(TranscodeError::TooLarge(format!(
            "{frames} frames of {} x {} pixels, more than the limit of {} pixels an instance (max_pixels)",
            info.columns, info.rows, limits.max_pixels
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(rows: u16, columns: u16, frames: u32) -> PixelInfo {
        PixelInfo { rows, columns, number_of_frames: frames, ..PixelInfo::default() }
    }

    #[test]
    fn declared_sizes_past_each_limit_are_refused() {
        let l = Limits { max_frame_pixels: 100, max_frames: 10, max_pixels: 500 };
        assert!(check_within(&info(10, 10, 5), &l).is_ok());
        assert!(matches!(check_within(&info(10, 11, 1), &l), Err(TranscodeError::TooLarge(_))));
        assert!(matches!(check_within(&info(1, 1, 11), &l), Err(TranscodeError::TooLarge(_))));
        assert!(matches!(check_within(&info(10, 10, 6), &l), Err(TranscodeError::TooLarge(_))));
        assert!(matches!(check_within(&info(65500, 65500, 1), &Limits::DEFAULT), Err(TranscodeError::TooLarge(_))));
        assert!(check_within(&info(4096, 5120, 1), &Limits::DEFAULT).is_ok(), "a mammogram");
        assert!(check_within(&info(512, 512, 3000), &Limits::DEFAULT).is_ok(), "an enhanced CT");
    }
}
