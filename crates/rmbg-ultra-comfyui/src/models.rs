//! Models and ONNX Runtime: where they are, fetching them, and running any ONNX file.

use crate::array::{self, Dtype};
use crate::to_py;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rmbg_ultra::models::locate::{FolderContents, VITMATTE_WEIGHTS};
use rmbg_ultra::models::{ModelStore, Task};
use rmbg_ultra::{DetailMethod, Device};
use std::path::PathBuf;

/// The rmbg-ultra cache folder (`RMBG_ULTRA_CACHE`, else the XDG cache).
#[pyfunction]
pub fn cache_root() -> PathBuf {
    rmbg_ultra::models::cache_root()
}

/// Where the cache keeps model `id` (whether or not it is there).
#[pyfunction]
pub fn model_cache_path(id: &str) -> PyResult<PathBuf> {
    let spec = rmbg_ultra::models::spec(id).ok_or_else(|| PyValueError::new_err(format!("unknown model id {id}")))?;
    Ok(ModelStore::open_default().path_of(spec))
}

/// A model id or path → a verified file; fetched when `allow_fetch` (as the library does).
#[pyfunction]
#[pyo3(signature = (id_or_path, task="segmentation", allow_fetch=false))]
pub fn resolve_model(py: Python<'_>, id_or_path: String, task: &str, allow_fetch: bool) -> PyResult<PathBuf> {
    let task = match task {
        "segmentation" => Task::Segmentation,
        "matting" => Task::Matting,
        t => return Err(PyValueError::new_err(format!("task {t}: use segmentation or matting"))),
    };
    py.detach(move || ModelStore::open_default().resolve(&id_or_path, task, allow_fetch)).map_err(to_py)
}

/// What a folder where a ComfyUI user keeps a model holds, as the library's locator sees it:
/// (its ONNX file, the first of `weights` there, the folder as an entry of a "searched" list).
/// The node decides from this whether to convert; it never searches a folder itself.
#[pyfunction]
pub fn folder_contents(folder: PathBuf, weights: Vec<String>) -> (Option<PathBuf>, Option<PathBuf>, String) {
    let names: Vec<&str> = weights.iter().map(String::as_str).collect();
    let found = FolderContents::of(&folder, &names);
    let note = found.searched_note();
    (found.onnx, found.weights, note)
}

/// The matting model of a detail method: its id, its folder under ComfyUI's `models`, the
/// transformers weight files that folder may hold, and whether the method may download it; None for
/// a method that runs no matting model.
#[pyfunction]
pub fn matting_place(method: &str) -> PyResult<Option<(&'static str, &'static str, Vec<&'static str>, bool)>> {
    let method: DetailMethod = method.parse().map_err(to_py)?;
    Ok(method.matting_model().map(|m| (m.id, m.comfyui_folder, VITMATTE_WEIGHTS.to_vec(), m.may_fetch)))
}

/// The ONNX Runtime library that will be loaded, or the error saying how to install one.
#[pyfunction]
pub fn runtime_library() -> PyResult<PathBuf> {
    rmbg_ultra::runtime::find_library().map_err(to_py)
}

/// Installs ONNX Runtime into the cache from its PyPI wheel (`cuda`: the CUDA 13 build).
#[pyfunction]
#[pyo3(signature = (cuda=false))]
pub fn install_runtime(py: Python<'_>, cuda: bool) -> PyResult<PathBuf> {
    let build = if cuda { rmbg_ultra::runtime::CUDA_RUNTIME } else { rmbg_ultra::runtime::CPU_RUNTIME };
    py.detach(move || build.install()).map_err(to_py)
}

/// Runs any ONNX file on one float32 input and returns (shape, flat output as bytes of f32); used
/// to check a converted model against PyTorch without needing the onnxruntime Python package.
#[pyfunction]
pub fn run_onnx<'py>(
    py: Python<'py>,
    path: PathBuf,
    input: &Bound<'py, PyAny>,
) -> PyResult<(Vec<usize>, Bound<'py, pyo3::types::PyBytes>)> {
    let x = array::read(input, "input", Dtype::F32, false)?;
    // SAFETY: `input` is referenced by the caller for the whole call; the data is copied here.
    let data = unsafe { x.f32s() }.to_vec();
    let shape = x.shape.clone();
    let (out_shape, out) = py
        .detach(move || -> rmbg_ultra::Result<_> {
            let session = rmbg_ultra::runtime::session::OnnxSession::load(&path, &path.display().to_string(), Device::Cpu, false)?;
            let name = session.input_names().into_iter().next().unwrap_or_else(|| "input".into());
            session.run_f32(&name, &shape, data)
        })
        .map_err(to_py)?;
    let bytes: Vec<u8> = out.iter().flat_map(|v| v.to_ne_bytes()).collect();
    Ok((out_shape, pyo3::types::PyBytes::new(py, &bytes)))
}
