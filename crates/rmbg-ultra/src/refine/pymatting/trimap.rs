//! pymatting's `fix_trimap` (thresholds → {0, ½, 1}) and `trimap_split` (fg ≥ 0.9, bg ≤ 0.1).

use super::refine_error;
use super::sparse::PixelRows;
use crate::Result;

/// `trimap_split`'s default thresholds: a value ≥ 0.9 is foreground, ≤ 0.1 background.
pub const FG_THRESHOLD: f64 = 0.9;
pub const BG_THRESHOLD: f64 = 0.1;

/// What a trimap says about one pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Class {
    Background = 0,
    Unknown = 1,
    Foreground = 2,
}

/// `fix_trimap`'s threshold checks: both in [0, 1] and `lower ≤ upper`.
pub fn check_thresholds(lower: f64, upper: f64) -> Result<()> {
    // Non-finite thresholds cannot come from the node's sliders; refuse them rather than let
    // NaN comparisons silently classify every pixel as unknown.
    if !(0.0..=1.0).contains(&lower) {
        return Err(refine_error(format!("black_point = {lower} must lie in [0, 1]")));
    }
    if !(0.0..=1.0).contains(&upper) {
        return Err(refine_error(format!("white_point = {upper} must lie in [0, 1]")));
    }
    if lower > upper {
        return Err(refine_error(format!(
            "black_point = {lower} is above white_point = {upper}: the black point must not exceed the white point \
             (lower black_point or raise white_point)"
        )));
    }
    Ok(())
}

/// One value of `fix_trimap(t, lower, upper)`: below `lower` background, above `upper` foreground,
/// otherwise unknown. Thresholds are assumed checked.
#[inline]
pub fn fix_class(t: f64, lower: f64, upper: f64) -> Class {
    if t < lower {
        Class::Background
    } else if t > upper {
        Class::Foreground
    } else {
        Class::Unknown
    }
}

/// `pymatting.fix_trimap(trimap, lower, upper)`: 0 where `t < lower`, 1 where `t > upper`,
/// 0.5 elsewhere.
pub fn fix_trimap(trimap: &[f64], lower: f64, upper: f64) -> Result<Vec<f64>> {
    check_thresholds(lower, upper)?;
    Ok(trimap
        .iter()
        .map(|&t| match fix_class(t, lower, upper) {
            Class::Background => 0.0,
            Class::Foreground => 1.0,
            Class::Unknown => 0.5,
        })
        .collect())
}

/// `trimap_split`'s classification of one value.
#[inline]
pub fn split_class(t: f64) -> Class {
    if t >= FG_THRESHOLD {
        Class::Foreground
    } else if t <= BG_THRESHOLD {
        Class::Background
    } else {
        Class::Unknown
    }
}

/// A classified trimap: one class per pixel, the unknown pixels listed row by row.
#[derive(Debug, Clone)]
pub struct Trimap {
    pub width: usize,
    pub height: usize,
    pub classes: Vec<Class>,
    pub unknown: PixelRows,
}

/// What is missing from a trimap that `trimap_split` rejects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missing {
    Foreground,
    Background,
}

impl Trimap {
    /// Builds the trimap from per-pixel classes; `Err` names what `trimap_split` would refuse
    /// (it checks background first).
    pub fn from_classes(width: usize, height: usize, classes: Vec<Class>) -> std::result::Result<Self, Missing> {
        assert_eq!(classes.len(), width * height);
        if !classes.contains(&Class::Background) {
            return Err(Missing::Background);
        }
        if !classes.contains(&Class::Foreground) {
            return Err(Missing::Foreground);
        }
        let unknown = PixelRows::from_fn(width, height, |x, y| classes[y * width + x] == Class::Unknown);
        Ok(Trimap { width, height, classes, unknown })
    }

    #[inline]
    pub fn class(&self, x: usize, y: usize) -> Class {
        self.classes[y * self.width + x]
    }
}

/// `pymatting.trimap_split` on a `height × width` trimap of values in [0, 1].
pub fn trimap_split(trimap: &[f64], width: usize, height: usize) -> Result<Trimap> {
    let classes = trimap.iter().map(|&t| split_class(t)).collect();
    Trimap::from_classes(width, height, classes).map_err(|m| {
        refine_error(match m {
            Missing::Background => format!("the trimap has no background pixel (no value ≤ {BG_THRESHOLD})"),
            Missing::Foreground => format!("the trimap has no foreground pixel (no value ≥ {FG_THRESHOLD})"),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fix_trimap_thresholds_strictly() {
        // pymatting's docstring example.
        let t = fix_trimap(&[0.0, 0.1, 0.4, 0.9, 1.0], 0.2, 0.8).unwrap();
        assert_eq!(t, vec![0.0, 0.0, 0.5, 1.0, 1.0]);
        // Values equal to a threshold stay unknown (strict comparisons).
        let t = fix_trimap(&[0.01, 0.99, 0.0099, 0.9901], 0.01, 0.99).unwrap();
        assert_eq!(t, vec![0.5, 0.5, 0.0, 1.0]);
        // Equal thresholds are allowed.
        assert_eq!(fix_trimap(&[0.3, 0.5, 0.7], 0.5, 0.5).unwrap(), vec![0.0, 0.5, 1.0]);
    }

    #[test]
    fn fix_trimap_rejects_bad_thresholds_naming_both_values() {
        let e = fix_trimap(&[0.5], 0.7, 0.3).unwrap_err().to_string();
        assert!(e.contains("PyMatting") && e.contains("0.7") && e.contains("0.3"), "{e}");
        assert!(e.contains("black_point") && e.contains("white_point"), "{e}");
        assert!(fix_trimap(&[0.5], -0.1, 0.3).is_err());
        assert!(fix_trimap(&[0.5], 0.1, 1.3).is_err());
        assert!(fix_trimap(&[0.5], f64::NAN, 0.3).is_err());
    }

    #[test]
    fn trimap_split_classes_and_errors() {
        let t = [1.0, 0.0, 0.5, 0.2, 0.9, 0.1];
        let s = trimap_split(&t, 3, 2).unwrap();
        use Class::*;
        assert_eq!(s.classes, vec![Foreground, Background, Unknown, Unknown, Foreground, Background]);
        let unknown: Vec<(usize, usize)> = s.unknown.iter().map(|(_, x, y)| (x, y)).collect();
        assert_eq!(unknown, vec![(2, 0), (0, 1)]);
        let e = trimap_split(&[0.0, 0.5], 2, 1).unwrap_err().to_string();
        assert!(e.contains("no foreground"), "{e}");
        let e = trimap_split(&[1.0, 0.5], 2, 1).unwrap_err().to_string();
        assert!(e.contains("no background"), "{e}");
        // Background is checked first, as in pymatting.
        let e = trimap_split(&[0.5, 0.5], 2, 1).unwrap_err().to_string();
        assert!(e.contains("no background"), "{e}");
    }
}
