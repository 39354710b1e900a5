//! The node's algorithm (node-behaviour.md §2), frame by frame, with the models loaded once.

use crate::compose;
use crate::models::ModelStore;
use crate::params::{DetailMethod, Device, Params};
use crate::refine;
use crate::refine::vitmatte::{self, VitMatteSession};
use crate::remap::{u8_to_unit, HistogramRemap};
use crate::segment::{IsNetSession, Segmenter};
use crate::Result;
use image::{GrayImage, RgbImage, RgbaImage};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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

/// What the node returns for one frame.
#[derive(Debug, Clone)]
pub struct Cutout {
    /// Input RGB with the mask as alpha (straight alpha).
    pub rgba: RgbaImage,
    /// The same alpha as a grey image.
    pub mask: GrayImage,
    pub timings: StageTimings,
}

/// Seconds spent per stage, for logs, `--json` and benchmarks.
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimings {
    pub segment: Duration,
    pub refine: Duration,
    pub compose: Duration,
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
        let segmenter =
            IsNetSession::open(&options.store, &options.seg_model, options.device, options.strict_device, options.allow_fetch)?;
        Ok(Remover { segmenter: Box::new(segmenter), matting: Mutex::default(), options })
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
        if params.process_detail && params.method.is_vitmatte() {
            self.matting_session(params.method)?;
        }
        Ok(())
    }

    /// The ViTMatte session a method uses, loading it (and fetching it, where allowed) once.
    fn matting_session(&self, method: DetailMethod) -> Result<Arc<VitMatteSession>> {
        let explicit = self.options.matting_model.as_deref();
        let key = explicit.or(vitmatte::model_id(method)).unwrap_or("vitmatte-small").to_string();
        let mut sessions = self.matting.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(session) = sessions.get(&key) {
            return Ok(session.clone());
        }
        let path = vitmatte::locate_model(
            &self.options.store,
            method,
            explicit,
            self.options.comfyui_models.as_deref(),
            self.options.allow_fetch,
        )?;
        let session = Arc::new(VitMatteSession::load(&path, &key, self.options.device, self.options.strict_device)?);
        sessions.insert(key, session.clone());
        Ok(session)
    }

    /// One frame through the node: coarse mask, detail method, remap, RGBA.
    pub fn remove(&self, image: &RgbImage, params: &Params) -> Result<Cutout> {
        params.validate()?;
        let mut timings = StageTimings::default();
        let t = Instant::now();
        let coarse = self.segmenter.coarse_mask(image)?;
        timings.segment = t.elapsed();

        let t = Instant::now();
        let mask = if params.process_detail { self.refine(image, &coarse, params)? } else { coarse };
        timings.refine = t.elapsed();

        let t = Instant::now();
        let rgba = compose::cutout(image, &mask);
        timings.compose = t.elapsed();
        Ok(Cutout { rgba, mask, timings })
    }

    /// The detail stage on a coarse 0/255 mask; returns the final u8 alpha.
    pub fn refine(&self, image: &RgbImage, coarse: &GrayImage, params: &Params) -> Result<GrayImage> {
        if !params.method.is_vitmatte() {
            return refine_without_models(image, coarse, params);
        }
        // node-behaviour.md §7: trimap from the binary mask, ViTMatte, then the remap of its u8 alpha.
        let session = self.matting_session(params.method)?;
        let trimap = crate::trimap::vitmatte_trimap(coarse, params.detail_erode, params.detail_dilate);
        let mut alpha = session.estimate_alpha(image, &trimap, params.max_megapixels)?;
        let remap = HistogramRemap::new(params.black_point, params.white_point);
        alpha.iter_mut().for_each(|v| *v = remap.apply_u8(u8_to_unit(*v)));
        Ok(alpha)
    }
}

/// The detail methods that need no network (GuidedFilter, PyMatting): the node's branch for each.
pub fn refine_without_models(image: &RgbImage, coarse: &GrayImage, params: &Params) -> Result<GrayImage> {
    let (w, h) = image.dimensions();
    match params.method {
        DetailMethod::GuidedFilter => {
            let filter_radius = params.detail_range() / 6 + 1;
            let q = refine::guided_filter::guided_filter_alpha(image, coarse, filter_radius);
            let remap = HistogramRemap::new(params.black_point, params.white_point);
            Ok(GrayImage::from_raw(w, h, q.iter().map(|&v| remap.apply_u8(v)).collect()).expect("filter keeps the size"))
        }
        DetailMethod::PyMatting => {
            refine::pymatting::mask_edge_detail(image, coarse, params.detail_range(), params.black_point, params.white_point)
        }
        m => Err(crate::Error::NotSupported(m.node_name().to_string())),
    }
}
