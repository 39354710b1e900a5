//! The library's parameter table on the Python side: `_native.PARAMS`, from which the node's
//! INPUT_TYPES and the package's defaults and lists are built.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rmbg_ultra::params::{self as table, Param};

/// `_native.PARAMS`: one dict per entry of the table, in its order. `kind` is the ComfyUI widget
/// type (INT, FLOAT, BOOLEAN, COMBO); `node` is None for our own parameters.
pub fn table_for_python(py: Python<'_>) -> PyResult<Bound<'_, PyList>> {
    let list = PyList::empty(py);
    for p in table::TABLE {
        let d = PyDict::new(py);
        d.set_item("name", p.name())?;
        d.set_item("node", p.node())?;
        d.set_item("help", p.help())?;
        match p {
            Param::Int(i) => set_number(&d, "INT", [i.default, i.min, i.max, i.step])?,
            Param::Float(f) => {
                set_number(&d, "FLOAT", [f.default, f.min, f.max, f.step])?;
                d.set_item("slider", f.slider)?;
            }
            Param::Bool(b) => {
                d.set_item("kind", "BOOLEAN")?;
                d.set_item("default", b.default)?;
                d.set_item("off_flag", b.off_flag)?;
            }
            Param::Choice(c) => {
                d.set_item("kind", "COMBO")?;
                d.set_item("default", c.default)?;
                d.set_item("choices", (c.choices)())?;
                d.set_item("node_choices", (c.node_choices)())?;
            }
        }
        list.append(d)?;
    }
    Ok(list)
}

/// A number widget's kind, then its default, min, max and step.
fn set_number<'py, T: IntoPyObject<'py>>(d: &Bound<'py, PyDict>, kind: &str, values: [T; 4]) -> PyResult<()> {
    d.set_item("kind", kind)?;
    for (key, v) in ["default", "min", "max", "step"].into_iter().zip(values) {
        d.set_item(key, v)?;
    }
    Ok(())
}
