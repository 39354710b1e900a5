//! The ViTMatte detail methods `VITMatte`, `VITMatte(local)` and `vitmatte-base-composition-1k`
//! (docs/node-behaviour.md §7.2, docs/product.md §3).
//!
//! [`VitMatteSession::estimate_alpha`] is the node's `generate_VITMatte` from the trimap to the u8
//! alpha: the `max_megapixels` limit (Pillow BILINEAR down of image and trimap), the
//! `VitMatteImageProcessor` input, one ONNX Runtime call, crop, u8 truncation, Pillow BILINEAR back
//! up. The caller applies `histogram_remap`. Unlike the node, the model is loaded once. Where the
//! model file is found: models/locate.rs.

use crate::models::locate::MattingModel;
use crate::remap::{u8_to_unit, unit_to_u8, HistogramRemap};
use crate::resample::{pillow_bilinear_gray, pillow_bilinear_rgb};
use crate::runtime::session::OnnxSession;
use crate::{Device, Error, Result};
use image::{GrayImage, ImageBuffer, Luma, RgbImage};
use std::path::Path;

/// The model's input, `[1, 4, H, W]` f32.
pub const INPUT: &str = "pixel_values";
/// The model's output, `[1, 1, H, W]` f32 in 0..1.
pub const OUTPUT: &str = "alphas";
/// The processor pads height and width to multiples of this.
pub const SIZE_DIVISOR: u32 = 32;
/// The node's "megapixel": 2^20 pixels.
pub const PIXELS_PER_MEGAPIXEL: f64 = 1_048_576.0;

/// An alpha matte in f32, as the model gives it (before the u8 conversion).
pub type AlphaF32 = ImageBuffer<Luma<f32>, Vec<f32>>;

/// The size the node reduces a `w`×`h` image to under `max_megapixels`, or `None` when it is
/// within the limit (`w·h ≤ max_megapixels·2^20`; the test is strict).
///
/// As the node: `ratio = w/h`, `tw = √(ratio·P)`, `th = tw/ratio` from the unrounded `tw`, both
/// truncated. 4000×3000 @ 2.0 → 1672×1254; 1920×1080 @ 2.0 → `None`. A side that would truncate
/// to 0 (only for extreme aspect ratios, where Pillow would raise) is kept at 1.
pub fn target_size(w: u32, h: u32, max_megapixels: f64) -> Option<(u32, u32)> {
    let max_pixels = max_megapixels * PIXELS_PER_MEGAPIXEL;
    let ratio = w as f64 / h as f64;
    let tw = (ratio * max_pixels).sqrt();
    let th = tw / ratio;
    if (w as f64) * (h as f64) > max_pixels {
        Some(((tw as u32).max(1), (th as u32).max(1)))
    } else {
        None
    }
}

/// `VitMatteImageProcessor` (rescale 1/255 in f64 then cast to f32, normalise with mean = std = 0.5
/// in f32, trimap/255 as channel 4, zero padding at the bottom and right to multiples of 32):
/// returns the `[1, 4, Hp, Wp]` shape and the data.
pub fn preprocess(image: &RgbImage, trimap: &GrayImage) -> ([usize; 4], Vec<f32>) {
    assert_eq!(image.dimensions(), trimap.dimensions(), "image and trimap sizes differ");
    let (w, h) = (image.width() as usize, image.height() as usize);
    let (wp, hp) = (padded(w), padded(h));
    let rescale = |v: usize| (v as f64 * (1.0f64 / 255.0)) as f32;
    let image_lut: [f32; 256] = std::array::from_fn(|v| (rescale(v) - 0.5f32) / 0.5f32);
    let trimap_lut: [f32; 256] = std::array::from_fn(rescale);
    let plane = hp * wp;
    let mut data = vec![0f32; 4 * plane];
    let (rgb_planes, tri_plane) = data.split_at_mut(3 * plane);
    let (r_plane, gb) = rgb_planes.split_at_mut(plane);
    let (g_plane, b_plane) = gb.split_at_mut(plane);
    for y in 0..h {
        let src = &image.as_raw()[y * w * 3..(y + 1) * w * 3];
        let tri = &trimap.as_raw()[y * w..(y + 1) * w];
        let row = y * wp..y * wp + w;
        let (r, g, b, t) = (&mut r_plane[row.clone()], &mut g_plane[row.clone()], &mut b_plane[row.clone()], &mut tri_plane[row]);
        for x in 0..w {
            r[x] = image_lut[src[3 * x] as usize];
            g[x] = image_lut[src[3 * x + 1] as usize];
            b[x] = image_lut[src[3 * x + 2] as usize];
            t[x] = trimap_lut[tri[x] as usize];
        }
    }
    ([1, 4, hp, wp], data)
}

fn padded(n: usize) -> usize {
    n.div_ceil(SIZE_DIVISOR as usize) * SIZE_DIVISOR as usize
}

/// A ViTMatte detail method: the node's three differ only in the model and whether it may be fetched.
pub struct VitMatteMethod {
    name: &'static str,
    id: &'static str,
    model: MattingModel,
}

const SMALL: MattingModel = MattingModel { id: "vitmatte-small", comfyui_folder: "vitmatte", may_fetch: true };

/// `VITMatte`: ViTMatte small; may fetch the model.
pub const VITMATTE: VitMatteMethod = VitMatteMethod { name: "VITMatte", id: "vitmatte", model: SMALL };
/// `VITMatte(local)`: ViTMatte small, never touches the network.
pub const VITMATTE_LOCAL: VitMatteMethod =
    VitMatteMethod { name: "VITMatte(local)", id: "vitmatte-local", model: MattingModel { may_fetch: false, ..SMALL } };
/// `vitmatte-base-composition-1k`: ViTMatte base.
pub const VITMATTE_BASE: VitMatteMethod = VitMatteMethod {
    name: "vitmatte-base-composition-1k",
    id: "vitmatte-base",
    model: MattingModel { id: "vitmatte-base", comfyui_folder: "vitmatte-base-composition-1k", may_fetch: true },
};

impl crate::refine::Method for VitMatteMethod {
    fn name(&self) -> &'static str {
        self.name
    }

    fn id(&self) -> &'static str {
        self.id
    }

    fn in_node(&self) -> bool {
        true
    }

    fn matting_model(&self) -> Option<MattingModel> {
        Some(self.model)
    }

    /// docs/node-behaviour.md §7: the trimap from the binary mask, ViTMatte, then the remap of its u8 alpha.
    fn refine_coarse(
        &self,
        image: &RgbImage,
        coarse: &GrayImage,
        params: &crate::Params,
        matting: Option<&VitMatteSession>,
    ) -> Result<GrayImage> {
        let session = matting.expect("the remover loads the session of Method::matting_model");
        let trimap = crate::trimap::vitmatte_trimap(coarse, params.detail_erode, params.detail_dilate);
        let mut alpha = session.estimate_alpha(image, &trimap, params.max_megapixels)?;
        let remap = HistogramRemap::new(params.black_point, params.white_point);
        alpha.iter_mut().for_each(|v| *v = remap.apply_u8(u8_to_unit(*v)));
        Ok(alpha)
    }

    /// The band as ViTMatte's trimap, at the photo's size: the session applies `max_megapixels`
    /// itself (Pillow down and up, as the node).
    fn refine_band(
        &self,
        image: &RgbImage,
        _: &GrayImage,
        trimap: &GrayImage,
        params: &crate::Params,
        matting: Option<&VitMatteSession>,
    ) -> Result<Vec<f32>> {
        let session = matting.expect("the remover loads the session of Method::matting_model");
        let alpha = session.estimate_alpha(image, trimap, params.max_megapixels)?;
        Ok(alpha.as_raw().iter().map(|&a| u8_to_unit(a)).collect())
    }

    fn limits_its_own_size(&self) -> bool {
        true
    }
}

/// A loaded ViTMatte model (any ONNX file meeting the matting contract of docs/product.md §3.1).
pub struct VitMatteSession {
    session: OnnxSession,
}

impl VitMatteSession {
    /// Loads the model once; `name` is used in messages. Device handling as [`OnnxSession::load`].
    pub fn load(path: &Path, name: &str, device: Device, strict: bool) -> Result<Self> {
        let session = OnnxSession::load(path, name, device, strict)?;
        let inputs = session.input_names();
        if inputs.len() != 1 || inputs[0] != INPUT {
            return Err(Error::model(
                name,
                format!("{} has inputs {inputs:?}; a ViTMatte model takes one input `{INPUT}`", path.display()),
                "use a ViTMatte ONNX file (rmbg-ultra models fetch vitmatte-small, or scripts/export-vitmatte-onnx.py)",
            ));
        }
        Ok(VitMatteSession { session })
    }

    /// The device the model really runs on.
    pub fn device(&self) -> Device {
        self.session.device()
    }

    /// The model's alpha for `image` and `trimap` after the `max_megapixels` reduction, cropped to
    /// the processed size, before any u8 conversion. Also returns whether the inputs were reduced.
    pub fn estimate_alpha_f32(&self, image: &RgbImage, trimap: &GrayImage, max_megapixels: f64) -> Result<(AlphaF32, bool)> {
        check_inputs(image, trimap)?;
        let (w, h) = image.dimensions();
        let (alpha, resized) = match target_size(w, h, max_megapixels) {
            Some((tw, th)) => {
                tracing::info!("vitmatte image size {w}x{h} too large, resize to {tw}x{th} for processing.");
                let small = pillow_bilinear_rgb(image, tw, th);
                let small_trimap = pillow_bilinear_gray(trimap, tw, th);
                (self.infer(&small, &small_trimap)?, true)
            }
            None => (self.infer(image, trimap)?, false),
        };
        Ok((alpha, resized))
    }

    /// The node's ViTMatte stage: the u8 alpha at the input size (`histogram_remap` not applied).
    pub fn estimate_alpha(&self, image: &RgbImage, trimap: &GrayImage, max_megapixels: f64) -> Result<GrayImage> {
        let (alpha, resized) = self.estimate_alpha_f32(image, trimap, max_megapixels)?;
        let (aw, ah) = alpha.dimensions();
        let u8_alpha = GrayImage::from_raw(aw, ah, alpha.as_raw().iter().map(|&a| unit_to_u8(a)).collect()).expect("same size");
        if resized {
            Ok(pillow_bilinear_gray(&u8_alpha, image.width(), image.height()))
        } else {
            Ok(u8_alpha)
        }
    }

    /// One model call on an image that is already within the limit; returns the cropped alpha.
    fn infer(&self, image: &RgbImage, trimap: &GrayImage) -> Result<AlphaF32> {
        let (w, h) = (image.width() as usize, image.height() as usize);
        let (shape, data) = preprocess(image, trimap);
        let (out_shape, out) = self.session.run_f32(INPUT, &shape, data)?;
        let (hp, wp) = (shape[2], shape[3]);
        if out_shape.len() != 4 || out_shape[0] != 1 || out_shape[1] != 1 || out_shape[2] != hp || out_shape[3] != wp {
            return Err(Error::model(
                self.session.model(),
                format!("output `{OUTPUT}` has shape {out_shape:?}, expected [1, 1, {hp}, {wp}]"),
                "the file does not meet the ViTMatte contract",
            ));
        }
        let mut cropped = Vec::with_capacity(w * h);
        for y in 0..h {
            cropped.extend_from_slice(&out[y * wp..y * wp + w]);
        }
        Ok(AlphaF32::from_raw(w as u32, h as u32, cropped).expect("same size"))
    }
}

fn check_inputs(image: &RgbImage, trimap: &GrayImage) -> Result<()> {
    if image.dimensions() != trimap.dimensions() {
        return Err(Error::Refine {
            method: "VITMatte",
            reason: format!("image is {:?} but trimap is {:?}", image.dimensions(), trimap.dimensions()),
        });
    }
    if image.width() == 0 || image.height() == 0 {
        return Err(Error::Refine { method: "VITMatte", reason: "empty image".into() });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_sizes_follow_the_node() {
        assert_eq!(target_size(4000, 3000, 2.0), Some((1672, 1254)));
        assert_eq!(target_size(1920, 1080, 2.0), None);
        // Exactly at the limit is not over it.
        assert_eq!(target_size(1024, 1024, 1.0), None);
        assert_eq!(target_size(1025, 1024, 1.0), Some((1024, 1023)));
    }

    #[test]
    fn preprocess_normalises_and_pads() {
        let image = RgbImage::from_fn(33, 2, |x, _| image::Rgb([0, 255, x as u8]));
        let trimap = GrayImage::from_fn(33, 2, |x, _| image::Luma([if x == 0 { 127 } else { 255 }]));
        let (shape, data) = preprocess(&image, &trimap);
        assert_eq!(shape, [1, 4, 32, 64]);
        let at = |c: usize, y: usize, x: usize| data[(c * 32 + y) * 64 + x];
        assert_eq!(at(0, 0, 0), -1.0);
        assert_eq!(at(1, 1, 5), 1.0);
        assert_eq!(at(3, 0, 0), (127f64 / 255.0) as f32);
        assert_eq!(at(3, 0, 1), 1.0);
        // padding is 0 in every channel
        assert_eq!(at(0, 0, 33), 0.0);
        assert_eq!(at(3, 2, 0), 0.0);
    }
}
