//! rmbg-ultra: background removal with two profiles. [`Profile::Node`] reproduces the ComfyUI node
//! "LayerMask: RmBgUltra V2" exactly, quirks included, and faster; [`Profile::Quality`] (the
//! default) keeps the network's soft mask, refines only a band around its edge and estimates the
//! foreground colour, for cleaner cutouts.
//!
//! The modules follow the data:
//! [`decode`] → [`resample`] → [`segment`] (coarse or soft mask) → [`trimap`] → [`refine`] (one
//! module per detail method, and the quality profile's band) → [`remap`] (black/white points) →
//! [`foreground`] (colour under the edge) → [`compose`] (RGBA cutout) → [`encode`].
//! [`models`] and [`runtime`] are the one place for model files and ONNX Runtime; [`fs`] writes
//! every file atomically and hashes what it copies;
//! [`pipeline`] strings the stages together the way the node does; [`job`] is one image as the
//! front-ends run it (decode → remove → encode, timed per stage).

pub mod compose;
pub mod decode;
pub mod encode;
pub mod error;
pub mod foreground;
pub mod fs;
pub mod job;
#[cfg(feature = "clap")]
pub mod model_args;
pub mod models;
pub mod params;
pub mod pipeline;
pub mod refine;
pub mod remap;
pub mod resample;
pub mod runtime;
pub mod segment;
pub mod stage;
pub mod trimap;

pub use error::{Error, Result};
pub use params::{DetailMethod, Device, Params, Profile};
pub use pipeline::{Cutout, Remover, RemoverOptions};
#[cfg(feature = "clap")]
pub use model_args::ModelArgs;
