//! The ViTMatte detail methods `VITMatte`, `VITMatte(local)` and `vitmatte-base-composition-1k`
//! (docs/node-behaviour.md §7.2, docs/product.md §3).
//!
//! [`VitMatteSession::estimate_alpha`] is the node's `generate_VITMatte` from the trimap to the u8
//! alpha: the `max_megapixels` limit (Pillow BILINEAR down of image and trimap), the
//! `VitMatteImageProcessor` input, one ONNX Runtime call, crop, u8 truncation, Pillow BILINEAR back
//! up. The caller applies `histogram_remap`. Unlike the node, the model is loaded once.
//!
//! [`locate_model`] finds the ONNX file: an explicit id or path, a ComfyUI models folder, the model
//! store, and (only for `VITMatte` and `vitmatte-base-composition-1k`) a Hugging Face download.
//! `VITMatte(local)` never touches the network.

use crate::models::{ModelSpec, ModelStore, Status, Task};
use crate::remap::unit_to_u8;
use crate::resample::{pillow_bilinear_gray, pillow_bilinear_rgb};
use crate::session::OnnxSession;
use crate::{DetailMethod, Device, Error, Result};
use image::{GrayImage, ImageBuffer, Luma, RgbImage};
use std::path::{Path, PathBuf};

/// The model's input, `[1, 4, H, W]` f32.
pub const INPUT: &str = "pixel_values";
/// The model's output, `[1, 1, H, W]` f32 in 0..1.
pub const OUTPUT: &str = "alphas";
/// The processor pads height and width to multiples of this.
pub const SIZE_DIVISOR: u32 = 32;
/// The node's "megapixel": 2^20 pixels.
pub const PIXELS_PER_MEGAPIXEL: f64 = 1_048_576.0;

/// Environment variable naming a ComfyUI `models` folder to look in.
pub const COMFYUI_MODELS_ENV: &str = "RMBG_ULTRA_COMFYUI_MODELS";
/// The script that turns a ComfyUI (transformers) ViTMatte folder into the ONNX file we load.
pub const EXPORT_SCRIPT: &str = "scripts/export-vitmatte-onnx.py";

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

/// The model store id of the network a ViTMatte method uses.
pub fn model_id(method: DetailMethod) -> Option<&'static str> {
    match method {
        DetailMethod::VitMatte | DetailMethod::VitMatteLocal => Some("vitmatte-small"),
        DetailMethod::VitMatteBase => Some("vitmatte-base"),
        _ => None,
    }
}

/// The node's folder for a method inside a ComfyUI `models` folder.
pub fn comfyui_folder(method: DetailMethod) -> Option<&'static str> {
    match method {
        DetailMethod::VitMatte | DetailMethod::VitMatteLocal => Some("vitmatte"),
        DetailMethod::VitMatteBase => Some("vitmatte-base-composition-1k"),
        _ => None,
    }
}

/// Finds (and, where allowed, fetches) the ONNX model of a ViTMatte method. Order:
/// 1. `explicit`: a model id or a path to an `.onnx` file;
/// 2. the ComfyUI models folder (`comfyui_models`, else `$RMBG_ULTRA_COMFYUI_MODELS`): `vitmatte/`
///    for the small model, `vitmatte-base-composition-1k/` for base; an `.onnx` there is used, a
///    folder with only the transformers weights is an error that gives the export command;
/// 3. the model store;
/// 4. only for `VITMatte` and `vitmatte-base-composition-1k`, and when `allow_fetch`: the Hugging
///    Face download into the store (`HF_ENDPOINT`, `HF_TOKEN`, `HF_HUB_OFFLINE` apply).
///
/// `VITMatte(local)` never touches the network. When nothing is found the error names the model,
/// every place searched and the command that provides the file.
pub fn locate_model(
    store: &ModelStore,
    method: DetailMethod,
    explicit: Option<&str>,
    comfyui_models: Option<&Path>,
    allow_fetch: bool,
) -> Result<PathBuf> {
    let from_env = std::env::var_os(COMFYUI_MODELS_ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
    let comfyui = comfyui_models.map(Path::to_path_buf).or(from_env);
    let mut fetch = |spec: &'static ModelSpec| {
        tracing::info!("fetching {} ({})", spec.id, spec.description);
        store.fetch(spec, &mut |_, _| {})
    };
    locate_model_with(store, method, explicit, comfyui.as_deref(), allow_fetch, &mut fetch)
}

/// [`locate_model`] with the ComfyUI folder already resolved (no environment is read) and the
/// download supplied by the caller (a progress bar, or a test that must see no download at all).
pub fn locate_model_with(
    store: &ModelStore,
    method: DetailMethod,
    explicit: Option<&str>,
    comfyui_models: Option<&Path>,
    allow_fetch: bool,
    fetch: &mut dyn FnMut(&'static ModelSpec) -> Result<PathBuf>,
) -> Result<PathBuf> {
    let (Some(id), Some(folder)) = (model_id(method), comfyui_folder(method)) else {
        unreachable!("{method} is not a ViTMatte method: callers check DetailMethod::is_vitmatte");
    };
    let spec = crate::models::spec(id).expect("ViTMatte ids are in MODELS");
    let may_fetch = allow_fetch && method != DetailMethod::VitMatteLocal;

    // 1. Explicit id or path.
    if let Some(explicit) = explicit {
        if let Some(explicit_spec) = crate::models::spec(explicit) {
            if explicit_spec.task == Task::Matting {
                return resolve_in_store(store, explicit_spec, may_fetch, fetch, &[], None, &[]);
            }
        }
        return store.resolve(explicit, Task::Matting, false);
    }

    let mut searched: Vec<String> = Vec::new();

    // 2. The ComfyUI models folder.
    match comfyui_models {
        Some(models) => {
            let dir = models.join(folder);
            match find_onnx(&dir) {
                Some(path) => return Ok(path),
                None if has_transformers_weights(&dir) => {
                    return Err(Error::model(
                        id,
                        format!("{} holds the transformers weights of {method} but no ONNX file", dir.display()),
                        format!("convert them once with `{}` ({VENV_NOTE})", export_command(&dir)),
                    ))
                }
                None if dir.is_dir() => searched.push(format!("{} (no .onnx file)", dir.display())),
                None => searched.push(format!("{} (missing)", dir.display())),
            }
        }
        None => searched.push(format!("no ComfyUI models folder (set {COMFYUI_MODELS_ENV} or pass one)")),
    }

    // 3 and 4. The store, then the download.
    let comfy_dir = comfyui_models.map(|m| m.join(folder));
    let local_note = method == DetailMethod::VitMatteLocal && allow_fetch;
    let searched_after = if local_note { vec!["not fetched: VITMatte(local) never uses the network".to_string()] } else { vec![] };
    resolve_in_store(store, spec, may_fetch, fetch, &searched, comfy_dir.as_deref(), &searched_after)
}

fn resolve_in_store(
    store: &ModelStore,
    spec: &'static ModelSpec,
    may_fetch: bool,
    fetch: &mut dyn FnMut(&'static ModelSpec) -> Result<PathBuf>,
    searched_before: &[String],
    comfy_dir: Option<&Path>,
    notes: &[String],
) -> Result<PathBuf> {
    let mut searched = searched_before.to_vec();
    let cached = store.path_of(spec);
    match store.verify(spec)? {
        Status::Ok(entry) => return Ok(entry.file),
        Status::Missing => searched.push(format!("{} (missing)", cached.display())),
        Status::Corrupt { path, reason } => searched.push(format!("{} (damaged: {reason})", path.display())),
    }
    if may_fetch {
        match fetch(spec) {
            Ok(path) => return Ok(path),
            Err(e) => searched.push(format!("download {} ({e})", source_of(spec))),
        }
    }
    searched.extend_from_slice(notes);
    Err(Error::model(spec.id, format!("no ONNX file found; searched: {}", searched.join("; ")), how_to_get(spec, comfy_dir)))
}

fn source_of(spec: &ModelSpec) -> String {
    match spec.source {
        crate::models::Source::HuggingFace { repo, file } => format!("Hugging Face {repo}/{file}"),
        crate::models::Source::NpmChunks { package, .. } => format!("npm {package}"),
    }
}

fn how_to_get(spec: &ModelSpec, comfy_dir: Option<&Path>) -> String {
    let folder = if spec.id == "vitmatte-base" { "vitmatte-base-composition-1k" } else { "vitmatte" };
    let dir = comfy_dir.map(Path::to_path_buf).unwrap_or_else(|| Path::new("<ComfyUI>/models").join(folder));
    format!(
        "run `rmbg-ultra models fetch {}` where Hugging Face is reachable; or export the node's transformers folder with `{}` ({VENV_NOTE}); or pass the path of an .onnx file",
        spec.id,
        export_command(&dir),
    )
}

const VENV_NOTE: &str =
    "its venv: `python3 -m venv .venv-vitmatte && .venv-vitmatte/bin/pip install -r reference/requirements-vitmatte.txt`";

/// The exact command that converts a ComfyUI ViTMatte folder to the ONNX file we look for there.
pub fn export_command(dir: &Path) -> String {
    format!(".venv-vitmatte/bin/python {EXPORT_SCRIPT} {} {}", dir.display(), dir.join("model.onnx").display())
}

/// `model.onnx`, `onnx/model.onnx`, else the only `.onnx` file directly in `dir`.
fn find_onnx(dir: &Path) -> Option<PathBuf> {
    for candidate in [dir.join("model.onnx"), dir.join("onnx").join("model.onnx")] {
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x.eq_ignore_ascii_case("onnx")))
        .collect();
    found.sort();
    if found.len() == 1 {
        found.pop()
    } else {
        None
    }
}

fn has_transformers_weights(dir: &Path) -> bool {
    ["model.safetensors", "pytorch_model.bin"].iter().any(|f| dir.join(f).is_file())
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

    #[test]
    fn not_found_keeps_the_places_searched_apart_from_the_cli_advice() {
        let store_dir = tempfile::tempdir().unwrap();
        let comfy = tempfile::tempdir().unwrap();
        let store = ModelStore::new(store_dir.path());
        let mut fetch = |_: &'static ModelSpec| -> Result<PathBuf> { Err(Error::Other("no network here".into())) };
        let e = locate_model_with(&store, DetailMethod::VitMatte, None, Some(comfy.path()), true, &mut fetch).unwrap_err();
        let (places, hint) = (e.without_hint(), e.hint().expect("a hint for the CLI").to_string());
        let cached = store.path_of(crate::models::spec("vitmatte-small").unwrap());
        for needle in [comfy.path().join("vitmatte").display().to_string(), cached.display().to_string(), "no network here".into()] {
            assert!(places.contains(&needle), "lacks {needle:?}: {places}");
        }
        // What a front-end other than the CLI would have to replace.
        for cli_only in ["rmbg-ultra models fetch vitmatte-small", EXPORT_SCRIPT, ".venv-vitmatte", "pass the path"] {
            assert!(!places.contains(cli_only), "{cli_only:?} in {places}");
            assert!(hint.contains(cli_only), "the CLI's advice lacks {cli_only:?}: {hint}");
        }
    }

    #[test]
    fn methods_map_to_models_and_folders() {
        assert_eq!(model_id(DetailMethod::VitMatteLocal), Some("vitmatte-small"));
        assert_eq!(comfyui_folder(DetailMethod::VitMatteBase), Some("vitmatte-base-composition-1k"));
        assert_eq!(model_id(DetailMethod::PyMatting), None);
    }
}
