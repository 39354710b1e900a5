//! The `quality` profile's detail stage: every method re-decides only what the network was unsure
//! of, plus a band around it ([`crate::trimap::band_trimap`]); inside the band's inner edge the
//! subject is opaque, beyond its outer edge the background is transparent.
//!
//! The node instead refines a mask binarised at 1/255, which keeps every faint response of the
//! network as subject. Here the soft mask decides what is subject, and the methods only shape the
//! edge, each in its [`refine_band`](crate::refine::Method::refine_band): GuidedFilter filters the
//! soft mask with the photo as guide, PyMatting solves closed-form matting on the band's unknown
//! pixels, the ViTMatte methods get the band as their trimap.
//!
//! `max_megapixels` bounds every method: a larger photo is refined at the reduced size of
//! [`vitmatte::target_size`] and the band's alpha is scaled back up (ViTMatte does both itself).

use crate::refine::vitmatte::{self, VitMatteSession};
use crate::remap::u8_to_unit;
use crate::resample::{pillow_bilinear_gray, pillow_bilinear_rgb, torch_bilinear};
use crate::trimap::{band_trimap, BAND_UNKNOWN};
use crate::{Params, Result};
use image::{GrayImage, RgbImage};

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

/// The refined alpha (`H×W`, 0..1) of `soft` by `params.method`. `matting` is the session of the
/// method's [`matting_model`](crate::refine::Method::matting_model), where it names one.
pub fn refine_band(image: &RgbImage, soft: &[f32], params: &Params, matting: Option<&VitMatteSession>) -> Result<Vec<f32>> {
    let (w, h) = image.dimensions();
    assert_eq!(soft.len(), (w * h) as usize, "soft mask must have the image's size");
    let (inner, outer) = band_widths(params, w, h);
    let full_trimap = trimap_for(soft, w, h, inner, outer);
    if !full_trimap.as_raw().contains(&BAND_UNKNOWN) {
        // Nothing to re-decide (an empty or full mask): the band is the answer.
        return Ok(full_trimap.as_raw().iter().map(|&t| u8_to_unit(t)).collect());
    }

    let method = params.method;
    let soft_u8 = GrayImage::from_raw(w, h, soft.iter().map(|&a| unit_to_u8_rounded(a)).collect()).expect("same size");
    let reduced = if method.limits_its_own_size() { None } else { vitmatte::target_size(w, h, params.max_megapixels) };
    let refined = match reduced {
        None => method.refine_band(image, &soft_u8, &full_trimap, params, matting)?,
        Some((tw, th)) => {
            let small_image = pillow_bilinear_rgb(image, tw, th);
            let small_soft = pillow_bilinear_gray(&soft_u8, tw, th);
            let scale = tw as f64 / w as f64;
            let (si, so) = ((inner as f64 * scale).round().max(1.0) as u32, (outer as f64 * scale).round().max(1.0) as u32);
            let small_soft_f: Vec<f32> = small_soft.as_raw().iter().map(|&v| u8_to_unit(v)).collect();
            let small_trimap = trimap_for(&small_soft_f, tw, th, si, so);
            let small = method.refine_band(&small_image, &small_soft, &small_trimap, params, matting)?;
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
        for method in [crate::DetailMethod::GUIDED_FILTER, crate::DetailMethod::PYMATTING] {
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
        let p = Params { method: crate::DetailMethod::PYMATTING, max_megapixels: 1.0, ..Params::default() };
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
        let p = Params { method: crate::DetailMethod::PYMATTING, ..Params::default() };
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
            let p = Params { method: crate::DetailMethod::PYMATTING, ..Params::default() };
            let a = refine_band(&img, &vec![fill; 200], &p, None).unwrap();
            assert!(a.iter().all(|&v| v == fill));
        }
    }
}
