//! Blur-fusion foreground estimation (Forte & Pitié, "Approximate Fast Foreground Colour
//! Estimation", ICIP 2021).
//!
//! Local means stand in for F and B: F̂ = box(αF) / (box(α) + ε), B̂ = box((1−α)B) / (1 − box(α) + ε),
//! and one step along the compositing equation corrects F̂ where α says the pixel is mostly
//! foreground: F = F̂ + α(I − αF̂ − (1−α)B̂), clipped to 0..1. Run twice, as the paper's code does:
//! first with F = B = I and a large box, then with that F and the first B̂ and a small box.
//!
//! # Boxes
//! A box of radius r is the (2r+1)×(2r+1) square centred on the pixel, clipped to the image, and
//! `box` is the mean over it: near a border the mean is over the pixels that exist, rather than
//! over reflected copies that would count some pixels twice. The paper's code calls
//! `cv2.blur(·, (90, 90))` and `(6, 6)`, a box of that side (anchored off centre for even sides);
//! the defaults here, radii 45 and 3 (sides 91 and 7), are the nearest centred boxes.
//!
//! Each box mean is separable and O(1) per pixel: prefix sums along each row, then a running sum
//! down each column, both in f64 (rows are stored as f32 in between). Rows of the horizontal pass
//! and bands of rows of the vertical pass run in parallel with rayon; the fusion itself happens in
//! the vertical pass, so the 7 channels of means never need a buffer of their own.
//!
//! # Parity
//! `reference/foreground_ref.py` states the same formula in numpy (f64 cumulative sums). The
//! parity test asserts max abs ≤ 1e-6 on F in 0..1; what remains is the f32 storage of the
//! intermediate means and of the first pass's F and B̂ (measured ≤ 1.5e-7).

use rayon::prelude::*;

/// ε of the paper's code, keeps the weighted means finite where a box holds no weight.
const EPS: f64 = 1e-5;
/// Channels of one box mean: α, αF (3), (1−α)B (3).
const CH: usize = 7;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlurFusionOptions {
    /// Box radius of the first pass (side 2r+1).
    pub radius_large: usize,
    /// Box radius of the second pass.
    pub radius_small: usize,
}

impl Default for BlurFusionOptions {
    fn default() -> Self {
        BlurFusionOptions { radius_large: 45, radius_small: 3 }
    }
}

/// F for `image` (H×W×3, row-major, 0..1) under `alpha` (H×W): H×W×3 in 0..1.
///
/// # Panics
/// If the slices do not hold `w·h·3` and `w·h` values.
pub fn blur_fusion(image: &[f32], alpha: &[f32], w: usize, h: usize, opts: &BlurFusionOptions) -> Vec<f32> {
    assert_eq!(image.len(), w * h * 3, "image has {} values for {w}x{h}x3", image.len());
    assert_eq!(alpha.len(), w * h, "alpha has {} values for {w}x{h}", alpha.len());
    if w * h == 0 {
        return Vec::new();
    }
    let mut row_means = vec![0f32; CH * w * h];
    let mut f = vec![0f32; 3 * w * h];
    let mut b = vec![0f32; 3 * w * h];
    let plane = Plane { image, alpha, w, h };
    row_box_means(&mut row_means, &plane, image, image, opts.radius_large);
    column_box_means_fused(&row_means, &plane, opts.radius_large, &mut f, &mut b);
    // The second pass reads F and B̂ only through its row means, so it may write over them.
    row_box_means(&mut row_means, &plane, &f, &b, opts.radius_small);
    column_box_means_fused(&row_means, &plane, opts.radius_small, &mut f, &mut b);
    f
}

struct Plane<'a> {
    image: &'a [f32],
    alpha: &'a [f32],
    w: usize,
    h: usize,
}

/// The clipped window `[i − r, i + r] ∩ [0, n)` as a half-open range.
fn window(i: usize, r: usize, n: usize) -> (usize, usize) {
    (i.saturating_sub(r), (i + r + 1).min(n))
}

/// Horizontal box means of α, αF and (1−α)B, 7 channels per pixel.
fn row_box_means(out: &mut [f32], p: &Plane, f: &[f32], b: &[f32], r: usize) {
    let w = p.w;
    out.par_chunks_mut(CH * w).enumerate().for_each_init(
        || vec![0f64; CH * (w + 1)],
        |prefix, (y, out_row)| {
            // prefix[CH·x + k]: sum of channel k over columns < x.
            let mut acc = [0f64; CH];
            prefix[..CH].fill(0.0);
            for x in 0..w {
                let i = y * w + x;
                let a = p.alpha[i] as f64;
                acc[0] += a;
                for c in 0..3 {
                    acc[1 + c] += a * f[3 * i + c] as f64;
                    acc[4 + c] += (1.0 - a) * b[3 * i + c] as f64;
                }
                prefix[CH * (x + 1)..CH * (x + 2)].copy_from_slice(&acc);
            }
            for x in 0..w {
                let (lo, hi) = window(x, r, w);
                let n = (hi - lo) as f64;
                for k in 0..CH {
                    out_row[CH * x + k] = ((prefix[CH * hi + k] - prefix[CH * lo + k]) / n) as f32;
                }
            }
        },
    );
}

/// Vertical box means of the row means, fused at once into F and B̂ of each pixel.
fn column_box_means_fused(row_means: &[f32], p: &Plane, r: usize, f: &mut [f32], b: &mut [f32]) {
    let (w, h) = (p.w, p.h);
    // A few bands per thread: each band starts its running sum afresh (2r+1 rows of work), so
    // more bands cost more, but a busy core should not hold up the rest.
    let bands = (rayon::current_num_threads() * 2).clamp(1, h);
    let band = h.div_ceil(bands);
    f.par_chunks_mut(3 * w * band).zip(b.par_chunks_mut(3 * w * band)).enumerate().for_each(|(k, (f_band, b_band))| {
        let y0 = k * band;
        let mut sum = vec![0f64; CH * w];
        let add_row = |sum: &mut [f64], y: usize, sign: f64| {
            for (s, &v) in sum.iter_mut().zip(&row_means[CH * w * y..CH * w * (y + 1)]) {
                *s += sign * v as f64;
            }
        };
        let (mut lo, mut hi) = (y0, y0);
        for (dy, (f_row, b_row)) in f_band.chunks_exact_mut(3 * w).zip(b_band.chunks_exact_mut(3 * w)).enumerate() {
            let y = y0 + dy;
            let (want_lo, want_hi) = window(y, r, h);
            if dy == 0 {
                (lo, hi) = (want_lo, want_lo);
            }
            while hi < want_hi {
                add_row(&mut sum, hi, 1.0);
                hi += 1;
            }
            while lo < want_lo {
                add_row(&mut sum, lo, -1.0);
                lo += 1;
            }
            let n = (hi - lo) as f64;
            for x in 0..w {
                let i = y * w + x;
                let m: [f64; CH] = std::array::from_fn(|c| sum[CH * x + c] / n);
                let px = &p.image[3 * i..3 * i + 3];
                fuse(m, p.alpha[i] as f64, px, &mut f_row[3 * x..3 * x + 3], &mut b_row[3 * x..3 * x + 3]);
            }
        }
    });
}

/// F̂ and B̂ from the means, then the step along I = αF + (1−α)B.
#[inline]
fn fuse(m: [f64; CH], a: f64, image: &[f32], f: &mut [f32], b: &mut [f32]) {
    let mean_alpha = m[0];
    for c in 0..3 {
        let f_hat = m[1 + c] / (mean_alpha + EPS);
        let b_hat = m[4 + c] / ((1.0 - mean_alpha) + EPS);
        let residual = image[c] as f64 - a * f_hat - (1.0 - a) * b_hat;
        f[c] = (f_hat + a * residual).clamp(0.0, 1.0) as f32;
        b[c] = b_hat as f32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn constant_image_is_its_own_foreground() {
        let (w, h) = (31, 17);
        let image: Vec<f32> = (0..w * h).flat_map(|_| [0.2f32, 0.6, 0.9]).collect();
        let alpha: Vec<f32> = (0..w * h).map(|i| (i * 7 % 11) as f32 / 10.0).collect();
        let f = blur_fusion(&image, &alpha, w, h, &BlurFusionOptions::default());
        for (v, e) in f.iter().zip(image.iter().cycle()) {
            assert!((v - e).abs() < 1e-4, "{v} vs {e}");
        }
    }

    #[test]
    fn opaque_pixels_keep_their_colour() {
        let (w, h) = (20, 9);
        let image: Vec<f32> = (0..w * h * 3).map(|i| (i * 13 % 256) as f32 / 255.0).collect();
        let alpha: Vec<f32> = (0..w * h).map(|i| if i % 3 == 0 { 1.0 } else { (i % 5) as f32 / 4.0 }).collect();
        let f = blur_fusion(&image, &alpha, w, h, &BlurFusionOptions { radius_large: 4, radius_small: 1 });
        for (i, &a) in alpha.iter().enumerate() {
            if a == 1.0 {
                assert_eq!(&f[3 * i..3 * i + 3], &image[3 * i..3 * i + 3], "pixel {i}");
            }
        }
    }

    #[test]
    fn two_colour_composite_is_unmixed() {
        // Foreground left, background right, a soft edge between: F where α > 0 comes out close to
        // the true foreground colour, not the mix.
        let (w, h) = (60, 8);
        let (fc, bc) = ([0.9f32, 0.1, 0.2], [0.1f32, 0.2, 0.9]);
        let alpha: Vec<f32> = (0..w * h).map(|i| (1.0 - ((i % w) as f32 - 25.0) / 10.0).clamp(0.0, 1.0)).collect();
        let image: Vec<f32> = alpha.iter().flat_map(|&a| (0..3).map(move |c| a * fc[c] + (1.0 - a) * bc[c])).collect();
        let f = blur_fusion(&image, &alpha, w, h, &BlurFusionOptions::default());
        for (p, &a) in f.chunks_exact(3).zip(&alpha) {
            if a > 0.3 {
                for c in 0..3 {
                    assert!((p[c] - fc[c]).abs() < 0.05, "α {a}: {p:?} vs {fc:?}");
                }
            }
        }
    }

    #[test]
    fn tiny_images() {
        for (w, h, r) in [(1, 1, 0), (1, 1, 5), (1, 6, 2), (7, 1, 90), (2, 2, 1)] {
            let image: Vec<f32> = (0..w * h * 3).map(|i| (i % 7) as f32 / 6.0).collect();
            let alpha: Vec<f32> = (0..w * h).map(|i| (i % 3) as f32 / 2.0).collect();
            let f = blur_fusion(&image, &alpha, w, h, &BlurFusionOptions { radius_large: r, radius_small: r / 2 });
            assert_eq!(f.len(), w * h * 3);
            assert!(f.iter().all(|v| (0.0..=1.0).contains(v)));
        }
    }
}
