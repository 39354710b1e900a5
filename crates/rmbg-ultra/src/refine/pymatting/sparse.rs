//! The two sparse structures the solver needs, both sized by the unknown band, never the image:
//! [`PixelRows`], a set of pixels listed row by row, and [`Csr`], a compressed-sparse-row matrix.

use rayon::prelude::*;

/// Rows per parallel task in the vector kernels (fixed, so results do not depend on the thread
/// count or on work stealing).
pub(crate) const CHUNK: usize = 4096;

/// A set of pixels in raster order: `xs[row_start[y]..row_start[y + 1]]` are the sorted columns
/// of the members on row `y`; a member's position in raster order is its index.
#[derive(Debug, Clone, Default)]
pub struct PixelRows {
    row_start: Vec<usize>,
    xs: Vec<u32>,
}

impl PixelRows {
    /// Collects the pixels for which `member(x, y)` holds, in raster order.
    pub fn from_fn(width: usize, height: usize, member: impl Fn(usize, usize) -> bool) -> Self {
        let mut row_start = Vec::with_capacity(height + 1);
        let mut xs = Vec::new();
        row_start.push(0);
        for y in 0..height {
            xs.extend((0..width).filter(|&x| member(x, y)).map(|x| x as u32));
            row_start.push(xs.len());
        }
        PixelRows { row_start, xs }
    }

    /// From per-row sorted column lists (`rows[y]`).
    pub fn from_rows(rows: Vec<Vec<u32>>) -> Self {
        let mut row_start = Vec::with_capacity(rows.len() + 1);
        row_start.push(0);
        let mut xs = Vec::with_capacity(rows.iter().map(Vec::len).sum());
        for r in rows {
            debug_assert!(r.windows(2).all(|p| p[0] < p[1]));
            xs.extend(r);
            row_start.push(xs.len());
        }
        PixelRows { row_start, xs }
    }

    pub fn len(&self) -> usize {
        self.xs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.xs.is_empty()
    }

    pub fn height(&self) -> usize {
        self.row_start.len().saturating_sub(1)
    }

    /// The sorted columns of row `y`.
    pub fn row(&self, y: usize) -> &[u32] {
        &self.xs[self.row_start[y]..self.row_start[y + 1]]
    }

    /// Index of the first member of row `y` with column ≥ `x` (the row's end if none).
    pub fn lower_bound(&self, y: usize, x: usize) -> usize {
        let row = self.row(y);
        self.row_start[y] + row.partition_point(|&c| (c as usize) < x)
    }

    /// The sorted columns of row `y` from the first one ≥ `x` on.
    pub fn row_from(&self, y: usize, x: usize) -> &[u32] {
        let row = self.row(y);
        &row[row.partition_point(|&c| (c as usize) < x)..]
    }

    /// Index of pixel `(x, y)` if it is a member.
    pub fn index_of(&self, x: usize, y: usize) -> Option<usize> {
        let i = self.lower_bound(y, x);
        (i < self.row_start[y + 1] && self.xs[i] as usize == x).then_some(i)
    }

    /// Column of the member with index `i`.
    pub fn x(&self, i: usize) -> usize {
        self.xs[i] as usize
    }

    /// Row of the member with index `i`.
    pub fn y(&self, i: usize) -> usize {
        self.row_start.partition_point(|&s| s <= i) - 1
    }

    /// `(index, x, y)` for every member in raster order.
    pub fn iter(&self) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
        (0..self.height()).flat_map(move |y| (self.row_start[y]..self.row_start[y + 1]).map(move |i| (i, self.xs[i] as usize, y)))
    }

    /// Bytes held (for memory accounting in tests and the benchmark).
    pub fn heap_bytes(&self) -> usize {
        self.row_start.capacity() * std::mem::size_of::<usize>() + self.xs.capacity() * 4
    }
}

/// The members of rows `y-reach..=y+reach` from column `x-reach` on, for pixels `(x, y)` visited
/// in raster order: each row's position only moves forward, so a binary search is needed only when
/// `y` changes.
pub struct Cursors<'a> {
    set: &'a PixelRows,
    reach: usize,
    y: Option<usize>,
    /// Per row offset `d` (row `y + d - reach`): index of its first member ≥ `x - reach`.
    pos: [usize; 5],
}

impl<'a> Cursors<'a> {
    pub fn new(set: &'a PixelRows, reach: usize) -> Self {
        assert!(reach <= 2);
        Cursors { set, reach, y: None, pos: [0; 5] }
    }

    /// Moves to pixel `(x, y)`; `x` must not decrease while `y` stays the same.
    pub fn seek(&mut self, x: usize, y: usize) {
        let x0 = x.saturating_sub(self.reach);
        let h = self.set.height();
        for d in 0..=2 * self.reach {
            let Some(yy) = (y + d).checked_sub(self.reach).filter(|&yy| yy < h) else { continue };
            if self.y == Some(y) {
                let end = self.set.row_start[yy + 1];
                let p = &mut self.pos[d];
                while *p < end && (self.set.xs[*p] as usize) < x0 {
                    *p += 1;
                }
            } else {
                self.pos[d] = self.set.lower_bound(yy, x0);
            }
        }
        self.y = Some(y);
    }

    /// Row `y + d - reach`: the index of its first member ≥ `x - reach` and the columns from there
    /// to the row's end (empty outside the image).
    pub fn row(&self, d: usize) -> (usize, &'a [u32]) {
        let y = self.y.expect("seek first");
        match (y + d).checked_sub(self.reach).filter(|&yy| yy < self.set.height()) {
            Some(yy) => (self.pos[d], &self.set.xs[self.pos[d]..self.set.row_start[yy + 1]]),
            None => (0, &[]),
        }
    }
}

/// A square sparse matrix in compressed-sparse-row form with sorted column indices.
#[derive(Debug, Clone, Default)]
pub struct Csr {
    pub n: usize,
    pub row_ptr: Vec<usize>,
    pub cols: Vec<u32>,
    pub vals: Vec<f64>,
}

impl Csr {
    pub fn nnz(&self) -> usize {
        self.vals.len()
    }

    /// Columns and values of row `i`.
    pub fn row(&self, i: usize) -> (&[u32], &[f64]) {
        let r = self.row_ptr[i]..self.row_ptr[i + 1];
        (&self.cols[r.clone()], &self.vals[r])
    }

    /// `y = A·x`, each row summed in stored order (as scipy's `csr_matvec` does).
    pub fn mul_vec(&self, x: &[f64], y: &mut [f64]) {
        assert_eq!(x.len(), self.n);
        assert_eq!(y.len(), self.n);
        y.par_chunks_mut(CHUNK).enumerate().for_each(|(c, ys)| {
            let i0 = c * CHUNK;
            for (k, yi) in ys.iter_mut().enumerate() {
                let (cols, vals) = self.row(i0 + k);
                let mut s = 0.0;
                for (&j, &v) in cols.iter().zip(vals) {
                    s += v * x[j as usize];
                }
                *yi = s;
            }
        });
    }

    /// Dense copy (tests only).
    #[cfg(test)]
    pub fn to_dense(&self) -> Vec<Vec<f64>> {
        let mut d = vec![vec![0.0; self.n]; self.n];
        for (i, row) in d.iter_mut().enumerate() {
            let (cols, vals) = self.row(i);
            for (&j, &v) in cols.iter().zip(vals) {
                row[j as usize] += v;
            }
        }
        d
    }

    /// From dense rows, keeping the non-zeros (tests only).
    #[cfg(test)]
    pub fn from_dense(d: &[Vec<f64>]) -> Self {
        let mut m = Csr { n: d.len(), row_ptr: vec![0], ..Default::default() };
        for row in d {
            for (j, &v) in row.iter().enumerate() {
                if v != 0.0 {
                    m.cols.push(j as u32);
                    m.vals.push(v);
                }
            }
            m.row_ptr.push(m.vals.len());
        }
        m
    }

    pub fn heap_bytes(&self) -> usize {
        self.row_ptr.capacity() * std::mem::size_of::<usize>() + self.cols.capacity() * 4 + self.vals.capacity() * 8
    }
}

/// `a·b` summed in fixed chunks (deterministic for any thread count).
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    let partial: Vec<f64> =
        a.par_chunks(CHUNK).zip(b.par_chunks(CHUNK)).map(|(a, b)| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>()).collect();
    partial.iter().sum()
}

/// Euclidean norm.
pub(crate) fn norm(a: &[f64]) -> f64 {
    dot(a, a).sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixel_rows_index_in_raster_order() {
        let set = PixelRows::from_fn(5, 4, |x, y| (x + y) % 3 == 0);
        let listed: Vec<(usize, usize)> = set.iter().map(|(_, x, y)| (x, y)).collect();
        let want: Vec<(usize, usize)> = (0..4).flat_map(|y| (0..5).map(move |x| (x, y))).filter(|(x, y)| (x + y) % 3 == 0).collect();
        assert_eq!(listed, want);
        for (i, x, y) in set.iter() {
            assert_eq!(set.index_of(x, y), Some(i));
            assert_eq!((set.x(i), set.y(i)), (x, y));
        }
        assert_eq!(set.index_of(1, 0), None);
        assert_eq!(set.lower_bound(1, 2), set.index_of(2, 1).unwrap());
        assert_eq!(set.lower_bound(1, 3), set.lower_bound(2, 0), "past the row's last member");
        assert_eq!(set.lower_bound(0, 99), set.lower_bound(1, 0));
    }

    #[test]
    fn cursors_agree_with_binary_search() {
        let set = PixelRows::from_fn(23, 11, |x, y| (x * 7 + y * 3) % 5 < 2);
        for reach in [1usize, 2] {
            let mut c = Cursors::new(&set, reach);
            for y in 0..11 {
                for x in (0..23).step_by(2) {
                    c.seek(x, y);
                    for d in 0..=2 * reach {
                        let (first, cols) = c.row(d);
                        let Some(yy) = (y + d).checked_sub(reach).filter(|&yy| yy < 11) else {
                            assert!(cols.is_empty());
                            continue;
                        };
                        assert_eq!(first, set.lower_bound(yy, x.saturating_sub(reach)));
                        assert_eq!(cols, set.row_from(yy, x.saturating_sub(reach)));
                    }
                }
            }
        }
    }

    #[test]
    fn csr_product_and_dot() {
        let d = vec![vec![2.0, -1.0, 0.0], vec![-1.0, 2.0, -1.0], vec![0.0, -1.0, 2.0]];
        let m = Csr::from_dense(&d);
        assert_eq!(m.nnz(), 7);
        let mut y = vec![0.0; 3];
        m.mul_vec(&[1.0, 2.0, 3.0], &mut y);
        assert_eq!(y, vec![0.0, 0.0, 4.0]);
        let big: Vec<f64> = (0..10_000).map(|i| i as f64).collect();
        assert_eq!(dot(&big, &big), (0..10_000u64).map(|i| (i * i) as f64).sum::<f64>());
        assert_eq!(norm(&[3.0, 4.0]), 5.0);
    }
}
