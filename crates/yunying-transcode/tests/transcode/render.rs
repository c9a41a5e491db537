//! `render`: VOI choice, windows, MONOCHROME1, colour, viewport, encoding.

use yunying_transcode::{ImageFormat, Lut, PixelInfo, RenderOptions, render};

use crate::fixture::{Fixture, decoded_samples, load};

/// Decoded PNG: (width, height, channels, pixels).
fn png_pixels(bytes: &[u8]) -> (u32, u32, usize, Vec<u8>) {
    let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    pixels.truncate(frame.buffer_size());
    let channels = frame.color_type.samples();
    (frame.width, frame.height, channels, pixels)
}

fn render_png(fixture: &Fixture, info: &PixelInfo, options: RenderOptions) -> Vec<u8> {
    let options = RenderOptions { format: ImageFormat::Png, ..options };
    let png = render(&fixture.transfer_syntax, info, &fixture.frame, &options).unwrap_or_else(|e| panic!("{}: {e}", fixture.name));
    png_pixels(&png).3
}

/// The CT's Hounsfield units, pixel by pixel.
fn hounsfield(ct: &Fixture) -> Vec<f64> {
    let (stored, _) = decoded_samples(ct);
    let (slope, intercept) = (ct.info.rescale_slope, ct.info.rescale_intercept);
    stored.iter().map(|&v| f64::from(v) * slope + intercept).collect()
}

#[test]
fn dataset_window_differs_from_min_max() {
    let ct = load("ct_implicit_le.dcm");
    assert_eq!(ct.info.windows, [(40.0, 400.0)]);
    let windowed = render_png(&ct, &ct.info, RenderOptions::default());
    let bare = PixelInfo { windows: Vec::new(), ..ct.info.clone() };
    let min_max = render_png(&ct, &bare, RenderOptions::default());
    assert_ne!(windowed, min_max);
    // Soft tissue (40 HU) is mid-grey in the window; bone (~1000 HU) is
    // white in the window but not with min/max (the 1200 HU rod is).
    let hu = hounsfield(&ct);
    let bone = hu.iter().position(|&v| (950.0..1050.0).contains(&v)).unwrap();
    assert_eq!(windowed[bone], 255);
    assert!(min_max[bone] < 250, "{}", min_max[bone]);
    let darkest = (0..hu.len()).min_by(|&a, &b| hu[a].total_cmp(&hu[b])).unwrap();
    assert_eq!((windowed[darkest], min_max[darkest]), (0, 0));
}

#[test]
fn request_window_overrides_the_dataset_and_follows_the_standard() {
    let ct = load("ct_implicit_le.dcm");
    let hu = hounsfield(&ct);
    let (center, width) = (0.0, 100.0);
    let options = RenderOptions { window: Some((center, width, None)), ..RenderOptions::default() };
    let pixels = render_png(&ct, &ct.info, options);
    // LINEAR: x <= c - 0.5 - (w-1)/2 -> 0, x > c - 0.5 + (w-1)/2 -> 255.
    let (low, high) = (center - 0.5 - (width - 1.0) / 2.0, center - 0.5 + (width - 1.0) / 2.0);
    let mut inside = 0;
    for (&x, &y) in hu.iter().zip(&pixels) {
        if x <= low {
            assert_eq!(y, 0, "{x} HU");
        } else if x > high {
            assert_eq!(y, 255, "{x} HU");
        } else {
            let expected = ((x - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0;
            assert!((f64::from(y) - expected).abs() <= 1.0, "{x} HU gave {y}");
            inside += 1;
        }
    }
    assert!(inside > 100, "only {inside} pixels inside the window");

    // LINEAR_EXACT and SIGMOID from the request too.
    let exact = render_png(
        &ct,
        &ct.info,
        RenderOptions { window: Some((0.0, 100.0, Some("LINEAR_EXACT".to_owned()))), ..RenderOptions::default() },
    );
    let sigmoid =
        render_png(&ct, &ct.info, RenderOptions { window: Some((0.0, 100.0, Some("SIGMOID".to_owned()))), ..RenderOptions::default() });
    for ((&x, &e), &s) in hu.iter().zip(&exact).zip(&sigmoid) {
        let expected_exact = ((x / 100.0 + 0.5).clamp(0.0, 1.0) * 255.0).round();
        assert!((f64::from(e) - expected_exact).abs() <= 1.0, "{x} HU exact {e}");
        let expected_sigmoid = 255.0 / (1.0 + (-4.0 * x / 100.0).exp());
        assert!((f64::from(s) - expected_sigmoid).abs() <= 1.0, "{x} HU sigmoid {s}");
    }
}

#[test]
fn voi_lut_is_used_when_there_is_no_window() {
    let ct = load("ct_implicit_le.dcm");
    // A LUT mapping HU -1024..=1023 to 4095..=0 (12 bits, inverted ramp).
    let lut = Lut { descriptor: [2048, (-1024i16) as u16 as u32, 12], data: (0..2048u16).map(|i| 4095 - i * 2).collect() };
    let info = PixelInfo { windows: Vec::new(), voi_lut: Some(lut), ..ct.info.clone() };
    let pixels = render_png(&ct, &info, RenderOptions::default());
    let hu = hounsfield(&ct);
    for (&x, &y) in hu.iter().zip(&pixels) {
        let index = (x + 1024.0).clamp(0.0, 2047.0);
        let expected = (4095.0 - index * 2.0) / 4095.0 * 255.0;
        assert!((f64::from(y) - expected).abs() <= 1.0, "{x} HU gave {y}");
    }
}

#[test]
fn monochrome1_is_inverted() {
    let ct = load("ct_implicit_le.dcm");
    let normal = render_png(&ct, &ct.info, RenderOptions::default());
    let inverted_info = PixelInfo { photometric_interpretation: "MONOCHROME1".to_owned(), ..ct.info.clone() };
    let inverted = render_png(&ct, &inverted_info, RenderOptions::default());
    assert!(normal.iter().zip(&inverted).all(|(&a, &b)| a == 255 - b));
}

#[test]
fn jpeg_and_png_decode_back_with_the_expected_size() {
    for (name, channels) in [("ct_j2k_lossless.dcm", 1), ("mr_explicit_be.dcm", 1), ("us_jpeg_baseline.dcm", 3), ("sc_rgb_rle.dcm", 3)] {
        let fixture = load(name);
        let (width, height) = (u32::from(fixture.info.columns), u32::from(fixture.info.rows));
        let jpeg = render(&fixture.transfer_syntax, &fixture.info, &fixture.frame, &RenderOptions::default()).unwrap();
        let mut decoder = jpeg_decoder::Decoder::new(&jpeg[..]);
        let pixels = decoder.decode().expect("a JPEG");
        let header = decoder.info().unwrap();
        assert_eq!((u32::from(header.width), u32::from(header.height)), (width, height));
        assert_eq!(pixels.len(), (width * height) as usize * channels, "{name}");

        let png = render(
            &fixture.transfer_syntax,
            &fixture.info,
            &fixture.frame,
            &RenderOptions { format: ImageFormat::Png, ..RenderOptions::default() },
        )
        .unwrap();
        let (w, h, c, _) = png_pixels(&png);
        assert_eq!((w, h, c), (width, height, channels), "{name}");
    }
}

#[test]
fn colour_renders_as_the_decoded_rgb() {
    let fixture = load("sc_rgb_rle.dcm");
    let (samples, _) = decoded_samples(&fixture);
    let pixels = render_png(&fixture, &fixture.info, RenderOptions::default());
    let samples: Vec<u8> = samples.iter().map(|&v| v as u8).collect();
    assert_eq!(pixels, samples);
}

#[test]
fn viewport_keeps_the_aspect_ratio_and_never_enlarges() {
    // A 200x100 8-bit gradient.
    let info = PixelInfo { rows: 100, columns: 200, ..PixelInfo::default() };
    let frame: Vec<u8> = (0..100 * 200).map(|i| (i % 200) as u8).collect();
    let sized = |viewport, format| {
        let options = RenderOptions { viewport: Some(viewport), format, ..RenderOptions::default() };
        let bytes = render("1.2.840.10008.1.2.1", &info, &frame, &options).unwrap();
        match format {
            ImageFormat::Png => {
                let (w, h, _, _) = png_pixels(&bytes);
                (w, h)
            }
            ImageFormat::Jpeg => {
                let mut decoder = jpeg_decoder::Decoder::new(&bytes[..]);
                decoder.decode().unwrap();
                let header = decoder.info().unwrap();
                (u32::from(header.width), u32::from(header.height))
            }
        }
    };
    assert_eq!(sized((50, 50), ImageFormat::Png), (50, 25));
    assert_eq!(sized((64, 64), ImageFormat::Jpeg), (64, 32));
    assert_eq!(sized((1000, 30), ImageFormat::Png), (60, 30));
    assert_eq!(sized((1000, 1000), ImageFormat::Png), (200, 100));
    // The thumbnail of a square CT keeps it square.
    let ct = load("ct_implicit_le.dcm");
    let thumbnail = render(
        &ct.transfer_syntax,
        &ct.info,
        &ct.frame,
        &RenderOptions { viewport: Some((64, 32)), format: ImageFormat::Png, ..RenderOptions::default() },
    )
    .unwrap();
    let (w, h, _, _) = png_pixels(&thumbnail);
    assert_eq!((w, h), (32, 32));
}

#[test]
fn rendering_garbage_is_an_error() {
    let ct = load("ct_j2k_lossless.dcm");
    let junk = vec![0xA5u8; ct.frame.len()];
    assert!(render(&ct.transfer_syntax, &ct.info, &junk, &RenderOptions::default()).is_err());
    let bad_window = RenderOptions { window: Some((40.0, f64::NAN, None)), ..RenderOptions::default() };
    assert!(render(&ct.transfer_syntax, &ct.info, &ct.frame, &bad_window).is_err());
    let bad_function = RenderOptions { window: Some((40.0, 400.0, Some("CUBIC".to_owned()))), ..RenderOptions::default() };
    assert!(render(&ct.transfer_syntax, &ct.info, &ct.frame, &bad_function).is_err());
}

/// Found by the `frame` fuzz target (issue 24): a dataset saying RGB or
/// YBR with one sample per pixel (or PALETTE COLOR with three) rendered
/// from a frame holding one sample a pixel. The colour path read three
/// samples a pixel: an out-of-range slice, a panic in the rendition worker
/// or the request, in every syntax (RLE was the one found). Now refused
/// as an inconsistent pixel description, before anything is read.
#[test]
fn colour_with_the_wrong_number_of_samples_is_refused_not_a_panic() {
    const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";
    for (photometric, samples) in [("RGB", 1), ("YBR_FULL", 1), ("YBR_FULL_422", 1), ("PALETTE COLOR", 3)] {
        for bits in [8u16, 16] {
            let info = PixelInfo {
                rows: 128,
                columns: 128,
                samples_per_pixel: samples,
                bits_allocated: bits,
                bits_stored: bits,
                high_bit: bits - 1,
                photometric_interpretation: photometric.to_string(),
                ..PixelInfo::default()
            };
            let frame = vec![0x40u8; 128 * 128 * usize::from(samples) * usize::from(bits / 8)];
            for viewport in [None, Some((64, 64))] {
                let options = RenderOptions { viewport, ..RenderOptions::default() };
                let result = render(EXPLICIT_LE, &info, &frame, &options);
                let error = result.expect_err(&format!("{photometric} with {samples} samples, {bits}-bit"));
                assert!(error.to_string().contains("samples per pixel"), "{photometric}: {error}");
            }
        }
    }
}
