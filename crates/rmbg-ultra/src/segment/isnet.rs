//! The IS-Net family (IS-Net general, RMBG-1.4): a 1024×1024 input of RGB/255 − 0.5, one
//! foreground map out (docs/product.md §3.1).

use super::{SegmentationMap, Segmenter, SegmenterFamily};
use crate::resample::{pillow_resize_rgb, Filter};
use crate::runtime::session::OnnxSession;
use crate::{Device, Result};
use image::RgbImage;
use std::path::Path;

/// The network's square input side.
pub const INPUT_SIZE: u32 = 1024;

pub const FAMILY: SegmenterFamily =
    SegmenterFamily { name: "isnet", load: |path, model, device, strict| Ok(Box::new(IsNetSession::load(path, model, device, strict)?)) };

/// Any ONNX file with the segmentation contract: f32 [1,3,1024,1024] = RGB/255 − 0.5 in, first
/// output f32 [1,1,1024,1024] in 0..1 (IS-Net general, RMBG-1.4).
pub struct IsNetSession {
    session: OnnxSession,
}

impl IsNetSession {
    pub fn load(path: &Path, name: &str, device: Device, strict: bool) -> Result<Self> {
        Ok(IsNetSession { session: OnnxSession::load(path, name, device, strict)? })
    }

    /// The raw 1024×1024 prediction for a photo resized with `filter` (the node: BILINEAR).
    pub fn predict(&self, image: &RgbImage, filter: Filter) -> Result<Vec<f32>> {
        let resized = pillow_resize_rgb(image, INPUT_SIZE, INPUT_SIZE, filter);
        let input = normalize(&resized);
        let n = INPUT_SIZE as usize;
        let name = self.session.input_names().into_iter().next().unwrap_or_else(|| "input".into());
        let (shape, pred) = self.session.run_f32(&name, &[1, 3, n, n], input)?;
        if pred.len() != n * n {
            return Err(crate::Error::model(
                self.session.model(),
                format!("first output has shape {shape:?}, the segmentation contract needs [1,1,{n},{n}]"),
                "pass an IS-Net/RMBG-1.4 style .onnx",
            ));
        }
        Ok(pred)
    }
}

impl Segmenter for IsNetSession {
    fn predict(&self, image: &RgbImage, filter: Filter) -> Result<SegmentationMap> {
        Ok(SegmentationMap { side: INPUT_SIZE as usize, data: IsNetSession::predict(self, image, filter)? })
    }

    fn device(&self) -> Device {
        self.session.device()
    }
}

/// `x/255 − 0.5` per channel, laid out CHW (the node normalises with mean 0.5 and std 1.0).
pub fn normalize(resized: &RgbImage) -> Vec<f32> {
    let plane = (resized.width() * resized.height()) as usize;
    let mut out = vec![0f32; 3 * plane];
    for (i, px) in resized.as_raw().chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + i] = px[c] as f32 / 255.0 - 0.5;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_is_centred_planar() {
        let img = RgbImage::from_raw(2, 1, vec![0, 255, 51, 255, 0, 102]).unwrap();
        let v = normalize(&img);
        assert_eq!(v, vec![-0.5, 0.5, 0.5, -0.5, 51.0 / 255.0 - 0.5, 102.0 / 255.0 - 0.5]);
    }
}
