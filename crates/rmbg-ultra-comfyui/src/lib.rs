//! `rmbg_ultra_comfyui._native`: the Python extension behind the ComfyUI node
//! "LayerMask: RmBgUltra V2 (rmbg-ultra)".
//!
//! The Python side hands over numpy arrays (a ComfyUI IMAGE tensor's own buffer through
//! `tensor.cpu().contiguous().numpy()`, and output arrays it allocated); this module reads and writes
//! them in place through numpy's `__array_interface__` (no copies, works under the abi3 limited
//! API of every Python version), does the node's f32→u8 truncation and the u8→f32 conversion back,
//! and runs the library with the GIL released.

use image::RgbImage;
use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use rmbg_ultra::models::{ModelStore, Task};
use rmbg_ultra::{DetailMethod, Device, Params, Profile, RemoverOptions};
use std::path::PathBuf;
use std::sync::Mutex;

create_exception!(_native, RmbgUltraError, PyRuntimeError, "An error of the rmbg-ultra library (model, runtime, detail method).");

fn to_py(e: rmbg_ultra::Error) -> PyErr {
    match e {
        rmbg_ultra::Error::InvalidParameter { .. } => PyValueError::new_err(e.to_string()),
        other => RmbgUltraError::new_err(other.to_string()),
    }
}

// --- numpy arrays without copies -------------------------------------------------------------

/// A C-contiguous float32 numpy array seen through `__array_interface__`: its data pointer (the
/// array object stays referenced by the caller for the whole call) and shape.
struct F32Array {
    ptr: usize,
    shape: Vec<usize>,
}

impl F32Array {
    fn read(obj: &Bound<'_, PyAny>, what: &str, writable: bool) -> PyResult<Self> {
        let iface = obj
            .getattr("__array_interface__")
            .map_err(|_| PyValueError::new_err(format!("{what}: expected a numpy array, got {}", type_name(obj))))?;
        let iface = iface.cast::<PyDict>().map_err(|_| PyValueError::new_err(format!("{what}: bad __array_interface__")))?;
        let get = |key: &str| -> PyResult<Bound<'_, PyAny>> {
            iface.get_item(key)?.ok_or_else(|| PyValueError::new_err(format!("{what}: __array_interface__ lacks {key}")))
        };
        let typestr: String = get("typestr")?.extract()?;
        if typestr != "<f4" {
            return Err(PyValueError::new_err(format!("{what}: expected float32 data, got typestr {typestr}")));
        }
        let shape: Vec<usize> = get("shape")?.extract()?;
        let strides = get("strides")?;
        if !strides.is_none() {
            let strides: Vec<isize> = strides.extract()?;
            let mut want = Vec::with_capacity(shape.len());
            let mut step = 4isize;
            for &d in shape.iter().rev() {
                want.push(step);
                step *= d as isize;
            }
            want.reverse();
            let trivially = shape.iter().product::<usize>() <= 1;
            if strides != want && !trivially {
                return Err(PyValueError::new_err(format!("{what}: the array must be C-contiguous (strides {strides:?})")));
            }
        }
        let data = get("data")?;
        let data = data.cast::<PyTuple>().map_err(|_| PyValueError::new_err(format!("{what}: data is not a (pointer, readonly) tuple")))?;
        let ptr: usize = data.get_item(0)?.extract()?;
        let readonly: bool = data.get_item(1)?.extract()?;
        if writable && readonly {
            return Err(PyValueError::new_err(format!("{what}: the array is read-only")));
        }
        if let Ok(Some(mask)) = iface.get_item("mask") {
            if !mask.is_none() {
                return Err(PyValueError::new_err(format!("{what}: masked arrays are not supported")));
            }
        }
        let len: usize = shape.iter().product();
        if ptr == 0 && len > 0 {
            return Err(PyValueError::new_err(format!("{what}: null data pointer")));
        }
        Ok(F32Array { ptr, shape })
    }

    fn len(&self) -> usize {
        self.shape.iter().product()
    }

    /// # Safety
    /// The array must stay alive and unresized for the lifetime of the slice.
    unsafe fn slice<'a>(&self) -> &'a [f32] {
        if self.len() == 0 {
            return &[];
        }
        std::slice::from_raw_parts(self.ptr as *const f32, self.len())
    }

    /// # Safety
    /// As [`F32Array::slice`], and nothing else may access the array meanwhile.
    unsafe fn slice_mut<'a>(&self) -> &'a mut [f32] {
        if self.len() == 0 {
            return &mut [];
        }
        std::slice::from_raw_parts_mut(self.ptr as *mut f32, self.len())
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}

// --- the node's conversions (node-behaviour.md §2, §3) ---------------------------------------

/// `tensor2pil`: `clip(255·x, 0, 255)` in f32, then truncation to u8 (NaN → 0).
#[inline]
fn f32_to_u8(x: f32) -> u8 {
    (255.0f32 * x).clamp(0.0, 255.0) as u8
}

/// One IMAGE frame `[H, W, C]` (C = 1..4) → the RGB picture the node works on: truncated to u8,
/// alpha dropped, grey replicated (PIL `convert('RGB')` of L / LA / RGB / RGBA).
fn frame_to_rgb(src: &[f32], w: usize, h: usize, c: usize) -> RgbImage {
    let mut rgb = vec![0u8; w * h * 3];
    match c {
        1 | 2 => {
            for (px, out) in src.chunks_exact(c).zip(rgb.chunks_exact_mut(3)) {
                let v = f32_to_u8(px[0]);
                out.copy_from_slice(&[v, v, v]);
            }
        }
        _ => {
            for (px, out) in src.chunks_exact(c).zip(rgb.chunks_exact_mut(3)) {
                out[0] = f32_to_u8(px[0]);
                out[1] = f32_to_u8(px[1]);
                out[2] = f32_to_u8(px[2]);
            }
        }
    }
    RgbImage::from_raw(w as u32, h as u32, rgb).expect("buffer has the frame's size")
}

/// `pil2tensor`: u8 / 255 in f32 (exact inverse of the truncation for every u8 value).
fn u8_to_f32_table() -> [f32; 256] {
    std::array::from_fn(|v| v as f32 / 255.0f32)
}

// --- logs: the library's tracing events, handed to Python's logging between calls ------------

static LOGS: Mutex<Vec<(String, String, String)>> = Mutex::new(Vec::new());

struct LogLayer;

struct MessageVisitor(String, Vec<String>);

impl tracing::field::Visit for MessageVisitor {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        } else {
            self.1.push(format!("{}={value:?}", field.name()));
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.0 = value.to_string();
        } else {
            self.1.push(format!("{}={value}", field.name()));
        }
    }
}

fn wanted(meta: &tracing::Metadata<'_>) -> bool {
    let ours = meta.target().starts_with("rmbg_ultra");
    let level = *meta.level();
    if ours {
        level <= tracing::Level::INFO
    } else {
        level <= tracing::Level::WARN
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for LogLayer {
    fn enabled(&self, meta: &tracing::Metadata<'_>, _: tracing_subscriber::layer::Context<'_, S>) -> bool {
        wanted(meta)
    }

    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if !wanted(event.metadata()) {
            return;
        }
        let mut v = MessageVisitor(String::new(), Vec::new());
        event.record(&mut v);
        let mut msg = v.0;
        if !v.1.is_empty() {
            msg = format!("{msg} ({})", v.1.join(", "));
        }
        let level = event.metadata().level().as_str().to_string();
        let mut logs = LOGS.lock().unwrap_or_else(|p| p.into_inner());
        if logs.len() < 10_000 {
            logs.push((level, event.metadata().target().to_string(), msg));
        }
    }
}

fn install_logging() {
    use tracing_subscriber::layer::SubscriberExt;
    let subscriber = tracing_subscriber::registry().with(LogLayer);
    // Another extension in the process may have set one already; then its logs are its business.
    let _ = tracing::subscriber::set_global_default(subscriber);
}

/// The library's log records since the last call: `[(level, target, message)]`, levels as
/// tracing names them (ERROR, WARN, INFO).
#[pyfunction]
fn drain_logs() -> Vec<(String, String, String)> {
    std::mem::take(&mut *LOGS.lock().unwrap_or_else(|p| p.into_inner()))
}

// --- the remover -------------------------------------------------------------------------------

fn parse_device(device: &str) -> PyResult<Device> {
    device.parse().map_err(to_py)
}

#[allow(clippy::too_many_arguments)]
fn make_params(
    detail_method: &str,
    detail_erode: i64,
    detail_dilate: i64,
    black_point: f64,
    white_point: f64,
    process_detail: bool,
    max_megapixels: f64,
    profile: &str,
) -> PyResult<Params> {
    let method: DetailMethod = detail_method.parse().map_err(to_py)?;
    let profile: Profile = profile.parse().map_err(to_py)?;
    let int = |name: &'static str, v: i64| -> PyResult<u32> {
        u32::try_from(v).map_err(|_| to_py(rmbg_ultra::Error::InvalidParameter { name, value: v.to_string(), allowed: "1..=255".into() }))
    };
    let params = Params {
        method,
        detail_erode: int("detail_erode", detail_erode)?,
        detail_dilate: int("detail_dilate", detail_dilate)?,
        black_point,
        white_point,
        process_detail,
        max_megapixels,
        ..Params::for_profile(profile)
    };
    params.validate().map_err(to_py)?;
    Ok(params)
}

/// The library's `Remover`: models loaded once, then any number of frames.
#[pyclass(frozen, module = "rmbg_ultra_comfyui._native")]
struct Remover {
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

    /// Checks the parameters and loads what they need, so that a batch fails before its first frame.
    #[pyo3(signature = (detail_method, detail_erode, detail_dilate, black_point, white_point, process_detail, max_megapixels, profile="node"))]
    #[allow(clippy::too_many_arguments)]
    fn prepare(
        &self,
        py: Python<'_>,
        detail_method: &str,
        detail_erode: i64,
        detail_dilate: i64,
        black_point: f64,
        white_point: f64,
        process_detail: bool,
        max_megapixels: f64,
        profile: &str,
    ) -> PyResult<()> {
        let params =
            make_params(detail_method, detail_erode, detail_dilate, black_point, white_point, process_detail, max_megapixels, profile)?;
        py.detach(|| self.inner.prepare(&params)).map_err(to_py)
    }

    /// One frame of the node. `frame`: float32 `[H, W, C]` (C = 1..4, values 0..1, C-contiguous);
    /// `image_out`: float32 `[H, W, 4]` and `mask_out`: float32 `[H, W]`, written in place.
    /// Returns seconds per stage.
    #[pyo3(signature = (frame, image_out, mask_out, detail_method, detail_erode, detail_dilate, black_point, white_point, process_detail, max_megapixels, profile="node"))]
    #[allow(clippy::too_many_arguments)]
    fn process<'py>(
        &self,
        py: Python<'py>,
        frame: &Bound<'py, PyAny>,
        image_out: &Bound<'py, PyAny>,
        mask_out: &Bound<'py, PyAny>,
        detail_method: &str,
        detail_erode: i64,
        detail_dilate: i64,
        black_point: f64,
        white_point: f64,
        process_detail: bool,
        max_megapixels: f64,
        profile: &str,
    ) -> PyResult<Bound<'py, PyDict>> {
        let params =
            make_params(detail_method, detail_erode, detail_dilate, black_point, white_point, process_detail, max_megapixels, profile)?;
        let src = F32Array::read(frame, "image frame", false)?;
        let img = F32Array::read(image_out, "image_out", true)?;
        let msk = F32Array::read(mask_out, "mask_out", true)?;
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
        let ranges = [(src.ptr, src.len() * 4), (img.ptr, img.len() * 4), (msk.ptr, msk.len() * 4)];
        for i in 0..3 {
            for j in i + 1..3 {
                let (a, la) = ranges[i];
                let (b, lb) = ranges[j];
                if la > 0 && lb > 0 && a < b + lb && b < a + la {
                    return Err(PyValueError::new_err("image frame and outputs must not share memory"));
                }
            }
        }
        let inner = &self.inner;
        let timings = py
            .detach(move || -> rmbg_ultra::Result<_> {
                // SAFETY: the three arrays are referenced by the caller's arguments for the whole
                // call, are C-contiguous float32 of the checked shapes and do not overlap.
                let (src, img, msk) = unsafe { (src.slice(), img.slice_mut(), msk.slice_mut()) };
                let rgb = frame_to_rgb(src, w, h, c);
                let cut = inner.remove(&rgb, &params)?;
                let table = u8_to_f32_table();
                for (o, &v) in img.iter_mut().zip(cut.rgba.as_raw()) {
                    *o = table[v as usize];
                }
                for (o, &v) in msk.iter_mut().zip(cut.mask.as_raw()) {
                    *o = table[v as usize];
                }
                Ok(cut.timings)
            })
            .map_err(to_py)?;
        let d = PyDict::new(py);
        d.set_item("segment", timings.segment.as_secs_f64())?;
        d.set_item("refine", timings.refine.as_secs_f64())?;
        d.set_item("compose", timings.compose.as_secs_f64())?;
        Ok(d)
    }
}

// --- models and runtime --------------------------------------------------------------------------

/// The rmbg-ultra cache folder (`RMBG_ULTRA_CACHE`, else the XDG cache).
#[pyfunction]
fn cache_root() -> PathBuf {
    rmbg_ultra::models::cache_root()
}

/// Where the cache keeps model `id` (whether or not it is there).
#[pyfunction]
fn model_cache_path(id: &str) -> PyResult<PathBuf> {
    let spec = rmbg_ultra::models::spec(id).ok_or_else(|| PyValueError::new_err(format!("unknown model id {id}")))?;
    Ok(ModelStore::open_default().path_of(spec))
}

/// A model id or path → a verified file; fetched when `allow_fetch` (as the library does).
#[pyfunction]
#[pyo3(signature = (id_or_path, task="segmentation", allow_fetch=false))]
fn resolve_model(py: Python<'_>, id_or_path: String, task: &str, allow_fetch: bool) -> PyResult<PathBuf> {
    let task = match task {
        "segmentation" => Task::Segmentation,
        "matting" => Task::Matting,
        t => return Err(PyValueError::new_err(format!("task {t}: use segmentation or matting"))),
    };
    py.detach(move || ModelStore::open_default().resolve(&id_or_path, task, allow_fetch)).map_err(to_py)
}

/// The ONNX Runtime library that will be loaded, or the error saying how to install one.
#[pyfunction]
fn runtime_library() -> PyResult<PathBuf> {
    rmbg_ultra::runtime::find_library().map_err(to_py)
}

/// Installs ONNX Runtime into the cache from its PyPI wheel (`cuda`: the CUDA 13 build).
#[pyfunction]
#[pyo3(signature = (cuda=false))]
fn install_runtime(py: Python<'_>, cuda: bool) -> PyResult<PathBuf> {
    let build = if cuda { rmbg_ultra::runtime::CUDA_RUNTIME } else { rmbg_ultra::runtime::CPU_RUNTIME };
    py.detach(move || build.install()).map_err(to_py)
}

/// Runs any ONNX file on one float32 input and returns (shape, flat output as bytes of f32); used
/// to check a converted model against PyTorch without needing the onnxruntime Python package.
#[pyfunction]
fn run_onnx<'py>(py: Python<'py>, path: PathBuf, input: &Bound<'py, PyAny>) -> PyResult<(Vec<usize>, Bound<'py, pyo3::types::PyBytes>)> {
    let x = F32Array::read(input, "input", false)?;
    // SAFETY: `input` is referenced by the caller for the whole call; the data is copied here.
    let data = unsafe { x.slice() }.to_vec();
    let shape = x.shape.clone();
    let (out_shape, out) = py
        .detach(move || -> rmbg_ultra::Result<_> {
            let session = rmbg_ultra::session::OnnxSession::load(&path, &path.display().to_string(), Device::Cpu, false)?;
            let name = session.input_names().into_iter().next().unwrap_or_else(|| "input".into());
            session.run_f32(&name, &shape, data)
        })
        .map_err(to_py)?;
    let bytes: Vec<u8> = out.iter().flat_map(|v| v.to_ne_bytes()).collect();
    Ok((out_shape, pyo3::types::PyBytes::new(py, &bytes)))
}

/// The node's f32→u8 conversion on a float32 array (for tests): bytes of the truncated values.
#[pyfunction]
fn truncate_u8<'py>(py: Python<'py>, array: &Bound<'py, PyAny>) -> PyResult<Bound<'py, pyo3::types::PyBytes>> {
    let x = F32Array::read(array, "array", false)?;
    // SAFETY: referenced by the caller for the whole call.
    let bytes: Vec<u8> = unsafe { x.slice() }.iter().map(|&v| f32_to_u8(v)).collect();
    Ok(pyo3::types::PyBytes::new(py, &bytes))
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    install_logging();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("RmbgUltraError", m.py().get_type::<RmbgUltraError>())?;
    m.add("METHODS", DetailMethod::ALL.iter().map(|d| d.node_name()).collect::<Vec<_>>())?;
    // The node's default first: a combo's first entry is what a new node shows.
    m.add("PROFILES", [Profile::Node, Profile::Quality].iter().map(|p| p.id()).collect::<Vec<_>>())?;
    m.add("DEFAULT_SEGMENTATION", rmbg_ultra::models::DEFAULT_SEGMENTATION)?;
    m.add_class::<Remover>()?;
    m.add_function(wrap_pyfunction!(drain_logs, m)?)?;
    m.add_function(wrap_pyfunction!(cache_root, m)?)?;
    m.add_function(wrap_pyfunction!(model_cache_path, m)?)?;
    m.add_function(wrap_pyfunction!(resolve_model, m)?)?;
    m.add_function(wrap_pyfunction!(runtime_library, m)?)?;
    m.add_function(wrap_pyfunction!(install_runtime, m)?)?;
    m.add_function(wrap_pyfunction!(run_onnx, m)?)?;
    m.add_function(wrap_pyfunction!(truncate_u8, m)?)?;
    Ok(())
}
