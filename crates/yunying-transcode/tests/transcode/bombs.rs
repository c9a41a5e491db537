//! Decompression bombs: frames whose codestream header, or whose dataset,
//! declares far more pixels than there are. Each test runs its decodes
//! again in a child process whose address space is capped at 1 GiB, so a
//! large allocation by our code or by a C codec fails the test (allocation
//! failure aborts a Rust process); the decode must end in an error.

use std::process::Command;

use yunying_transcode::{Limits, PixelInfo, TranscodeError, decode_frame, render, set_limits};

const CHILD: &str = "YUNYING_TRANSCODE_BOMB_CHILD";
const ADDRESS_SPACE: u64 = 1 << 30;

const JPEG_BASELINE: &str = "1.2.840.10008.1.2.4.50";
const JPEG_LOSSLESS: &str = "1.2.840.10008.1.2.4.70";
const JPEG_LS: &str = "1.2.840.10008.1.2.4.80";
const J2K: &str = "1.2.840.10008.1.2.4.90";
const HTJ2K: &str = "1.2.840.10008.1.2.4.201";
const RLE: &str = "1.2.840.10008.1.2.5";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";

/// Run `body` in a child process (this test binary, this test only) whose
/// address space is capped; the parent asserts that the child passed.
fn in_capped_child(test: &str, body: impl FnOnce()) {
    if std::env::var_os(CHILD).is_some() {
        let cap = libc::rlimit { rlim_cur: ADDRESS_SPACE, rlim_max: ADDRESS_SPACE };
        // SAFETY: setrlimit reads the struct; it affects only this process.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &cap) }, 0);
        body();
        return;
    }
    let name = format!("bombs::{test}");
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", &name, "--nocapture", "--test-threads", "1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{name} in a child capped at {ADDRESS_SPACE} bytes: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn info(rows: u16, columns: u16, bits: u16) -> PixelInfo {
    PixelInfo { rows, columns, bits_allocated: bits, bits_stored: bits, high_bit: bits - 1, ..PixelInfo::default() }
}

/// A JPEG stream: SOI, a frame header of marker `sof` declaring `width` x
/// `height` of `precision` bits (one component), a scan header, a few
/// bytes of entropy-coded data, EOI.
fn jpeg(sof: u8, precision: u8, width: u16, height: u16) -> Vec<u8> {
    let mut s = vec![0xFF, 0xD8, 0xFF, sof, 0, 11, precision];
    s.extend(height.to_be_bytes());
    s.extend(width.to_be_bytes());
    s.extend([1, 1, 0x11, 0]);
    if sof != 0xF7 {
        // A DC/lossless Huffman table: one code of length 1 for category 0.
        s.extend([0xFF, 0xC4, 0, 20, 0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        s.extend([0xFF, 0xC4, 0, 20, 0x10, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    }
    if sof == 0xC0 {
        s.extend([0xFF, 0xDB, 0, 67, 0]);
        s.extend([1u8; 64]);
    }
    // Scan: one component; Ss/Se/Ah-Al as each process wants them.
    let (ss, se) = match sof {
        0xC0 => (0, 63),
        0xC3 => (1, 0),
        _ => (0, 0), // JPEG-LS: NEAR 0, ILV 0
    };
    s.extend([0xFF, 0xDA, 0, 8, 1, 1, 0, ss, se, 0]);
    s.extend([0u8; 600]);
    s.extend([0xFF, 0xD9]);
    s
}

/// A JPEG 2000 codestream: SOC and a SIZ marker segment of `components`
/// 16-bit components and tiles of `tile` x `tile`, then EOC.
fn j2k(width: u32, height: u32, tile: u32, components: u16) -> Vec<u8> {
    let mut s = vec![0xFF, 0x4F, 0xFF, 0x51];
    s.extend((38 + 3 * components).to_be_bytes());
    s.extend(0u16.to_be_bytes());
    for v in [width, height, 0, 0, tile, tile, 0, 0] {
        s.extend(v.to_be_bytes());
    }
    s.extend(components.to_be_bytes());
    for _ in 0..components {
        s.extend([15, 1, 1]);
    }
    // COD and QCD (reversible 5/3, 5 levels), then EOC: no tile data.
    s.extend([0xFF, 0x52, 0, 12, 0, 0, 0, 1, 0, 5, 4, 4, 0, 1]);
    s.extend([0xFF, 0x5C, 0, 19, 0x40]);
    s.extend([0x48; 16]);
    s.extend([0xFF, 0xD9]);
    s
}

/// The same codestream in a JP2 file (signature box and a `jp2c` box).
fn jp2(codestream: &[u8]) -> Vec<u8> {
    let mut f = vec![0, 0, 0, 12, b'j', b'P', b' ', b' ', 0x0D, 0x0A, 0x87, 0x0A];
    f.extend(((codestream.len() + 8) as u32).to_be_bytes());
    f.extend(b"jp2c");
    f.extend(codestream);
    f
}

/// The codestream claims 65500 x 65500; the dataset says 64 x 64.
#[test]
fn codestream_headers_larger_than_the_dataset_are_refused_before_decoding() {
    in_capped_child("codestream_headers_larger_than_the_dataset_are_refused_before_decoding", || {
        let small8 = info(64, 64, 8);
        let small16 = info(64, 64, 16);
        let cases: Vec<(&str, &str, &PixelInfo, Vec<u8>)> = vec![
            ("DCT JPEG", JPEG_BASELINE, &small8, jpeg(0xC0, 8, 65500, 65500)),
            ("lossless JPEG", JPEG_LOSSLESS, &small16, jpeg(0xC3, 16, 65500, 65500)),
            ("JPEG-LS", JPEG_LS, &small16, jpeg(0xF7, 16, 65500, 65500)),
            ("JPEG 2000", J2K, &small16, j2k(65500, 65500, 65500, 1)),
            ("JP2", J2K, &small16, jp2(&j2k(65500, 65500, 65500, 1))),
            ("HTJ2K", HTJ2K, &small16, j2k(65500, 65500, 65500, 1)),
            ("JPEG 2000, more components", J2K, &small16, j2k(64, 64, 64, 3)),
        ];
        for (what, ts, info, frame) in cases {
            match decode_frame(ts, info, &frame) {
                Err(TranscodeError::Mismatch { .. }) => {}
                // libjpeg-turbo's own pixel limit (set to the dataset's) may
                // speak first.
                Err(TranscodeError::Codec { message, .. }) if message.contains("too large") => {}
                other => panic!("{what}: {other:?}"),
            }
            assert!(render(ts, info, &frame, &Default::default()).is_err(), "{what}");
        }
    });
}

/// The 880-byte bomb: the dataset and the codestream agree on 65500 x
/// 65500; only the configured limit stands between them and 4 GiB.
#[test]
fn datasets_declaring_more_pixels_than_the_limits_are_refused_in_every_syntax() {
    in_capped_child("datasets_declaring_more_pixels_than_the_limits_are_refused_in_every_syntax", || {
        let huge = info(65500, 65500, 8);
        let huge16 = info(65500, 65500, 16);
        let cases: Vec<(&str, &PixelInfo, Vec<u8>)> = vec![
            (JPEG_BASELINE, &huge, jpeg(0xC0, 8, 65500, 65500)),
            (JPEG_LOSSLESS, &huge16, jpeg(0xC3, 16, 65500, 65500)),
            (JPEG_LS, &huge16, jpeg(0xF7, 16, 65500, 65500)),
            (J2K, &huge16, j2k(65500, 65500, 65500, 1)),
            (RLE, &huge, vec![0; 128]),
            (EXPLICIT_LE, &huge, vec![0; 128]),
        ];
        for (ts, info, frame) in cases {
            let result = decode_frame(ts, info, &frame);
            assert!(matches!(result, Err(TranscodeError::TooLarge(_))), "{ts}: {result:?}");
        }
        // Frames times their size, and the number of frames alone.
        let many = PixelInfo { number_of_frames: 20_000, ..info(512, 512, 16) };
        assert!(matches!(decode_frame(EXPLICIT_LE, &many, &[0; 16]), Err(TranscodeError::TooLarge(_))));
        let countless = PixelInfo { number_of_frames: i32::MAX as u32, ..info(1, 1, 8) };
        assert!(matches!(decode_frame(EXPLICIT_LE, &countless, &[0; 16]), Err(TranscodeError::TooLarge(_))));
        // Configured limits are the ones applied.
        set_limits(Limits { max_frame_pixels: 32 * 32, ..Limits::DEFAULT });
        let result = decode_frame(EXPLICIT_LE, &info(64, 64, 8), &[0; 4096]);
        assert!(matches!(result, Err(TranscodeError::TooLarge(_))), "{result:?}");
        set_limits(Limits::DEFAULT);
        assert!(decode_frame(EXPLICIT_LE, &info(64, 64, 8), &[0; 4096]).is_ok());
    });
}

/// Without the size limits, what each codec's own check must catch: RLE
/// segments that cannot hold the frame, J2K tiles by the tens of thousands.
#[test]
fn codec_checks_hold_without_the_size_limits() {
    in_capped_child("codec_checks_hold_without_the_size_limits", || {
        set_limits(Limits { max_frame_pixels: u64::MAX, max_frames: u64::MAX, max_pixels: u64::MAX });
        // 65535 x 65535 x 3 samples of 16 bits would be 25 GB.
        let rgb16 = PixelInfo { samples_per_pixel: 3, photometric_interpretation: "RGB".into(), ..info(65535, 65535, 16) };
        let mut rle = vec![0u8; 64];
        rle[0] = 6;
        for s in 0..6u32 {
            rle[4 + 4 * s as usize..8 + 4 * s as usize].copy_from_slice(&(64 + 2 * s).to_le_bytes());
        }
        rle.extend([0x81, 0].repeat(6)); // six 2-byte segments of 128 bytes each
        let result = decode_frame(RLE, &rgb16, &rle);
        assert!(matches!(result, Err(TranscodeError::Codec { .. })), "{result:?}");
        // 255 x 255 pixels in 1 x 1 tiles: 65025 tiles' coding parameters.
        let tiled = j2k(255, 255, 1, 1);
        let result = decode_frame(J2K, &info(255, 255, 16), &tiled);
        assert!(matches!(result, Err(TranscodeError::Unsupported(_))), "{result:?}");
        set_limits(Limits::DEFAULT);
    });
}

/// Found by the `instance` fuzz target (issue 24): a near-lossless JPEG-LS
/// frame with one scan byte changed and the 0xFF of its end marker gone,
/// so the scan runs out of data without a marker. CharLS 2.4.5 skipped
/// past the last bit and then read zero bits until a counter wrapped:
/// 4.5 s of a core to refuse 7.5 KB, at every decode (ingest's renditions,
/// every retrieval). Patched in `vendor/charls-sys` (PATCHES.md): refused
/// at once.
#[test]
fn a_jpeg_ls_scan_read_past_its_end_is_refused_at_once() {
    let fixture = crate::fixture::load("ct_jpegls_near_lossless.dcm");
    let mut frame = fixture.frame.clone();
    assert_eq!(&frame[frame.len() - 3..], [0xFF, 0xD9, 0x00], "the fixture's scan ends with EOI and a pad byte");
    frame[5557] = 0x40;
    let end_marker = frame.len() - 3;
    frame[end_marker] = 0xDF;
    let started = std::time::Instant::now();
    for _ in 0..3 {
        let result = decode_frame(&fixture.transfer_syntax, &fixture.info, &frame);
        assert!(result.is_err(), "a damaged scan decodes to an error");
    }
    // Three decodes took 13 s before the patch and take under a millisecond
    // now; the bound only has to tell the two apart on a loaded machine.
    assert!(started.elapsed() < std::time::Duration::from_secs(2), "took {:?}", started.elapsed());
    // The undamaged fixture still decodes.
    decode_frame(&fixture.transfer_syntax, &fixture.info, &fixture.frame).unwrap();
}
