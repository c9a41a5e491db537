//! Scaling down to a viewport with a separable triangle (tent) filter whose
//! support widens with the reduction, so every source pixel contributes and
//! thin structures do not alias away (like `image`'s `FilterType::Triangle`).

use crate::render::Image;

/// Fit inside `max_width` x `max_height`, keeping the aspect ratio. An image
/// that already fits is returned as is (never enlarged). Zero means "no
/// limit" on that axis. The result is at least 1x1.
pub(crate) fn fit_inside(image: &Image, max_width: u32, max_height: u32) -> Image {
    let (width, height) = fitted_size(image.width, image.height, max_width, max_height);
    if (width, height) == (image.width, image.height) {
        return image.clone();
    }
    let channels = usize::from(image.channels);
    let horizontal = weights(image.width, width);
    let vertical = weights(image.height, height);
    // Rows first, into f32, then columns.
    let (src_w, dst_w) = (image.width as usize, width as usize);
    let mut rows = vec![0f32; image.height as usize * dst_w * channels];
    for y in 0..image.height as usize {
        let source = &image.data[y * src_w * channels..(y + 1) * src_w * channels];
        for (x, taps) in horizontal.iter().enumerate() {
            for c in 0..channels {
                let sum: f32 = taps.iter().map(|&(i, w)| w * f32::from(source[i * channels + c])).sum();
                rows[(y * dst_w + x) * channels + c] = sum;
            }
        }
    }
    let mut data = vec![0u8; height as usize * dst_w * channels];
    for (y, taps) in vertical.iter().enumerate() {
        for x in 0..dst_w * channels {
            let sum: f32 = taps.iter().map(|&(i, w)| w * rows[i * dst_w * channels + x]).sum();
            data[y * dst_w * channels + x] = sum.round().clamp(0.0, 255.0) as u8;
        }
    }
    Image { width, height, channels: image.channels, data }
}

/// The largest size within the limits with the image's aspect ratio.
pub(crate) fn fitted_size(width: u32, height: u32, max_width: u32, max_height: u32) -> (u32, u32) {
    let limit = |max: u32| if max == 0 { u32::MAX } else { max };
    let (max_width, max_height) = (limit(max_width), limit(max_height));
    if width <= max_width && height <= max_height {
        return (width, height);
    }
    let scale = f64::min(f64::from(max_width) / f64::from(width), f64::from(max_height) / f64::from(height));
    let fit = |length: u32, max: u32| ((f64::from(length) * scale).round() as u32).clamp(1, max);
    (fit(width, max_width), fit(height, max_height))
}

/// For each output index, the (source index, weight) taps, weights summing
/// to 1.
fn weights(source: u32, target: u32) -> Vec<Vec<(usize, f32)>> {
    let ratio = f64::from(source) / f64::from(target);
    let support = ratio.max(1.0);
    (0..target)
        .map(|out| {
            let center = (f64::from(out) + 0.5) * ratio;
            let first = (center - support).floor().max(0.0) as usize;
            let last = ((center + support).ceil() as usize).min(source as usize);
            let mut taps: Vec<(usize, f32)> = (first..last)
                .map(|i| {
                    let distance = ((i as f64 + 0.5 - center) / support).abs();
                    (i, (1.0 - distance).max(0.0) as f32)
                })
                .filter(|&(_, w)| w > 0.0)
                .collect();
            let total: f32 = taps.iter().map(|&(_, w)| w).sum();
            if total > 0.0 {
                taps.iter_mut().for_each(|(_, w)| *w /= total);
            } else {
                let nearest = (center as usize).min(source as usize - 1);
                taps = vec![(nearest, 1.0)];
            }
            taps
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fitted_sizes_keep_the_aspect_ratio_and_never_enlarge() {
        assert_eq!(fitted_size(512, 256, 128, 128), (128, 64));
        assert_eq!(fitted_size(256, 512, 128, 128), (64, 128));
        assert_eq!(fitted_size(100, 50, 400, 400), (100, 50));
        assert_eq!(fitted_size(1000, 10, 100, 100), (100, 1));
        assert_eq!(fitted_size(10, 1000, 0, 100), (1, 100));
        assert_eq!(fitted_size(300, 200, 150, 0), (150, 100));
    }

    #[test]
    fn a_flat_image_stays_flat_and_an_edge_stays_put() {
        let mut data = vec![10u8; 8 * 4];
        for row in data.chunks_mut(8) {
            row[4..].fill(250);
        }
        let image = Image { width: 8, height: 4, channels: 1, data };
        let small = fit_inside(&image, 4, 4);
        assert_eq!((small.width, small.height), (4, 2));
        for row in small.data.chunks(4) {
            assert!(row[0] < 40 && row[3] > 220, "{row:?}");
        }
    }
}
