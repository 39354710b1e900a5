//! The `quality` profile's detail stage: every method re-decides only what the network was unsure
//! of, plus a band around it ([`crate::trimap::band_trimap`]); inside the band's inner edge the
//! subject is opaque, beyond its outer edge the background is transparent.
//!
//! The node instead refines a mask binarised at 1/255, which keeps every faint response of the
//! network as subject. Here the soft mask decides what is subject, and the methods only shape the
//! edge:
//! - GuidedFilter filters the soft mask (not a binary one) with the photo as guide, with a smaller
//!   eps than the node's so that the filter follows colour edges instead of smoothing across them;
//! - PyMatting solves closed-form matting on the band's unknown pixels;
//! - the ViTMatte methods get the band as their trimap.
//!
//! `max_megapixels` bounds every method: a larger photo is refined at the reduced size of
//! [`vitmatte::target_size`] and the band's alpha is scaled back up.

use crate::refine::guided_filter::guided_filter_u8;
use crate::refine::pymatting::alpha::{solve_unknowns_to, SolveFailure};
use crate::refine::pymatting::laplacian::U8Image;
use crate::refine::pymatting::trimap::{Class, Trimap};
use crate::refine::pymatting::EPSILON;
use crate::refine::vitmatte::{self, VitMatteSession};
use crate::remap::u8_to_unit;
use crate::resample::{pillow_bilinear_gray, pillow_bilinear_rgb, torch_bilinear};
use crate::trimap::{band_trimap, BAND_UNKNOWN};
use crate::{DetailMethod, Error, Params, Result};
use image::{GrayImage, RgbImage};

/// Guided filter eps for the soft mask. The node's 0.015 blurs the edge by about the window size;
/// 1e-3 keeps hair-sized colour edges (measured on the ground-truth benchmark, BENCHMARKS.md).
pub const GUIDED_FILTER_EPS: f64 = 1e-3;

/// How far the band reaches into the subject and out into the background, in pixels of the photo.
///
/// `detail_erode` / `detail_dilate` are read as half-widths of 1 px per step at the network's
/// 1024-pixel resolution, scaled with the photo: the network's uncertainty about the edge is a few
/// of its own pixels, so it grows with the photo's size over 1024. The band is added to the region
/// the network was unsure of ([`SURE_THRESHOLDS`]). Defaults (6, 6): 6 px each way up to 1024 px,
/// 8 px on a 1448 px photo. (Twice as far outward won on the ground-truth set with the node's
/// network input and lost with the LANCZOS one: BENCHMARKS.md.)
pub fn band_widths(params: &Params, width: u32, height: u32) -> (u32, u32) {
    let scale = (width.max(height) as f64 / 1024.0).max(1.0);
    let px = |steps: u32| (steps as f64 * scale).round() as u32;
    (px(params.detail_erode), px(params.detail_dilate))
}

/// Soft-mask values the band treats as sure background (below) and sure subject (at or above):
/// everything the network was unsure of is re-decided (measured on the ground-truth benchmark:
/// band SAD 79.6 with the 0.5 contour alone, 74.2 with these, BENCHMARKS.md). A higher upper
/// threshold (0.97, 0.98) scored 1 % better there but turned subjects the network holds at 0.9–0.97
/// half transparent on real photos (the jeans in people.jpg: mean alpha 0.67 → 0.46).
pub const SURE_THRESHOLDS: (f32, f32) = (0.04, 0.94);

/// The band's trimap for a soft mask.
pub fn trimap_for(soft: &[f32], width: u32, height: u32, inner: u32, outer: u32) -> GrayImage {
    band_trimap(soft, width, height, inner, outer, SURE_THRESHOLDS)
}

/// The refined alpha (`H×W`, 0..1) of `soft` for the band method of `params.method`.
/// `vitmatte` must be given for the ViTMatte methods.
pub fn refine_band(image: &RgbImage, soft: &[f32], params: &Params, vitmatte: Option<&VitMatteSession>) -> Result<Vec<f32>> {
    let (w, h) = image.dimensions();
    assert_eq!(soft.len(), (w * h) as usize, "soft mask must have the image's size");
    let (inner, outer) = band_widths(params, w, h);
    let full_trimap = trimap_for(soft, w, h, inner, outer);
    if !full_trimap.as_raw().contains(&BAND_UNKNOWN) {
        // Nothing to re-decide (an empty or full mask): the band is the answer.
        return Ok(full_trimap.as_raw().iter().map(|&t| u8_to_unit(t)).collect());
    }

    if params.method.is_vitmatte() {
        let session = vitmatte.expect("the ViTMatte methods need their session");
        // ViTMatte applies max_megapixels itself (Pillow down and up, as the node).
        let alpha = session.estimate_alpha(image, &full_trimap, params.max_megapixels)?;
        return Ok(clamp_known(&full_trimap, |i| u8_to_unit(alpha.as_raw()[i])));
    }

    let soft_u8 = GrayImage::from_raw(w, h, soft.iter().map(|&a| unit_to_u8_rounded(a)).collect()).expect("same size");
    let refined = match vitmatte::target_size(w, h, params.max_megapixels) {
        None => refine_classical(image, &soft_u8, &full_trimap, params.method)?,
        Some((tw, th)) => {
            let small_image = pillow_bilinear_rgb(image, tw, th);
            let small_soft = pillow_bilinear_gray(&soft_u8, tw, th);
            let scale = tw as f64 / w as f64;
            let (si, so) = ((inner as f64 * scale).round().max(1.0) as u32, (outer as f64 * scale).round().max(1.0) as u32);
            let small_soft_f: Vec<f32> = small_soft.as_raw().iter().map(|&v| u8_to_unit(v)).collect();
            let small_trimap = trimap_for(&small_soft_f, tw, th, si, so);
            let small = refine_classical(&small_image, &small_soft, &small_trimap, params.method)?;
            torch_bilinear(&small, tw as usize, th as usize, w as usize, h as usize)
        }
    };
    Ok(clamp_known(&full_trimap, |i| refined[i].clamp(0.0, 1.0)))
}

/// 0 and 1 where the trimap is known, `unknown(i)` in the band.
fn clamp_known(trimap: &GrayImage, unknown: impl Fn(usize) -> f32) -> Vec<f32> {
    trimap
        .as_raw()
        .iter()
        .enumerate()
        .map(|(i, &t)| match t {
            0 => 0.0,
            255 => 1.0,
            _ => unknown(i),
        })
        .collect()
}

/// GuidedFilter or PyMatting at the size they are given; values outside the band are unused.
fn refine_classical(image: &RgbImage, soft: &GrayImage, trimap: &GrayImage, method: DetailMethod) -> Result<Vec<f32>> {
    let (w, h) = image.dimensions();
    match method {
        DetailMethod::GuidedFilter => {
            let radius = guided_filter_radius(w, h);
            Ok(guided_filter_u8(image, soft, radius, GUIDED_FILTER_EPS))
        }
        DetailMethod::PyMatting => closed_form_in_band(image, trimap, soft),
        m => unreachable!("{m} is not a classical method"),
    }
}

/// The guided filter's window: about 1/256 of the long side (4 px at 1024), enough to see a
/// hair's colour on both sides, small enough not to smear the network's edge.
fn guided_filter_radius(width: u32, height: u32) -> usize {
    ((width.max(height) as f64 / 256.0).round() as usize).max(2)
}

/// Closed-form matting (Levin et al., the same Laplacian, preconditioner and solver as the node's
/// PyMatting) on the band's unknown pixels: `L_UU x = −L_UK α_K`. Known pixels keep their trimap
/// value. The network's soft values inside the band are not used as a prior: any weight on them
/// (λ = 1e-3, 1e-4, 1e-6 tried) pulled hair and fur edges back towards the network's blur and
/// scored worse on the ground-truth benchmark than colour alone (BENCHMARKS.md).
fn closed_form_in_band(image: &RgbImage, trimap: &GrayImage, soft: &GrayImage) -> Result<Vec<f32>> {
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
        Err(f) => {
            return Err(Error::Refine {
                method: "PyMatting",
                reason: format!("{}. Try GuidedFilter, or smaller detail_erode/detail_dilate", f.reason()),
            })
        }
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

/// `round(255·a)`, clipped: the quality profile rounds where the node truncates.
#[inline]
pub fn unit_to_u8_rounded(a: f32) -> u8 {
    (255.0 * a).round().clamp(0.0, 255.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disc_case(w: u32, h: u32) -> (RgbImage, Vec<f32>) {
        let (cx, cy, r) = (w as f32 / 2.0, h as f32 / 2.0, w.min(h) as f32 / 3.0);
        let dist = |x: u32, y: u32| ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
        let img = RgbImage::from_fn(w, h, |x, y| if dist(x, y) < r { image::Rgb([200, 60, 40]) } else { image::Rgb([30, 90, 200]) });
        let soft = (0..h).flat_map(|y| (0..w).map(move |x| (x, y))).map(|(x, y)| (r + 2.0 - dist(x, y)).clamp(0.0, 4.0) / 4.0).collect();
        (img, soft)
    }

    #[test]
    fn band_scales_with_photo_size() {
        let p = Params::default();
        assert_eq!(band_widths(&p, 800, 600), (6, 6));
        assert_eq!(band_widths(&p, 1086, 1448), (8, 8));
        assert_eq!(band_widths(&Params { detail_erode: 1, detail_dilate: 10, ..p }, 1024, 10), (1, 10));
    }

    #[test]
    fn classical_methods_keep_known_regions_and_follow_the_edge() {
        let (img, soft) = disc_case(96, 80);
        for method in [DetailMethod::GuidedFilter, DetailMethod::PyMatting] {
            let p = Params { method, ..Params::default() };
            let a = refine_band(&img, &soft, &p, None).unwrap();
            assert_eq!(a[0], 0.0, "{method}: corner is background");
            assert_eq!(a[40 * 96 + 48], 1.0, "{method}: centre is subject");
            assert!(a.iter().all(|v| (0.0..=1.0).contains(v)));
            // The colour edge sits at radius r: just inside is mostly subject, just outside mostly not.
            let r = 80.0f32 / 3.0;
            let inside = a[40 * 96 + (48.0 + r - 2.0) as usize];
            let outside = a[40 * 96 + (48.0 + r + 2.0) as usize];
            assert!(inside > 0.7 && outside < 0.3, "{method}: {inside} {outside}");
        }
    }

    #[test]
    fn large_photos_are_refined_within_max_megapixels() {
        let (img, soft) = disc_case(1100, 1000);
        let p = Params { method: DetailMethod::PyMatting, max_megapixels: 1.0, ..Params::default() };
        let a = refine_band(&img, &soft, &p, None).unwrap();
        assert_eq!(a.len(), 1100 * 1000);
        assert_eq!(a[500 * 1100 + 550], 1.0);
        assert_eq!(a[0], 0.0);
        assert!(a.iter().any(|&v| v > 0.0 && v < 1.0));
    }

    #[test]
    fn an_unsure_network_keeps_its_soft_mask() {
        let (img, soft) = disc_case(60, 50);
        let unsure: Vec<f32> = soft.iter().map(|&a| a * 0.6).collect();
        let p = Params { method: DetailMethod::PyMatting, ..Params::default() };
        let a = refine_band(&img, &unsure, &p, None).unwrap();
        for (got, want) in a.iter().zip(&unsure) {
            assert!(*got == 0.0 || (got - want).abs() <= 0.5 / 255.0 + 1e-6, "{got} vs {want}");
        }
        assert!(a.iter().any(|&v| v > 0.5));
    }

    #[test]
    fn empty_and_full_masks_need_no_refinement() {
        let img = RgbImage::new(20, 10);
        for fill in [0.0f32, 1.0] {
            let p = Params { method: DetailMethod::PyMatting, ..Params::default() };
            let a = refine_band(&img, &vec![fill; 200], &p, None).unwrap();
            assert!(a.iter().all(|&v| v == fill));
        }
    }
}
