//! The `quality` profile's PyMatting: closed-form matting on the unknown pixels of the band
//! (refine/band.rs) instead of the node's blurred trimap.

use super::alpha::{solve_unknowns_to, SolveFailure};
use super::laplacian::U8Image;
use super::trimap::{Class, Trimap};
use super::{refine_error, EPSILON};
use crate::remap::u8_to_unit;
use crate::Result;
use image::{GrayImage, RgbImage};

/// Closed-form matting (Levin et al., the same Laplacian, preconditioner and solver as the node's
/// PyMatting) on the band's unknown pixels: `L_UU x = −L_UK α_K`. Known pixels keep their trimap
/// value. The network's soft values inside the band are not used as a prior: any weight on them
/// (λ = 1e-3, 1e-4, 1e-6 tried) pulled hair and fur edges back towards the network's blur and
/// scored worse on the ground-truth benchmark than colour alone (BENCHMARKS.md).
pub fn closed_form_in_band(image: &RgbImage, trimap: &GrayImage, soft: &GrayImage) -> Result<Vec<f32>> {
    let (w, h) = (image.width() as usize, image.height() as usize);
    let classes = trimap
        .as_raw()
        .iter()
        .map(|&t| match t {
            0 => Class::Background,
            255 => Class::Foreground,
            _ => Class::Unknown,
        })
        .collect();
    // A network that is nowhere sure of the subject (or of the background) leaves nothing to
    // anchor the matting: its soft mask is then the best answer, not an error.
    let Ok(trimap) = Trimap::from_classes(w, h, classes) else {
        return Ok(soft.as_raw().iter().map(|&v| u8_to_unit(v)).collect());
    };
    let x = match solve_unknowns_to(&U8Image::new(image), &trimap, EPSILON, BAND_RTOL) {
        Ok((x, _)) => x,
        // No unknown pixel touches the subject: L_UU x = 0 has the solution 0.
        Err(SolveFailure::ZeroRhs) => vec![0.0; trimap.unknown.len()],
        Err(f) => return Err(refine_error(format!("{}. Try GuidedFilter, or smaller detail_erode/detail_dilate", f.reason()))),
    };
    let mut alpha: Vec<f32> = trimap.classes.iter().map(|c| if *c == Class::Foreground { 1.0 } else { 0.0 }).collect();
    for ((_, px, py), v) in trimap.unknown.iter().zip(&x) {
        alpha[py * w + px] = v.clamp(0.0, 1.0) as f32;
    }
    Ok(alpha)
}

/// Where conjugate gradients stop in the band: a relative residual of 1e-5 instead of 1e-7: a
/// third fewer iterations, and the u8 alpha moves by at most 3/255 (mean 0.01–0.1/255 measured on
/// the ground-truth composites). A sparser preconditioner (drop threshold 1e-3 and up) needed a
/// diagonal shift and 3–10x the iterations, and a block-Jacobi split over two cores 4–6x the
/// iterations: both slower, not faster.
const BAND_RTOL: f64 = 1e-5;

#[cfg(test)]
mod tests {
    use super::*;

    fn photo(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 20) as u8, (y * 30) as u8, 90]))
    }

    #[test]
    fn without_a_sure_subject_the_soft_mask_is_the_answer() {
        let trimap = GrayImage::from_fn(8, 4, |x, _| image::Luma([if x < 4 { 0 } else { 128 }]));
        let soft = GrayImage::from_fn(8, 4, |x, y| image::Luma([(x * 30 + y) as u8]));
        let alpha = closed_form_in_band(&photo(8, 4), &trimap, &soft).unwrap();
        assert_eq!(alpha, soft.as_raw().iter().map(|&v| u8_to_unit(v)).collect::<Vec<_>>());
    }

    #[test]
    fn unknown_pixels_that_touch_only_background_are_background() {
        // Columns 0-3 subject, 4-5 background, 6-8 unknown, 9-11 background: no 3×3 window holds
        // both an unknown pixel and a subject pixel, so L_UU x = 0.
        let class = |x: u32| match x {
            0..=3 => 255,
            6..=8 => 128,
            _ => 0,
        };
        let trimap = GrayImage::from_fn(12, 5, |x, _| image::Luma([class(x)]));
        let alpha = closed_form_in_band(&photo(12, 5), &trimap, &trimap).unwrap();
        let want: Vec<f32> = trimap.as_raw().iter().map(|&t| if t == 255 { 1.0 } else { 0.0 }).collect();
        assert_eq!(alpha, want);
    }
}
