//! The ViTMatte trimap (docs/node-behaviour.md §7.1): erode and dilate the binary coarse mask with
//! all-ones k×k kernels, five iterations, exactly as OpenCV does, then mark the band between them
//! as unknown.
//!
//! OpenCV collapses `iterations` of an all-ones kernel into one rectangle. Per axis the window
//! covers offsets `[-5·⌊k/2⌋, +5·(k−1−⌊k/2⌋)]` around the output pixel, for erode and dilate alike
//! (no reflection of the anchor), so even kernels give an asymmetric band; pixels outside the image
//! are ignored (erode sees them as 255, dilate as 0); `k = 1` changes nothing.
//!
//! Both filters are separable running minima/maxima with the van Herk/Gil-Werman algorithm: three
//! comparisons per pixel and axis whatever the kernel size.

use image::GrayImage;
use rayon::prelude::*;

/// The node runs `cv2.erode`/`cv2.dilate` with `iterations=5`.
pub const ITERATIONS: u32 = 5;

/// Trimap value of the unknown band: the node writes 0.5 and truncates `255·0.5`, so 127, not 128.
pub const UNKNOWN: u8 = 127;

/// The window of `iterations` passes of an all-ones `k`-wide kernel, as offsets `(before, after)`
/// of the output pixel along one axis.
pub fn window(k: u32, iterations: u32) -> (usize, usize) {
    assert!(k >= 1, "kernel size must be at least 1");
    let anchor = k / 2;
    ((iterations * anchor) as usize, (iterations * (k - 1 - anchor)) as usize)
}

/// `generate_VITMatte_trimap`: `mask` is the binary coarse mask (only 255 counts as foreground,
/// as the node's `astype(uint8)` keeps only exact ones); the result is 255 where the eroded mask
/// is set, 127 where the dilated mask is set, 0 elsewhere.
pub fn vitmatte_trimap(mask: &GrayImage, erode: u32, dilate: u32) -> GrayImage {
    let binary = GrayImage::from_raw(mask.width(), mask.height(), mask.as_raw().iter().map(|&v| if v == 255 { 255 } else { 0 }).collect())
        .expect("same size");
    three_levels(&erode_rect(&binary, erode, ITERATIONS), &dilate_rect(&binary, dilate, ITERATIONS), UNKNOWN)
}

/// 255 where `eroded` is set, `unknown` where only `dilated` is, 0 elsewhere.
fn three_levels(eroded: &GrayImage, dilated: &GrayImage, unknown: u8) -> GrayImage {
    let data = eroded
        .as_raw()
        .iter()
        .zip(dilated.as_raw())
        .map(|(&e, &d)| {
            if e == 255 {
                255
            } else if d == 255 {
                unknown
            } else {
                0
            }
        })
        .collect();
    GrayImage::from_raw(eroded.width(), eroded.height(), data).expect("same size")
}

/// Trimap value of the `quality` profile's unknown band: the 0.5 that ViTMatte was trained with.
pub const BAND_UNKNOWN: u8 = 128;

/// The `quality` profile's trimap for a soft mask (`H×W`, 0..1): subject (255) where `α ≥ sure.1`
/// eroded by `inner` pixels is set, background (0) where `α ≥ sure.0` dilated by `outer` pixels is
/// not, [`BAND_UNKNOWN`] between. With `sure = (0.5, 0.5)` it is a band around the 0.5 contour;
/// wider thresholds add every region the network was unsure of (a hair halo, a veil), which a
/// matting method can then decide from colour. Square windows, symmetric about the pixel, so the
/// band is as wide as asked on every side (the node's even kernels shift it).
pub fn band_trimap(alpha: &[f32], width: u32, height: u32, inner: u32, outer: u32, sure: (f32, f32)) -> GrayImage {
    assert_eq!(alpha.len(), (width * height) as usize, "mask must have the image's size");
    let above = |t: f32| {
        GrayImage::from_raw(width, height, alpha.iter().map(|&a| if a >= t { 255 } else { 0 }).collect()).expect("same size")
    };
    three_levels(&erode_rect(&above(sure.1), 2 * inner + 1, 1), &dilate_rect(&above(sure.0), 2 * outer + 1, 1), BAND_UNKNOWN)
}

/// `cv2.erode(src, np.ones((k, k), np.uint8), iterations=iterations)` with OpenCV's default border
/// (out-of-image pixels ignored).
pub fn erode_rect(src: &GrayImage, k: u32, iterations: u32) -> GrayImage {
    morph::<Min>(src, k, iterations)
}

/// `cv2.dilate(src, np.ones((k, k), np.uint8), iterations=iterations)` with OpenCV's default border
/// (out-of-image pixels ignored).
pub fn dilate_rect(src: &GrayImage, k: u32, iterations: u32) -> GrayImage {
    morph::<Max>(src, k, iterations)
}

/// A running operation; monomorphised so the inner loops vectorise.
trait Op {
    /// The value that stands for "outside the image": it never wins.
    const IDENTITY: u8;
    fn apply(a: u8, b: u8) -> u8;

    /// `dst[i] = op(a[i], b[i])`.
    #[inline]
    fn zip(dst: &mut [u8], a: &[u8], b: &[u8]) {
        for ((d, &x), &y) in dst.iter_mut().zip(a).zip(b) {
            *d = Self::apply(x, y);
        }
    }
}

struct Min;
struct Max;

impl Op for Min {
    const IDENTITY: u8 = 255;
    #[inline(always)]
    fn apply(a: u8, b: u8) -> u8 {
        a.min(b)
    }
}

impl Op for Max {
    const IDENTITY: u8 = 0;
    #[inline(always)]
    fn apply(a: u8, b: u8) -> u8 {
        a.max(b)
    }
}

fn morph<O: Op>(src: &GrayImage, k: u32, iterations: u32) -> GrayImage {
    let (w, h) = (src.width() as usize, src.height() as usize);
    let (before, after) = window(k, iterations);
    if before + after == 0 || w == 0 || h == 0 {
        return src.clone();
    }
    let mut horizontal = vec![0u8; w * h];
    horizontal
        .par_chunks_mut(w)
        .zip(src.as_raw().par_chunks(w))
        .for_each_init(|| Scratch::new(w + before + after), |scratch, (out, row)| running_1d::<O>(row, out, before, after, scratch));
    let out = vertical::<O>(&horizontal, w, h, before, after);
    GrayImage::from_raw(w as u32, h as u32, out).expect("same size")
}

struct Scratch {
    p: Vec<u8>,
    g: Vec<u8>,
    h: Vec<u8>,
}

impl Scratch {
    fn new(len: usize) -> Self {
        Scratch { p: vec![0; len], g: vec![0; len], h: vec![0; len] }
    }
}

/// `out[i] = op(src[i−before ..= i+after] ∩ src)` by van Herk/Gil-Werman: the line, padded with
/// the identity, is cut into blocks of the window length; `g` runs forward inside each block, `h`
/// backward, and every window is a block suffix (`h`) joined to the next block's prefix (`g`).
fn running_1d<O: Op>(src: &[u8], out: &mut [u8], before: usize, after: usize, s: &mut Scratch) {
    let n = src.len();
    let win = before + after + 1;
    let len = n + before + after;
    let (p, g, h) = (&mut s.p[..len], &mut s.g[..len], &mut s.h[..len]);
    p[..before].fill(O::IDENTITY);
    p[before..before + n].copy_from_slice(src);
    p[before + n..].fill(O::IDENTITY);
    for start in (0..len).step_by(win) {
        let end = (start + win).min(len);
        let mut acc = p[start];
        g[start] = acc;
        for j in start + 1..end {
            acc = O::apply(acc, p[j]);
            g[j] = acc;
        }
        let mut acc = p[end - 1];
        h[end - 1] = acc;
        for j in (start..end - 1).rev() {
            acc = O::apply(acc, p[j]);
            h[j] = acc;
        }
    }
    O::zip(out, &h[..n], &g[win - 1..win - 1 + n]);
}

/// The same along columns, a band of columns at a time with whole-row operations (which
/// vectorise and read memory in order).
fn vertical<O: Op>(src: &[u8], w: usize, h: usize, before: usize, after: usize) -> Vec<u8> {
    const BAND: usize = 512;
    let win = before + after + 1;
    let len = h + before + after;
    let bands: Vec<(usize, usize)> = (0..w).step_by(BAND).map(|x0| (x0, (x0 + BAND).min(w))).collect();
    let results: Vec<Vec<u8>> = bands
        .par_iter()
        .map(|&(x0, x1)| {
            let bw = x1 - x0;
            let identity_row = vec![O::IDENTITY; bw];
            let row = |j: usize| -> &[u8] {
                if j >= before && j < before + h {
                    let y = j - before;
                    &src[y * w + x0..y * w + x1]
                } else {
                    &identity_row
                }
            };
            let mut g = vec![0u8; len * bw];
            let mut hh = vec![0u8; len * bw];
            for start in (0..len).step_by(win) {
                let end = (start + win).min(len);
                g[start * bw..(start + 1) * bw].copy_from_slice(row(start));
                for j in start + 1..end {
                    let (prev, cur) = g.split_at_mut(j * bw);
                    O::zip(&mut cur[..bw], &prev[(j - 1) * bw..], row(j));
                }
                hh[(end - 1) * bw..end * bw].copy_from_slice(row(end - 1));
                for j in (start..end - 1).rev() {
                    let (cur, next) = hh.split_at_mut((j + 1) * bw);
                    O::zip(&mut cur[j * bw..], &next[..bw], row(j));
                }
            }
            let mut out = vec![0u8; h * bw];
            for i in 0..h {
                O::zip(&mut out[i * bw..(i + 1) * bw], &hh[i * bw..(i + 1) * bw], &g[(i + win - 1) * bw..(i + win) * bw]);
            }
            out
        })
        .collect();
    let mut out = vec![0u8; w * h];
    for (&(x0, x1), band) in bands.iter().zip(&results) {
        let bw = x1 - x0;
        for y in 0..h {
            out[y * w + x0..y * w + x1].copy_from_slice(&band[y * bw..(y + 1) * bw]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Copy)]
    enum Which {
        Min,
        Max,
    }

    /// The definition, O(k²) per pixel.
    fn naive(src: &GrayImage, k: u32, op: Which) -> GrayImage {
        let (identity, apply): (u8, fn(u8, u8) -> u8) = match op {
            Which::Min => (255, |a, b| a.min(b)),
            Which::Max => (0, |a, b| a.max(b)),
        };
        let (before, after) = window(k, ITERATIONS);
        let (w, h) = (src.width() as i64, src.height() as i64);
        GrayImage::from_fn(src.width(), src.height(), |x, y| {
            let mut acc = identity;
            for yy in (y as i64 - before as i64)..=(y as i64 + after as i64) {
                for xx in (x as i64 - before as i64)..=(x as i64 + after as i64) {
                    if (0..w).contains(&xx) && (0..h).contains(&yy) {
                        acc = apply(acc, src.get_pixel(xx as u32, yy as u32)[0]);
                    }
                }
            }
            image::Luma([acc])
        })
    }

    fn pseudo_random_mask(w: u32, h: u32, seed: u32) -> GrayImage {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
        GrayImage::from_fn(w, h, |_, _| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            image::Luma([if s % 7 == 0 {
                255
            } else if s % 11 == 0 {
                40
            } else {
                0
            }])
        })
    }

    #[test]
    fn band_trimap_is_symmetric_about_the_half_contour() {
        // α ramps from 0 at x = 0 to 1 at x = 20; the seed starts at x = 10.
        let (w, h) = (21u32, 3u32);
        let alpha: Vec<f32> = (0..h).flat_map(|_| (0..w).map(|x| x as f32 / 20.0)).collect();
        let t = band_trimap(&alpha, w, h, 3, 4, (0.5, 0.5));
        let row: Vec<u8> = t.as_raw()[w as usize..2 * w as usize].to_vec();
        let want: Vec<u8> = (0..w).map(|x| if x < 6 { 0 } else if x < 13 { BAND_UNKNOWN } else { 255 }).collect();
        assert_eq!(row, want);
        // An empty soft mask is all background, a full one all subject.
        assert!(band_trimap(&[0.2; 12], 4, 3, 2, 2, (0.5, 0.5)).as_raw().iter().all(|&v| v == 0));
        assert!(band_trimap(&[0.9; 12], 4, 3, 2, 2, (0.5, 0.5)).as_raw().iter().all(|&v| v == 255));
    }

    #[test]
    fn windows_match_opencv_iterations() {
        assert_eq!(window(1, 5), (0, 0));
        assert_eq!(window(2, 5), (5, 0));
        assert_eq!(window(6, 5), (15, 10));
        assert_eq!(window(7, 5), (15, 15));
    }

    #[test]
    fn fast_filters_equal_the_definition() {
        for (i, (w, h)) in [(1, 1), (1, 9), (13, 1), (37, 23), (64, 50)].into_iter().enumerate() {
            let src = pseudo_random_mask(w, h, i as u32);
            for k in [1, 2, 3, 6, 7, 20] {
                assert_eq!(erode_rect(&src, k, ITERATIONS), naive(&src, k, Which::Min), "erode {w}x{h} k={k}");
                assert_eq!(dilate_rect(&src, k, ITERATIONS), naive(&src, k, Which::Max), "dilate {w}x{h} k={k}");
            }
        }
    }

    #[test]
    fn trimap_has_three_values_and_k1_gives_no_band() {
        let mut m = GrayImage::new(40, 30);
        for y in 10..20 {
            for x in 10..25 {
                m.put_pixel(x, y, image::Luma([255]));
            }
        }
        let t = vitmatte_trimap(&m, 1, 1);
        assert_eq!(t, m);
        let t = vitmatte_trimap(&m, 2, 3);
        assert!(t.as_raw().iter().all(|&v| v == 0 || v == UNKNOWN || v == 255));
        // erode k=2: window [-5, 0] per axis, so the fg block shrinks from the top/left only.
        assert_eq!(t.get_pixel(15, 15)[0], 255);
        assert_eq!(t.get_pixel(14, 15)[0], UNKNOWN);
        assert_eq!(t.get_pixel(24, 19)[0], 255);
        // dilate k=3: window [-5, +5].
        assert_eq!(t.get_pixel(5, 15)[0], UNKNOWN);
        assert_eq!(t.get_pixel(4, 15)[0], 0);
        assert_eq!(t.get_pixel(29, 15)[0], UNKNOWN);
        assert_eq!(t.get_pixel(30, 15)[0], 0);
    }
}
