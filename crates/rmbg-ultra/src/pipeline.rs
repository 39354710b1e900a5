//! One frame through a profile, with the models loaded once: the node's algorithm
//! (docs/node-behaviour.md §2) for [`Profile::Node`], the soft-mask pipeline for [`Profile::Quality`]
//! (segment → soft mask → band trimap → refine in the band → remap → foreground colour → RGBA).

use crate::compose;
use crate::foreground::{estimate_foreground, ForegroundMethod};
use crate::models::ModelStore;
use crate::models::locate;
use crate::params::{DetailMethod, Device, Params, Profile};
use crate::refine::band::{band_widths, refine_band, trimap_for, unit_to_u8_rounded};
use crate::refine::vitmatte::VitMatteSession;
use crate::remap::{u8_to_unit, HistogramRemap};
use crate::resample::Filter;
use crate::segment::{self, Segmenter};
use crate::stage::{Stage, Timings};
use crate::{Error, Result};
use image::{GrayImage, RgbImage, RgbaImage};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// How a [`Remover`] finds and runs its models.
#[derive(Debug, Clone)]
pub struct RemoverOptions {
    /// Segmentation model id or path to an `.onnx` file.
    pub seg_model: String,
    /// Matting model id or path; `None` picks the one the method names.
    pub matting_model: Option<String>,
    /// A ComfyUI `models` folder to search for ViTMatte (`vitmatte`, `vitmatte-base-composition-1k`).
    pub comfyui_models: Option<PathBuf>,
    pub device: Device,
    /// Fail instead of falling back to the CPU when CUDA was asked for and is not available.
    pub strict_device: bool,
    /// Fetch missing models (the segmentation default and ViTMatte except `VITMatte(local)`).
    pub allow_fetch: bool,
    pub store: ModelStore,
}

impl Default for RemoverOptions {
    fn default() -> Self {
        RemoverOptions {
            seg_model: crate::models::DEFAULT_SEGMENTATION.to_string(),
            matting_model: None,
            comfyui_models: None,
            device: Device::Auto,
            strict_device: false,
            allow_fetch: false,
            store: ModelStore::open_default(),
        }
    }
}

impl RemoverOptions {
    /// `--fast`: these options on the int8 model made from their segmentation model, for the
    /// `quality` profile. The `node` profile keeps the node's own model, so that its outputs stay
    /// the node's: asking for both is an error, as is a model that has no int8 variant.
    pub fn fast(&self, profile: Profile) -> Result<RemoverOptions> {
        if profile == Profile::Node {
            return Err(Error::InvalidParameter {
                name: "fast",
                value: "true with profile node".into(),
                allowed: "only with profile quality (profile node keeps the node's model, for parity)".into(),
            });
        }
        if crate::models::made_from(&self.seg_model).is_some() {
            return Ok(self.clone()); // Already the int8 model.
        }
        let Some(int8) = crate::models::int8_of(&self.seg_model) else {
            let bases: Vec<&str> = crate::models::bases_of_locally_made().collect();
            return Err(Error::InvalidParameter {
                name: "fast",
                value: format!("true with segmentation model {}", self.seg_model),
                allowed: format!("only with {} (the models that have an int8 variant)", bases.join(", ")),
            });
        };
        Ok(RemoverOptions { seg_model: int8.to_string(), ..self.clone() })
    }
}

/// What a profile returns for one frame.
#[derive(Debug, Clone)]
pub struct Cutout {
    /// The cutout, straight alpha: the input's RGB (`node`, or foreground `off`) or the estimated
    /// foreground colour, with the mask as alpha.
    pub rgba: RgbaImage,
    /// The same alpha as a grey image.
    pub mask: GrayImage,
    /// The stages this frame went through here: segment (not after [`Remover::remove_predicted`]),
    /// refine and compose.
    pub timings: Timings,
}

/// Background remover: models loaded once, then any number of frames.
pub struct Remover {
    segmenter: Box<dyn Segmenter>,
    /// ViTMatte sessions by model, loaded on first use and kept for the process.
    matting: Mutex<HashMap<String, Arc<VitMatteSession>>>,
    options: RemoverOptions,
}

impl Remover {
    pub fn new(options: RemoverOptions) -> Result<Self> {
        let segmenter = segment::open(&options.store, &options.seg_model, options.device, options.strict_device, options.allow_fetch)?;
        Ok(Remover { segmenter, matting: Mutex::default(), options })
    }

    pub fn options(&self) -> &RemoverOptions {
        &self.options
    }

    /// The device the segmentation model runs on.
    pub fn device(&self) -> Device {
        self.segmenter.device()
    }

    /// Makes sure everything `params` needs is loaded, so that a batch fails before its first frame.
    pub fn prepare(&self, params: &Params) -> Result<()> {
        params.validate()?;
        if params.process_detail {
            self.matting_session(params.method)?;
        }
        Ok(())
    }

    /// The session of the matting model a method runs (`None` for a method that runs none),
    /// loading it (and fetching it, where allowed) once.
    fn matting_session(&self, method: DetailMethod) -> Result<Option<Arc<VitMatteSession>>> {
        let Some(model) = method.matting_model() else { return Ok(None) };
        let explicit = self.options.matting_model.as_deref();
        let key = explicit.unwrap_or(model.id).to_string();
        let mut sessions = self.matting.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(session) = sessions.get(&key) {
            return Ok(Some(session.clone()));
        }
        let path = locate::locate_vitmatte(
            &self.options.store,
            method,
            explicit,
            self.options.comfyui_models.as_deref(),
            self.options.allow_fetch,
        )?;
        let session = Arc::new(VitMatteSession::load(&path, &key, self.options.device, self.options.strict_device)?);
        sessions.insert(key, session.clone());
        Ok(Some(session))
    }

    /// One frame through `params.profile`: mask, detail method, remap, RGBA.
    pub fn remove(&self, image: &RgbImage, params: &Params) -> Result<Cutout> {
        params.validate()?;
        let mut timings = Timings::default();
        let map = timings.time(Stage::Segment, || self.predict(image, params.profile))?;
        let mut cut = self.remove_predicted(image, &map, params)?;
        cut.timings.add(&timings);
        Ok(cut)
    }

    /// The segmentation network's map for `image` under `profile`: the one stage that needs the
    /// network, so that a caller can run it for one image while [`Remover::remove_predicted`]
    /// finishes another.
    pub fn predict(&self, image: &RgbImage, profile: Profile) -> Result<segment::SegmentationMap> {
        self.segmenter.predict(image, network_input_filter(profile))
    }

    /// Everything after the network, from its `map` for `image` (no segment time).
    pub fn remove_predicted(&self, image: &RgbImage, map: &segment::SegmentationMap, params: &Params) -> Result<Cutout> {
        params.validate()?;
        let mut timings = Timings::default();
        let mask = timings.time(Stage::Refine, || match params.profile {
            Profile::Node => {
                let (w, h) = image.dimensions();
                let coarse = segment::coarse_mask(map, w, h);
                if params.process_detail {
                    self.refine(image, &coarse, params)
                } else {
                    Ok(coarse)
                }
            }
            Profile::Quality => self.quality_alpha(image, map, params),
        })?;
        let rgba = timings.time(Stage::Compose, || match params.foreground {
            ForegroundMethod::Off => compose::cutout(image, &mask),
            method => {
                let alpha: Vec<f32> = mask.as_raw().iter().map(|&a| u8_to_unit(a)).collect();
                compose::cutout(&estimate_foreground(image, &alpha, method), &mask)
            }
        });
        Ok(Cutout { rgba, mask, timings })
    }

    /// The `quality` profile's alpha: the soft mask with its background floor, refined in the band
    /// around its 0.5 contour, then black/white points as a remap, rounded to u8.
    pub fn quality_alpha(&self, image: &RgbImage, map: &segment::SegmentationMap, params: &Params) -> Result<GrayImage> {
        let (w, h) = image.dimensions();
        let mut soft = segment::soft_to_size(&map.data, map.side, w, h);
        let (inner, outer) = band_widths(params, w, h);
        let band = trimap_for(&soft, w, h, inner, outer);
        let floor = segment::background_floor(&soft, |i| band.as_raw()[i] == 0);
        segment::lift_floor(&mut soft, floor);
        let alpha = if params.process_detail {
            let session = self.matting_session(params.method)?;
            refine_band(image, &soft, params, session.as_deref())?
        } else {
            soft
        };
        let remap = HistogramRemap::new(params.black_point, params.white_point);
        let px = alpha.iter().map(|&a| unit_to_u8_rounded(remap.apply(a))).collect();
        Ok(GrayImage::from_raw(w, h, px).expect("alpha has the image's size"))
    }

    /// The `node` profile's detail stage on a coarse 0/255 mask; returns the final u8 alpha.
    pub fn refine(&self, image: &RgbImage, coarse: &GrayImage, params: &Params) -> Result<GrayImage> {
        let session = self.matting_session(params.method)?;
        params.method.refine_coarse(image, coarse, params, session.as_deref())
    }
}

/// How a profile brings the photo to the network's input size: the node's Pillow BILINEAR, or for
/// `quality` Pillow LANCZOS, whose sharper 1024² input gives the network finer edges to see (SAD
/// −1.5 % on the ground-truth benchmark, BENCHMARKS.md) for a few milliseconds more.
pub fn network_input_filter(profile: Profile) -> Filter {
    match profile {
        Profile::Node => Filter::Bilinear,
        Profile::Quality => Filter::Lanczos,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_swaps_in_the_int8_model_for_quality_only() {
        let base = RemoverOptions { store: ModelStore::new("/nonexistent"), ..RemoverOptions::default() };
        let fast = base.fast(Profile::Quality).unwrap();
        assert_eq!(fast.seg_model, "isnet-general-int8");
        assert_eq!(fast.fast(Profile::Quality).unwrap().seg_model, "isnet-general-int8");
        let node = base.fast(Profile::Node).unwrap_err().to_string();
        assert!(node.contains("profile node") && node.contains("parity"), "{node}");
        let other = RemoverOptions { seg_model: "rmbg-1.4".into(), ..base }.fast(Profile::Quality).unwrap_err().to_string();
        assert!(other.contains("rmbg-1.4") && other.contains("isnet-general"), "{other}");
    }
}
