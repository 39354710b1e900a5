//! `rmbg_ultra_comfyui._native`: the Python extension behind the ComfyUI node
//! "LayerMask: RmBgUltra V2 (rmbg-ultra)" and the `rmbg_ultra` package, both in one wheel.
//!
//! The Python side hands over numpy arrays (a ComfyUI IMAGE tensor's own buffer through
//! `tensor.cpu().contiguous().numpy()`, output arrays it allocated, decoded RGB images); [`array`]
//! reads and writes them in place through numpy's `__array_interface__` (no copies, works under
//! the abi3 limited API of every Python version). [`node`] does the node's f32→u8 truncation and
//! the u8→f32 conversion back; [`remover`] takes uint8 RGB as the CLI decodes it. The library
//! runs with the GIL released.

mod array;
mod logs;
mod models;
mod node;
mod params;
mod remover;

use pyo3::create_exception;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use rmbg_ultra::params as table;

create_exception!(_native, RmbgUltraError, PyRuntimeError, "An error of the rmbg-ultra library (model, runtime, detail method).");
create_exception!(
    _native,
    DecodeError,
    RmbgUltraError,
    "An image file that cannot be decoded; `kind` says why: empty, too_large, over_decoder_limits, \
     unrecognised, unsupported, truncated or corrupt."
);
create_exception!(
    _native,
    ModelNotFound,
    RmbgUltraError,
    "A model file found nowhere: `model` is the id or path asked for, `searched` every place looked in."
);

create_exception!(
    _native,
    ModelNeedsExport,
    RmbgUltraError,
    "A folder that holds a model's transformers weights but no ONNX file: `model` is the model's id, \
     `folder` the folder."
);

fn to_py(e: rmbg_ultra::Error) -> PyErr {
    use rmbg_ultra::Error as E;
    let err = match &e {
        E::InvalidParameter { .. } => PyValueError::new_err(e.to_string()),
        E::Decode { .. } => DecodeError::new_err(e.to_string()),
        E::ModelNotFound { .. } => ModelNotFound::new_err(e.to_string()),
        E::ModelNeedsExport { .. } => ModelNeedsExport::new_err(e.to_string()),
        E::Io { .. } | E::Model { .. } | E::Runtime { .. } | E::Refine { .. } | E::Encode { .. } | E::Other(_) => {
            RmbgUltraError::new_err(e.to_string())
        }
    };
    // The library's advice (`hint`) is the CLI's; the Python side words its own from `reason`:
    // what went wrong and every place searched (models.library_reason).
    Python::attach(|py| {
        let value = err.value(py);
        let _ = value.setattr("reason", e.without_hint());
        let _ = value.setattr("hint", e.hint());
        match &e {
            E::Decode { kind, .. } => {
                let _ = value.setattr("kind", kind.id());
            }
            E::ModelNotFound { id, searched, .. } => {
                let _ = value.setattr("model", id);
                let _ = value.setattr("searched", searched.clone());
            }
            E::ModelNeedsExport { id, folder, .. } => {
                let _ = value.setattr("model", id);
                let _ = value.setattr("folder", folder.clone());
            }
            _ => {}
        }
    });
    err
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    logs::install_logging();
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("RmbgUltraError", m.py().get_type::<RmbgUltraError>())?;
    m.add("DecodeError", m.py().get_type::<DecodeError>())?;
    m.add("ModelNotFound", m.py().get_type::<ModelNotFound>())?;
    m.add("ModelNeedsExport", m.py().get_type::<ModelNeedsExport>())?;
    // The parameter table, from which the node's INPUT_TYPES and the package's lists are built.
    m.add("PARAMS", params::table_for_python(m.py())?)?;
    m.add("METHODS", (table::METHOD.choices)())?;
    // The node's default first: a combo's first entry is what a new node shows.
    m.add("PROFILES", (table::PROFILE.node_choices)())?;
    m.add("MAX_PIXELS", table::MAX_PIXELS)?;
    m.add("DEFAULT_SEGMENTATION", rmbg_ultra::models::DEFAULT_SEGMENTATION)?;
    m.add_class::<node::Remover>()?;
    m.add_class::<node::NodeParams>()?;
    m.add_class::<remover::ImageRemover>()?;
    m.add_function(wrap_pyfunction!(logs::drain_logs, m)?)?;
    m.add_function(wrap_pyfunction!(models::cache_root, m)?)?;
    m.add_function(wrap_pyfunction!(models::model_cache_path, m)?)?;
    m.add_function(wrap_pyfunction!(models::resolve_model, m)?)?;
    m.add_function(wrap_pyfunction!(models::runtime_library, m)?)?;
    m.add_function(wrap_pyfunction!(models::install_runtime, m)?)?;
    m.add_function(wrap_pyfunction!(models::run_onnx, m)?)?;
    m.add_function(wrap_pyfunction!(models::folder_contents, m)?)?;
    m.add_function(wrap_pyfunction!(models::matting_place, m)?)?;
    m.add_function(wrap_pyfunction!(node::truncate_u8, m)?)?;
    m.add_function(wrap_pyfunction!(remover::decode, m)?)?;
    m.add_function(wrap_pyfunction!(remover::encode, m)?)?;
    Ok(())
}
