//! Detail method "PyMatting": the node's `mask_edge_detail` (docs/node-behaviour.md §6).
//!
//! The binary mask is blurred (`cv2.GaussianBlur`, [`blur`]), thresholded into a trimap
//! (`fix_trimap` / `trimap_split`, [`trimap`]), and the unknown band is solved with closed-form
//! matting (`estimate_alpha_cf`, [`alpha`]): the matting Laplacian restricted to the unknown
//! pixels ([`laplacian`], stored in [`sparse`] structures sized by the band, not the image),
//! conjugate gradients ([`solver`]) preconditioned by a thresholded incomplete Cholesky factor
//! ([`preconditioner`]). Everything follows pymatting 1.1.16 and OpenCV 5 to rounding.

pub mod alpha;
pub mod band;
pub mod blur;
pub mod laplacian;
pub mod preconditioner;
pub mod solver;
pub mod sparse;
pub mod trimap;

pub use alpha::{estimate_alpha_cf, estimate_alpha_cf_with, CfReport, EPSILON};
pub use blur::{gaussian_blur, gaussian_kernel, kernel_size};
pub use trimap::fix_trimap;

use crate::Error;
use trimap::{check_thresholds, fix_class, Class, Missing, Trimap};

pub(crate) const METHOD: &str = "PyMatting";

pub(crate) fn refine_error(reason: impl Into<String>) -> Error {
    Error::Refine { method: METHOD, reason: reason.into() }
}

/// The detail method "PyMatting".
pub struct PyMatting;

impl crate::refine::Method for PyMatting {
    fn name(&self) -> &'static str {
        METHOD
    }

    fn id(&self) -> &'static str {
        "pymatting"
    }

    fn in_node(&self) -> bool {
        true
    }

    /// The node's branch: [`mask_edge_detail`], whose black and white points are its trimap's
    /// thresholds (no histogram remap).
    fn refine_coarse(
        &self,
        image: &image::RgbImage,
        coarse: &image::GrayImage,
        params: &crate::Params,
        _: Option<&crate::refine::vitmatte::VitMatteSession>,
    ) -> crate::Result<image::GrayImage> {
        mask_edge_detail(image, coarse, params.detail_range(), params.black_point, params.white_point)
    }

    fn refine_band(
        &self,
        image: &image::RgbImage,
        soft: &image::GrayImage,
        trimap: &image::GrayImage,
        _: &crate::Params,
        _: Option<&crate::refine::vitmatte::VitMatteSession>,
    ) -> crate::Result<Vec<f32>> {
        band::closed_form_in_band(image, trimap, soft)
    }
}

/// The node's `mask_edge_detail(i, m, detail_range // 8 + 1, black_point, white_point)` for one
/// frame, `detail_range = detail_erode + detail_dilate`: the alpha as an 8-bit mask.
///
/// `mask` is the binary (0/255) coarse mask; like the node, any value `v` is read as `v/255`.
/// No histogram remap: black and white point are only the `fix_trimap` thresholds.
pub fn mask_edge_detail(
    image: &image::RgbImage,
    mask: &image::GrayImage,
    detail_range: u32,
    black_point: f64,
    white_point: f64,
) -> crate::Result<image::GrayImage> {
    mask_edge_detail_with_report(image, mask, detail_range, black_point, white_point).map(|(m, _)| m)
}

/// [`mask_edge_detail`] and what the solver did.
pub fn mask_edge_detail_with_report(
    image: &image::RgbImage,
    mask: &image::GrayImage,
    detail_range: u32,
    black_point: f64,
    white_point: f64,
) -> crate::Result<(image::GrayImage, CfReport)> {
    if image.dimensions() != mask.dimensions() {
        return Err(refine_error(format!(
            "the mask is {}×{} but the image is {}×{}",
            mask.width(),
            mask.height(),
            image.width(),
            image.height()
        )));
    }
    check_thresholds(black_point, white_point)?;
    let (w, h) = (image.width() as usize, image.height() as usize);
    let k = blur::kernel_size(detail_range);
    let t0 = std::time::Instant::now();

    // trimap0 = mask/255 (f32, then f64), blurred, then fix_trimap → classes (bg/unknown/fg);
    // trimap_split's 0.1/0.9 thresholds then keep exactly those classes.
    let mut classes = vec![Class::Background; w * h];
    let mask_raw = mask.as_raw();
    let fill = |y: usize, row: &mut [f64]| {
        for (v, &m) in row.iter_mut().zip(&mask_raw[y * w..(y + 1) * w]) {
            *v = crate::remap::u8_to_unit(m) as f64;
        }
    };
    blur::blur_rows_into(w, h, k, &fill, &mut classes, |t| fix_class(t, black_point, white_point));

    let trimap = Trimap::from_classes(w, h, classes).map_err(|missing| {
        refine_error(match missing {
            Missing::Foreground => format!(
                "the trimap has no foreground: after the {k}×{k} blur no pixel of the mask is above white_point = \
                 {white_point} (the mask is empty or too thin). Use another detail method (e.g. GuidedFilter) or \
                 smaller detail_erode/detail_dilate"
            ),
            Missing::Background => format!(
                "the trimap has no background: after the {k}×{k} blur no pixel of the mask is below black_point = \
                 {black_point} (the mask covers the whole image). Use another detail method (e.g. GuidedFilter) or \
                 smaller detail_erode/detail_dilate"
            ),
        })
    })?;
    if trimap.unknown.is_empty() {
        return Err(refine_error(format!(
            "no pixel of the blurred mask lies between black_point = {black_point} and white_point = \
             {white_point}, so the trimap has no unknown pixel; on that pymatting's solver (and so the node) stops \
             with \"did not converge within {} iterations\". Lower black_point or raise white_point, or use another \
             detail method",
            solver::MAXITER
        )));
    }
    let blur_s = t0.elapsed().as_secs_f64();
    let colours = laplacian::U8Image::new(image);
    let (x, mut report) = alpha::solve_unknowns(&colours, &trimap, alpha::EPSILON)
        .map_err(|f| refine_error(format!("{}. Try another detail method, or other detail_erode/detail_dilate", f.reason())))?;
    report.blur_s = blur_s;

    let mut out = image::GrayImage::new(w as u32, h as u32);
    let raw: &mut [u8] = &mut out;
    for (o, c) in raw.iter_mut().zip(&trimap.classes) {
        *o = if *c == Class::Foreground { 255 } else { 0 };
    }
    for ((_, px, py), v) in trimap.unknown.iter().zip(&x) {
        raw[py * w + px] = crate::remap::unit_to_u8(v.clamp(0.0, 1.0) as f32);
    }
    Ok((out, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ellipse_case(w: u32, h: u32) -> (image::RgbImage, image::GrayImage) {
        let img = image::RgbImage::from_fn(w, h, |x, y| {
            image::Rgb([(40 + x * 150 / w) as u8, (200 - y * 120 / h) as u8, ((x + y) % 64 + 90) as u8])
        });
        let mask = image::GrayImage::from_fn(w, h, |x, y| {
            let (dx, dy) = (x as f64 / w as f64 - 0.5, y as f64 / h as f64 - 0.5);
            image::Luma([if (dx / 0.3).powi(2) + (dy / 0.35).powi(2) <= 1.0 { 255 } else { 0 }])
        });
        (img, mask)
    }

    #[test]
    fn refines_only_a_band_around_the_edge() {
        let (img, mask) = ellipse_case(80, 60);
        let (out, rep) = mask_edge_detail_with_report(&img, &mask, 12, 0.01, 0.99).unwrap();
        assert!(rep.unknowns > 0 && rep.iterations > 0);
        // Centre stays opaque, corners transparent.
        assert_eq!(out.get_pixel(40, 30).0[0], 255);
        assert_eq!(out.get_pixel(0, 0).0[0], 0);
        // Some soft values exist in the band.
        assert!(out.pixels().any(|p| p.0[0] > 0 && p.0[0] < 255));
    }

    #[test]
    fn tiny_images_fail_cleanly_like_the_node() {
        // Narrower than a 3×3 window: no Laplacian, pymatting's CG cannot converge.
        for (w, h) in [(1u32, 1u32), (1, 9), (9, 1), (2, 2), (2, 11), (11, 2), (0, 0)] {
            let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 20) as u8, (y * 20) as u8, 90]));
            let mask = image::GrayImage::from_fn(w, h, |x, _| image::Luma([if 2 * x >= w { 255 } else { 0 }]));
            let e = mask_edge_detail(&img, &mask, 2, 0.01, 0.99).unwrap_err().to_string();
            assert!(e.starts_with("PyMatting: "), "{w}×{h}: {e}");
        }
        // Three rows are enough (blurred: 0, .03, .14, .36, .64, .86, .97, 1 on every row).
        let img = image::RgbImage::from_fn(8, 3, |x, y| image::Rgb([(x * 30) as u8, (y * 50 + x) as u8, 90]));
        let mask = image::GrayImage::from_fn(8, 3, |x, _| image::Luma([if x >= 4 { 255 } else { 0 }]));
        let out = mask_edge_detail(&img, &mask, 2, 0.01, 0.99).unwrap();
        assert_eq!((out.get_pixel(0, 1).0[0], out.get_pixel(7, 1).0[0]), (0, 255));
    }

    #[test]
    fn errors_are_actionable() {
        let (img, mask) = ellipse_case(40, 30);
        let e = mask_edge_detail(&img, &mask, 12, 0.8, 0.2).unwrap_err().to_string();
        assert!(e.starts_with("PyMatting:") && e.contains("0.8") && e.contains("0.2"), "{e}");
        let empty = image::GrayImage::new(40, 30);
        let e = mask_edge_detail(&img, &empty, 12, 0.01, 0.99).unwrap_err().to_string();
        assert!(e.contains("no foreground") && e.contains("empty") && e.contains("detail method"), "{e}");
        let full = image::GrayImage::from_pixel(40, 30, image::Luma([255]));
        let e = mask_edge_detail(&img, &full, 12, 0.01, 0.99).unwrap_err().to_string();
        assert!(e.contains("no background") && e.contains("whole image"), "{e}");
        let e = mask_edge_detail(&img, &image::GrayImage::new(4, 4), 12, 0.01, 0.99).unwrap_err().to_string();
        assert!(e.contains("40×30"), "{e}");
    }
}
