//! Resamplers that reproduce the node's two libraries bit for bit.
//!
//! * [`pillow_bilinear_rgb`] / [`pillow_bilinear_gray`]: Pillow 13's `Image.resize(size, BILINEAR)`
//!   on 8-bit images (the convolution resampler of `libImaging/Resample.c`: triangle filter widened
//!   by the shrink factor, 22-bit fixed-point weights, two separable passes with an 8-bit
//!   intermediate). [`pillow_resize_rgb`] is the same resampler with `LANCZOS` too, which the
//!   `quality` profile uses for the network's input (a sharper 1024² image, a better mask).
//! * [`torch_bilinear`]: `F.interpolate(mode="bilinear", align_corners=False)` on one f32 plane
//!   (2-tap, no antialiasing, computed in f32 in PyTorch's CPU operation order).
//!
//! # Pass order (Pillow 13)
//! Pillow ≤ 12 always ran the horizontal pass first. Pillow 13 (PR #9549) runs the **vertical pass
//! first when the height is reduced and loses more than twice as many pixels as the width**:
//! `out_h < in_h && in_h − out_h > 2·(in_w − out_w)`. That rule was fitted to Pillow 13.0.0 itself
//! (it decides the order of every one of several hundred random shapes, and the order shows, because
//! the 8-bit intermediate makes the two orders differ by ±1 here and there); it sends a portrait photo
//! → 1024×1024 vertical-first and a landscape one horizontal-first. The parity tests
//! (`tests/parity_resample.rs`) check it on fresh shapes every run.
//!
//! Cropping the first pass to the rows (or columns) that the second pass reads, as Pillow does,
//! only saves work: it changes no value.

use image::{GrayImage, ImageBuffer, Pixel, RgbImage};
use rayon::prelude::*;

/// Fixed-point precision of Pillow's 8-bit resampler (`32 - 8 - 2`).
const PRECISION_BITS: u32 = 22;
/// Output samples per rayon task (small images stay on one thread).
const SAMPLES_PER_TASK: usize = 1 << 15;

/// Pillow's resampling filters that we reproduce (`Image.BILINEAR`, `Image.LANCZOS`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    /// Triangle, support 1.
    Bilinear,
    /// `sinc(x)·sinc(x/3)`, support 3.
    Lanczos,
}

impl Filter {
    fn support(self) -> f64 {
        match self {
            Filter::Bilinear => 1.0,
            Filter::Lanczos => 3.0,
        }
    }

    #[inline]
    fn weight(self, x: f64) -> f64 {
        match self {
            Filter::Bilinear => triangle(x),
            Filter::Lanczos => lanczos(x),
        }
    }
}

/// Pillow `Image.resize((w, h), Image.BILINEAR)` of an RGB image, byte for byte (Pillow 13.0.0).
///
/// Same size ⇒ copy. A zero output dimension gives an empty image; an empty input gives black.
pub fn pillow_bilinear_rgb(src: &RgbImage, w: u32, h: u32) -> RgbImage {
    pillow_resize_image::<image::Rgb<u8>, 3>(src, w, h, Filter::Bilinear)
}

/// Pillow `Image.resize((w, h), Image.BILINEAR)` of an L (grey) image, byte for byte.
pub fn pillow_bilinear_gray(src: &GrayImage, w: u32, h: u32) -> GrayImage {
    pillow_resize_image::<image::Luma<u8>, 1>(src, w, h, Filter::Bilinear)
}

/// Pillow `Image.resize((w, h), filter)` of an RGB image, byte for byte.
pub fn pillow_resize_rgb(src: &RgbImage, w: u32, h: u32, filter: Filter) -> RgbImage {
    pillow_resize_image::<image::Rgb<u8>, 3>(src, w, h, filter)
}

/// Pillow `Image.resize((w, h), filter)` of an L (grey) image, byte for byte.
pub fn pillow_resize_gray(src: &GrayImage, w: u32, h: u32, filter: Filter) -> GrayImage {
    pillow_resize_image::<image::Luma<u8>, 1>(src, w, h, filter)
}

fn pillow_resize_image<P, const C: usize>(src: &ImageBuffer<P, Vec<u8>>, w: u32, h: u32, filter: Filter) -> ImageBuffer<P, Vec<u8>>
where
    P: Pixel<Subpixel = u8>,
{
    let (iw, ih) = src.dimensions();
    let data = pillow_resize::<C>(src.as_raw(), iw as usize, ih as usize, w as usize, h as usize, filter);
    ImageBuffer::from_raw(w, h, data).expect("resampler output has the requested size")
}

/// Which pass Pillow 13 runs first (see the module docs).
#[inline]
pub fn pillow_vertical_first(in_w: usize, in_h: usize, out_w: usize, out_h: usize) -> bool {
    out_h < in_h && (in_h as i64 - out_h as i64) > 2 * (in_w as i64 - out_w as i64)
}

/// [`pillow_resize`] with `Filter::Bilinear`.
pub fn pillow_bilinear<const C: usize>(src: &[u8], in_w: usize, in_h: usize, out_w: usize, out_h: usize) -> Vec<u8> {
    pillow_resize::<C>(src, in_w, in_h, out_w, out_h, Filter::Bilinear)
}

/// The generic core on interleaved 8-bit samples with `C` channels.
pub fn pillow_resize<const C: usize>(src: &[u8], in_w: usize, in_h: usize, out_w: usize, out_h: usize, filter: Filter) -> Vec<u8> {
    assert_eq!(src.len(), in_w * in_h * C, "pillow_resize: buffer is not {in_w}x{in_h}x{C}");
    if out_w == 0 || out_h == 0 {
        return Vec::new();
    }
    if in_w == 0 || in_h == 0 {
        return vec![0; out_w * out_h * C];
    }
    let need_h = out_w != in_w;
    let need_v = out_h != in_h;
    match (need_h, need_v) {
        (false, false) => src.to_vec(),
        (true, false) => {
            let ch = Coeffs::new(filter, in_w, out_w);
            horizontal::<C>(src, in_w, 0..in_h, 0, &ch, out_w)
        }
        (false, true) => {
            let cv = Coeffs::new(filter, in_h, out_h);
            vertical::<C>(src, in_w, 0..in_w, &cv, 0)
        }
        (true, true) => {
            let ch = Coeffs::new(filter, in_w, out_w);
            let cv = Coeffs::new(filter, in_h, out_h);
            if pillow_vertical_first(in_w, in_h, out_w, out_h) {
                // Only the columns the horizontal pass reads.
                let (x0, x1) = ch.span();
                let tmp = vertical::<C>(src, in_w, x0..x1, &cv, 0);
                horizontal::<C>(&tmp, x1 - x0, 0..out_h, x0, &ch, out_w)
            } else {
                // Only the rows the vertical pass reads.
                let (y0, y1) = cv.span();
                let tmp = horizontal::<C>(src, in_w, y0..y1, 0, &ch, out_w);
                vertical::<C>(&tmp, out_w, 0..out_w, &cv, y0)
            }
        }
    }
}

/// Fixed-point filter taps of one axis, Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc`.
struct Coeffs {
    /// Per output index: first input index and number of taps.
    bounds: Vec<(usize, usize)>,
    /// `ksize` weights per output index (the first `n` are used).
    k: Vec<i32>,
    ksize: usize,
}

impl Coeffs {
    fn new(filter: Filter, in_size: usize, out_size: usize) -> Coeffs {
        // Pillow: scale = (double)(in1 - in0) / outSize with a float box; exact for our sizes.
        let scale = in_size as f64 / out_size as f64;
        let filterscale = if scale < 1.0 { 1.0 } else { scale };
        let support = filter.support() * filterscale;
        let ksize = support.ceil() as usize * 2 + 1;
        let ss = 1.0 / filterscale;
        let mut bounds = Vec::with_capacity(out_size);
        let mut k = vec![0i32; out_size * ksize];
        let mut w = vec![0f64; ksize];
        for xx in 0..out_size {
            let center = (xx as f64 + 0.5) * scale;
            // C `(int)` truncates toward zero.
            let xmin = ((center - support + 0.5) as i64).max(0);
            let xmax = ((center + support + 0.5) as i64).min(in_size as i64);
            let n = (xmax - xmin).max(0) as usize;
            let mut ww = 0.0f64;
            for (x, wx) in w.iter_mut().enumerate().take(n) {
                let t = ((x as i64 + xmin) as f64 - center + 0.5) * ss;
                let v = filter.weight(t);
                *wx = v;
                ww += v;
            }
            let row = &mut k[xx * ksize..xx * ksize + n];
            for (kx, &wx) in row.iter_mut().zip(&w) {
                let v = if ww != 0.0 { wx / ww } else { wx };
                *kx = quantize(v);
            }
            bounds.push((xmin as usize, n));
        }
        Coeffs { bounds, k, ksize }
    }

    #[inline]
    fn taps(&self, o: usize) -> (usize, &[i32]) {
        let (start, n) = self.bounds[o];
        (start, &self.k[o * self.ksize..o * self.ksize + n])
    }

    /// Input range `[first, last)` read by any output index.
    fn span(&self) -> (usize, usize) {
        let first = self.bounds.first().map_or(0, |b| b.0);
        let last = self.bounds.last().map_or(0, |b| b.0 + b.1);
        (first, last.max(first))
    }
}

#[inline]
fn triangle(x: f64) -> f64 {
    let x = if x < 0.0 { -x } else { x };
    if x < 1.0 {
        1.0 - x
    } else {
        0.0
    }
}

/// Pillow's `lanczos_filter`: the sinc truncated to [-3, 3) and windowed by sinc(x/3).
#[inline]
fn lanczos(x: f64) -> f64 {
    fn sinc(x: f64) -> f64 {
        if x == 0.0 {
            1.0
        } else {
            let x = x * std::f64::consts::PI;
            x.sin() / x
        }
    }
    if (-3.0..3.0).contains(&x) {
        sinc(x) * sinc(x / 3.0)
    } else {
        0.0
    }
}

/// `normalize_coeffs_8bpc`: round half away from zero, then C truncation.
#[inline]
fn quantize(v: f64) -> i32 {
    let s = v * (1u32 << PRECISION_BITS) as f64;
    if v < 0.0 {
        (-0.5 + s) as i32
    } else {
        (0.5 + s) as i32
    }
}

/// `clip8`: `>> PRECISION_BITS` (arithmetic) then clamp to 0..=255.
#[inline(always)]
fn clip8(acc: i32) -> u8 {
    (acc >> PRECISION_BITS).clamp(0, 255) as u8
}

const HALF: i32 = 1 << (PRECISION_BITS - 1);

/// Rows per rayon task for rows of `row_len` samples.
#[inline]
fn rows_per_task(row_len: usize) -> usize {
    (SAMPLES_PER_TASK / row_len.max(1)).max(1)
}

/// Horizontal pass: source rows `rows` of `src` (row width `in_w`) → `out_w` samples per row.
/// Tap positions are shifted left by `x_offset` (the source was cropped by that many columns).
fn horizontal<const C: usize>(
    src: &[u8],
    in_w: usize,
    rows: std::ops::Range<usize>,
    x_offset: usize,
    co: &Coeffs,
    out_w: usize,
) -> Vec<u8> {
    // Every output pixel gets the same number of taps (the widest), the extra ones with weight 0
    // over zero padding: the sums are unchanged and the tap loop unrolls.
    let kmax = co.bounds.iter().map(|b| b.1).max().unwrap_or(0);
    match kmax {
        0..=2 => horizontal_fixed::<C, 2>(src, in_w, rows, x_offset, co, out_w),
        3 => horizontal_fixed::<C, 3>(src, in_w, rows, x_offset, co, out_w),
        4 => horizontal_fixed::<C, 4>(src, in_w, rows, x_offset, co, out_w),
        5 => horizontal_fixed::<C, 5>(src, in_w, rows, x_offset, co, out_w),
        6 => horizontal_fixed::<C, 6>(src, in_w, rows, x_offset, co, out_w),
        7 | 8 => horizontal_fixed::<C, 8>(src, in_w, rows, x_offset, co, out_w),
        _ => horizontal_any::<C>(src, in_w, rows, x_offset, co, out_w),
    }
}

fn horizontal_fixed<const C: usize, const K: usize>(
    src: &[u8],
    in_w: usize,
    rows: std::ops::Range<usize>,
    x_offset: usize,
    co: &Coeffs,
    out_w: usize,
) -> Vec<u8> {
    let in_stride = in_w * C;
    let out_stride = out_w * C;
    let taps: Vec<(usize, [i32; K])> = (0..out_w)
        .map(|xx| {
            let (start, k) = co.taps(xx);
            let mut w = [0i32; K];
            w[..k.len()].copy_from_slice(k);
            ((start - x_offset) * C, w)
        })
        .collect();
    let mut out = vec![0u8; rows.len() * out_stride];
    let per = rows_per_task(out_stride);
    out.par_chunks_mut(out_stride * per).enumerate().for_each(|(ci, chunk)| {
        let mut padded = vec![0u8; in_stride + K * C];
        for (ri, orow) in chunk.chunks_exact_mut(out_stride).enumerate() {
            let y = rows.start + ci * per + ri;
            padded[..in_stride].copy_from_slice(&src[y * in_stride..(y + 1) * in_stride]);
            for (opx, (base, k)) in orow.chunks_exact_mut(C).zip(&taps) {
                let window: &[u8] = &padded[*base..*base + K * C];
                let mut acc = [HALF; C];
                for t in 0..K {
                    for c in 0..C {
                        acc[c] += window[t * C + c] as i32 * k[t];
                    }
                }
                for c in 0..C {
                    opx[c] = clip8(acc[c]);
                }
            }
        }
    });
    out
}

/// Wide kernels (strong shrinking): the plain loop over each pixel's own taps.
fn horizontal_any<const C: usize>(
    src: &[u8],
    in_w: usize,
    rows: std::ops::Range<usize>,
    x_offset: usize,
    co: &Coeffs,
    out_w: usize,
) -> Vec<u8> {
    let in_stride = in_w * C;
    let out_stride = out_w * C;
    let mut out = vec![0u8; rows.len() * out_stride];
    let per = rows_per_task(out_stride);
    out.par_chunks_mut(out_stride * per).enumerate().for_each(|(ci, chunk)| {
        for (ri, orow) in chunk.chunks_exact_mut(out_stride).enumerate() {
            let y = rows.start + ci * per + ri;
            let srow = &src[y * in_stride..(y + 1) * in_stride];
            for (xx, opx) in orow.chunks_exact_mut(C).enumerate() {
                let (start, k) = co.taps(xx);
                let base = (start - x_offset) * C;
                let taps = &srow[base..base + k.len() * C];
                let mut acc = [HALF; C];
                for (px, &kw) in taps.chunks_exact(C).zip(k) {
                    for c in 0..C {
                        acc[c] += px[c] as i32 * kw;
                    }
                }
                for c in 0..C {
                    opx[c] = clip8(acc[c]);
                }
            }
        }
    });
    out
}

/// Vertical pass over columns `cols` of `src` (row width `in_w`, in pixels). Tap positions are
/// shifted up by `y_offset` (the source was cropped by that many rows).
fn vertical<const C: usize>(
    src: &[u8],
    in_w: usize,
    cols: std::ops::Range<usize>,
    co: &Coeffs,
    y_offset: usize,
) -> Vec<u8> {
    let in_stride = in_w * C;
    let c0 = cols.start * C;
    let row_len = cols.len() * C;
    let out_h = co.bounds.len();
    let mut out = vec![0u8; out_h * row_len];
    if row_len == 0 {
        return out;
    }
    let per = rows_per_task(row_len);
    out.par_chunks_mut(row_len * per).enumerate().for_each(|(ci, chunk)| {
        let mut acc = vec![0i32; row_len];
        for (ri, orow) in chunk.chunks_exact_mut(row_len).enumerate() {
            let yy = ci * per + ri;
            let (start, k) = co.taps(yy);
            acc.fill(HALF);
            for (t, &kw) in k.iter().enumerate() {
                let y = start + t - y_offset;
                let srow = &src[y * in_stride + c0..y * in_stride + c0 + row_len];
                for (a, &s) in acc.iter_mut().zip(srow) {
                    *a += s as i32 * kw;
                }
            }
            for (o, &a) in orow.iter_mut().zip(&acc) {
                *o = clip8(a);
            }
        }
    });
    out
}

/// One output index of a 2-tap linear interpolation: `in[i0]·l0 + in[i1]·l1`.
#[derive(Debug, Clone, Copy)]
struct Lerp {
    i0: usize,
    i1: usize,
    l0: f32,
    l1: f32,
}

/// PyTorch's `compute_indices_weights_linear` (align_corners=False, no explicit scale) in f32.
fn torch_taps(in_size: usize, out_size: usize) -> Vec<Lerp> {
    let scale = in_size as f32 / out_size as f32;
    (0..out_size)
        .map(|o| {
            let s = scale * (o as f32 + 0.5) - 0.5;
            let s = if s < 0.0 { 0.0 } else { s };
            let i0 = (s.floor() as usize).min(in_size - 1);
            let lambda = (s - i0 as f32).clamp(0.0, 1.0);
            let i1 = if i0 < in_size - 1 { i0 + 1 } else { i0 };
            Lerp { i0, i1, l0: 1.0 - lambda, l1: lambda }
        })
        .collect()
}

/// `F.interpolate(x[None, None], size=(out_h, out_w), mode="bilinear", align_corners=False)` of one
/// row-major f32 plane `w`×`h`: `s = (o+0.5)·in/out − 0.5` (clamped at 0), `i0 = ⌊s⌋`,
/// `i1 = min(i0+1, in−1)`, `λ = s − i0`, and
/// `out = (x[y0][x0]·wx0 + x[y0][x1]·wx1)·wy0 + (x[y1][x0]·wx0 + x[y1][x1]·wx1)·wy1` in f32
/// (PyTorch's CPU kernel order). No antialiasing, also when shrinking.
///
/// An empty output gives an empty vector; an empty input gives zeros.
pub fn torch_bilinear(src: &[f32], w: usize, h: usize, out_w: usize, out_h: usize) -> Vec<f32> {
    assert_eq!(src.len(), w * h, "torch_bilinear: buffer is not {w}x{h}");
    if out_w == 0 || out_h == 0 {
        return Vec::new();
    }
    if w == 0 || h == 0 {
        return vec![0.0; out_w * out_h];
    }
    let tx = torch_taps(w, out_w);
    let ty = torch_taps(h, out_h);

    // The horizontal lerp of a source row is the same for every output row that reads it, so each
    // needed row is interpolated once (the values are those of the nested formula, bit for bit).
    let mut slot = vec![usize::MAX; h];
    let mut needed = Vec::new();
    for t in &ty {
        for y in [t.i0, t.i1] {
            if slot[y] == usize::MAX {
                slot[y] = needed.len();
                needed.push(y);
            }
        }
    }
    let mut tmp = vec![0f32; needed.len() * out_w];
    let per = rows_per_task(out_w);
    tmp.par_chunks_mut(out_w * per).enumerate().for_each(|(ci, chunk)| {
        for (ri, trow) in chunk.chunks_exact_mut(out_w).enumerate() {
            let y = needed[ci * per + ri];
            let srow = &src[y * w..(y + 1) * w];
            for (o, t) in trow.iter_mut().zip(&tx) {
                *o = srow[t.i0] * t.l0 + srow[t.i1] * t.l1;
            }
        }
    });

    let mut out = vec![0f32; out_w * out_h];
    out.par_chunks_mut(out_w * per).enumerate().for_each(|(ci, chunk)| {
        for (ri, orow) in chunk.chunks_exact_mut(out_w).enumerate() {
            let t = ty[ci * per + ri];
            let r0 = &tmp[slot[t.i0] * out_w..][..out_w];
            let r1 = &tmp[slot[t.i1] * out_w..][..out_w];
            for ((o, &a), &b) in orow.iter_mut().zip(r0).zip(r1) {
                *o = a * t.l0 + b * t.l1;
            }
        }
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Straightforward floating-point model of Pillow's resampler (one axis), for cross-checks.
    fn naive_axis(src: &[u8], n_in: usize, n_out: usize, lines: usize, c: usize, horizontal: bool) -> Vec<u8> {
        let co = Coeffs::new(Filter::Bilinear, n_in, n_out);
        let (w_in, w_out) = if horizontal { (n_in, n_out) } else { (lines, lines) };
        let h_out = if horizontal { lines } else { n_out };
        let mut out = vec![0u8; w_out * h_out * c];
        for line in 0..lines {
            for o in 0..n_out {
                let (start, k) = co.taps(o);
                for ch in 0..c {
                    let mut acc = HALF;
                    for (t, &kw) in k.iter().enumerate() {
                        let i = start + t;
                        let idx = if horizontal { (line * w_in + i) * c + ch } else { (i * w_in + line) * c + ch };
                        acc += src[idx] as i32 * kw;
                    }
                    let oidx = if horizontal { (line * w_out + o) * c + ch } else { (o * w_out + line) * c + ch };
                    out[oidx] = clip8(acc);
                }
            }
        }
        out
    }

    fn naive(src: &[u8], iw: usize, ih: usize, ow: usize, oh: usize, c: usize, vfirst: bool) -> Vec<u8> {
        let mut cur = src.to_vec();
        let (mut w, mut h) = (iw, ih);
        let order = if vfirst { [false, true] } else { [true, false] };
        for horiz in order {
            if horiz && ow != w {
                cur = naive_axis(&cur, w, ow, h, c, true);
                w = ow;
            }
            if !horiz && oh != h {
                cur = naive_axis(&cur, h, oh, w, c, false);
                h = oh;
            }
        }
        cur
    }

    fn noise(n: usize, seed: u64) -> Vec<u8> {
        let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 24) as u8
            })
            .collect()
    }

    #[test]
    fn weights_sum_to_one_in_fixed_point() {
        for filter in [Filter::Bilinear, Filter::Lanczos] {
            for (i, o) in [(1, 1), (1, 7), (7, 1), (1448, 1024), (1024, 1448), (257, 3), (3, 257)] {
                let co = Coeffs::new(filter, i, o);
                for x in 0..o {
                    let (_, k) = co.taps(x);
                    let s: i64 = k.iter().map(|&v| v as i64).sum();
                    assert!((s - (1 << 22)).abs() <= k.len() as i64, "{filter:?} {i}->{o} @ {x}: {s}");
                }
            }
        }
    }

    #[test]
    fn identity_is_a_copy() {
        let img = RgbImage::from_raw(5, 3, noise(45, 1)).unwrap();
        assert_eq!(pillow_bilinear_rgb(&img, 5, 3), img);
    }

    #[test]
    fn constant_images_stay_constant() {
        for &(iw, ih, ow, oh) in &[(1, 1, 9, 4), (10, 7, 3, 2), (1, 257, 1, 1024), (300, 1, 7, 1), (33, 45, 64, 17)] {
            let img = GrayImage::from_pixel(iw, ih, image::Luma([173]));
            for filter in [Filter::Bilinear, Filter::Lanczos] {
                let out = pillow_resize_gray(&img, ow, oh, filter);
                assert_eq!(out.dimensions(), (ow, oh));
                assert!(out.pixels().all(|p| p.0[0] == 173), "{filter:?} {iw}x{ih}->{ow}x{oh}");
            }
        }
    }

    #[test]
    fn one_pixel_sources_and_targets() {
        let img = RgbImage::from_pixel(1, 1, image::Rgb([1, 2, 3]));
        let up = pillow_bilinear_rgb(&img, 4, 3);
        assert!(up.pixels().all(|p| p.0 == [1, 2, 3]));
        // Shrinking to one pixel averages (triangle over the whole image).
        let img = GrayImage::from_raw(2, 1, vec![0, 200]).unwrap();
        assert_eq!(pillow_bilinear_gray(&img, 1, 1).into_raw(), vec![100]);
    }

    #[test]
    fn matches_the_naive_model_in_both_orders() {
        let shapes = [
            (1, 257, 3, 64),
            (257, 1, 64, 3),
            (31, 17, 64, 64),
            (64, 64, 31, 17),
            (120, 120, 100, 10),
            (120, 120, 10, 100),
            (50, 400, 40, 10),
            (1086, 1448, 1024, 1024),
            (1448, 1086, 1024, 1024),
            (9, 1000, 9, 3),
        ];
        for (si, &(iw, ih, ow, oh)) in shapes.iter().enumerate() {
            let src = noise(iw * ih * 3, si as u64 + 7);
            let vfirst = pillow_vertical_first(iw, ih, ow, oh);
            let ours = pillow_bilinear::<3>(&src, iw, ih, ow, oh);
            assert_eq!(ours, naive(&src, iw, ih, ow, oh, 3, vfirst), "{iw}x{ih}->{ow}x{oh}");
            let grey = pillow_bilinear::<1>(&src[..iw * ih], iw, ih, ow, oh);
            assert_eq!(grey, naive(&src[..iw * ih], iw, ih, ow, oh, 1, vfirst), "grey {iw}x{ih}->{ow}x{oh}");
        }
    }

    #[test]
    fn order_rule() {
        // Portrait photo → 1024²: vertical first; landscape: horizontal first.
        assert!(pillow_vertical_first(1086, 1448, 1024, 1024));
        assert!(!pillow_vertical_first(1448, 1086, 1024, 1024));
        // Boundary: exactly twice the width loss is still horizontal first.
        assert!(!pillow_vertical_first(120, 120, 70, 20));
        assert!(pillow_vertical_first(120, 120, 71, 20));
        // Upscaled height never goes first.
        assert!(!pillow_vertical_first(120, 120, 400, 130));
    }

    #[test]
    fn empty_inputs_and_outputs() {
        assert!(pillow_bilinear::<3>(&[], 0, 0, 0, 5).is_empty());
        assert_eq!(pillow_bilinear::<1>(&[], 0, 4, 2, 2), vec![0; 4]);
        assert!(torch_bilinear(&[1.0], 1, 1, 0, 3).is_empty());
        assert_eq!(torch_bilinear(&[], 0, 0, 2, 1), vec![0.0; 2]);
    }

    fn torch_naive(src: &[f32], w: usize, h: usize, ow: usize, oh: usize) -> Vec<f32> {
        let tx = torch_taps(w, ow);
        let ty = torch_taps(h, oh);
        let mut out = Vec::with_capacity(ow * oh);
        for t in &ty {
            for s in &tx {
                let a = src[t.i0 * w + s.i0] * s.l0 + src[t.i0 * w + s.i1] * s.l1;
                let b = src[t.i1 * w + s.i0] * s.l0 + src[t.i1 * w + s.i1] * s.l1;
                out.push(a * t.l0 + b * t.l1);
            }
        }
        out
    }

    #[test]
    fn torch_identity_and_constants() {
        let src: Vec<f32> = noise(35, 3).iter().map(|&v| v as f32 / 255.0).collect();
        assert_eq!(torch_bilinear(&src, 7, 5, 7, 5), src);
        let c = vec![0.25f32; 12];
        assert!(torch_bilinear(&c, 4, 3, 9, 1).iter().all(|&v| v == 0.25));
        assert_eq!(torch_bilinear(&[0.5], 1, 1, 3, 257), vec![0.5; 3 * 257]);
    }

    #[test]
    fn torch_known_values() {
        // 2 → 4 upsample of [0, 1]: s = -0.25→0, 0.25, 0.75, 1.25→(i0=1, λ=0.25 on itself).
        let out = torch_bilinear(&[0.0, 1.0], 2, 1, 4, 1);
        assert_eq!(out, vec![0.0, 0.25, 0.75, 1.0]);
        // 4 → 2 downsample has no antialias: s = 0.5, 2.5.
        let out = torch_bilinear(&[0.0, 1.0, 2.0, 3.0], 4, 1, 2, 1);
        assert_eq!(out, vec![0.5, 2.5]);
    }

    #[test]
    fn torch_cached_rows_match_nested_formula() {
        for &(w, h, ow, oh) in
            &[(1024, 1024, 257, 1), (1, 257, 40, 1024), (64, 48, 1086, 1448), (100, 100, 3, 3), (5, 9, 5, 2)]
        {
            let src: Vec<f32> = noise(w * h, (w * h) as u64).iter().map(|&v| v as f32 / 255.0).collect();
            assert_eq!(torch_bilinear(&src, w, h, ow, oh), torch_naive(&src, w, h, ow, oh), "{w}x{h}->{ow}x{oh}");
        }
    }
}
