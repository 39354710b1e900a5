//! Detail method "GuidedFilter" (docs/node-behaviour.md §5): He et al.'s colour guided filter,
//! reproducing `cv2.ximgproc.guidedFilter(guide, src, radius, eps)` bit for bit.
//!
//! OpenCV (opencv_contrib `ximgproc/src/guided_filter.cpp`) works in f32 with ~17 full-image
//! box filters: `mean(·)` is a normalised `(2r+1)²` box with `BORDER_REFLECT` whose sums are
//! taken in f64 and rounded to f32 once; everything else is element-wise f32 arithmetic:
//!
//! ```text
//! Σ   = mean(I Iᵀ) − μ μᵀ + eps·I₃          cov = mean(I p) − μ mean(p)
//! a   = adj(Σ)/det(Σ) · cov                 b   = mean(p) − aᵀ μ
//! q   = mean(b) + mean(a)ᵀ I
//! ```
//!
//! This module does the same arithmetic, in the same order and precision, so that the result is
//! identical to OpenCV's up to the order of the f64 additions inside a box sum. For the node's
//! inputs (u8/255 guide, 0/1 mask) the first pass's sums are exact (every term is a multiple of
//! 2⁻³⁹, radius ≤ 63), so its means are bit-identical; the second pass sums arbitrary f32 `a`, `b`
//! and may differ from OpenCV's in the last bits of an f64 (measured: ≤ 1e-16 on the output).
//! Details copied on purpose:
//! - the diagonal of Σ is `(mean(I_c²) + eps) − μ_c²` in OpenCV's SSE loop, but
//!   `mean(I_c²) − (μ_c² − eps)` in its scalar tail, i.e. for the last `width % 4` columns;
//! - Σ⁻¹ is the cofactor matrix divided by the determinant, and when `eps < 0.01` a determinant
//!   below 1e-6 in magnitude is replaced by 1.
//!
//! It is faster than OpenCV's way because nothing is materialised as a full image: the image is
//! cut into bands of rows (one per thread) and each band streams through two fused passes:
//! 1. per row, sliding column sums (f64) of the 13 quantities I, I Iᵀ, p, I p over the vertical
//!    window, then one horizontal sliding sum that yields the 13 means at once, then `a`, `b`
//!    for that row into a small ring buffer of `2r+2` rows;
//! 2. sliding column sums of `a`, `b` over that ring and a horizontal sliding sum → `q`.
//!
//! Every box sum is O(1) per pixel whatever the radius; a radius larger than the image is handled
//! by repeated reflection, exactly like OpenCV's `borderInterpolate`.

use image::{GrayImage, RgbImage};
use rayon::prelude::*;

/// The node's eps: it calls `0.15/10` "sigma" and passes it unsquared as OpenCV's `eps`.
pub const NODE_EPS: f64 = 0.015;

/// The OpenCV radius the node passes for its `filter_radius`: `d = filter_radius + 1`, then `+1`
/// if `d` is even (docs/node-behaviour.md §5). Defaults: erode 6 + dilate 6 → `12/6 + 1 = 3` → 5.
pub fn opencv_radius(filter_radius: u32) -> usize {
    let d = filter_radius as usize + 1;
    if d % 2 == 0 {
        d + 1
    } else {
        d
    }
}

/// The node's `guided_filter_alpha(i, m, filter_radius)`: the guided filter of the mask with the
/// image as guide, `radius = opencv_radius(filter_radius)`, `eps = 0.015`.
///
/// Guide = `image/255` and source = `mask/255` in f32 (the node's mask is binary, so exactly 0 or
/// 1). Returns `H×W` f32, row-major and **not clipped** (the node's three output channels are
/// identical; this is one of them). The caller applies `HistogramRemap::apply_u8`.
///
/// Panics if the image and mask sizes differ.
pub fn guided_filter_alpha(image: &RgbImage, mask: &GrayImage, filter_radius: u32) -> Vec<f32> {
    guided_filter_u8(image, mask, opencv_radius(filter_radius), NODE_EPS)
}

/// [`guided_filter`] with `image/255` as guide and `mask/255` as source, for any OpenCV `radius`
/// and `eps`, without making f32 copies of the inputs (same result as converting them first).
///
/// Panics if the image and mask sizes differ.
pub fn guided_filter_u8(image: &RgbImage, mask: &GrayImage, radius: usize, eps: f64) -> Vec<f32> {
    assert_eq!(image.dimensions(), mask.dimensions(), "guided filter: image and mask sizes differ");
    let (w, h) = (image.width() as usize, image.height() as usize);
    filter_impl(image.as_raw(), mask.as_raw(), w, h, radius, eps, Tuning::default())
}

/// The detail method "GuidedFilter".
pub struct GuidedFilter;

/// Guided filter eps for the `quality` profile's soft mask. The node's 0.015 blurs the edge by
/// about the window size; 1e-3 keeps hair-sized colour edges (measured on the ground-truth
/// benchmark, BENCHMARKS.md).
pub const SOFT_MASK_EPS: f64 = 1e-3;

/// The `quality` profile's window: about 1/256 of the long side (4 px at 1024), enough to see a
/// hair's colour on both sides, small enough not to smear the network's edge.
pub fn soft_mask_radius(width: u32, height: u32) -> usize {
    ((width.max(height) as f64 / 256.0).round() as usize).max(2)
}

impl crate::refine::Method for GuidedFilter {
    fn name(&self) -> &'static str {
        "GuidedFilter"
    }

    fn id(&self) -> &'static str {
        "guided-filter"
    }

    fn in_node(&self) -> bool {
        true
    }

    /// The node's branch: the filter of the binary mask, `filter_radius = detail_range/6 + 1`, then
    /// the histogram remap of the unclipped result.
    fn refine_coarse(
        &self,
        image: &RgbImage,
        coarse: &GrayImage,
        params: &crate::Params,
        _: Option<&crate::refine::vitmatte::VitMatteSession>,
    ) -> crate::Result<GrayImage> {
        let q = guided_filter_alpha(image, coarse, params.detail_range() / 6 + 1);
        let remap = crate::remap::HistogramRemap::new(params.black_point, params.white_point);
        Ok(GrayImage::from_raw(image.width(), image.height(), q.iter().map(|&v| remap.apply_u8(v)).collect())
            .expect("filter keeps the size"))
    }

    /// The soft mask filtered with the photo as guide, with [`SOFT_MASK_EPS`] so that the filter
    /// follows colour edges instead of smoothing across them.
    fn refine_band(
        &self,
        image: &RgbImage,
        soft: &GrayImage,
        _: &GrayImage,
        _: &crate::Params,
        _: Option<&crate::refine::vitmatte::VitMatteSession>,
    ) -> crate::Result<Vec<f32>> {
        Ok(guided_filter_u8(image, soft, soft_mask_radius(image.width(), image.height()), SOFT_MASK_EPS))
    }
}

/// `cv2.ximgproc.guidedFilter(guide, src, radius, eps)` for an f32 `H×W×3` guide (interleaved,
/// row-major) and a single-channel f32 `H×W` source. Returns `H×W` f32.
///
/// Panics if the slice lengths do not match `width × height`, if `eps` is negative or not finite,
/// or if `radius` exceeds `i32::MAX` (OpenCV's own limits). Inputs should be finite: as in OpenCV,
/// whose box filter also uses sliding sums, a NaN or infinity spreads to every later window.
pub fn guided_filter(guide: &[f32], src: &[f32], width: usize, height: usize, radius: usize, eps: f64) -> Vec<f32> {
    filter_impl(guide, src, width, height, radius, eps, Tuning::default())
}

/// A pixel value as the filter sees it: f32 as is, u8 as `u8/255` (`pil2tensor`).
trait Sample: Copy + Send + Sync {
    fn unit(self) -> f32;
}

impl Sample for f32 {
    #[inline(always)]
    fn unit(self) -> f32 {
        self
    }
}

/// `u8_to_unit` for every byte, so the u8 path needs no f32 copy of the image.
const UNIT_LUT: [f32; 256] = {
    let mut t = [0f32; 256];
    let mut i = 0;
    while i < 256 {
        t[i] = i as f32 / 255.0f32;
        i += 1;
    }
    t
};

impl Sample for u8 {
    #[inline(always)]
    fn unit(self) -> f32 {
        UNIT_LUT[self as usize]
    }
}

/// OpenCV's `borderInterpolate(p, n, BORDER_REFLECT)` (`cba|abcd|dcb`), for any distance outside.
#[inline]
fn reflect(p: isize, n: usize) -> usize {
    let n = n as isize;
    let q = if p < 0 { -p - 1 } else { p };
    let m = q % (2 * n);
    (if m < n { m } else { 2 * n - 1 - m }) as usize
}

/// Calls `f(i, k)` so that `Σ k·v[i]` over the calls equals `Σ_{t=c-r}^{c+r} v[reflect(t)]`:
/// whole reflection periods (`2n` taps, every index twice) are folded into one weighted call each.
fn for_window(c: usize, r: usize, n: usize, mut f: impl FnMut(usize, f64)) {
    let len = 2 * r + 1;
    let period = 2 * n;
    let full = len / period;
    if full > 0 {
        for i in 0..n {
            f(i, (2 * full) as f64);
        }
    }
    let start = c as isize - r as isize;
    for t in 0..(len % period) {
        f(reflect(start + t as isize, n), 1.0);
    }
}

/// Number of quantities box-filtered in the first pass (I: 3, I Iᵀ: 6, p: 1, I p: 3), padded to
/// 16 lanes so that a column is a whole number of SIMD vectors.
const N1: usize = 16;

struct Plan {
    w: usize,
    h: usize,
    r: usize,
    /// `1/(2r+1)²` in f64, as OpenCV's normalised box filter scales its f64 sums.
    scale: f64,
    eps: f32,
    /// OpenCV's tiny-determinant guard, active only for `eps < 0.01`.
    guard: bool,
    /// Columns handled by OpenCV's SSE loop (`width & !3`); the rest by its scalar tail.
    w4: usize,
    /// Horizontal sliding window: at column `x ≥ 1` column `enter[x]` comes in and
    /// `leave[x]` goes out.
    enter: Vec<u32>,
    leave: Vec<u32>,
}

impl Plan {
    fn new(w: usize, h: usize, r: usize, eps: f64) -> Self {
        let k = (2 * r + 1) as f64;
        let (ri, wi) = (r as isize, w as isize);
        Plan {
            w,
            h,
            r,
            scale: 1.0 / (k * k),
            eps: eps as f32,
            guard: eps < 1e-2,
            w4: w & !3,
            enter: (0..wi).map(|x| reflect(x + ri, w) as u32).collect(),
            leave: (0..wi).map(|x| reflect(x - ri - 1, w) as u32).collect(),
        }
    }
}

/// Knobs for the tests: how many bands, and whether to use the portable code even where AVX2 is
/// available (the results are identical either way: the same IEEE operations in the same order).
#[derive(Debug, Clone, Copy, Default)]
struct Tuning {
    bands: Option<usize>,
    portable: bool,
}

fn filter_impl<G: Sample, S: Sample>(guide: &[G], src: &[S], w: usize, h: usize, radius: usize, eps: f64, tuning: Tuning) -> Vec<f32> {
    assert_eq!(guide.len(), w * h * 3, "guided_filter: guide must be {w}x{h}x3");
    assert_eq!(src.len(), w * h, "guided_filter: src must be {w}x{h}");
    assert!(eps.is_finite() && eps >= 0.0, "guided_filter: eps must be finite and >= 0, got {eps}");
    assert!(radius <= i32::MAX as usize, "guided_filter: radius {radius} too large");
    if w == 0 || h == 0 {
        return Vec::new();
    }
    let plan = Plan::new(w, h, radius, eps);
    let bands = tuning.bands.unwrap_or_else(|| auto_bands(h, radius)).clamp(1, h);
    let rows = h.div_ceil(bands);
    let mut out = vec![0f32; w * h];
    out.par_chunks_mut(rows * w).enumerate().for_each(|(i, chunk)| run_band(&plan, guide, src, i * rows, chunk, tuning.portable));
    out
}

/// One band per thread, unless the bands would be so short that the per-band start-up
/// (about two windows of rows) dominates.
fn auto_bands(h: usize, r: usize) -> usize {
    let threads = rayon::current_num_threads().max(1);
    let min_rows = (8 * (2 * r + 1)).max(64);
    threads.min(h / min_rows).max(1)
}

fn run_band<G: Sample, S: Sample>(plan: &Plan, guide: &[G], src: &[S], y0: usize, out: &mut [f32], portable: bool) {
    #[cfg(target_arch = "x86_64")]
    {
        if !portable && std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2 (checked just above).
            unsafe { band_avx2(plan, guide, src, y0, out) };
            return;
        }
    }
    let _ = portable;
    band(plan, guide, src, y0, out)
}

/// [`band`] compiled for AVX2, so that the per-pixel loops vectorise 4 f64 / 8 f32 wide.
/// No FMA: contracting `a*b + c` would change the rounding and the parity with OpenCV.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn band_avx2<G: Sample, S: Sample>(plan: &Plan, guide: &[G], src: &[S], y0: usize, out: &mut [f32]) {
    band(plan, guide, src, y0, out)
}

/// Produces the rows of `a` (3 lanes) and `b` of the first pass in increasing row order, into a
/// ring buffer that holds the last `cap` of them.
struct Producer<'a, G, S> {
    plan: &'a Plan,
    guide: &'a [G],
    src: &'a [S],
    /// Column sums over the vertical window of row `produced`.
    col: Vec<[f64; N1]>,
    ring: Vec<[f32; 4]>,
    cap: usize,
    produced: usize,
}

impl<'a, G: Sample, S: Sample> Producer<'a, G, S> {
    #[inline(always)]
    fn rows(&self, y: usize) -> (&'a [G], &'a [S]) {
        let w = self.plan.w;
        (&self.guide[y * w * 3..(y + 1) * w * 3], &self.src[y * w..(y + 1) * w])
    }

    #[inline(always)]
    fn start(plan: &'a Plan, guide: &'a [G], src: &'a [S], first: usize, cap: usize) -> Self {
        let w = plan.w;
        let mut p = Producer { plan, guide, src, col: vec![[0f64; N1]; w], ring: vec![[0f32; 4]; cap * w], cap, produced: first };
        for_window(first, plan.r, plan.h, |i, k| {
            let (g, s) = p.rows(i);
            col1_add(&mut p.col, g, s, k);
        });
        p.emit();
        p
    }

    /// Makes sure that row `y` has been produced.
    #[inline(always)]
    fn ensure(&mut self, y: usize) {
        let (r, h) = (self.plan.r as isize, self.plan.h);
        while self.produced < y {
            self.produced += 1;
            let p = self.produced as isize;
            let (gi, si) = self.rows(reflect(p + r, h));
            let (go, so) = self.rows(reflect(p - r - 1, h));
            col1_slide(&mut self.col, gi, si, go, so);
            self.emit();
        }
    }

    #[inline(always)]
    fn emit(&mut self) {
        let w = self.plan.w;
        let slot = self.produced % self.cap;
        hpass1_coeffs(&self.col, self.plan, &mut self.ring[slot * w..(slot + 1) * w]);
    }

    #[inline(always)]
    fn row(&self, y: usize) -> &[[f32; 4]] {
        debug_assert!(y <= self.produced && y + self.cap > self.produced);
        let w = self.plan.w;
        let slot = y % self.cap;
        &self.ring[slot * w..(slot + 1) * w]
    }
}

/// Output rows `y0 .. y0 + out.len()/w`.
#[inline(always)]
fn band<G: Sample, S: Sample>(plan: &Plan, guide: &[G], src: &[S], y0: usize, out: &mut [f32]) {
    let (w, h, r) = (plan.w, plan.h, plan.r);
    let y1 = y0 + out.len() / w;

    // Rows of a, b under the first output row's window. While the window (2r+2 rows including the
    // one leaving) is shorter than the image, it touches at most one border, so the lowest row
    // needed never decreases as y grows and a ring of 2r+2 rows suffices; otherwise keep them all.
    let (mut lo, mut hi) = (usize::MAX, 0);
    for_window(y0, r, h, |i, _| {
        lo = lo.min(i);
        hi = hi.max(i);
    });
    let cap = if 2 * r + 2 < h { 2 * r + 2 } else { h };
    if cap == h {
        lo = 0;
    }
    let mut prod = Producer::start(plan, guide, src, lo, cap);
    prod.ensure(hi);

    let mut col = vec![[0f64; 4]; w];
    for_window(y0, r, h, |i, k| col2_add(&mut col, prod.row(i), k));
    for y in y0..y1 {
        if y > y0 {
            let (yi, ri) = (y as isize, r as isize);
            let enter = reflect(yi + ri, h);
            prod.ensure(enter);
            let leave = reflect(yi - ri - 1, h);
            col2_slide(&mut col, prod.row(enter), prod.row(leave));
        }
        hpass2(&col, plan, &guide[y * w * 3..(y + 1) * w * 3], &mut out[(y - y0) * w..(y - y0 + 1) * w]);
    }
}

/// The 13 first-pass quantities of one pixel, in f32 as OpenCV multiplies them:
/// `I0 I1 I2, I0I0 I0I1 I0I2 I1I1 I1I2 I2I2, p, pI0 pI1 pI2`.
#[inline(always)]
fn quantities<G: Sample, S: Sample>(g: &[G], s: S) -> [f64; N1] {
    let (g0, g1, g2, p) = (g[0].unit(), g[1].unit(), g[2].unit(), s.unit());
    let q = [g0, g1, g2, g0 * g0, g0 * g1, g0 * g2, g1 * g1, g1 * g2, g2 * g2, p, p * g0, p * g1, p * g2];
    let mut v = [0f64; N1];
    for c in 0..13 {
        v[c] = q[c] as f64;
    }
    v
}

#[inline(always)]
fn col1_add<G: Sample, S: Sample>(col: &mut [[f64; N1]], g: &[G], s: &[S], k: f64) {
    for ((c, g), &s) in col.iter_mut().zip(g.chunks_exact(3)).zip(s) {
        let v = quantities(g, s);
        for l in 0..N1 {
            c[l] += k * v[l];
        }
    }
}

#[inline(always)]
fn col1_slide<G: Sample, S: Sample>(col: &mut [[f64; N1]], gi: &[G], si: &[S], go: &[G], so: &[S]) {
    for ((((c, gi), &si), go), &so) in col.iter_mut().zip(gi.chunks_exact(3)).zip(si).zip(go.chunks_exact(3)).zip(so) {
        let a = quantities(gi, si);
        let b = quantities(go, so);
        for l in 0..N1 {
            c[l] += a[l] - b[l];
        }
    }
}

/// Pixels per tile of the first pass's per-pixel algebra (one AVX2 vector of f32).
const TILE: usize = 8;

/// Horizontal box sums of the first pass → the 13 means of a row, rounded to f32, gathered into
/// tiles of [`TILE`] pixels (structure of arrays, so the algebra vectorises across pixels) →
/// `a`, `b` of the row.
#[inline(always)]
fn hpass1_coeffs(col: &[[f64; N1]], plan: &Plan, out: &mut [[f32; 4]]) {
    let (w, w4, scale, eps, guard) = (plan.w, plan.w4, plan.scale, plan.eps, plan.guard);
    let (enter, leave) = (&plan.enter[..w], &plan.leave[..w]);
    let mut s = [0f64; N1];
    for_window(0, plan.r, w, |j, k| {
        for l in 0..N1 {
            s[l] += k * col[j][l];
        }
    });
    for (t, chunk) in out[..w].chunks_mut(TILE).enumerate() {
        let x0 = t * TILE;
        let mut tile = [[0f32; TILE]; 13];
        #[allow(clippy::needless_range_loop)] // k is a lane of 13 tile rows, and x0 + k a column
        for k in 0..chunk.len() {
            let x = x0 + k;
            if x > 0 {
                let a = &col[enter[x] as usize];
                let b = &col[leave[x] as usize];
                for l in 0..N1 {
                    s[l] += a[l] - b[l];
                }
            }
            let m: [f32; N1] = std::array::from_fn(|l| (s[l] * scale) as f32);
            for l in 0..13 {
                tile[l][k] = m[l];
            }
        }
        let ab = if x0 + TILE <= w4 {
            coeffs_tile::<true>(&tile, eps, guard)
        } else {
            // The tile holding OpenCV's scalar tail (the last width % 4 columns).
            let (v, s) = (coeffs_tile::<true>(&tile, eps, guard), coeffs_tile::<false>(&tile, eps, guard));
            std::array::from_fn(|l| std::array::from_fn(|k| if x0 + k < w4 { v[l][k] } else { s[l][k] }))
        };
        for (k, o) in chunk.iter_mut().enumerate() {
            *o = [ab[0][k], ab[1][k], ab[2][k], ab[3][k]];
        }
    }
}

#[inline(always)]
fn coeffs_tile<const SSE: bool>(t: &[[f32; TILE]; 13], eps: f32, guard: bool) -> [[f32; TILE]; 4] {
    let mut o = [[0f32; TILE]; 4];
    for k in 0..TILE {
        let c = coeffs::<SSE>(std::array::from_fn(|l| t[l][k]), eps, guard);
        for l in 0..4 {
            o[l][k] = c[l];
        }
    }
    o
}

/// `SSE` selects the operation order of OpenCV's vector loop (`true`) or of its scalar tail.
#[inline(always)]
fn coeffs<const SSE: bool>(m: [f32; 13], eps: f32, guard: bool) -> [f32; 4] {
    let [mi0, mi1, mi2, m00, m01, m02, m11, m12, m22, mp, mp0, mp1, mp2] = m;
    // ComputeCovGuideFromChannelsMul: sub_mad on the diagonal (c0 = -eps), sub_mul elsewhere.
    let diag = |v: f32, mu: f32| if SSE { (v - (-eps)) - mu * mu } else { v - (mu * mu + (-eps)) };
    let s00 = diag(m00, mi0);
    let s01 = m01 - mi1 * mi0;
    let s02 = m02 - mi2 * mi0;
    let s11 = diag(m11, mi1);
    let s12 = m12 - mi2 * mi1;
    let s22 = diag(m22, mi2);
    // ComputeCovGuideInv: cofactors (det_2x2), determinant along the first column, guard, divide.
    let i00 = s11 * s22 - s12 * s12;
    let i10 = s12 * s02 - s22 * s01;
    let i11 = s22 * s00 - s02 * s02;
    let i20 = s01 * s12 - s02 * s11;
    let i21 = s02 * s01 - s00 * s12;
    let i22 = s00 * s11 - s01 * s01;
    let mut det = s00 * i00;
    det += s01 * i10;
    det += s02 * i20;
    if guard && det.abs() < 1e-6f32 {
        det = 1.0;
    }
    let (i00, i10, i11, i20, i21, i22) = (i00 / det, i10 / det, i11 / det, i20 / det, i21 / det, i22 / det);
    // ComputeCovFromSrcChannelsMul, ComputeAlpha, ComputeBeta.
    let c0 = mp0 - mi0 * mp;
    let c1 = mp1 - mi1 * mp;
    let c2 = mp2 - mi2 * mp;
    let a0 = i00 * c0 + i10 * c1 + i20 * c2;
    let a1 = i10 * c0 + i11 * c1 + i21 * c2;
    let a2 = i20 * c0 + i21 * c1 + i22 * c2;
    let b = mp - a0 * mi0 - a1 * mi1 - a2 * mi2;
    [a0, a1, a2, b]
}

#[inline(always)]
fn col2_add(col: &mut [[f64; 4]], row: &[[f32; 4]], k: f64) {
    for (c, v) in col.iter_mut().zip(row) {
        for l in 0..4 {
            c[l] += k * v[l] as f64;
        }
    }
}

#[inline(always)]
fn col2_slide(col: &mut [[f64; 4]], enter: &[[f32; 4]], leave: &[[f32; 4]]) {
    for ((c, a), b) in col.iter_mut().zip(enter).zip(leave) {
        for l in 0..4 {
            c[l] += a[l] as f64 - b[l] as f64;
        }
    }
}

/// Horizontal box sums of `a`, `b` and `q = mean(b) + mean(a)ᵀ I` for one row.
#[inline(always)]
fn hpass2<G: Sample>(col: &[[f64; 4]], plan: &Plan, guide: &[G], out: &mut [f32]) {
    let mut s = [0f64; 4];
    for_window(0, plan.r, plan.w, |j, k| {
        for l in 0..4 {
            s[l] += k * col[j][l];
        }
    });
    let q = |s: &[f64; 4], g: &[G]| {
        let m: [f32; 4] = std::array::from_fn(|l| (s[l] * plan.scale) as f32);
        // ApplyTransform_ParBody: q = mean(b); q += mean(a_c) * I_c, c = 0, 1, 2.
        m[3] + m[0] * g[0].unit() + m[1] * g[1].unit() + m[2] * g[2].unit()
    };
    out[0] = q(&s, &guide[..3]);
    for (x, (o, g)) in out.iter_mut().zip(guide.chunks_exact(3)).enumerate().skip(1) {
        let a = &col[plan.enter[x] as usize];
        let b = &col[plan.leave[x] as usize];
        for l in 0..4 {
            s[l] += a[l] - b[l];
        }
        *o = q(&s, g);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::remap::u8_to_unit;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Separable O(r) box sums in f64, with reflection index by index (no folding, no sliding).
    fn naive_box_sums(v: &[f64], w: usize, h: usize, r: usize) -> Vec<f64> {
        let (ri, wi, hi) = (r as isize, w as isize, h as isize);
        let mut rows = vec![0f64; w * h];
        for y in 0..h {
            for x in 0..wi {
                rows[y * w + x as usize] = (x - ri..=x + ri).map(|t| v[y * w + reflect(t, w)]).sum();
            }
        }
        let mut out = vec![0f64; w * h];
        for y in 0..hi {
            for x in 0..w {
                out[y as usize * w + x] = (y - ri..=y + ri).map(|t| rows[reflect(t, h) * w + x]).sum();
            }
        }
        out
    }

    /// OpenCV's `meanFilter` on an f32 plane: f64 sums, scaled in f64, rounded to f32.
    fn naive_mean_f32(v: &[f32], w: usize, h: usize, r: usize) -> Vec<f32> {
        let k = (2 * r + 1) as f64;
        let v64: Vec<f64> = v.iter().map(|&x| x as f64).collect();
        naive_box_sums(&v64, w, h, r).into_iter().map(|s| (s * (1.0 / (k * k))) as f32).collect()
    }

    /// The same f32 algebra as the fast path, but plane by plane with naive box filters: what
    /// OpenCV computes, without any of the streaming machinery.
    fn naive_opencv(guide: &[f32], src: &[f32], w: usize, h: usize, r: usize, eps: f64) -> Vec<f32> {
        let n = w * h;
        let mut planes = vec![vec![0f32; n]; 13];
        for i in 0..n {
            let (g0, g1, g2, p) = (guide[3 * i], guide[3 * i + 1], guide[3 * i + 2], src[i]);
            let q = [g0, g1, g2, g0 * g0, g0 * g1, g0 * g2, g1 * g1, g1 * g2, g2 * g2, p, p * g0, p * g1, p * g2];
            for l in 0..13 {
                planes[l][i] = q[l];
            }
        }
        let means: Vec<Vec<f32>> = planes.iter().map(|p| naive_mean_f32(p, w, h, r)).collect();
        let mut ab = vec![vec![0f32; n]; 4];
        for i in 0..n {
            let m: [f32; 13] = std::array::from_fn(|l| means[l][i]);
            let c = if i % w < (w & !3) { coeffs::<true>(m, eps as f32, eps < 1e-2) } else { coeffs::<false>(m, eps as f32, eps < 1e-2) };
            for l in 0..4 {
                ab[l][i] = c[l];
            }
        }
        let mab: Vec<Vec<f32>> = ab.iter().map(|p| naive_mean_f32(p, w, h, r)).collect();
        (0..n).map(|i| mab[3][i] + mab[0][i] * guide[3 * i] + mab[1][i] * guide[3 * i + 1] + mab[2][i] * guide[3 * i + 2]).collect()
    }

    /// He et al.'s formula in f64 throughout, with a plain 3×3 inverse.
    fn naive_f64(guide: &[f32], src: &[f32], w: usize, h: usize, r: usize, eps: f64) -> Vec<f64> {
        let n = w * h;
        let k = (2 * r + 1) as f64;
        let mean = |v: &[f64]| -> Vec<f64> { naive_box_sums(v, w, h, r).into_iter().map(|s| s / (k * k)).collect() };
        let g = |c: usize| -> Vec<f64> { (0..n).map(|i| guide[3 * i + c] as f64).collect() };
        let gs = [g(0), g(1), g(2)];
        let p: Vec<f64> = src.iter().map(|&v| v as f64).collect();
        let mu: Vec<Vec<f64>> = gs.iter().map(|v| mean(v)).collect();
        let mp = mean(&p);
        let mut ii = [[vec![], vec![], vec![]], [vec![], vec![], vec![]], [vec![], vec![], vec![]]];
        for a in 0..3 {
            for b in 0..3 {
                let prod: Vec<f64> = (0..n).map(|i| gs[a][i] * gs[b][i]).collect();
                ii[a][b] = mean(&prod);
            }
        }
        let ip: Vec<Vec<f64>> = (0..3).map(|a| mean(&(0..n).map(|i| gs[a][i] * p[i]).collect::<Vec<_>>())).collect();
        let mut av = vec![vec![0f64; n]; 3];
        let mut bv = vec![0f64; n];
        for i in 0..n {
            let s = |a: usize, b: usize| ii[a][b][i] - mu[a][i] * mu[b][i] + if a == b { eps } else { 0.0 };
            let m = [[s(0, 0), s(0, 1), s(0, 2)], [s(1, 0), s(1, 1), s(1, 2)], [s(2, 0), s(2, 1), s(2, 2)]];
            let cof = |r0: usize, r1: usize, c0: usize, c1: usize| m[r0][c0] * m[r1][c1] - m[r0][c1] * m[r1][c0];
            let adj = [
                [cof(1, 2, 1, 2), -cof(0, 2, 1, 2), cof(0, 1, 1, 2)],
                [-cof(1, 2, 0, 2), cof(0, 2, 0, 2), -cof(0, 1, 0, 2)],
                [cof(1, 2, 0, 1), -cof(0, 2, 0, 1), cof(0, 1, 0, 1)],
            ];
            let det = m[0][0] * adj[0][0] + m[0][1] * adj[1][0] + m[0][2] * adj[2][0];
            let cov: [f64; 3] = std::array::from_fn(|a| ip[a][i] - mu[a][i] * mp[i]);
            let mut b = mp[i];
            for a in 0..3 {
                av[a][i] = (adj[a][0] * cov[0] + adj[a][1] * cov[1] + adj[a][2] * cov[2]) / det;
                b -= av[a][i] * mu[a][i];
            }
            bv[i] = b;
        }
        let ma: Vec<Vec<f64>> = av.iter().map(|v| mean(v)).collect();
        let mb = mean(&bv);
        (0..n).map(|i| mb[i] + (0..3).map(|a| ma[a][i] * gs[a][i]).sum::<f64>()).collect()
    }

    fn u8_guide(rng: &mut StdRng, n: usize) -> Vec<f32> {
        (0..3 * n).map(|_| u8_to_unit(rng.random())).collect()
    }

    fn binary_src(rng: &mut StdRng, n: usize) -> Vec<f32> {
        (0..n).map(|_| if rng.random_bool(0.5) { 1.0 } else { 0.0 }).collect()
    }

    fn max_abs(a: &[f32], b: &[f64]) -> f64 {
        a.iter().zip(b).map(|(&x, &y)| (x as f64 - y).abs()).fold(0.0, f64::max)
    }

    fn assert_bitwise(fast: &[f32], slow: &[f32], what: &str) {
        assert_eq!(fast.len(), slow.len());
        let diff = fast.iter().zip(slow).filter(|(a, b)| a.to_bits() != b.to_bits()).count();
        let worst = fast.iter().zip(slow).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
        assert_eq!(diff, 0, "{what}: {diff} pixels differ, worst {worst}");
    }

    #[test]
    fn node_radius_rule() {
        assert_eq!(opencv_radius(12 / 6 + 1), 5); // defaults: erode 6 + dilate 6
        assert_eq!(opencv_radius(0), 1);
        assert_eq!(opencv_radius(1), 3);
        assert_eq!(opencv_radius(2), 3);
        assert_eq!(opencv_radius(3), 5);
        assert_eq!(opencv_radius(4), 5);
        assert_eq!(opencv_radius(5), 7);
        assert_eq!(opencv_radius(86), 87);
    }

    #[test]
    fn lut_is_pil2tensor() {
        for v in 0..=255u8 {
            assert_eq!(v.unit().to_bits(), u8_to_unit(v).to_bits());
        }
    }

    #[test]
    fn reflect_is_border_interpolate() {
        // OpenCV's loop, verbatim in spirit.
        fn cv(mut p: isize, len: isize) -> usize {
            if len == 1 {
                return 0;
            }
            while p < 0 || p >= len {
                p = if p < 0 { -p - 1 } else { len - 1 - (p - len) };
            }
            p as usize
        }
        for n in 1..9usize {
            for p in -40..40isize {
                assert_eq!(reflect(p, n), cv(p, n as isize), "p={p} n={n}");
            }
        }
        assert_eq!(reflect(-1, 4), 0);
        assert_eq!(reflect(-3, 4), 2);
        assert_eq!(reflect(4, 4), 3);
        assert_eq!(reflect(6, 4), 1);
    }

    #[test]
    fn folded_window_counts_every_tap() {
        for n in 1..7usize {
            for r in 0..30usize {
                for c in 0..n {
                    let mut fast = vec![0f64; n];
                    for_window(c, r, n, |i, k| fast[i] += k);
                    let mut slow = vec![0f64; n];
                    for t in c as isize - r as isize..=(c + r) as isize {
                        slow[reflect(t, n)] += 1.0;
                    }
                    assert_eq!(fast, slow, "n={n} r={r} c={c}");
                }
            }
        }
    }

    #[test]
    fn matches_plane_by_plane_opencv_algebra_bitwise() {
        let mut rng = StdRng::seed_from_u64(7);
        let cases = [
            (1, 1, 0),
            (1, 1, 3),
            (1, 9, 2),
            (9, 1, 2),
            (1, 17, 40),
            (13, 1, 40),
            (2, 3, 1),
            (5, 4, 7),
            (7, 5, 3),
            (16, 16, 5),
            (33, 21, 4),
            (21, 33, 9),
            (40, 37, 30),
            (64, 50, 1),
            (97, 131, 5),
            (120, 80, 20),
            (6, 7, 20),
        ];
        for &(w, h, r) in &cases {
            for eps in [0.015, 1e-3, 0.1] {
                let n = w * h;
                let guide = u8_guide(&mut rng, n);
                let src = binary_src(&mut rng, n);
                let slow = naive_opencv(&guide, &src, w, h, r, eps);
                for bands in [1, 2, 3, 5] {
                    for portable in [false, true] {
                        let fast = filter_impl(&guide, &src, w, h, r, eps, Tuning { bands: Some(bands), portable });
                        assert_bitwise(&fast, &slow, &format!("{w}x{h} r={r} eps={eps} bands={bands} portable={portable}"));
                    }
                }
            }
        }
    }

    #[test]
    fn matches_he_et_al_in_f64_on_random_inputs() {
        let mut rng = StdRng::seed_from_u64(11);
        for _ in 0..25 {
            let (w, h) = (rng.random_range(1..40), rng.random_range(1..40));
            let r = rng.random_range(0..12);
            let n = w * h;
            let guide: Vec<f32> = (0..3 * n).map(|_| rng.random::<f32>()).collect();
            let src: Vec<f32> = (0..n).map(|_| rng.random::<f32>()).collect();
            for eps in [0.015, 0.1] {
                let fast = guided_filter(&guide, &src, w, h, r, eps);
                let exact = naive_f64(&guide, &src, w, h, r, eps);
                let d = max_abs(&fast, &exact);
                // f32 arithmetic as OpenCV's: far above rounding noise would mean a wrong formula.
                assert!(d < 2e-4, "{w}x{h} r={r} eps={eps}: max abs {d} vs f64");
            }
        }
    }

    #[test]
    fn constant_guide_gives_double_box_mean_of_src() {
        // With a flat guide, a = 0 and q = mean(b) = mean(mean(p)).
        let mut rng = StdRng::seed_from_u64(3);
        let (w, h, r) = (23, 17, 4);
        let guide = vec![0.4f32; 3 * w * h];
        let src: Vec<f32> = (0..w * h).map(|_| rng.random::<f32>()).collect();
        let q = guided_filter(&guide, &src, w, h, r, NODE_EPS);
        let k = ((2 * r + 1) * (2 * r + 1)) as f64;
        let m1: Vec<f64> = naive_box_sums(&src.iter().map(|&v| v as f64).collect::<Vec<_>>(), w, h, r).iter().map(|s| s / k).collect();
        let m2: Vec<f64> = naive_box_sums(&m1, w, h, r).iter().map(|s| s / k).collect();
        assert!(max_abs(&q, &m2) < 1e-5, "max abs {}", max_abs(&q, &m2));
        // And r = 0 leaves the source as it is.
        let q0 = guided_filter(&guide, &src, w, h, 0, NODE_EPS);
        let s64: Vec<f64> = src.iter().map(|&v| v as f64).collect();
        assert!(max_abs(&q0, &s64) < 1e-5);
    }

    #[test]
    fn binary_step_edge_is_preserved() {
        // Dark left half, bright right half, mask = right half: the filtered mask keeps the edge.
        let (w, h, r) = (40, 12, 5);
        let mut guide = vec![0f32; 3 * w * h];
        let mut src = vec![0f32; w * h];
        for y in 0..h {
            for x in 0..w {
                let on = x >= w / 2;
                for c in 0..3 {
                    guide[3 * (y * w + x) + c] = if on { 0.9 } else { 0.1 };
                }
                src[y * w + x] = if on { 1.0 } else { 0.0 };
            }
        }
        let q = guided_filter(&guide, &src, w, h, r, NODE_EPS);
        for y in 0..h {
            for x in 0..w {
                let (v, p) = (q[y * w + x], src[y * w + x]);
                let far = x + 2 * r < w / 2 || x >= w / 2 + 2 * r;
                let tol = if far { 1e-5 } else { 0.05 };
                assert!((v - p).abs() < tol, "({x},{y}) = {v}, mask {p}");
            }
        }
        // The same step as a horizontal edge, filtered with the f64 formula for comparison.
        let exact = naive_f64(&guide, &src, w, h, r, NODE_EPS);
        assert!(max_abs(&q, &exact) < 1e-5);
    }

    #[test]
    fn flips_commute_with_the_filter() {
        // BORDER_REFLECT is symmetric, so flipping the input flips the output. Vertically it is
        // bit-exact; horizontally OpenCV's scalar tail (last width % 4 columns) rounds differently.
        let mut rng = StdRng::seed_from_u64(5);
        let (w, h, r) = (31, 26, 6);
        let guide = u8_guide(&mut rng, w * h);
        let src = binary_src(&mut rng, w * h);
        let q = guided_filter(&guide, &src, w, h, r, NODE_EPS);
        let vflip_g: Vec<f32> = (0..h).rev().flat_map(|y| guide[y * 3 * w..(y + 1) * 3 * w].to_vec()).collect();
        let vflip_s: Vec<f32> = (0..h).rev().flat_map(|y| src[y * w..(y + 1) * w].to_vec()).collect();
        let qv = guided_filter(&vflip_g, &vflip_s, w, h, r, NODE_EPS);
        for y in 0..h {
            assert_bitwise(&qv[(h - 1 - y) * w..(h - y) * w], &q[y * w..(y + 1) * w], "vertical flip");
        }
        let hflip_g: Vec<f32> = (0..h)
            .flat_map(|y| (0..w).rev().flat_map(move |x| (0..3).map(move |c| (y, x, c))))
            .map(|(y, x, c)| guide[3 * (y * w + x) + c])
            .collect();
        let hflip_s: Vec<f32> = (0..h).flat_map(|y| (0..w).rev().map(move |x| (y, x))).map(|(y, x)| src[y * w + x]).collect();
        let qh = guided_filter(&hflip_g, &hflip_s, w, h, r, NODE_EPS);
        for y in 0..h {
            for x in 0..w {
                let d = (qh[y * w + (w - 1 - x)] - q[y * w + x]).abs();
                assert!(d < 1e-5, "horizontal flip ({x},{y}): {d}");
            }
        }
    }

    #[test]
    fn radius_far_beyond_the_image() {
        // 2r+1 spans many reflection periods; the folded sums must still agree with tap by tap.
        let mut rng = StdRng::seed_from_u64(13);
        for &(w, h, r) in &[(5, 7, 300), (1, 4, 250), (3, 1, 301), (1, 1, 1000), (9, 2, 64)] {
            let guide = u8_guide(&mut rng, w * h);
            let src = binary_src(&mut rng, w * h);
            let fast = guided_filter(&guide, &src, w, h, r, NODE_EPS);
            let slow = naive_opencv(&guide, &src, w, h, r, NODE_EPS);
            let d = fast.iter().zip(&slow).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
            assert!(d < 1e-6, "{w}x{h} r={r}: {d}");
            let exact = naive_f64(&guide, &src, w, h, r, NODE_EPS);
            assert!(max_abs(&fast, &exact) < 1e-4, "{w}x{h} r={r}: vs f64 {}", max_abs(&fast, &exact));
        }
    }

    #[test]
    fn single_pixel_and_single_line_images() {
        let q = guided_filter(&[0.2, 0.5, 0.7], &[1.0], 1, 1, 5, NODE_EPS);
        assert_eq!(q.len(), 1);
        assert!((q[0] - 1.0).abs() < 1e-6, "{}", q[0]);
        let q = guided_filter(&[0.2, 0.5, 0.7], &[0.0], 1, 1, 0, 1e-3);
        assert!(q[0].abs() < 1e-6);
        let mut rng = StdRng::seed_from_u64(17);
        for &(w, h) in &[(1usize, 50usize), (50, 1), (1, 2), (2, 1), (3, 1)] {
            for r in [0, 1, 5, 60] {
                let guide = u8_guide(&mut rng, w * h);
                let src = binary_src(&mut rng, w * h);
                let fast = guided_filter(&guide, &src, w, h, r, NODE_EPS);
                assert_bitwise(&fast, &naive_opencv(&guide, &src, w, h, r, NODE_EPS), &format!("{w}x{h} r={r}"));
            }
        }
        assert!(guided_filter(&[], &[], 0, 5, 3, NODE_EPS).is_empty());
    }

    #[test]
    fn alpha_wrapper_is_the_f32_filter_on_unit_values() {
        let mut rng = StdRng::seed_from_u64(19);
        let (w, h) = (37u32, 29u32);
        let image = RgbImage::from_fn(w, h, |_, _| image::Rgb([rng.random(), rng.random(), rng.random()]));
        let mask = GrayImage::from_fn(w, h, |x, y| image::Luma([if (x * x + y * y) < 500 { 255 } else { 0 }]));
        let q = guided_filter_alpha(&image, &mask, 12 / 6 + 1);
        let guide: Vec<f32> = image.as_raw().iter().map(|&v| u8_to_unit(v)).collect();
        let src: Vec<f32> = mask.as_raw().iter().map(|&v| u8_to_unit(v)).collect();
        assert_bitwise(&q, &guided_filter(&guide, &src, w as usize, h as usize, 5, 0.015), "u8 path");
    }

    #[test]
    fn determinant_guard_applies_below_eps_point_01_only() {
        // A flat guide has det(Σ) = eps³: below 1e-6 for eps = 1e-3, so OpenCV divides by 1 and
        // a = adj(Σ)·cov is eps² times too large. Not for eps = 0.015 (det 3.4e-6).
        let (w, h, r) = (8, 8, 2);
        let guide = vec![0.5f32; 3 * w * h];
        let src: Vec<f32> = (0..w * h).map(|i| (i % 3) as f32 / 2.0).collect();
        for eps in [1e-3, NODE_EPS] {
            let fast = guided_filter(&guide, &src, w, h, r, eps);
            assert_bitwise(&fast, &naive_opencv(&guide, &src, w, h, r, eps), &format!("eps={eps}"));
        }
    }
}
