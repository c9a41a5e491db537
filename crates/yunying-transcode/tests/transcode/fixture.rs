//! Reading a fixture: its transfer syntax, its Image Pixel module as a
//! `PixelInfo`, and its (only) frame as the caller of `decode_frame` would
//! pass it.

use std::path::PathBuf;

use dicom_dictionary_std::tags;
use dicom_object::{DefaultDicomObject, InMemDicomObject};
use yunying_transcode::{Lut, PixelInfo, decode_frame};

pub struct Fixture {
    pub name: &'static str,
    pub transfer_syntax: String,
    pub info: PixelInfo,
    pub frame: Vec<u8>,
}

pub fn path(name: &str) -> PathBuf {
    // At run time first: a test binary built from another checkout sharing
    // the target directory would carry that checkout's path.
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")), PathBuf::from)
        .join("../../testdata/dicom")
        .join(name)
}

pub fn load(name: &'static str) -> Fixture {
    let path = path(name);
    let object: DefaultDicomObject = dicom_object::open_file(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
    let transfer_syntax = object.meta().transfer_syntax().trim_end_matches(['\0', ' ']).to_owned();
    let info = pixel_info(&object).unwrap_or_else(|e| panic!("{name}: {e}"));
    let pixel_data = object.element(tags::PIXEL_DATA).unwrap();
    let frame = match pixel_data.value().fragments() {
        // One frame per fixture: all fragments together are its codestream.
        Some(fragments) => fragments.concat(),
        None => raw_native_pixel_data(&std::fs::read(&path).unwrap(), &transfer_syntax),
    };
    Fixture { name, transfer_syntax, info, frame }
}

/// The Pixel Data value exactly as stored in the file (dicom-object would
/// hand us big-endian words already swapped). The fixtures end with Pixel
/// Data, so its header is the last occurrence of the tag.
fn raw_native_pixel_data(file: &[u8], transfer_syntax: &str) -> Vec<u8> {
    let (tag, header_len, big_endian): (&[u8], usize, bool) = match transfer_syntax {
        "1.2.840.10008.1.2" => (&[0xE0, 0x7F, 0x10, 0x00], 8, false),
        "1.2.840.10008.1.2.2" => (&[0x7F, 0xE0, 0x00, 0x10], 12, true),
        _ => (&[0xE0, 0x7F, 0x10, 0x00], 12, false),
    };
    let at = file.windows(4).rposition(|w| w == tag).expect("pixel data tag");
    let length = &file[at + header_len - 4..at + header_len];
    let length =
        if big_endian { u32::from_be_bytes(length.try_into().unwrap()) } else { u32::from_le_bytes(length.try_into().unwrap()) } as usize;
    file[at + header_len..at + header_len + length].to_vec()
}

/// What the HTTP layer will do with an indexed object.
pub fn pixel_info(object: &InMemDicomObject) -> Result<PixelInfo, String> {
    let int = |tag| -> Result<u16, String> { object.element(tag).map_err(|e| e.to_string())?.to_int::<u16>().map_err(|e| e.to_string()) };
    let optional_f64 = |tag, default| object.element_opt(tag).ok().flatten().and_then(|e| e.to_float64().ok()).unwrap_or(default);
    let multi = |tag| object.element_opt(tag).ok().flatten().and_then(|e| e.to_multi_float64().ok()).unwrap_or_default();
    let text = |tag| object.element_opt(tag).ok().flatten().and_then(|e| e.to_str().ok().map(|s| s.trim().to_owned()));
    let samples_per_pixel = int(tags::SAMPLES_PER_PIXEL)?;
    let windows = multi(tags::WINDOW_CENTER).into_iter().zip(multi(tags::WINDOW_WIDTH)).collect();
    Ok(PixelInfo {
        rows: int(tags::ROWS)?,
        columns: int(tags::COLUMNS)?,
        samples_per_pixel,
        bits_allocated: int(tags::BITS_ALLOCATED)?,
        bits_stored: int(tags::BITS_STORED)?,
        high_bit: int(tags::HIGH_BIT)?,
        pixel_representation: int(tags::PIXEL_REPRESENTATION)?,
        photometric_interpretation: text(tags::PHOTOMETRIC_INTERPRETATION).unwrap_or_default(),
        planar_configuration: if samples_per_pixel > 1 { int(tags::PLANAR_CONFIGURATION).unwrap_or(0) } else { 0 },
        number_of_frames: text(tags::NUMBER_OF_FRAMES).and_then(|n| n.parse().ok()).unwrap_or(1),
        rescale_slope: optional_f64(tags::RESCALE_SLOPE, 1.0),
        rescale_intercept: optional_f64(tags::RESCALE_INTERCEPT, 0.0),
        windows,
        voi_lut_function: text(tags::VOILUT_FUNCTION),
        voi_lut: None::<Lut>,
        palette: None,
        per_frame: Vec::new(),
    })
}

/// Decoded samples as i32 (signed per PixelRepresentation), any width.
pub fn samples(info: &PixelInfo, bytes: &[u8]) -> Vec<i32> {
    let signed = info.pixel_representation == 1;
    match info.bits_allocated {
        8 => bytes.iter().map(|&b| i32::from(b)).collect(),
        16 => bytes
            .chunks_exact(2)
            .map(|s| {
                let raw = u16::from_le_bytes([s[0], s[1]]);
                if signed { i32::from(raw as i16) } else { i32::from(raw) }
            })
            .collect(),
        other => panic!("{other}-bit samples in a fixture"),
    }
}

/// Decodes a fixture and returns its samples.
pub fn decoded_samples(fixture: &Fixture) -> (Vec<i32>, String) {
    let decoded = decode_frame(&fixture.transfer_syntax, &fixture.info, &fixture.frame).unwrap_or_else(|e| panic!("{}: {e}", fixture.name));
    let expected_len = usize::from(fixture.info.rows)
        * usize::from(fixture.info.columns)
        * usize::from(fixture.info.samples_per_pixel)
        * usize::from(fixture.info.bits_allocated / 8);
    assert_eq!(decoded.bytes.len(), expected_len, "{}", fixture.name);
    assert_eq!(decoded.planar_configuration, 0);
    (samples(&fixture.info, &decoded.bytes), decoded.photometric_interpretation)
}

/// Largest and mean absolute difference.
pub fn differences(a: &[i32], b: &[i32]) -> (i32, f64) {
    assert_eq!(a.len(), b.len());
    let max = a.iter().zip(b).map(|(x, y)| (x - y).abs()).max().unwrap_or(0);
    let total: i64 = a.iter().zip(b).map(|(x, y)| i64::from((x - y).abs())).sum();
    (max, total as f64 / a.len() as f64)
}
