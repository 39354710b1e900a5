//! rmbg-ultra: background removal that reproduces the ComfyUI node
//! "LayerMask: RmBgUltra V2" exactly, quirks included, and faster.
//!
//! The modules follow the data:
//! [`decode`] → [`resample`] → [`segment`] (coarse mask) → [`trimap`] → [`refine`] (one module per
//! detail method) → [`remap`] (black/white points) → [`compose`] (RGBA cutout) → [`encode`].
//! [`models`] and [`runtime`] are the one place for model files and ONNX Runtime;
//! [`pipeline`] strings the stages together the way the node does.

pub mod compose;
pub mod decode;
pub mod encode;
pub mod error;
pub mod models;
pub mod params;
pub mod pipeline;
pub mod refine;
pub mod remap;
pub mod resample;
pub mod runtime;
pub mod segment;
pub mod session;
pub mod trimap;

pub use error::{Error, Result};
pub use params::{DetailMethod, Device, Params};
pub use pipeline::{Cutout, Remover, RemoverOptions};
