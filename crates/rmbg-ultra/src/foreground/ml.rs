//! Multi-level foreground estimation (Germer, Uelwer, Conrad, Harmeling: "Fast Multi-Level
//! Foreground Estimation", ICPR 2020): a port of pymatting 1.1.16's `estimate_foreground_ml`.
//!
//! Per pixel, F and B (3 channels each) minimise
//! `|αF + (1−α)B − I|² + Σ_neighbours (ε + w·|α − α_n|)(|F − F_n|² + |B − B_n|²)`,
//! a 2×2 linear system per channel, solved in place in raster order (Gauss–Seidel), from a 1×1
//! image up to the full size through nearest-neighbour resizes.
//!
//! # Parity
//! Bit-exact to pymatting on the same f32 inputs: the same levels (`round(w0^(i/n))` with the
//! ties-to-even rounding of numba's `round`), the same nearest resizes, iteration counts, update
//! order and the same mix of precisions as numba types pymatting's loop (f32 storage and right-hand
//! sides; the `1 − α` terms, the determinant and the solve in f64). The parity test asserts
//! max abs = 0 on F (fresh random sizes, odd and below `small_size`, and the lemur).
//!
//! # Threads
//! Gauss–Seidel reads the left and upper neighbours already updated and the right and lower ones
//! not yet, so rows cannot be split among threads without changing the result. Instead the sweep is
//! pipelined: rows (over all iterations, as one sequence) go round-robin to the threads and a row
//! may update column x once the row before it has finished column x + 1. Every pixel then reads
//! exactly the values the sequential sweep reads, so the result is the same to the bit with any
//! number of threads (the parity test checks 1 and 2 threads against pymatting).
//! The pipeline needs its threads to run at the same time, which rayon tasks do not promise, so it
//! uses scoped OS threads (one set per level large enough to pay for them).
//!
//! The sequential sweep is the default all the same: on the 2-core Zen 4 at 1448×1448 it took
//! 0.167 s against 0.20 s pipelined on 2 threads (pymatting: 0.64 s), because every pixel a row
//! reads from the row above was written moments before on the other core, so the F/B cache lines
//! travel between cores; and on a busy machine a descheduled thread stalls the other (0.9 s under a
//! load average of 5). Two images at once, one per core, is the better use of two cores.
//!
//! pymatting raises ZeroDivisionError on a 1×1 image (`n_levels` = 0); here a 1×1 image is solved
//! as a single level.

use std::sync::atomic::{AtomicUsize, Ordering};

/// pymatting's defaults, and how many threads the sweep may use.
#[derive(Debug, Clone, PartialEq)]
pub struct MlOptions {
    /// ε, the smoothness weight that keeps the 2×2 systems regular.
    pub regularization: f32,
    /// Iterations on levels at most `small_size` wide and high.
    pub n_small_iterations: usize,
    /// Iterations on the larger levels.
    pub n_big_iterations: usize,
    pub small_size: usize,
    /// w, how much more alpha edges couple neighbours.
    pub gradient_weight: f32,
    /// 1 (the default): the plain sequential sweep. 0: the pipelined sweep on as many threads as
    /// rayon's pool has (capped by the machine's cores); n ≥ 2: on n threads. The result does not
    /// depend on it; see the module docs for why sequential is the default.
    pub threads: usize,
}

impl Default for MlOptions {
    fn default() -> Self {
        MlOptions { regularization: 1e-5, n_small_iterations: 10, n_big_iterations: 2, small_size: 32, gradient_weight: 1.0, threads: 1 }
    }
}

/// F for `image` (H×W×3, row-major, 0..1) under `alpha` (H×W): H×W×3 in 0..1.
///
/// # Panics
/// If the slices do not hold `w·h·3` and `w·h` values.
pub fn estimate_foreground_ml(image: &[f32], alpha: &[f32], w: usize, h: usize, opts: &MlOptions) -> Vec<f32> {
    let mut fb = estimate_fb(image, alpha, w, h, opts);
    // F is the first half of each pixel's 6 values; compact it to the front, in place.
    for p in 0..w * h {
        fb.copy_within(6 * p..6 * p + 3, 3 * p);
    }
    fb.truncate(3 * w * h);
    fb.shrink_to_fit();
    fb
}

/// F and B (`return_background=True`), each H×W×3.
pub fn estimate_foreground_background_ml(image: &[f32], alpha: &[f32], w: usize, h: usize, opts: &MlOptions) -> (Vec<f32>, Vec<f32>) {
    let fb = estimate_fb(image, alpha, w, h, opts);
    let f = fb.chunks_exact(6).flat_map(|p| p[..3].iter().copied()).collect();
    let b = fb.chunks_exact(6).flat_map(|p| p[3..].iter().copied()).collect();
    (f, b)
}

/// F and B interleaved per pixel (F0 F1 F2 B0 B1 B2): a neighbour's F and B share a cache line.
fn estimate_fb(image: &[f32], alpha: &[f32], w0: usize, h0: usize, opts: &MlOptions) -> Vec<f32> {
    assert_eq!(image.len(), w0 * h0 * 3, "image has {} values for {w0}x{h0}x3", image.len());
    assert_eq!(alpha.len(), w0 * h0, "alpha has {} values for {w0}x{h0}", alpha.len());
    if w0 * h0 == 0 {
        return Vec::new();
    }
    let (f_mean, b_mean) = mean_colours(image, alpha);
    // One buffer for all levels: each level is upsampled in place into the next.
    let mut fb = vec![0f32; 6 * w0 * h0];
    fb[..3].copy_from_slice(&f_mean);
    fb[3..6].copy_from_slice(&b_mean);
    let (mut w_prev, mut h_prev) = (1, 1);
    let (mut image_level, mut alpha_level) = (Vec::new(), Vec::new());
    for (w, h) in level_sizes(w0, h0) {
        upsample_nearest_in_place(&mut fb, 6, (w_prev, h_prev), (w, h));
        let (img, al): (&[f32], &[f32]) = if (w, h) == (w0, h0) {
            (image, alpha)
        } else {
            resize_nearest_into(&mut image_level, image, 3, (w0, h0), (w, h));
            resize_nearest_into(&mut alpha_level, alpha, 1, (w0, h0), (w, h));
            (&image_level, &alpha_level)
        };
        let n_iter = if w <= opts.small_size && h <= opts.small_size { opts.n_small_iterations } else { opts.n_big_iterations };
        let level = Level { image: img, alpha: al, w, h, regularization: opts.regularization, gradient_weight: opts.gradient_weight };
        sweep(&level, &mut fb[..6 * w * h], n_iter, opts.threads);
        (w_prev, h_prev) = (w, h);
    }
    fb
}

/// Mean colour of the pixels with α > 0.9 and of those with α < 0.1: the 1×1 starting level.
/// Summed in f32 in raster order and compared in f64, as numba runs pymatting's loop.
fn mean_colours(image: &[f32], alpha: &[f32]) -> ([f32; 3], [f32; 3]) {
    let (mut f, mut b) = ([0f32; 3], [0f32; 3]);
    let (mut nf, mut nb) = (0usize, 0usize);
    for (px, &a) in image.chunks_exact(3).zip(alpha) {
        if a as f64 > 0.9 {
            for c in 0..3 {
                f[c] += px[c];
            }
            nf += 1;
        }
        if (a as f64) < 0.1 {
            for c in 0..3 {
                b[c] += px[c];
            }
            nb += 1;
        }
    }
    let mean = |s: [f32; 3], n: usize| s.map(|v| (v as f64 / (n as f64 + 1e-5)) as f32);
    (mean(f, nf), mean(b, nb))
}

/// pymatting's pyramid: `n = ceil(log2(max(w0, h0)))` levels above 1×1, level i of size
/// `round(w0^(i/n)) × round(h0^(i/n))`.
pub fn level_sizes(w0: usize, h0: usize) -> Vec<(usize, usize)> {
    let n = (w0.max(h0) as f64).log2().ceil() as usize;
    if n == 0 {
        return vec![(w0, h0)];
    }
    let side = |s0: usize, i: usize| (s0 as f64).powf(i as f64 / n as f64).round_ties_even() as usize;
    (0..=n).map(|i| (side(w0, i), side(h0, i))).collect()
}

/// The source index pymatting's `_resize_nearest` reads for a destination index.
fn nearest_source(dst: usize, src_len: usize, dst_len: usize) -> usize {
    (dst * src_len / dst_len).min(src_len - 1)
}

fn resize_nearest_into(out: &mut Vec<f32>, src: &[f32], ch: usize, (ws, hs): (usize, usize), (wd, hd): (usize, usize)) {
    out.clear();
    let xs: Vec<usize> = (0..wd).map(|x| nearest_source(x, ws, wd)).collect();
    for y in 0..hd {
        let row = &src[nearest_source(y, hs, hd) * ws * ch..];
        for &x in &xs {
            out.extend_from_slice(&row[x * ch..x * ch + ch]);
        }
    }
}

/// Nearest upsampling within one buffer. Levels never shrink, so a destination pixel's source
/// never lies after it in raster order: filling from the last pixel backwards reads every source
/// before it is overwritten.
fn upsample_nearest_in_place(buf: &mut [f32], ch: usize, (ws, hs): (usize, usize), (wd, hd): (usize, usize)) {
    if (ws, hs) == (wd, hd) {
        return;
    }
    assert!(ws <= wd && hs <= hd, "levels grow");
    let xs: Vec<usize> = (0..wd).map(|x| nearest_source(x, ws, wd)).collect();
    for yd in (0..hd).rev() {
        let ys = nearest_source(yd, hs, hd);
        for xd in (0..wd).rev() {
            let s = (ys * ws + xs[xd]) * ch;
            buf.copy_within(s..s + ch, (yd * wd + xd) * ch);
        }
    }
}

struct Level<'a> {
    image: &'a [f32],
    alpha: &'a [f32],
    w: usize,
    h: usize,
    regularization: f32,
    gradient_weight: f32,
}

/// Columns a pipelined row hands on at a time: small enough to keep the lag short, large enough
/// that the atomic hand-over is rare.
const BLOCK: usize = 256;
/// Below this many pixels a level is swept by the calling thread alone when the thread count is
/// automatic (starting threads costs more than it saves).
const PARALLEL_MIN_PIXELS: usize = 128 * 128;

fn sweep(level: &Level, fb: &mut [f32], n_iter: usize, threads: usize) {
    let threads = sweep_threads(threads, level);
    let fb = SharedFb(fb.as_mut_ptr());
    if threads <= 1 {
        for _ in 0..n_iter {
            for y in 0..level.h {
                for x in 0..level.w {
                    // SAFETY: one thread; (x, y) and its clamped neighbours lie within the level.
                    unsafe { update_pixel(level, fb, x, y) };
                }
            }
        }
        return;
    }
    let rows = n_iter * level.h;
    // done[r]: columns row r (y = r mod h, of iteration r / h) has finished.
    let done: Vec<Progress> = (0..rows).map(|_| Progress(AtomicUsize::new(0))).collect();
    std::thread::scope(|s| {
        for t in 1..threads {
            let done = &done;
            s.spawn(move || sweep_rows_pipelined(level, fb, done, t, threads));
        }
        sweep_rows_pipelined(level, fb, &done, 0, threads);
    });
}

fn sweep_threads(requested: usize, level: &Level) -> usize {
    if level.h < 2 {
        return 1;
    }
    let t = if requested == 0 {
        if level.w * level.h < PARALLEL_MIN_PIXELS {
            return 1;
        }
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        rayon::current_num_threads().min(cores)
    } else {
        requested
    };
    // More threads than rows of lag can use would only wait on each other.
    t.min(level.h).max(1)
}

/// Rows `first`, `first + step`, … of the pipelined sweep.
fn sweep_rows_pipelined(level: &Level, fb: SharedFb, done: &[Progress], first: usize, step: usize) {
    let w = level.w;
    for r in (first..done.len()).step_by(step) {
        let y = r % level.h;
        let mut x0 = 0;
        while x0 < w {
            let x1 = (x0 + BLOCK).min(w);
            if r > 0 {
                // (y, x) reads the row before at x, and the same row's x + 1 as the previous
                // iteration left it (h = 1: the row before is that iteration).
                wait_for(&done[r - 1].0, (x1 + 1).min(w));
            }
            for x in x0..x1 {
                // SAFETY: the waits order every read of another row's pixel after its writer's
                // release and before its next write (module docs); indices lie within the level.
                unsafe { update_pixel(level, fb, x, y) };
            }
            done[r].0.store(x1, Ordering::Release);
            x0 = x1;
        }
    }
}

fn wait_for(progress: &AtomicUsize, columns: usize) {
    let mut spins = 0u32;
    while progress.load(Ordering::Acquire) < columns {
        // Spin briefly (the other row is a block ahead at most), then let a busy machine run it.
        if spins < 64 {
            std::hint::spin_loop();
            spins += 1;
        } else {
            std::thread::yield_now();
        }
    }
}

/// A row's progress on a cache line of its own: the next row's thread polls it while this row's
/// thread writes the one before, and sharing a line would bounce it between the cores.
#[repr(align(128))]
struct Progress(AtomicUsize);

/// The F/B buffer, shared by the pipelined rows; the sweep's ordering keeps their accesses apart.
#[derive(Clone, Copy)]
struct SharedFb(*mut f32);
// SAFETY: the threads touch it only in `update_pixel`, ordered by the `done` hand-over.
unsafe impl Send for SharedFb {}
unsafe impl Sync for SharedFb {}

/// One Gauss–Seidel update of F and B at (x, y), pymatting's loop body with numba's types: f32
/// where it stores to float32 arrays or combines only float32 values, f64 where a float literal
/// (`1.0 − α`, `1.0 / det`) enters.
///
/// # Safety
/// `fb` must hold 6·w·h values and no other thread may access pixel (x, y) or its four neighbours
/// concurrently with a write.
#[inline(always)]
unsafe fn update_pixel(l: &Level, fb: SharedFb, x: usize, y: usize) {
    let (w, h) = (l.w, l.h);
    let i = y * w + x;
    let a0 = *l.alpha.get_unchecked(i);
    let a1 = 1.0f64 - a0 as f64;
    let mut a00: f32 = a0 * a0;
    let a01: f64 = a0 as f64 * a1;
    let mut a11: f64 = a1 * a1;
    let mut b0 = [0f32; 3];
    let mut b1 = [0f32; 3];
    for c in 0..3 {
        let ic = *l.image.get_unchecked(3 * i + c);
        b0[c] = a0 * ic;
        b1[c] = (a1 * ic as f64) as f32;
    }
    // pymatting's order: left, right, up, down, clamped at the border.
    let neighbours = [y * w + x.saturating_sub(1), y * w + (x + 1).min(w - 1), y.saturating_sub(1) * w + x, (y + 1).min(h - 1) * w + x];
    for j in neighbours {
        let gradient = (a0 - *l.alpha.get_unchecked(j)).abs();
        let da: f32 = l.regularization + l.gradient_weight * gradient;
        a00 += da;
        a11 += da as f64;
        let n = fb.0.add(6 * j);
        for c in 0..3 {
            b0[c] += da * n.add(c).read();
            b1[c] += da * n.add(3 + c).read();
        }
    }
    let determinant = a00 as f64 * a11 - a01 * a01;
    let inv_det = 1.0 / determinant;
    let (b00, b01, b11) = (inv_det * a11, inv_det * -a01, inv_det * a00 as f64);
    let out = fb.0.add(6 * i);
    for c in 0..3 {
        let f = b00 * b0[c] as f64 + b01 * b1[c] as f64;
        let b = b01 * b0[c] as f64 + b11 * b1[c] as f64;
        out.add(c).write(f.clamp(0.0, 1.0) as f32);
        out.add(3 + c).write(b.clamp(0.0, 1.0) as f32);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u32) -> Vec<f32> {
        let mut s = seed.wrapping_mul(2654435761).wrapping_add(1);
        (0..n)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s >> 8) as f32 / (1 << 24) as f32
            })
            .collect()
    }

    #[test]
    fn levels_match_pymatting() {
        assert_eq!(level_sizes(1, 1), vec![(1, 1)]);
        assert_eq!(level_sizes(2, 1), vec![(1, 1), (2, 1)]);
        let l = level_sizes(680, 440);
        assert_eq!(l.len(), 11);
        assert_eq!((l[0], l[10]), ((1, 1), (680, 440)));
        assert!(l.windows(2).all(|p| p[0].0 <= p[1].0 && p[0].1 <= p[1].1));
    }

    #[test]
    fn constant_image_is_its_own_foreground() {
        let (w, h) = (37, 23);
        let image: Vec<f32> = (0..w * h).flat_map(|_| [0.25f32, 0.5, 0.75]).collect();
        let alpha = noise(w * h, 3);
        let (f, b) = estimate_foreground_background_ml(&image, &alpha, w, h, &MlOptions::default());
        for (v, e) in f.iter().chain(&b).zip(image.iter().cycle()) {
            assert!((v - e).abs() < 1e-4, "{v} vs {e}");
        }
    }

    #[test]
    fn two_colour_composite_is_unmixed() {
        // I = αF + (1−α)B with constant F and B: the solver recovers F where α is not tiny.
        let (w, h) = (48, 40);
        let (fc, bc) = ([0.9f32, 0.2, 0.1], [0.1f32, 0.3, 0.8]);
        let alpha: Vec<f32> = (0..w * h).map(|i| (i % w) as f32 / (w - 1) as f32).collect();
        let image: Vec<f32> = alpha.iter().flat_map(|&a| (0..3).map(move |c| a * fc[c] + (1.0 - a) * bc[c])).collect();
        let f = estimate_foreground_ml(&image, &alpha, w, h, &MlOptions::default());
        for (p, &a) in f.chunks_exact(3).zip(&alpha) {
            if a > 0.2 {
                for c in 0..3 {
                    assert!((p[c] - fc[c]).abs() < 0.02, "α {a}: {p:?} vs {fc:?}");
                }
            }
        }
    }

    #[test]
    fn threads_do_not_change_the_result() {
        for (w, h) in [(300, 200), (129, 131), (1000, 17)] {
            let image = noise(w * h * 3, 1);
            let alpha: Vec<f32> = noise(w * h, 2).iter().map(|&v| (v * 3.0 - 1.0).clamp(0.0, 1.0)).collect();
            let one = estimate_foreground_ml(&image, &alpha, w, h, &MlOptions { threads: 1, ..Default::default() });
            for t in [2, 3, 5] {
                let many = estimate_foreground_ml(&image, &alpha, w, h, &MlOptions { threads: t, ..Default::default() });
                assert!(one.iter().zip(&many).all(|(a, b)| a.to_bits() == b.to_bits()), "{w}x{h}, {t} threads");
            }
        }
    }

    #[test]
    fn tiny_images_are_solved() {
        for (w, h) in [(1, 1), (1, 7), (9, 1), (2, 3)] {
            let image = noise(w * h * 3, 5);
            let alpha = noise(w * h, 6);
            let f = estimate_foreground_ml(&image, &alpha, w, h, &MlOptions::default());
            assert_eq!(f.len(), w * h * 3);
            assert!(f.iter().all(|v| (0.0..=1.0).contains(v)));
        }
        assert!(estimate_foreground_ml(&[], &[], 0, 4, &MlOptions::default()).is_empty());
    }
}
