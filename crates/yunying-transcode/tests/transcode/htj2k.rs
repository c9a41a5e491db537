//! The lossless HTJ2K copy: exact round trips through our decoder and an
//! independent one (pylibjpeg-openjpeg), and its size on CT-like data.

use std::io::Write;
use std::process::Command;

use yunying_transcode::{HTJ2K_LOSSLESS, PixelInfo, decode_frame, encode_htj2k_lossless};

fn info(rows: u16, columns: u16, spp: u16, allocated: u16, stored: u16, signed: bool) -> PixelInfo {
    PixelInfo {
        rows,
        columns,
        samples_per_pixel: spp,
        bits_allocated: allocated,
        bits_stored: stored,
        high_bit: stored - 1,
        pixel_representation: u16::from(signed),
        photometric_interpretation: if spp == 3 { "RGB".into() } else { "MONOCHROME2".into() },
        number_of_frames: 1,
        ..PixelInfo::default()
    }
}

/// A CT-like slice: a body ellipse with organs over air, plus noise.
fn ct_like(size: usize, seed: u64) -> Vec<i16> {
    let mut state = seed;
    let mut noise = move || {
        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        ((state >> 33) % 21) as i16 - 10
    };
    let c = size as f64 / 2.0;
    (0..size * size)
        .map(|i| {
            let (x, y) = ((i % size) as f64 - c, (i / size) as f64 - c);
            let body = (x / (0.8 * c)).powi(2) + (y / (0.6 * c)).powi(2) <= 1.0;
            let organ = ((x - 0.2 * c) / (0.2 * c)).powi(2) + (y / (0.25 * c)).powi(2) <= 1.0;
            let bone = (x.powi(2) + (y - 0.4 * c).powi(2)).sqrt() < 0.08 * c;
            let base = if bone {
                1200
            } else if organ {
                60
            } else if body {
                20
            } else {
                -1000
            };
            base + noise()
        })
        .collect()
}

fn le16(values: impl Iterator<Item = u16>) -> Vec<u8> {
    values.flat_map(u16::to_le_bytes).collect()
}

fn round_trip(info: &PixelInfo, frame: &[u8], expected: &[u8]) -> Vec<u8> {
    let codestream = encode_htj2k_lossless(info, frame).expect("encodes");
    let decoded = decode_frame(HTJ2K_LOSSLESS, info, &codestream).expect("decodes");
    if decoded.bytes != expected {
        let first = decoded.bytes.iter().zip(expected).position(|(a, b)| a != b);
        panic!(
            "HTJ2K round trip is not exact: {} decoded bytes vs {} expected, first difference at {first:?} ({}x{}x{}, {} bits)",
            decoded.bytes.len(),
            expected.len(),
            info.columns,
            info.rows,
            info.samples_per_pixel,
            info.bits_stored
        );
    }
    codestream
}

#[test]
fn eight_bit_monochrome_and_rgb_round_trip_exactly() {
    let mono: Vec<u8> = (0..256 * 200).map(|i| ((i * 7) % 251) as u8).collect();
    round_trip(&info(200, 256, 1, 8, 8, false), &mono, &mono);
    let rgb: Vec<u8> = (0..64 * 48 * 3).map(|i| ((i * 13) % 256) as u8).collect();
    round_trip(&info(48, 64, 3, 8, 8, false), &rgb, &rgb);
}

#[test]
fn twelve_bit_keeps_the_stored_bits_only() {
    let values: Vec<u16> = (0..128 * 128).map(|i| (i * 37 % 4096) as u16).collect();
    let junk = le16(values.iter().map(|v| v | 0xB000)); // junk in the high 4 bits
    let clean = le16(values.iter().copied());
    round_trip(&info(128, 128, 1, 16, 12, false), &junk, &clean);
}

#[test]
fn sixteen_bit_unsigned_and_signed_ct_round_trip_exactly_and_compress() {
    let unsigned = le16((0..300 * 200).map(|i| (i * 2654435761u64 as usize % 65536) as u16));
    round_trip(&info(200, 300, 1, 16, 16, false), &unsigned, &unsigned);

    let ct = ct_like(512, 3);
    let raw = le16(ct.iter().map(|v| *v as u16));
    let info = info(512, 512, 1, 16, 16, true);
    let codestream = round_trip(&info, &raw, &raw);
    let ratio = codestream.len() as f64 / raw.len() as f64;
    eprintln!("HTJ2K lossless CT-like 512x512: {} bytes, {:.1}% of {}", codestream.len(), 100.0 * ratio, raw.len());
    assert!(ratio <= 0.6, "lossless copy is {:.0}% of the raw size", 100.0 * ratio);

    // An independent decoder agrees.
    let dir = tempfile::tempdir().unwrap();
    let (j2c, raw_path) = (dir.path().join("ct.j2c"), dir.path().join("ct.raw"));
    std::fs::File::create(&j2c).unwrap().write_all(&codestream).unwrap();
    std::fs::write(&raw_path, &raw).unwrap();
    let script = "import sys, numpy, openjpeg\n\
        a = openjpeg.decode(open(sys.argv[1], 'rb').read())\n\
        b = numpy.fromfile(sys.argv[2], dtype='<i2').reshape(512, 512)\n\
        assert a.dtype.kind == 'i' and (a.astype('i4') == b.astype('i4')).all(), 'pylibjpeg-openjpeg decodes other values'\n";
    let out = Command::new("python3").args(["-c", script]).arg(&j2c).arg(&raw_path).output().expect("python3");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
