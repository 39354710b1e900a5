//! `estimate_alpha_cf` with the node's arguments: closed-form matting Laplacian (ε = 1e-6),
//! `L_UU x = −L_UK·[fg]` solved by conjugate gradients preconditioned with the thresholded
//! incomplete Cholesky factor, at most 500 iterations; alpha = trimap with the unknowns
//! replaced by `x`, clipped to [0, 1].

use super::laplacian::{matting_system, Colours, F64Image};
use super::preconditioner::{ichol, IcholError};
use super::refine_error;
use super::solver::{cg, NotConverged, MAXITER, RTOL};
use super::trimap::{trimap_split, Trimap};
use crate::Result;

/// The node's `laplacian_kwargs={"epsilon": 1e-6}`.
pub const EPSILON: f64 = 1e-6;

/// What one solve did (for logs and the benchmark).
#[derive(Debug, Clone, Default)]
pub struct CfReport {
    pub unknowns: usize,
    /// Non-zeros of `L_UU`.
    pub matrix_nnz: usize,
    /// Non-zeros of the incomplete Cholesky factor.
    pub factor_nnz: usize,
    /// Diagonal shift the factorisation needed.
    pub shift: f64,
    pub iterations: usize,
    pub relative_residual: f64,
    /// Bytes of the matrix, right-hand side and factor (the solver's working set).
    pub solver_bytes: usize,
    /// Wall-clock seconds of the stages: blur and trimap (mask_edge_detail only), Laplacian,
    /// preconditioner, conjugate gradients.
    pub blur_s: f64,
    pub laplacian_s: f64,
    pub factor_s: f64,
    pub cg_s: f64,
}

/// Why the solve failed; each maps to the error pymatting raises.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SolveFailure {
    /// No pixel is unknown: pymatting's CG then divides 0 by 0 and never converges.
    NoUnknown,
    /// No unknown pixel shares a 3×3 window with a foreground pixel, so `b = 0`: same outcome.
    ZeroRhs,
    NotConverged(NotConverged),
    Factorisation(IcholError),
}

impl SolveFailure {
    /// A reason a user can act on (the caller adds what the trimap came from).
    pub fn reason(&self) -> String {
        match self {
            SolveFailure::NoUnknown => format!(
                "the trimap has no unknown pixel; on that pymatting's solver (and so the node) stops with \"did not \
                 converge within {MAXITER} iterations\""
            ),
            SolveFailure::ZeroRhs => format!(
                "no unknown pixel shares a 3×3 window with a foreground pixel (or the image is less than 3 pixels \
                 wide or high), so the system is zero; on that pymatting's solver (and so the node) stops with \
                 \"did not converge within {MAXITER} iterations\""
            ),
            SolveFailure::NotConverged(nc) => format!(
                "conjugate gradients did not converge within {} iterations (relative residual {:.3e}, needed < \
                 {RTOL:e}), where the node fails too",
                nc.iterations, nc.relative_residual
            ),
            SolveFailure::Factorisation(IcholError::NotPositiveDefinite) => {
                "the incomplete Cholesky preconditioner failed: the matting Laplacian is not positive definite even \
                 with a diagonal shift of 1e5"
                    .to_string()
            }
            SolveFailure::Factorisation(IcholError::TooManyNonZeros(m)) => format!(
                "the incomplete Cholesky preconditioner would need more than {m} non-zeros (the unknown band is too \
                 large)"
            ),
        }
    }
}

/// Solves for the unknown pixels of `trimap` (in raster order), as pymatting does.
pub fn solve_unknowns(img: &impl Colours, trimap: &Trimap, epsilon: f64) -> std::result::Result<(Vec<f64>, CfReport), SolveFailure> {
    solve_unknowns_to(img, trimap, epsilon, RTOL)
}

/// [`solve_unknowns`] with conjugate gradients stopping at the relative residual `rtol` instead of
/// pymatting's.
pub fn solve_unknowns_to(
    img: &impl Colours,
    trimap: &Trimap,
    epsilon: f64,
    rtol: f64,
) -> std::result::Result<(Vec<f64>, CfReport), SolveFailure> {
    let n = trimap.unknown.len();
    if n == 0 {
        return Err(SolveFailure::NoUnknown);
    }
    let t0 = std::time::Instant::now();
    let sys = matting_system(img, trimap, epsilon);
    let mut report = CfReport { unknowns: n, matrix_nnz: sys.a.nnz(), ..Default::default() };
    if sys.b.iter().all(|&v| v == 0.0) {
        return Err(SolveFailure::ZeroRhs);
    }
    let t1 = std::time::Instant::now();
    let factor = ichol(&sys.a).map_err(SolveFailure::Factorisation)?;
    report.factor_nnz = factor.nnz();
    report.shift = factor.shift;
    report.solver_bytes = sys.a.heap_bytes() + sys.b.capacity() * 8 + factor.heap_bytes();
    let t2 = std::time::Instant::now();
    let sol = cg(
        &sys.a,
        &sys.b,
        &mut |r, z| {
            z.copy_from_slice(r);
            factor.solve_in_place(z);
        },
        rtol,
        MAXITER,
    )
    .map_err(SolveFailure::NotConverged)?;
    report.iterations = sol.iterations;
    report.relative_residual = sol.relative_residual;
    report.laplacian_s = (t1 - t0).as_secs_f64();
    report.factor_s = (t2 - t1).as_secs_f64();
    report.cg_s = t2.elapsed().as_secs_f64();
    tracing::debug!(
        unknowns = n,
        nnz = report.matrix_nnz,
        factor_nnz = report.factor_nnz,
        shift = report.shift,
        iterations = sol.iterations,
        laplacian_s = report.laplacian_s,
        ichol_s = report.factor_s,
        cg_s = report.cg_s,
        "PyMatting closed-form solve"
    );
    Ok((sol.x, report))
}

/// `pymatting.estimate_alpha_cf(image, trimap, laplacian_kwargs={"epsilon": 1e-6},
/// cg_kwargs={"maxiter": 500})` on an `height × width × 3` f64 image and a `height × width`
/// trimap; returns alpha (`height × width`).
pub fn estimate_alpha_cf(image: &[f64], trimap: &[f64], width: usize, height: usize) -> Result<Vec<f64>> {
    estimate_alpha_cf_with(image, trimap, width, height, EPSILON).map(|(a, _)| a)
}

/// [`estimate_alpha_cf`] with another regularisation `epsilon` (pymatting's own default is 1e-7),
/// and what the solver did.
pub fn estimate_alpha_cf_with(image: &[f64], trimap: &[f64], width: usize, height: usize, epsilon: f64) -> Result<(Vec<f64>, CfReport)> {
    if image.len() != width * height * 3 {
        return Err(refine_error(format!("the image has {} values, expected {height}×{width}×3", image.len())));
    }
    if trimap.len() != width * height {
        return Err(refine_error(format!("the trimap has {} values, expected {height}×{width}", trimap.len())));
    }
    let split = trimap_split(trimap, width, height)?;
    let (x, report) = solve_unknowns(&F64Image { data: image, width }, &split, epsilon).map_err(|f| refine_error(f.reason()))?;
    let mut alpha: Vec<f64> = trimap.iter().map(|&t| t.clamp(0.0, 1.0)).collect();
    for ((_, px, py), v) in split.unknown.iter().zip(x) {
        alpha[py * width + px] = v.clamp(0.0, 1.0);
    }
    Ok((alpha, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn smooth_image(w: usize, h: usize) -> Vec<f64> {
        let mut img = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            for x in 0..w {
                let (fx, fy) = (x as f64 / w as f64, y as f64 / h as f64);
                img.extend([0.2 + 0.6 * fx, 0.5 + 0.3 * (3.0 * fy).sin(), 0.3 + 0.4 * fx * fy]);
            }
        }
        img
    }

    #[test]
    fn alpha_keeps_known_pixels_and_fills_the_band() {
        let (w, h) = (24, 20);
        let img = smooth_image(w, h);
        let tri: Vec<f64> = (0..w * h)
            .map(|p| {
                if p % w < 8 {
                    0.0
                } else if p % w >= 16 {
                    1.0
                } else {
                    0.5
                }
            })
            .collect();
        let (alpha, rep) = estimate_alpha_cf_with(&img, &tri, w, h, EPSILON).unwrap();
        assert_eq!(rep.unknowns, 8 * h);
        assert!(rep.iterations >= 1 && rep.iterations < MAXITER);
        assert!(rep.relative_residual < RTOL);
        for y in 0..h {
            assert_eq!(alpha[y * w], 0.0);
            assert_eq!(alpha[y * w + w - 1], 1.0);
            // The band goes from background to foreground.
            assert!(alpha[y * w + 9] < alpha[y * w + 14], "row {y}");
        }
        assert!(alpha.iter().all(|a| (0.0..=1.0).contains(a)));
    }

    #[test]
    fn residual_of_the_solution_is_small() {
        let (w, h) = (15, 13);
        let img = smooth_image(w, h);
        let tri: Vec<f64> = (0..w * h)
            .map(|p| {
                let (x, y) = (p % w, p / w);
                if x + y < 8 {
                    0.0
                } else if x + y > 16 {
                    1.0
                } else {
                    0.5
                }
            })
            .collect();
        let split = trimap_split(&tri, w, h).unwrap();
        let im = F64Image { data: &img, width: w };
        let (x, _) = solve_unknowns(&im, &split, EPSILON).unwrap();
        let sys = matting_system(&im, &split, EPSILON);
        let mut ax = vec![0.0; x.len()];
        sys.a.mul_vec(&x, &mut ax);
        let r: f64 = ax.iter().zip(&sys.b).map(|(p, q)| (p - q).powi(2)).sum::<f64>().sqrt();
        let nb: f64 = sys.b.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!(r < RTOL * nb, "{r} vs {nb}");
    }

    #[test]
    fn degenerate_trimaps_fail_like_pymatting() {
        let (w, h) = (10, 10);
        let img = smooth_image(w, h);
        // No unknown pixel.
        let tri: Vec<f64> = (0..w * h).map(|p| if p % w < 5 { 0.0 } else { 1.0 }).collect();
        let e = estimate_alpha_cf(&img, &tri, w, h).unwrap_err().to_string();
        assert!(e.contains("no unknown pixel") && e.contains("500"), "{e}");
        // Unknowns that only touch background: b = 0.
        let tri: Vec<f64> = (0..w * h)
            .map(|p| match p % w {
                0..=1 => 0.5,
                9 => 1.0,
                _ => 0.0,
            })
            .collect();
        let e = estimate_alpha_cf(&img, &tri, w, h).unwrap_err().to_string();
        assert!(e.contains("foreground") && e.contains("500"), "{e}");
        // Sizes are checked.
        assert!(estimate_alpha_cf(&img[..3], &tri, w, h).is_err());
    }
}
