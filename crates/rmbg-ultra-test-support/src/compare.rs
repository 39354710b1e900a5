//! How far two outputs are apart.

/// Largest absolute difference of two equally long slices (f32 or f64), computed in f64.
pub fn max_abs_diff<T: Copy + Into<f64>>(a: &[T], b: &[T]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(&x, &y)| (x.into() - y.into()).abs()).fold(0.0, f64::max)
}

/// Share of equal bytes and the largest byte difference.
pub fn byte_agreement(a: &[u8], b: &[u8]) -> (f64, u8) {
    assert_eq!(a.len(), b.len());
    let equal = a.iter().zip(b).filter(|(x, y)| x == y).count();
    let worst = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0);
    (equal as f64 / a.len().max(1) as f64, worst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_are_measured() {
        assert_eq!(max_abs_diff(&[1.0, -2.0, 3.0], &[1.5, 1.0, 3.0]), 3.0);
        assert_eq!(max_abs_diff(&[0.1f32, 2.0], &[0.1f32, 1.0]), 1.0);
        assert_eq!(byte_agreement(&[0, 10, 255, 7], &[0, 12, 0, 7]), (0.5, 255));
        assert_eq!(byte_agreement(&[], &[]), (0.0, 0));
    }
}
