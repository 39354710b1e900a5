//! Black/white points (`histogram_remap`) and the node's float → u8 conversion.

/// `tensor2pil`'s conversion: `clip(255·x, 0, 255)` in f32, then truncation (never rounding).
/// NaN maps to 0, as the node's cast does on x86.
#[inline]
pub fn unit_to_u8(x: f32) -> u8 {
    (255.0f32 * x).clamp(0.0, 255.0) as u8
}

/// `u8 / 255` in f32, exactly as `pil2tensor` does; `unit_to_u8` inverts it for all 256 values.
#[inline]
pub fn u8_to_unit(v: u8) -> f32 {
    v as f32 / 255.0f32
}

/// The node's `histogram_remap(x, black_point, white_point)`.
///
/// The offsets are computed in f64 (Python floats) and applied to the f32 data, which is how torch
/// treats a Python scalar next to an f32 tensor.
#[derive(Debug, Clone, Copy)]
pub struct HistogramRemap {
    black: f32,
    scale: f32,
}

impl HistogramRemap {
    pub fn new(black_point: f64, white_point: f64) -> Self {
        let black = black_point.min(white_point - 0.001);
        let scale = 1.0 / (white_point - black);
        Self { black: black as f32, scale: scale as f32 }
    }

    #[inline]
    pub fn apply(&self, x: f32) -> f32 {
        ((x - self.black) * self.scale).clamp(0.0, 1.0)
    }

    /// Remap then convert to u8 the way the node does (`tensor2pil(histogram_remap(x))`).
    #[inline]
    pub fn apply_u8(&self, x: f32) -> u8 {
        unit_to_u8(self.apply(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn u8_round_trip_is_exact_for_every_value() {
        for v in 0..=255u8 {
            assert_eq!(unit_to_u8(u8_to_unit(v)), v);
        }
    }

    #[test]
    fn conversion_truncates_and_clips() {
        assert_eq!(unit_to_u8(0.999), 254);
        assert_eq!(unit_to_u8(-0.5), 0);
        assert_eq!(unit_to_u8(1.5), 255);
        assert_eq!(unit_to_u8(f32::NAN), 0);
    }

    #[test]
    fn default_points_stretch_by_point_98() {
        let r = HistogramRemap::new(0.01, 0.99);
        assert_eq!(r.apply(0.01), 0.0);
        assert_eq!(r.apply(0.99), 1.0);
        assert!((r.apply(0.5) - 0.5).abs() < 1e-6);
        assert_eq!(r.apply(0.0), 0.0);
    }

    #[test]
    fn black_above_white_is_pulled_just_below_it() {
        let r = HistogramRemap::new(0.8, 0.5);
        // black becomes 0.499, so the ramp is 0.001 wide and ends at 0.5 (f32 rounding keeps 0.5 just under 1).
        assert!(r.apply(0.5) > 0.999);
        assert_eq!(r.apply(0.5002), 1.0);
        assert_eq!(r.apply(0.4989), 0.0);
    }
}
