//! `decode_frame` on every image fixture.

use yunying_transcode::{PixelInfo, TranscodeError, can_decode, decode_frame, native_frame_as_little_endian};

use crate::fixture::{decoded_samples, differences, load};

const LOSSLESS_CT: [&str; 5] =
    ["ct_rle.dcm", "ct_jpeg_lossless_sv1.dcm", "ct_jpegls_lossless.dcm", "ct_j2k_lossless.dcm", "ct_htj2k_lossless.dcm"];

#[test]
fn native_ct_is_returned_as_stored() {
    let ct = load("ct_implicit_le.dcm");
    assert_eq!((ct.info.rows, ct.info.columns), (128, 128));
    let decoded = decode_frame(&ct.transfer_syntax, &ct.info, &ct.frame).unwrap();
    assert_eq!(decoded.bytes, ct.frame);
    assert_eq!(decoded.photometric_interpretation, "MONOCHROME2");
    let (samples, _) = decoded_samples(&ct);
    // Air (-1000 HU) and the 1200 HU rod, stored with intercept -1024.
    let (min, max) = (samples.iter().min().unwrap(), samples.iter().max().unwrap());
    assert!((0..=40).contains(min) && (2200..2300).contains(max), "{min} {max}");
}

// Every CT fixture is a different slice of the phantom (inserts a little
// larger, different noise), so here decoded fixtures are compared with the
// native one only loosely; `pydicom::decoding_reproduces_the_generators_pixels`
// checks each against its exact source pixels. A decoder that got anything
// wrong (byte order, sign, predictor, component order) fails this too.
fn assert_same_phantom(name: &str, samples: &[i32], native: &[i32], tolerance: i32) {
    let close = samples.iter().zip(native).filter(|&(a, b)| (a - b).abs() <= tolerance).count();
    let share = close as f64 / native.len() as f64;
    assert!(share > 0.9, "{name}: only {:.1}% of pixels within {tolerance}", share * 100.0);
}

#[test]
fn every_lossless_ct_decodes_to_the_phantom() {
    let (native, _) = decoded_samples(&load("ct_implicit_le.dcm"));
    for name in LOSSLESS_CT {
        let fixture = load(name);
        let (samples, photometric) = decoded_samples(&fixture);
        assert_eq!(photometric, "MONOCHROME2", "{name}");
        // Noise is +-10 HU on each slice.
        assert_same_phantom(name, &samples, &native, 20);
    }
}

#[test]
fn lossy_ct_decodes_to_the_phantom() {
    // The 12-bit files store HU + 1024 unsigned, like the stored values of
    // the native signed file, so samples compare directly.
    let (native, _) = decoded_samples(&load("ct_implicit_le.dcm"));
    for (name, tolerance) in [("ct_jpegls_near_lossless.dcm", 22), ("ct_jpeg_extended12.dcm", 30), ("ct_j2k.dcm", 40)] {
        let (samples, _) = decoded_samples(&load(name));
        assert_same_phantom(name, &samples, &native, tolerance);
    }
}

#[test]
fn big_endian_mr_is_byte_swapped() {
    let big = load("mr_explicit_be.dcm");
    let little = load("mr_explicit_le.dcm");
    let from_big = decode_frame(&big.transfer_syntax, &big.info, &big.frame).unwrap();
    let swapped: Vec<u8> = big.frame.chunks_exact(2).flat_map(|w| [w[1], w[0]]).collect();
    assert_eq!(from_big.bytes, swapped);
    // A neighbouring slice of the same head (MR noise is +-15).
    let (from_big, _) = decoded_samples(&big);
    let (from_little, _) = decoded_samples(&little);
    assert_same_phantom("mr_explicit_be.dcm", &from_big, &from_little, 40);
}

#[test]
fn rgb_rle_is_interleaved_rgb() {
    let fixture = load("sc_rgb_rle.dcm");
    assert_eq!(fixture.info.samples_per_pixel, 3);
    let (samples, photometric) = decoded_samples(&fixture);
    assert_eq!(photometric, "RGB");
    // Yellow depth ticks: some pixels have red and green high, blue low.
    let yellow = samples.chunks_exact(3).filter(|p| p[0] > 200 && p[1] > 200 && p[2] < 80).count();
    assert!(yellow > 10, "{yellow} yellow pixels");
}

#[test]
fn jpeg_baseline_comes_out_as_rgb_close_to_the_rle_capture() {
    let jpeg = load("us_jpeg_baseline.dcm");
    assert_eq!(jpeg.info.photometric_interpretation, "YBR_FULL_422");
    let (samples, photometric) = decoded_samples(&jpeg);
    assert_eq!(photometric, "RGB");
    let (reference, _) = decoded_samples(&load("sc_rgb_rle.dcm"));
    let (_, mean) = differences(&samples, &reference);
    assert!(mean < 4.0, "mean |error| {mean}");
}

#[test]
fn video_and_unknown_syntaxes_are_unsupported() {
    let fixture = load("video_h264.dcm");
    assert!(!can_decode(&fixture.transfer_syntax));
    let error = decode_frame(&fixture.transfer_syntax, &fixture.info, &fixture.frame);
    assert!(matches!(error, Err(TranscodeError::UnsupportedTransferSyntax(_))));
    for name in ["ct_implicit_le.dcm", "mr_explicit_be.dcm", "ct_jpeg_extended12.dcm", "ct_htj2k_lossless.dcm"] {
        assert!(can_decode(&load(name).transfer_syntax), "{name}");
    }
}

/// A deterministic stream of junk (xorshift).
fn garbage(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

#[test]
fn garbage_and_truncated_frames_are_errors_not_panics() {
    let names = LOSSLESS_CT.iter().chain(&["us_jpeg_baseline.dcm", "ct_jpeg_extended12.dcm", "ct_j2k.dcm"]);
    for &name in names {
        let fixture = load(name);
        let ts = &fixture.transfer_syntax;
        for seed in 1..4 {
            let junk = garbage(fixture.frame.len(), seed);
            assert!(decode_frame(ts, &fixture.info, &junk).is_err(), "{name} junk {seed}");
        }
        assert!(decode_frame(ts, &fixture.info, &[]).is_err(), "{name} empty");
        // A codec may recover part of a truncated codestream; it must not
        // panic, and whatever it returns must have the full frame size.
        for cut in [4, fixture.frame.len() / 3, fixture.frame.len() - 2] {
            if let Ok(decoded) = decode_frame(ts, &fixture.info, &fixture.frame[..cut]) {
                assert_eq!(decoded.bytes.len(), 128 * 128 * 2, "{name} cut at {cut}");
            }
        }
        // The right codestream for the wrong image. (RLE stops each segment
        // at the frame's size, so fewer rows go unnoticed there.)
        if name == "ct_rle.dcm" {
            continue;
        }
        let wrong = PixelInfo { rows: 64, ..fixture.info.clone() };
        assert!(decode_frame(ts, &wrong, &fixture.frame).is_err(), "{name} 64 rows");
    }
}

#[test]
fn short_native_frames_and_bad_attributes_are_errors() {
    let ct = load("ct_implicit_le.dcm");
    let short = decode_frame(&ct.transfer_syntax, &ct.info, &ct.frame[..100]);
    assert!(matches!(short, Err(TranscodeError::FrameTooShort { .. })));
    for info in [
        PixelInfo { rows: 0, ..ct.info.clone() },
        PixelInfo { bits_allocated: 12, ..ct.info.clone() },
        PixelInfo { bits_stored: 17, ..ct.info.clone() },
        PixelInfo { samples_per_pixel: 2, ..ct.info.clone() },
    ] {
        let result = decode_frame(&ct.transfer_syntax, &info, &ct.frame);
        assert!(matches!(result, Err(TranscodeError::InvalidPixelInfo(_))), "{info:?}");
    }
}

#[test]
fn planar_native_rgb_is_interleaved() {
    let info = PixelInfo {
        rows: 1,
        columns: 2,
        samples_per_pixel: 3,
        photometric_interpretation: "RGB".to_owned(),
        planar_configuration: 1,
        ..PixelInfo::default()
    };
    let decoded = decode_frame("1.2.840.10008.1.2.1", &info, &[1, 2, 3, 4, 5, 6]).unwrap();
    assert_eq!(decoded.bytes, [1, 3, 5, 2, 4, 6]);
    assert_eq!(decoded.planar_configuration, 0);
}

#[test]
fn native_big_endian_planar_rgb_stays_planar() {
    let info = PixelInfo {
        rows: 1,
        columns: 2,
        samples_per_pixel: 3,
        bits_allocated: 16,
        bits_stored: 16,
        high_bit: 15,
        photometric_interpretation: "RGB".to_owned(),
        planar_configuration: 1,
        ..PixelInfo::default()
    };
    // R1 R2 G1 G2 B1 B2, big endian
    let big = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C];
    let little = native_frame_as_little_endian("1.2.840.10008.1.2.2", &info, &big).unwrap();
    assert_eq!(little, [0x02, 0x01, 0x04, 0x03, 0x06, 0x05, 0x08, 0x07, 0x0A, 0x09, 0x0C, 0x0B]);
    // 8-bit samples have no byte order: the planar bytes come back as they are.
    let info8 = PixelInfo { bits_allocated: 8, bits_stored: 8, high_bit: 7, ..info.clone() };
    assert_eq!(native_frame_as_little_endian("1.2.840.10008.1.2.2", &info8, &[1, 2, 3, 4, 5, 6]).unwrap(), [1, 2, 3, 4, 5, 6]);
    // Little endian is as stored; compressed syntaxes are not native.
    assert_eq!(native_frame_as_little_endian("1.2.840.10008.1.2.1", &info, &big).unwrap(), big);
    assert!(native_frame_as_little_endian("1.2.840.10008.1.2.5", &info, &big).is_err());
}
