//! ONNX Runtime: where its shared library comes from ([`install`]), how it is loaded (here) and one
//! session on a device ([`session`]).
//!
//! The `ort` crate is built with `load-dynamic`, so nothing is downloaded at build time. Lookup
//! order at run time: `ORT_DYLIB_PATH`, then the cache.

pub mod install;
pub mod session;

pub use install::{RuntimeBuild, CPU_RUNTIME, CUDA_RUNTIME, SETUP_HINT};

use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The library that [`init`] loads: `ORT_DYLIB_PATH`, else the CUDA build when installed (it runs
/// on the CPU too when no GPU is there), else the CPU build.
pub fn find_library() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(Error::runtime(format!("ORT_DYLIB_PATH={} does not exist", p.display()), SETUP_HINT))
        };
    }
    for build in [CUDA_RUNTIME, CPU_RUNTIME] {
        if build.is_installed() {
            return Ok(build.library_path());
        }
    }
    Err(Error::runtime(
        format!("the ONNX Runtime library was not found in {} or {}", CPU_RUNTIME.dir().display(), CUDA_RUNTIME.dir().display()),
        SETUP_HINT,
    ))
}

static ENVIRONMENT: OnceLock<std::result::Result<(PathBuf, ort::environment::Environment), String>> = OnceLock::new();

/// Loads ONNX Runtime once per process; later calls return the same library and environment.
pub fn init() -> Result<(&'static Path, &'static ort::environment::Environment)> {
    let state = ENVIRONMENT.get_or_init(|| {
        let path = find_library().map_err(|e| e.to_string())?;
        let env = ort::init_from(&path)
            .map_err(|e| format!("cannot load {}: {e}", path.display()))?
            .with_name("rmbg-ultra")
            .build()
            .map_err(|e| format!("cannot start {}: {e}", path.display()))?;
        tracing::debug!("loaded ONNX Runtime from {}", path.display());
        Ok((path, env))
    });
    match state {
        Ok((path, env)) => Ok((path.as_path(), env)),
        Err(msg) => Err(Error::runtime(msg.clone(), SETUP_HINT)),
    }
}

