//! Thresholded incomplete Cholesky factorisation `A ≈ L Lᵀ` (pymatting's `ichol`), used as the
//! conjugate-gradient preconditioner, and its application `z = (L Lᵀ)⁻¹ r`.
//!
//! Left-looking, column by column: column `j` of `L` is `A[j.., j]` minus `L[j.., k]·L[j, k]` for
//! every earlier column `k` with `L[j, k] ≠ 0`, divided by the pivot `√d_j`. Entries whose size is
//! at most `discard` are dropped, but their square is still subtracted from the diagonal they
//! would have updated (pymatting's `diag_keep_discarded`). If a pivot is not positive the whole
//! factorisation restarts with the next diagonal shift `A + shift·I`.
//!
//! The ordering (raster order of the unknowns) and the arithmetic are pymatting's, so the factor
//! is bit-identical to pymatting's for the same matrix. The factorisation is inherently
//! sequential in this ordering: every column depends on its left neighbour's. (Splitting the band
//! into stripes with separators ordered last, nested-dissection style, was tried: with this
//! threshold the separators' Schur complements fill in densely; it cost about 25 % more work,
//! which two cores did not win back.)

use super::sparse::Csr;

/// pymatting's defaults.
pub const DISCARD_THRESHOLD: f64 = 1e-4;
pub const SHIFTS: [f64; 12] = [0.0, 1e-4, 1e-3, 1e-2, 0.1, 0.5, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5];
/// pymatting's `max_nnz` (about 4 GB of factor).
pub const MAX_NNZ: usize = 250_000_000;

/// A lower-triangular factor in compressed-sparse-column form, the diagonal first in each column.
#[derive(Debug, Clone, Default)]
pub struct CholeskyFactor {
    pub n: usize,
    // Private: every row index is < n, which the solves rely on (unchecked indexing).
    col_ptr: Vec<usize>,
    rows: Vec<u32>,
    vals: Vec<f64>,
    /// The diagonal shift that made the factorisation succeed.
    pub shift: f64,
}

/// Why a factorisation failed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum IcholError {
    /// No shift in the list gave positive pivots.
    NotPositiveDefinite,
    /// The factor would exceed `max_nnz` entries.
    TooManyNonZeros(usize),
}

/// `ichol(A)` with pymatting's defaults. `a` holds full rows with sorted columns; only its upper
/// triangle (row `j`, columns ≥ `j`), read as column `j` of `Aᵀ`, is used, exactly as pymatting
/// uses the CSR matrix it is given.
pub fn ichol(a: &Csr) -> Result<CholeskyFactor, IcholError> {
    ichol_with(a, DISCARD_THRESHOLD, &SHIFTS, MAX_NNZ)
}

pub fn ichol_with(a: &Csr, discard: f64, shifts: &[f64], max_nnz: usize) -> Result<CholeskyFactor, IcholError> {
    let below = first_above_diagonal(a);
    for &shift in shifts {
        match factorise(a, &below, shift, discard, max_nnz) {
            Ok(f) => return Ok(f),
            Err(IcholError::NotPositiveDefinite) => {
                tracing::debug!(shift, "incomplete Cholesky: pivot not positive, trying a larger shift");
            }
            Err(e) => return Err(e),
        }
    }
    Err(IcholError::NotPositiveDefinite)
}

/// For each row `j`: the position just after its diagonal entry (its row start if none).
fn first_above_diagonal(a: &Csr) -> Vec<usize> {
    (0..a.n)
        .map(|j| {
            let (s, e) = (a.row_ptr[j], a.row_ptr[j + 1]);
            (s..e).rev().find(|&idx| a.cols[idx] as usize == j).map_or(s, |idx| idx + 1)
        })
        .collect()
}

const NONE: u32 = u32::MAX;

/// One left-looking factorisation of `A + shift·I`.
///
/// pymatting lists the rows it touches in column `j` and sorts them; here the column is kept in a
/// dense accumulator and the range `j+1..=last` (the largest row touched) is scanned in order.
/// Rows that end at exactly 0 change nothing in pymatting's arithmetic either (`d_i -= 0²` and a
/// zero is never kept), so the factor is the same, without marks or sorting. In raster order the
/// range spans about two image rows of the band.
fn factorise(a: &Csr, below: &[usize], shift: f64, discard: f64, max_nnz: usize) -> Result<CholeskyFactor, IcholError> {
    let n = a.n;
    // Running diagonal: shift + A_jj (in that order, as pymatting sums it).
    let mut diag: Vec<f64> = (0..n)
        .map(|j| {
            let mut d = shift;
            let (cols, vals) = a.row(j);
            for (&c, &v) in cols.iter().zip(vals) {
                if c as usize == j {
                    d += v;
                }
            }
            d
        })
        .collect();
    let mut f = CholeskyFactor { n, col_ptr: vec![0; n + 1], shift, ..Default::default() };
    // The factor of a matting Laplacian holds 2–5× the entries of A's lower triangle. Reserving
    // 6× avoids copies while it grows; untouched capacity costs no memory, and is returned below.
    let lower = (a.nnz() + n) / 2;
    f.rows.reserve(6 * lower);
    f.vals.reserve(6 * lower);
    // Columns with a pending entry in row i form a linked list: head[i], then cols[k].link.
    // cols[k].next is the position of column k's next entry to use, cols[k].end its end.
    #[derive(Clone, Copy)]
    struct Col {
        next: u32,
        end: u32,
        link: u32,
    }
    let max_nnz = max_nnz.min(u32::MAX as usize - 1);
    let mut cols = vec![Col { next: 0, end: 0, link: NONE }; n];
    let mut head = vec![NONE; n];
    let mut acc = vec![0.0f64; n];
    for j in 0..n {
        let mut last = j;
        // Scatter A[j+1.., j] (row j of A, right of the diagonal).
        for idx in below[j]..a.row_ptr[j + 1] {
            let (i, v) = (a.cols[idx] as usize, a.vals[idx]);
            if v != 0.0 && i > j {
                acc[i] += v;
                last = last.max(i);
            }
        }
        // Subtract L[j.., k]·L[j, k] for each column k with an entry in row j.
        let mut k = head[j];
        while k != NONE {
            let c = cols[k as usize];
            let (k0, k1) = (c.next as usize, c.end as usize);
            let l_jk = f.vals[k0];
            if k0 + 1 < k1 {
                let i = f.rows[k0 + 1] as usize;
                cols[k as usize].next = (k0 + 1) as u32;
                cols[k as usize].link = head[i];
                head[i] = k;
                let (rows, vals) = (&f.rows[k0 + 1..k1], &f.vals[k0 + 1..k1]);
                for (&i, &v) in rows.iter().zip(vals) {
                    debug_assert!((i as usize) < n);
                    // SAFETY: rows stored in the factor are < n (pushed below as j < i ≤ last < n),
                    // and acc.len() == n. This is the hot loop of the factorisation.
                    unsafe { *acc.get_unchecked_mut(i as usize) -= v * l_jk };
                }
                last = last.max(rows[rows.len() - 1] as usize);
            }
            k = c.link;
        }
        if diag[j] <= 0.0 {
            return Err(IcholError::NotPositiveDefinite);
        }
        let pivot = diag[j].sqrt();
        f.rows.push(j as u32);
        f.vals.push(pivot);
        for i in j + 1..=last {
            let a_ij = acc[i];
            if a_ij == 0.0 {
                continue;
            }
            let l_ij = a_ij / pivot;
            diag[i] -= l_ij * l_ij;
            if l_ij.abs() > discard {
                f.rows.push(i as u32);
                f.vals.push(l_ij);
            }
            acc[i] = 0.0;
        }
        if f.vals.len() > max_nnz {
            return Err(IcholError::TooManyNonZeros(max_nnz));
        }
        f.col_ptr[j + 1] = f.vals.len();
        // Column j waits in the list of its first row below the diagonal.
        let start = f.col_ptr[j] + 1;
        cols[j].next = start as u32;
        cols[j].end = f.col_ptr[j + 1] as u32;
        if start < f.col_ptr[j + 1] {
            let i = f.rows[start] as usize;
            cols[j].link = head[i];
            head[i] = j as u32;
        }
    }
    f.rows.shrink_to_fit();
    f.vals.shrink_to_fit();
    Ok(f)
}

impl CholeskyFactor {
    pub fn nnz(&self) -> usize {
        self.vals.len()
    }

    /// `x ← (L Lᵀ)⁻¹ x`: forward substitution with `L`, then back substitution with `Lᵀ`.
    pub fn solve_in_place(&self, x: &mut [f64]) {
        assert_eq!(x.len(), self.n);
        self.forward(x);
        self.backward(x);
    }

    /// `x ← L⁻¹ x` (column-oriented).
    pub fn forward(&self, x: &mut [f64]) {
        assert_eq!(x.len(), self.n);
        for j in 0..self.n {
            let (s, e) = (self.col_ptr[j], self.col_ptr[j + 1]);
            let t = x[j] / self.vals[s];
            x[j] = t;
            for (&i, &v) in self.rows[s + 1..e].iter().zip(&self.vals[s + 1..e]) {
                // SAFETY: every stored row index is < n == x.len() (see the struct).
                unsafe { *x.get_unchecked_mut(i as usize) -= v * t };
            }
        }
    }

    /// `x ← L⁻ᵀ x` (column of L = row of Lᵀ). Each row's dot product is summed in four
    /// interleaved partial sums (pymatting uses one): the sequential sum was latency-bound.
    pub fn backward(&self, x: &mut [f64]) {
        assert_eq!(x.len(), self.n);
        for i in (0..self.n).rev() {
            let (s, e) = (self.col_ptr[i], self.col_ptr[i + 1]);
            let (rows, vals) = (&self.rows[s + 1..e], &self.vals[s + 1..e]);
            let mut part = [0.0f64; 4];
            let (rc, vc) = (rows.chunks_exact(4), vals.chunks_exact(4));
            let (rr, vr) = (rc.remainder(), vc.remainder());
            for (r4, v4) in rc.zip(vc) {
                for l in 0..4 {
                    // SAFETY: every stored row index is < n == x.len() (see the struct).
                    part[l] += v4[l] * unsafe { *x.get_unchecked(r4[l] as usize) };
                }
            }
            for (&r, &v) in rr.iter().zip(vr) {
                // SAFETY: as above.
                part[0] += v * unsafe { *x.get_unchecked(r as usize) };
            }
            x[i] = (x[i] - ((part[0] + part[1]) + (part[2] + part[3]))) / self.vals[s];
        }
    }

    pub fn heap_bytes(&self) -> usize {
        self.col_ptr.capacity() * std::mem::size_of::<usize>() + self.rows.capacity() * 4 + self.vals.capacity() * 8
    }
}

#[cfg(test)]
#[allow(clippy::needless_range_loop)] // dense reference code reads best with indices
mod tests {
    use super::*;

    fn grid_laplacian(n: usize, diag_extra: f64) -> Vec<Vec<f64>> {
        // 1-D chain plus a few long-range couplings, diagonally dominant.
        let mut d = vec![vec![0.0; n]; n];
        for i in 0..n {
            for j in [i + 1, i + 3] {
                if j < n {
                    d[i][j] = -1.0;
                    d[j][i] = -1.0;
                }
            }
        }
        for i in 0..n {
            d[i][i] = -d[i].iter().sum::<f64>() + diag_extra;
        }
        d
    }

    fn dense_of(f: &CholeskyFactor) -> Vec<Vec<f64>> {
        let mut l = vec![vec![0.0; f.n]; f.n];
        for j in 0..f.n {
            for k in f.col_ptr[j]..f.col_ptr[j + 1] {
                l[f.rows[k] as usize][j] = f.vals[k];
            }
        }
        l
    }

    #[test]
    fn without_dropping_it_is_the_exact_cholesky_factor() {
        let d = grid_laplacian(12, 0.5);
        let f = ichol_with(&Csr::from_dense(&d), 0.0, &SHIFTS, MAX_NNZ).unwrap();
        assert_eq!(f.shift, 0.0);
        let l = dense_of(&f);
        for i in 0..12 {
            for j in 0..12 {
                let llt: f64 = (0..12).map(|k| l[i][k] * l[j][k]).sum();
                assert!((llt - d[i][j]).abs() < 1e-12, "({i},{j})");
            }
            assert!(l[i][i] > 0.0);
            assert!(((i + 1)..12).all(|j| l[i][j] == 0.0), "lower triangular");
        }
        // Solving with it inverts A.
        let b: Vec<f64> = (0..12).map(|i| (i as f64).sin()).collect();
        let mut x = b.clone();
        f.solve_in_place(&mut x);
        for i in 0..12 {
            let ax: f64 = (0..12).map(|j| d[i][j] * x[j]).sum();
            assert!((ax - b[i]).abs() < 1e-12);
        }
    }

    #[test]
    fn small_entries_are_dropped() {
        let mut d = grid_laplacian(10, 1.0);
        d[0][5] = -1e-5;
        d[5][0] = -1e-5;
        d[0][0] += 1e-5;
        d[5][5] += 1e-5;
        let exact = ichol_with(&Csr::from_dense(&d), 0.0, &SHIFTS, MAX_NNZ).unwrap();
        let f = ichol_with(&Csr::from_dense(&d), 1e-4, &SHIFTS, MAX_NNZ).unwrap();
        assert!(f.nnz() < exact.nnz());
        assert!(f.vals.iter().all(|v| v.abs() > 1e-4));
        assert!(dense_of(&f)[5][0] == 0.0);
    }

    #[test]
    fn indefinite_matrices_get_a_shift() {
        // Indefinite: the second pivot is 1 + s - 9/(1 + s), positive only from shift 10 on.
        let d = vec![vec![1.0, 3.0], vec![3.0, 1.0]];
        let f = ichol(&Csr::from_dense(&d)).unwrap();
        assert_eq!(f.shift, 10.0);
        // Negative definite: every shift fails.
        let neg: Vec<Vec<f64>> = (0..3).map(|i| (0..3).map(|j| if i == j { -1e6 } else { 0.0 }).collect()).collect();
        assert_eq!(ichol(&Csr::from_dense(&neg)).unwrap_err(), IcholError::NotPositiveDefinite);
        // The non-zero limit is enforced.
        let d = grid_laplacian(8, 1.0);
        assert!(matches!(ichol_with(&Csr::from_dense(&d), 0.0, &SHIFTS, 5), Err(IcholError::TooManyNonZeros(5))));
    }
}
