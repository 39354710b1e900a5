//! Foreground colour estimation: given the image I and its alpha α, find the foreground colour F of
//! the compositing equation I = αF + (1 − α)B.
//!
//! A cutout that keeps the input RGB carries the old background's colour in every soft edge pixel
//! (its I is a mix of F and B), which shows as a fringe over a new background. Replacing the RGB by
//! an estimate of F removes it. Two estimators, one module each:
//!
//! - [`ml`]: Germer et al.'s multi-level method, a port of pymatting 1.1.16's
//!   `estimate_foreground_ml`, bit-exact to it (see the module for the parity target);
//! - [`blur_fusion`]: Forte & Pitié's blur-fusion, two passes of box-filtered means.
//!
//! [`estimate_foreground`] is what the cutout uses: u8 in, u8 out, and α = 1 pixels keep the input
//! colour exactly (for them I = F, whatever an estimator's regularisation says).

pub mod blur_fusion;
pub mod ml;

pub use blur_fusion::{blur_fusion, BlurFusionOptions};
pub use ml::{estimate_foreground_background_ml, estimate_foreground_ml, MlOptions};

use crate::remap::u8_to_unit;
use crate::{Error, Result};
use image::RgbImage;
use std::fmt;
use std::str::FromStr;

/// Which foreground colour the cutout carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ForegroundMethod {
    /// Multi-level estimation ([`estimate_foreground_ml`]).
    Ml,
    /// Blur-fusion ([`blur_fusion`]).
    BlurFusion,
    /// The input colours, unchanged (what the node does).
    Off,
}

impl ForegroundMethod {
    pub const ALL: [ForegroundMethod; 3] = [ForegroundMethod::Ml, ForegroundMethod::BlurFusion, ForegroundMethod::Off];

    pub fn id(self) -> &'static str {
        match self {
            ForegroundMethod::Ml => "ml",
            ForegroundMethod::BlurFusion => "blur",
            ForegroundMethod::Off => "off",
        }
    }
}

impl fmt::Display for ForegroundMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl FromStr for ForegroundMethod {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        ForegroundMethod::ALL.into_iter().find(|m| m.id().eq_ignore_ascii_case(s.trim())).ok_or_else(|| Error::InvalidParameter {
            name: "foreground",
            value: s.to_string(),
            allowed: ForegroundMethod::ALL.map(ForegroundMethod::id).join(", "),
        })
    }
}

/// The foreground colour of `image` under `alpha` (H×W, row-major, values in 0..=1), rounded to u8.
///
/// `Off` returns a copy of the input. Where α ≥ 1 the input colour is kept bit for bit; where α = 0
/// the pixel is invisible and gets whatever the estimator gives.
///
/// # Panics
/// If `alpha.len()` is not the image's pixel count.
pub fn estimate_foreground(image: &RgbImage, alpha: &[f32], method: ForegroundMethod) -> RgbImage {
    let (w, h) = (image.width() as usize, image.height() as usize);
    assert_eq!(alpha.len(), w * h, "alpha has {} values for a {w}x{h} image", alpha.len());
    if method == ForegroundMethod::Off || w * h == 0 {
        return image.clone();
    }
    let unit: Vec<f32> = image.as_raw().iter().map(|&v| u8_to_unit(v)).collect();
    let f = match method {
        ForegroundMethod::Ml => estimate_foreground_ml(&unit, alpha, w, h, &MlOptions::default()),
        ForegroundMethod::BlurFusion => blur_fusion(&unit, alpha, w, h, &BlurFusionOptions::default()),
        ForegroundMethod::Off => unreachable!(),
    };
    drop(unit);
    let mut out = f.iter().map(|&v| unit_to_u8(v)).collect::<Vec<u8>>();
    keep_opaque_colours(&mut out, image.as_raw(), alpha);
    RgbImage::from_raw(w as u32, h as u32, out).expect("3 bytes per pixel")
}

fn unit_to_u8(v: f32) -> u8 {
    (v.clamp(0.0, 1.0) * 255.0).round() as u8
}

/// Opaque pixels are their own foreground (I = F at α = 1); the ML solver's smoothness term would
/// otherwise pull an opaque pixel next to a transparent one towards its neighbours.
fn keep_opaque_colours(out: &mut [u8], input: &[u8], alpha: &[f32]) {
    for ((o, i), &a) in out.chunks_exact_mut(3).zip(input.chunks_exact(3)).zip(alpha) {
        if a >= 1.0 {
            o.copy_from_slice(i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    fn test_image(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| Rgb([(x * 37 % 256) as u8, (y * 53 % 256) as u8, ((x + 3 * y) * 11 % 256) as u8]))
    }

    #[test]
    fn method_names_round_trip() {
        for m in ForegroundMethod::ALL {
            assert_eq!(m.to_string().parse::<ForegroundMethod>().unwrap(), m);
        }
        assert_eq!(" ML ".parse::<ForegroundMethod>().unwrap(), ForegroundMethod::Ml);
        assert_eq!("blur".parse::<ForegroundMethod>().unwrap(), ForegroundMethod::BlurFusion);
    }

    #[test]
    fn invalid_method_names_are_refused() {
        for bad in ["", "blur-fusion", "on", "mlx"] {
            let e = bad.parse::<ForegroundMethod>().unwrap_err().to_string();
            assert!(e.contains("foreground") && e.contains("ml, blur, off"), "{e}");
        }
    }

    #[test]
    fn off_returns_the_input() {
        let img = test_image(7, 5);
        let alpha: Vec<f32> = (0..35).map(|i| i as f32 / 34.0).collect();
        assert_eq!(estimate_foreground(&img, &alpha, ForegroundMethod::Off), img);
    }

    #[test]
    fn opaque_pixels_keep_their_colour_exactly() {
        let (w, h) = (40u32, 30u32);
        let img = test_image(w, h);
        // Opaque left half, a soft ramp, transparent right: opaque pixels border soft ones.
        let alpha: Vec<f32> = (0..w * h).map(|i| ((i % w) as f32).mul_add(-0.1, 2.5).clamp(0.0, 1.0)).collect();
        for m in [ForegroundMethod::Ml, ForegroundMethod::BlurFusion] {
            let f = estimate_foreground(&img, &alpha, m);
            for (i, (p, &a)) in f.pixels().zip(&alpha).enumerate() {
                if a >= 1.0 {
                    assert_eq!(p, img.get_pixel(i as u32 % w, i as u32 / w), "{m} pixel {i}");
                }
            }
        }
    }

    #[test]
    fn tiny_images() {
        for (w, h) in [(1, 1), (1, 5), (6, 1), (2, 2)] {
            let img = test_image(w, h);
            let alpha: Vec<f32> = (0..w * h).map(|i| (i % 3) as f32 / 2.0).collect();
            for m in ForegroundMethod::ALL {
                let f = estimate_foreground(&img, &alpha, m);
                assert_eq!(f.dimensions(), (w, h), "{m}");
            }
        }
        let empty = RgbImage::new(0, 0);
        assert_eq!(estimate_foreground(&empty, &[], ForegroundMethod::Ml).dimensions(), (0, 0));
    }
}
