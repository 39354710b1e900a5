//! The ComfyUI node's side: IMAGE frames (float32) in and out, with the node's conversions.

use crate::array::{self, any_overlap, Dtype};
use crate::remover::timings_dict;
use crate::to_py;
use image::RgbImage;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use rmbg_ultra::models::ModelStore;
use rmbg_ultra::params::{in_node_terms, Given};
use rmbg_ultra::remap::{u8_to_unit, unit_to_u8};
use rmbg_ultra::{Device, Params, RemoverOptions};
use std::path::PathBuf;

// --- the node's conversions (docs/node-behaviour.md §2, §3.1): the library's u8/f32 pair ------------

/// One IMAGE frame `[H, W, C]` (C = 1..4) → the RGB picture the node works on: truncated to u8,
/// alpha dropped, grey replicated (PIL `convert('RGB')` of L / LA / RGB / RGBA).
fn frame_to_rgb(src: &[f32], w: usize, h: usize, c: usize) -> RgbImage {
    let mut rgb = vec![0u8; w * h * 3];
    match c {
        1 | 2 => {
            for (px, out) in src.chunks_exact(c).zip(rgb.chunks_exact_mut(3)) {
                let v = unit_to_u8(px[0]);
                out.copy_from_slice(&[v, v, v]);
            }
        }
        _ => {
            for (px, out) in src.chunks_exact(c).zip(rgb.chunks_exact_mut(3)) {
                out[0] = unit_to_u8(px[0]);
                out[1] = unit_to_u8(px[1]);
                out[2] = unit_to_u8(px[2]);
            }
        }
    }
    RgbImage::from_raw(w as u32, h as u32, rgb).expect("buffer has the frame's size")
}

// --- the remover -------------------------------------------------------------------------------

pub fn parse_device(device: &str) -> PyResult<Device> {
    device.parse().map_err(to_py)
}

/// The node's inputs of one call, checked once for every frame of the batch; errors name the
/// node's inputs (`detail_erode`).
#[pyclass(frozen, module = "rmbg_ultra_comfyui._native")]
pub struct NodeParams(Params);

#[pymethods]
impl NodeParams {
    #[new]
    #[allow(clippy::too_many_arguments)]
    fn new(
        detail_method: &str,
        detail_erode: i64,
        detail_dilate: i64,
        black_point: f64,
        white_point: f64,
        process_detail: bool,
        max_megapixels: f64,
        profile: &str,
    ) -> PyResult<Self> {
        let given = Given {
            profile,
            method: Some(detail_method),
            erode: detail_erode,
            dilate: detail_dilate,
            black_point,
            white_point,
            process_detail,
            max_megapixels,
            foreground: None,
            fast: false,
        };
        given.params().map(NodeParams).map_err(|e| to_py(in_node_terms(e)))
    }
}

/// The library's `Remover`: models loaded once, then any number of frames.
#[pyclass(frozen, module = "rmbg_ultra_comfyui._native")]
pub struct Remover {
    inner: rmbg_ultra::Remover,
    seg_model: String,
}

#[pymethods]
impl Remover {
    /// `seg_model`: a model id or an .onnx path; `device`: cpu, cuda or auto; `comfyui_models`: a
    /// ComfyUI models folder (ViTMatte lookup); `matting_model`: an id or .onnx path for ViTMatte;
    /// `allow_fetch`: download missing models as the library does.
    #[new]
    #[pyo3(signature = (seg_model, device="auto", comfyui_models=None, matting_model=None, allow_fetch=false, strict_device=false, cache_dir=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        py: Python<'_>,
        seg_model: String,
        device: &str,
        comfyui_models: Option<PathBuf>,
        matting_model: Option<String>,
        allow_fetch: bool,
        strict_device: bool,
        cache_dir: Option<PathBuf>,
    ) -> PyResult<Self> {
        let device = parse_device(device)?;
        let store = cache_dir.map(ModelStore::new).unwrap_or_else(ModelStore::open_default);
        let options =
            RemoverOptions { seg_model: seg_model.clone(), matting_model, comfyui_models, device, strict_device, allow_fetch, store };
        let inner = py.detach(move || rmbg_ultra::Remover::new(options)).map_err(to_py)?;
        Ok(Remover { inner, seg_model })
    }

    /// The device the segmentation model really runs on (`cpu` or `cuda`).
    #[getter]
    fn device(&self) -> String {
        self.inner.device().to_string()
    }

    #[getter]
    fn seg_model(&self) -> String {
        self.seg_model.clone()
    }

    /// Loads what the parameters need, so that a batch fails before its first frame.
    fn prepare(&self, py: Python<'_>, params: &NodeParams) -> PyResult<()> {
        py.detach(|| self.inner.prepare(&params.0)).map_err(to_py)
    }

    /// One frame of the node. `frame`: float32 `[H, W, C]` (C = 1..4, values 0..1, C-contiguous);
    /// `image_out`: float32 `[H, W, 4]` and `mask_out`: float32 `[H, W]`, written in place.
    /// Returns seconds per stage.
    fn process<'py>(
        &self,
        py: Python<'py>,
        frame: &Bound<'py, PyAny>,
        image_out: &Bound<'py, PyAny>,
        mask_out: &Bound<'py, PyAny>,
        params: &NodeParams,
    ) -> PyResult<Bound<'py, PyDict>> {
        let params = &params.0;
        let src = array::read(frame, "image frame", Dtype::F32, false)?;
        let img = array::read(image_out, "image_out", Dtype::F32, true)?;
        let msk = array::read(mask_out, "mask_out", Dtype::F32, true)?;
        let [h, w, c] = src.shape[..] else {
            return Err(PyValueError::new_err(format!("image frame: expected shape [H, W, C], got {:?}", src.shape)));
        };
        if !(1..=4).contains(&c) {
            return Err(PyValueError::new_err(format!("image frame: {c} channels; an IMAGE has 1 to 4")));
        }
        if h == 0 || w == 0 {
            return Err(PyValueError::new_err(format!("image frame: empty ({h}x{w})")));
        }
        if img.shape != [h, w, 4] || msk.shape != [h, w] {
            return Err(PyValueError::new_err(format!(
                "outputs must be [{h}, {w}, 4] and [{h}, {w}], got {:?} and {:?}",
                img.shape, msk.shape
            )));
        }
        if any_overlap(&[&src, &img, &msk]) {
            return Err(PyValueError::new_err("image frame and outputs must not share memory"));
        }
        let inner = &self.inner;
        let timings = py
            .detach(move || -> rmbg_ultra::Result<_> {
                // SAFETY: the three arrays are referenced by the caller's arguments for the whole
                // call, are C-contiguous float32 of the checked shapes and do not overlap.
                let (src, img, msk) = unsafe { (src.f32s(), img.f32s_mut(), msk.f32s_mut()) };
                let rgb = frame_to_rgb(src, w, h, c);
                let cut = inner.remove(&rgb, params)?;
                // `pil2tensor`: u8 / 255 in f32.
                for (o, &v) in img.iter_mut().zip(cut.rgba.as_raw()) {
                    *o = u8_to_unit(v);
                }
                for (o, &v) in msk.iter_mut().zip(cut.mask.as_raw()) {
                    *o = u8_to_unit(v);
                }
                Ok(cut.timings)
            })
            .map_err(to_py)?;
        timings_dict(py, &timings)
    }
}

/// The node's f32→u8 conversion on a float32 array (for tests): bytes of the truncated values.
#[pyfunction]
pub fn truncate_u8<'py>(py: Python<'py>, array: &Bound<'py, PyAny>) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
    let x = array::read(array, "array", Dtype::F32, false)?;
    // SAFETY: referenced by the caller for the whole call.
    let bytes: Vec<u8> = unsafe { x.f32s() }.iter().map(|&v| unit_to_u8(v)).collect();
    Ok(pyo3::types::PyBytes::new(py, &bytes))
}
