//! `cv2.GaussianBlur(x, (k, k), 0)` on f64 data: OpenCV's kernel for sigma 0, separable,
//! border `BORDER_REFLECT_101` (`dcb|abcd|cba`).

use rayon::prelude::*;

/// The node's blur size: `dr = detail_range / 8 + 1`, `k = 5·dr + 1`, made odd.
/// `detail_range` is `detail_erode + detail_dilate`.
pub fn kernel_size(detail_range: u32) -> usize {
    let dr = detail_range as usize / 8 + 1;
    let k = dr * 5 + 1;
    if k % 2 == 0 {
        k + 1
    } else {
        k
    }
}

/// OpenCV's sigma for a kernel of size `k` when the caller passes sigma 0.
pub fn sigma_for_kernel_size(k: usize) -> f64 {
    0.3 * ((k as f64 - 1.0) * 0.5 - 1.0) + 0.8
}

/// OpenCV's fixed kernels for sigma 0 and small odd sizes (OpenCV 5 tabulates sizes up to 9).
fn fixed_kernel(k: usize) -> Option<&'static [f64]> {
    const K1: [f64; 1] = [1.0];
    const K3: [f64; 3] = [0.25, 0.5, 0.25];
    const K5: [f64; 5] = [0.0625, 0.25, 0.375, 0.25, 0.0625];
    const K7: [f64; 7] = [0.03125, 0.109375, 0.21875, 0.28125, 0.21875, 0.109375, 0.03125];
    const K9: [f64; 9] =
        [1.0 / 64.0, 13.0 / 256.0, 15.0 / 128.0, 51.0 / 256.0, 15.0 / 64.0, 51.0 / 256.0, 15.0 / 128.0, 13.0 / 256.0, 1.0 / 64.0];
    match k {
        1 => Some(&K1),
        3 => Some(&K3),
        5 => Some(&K5),
        7 => Some(&K7),
        9 => Some(&K9),
        _ => None,
    }
}

/// `cv2.getGaussianKernel(k, 0, CV_64F)`: the fixed table for small sizes, otherwise
/// `exp(-x²/(2σ²))` for `x = i - (k-1)/2`, normalised to sum 1 (by multiplying with 1/sum).
///
/// Panics if `k` is even or zero (OpenCV rejects those too).
pub fn gaussian_kernel(k: usize) -> Vec<f64> {
    assert!(k % 2 == 1, "Gaussian kernel size must be odd, got {k}");
    if let Some(t) = fixed_kernel(k) {
        return t.to_vec();
    }
    let sigma = sigma_for_kernel_size(k);
    let scale = -0.5 / (sigma * sigma);
    let centre = (k as f64 - 1.0) * 0.5;
    let mut kern: Vec<f64> = (0..k)
        .map(|i| {
            let x = i as f64 - centre;
            (scale * x * x).exp()
        })
        .collect();
    let inv_sum = 1.0 / kern.iter().sum::<f64>();
    kern.iter_mut().for_each(|v| *v *= inv_sum);
    kern
}

/// OpenCV's `borderInterpolate(p, len, BORDER_REFLECT_101)`: mirror about the edge pixel,
/// repeated as often as needed; a length-1 axis maps everything to 0.
pub fn reflect_101(mut p: isize, len: usize) -> usize {
    let n = len as isize;
    if n == 1 {
        return 0;
    }
    while p < 0 || p >= n {
        p = if p < 0 { -p } else { 2 * n - 2 - p };
    }
    p as usize
}

/// `cv2.GaussianBlur(src, (k, k), 0)` on a `height × width` f64 image (row-major).
pub fn gaussian_blur(src: &[f64], width: usize, height: usize, k: usize) -> Vec<f64> {
    assert_eq!(src.len(), width * height, "image size");
    let mut out = vec![0.0; width * height];
    blur_rows_into(width, height, k, &|y, row: &mut [f64]| row.copy_from_slice(&src[y * width..(y + 1) * width]), &mut out, |v| v);
    out
}

/// Separable blur of an image given row by row (`fill_row(y, row)`), each output value mapped
/// through `map` into `out` (`height × width`). Works on bands of rows in parallel, so it never
/// holds a whole f64 copy of the image: the node's blurred trimap goes straight to u8 classes.
pub(crate) fn blur_rows_into<T: Send>(
    width: usize,
    height: usize,
    k: usize,
    fill_row: &(dyn Fn(usize, &mut [f64]) + Sync),
    out: &mut [T],
    map: impl Fn(f64) -> T + Sync,
) {
    assert_eq!(out.len(), width * height);
    if width == 0 || height == 0 {
        return;
    }
    let kern = gaussian_kernel(k);
    let r = k / 2;
    // Enough rows per band that the halo (2r rows) costs little, small enough for 2+ bands.
    let band = (4 * r).max(32).min(height.div_ceil(rayon::current_num_threads().max(1))).max(1);
    out.par_chunks_mut(band * width).enumerate().for_each(|(b, chunk)| {
        let y0 = b * band;
        let y1 = y0 + chunk.len() / width;
        // Source rows the vertical pass of this band reads, after reflection.
        let (lo, hi) = (y0 as isize - r as isize..y1 as isize + r as isize)
            .map(|y| reflect_101(y, height))
            .fold((usize::MAX, 0), |(lo, hi), y| (lo.min(y), hi.max(y)));
        let mut ext = vec![0.0; width + 2 * r];
        let mut src_row = vec![0.0; width];
        let mut horiz = vec![0.0; (hi - lo + 1) * width];
        for y in lo..=hi {
            fill_row(y, &mut src_row);
            horizontal_pass(&src_row, &kern, &mut ext, &mut horiz[(y - lo) * width..(y - lo + 1) * width]);
        }
        let mut acc = vec![0.0; width];
        for (yo, out_row) in (y0..y1).zip(chunk.chunks_exact_mut(width)) {
            let row = |t: isize| {
                let y = reflect_101(yo as isize + t, height) - lo;
                &horiz[y * width..(y + 1) * width]
            };
            let c = row(0);
            for (a, &v) in acc.iter_mut().zip(c) {
                *a = kern[r] * v;
            }
            for i in 1..=r {
                let (up, down, w) = (row(-(i as isize)), row(i as isize), kern[r + i]);
                for ((a, &u), &d) in acc.iter_mut().zip(up).zip(down) {
                    *a += w * (u + d);
                }
            }
            for (o, &a) in out_row.iter_mut().zip(&acc) {
                *o = map(a);
            }
        }
    });
}

/// One row of the horizontal pass: `out[x] = Σ_t kern[t] · src[reflect(x + t - r)]`, summed
/// symmetrically about the centre tap.
fn horizontal_pass(src: &[f64], kern: &[f64], ext: &mut [f64], out: &mut [f64]) {
    let (w, r) = (src.len(), kern.len() / 2);
    for (i, e) in ext.iter_mut().enumerate() {
        *e = src[reflect_101(i as isize - r as isize, w)];
    }
    let first = ext[0];
    if ext.iter().all(|&v| v == first) {
        // A constant row (common for a mask): same arithmetic as below, done once.
        let mut a = kern[r] * first;
        for &kv in &kern[r + 1..] {
            a += kv * (first + first);
        }
        out.fill(a);
        return;
    }
    for (o, &v) in out.iter_mut().zip(&ext[r..r + w]) {
        *o = kern[r] * v;
    }
    for i in 1..=r {
        let kv = kern[r + i];
        let (left, right) = (&ext[r - i..r - i + w], &ext[r + i..r + i + w]);
        for ((o, &a), &b) in out.iter_mut().zip(left).zip(right) {
            *o += kv * (a + b);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_kernel_sizes() {
        // erode+dilate → k: defaults 6+6 → 11; small ranges give OpenCV's fixed 7-tap table.
        assert_eq!(kernel_size(2), 7);
        assert_eq!(kernel_size(7), 7);
        assert_eq!(kernel_size(12), 11);
        assert_eq!(kernel_size(16), 17);
        assert_eq!(kernel_size(24), 21);
        assert_eq!(kernel_size(32), 27);
        assert_eq!(kernel_size(80), 57);
    }

    #[test]
    fn fixed_tables_for_small_sizes() {
        assert_eq!(gaussian_kernel(1), vec![1.0]);
        assert_eq!(gaussian_kernel(3), vec![0.25, 0.5, 0.25]);
        assert_eq!(gaussian_kernel(5), vec![0.0625, 0.25, 0.375, 0.25, 0.0625]);
        let k7: Vec<f64> = [1.0, 3.5, 7.0, 9.0, 7.0, 3.5, 1.0].iter().map(|v| v / 32.0).collect();
        assert_eq!(gaussian_kernel(7), k7);
    }

    #[test]
    fn sigma_formula_above_the_tables() {
        assert!((sigma_for_kernel_size(11) - 2.0).abs() < 1e-15);
        let k = gaussian_kernel(11);
        assert!((k.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        // cv2.getGaussianKernel(11, 0, CV_64F)[0]
        assert!((k[0] - 0.008812229292562288).abs() < 1e-17);
        assert!(k.windows(2).take(5).all(|p| p[0] < p[1]), "rises to the centre");
        assert_eq!(k[3], k[7]);
        let k57 = gaussian_kernel(57);
        assert!((k57[0] - 0.0003183041021515281).abs() < 1e-18);
    }

    #[test]
    fn reflect_101_mirrors_about_the_edge_pixel() {
        // dcb|abcd|cba
        let idx: Vec<usize> = (-3..7).map(|p| reflect_101(p, 4)).collect();
        assert_eq!(idx, vec![3, 2, 1, 0, 1, 2, 3, 2, 1, 0]);
        // Repeated reflection on short axes, and the degenerate length 1.
        assert_eq!(reflect_101(-5, 2), 1);
        assert_eq!(reflect_101(7, 3), 1);
        assert_eq!(reflect_101(-9, 1), 0);
    }

    #[test]
    fn blur_of_an_impulse_is_the_outer_product_of_the_kernel() {
        let (w, h, k) = (15, 13, 7);
        let mut img = vec![0.0; w * h];
        img[6 * w + 7] = 1.0;
        let out = gaussian_blur(&img, w, h, k);
        let kern = gaussian_kernel(k);
        for y in 0..h {
            for x in 0..w {
                let (dy, dx) = (y as isize - 6 + 3, x as isize - 7 + 3);
                let want = if (0..7).contains(&dy) && (0..7).contains(&dx) { kern[dy as usize] * kern[dx as usize] } else { 0.0 };
                assert!((out[y * w + x] - want).abs() < 1e-16, "({x},{y})");
            }
        }
    }

    #[test]
    fn blur_uses_reflect_101_at_the_border() {
        // A 1-row image: the vertical pass reflects onto row 0 itself. Horizontally x=0 reads
        // src[1] at offsets -1 (reflected) and +1; without the "101" it would read src[0] at -1.
        let src = [0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0];
        let out = gaussian_blur(&src, 7, 1, 7);
        let k = gaussian_kernel(7);
        assert!((out[0] - (k[2] + k[4])).abs() < 1e-16, "{} vs {}", out[0], k[2] + k[4]);
        assert!((out[1] - (k[1] + k[3])).abs() < 1e-16, "x=1 reads src[1] at 0 and, reflected, at -2");
        assert!((out[2] - (k[0] + k[2])).abs() < 1e-16, "x=2 reads src[1] at -1 and, reflected, at -3");
        // Constant images stay constant (up to rounding).
        let c = gaussian_blur(&vec![0.75; 40 * 9], 40, 9, 21);
        assert!(c.iter().all(|v| (v - 0.75).abs() < 1e-15));
    }

    #[test]
    fn banded_blur_matches_a_direct_2d_sum() {
        // Tall image so that several bands (with halos) are used.
        let (w, h, k) = (9, 301, 11);
        let img: Vec<f64> = (0..w * h).map(|i| ((i * 7919) % 101) as f64 / 100.0).collect();
        let out = gaussian_blur(&img, w, h, k);
        let kern = gaussian_kernel(k);
        let r = (k / 2) as isize;
        for y in 0..h {
            for x in 0..w {
                let mut s = 0.0;
                for dy in -r..=r {
                    for dx in -r..=r {
                        let (sy, sx) = (reflect_101(y as isize + dy, h), reflect_101(x as isize + dx, w));
                        s += kern[(dy + r) as usize] * kern[(dx + r) as usize] * img[sy * w + sx];
                    }
                }
                assert!((out[y * w + x] - s).abs() < 1e-13, "({x},{y}): {} vs {s}", out[y * w + x]);
            }
        }
    }
}
