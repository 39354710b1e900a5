//! The coarse mask: a segmentation network (RMBG-1.4 / IS-Net contract) and two ways to bring its
//! map to the photo: the node's (docs/node-behaviour.md §4.4: min-max stretch, binarised at 1/255) and the
//! `quality` profile's soft mask (the network's own probabilities with a robust background floor).

pub mod isnet;

pub use isnet::{normalize, IsNetSession, INPUT_SIZE};

use crate::models::{Family, ModelStore, Task};
use crate::resample::{torch_bilinear, Filter};
use crate::{Device, Result};
use image::{GrayImage, RgbImage};
use std::path::Path;

/// A model family that turns a photo into a foreground probability map at the network's
/// resolution, with its own input contract (size, normalisation, output).
pub trait Segmenter: Send + Sync {
    /// The `side × side` map (row-major, 0..1) for `image`, brought to the network's input size
    /// with Pillow's `filter`.
    fn predict(&self, image: &RgbImage, filter: Filter) -> Result<SegmentationMap>;
    /// The device it runs on.
    fn device(&self) -> Device;
}

/// How the models of one segmentation family are loaded. A new family is a module with one of
/// these and a [`Segmenter`], named by its models' entries in the registry (models/registry.rs).
#[derive(Debug)]
pub struct SegmenterFamily {
    pub name: &'static str,
    /// Loads a file of the family on a device (`strict`: no CPU fallback); `model` names it in messages.
    pub load: fn(path: &Path, model: &str, device: Device, strict: bool) -> Result<Box<dyn Segmenter>>,
}

/// The family of an `.onnx` file given by its path: it must meet the IS-Net contract.
pub const PATH_FAMILY: &SegmenterFamily = &isnet::FAMILY;

/// Resolves a model id or path through the store, then loads it as its registry entry's family
/// says (a path: [`PATH_FAMILY`]).
pub fn open(store: &ModelStore, id_or_path: &str, device: Device, strict: bool, allow_fetch: bool) -> Result<Box<dyn Segmenter>> {
    let path = store.resolve(id_or_path, Task::Segmentation, allow_fetch)?;
    let family = match crate::models::spec(id_or_path).map(|m| m.family) {
        Some(Family::Segmentation(family)) => family,
        _ => PATH_FAMILY,
    };
    (family.load)(&path, id_or_path, device, strict)
}

/// The node's coarse 0/255 mask of a `width × height` photo from its map.
pub fn coarse_mask(map: &SegmentationMap, width: u32, height: u32) -> GrayImage {
    binarize_to(&normalized_to_size(&map.data, map.side, width, height), width, height)
}

/// What a segmentation network returns: a square probability map.
#[derive(Debug, Clone)]
pub struct SegmentationMap {
    pub side: usize,
    pub data: Vec<f32>,
}

/// Upsamples the prediction to the photo's size (torch bilinear, no antialias) and min-max
/// normalises it globally, in f32 as the node does.
/// A constant map would divide 0 by 0 in the node (NaN, then an empty mask); we return zeros and warn.
pub fn normalized_to_size(pred: &[f32], side: usize, width: u32, height: u32) -> Vec<f32> {
    let mut r = torch_bilinear(pred, side, side, width as usize, height as usize);
    let (lo, hi) = r.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    let range = hi - lo;
    if !(range > 0.0) {
        tracing::warn!("the segmentation map is constant ({lo}); the mask is empty");
        r.iter_mut().for_each(|v| *v = 0.0);
        return r;
    }
    r.iter_mut().for_each(|v| *v = (*v - lo) / range);
    r
}

/// The `quality` profile's soft mask: the network's probabilities brought to the photo's size
/// (torch bilinear, like the node, but without the min-max stretch, which would lift a faint
/// background response wherever the map's minimum is above 0 or its maximum below 1).
pub fn soft_to_size(pred: &[f32], side: usize, width: u32, height: u32) -> Vec<f32> {
    let mut r = torch_bilinear(pred, side, side, width as usize, height as usize);
    r.iter_mut().for_each(|v| *v = if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 });
    r
}

/// Share of the clear background that may keep a response above the floor.
pub const BACKGROUND_FLOOR_QUANTILE: f64 = 0.99;
/// The floor never removes more than this: a response above it is the network's real doubt.
pub const MAX_BACKGROUND_FLOOR: f32 = 0.1;

/// A robust background floor: the `BACKGROUND_FLOOR_QUANTILE` quantile of the soft mask over
/// `background` (the pixels the band calls clear background), at most `MAX_BACKGROUND_FLOOR`.
/// IS-Net leaves 1–3/255 over large parts of a photo's background; under this floor they are 0.
pub fn background_floor(soft: &[f32], background: impl Fn(usize) -> bool) -> f32 {
    let mut values: Vec<f32> = soft.iter().enumerate().filter(|&(i, _)| background(i)).map(|(_, &v)| v).collect();
    if values.is_empty() {
        return 0.0;
    }
    let k = ((values.len() - 1) as f64 * BACKGROUND_FLOOR_QUANTILE).round() as usize;
    let (_, q, _) = values.select_nth_unstable_by(k, f32::total_cmp);
    q.min(MAX_BACKGROUND_FLOOR)
}

/// `(a − floor)/(1 − floor)`, clipped to 0..1.
pub fn lift_floor(soft: &mut [f32], floor: f32) {
    if floor > 0.0 {
        let scale = 1.0 / (1.0 - floor);
        soft.iter_mut().for_each(|v| *v = ((*v - floor) * scale).clamp(0.0, 1.0));
    }
}

/// The node's binarisation: `trunc(255·r)` is re-read as if it were 0..1, so every pixel with
/// `255·r ≥ 1` becomes 255 (docs/node-behaviour.md §4.4, §9.1). `r` is the photo-sized normalised map.
pub fn binarize_to(r: &[f32], width: u32, height: u32) -> GrayImage {
    let px = r.iter().map(|&v| if 255.0f32 * v >= 1.0 { 255 } else { 0 }).collect();
    GrayImage::from_raw(width, height, px).expect("map has the image's size")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soft_mask_keeps_probabilities_and_the_floor_clears_faint_background() {
        let pred = vec![0.0, 0.01, 0.5, 1.0];
        assert_eq!(soft_to_size(&pred, 2, 2, 2), pred);
        let mut soft: Vec<f32> = (0..100).map(|i| if i < 90 { (i % 4) as f32 / 255.0 } else { 0.6 }).collect();
        let floor = background_floor(&soft, |i| i < 90);
        assert_eq!(floor, 3.0 / 255.0);
        lift_floor(&mut soft, floor);
        assert!(soft[..90].iter().all(|&v| v == 0.0));
        assert!((soft[95] - (0.6 - floor) / (1.0 - floor)).abs() < 1e-6);
        assert_eq!(background_floor(&[0.9; 4], |_| true), MAX_BACKGROUND_FLOOR);
        assert_eq!(background_floor(&[0.9; 4], |_| false), 0.0);
    }

    #[test]
    fn binarisation_threshold_is_one_255th() {
        let r = [0.0, 0.0039, 1.0 / 255.0, 0.5, 1.0];
        assert_eq!(binarize_to(&r, 5, 1).into_raw(), vec![0, 0, 255, 255, 255]);
    }

    #[test]
    fn min_max_spans_zero_to_one_and_constant_map_is_empty() {
        let pred = vec![0.2, 0.4, 0.6, 0.8];
        let r = normalized_to_size(&pred, 2, 2, 2);
        assert!((r[1] - 1.0 / 3.0).abs() < 1e-6 && (r[2] - 2.0 / 3.0).abs() < 1e-6, "{r:?}");
        assert_eq!(r[0], 0.0);
        assert_eq!(r[3], 1.0);
        assert!(normalized_to_size(&[0.3; 4], 2, 3, 3).iter().all(|&v| v == 0.0));
    }
}
