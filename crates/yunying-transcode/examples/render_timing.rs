//! Where rendering a 512×512 16-bit CT frame spends its time:
//! `cargo run --release -p yunying-transcode --example render_timing`.
use std::time::Instant;
use yunying_transcode::{ImageFormat, PixelInfo, RenderOptions, render};

fn main() {
    let info = PixelInfo {
        rows: 512,
        columns: 512,
        bits_allocated: 16,
        bits_stored: 12,
        high_bit: 11,
        rescale_intercept: -1024.0,
        windows: vec![(40.0, 400.0)],
        ..PixelInfo::default()
    };
    let mut frame = Vec::with_capacity(512 * 512 * 2);
    for y in 0..512u32 {
        for x in 0..512u32 {
            let r = ((x as i32 - 256).pow(2) + (y as i32 - 256).pow(2)) as f64;
            let v: u16 = if r < 200.0 * 200.0 { 1000 + ((x * 7 + y * 3) % 120) as u16 } else { 24 };
            frame.extend_from_slice(&v.to_le_bytes());
        }
    }
    let ts = "1.2.840.10008.1.2.1";
    for (name, viewport) in [("preview", None), ("thumbnail", Some((128, 128)))] {
        let options = RenderOptions { window: None, viewport, quality: 90, format: ImageFormat::Jpeg };
        let n = 200;
        let t = Instant::now();
        let mut bytes = 0;
        for _ in 0..n {
            bytes += render(ts, &info, &frame, &options).unwrap().len();
        }
        println!("{name}: {:.2} ms each, {} bytes", t.elapsed().as_secs_f64() * 1000.0 / n as f64, bytes / n);
    }
    let t = Instant::now();
    for _ in 0..50 {
        yunying_transcode::encode_htj2k_lossless(&info, &frame).unwrap();
    }
    println!("htj2k: {:.2} ms each", t.elapsed().as_secs_f64() * 1000.0 / 50.0);
}
