//! Levin–Lischinski–Weiss closed-form matting Laplacian (3×3 windows), restricted to the unknown
//! pixels: the system `L_UU x = −L_UK · [known is fg]` of `estimate_alpha_cf`.
//!
//! For a window `w` with colour mean `μ` and covariance `Σ` (9 pixels, population covariance),
//! pixels `i, j` of the window get `δ_ij − (1 + (I_i − μ)ᵀ (Σ + ε/9·I₃)⁻¹ (I_j − μ)) / 9`, where
//! pymatting's regularised covariance is `(Σ_k c_k c_kᵀ + ε I₃) / 9`. `L_ij` sums this over the
//! windows centred at least one pixel inside the image that contain both pixels. A row of an
//! unknown pixel never involves a window whose 9 pixels are all known, so skipping those windows
//! (as pymatting does) changes nothing here. Each entry is computed with the same operations in
//! the same order as pymatting, so the matrix is bit-identical to its `L[U][:, U]`.

use super::sparse::{Csr, Cursors, PixelRows};
use super::trimap::{Class, Trimap};
use rayon::prelude::*;

/// Colour of a pixel as the matting code sees it (f64 RGB in [0, 1]).
pub trait Colours: Sync {
    fn rgb(&self, x: usize, y: usize) -> [f64; 3];
}

/// An `H×W×3` f64 image in row-major order.
pub struct F64Image<'a> {
    pub data: &'a [f64],
    pub width: usize,
}

impl Colours for F64Image<'_> {
    #[inline]
    fn rgb(&self, x: usize, y: usize) -> [f64; 3] {
        let i = (y * self.width + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }
}

/// An 8-bit RGB image seen the node's way: `(v as f32 / 255) as f64`.
pub struct U8Image<'a> {
    pub image: &'a image::RgbImage,
    lut: [f64; 256],
}

impl<'a> U8Image<'a> {
    pub fn new(image: &'a image::RgbImage) -> Self {
        let mut lut = [0.0; 256];
        for (v, l) in lut.iter_mut().enumerate() {
            *l = crate::remap::u8_to_unit(v as u8) as f64;
        }
        U8Image { image, lut }
    }
}

impl Colours for U8Image<'_> {
    #[inline]
    fn rgb(&self, x: usize, y: usize) -> [f64; 3] {
        let p = self.image.get_pixel(x as u32, y as u32).0;
        [self.lut[p[0] as usize], self.lut[p[1] as usize], self.lut[p[2] as usize]]
    }
}

/// Colour statistics of one 3×3 window: its mean and the inverse of its regularised covariance
/// (symmetric: `m00 m01 m02 m11 m12 m22`).
#[derive(Debug, Clone, Copy, Default)]
pub struct WindowStats {
    pub mean: [f64; 3],
    pub inv_cov: [f64; 6],
}

/// The window statistics of the window centred at `(cx, cy)` (which must be ≥1 px from every
/// border), computed exactly like pymatting's `_cf_laplacian`.
pub fn window_stats(img: &impl Colours, cx: usize, cy: usize, epsilon: f64) -> WindowStats {
    let mut px = [[0.0f64; 3]; 9];
    for dy in 0..3 {
        for dx in 0..3 {
            px[dy * 3 + dx] = img.rgb(cx + dx - 1, cy + dy - 1);
        }
    }
    let mut mean = [0.0; 3];
    for (dc, m) in mean.iter_mut().enumerate() {
        let mut s = 0.0;
        for p in &px {
            s += p[dc];
        }
        *m = s / 9.0;
    }
    let (mut a00, mut a01, mut a02, mut a11, mut a12, mut a22) = (epsilon, 0.0, 0.0, epsilon, 0.0, epsilon);
    for p in &px {
        let c = [p[0] - mean[0], p[1] - mean[1], p[2] - mean[2]];
        a00 += c[0] * c[0];
        a01 += c[0] * c[1];
        a02 += c[0] * c[2];
        a11 += c[1] * c[1];
        a12 += c[1] * c[2];
        a22 += c[2] * c[2];
    }
    a00 /= 9.0;
    a01 /= 9.0;
    a02 /= 9.0;
    a11 /= 9.0;
    a12 /= 9.0;
    a22 /= 9.0;
    // Minus the determinant, and the inverse written with the same sign convention.
    let det = a00 * a12 * a12 + a01 * a01 * a22 + a02 * a02 * a11 - a00 * a11 * a22 - 2.0 * a01 * a02 * a12;
    let inv_det = 1.0 / det;
    WindowStats {
        mean,
        inv_cov: [
            (a12 * a12 - a11 * a22) * inv_det,
            (a01 * a22 - a02 * a12) * inv_det,
            (a02 * a11 - a01 * a12) * inv_det,
            (a02 * a02 - a00 * a22) * inv_det,
            (a00 * a12 - a01 * a02) * inv_det,
            (a01 * a01 - a00 * a11) * inv_det,
        ],
    }
}

/// Statistics of every window that touches an unknown pixel, indexed like the window centres.
pub struct Windows {
    pub centres: PixelRows,
    pub stats: Vec<WindowStats>,
}

/// Window centres (≥1 px from the border) whose 3×3 contains an unknown pixel, with their stats.
pub fn windows_over(img: &impl Colours, unknown: &PixelRows, width: usize, height: usize, epsilon: f64) -> Windows {
    let rows: Vec<Vec<u32>> = (0..height)
        .into_par_iter()
        .map(|cy| {
            if cy == 0 || cy + 1 >= height || width < 3 {
                return Vec::new();
            }
            // Columns within 1 of an unknown pixel on rows cy-1..=cy+1, inside [1, width-2].
            let union = merge(&merge(unknown.row(cy - 1), unknown.row(cy)), unknown.row(cy + 1));
            let mut xs: Vec<u32> = Vec::with_capacity(union.len() + 2);
            for &x in &union {
                let from = x.saturating_sub(1).max(xs.last().map_or(0, |&l| l + 1)).max(1);
                let to = (x + 1).min(width as u32 - 2);
                xs.extend(from..=to);
            }
            xs
        })
        .collect();
    let centres = PixelRows::from_rows(rows);
    let mut stats = vec![WindowStats::default(); centres.len()];
    let idx: Vec<(usize, usize)> = centres.iter().map(|(_, x, y)| (x, y)).collect();
    stats.par_chunks_mut(1024).zip(idx.par_chunks(1024)).for_each(|(s, p)| {
        for (st, &(x, y)) in s.iter_mut().zip(p) {
            *st = window_stats(img, x, y, epsilon);
        }
    });
    Windows { centres, stats }
}

/// Union of two sorted, duplicate-free lists.
fn merge(a: &[u32], b: &[u32]) -> Vec<u32> {
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        let (x, y) = (a[i], b[j]);
        out.push(x.min(y));
        i += (x <= y) as usize;
        j += (y <= x) as usize;
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// The linear system over the unknown pixels (in raster order).
pub struct System {
    /// `L_UU`, full rows (both triangles), columns sorted.
    pub a: Csr,
    /// `−L_UK · [known is fg]`.
    pub b: Vec<f64>,
}

/// Whether some window centre lies within 1 px of both `p` and `q` (one axis) and inside
/// `[1, len - 2]`.
#[inline]
fn share_axis(p: usize, q: usize, len: usize) -> bool {
    let lo = p.max(q).saturating_sub(1).max(1);
    let hi = (p.min(q) + 1).min(len.saturating_sub(2));
    lo <= hi
}

/// Builds `L_UU` and `b = −L_UK·[fg]` for the unknown pixels of `trimap`.
pub fn matting_system(img: &impl Colours, trimap: &Trimap, epsilon: f64) -> System {
    let (w, h) = (trimap.width, trimap.height);
    let unknown = &trimap.unknown;
    let n = unknown.len();
    let windows = windows_over(img, unknown, w, h, epsilon);

    // Rows per parallel task (within a task, pixels are visited in raster order).
    const ROWS: usize = 2048;
    // Pass 1: the structure. Entry (i, j) exists where some window holds both and j is unknown.
    let coupled = |xi: usize, yi: usize, xj: usize, yj: usize| share_axis(xi, xj, w) && share_axis(yi, yj, h);
    let coords: Vec<(u32, u32)> = unknown.iter().map(|(_, x, y)| (x as u32, y as u32)).collect();
    let counts: Vec<usize> = coords
        .par_chunks(ROWS)
        .flat_map_iter(|chunk| {
            let mut near = Cursors::new(unknown, 2);
            chunk.iter().map(move |&(xi, yi)| {
                let (xi, yi) = (xi as usize, yi as usize);
                near.seek(xi, yi);
                let mut c = 0;
                for d in 0..5 {
                    let yj = (yi + d).wrapping_sub(2);
                    for &xj in near.row(d).1 {
                        if xj as usize > xi + 2 {
                            break;
                        }
                        c += coupled(xi, yi, xj as usize, yj) as usize;
                    }
                }
                c
            })
        })
        .collect();
    let mut row_ptr = Vec::with_capacity(n + 1);
    row_ptr.push(0usize);
    for c in &counts {
        row_ptr.push(row_ptr.last().unwrap() + c);
    }
    drop(counts);
    let nnz = row_ptr[n];
    let mut cols = vec![0u32; nnz];
    let mut vals = vec![0.0f64; nnz];
    let mut b = vec![0.0f64; n];

    // Pass 2: the values, rows in parallel (disjoint slices of cols/vals).
    let mut tasks = Vec::with_capacity(n.div_ceil(ROWS));
    {
        let (mut cols_rest, mut vals_rest, mut b_rest) = (&mut cols[..], &mut vals[..], &mut b[..]);
        let mut i0 = 0;
        while i0 < n {
            let i1 = (i0 + ROWS).min(n);
            let len = row_ptr[i1] - row_ptr[i0];
            let (c, cr) = std::mem::take(&mut cols_rest).split_at_mut(len);
            let (v, vr) = std::mem::take(&mut vals_rest).split_at_mut(len);
            let (bb, br) = std::mem::take(&mut b_rest).split_at_mut(i1 - i0);
            cols_rest = cr;
            vals_rest = vr;
            b_rest = br;
            tasks.push((i0, i1, c, v, bb));
            i0 = i1;
        }
    }
    tasks.into_par_iter().for_each(|(i0, i1, c, v, bb)| {
        let mut k = 0;
        let (mut near, mut centres) = (Cursors::new(unknown, 2), Cursors::new(&windows.centres, 1));
        for i in i0..i1 {
            let (xi, yi) = (coords[i].0 as usize, coords[i].1 as usize);
            centres.seek(xi, yi);
            let acc = laplacian_row(img, &windows, &centres, xi, yi, w, h);
            // Indices of the unknown pixels of the 5×5 neighbourhood.
            near.seek(xi, yi);
            let mut index = [u32::MAX; 25];
            for d in 0..5 {
                let (first, xs) = near.row(d);
                for (pos, &xj) in (first..).zip(xs) {
                    if xj as usize > xi + 2 {
                        break;
                    }
                    index[d * 5 + xj as usize + 2 - xi] = pos as u32;
                }
            }
            // Emit in raster order (ascending pixel index) as pymatting's CSR does.
            let mut fg_sum = 0.0;
            for (slot, &(value, touched)) in acc.iter().enumerate() {
                if !touched {
                    continue;
                }
                if index[slot] != u32::MAX {
                    c[k] = index[slot];
                    v[k] = value;
                    k += 1;
                } else if trimap.class(xi + slot % 5 - 2, yi + slot / 5 - 2) == Class::Foreground {
                    fg_sum += value;
                }
            }
            bb[i - i0] = -fg_sum;
        }
        assert_eq!(k, c.len(), "structure and values of the Laplacian disagree");
    });
    System { a: Csr { n, row_ptr, cols, vals }, b }
}

/// Row of pixel `(xi, yi)` over its 5×5 neighbourhood (raster slots; `touched` where some
/// window holds both pixels), summed over windows in raster order of their centres.
/// `centres` must be at `(xi, yi)`.
fn laplacian_row(img: &impl Colours, windows: &Windows, centres: &Cursors, xi: usize, yi: usize, w: usize, h: usize) -> [(f64, bool); 25] {
    let mut acc = [(0.0f64, false); 25];
    if w < 3 || h < 3 {
        return acc;
    }
    let cy0 = yi.saturating_sub(1).max(1);
    let cy1 = (yi + 1).min(h - 2);
    let cx0 = xi.saturating_sub(1).max(1);
    let cx1 = (xi + 1).min(w - 2);
    // Colours of the pixels the windows cover (slot = (y - yi + 2)·5 + x - xi + 2).
    let mut colour = [[0.0f64; 3]; 25];
    for y in cy0 - 1..=cy1 + 1 {
        for x in cx0 - 1..=cx1 + 1 {
            colour[(y + 2 - yi) * 5 + x + 2 - xi] = img.rgb(x, y);
        }
    }
    let ii = colour[12];
    for cy in cy0..=cy1 {
        // The windows centred on row cy, columns cx0..=cx1, are consecutive in `windows`.
        let first = centres.row(cy + 1 - yi).0;
        for (wi, cx) in (first..).zip(cx0..=cx1) {
            debug_assert_eq!(windows.centres.x(wi), cx);
            let st = &windows.stats[wi];
            let m = &st.inv_cov;
            let (s, t, u) = (ii[0] - st.mean[0], ii[1] - st.mean[1], ii[2] - st.mean[2]);
            let c0 = m[0] * s + m[1] * t + m[2] * u;
            let c1 = m[1] * s + m[3] * t + m[4] * u;
            let c2 = m[2] * s + m[4] * t + m[5] * u;
            for yj in cy - 1..=cy + 1 {
                for xj in cx - 1..=cx + 1 {
                    let slot = (yj + 2 - yi) * 5 + (xj + 2 - xi);
                    let ij = colour[slot];
                    let temp = c0 * (ij[0] - st.mean[0]) + c1 * (ij[1] - st.mean[1]) + c2 * (ij[2] - st.mean[2]);
                    let delta = if slot == 12 { 1.0 } else { 0.0 };
                    let value = delta - (1.0 + temp) / 9.0;
                    acc[slot].0 += value;
                    acc[slot].1 = true;
                }
            }
        }
    }
    acc
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // dense reference code reads best with indices
mod tests {
    use super::*;
    use crate::refine::pymatting::trimap::trimap_split;

    fn lcg_image(w: usize, h: usize, seed: u64) -> Vec<f64> {
        let mut s = seed;
        (0..w * h * 3)
            .map(|_| {
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (s >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect()
    }

    /// The textbook Laplacian over the whole image, dense: for every window (centre ≥1 px inside)
    /// `L_w = I − (1 + C (Σ_w + ε/9 I)⁻¹ Cᵀ)/9`, `C` the centred colours, inverted generically.
    fn dense_laplacian(img: &[f64], w: usize, h: usize, eps: f64) -> Vec<Vec<f64>> {
        let n = w * h;
        let mut l = vec![vec![0.0; n]; n];
        for cy in 1..h - 1 {
            for cx in 1..w - 1 {
                let ids: Vec<usize> = (0..9).map(|k| (cy + k / 3 - 1) * w + cx + k % 3 - 1).collect();
                let mut mu = [0.0; 3];
                for &p in &ids {
                    for c in 0..3 {
                        mu[c] += img[p * 3 + c] / 9.0;
                    }
                }
                let cen: Vec<[f64; 3]> = ids.iter().map(|&p| [0, 1, 2].map(|c| img[p * 3 + c] - mu[c])).collect();
                let mut cov = [[0.0; 3]; 3];
                for r in 0..3 {
                    for c in 0..3 {
                        cov[r][c] = cen.iter().map(|v| v[r] * v[c]).sum::<f64>() / 9.0 + if r == c { eps / 9.0 } else { 0.0 };
                    }
                }
                let inv = invert3(cov);
                for (a, &pa) in ids.iter().enumerate() {
                    for (b, &pb) in ids.iter().enumerate() {
                        let mut q = 0.0;
                        for r in 0..3 {
                            for c in 0..3 {
                                q += cen[a][r] * inv[r][c] * cen[b][c];
                            }
                        }
                        l[pa][pb] += if a == b { 1.0 } else { 0.0 } - (1.0 + q) / 9.0;
                    }
                }
            }
        }
        l
    }

    /// Gauss–Jordan with partial pivoting.
    fn invert3(m: [[f64; 3]; 3]) -> [[f64; 3]; 3] {
        let mut a = [[0.0; 6]; 3];
        for r in 0..3 {
            a[r][..3].copy_from_slice(&m[r]);
            a[r][3 + r] = 1.0;
        }
        for c in 0..3 {
            let p = (c..3).max_by(|&x, &y| a[x][c].abs().total_cmp(&a[y][c].abs())).unwrap();
            a.swap(c, p);
            let d = a[c][c];
            a[c].iter_mut().for_each(|v| *v /= d);
            for r in 0..3 {
                if r != c {
                    let f = a[r][c];
                    let row_c = a[c];
                    a[r].iter_mut().zip(row_c).for_each(|(v, pc)| *v -= f * pc);
                }
            }
        }
        [0, 1, 2].map(|r| [a[r][3], a[r][4], a[r][5]])
    }

    #[test]
    fn system_matches_a_dense_naive_laplacian() {
        let (w, h, eps) = (7, 6, 1e-3);
        let img = lcg_image(w, h, 7);
        // Unknown band in the middle, including a border pixel; fg on the right, bg on the left.
        let mut tri = vec![0.0; w * h];
        for y in 0..h {
            for x in 0..w {
                tri[y * w + x] = if x >= 5 {
                    1.0
                } else if x >= 2 {
                    0.5
                } else {
                    0.0
                };
            }
        }
        tri[0] = 0.5;
        let t = trimap_split(&tri, w, h).unwrap();
        let sys = matting_system(&F64Image { data: &img, width: w }, &t, eps);
        let dense = dense_laplacian(&img, w, h, eps);
        let unk: Vec<usize> = t.unknown.iter().map(|(_, x, y)| y * w + x).collect();
        let a = sys.a.to_dense();
        let mut worst = 0.0f64;
        for (r, &p) in unk.iter().enumerate() {
            for (c, &q) in unk.iter().enumerate() {
                worst = worst.max((a[r][c] - dense[p][q]).abs() / (1.0 + dense[p][q].abs()));
            }
            let b: f64 = -(0..w * h).filter(|&q| tri[q] >= 0.9).map(|q| dense[p][q]).sum::<f64>();
            worst = worst.max((sys.b[r] - b).abs() / (1.0 + b.abs()));
        }
        assert!(worst < 1e-9, "relative error {worst}");
        // Rows of L sum to zero; the matrix is symmetric and has its diagonal.
        for r in 0..unk.len() {
            assert!(a[r][r] > 0.0);
            for c in 0..unk.len() {
                assert!((a[r][c] - a[c][r]).abs() < 1e-9 * (1.0 + a[r][c].abs()));
            }
        }
        // The corner pixel (0,0) is in one window only: its row has 4 structural entries at most.
        let (cols, _) = sys.a.row(0);
        assert!(cols.len() <= 4);
    }

    #[test]
    fn windows_are_those_touching_an_unknown_pixel() {
        let (w, h) = (13, 9);
        let img = lcg_image(w, h, 5);
        let unknown = PixelRows::from_fn(w, h, |x, y| (x * 5 + y * 7) % 11 == 0 || (x == 0 && y == 4));
        let win = windows_over(&F64Image { data: &img, width: w }, &unknown, w, h, 1e-6);
        let want: Vec<(usize, usize)> = (1..h - 1)
            .flat_map(|cy| (1..w - 1).map(move |cx| (cx, cy)))
            .filter(|&(cx, cy)| (cy - 1..=cy + 1).any(|y| (cx - 1..=cx + 1).any(|x| unknown.index_of(x, y).is_some())))
            .collect();
        let got: Vec<(usize, usize)> = win.centres.iter().map(|(_, x, y)| (x, y)).collect();
        assert_eq!(got, want);
        for (i, x, y) in win.centres.iter() {
            let s = window_stats(&F64Image { data: &img, width: w }, x, y, 1e-6);
            assert_eq!(win.stats[i].mean, s.mean);
            assert_eq!(win.stats[i].inv_cov, s.inv_cov);
        }
    }

    #[test]
    fn structure_covers_exactly_the_coupled_unknowns() {
        let (w, h) = (9, 8);
        let img = lcg_image(w, h, 3);
        let tri: Vec<f64> = (0..w * h)
            .map(|p| {
                if p % 5 == 0 {
                    1.0
                } else if p % 3 == 0 {
                    0.0
                } else {
                    0.5
                }
            })
            .collect();
        let t = trimap_split(&tri, w, h).unwrap();
        let sys = matting_system(&F64Image { data: &img, width: w }, &t, 1e-6);
        let dense = dense_laplacian(&img, w, h, 1e-6);
        for (i, xi, yi) in t.unknown.iter() {
            let (cols, _) = sys.a.row(i);
            let want: Vec<u32> = t
                .unknown
                .iter()
                .filter(|&(_, xj, yj)| xj.abs_diff(xi) <= 2 && yj.abs_diff(yi) <= 2 && dense[yi * w + xi][yj * w + xj] != 0.0)
                .map(|(j, _, _)| j as u32)
                .collect();
            assert_eq!(cols, &want[..], "row of ({xi},{yi})");
        }
    }
}
