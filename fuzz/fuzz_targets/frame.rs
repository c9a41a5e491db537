//! Each pixel decoder through `decode_frame` and `render` with hostile
//! headers: a Pixel module from the first bytes (any size, bit depth,
//! sign, photometric interpretation, planar configuration, rescale and
//! window), a transfer syntax (native both endians, RLE, JPEG 8/12-bit and
//! lossless, JPEG-LS, JPEG 2000, HTJ2K), and the frame from the rest. As in
//! retrieval, a declared size past the limits is refused before decoding;
//! what the codestream itself declares is the decoder's to bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use yunying_transcode::{ImageFormat, PixelInfo, RenderOptions};

const SYNTAXES: [&str; 12] = [
    "1.2.840.10008.1.2.1",
    "1.2.840.10008.1.2.2",
    "1.2.840.10008.1.2.5",
    "1.2.840.10008.1.2.4.50",
    "1.2.840.10008.1.2.4.51",
    "1.2.840.10008.1.2.4.57",
    "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.80",
    "1.2.840.10008.1.2.4.81",
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.201",
];

const PHOTOMETRIC: [&str; 8] = ["MONOCHROME2", "MONOCHROME1", "RGB", "YBR_FULL", "YBR_FULL_422", "PALETTE COLOR", "YBR_RCT", "YBR_ICT"];

const BITS_ALLOCATED: [u16; 6] = [8, 16, 32, 1, 12, 24];

// fuzz/seeds.py reads SYNTAXES, PHOTOMETRIC and BITS_ALLOCATED from here to
// write its seeds' headers: keep them literal arrays.
const HEADER: usize = 16;

fuzz_target!(|bytes: &[u8]| {
    if bytes.len() < HEADER {
        return;
    }
    let (h, frame) = bytes.split_at(HEADER);
    let u16_at = |i: usize| u16::from_le_bytes([h[i], h[i + 1]]);
    let ts = SYNTAXES[h[0] as usize % SYNTAXES.len()];
    let info = PixelInfo {
        rows: u16_at(1),
        columns: u16_at(3),
        samples_per_pixel: if h[5] & 1 == 0 { 1 } else { 3 },
        bits_allocated: BITS_ALLOCATED[h[6] as usize % BITS_ALLOCATED.len()],
        bits_stored: h[7] as u16 % 33,
        high_bit: h[8] as u16 % 33,
        pixel_representation: (h[9] & 1) as u16,
        photometric_interpretation: PHOTOMETRIC[h[10] as usize % PHOTOMETRIC.len()].to_string(),
        planar_configuration: ((h[9] >> 1) & 1) as u16,
        number_of_frames: 1 + (h[11] % 4) as u32,
        rescale_slope: [1.0, -1.0, 0.0, 1e-30, f64::MAX, f64::NAN][h[12] as usize % 6],
        rescale_intercept: [0.0, -1024.0, f64::INFINITY][h[13] as usize % 3],
        windows: match h[14] % 4 {
            0 => Vec::new(),
            1 => vec![(40.0, 400.0)],
            2 => vec![(0.0, 0.0)],
            _ => vec![(f64::NAN, -1.0), (1e308, 1e-308)],
        },
        voi_lut_function: [None, Some("SIGMOID".to_string()), Some("LINEAR_EXACT".to_string())][h[15] as usize % 3].clone(),
        ..PixelInfo::default()
    };
    if yunying_transcode::check_declared_size(&info).is_err() {
        return;
    }
    let _ = yunying_transcode::decode_frame(ts, &info, frame);
    let options = RenderOptions { viewport: Some((64, 64)), format: ImageFormat::Png, ..RenderOptions::default() };
    let _ = yunying_transcode::render(ts, &info, frame, &options);
});
