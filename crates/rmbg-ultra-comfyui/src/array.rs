//! numpy arrays without copies: an array's `__array_interface__` (works under the abi3 limited
//! API of every Python version) read under the GIL into a checked [`Layout`], whose slices the
//! callers then use with the GIL released.

pub use rmbg_ultra_numpy_layout::{any_overlap, Dtype, Interface, Layout, Refusal};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

/// The fields of `obj.__array_interface__`; `what` names the argument in the errors.
fn interface(obj: &Bound<'_, PyAny>, what: &str) -> PyResult<Interface> {
    let iface = obj
        .getattr("__array_interface__")
        .map_err(|_| PyValueError::new_err(format!("{what}: expected a numpy array, got {}", type_name(obj))))?;
    let iface = iface.cast::<PyDict>().map_err(|_| PyValueError::new_err(format!("{what}: bad __array_interface__")))?;
    let get = |key: &str| -> PyResult<Bound<'_, PyAny>> {
        iface.get_item(key)?.ok_or_else(|| PyValueError::new_err(format!("{what}: __array_interface__ lacks {key}")))
    };
    let typestr: String = get("typestr")?.extract()?;
    let shape: Vec<usize> = get("shape")?.extract()?;
    let strides = get("strides")?;
    let strides: Option<Vec<isize>> = if strides.is_none() { None } else { Some(strides.extract()?) };
    let data = get("data")?;
    let data = data.cast::<PyTuple>().map_err(|_| PyValueError::new_err(format!("{what}: data is not a (pointer, readonly) tuple")))?;
    let ptr: usize = data.get_item(0)?.extract()?;
    let readonly: bool = data.get_item(1)?.extract()?;
    let masked = matches!(iface.get_item("mask"), Ok(Some(mask)) if !mask.is_none());
    Ok(Interface { typestr, shape, strides, ptr, readonly, masked })
}

/// A C-contiguous array of `dtype`, every refusal a `ValueError` (what the node has always raised).
pub fn read(obj: &Bound<'_, PyAny>, what: &str, dtype: Dtype, writable: bool) -> PyResult<Layout> {
    Layout::check(&interface(obj, what)?, what, dtype, writable).map_err(|r| PyValueError::new_err(r.message().to_string()))
}

/// As [`read`], with a wrong element type a `TypeError` (the `rmbg_ultra` package's API).
pub fn read_typed(obj: &Bound<'_, PyAny>, what: &str, dtype: Dtype, writable: bool) -> PyResult<Layout> {
    Layout::check(&interface(obj, what)?, what, dtype, writable).map_err(|r| match r {
        Refusal::Dtype(m) => PyTypeError::new_err(m),
        Refusal::Layout(m) => PyValueError::new_err(m),
    })
}

pub fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into())
}
