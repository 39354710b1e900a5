//! Preconditioned conjugate gradients (pymatting's `cg`): `x₀ = 0`, stop as soon as
//! `‖r‖ < rtol·‖b‖` (strict, atol 0), fail after `maxiter` iterations.

use super::sparse::{dot, norm, Csr, CHUNK};
use rayon::prelude::*;

/// pymatting's `rtol` and the node's `maxiter`.
pub const RTOL: f64 = 1e-7;
pub const MAXITER: usize = 500;

#[derive(Debug, Clone)]
pub struct Solution {
    pub x: Vec<f64>,
    /// Iterations done (0 when the initial guess already satisfies the tolerance).
    pub iterations: usize,
    /// `‖r‖ / ‖b‖` at the end.
    pub relative_residual: f64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NotConverged {
    pub iterations: usize,
    pub relative_residual: f64,
}

/// Solves `A x = b` for symmetric positive definite `A`, `precondition(r, z)` writing `z = M⁻¹ r`.
///
/// Like pymatting, a zero right-hand side never converges (the test `0 < rtol·0` is false and the
/// first step is 0/0), so it is reported as [`NotConverged`] without iterating.
pub fn cg(
    a: &Csr,
    b: &[f64],
    precondition: &mut dyn FnMut(&[f64], &mut [f64]),
    rtol: f64,
    maxiter: usize,
) -> Result<Solution, NotConverged> {
    let n = b.len();
    assert_eq!(a.n, n);
    let norm_b = norm(b);
    if norm_b == 0.0 || norm_b.is_nan() {
        return Err(NotConverged { iterations: maxiter, relative_residual: f64::NAN });
    }
    let mut x = vec![0.0; n];
    let mut r = b.to_vec();
    let mut z = vec![0.0; n];
    let mut ap = vec![0.0; n];
    if norm_b < rtol * norm_b {
        return Ok(Solution { x, iterations: 0, relative_residual: 1.0 });
    }
    precondition(&r, &mut z);
    let mut p = z.clone();
    let mut rz = dot(&r, &z);
    let mut rel = 1.0;
    for it in 0..maxiter {
        a.mul_vec(&p, &mut ap);
        let alpha = rz / dot(&p, &ap);
        // x += α p; r -= α Ap; and ‖r‖², in one pass.
        let partial: Vec<f64> = x
            .par_chunks_mut(CHUNK)
            .zip(r.par_chunks_mut(CHUNK))
            .zip(p.par_chunks(CHUNK).zip(ap.par_chunks(CHUNK)))
            .map(|((xs, rs), (ps, aps))| {
                let mut s = 0.0;
                for ((xi, ri), (pi, api)) in xs.iter_mut().zip(rs.iter_mut()).zip(ps.iter().zip(aps)) {
                    *xi += alpha * pi;
                    *ri -= alpha * api;
                    s += *ri * *ri;
                }
                s
            })
            .collect();
        let norm_r = partial.iter().sum::<f64>().sqrt();
        rel = norm_r / norm_b;
        if norm_r < rtol * norm_b {
            return Ok(Solution { x, iterations: it + 1, relative_residual: rel });
        }
        precondition(&r, &mut z);
        let rz_new = dot(&r, &z);
        let beta = (1.0 / rz) * rz_new;
        rz = rz_new;
        p.par_chunks_mut(CHUNK).zip(z.par_chunks(CHUNK)).for_each(|(ps, zs)| {
            for (pi, zi) in ps.iter_mut().zip(zs) {
                *pi = *pi * beta + zi;
            }
        });
    }
    Err(NotConverged { iterations: maxiter, relative_residual: rel })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spd(n: usize) -> Vec<Vec<f64>> {
        // Tridiagonal + long-range couplings, strictly diagonally dominant.
        let mut d = vec![vec![0.0; n]; n];
        for i in 0..n {
            d[i][i] = 4.0 + (i % 3) as f64;
            if i + 1 < n {
                d[i][i + 1] = -1.0;
                d[i + 1][i] = -1.0;
            }
            if i + 7 < n {
                d[i][i + 7] = -0.5;
                d[i + 7][i] = -0.5;
            }
        }
        d
    }

    fn residual(d: &[Vec<f64>], x: &[f64], b: &[f64]) -> f64 {
        d.iter().zip(b).map(|(row, bi)| (bi - row.iter().zip(x).map(|(a, v)| a * v).sum::<f64>()).powi(2)).sum::<f64>().sqrt()
    }

    #[test]
    fn solves_a_small_spd_system() {
        let d = spd(40);
        let a = Csr::from_dense(&d);
        let b: Vec<f64> = (0..40).map(|i| ((i * 37) % 11) as f64 - 5.0).collect();
        let nb = b.iter().map(|v| v * v).sum::<f64>().sqrt();
        let s = cg(&a, &b, &mut |r, z| z.copy_from_slice(r), 1e-10, 500).unwrap();
        assert!(residual(&d, &s.x, &b) < 1e-10 * nb);
        assert!(s.iterations > 1 && s.iterations <= 40, "{}", s.iterations);
        // Jacobi preconditioning also converges, to the same solution.
        let diag: Vec<f64> = (0..40).map(|i| d[i][i]).collect();
        let s2 = cg(&a, &b, &mut |r, z| z.iter_mut().zip(r).zip(&diag).for_each(|((z, r), d)| *z = r / d), 1e-10, 500).unwrap();
        let diff = s.x.iter().zip(&s2.x).map(|(p, q)| (p - q).abs()).fold(0.0, f64::max);
        assert!(diff < 1e-8, "{diff}");
    }

    #[test]
    fn an_exact_preconditioner_converges_in_one_step() {
        let d: Vec<Vec<f64>> = (0..5).map(|i| (0..5).map(|j| if i == j { (i + 1) as f64 } else { 0.0 }).collect()).collect();
        let a = Csr::from_dense(&d);
        let s = cg(
            &a,
            &[1.0, 2.0, 3.0, 4.0, 5.0],
            &mut |r, z| z.iter_mut().zip(r).enumerate().for_each(|(i, (z, r))| *z = r / (i + 1) as f64),
            1e-7,
            500,
        )
        .unwrap();
        assert_eq!(s.iterations, 1);
        assert!(s.x.iter().all(|v| (v - 1.0).abs() < 1e-15));
    }

    #[test]
    fn stops_after_maxiter_and_on_a_zero_rhs() {
        let d = spd(60);
        let a = Csr::from_dense(&d);
        let b = vec![1.0; 60];
        let e = cg(&a, &b, &mut |r, z| z.copy_from_slice(r), 1e-14, 3).unwrap_err();
        assert_eq!(e.iterations, 3);
        assert!(e.relative_residual > 1e-14);
        assert!(cg(&a, &vec![0.0; 60], &mut |r, z| z.copy_from_slice(r), 1e-7, 500).is_err());
        let empty = Csr { n: 0, row_ptr: vec![0], ..Default::default() };
        assert!(cg(&empty, &[], &mut |_, _| {}, 1e-7, 500).is_err());
    }
}
