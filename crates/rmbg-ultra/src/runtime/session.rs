//! One ONNX Runtime session on the chosen device; every model family wraps one of these.

use crate::{runtime, Device, Error, Result};
use ort::session::Session;
use std::path::Path;
use std::sync::Mutex;

/// A loaded model. `run` takes `&self`: sessions are shared by the threads of a batch or a server.
pub struct OnnxSession {
    session: Mutex<Session>,
    model: String,
    device: Device,
}

impl OnnxSession {
    /// Loads `path` on `device`. `Cuda` that cannot start falls back to the CPU with a warning, as
    /// the node does, unless `strict`; `Auto` tries CUDA quietly.
    pub fn load(path: &Path, model: &str, device: Device, strict: bool) -> Result<Self> {
        let (lib, env) = runtime::init()?;
        if !path.is_file() {
            return Err(Error::model(model, format!("{} does not exist", path.display()), ""));
        }
        let mut used = Device::Cpu;
        let mut session = None;
        if matches!(device, Device::Cuda | Device::Auto) {
            match build(env, path, true) {
                Ok(s) => {
                    session = Some(s);
                    used = Device::Cuda;
                }
                Err(e) if device == Device::Cuda && strict => {
                    return Err(Error::runtime(
                        format!("CUDA was asked for {model} but is not available: {e}"),
                        "install the CUDA runtime with `rmbg-ultra setup --cuda`, or use --device cpu",
                    ))
                }
                Err(e) if device == Device::Cuda => {
                    tracing::warn!("{model}: device is set to cuda, but not available, using cpu instead ({e})");
                }
                Err(e) => tracing::debug!("{model}: CUDA not available ({e}); using the CPU"),
            }
        }
        let session = match session {
            Some(s) => s,
            None => build(env, path, false).map_err(|e| Error::model(model, format!("cannot load {}: {e}", path.display()), ""))?,
        };
        tracing::info!("{}", loaded_message(model, path, used, &lib));
        Ok(OnnxSession { session: Mutex::new(session), model: model.to_string(), device: used })
    }

    /// The device the session really runs on.
    pub fn device(&self) -> Device {
        self.device
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// Runs the model on one f32 input and returns its first output (shape, data). Only that output
    /// is asked for, so ONNX Runtime skips the branches that feed the others (IS-Net's side outputs).
    pub fn run_f32(&self, input: &str, shape: &[usize], data: Vec<f32>) -> Result<(Vec<usize>, Vec<f32>)> {
        let fail = |e: ort::Error| Error::model(&self.model, format!("inference failed: {e}"), "");
        let tensor = ort::value::Tensor::from_array((shape.to_vec(), data)).map_err(fail)?;
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let first = session.outputs().first().map(|o| o.name().to_string()).ok_or_else(|| Error::model(&self.model, "has no outputs", ""))?;
        let options = ort::session::RunOptions::new()
            .map_err(fail)?
            .with_outputs(ort::session::OutputSelector::no_default().with(first.as_str()));
        let outputs = session.run_with_options(ort::inputs![input => tensor], &options).map_err(fail)?;
        let (out_shape, out) = outputs[first.as_str()].try_extract_tensor::<f32>().map_err(fail)?;
        Ok((out_shape.iter().map(|&d| d as usize).collect(), out.to_vec()))
    }

    /// The model's input names, for checking a user-supplied file against a contract.
    pub fn input_names(&self) -> Vec<String> {
        let session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        session.inputs().iter().map(|i| i.name().to_string()).collect()
    }
}

/// The log line of a loaded model. A model given by its path (`--seg-model FILE`, the ComfyUI
/// node's files) has that path as its name, and saying it twice only made the line longer.
fn loaded_message(model: &str, path: &Path, used: Device, lib: &Path) -> String {
    let file = path.display().to_string();
    if model == file {
        format!("{file} on {used} (runtime {})", lib.display())
    } else {
        format!("{model}: {file} on {used} (runtime {})", lib.display())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loaded_line_names_the_file_once() {
        let lib = Path::new("/rt/libonnxruntime.so");
        let file = Path::new("/comfy/models/rmbg/RMBG-1.4/model.onnx");
        let line = loaded_message(&file.display().to_string(), file, Device::Cpu, lib);
        assert_eq!(line, "/comfy/models/rmbg/RMBG-1.4/model.onnx on cpu (runtime /rt/libonnxruntime.so)");
        let line = loaded_message("isnet-general", Path::new("/cache/isnet.onnx"), Device::Cuda, lib);
        assert_eq!(line, "isnet-general: /cache/isnet.onnx on cuda (runtime /rt/libonnxruntime.so)");
    }
}

fn build(env: &ort::environment::Environment, path: &Path, cuda: bool) -> std::result::Result<Session, ort::Error> {
    let mut builder = Session::builder(env).map_err(ort::Error::from)?;
    // ONNX Runtime's CPU arena keeps every activation size it ever saw (over 1 GB for IS-Net at
    // 1024²); without it the peak is what one run really needs.
    let cpu = ort::ep::CPU::default().with_arena_allocator(false).build();
    let providers = if cuda { vec![ort::ep::CUDA::default().build().error_on_failure(), cpu] } else { vec![cpu] };
    builder = builder.with_execution_providers(providers).map_err(|e| -> ort::Error { e.into() })?;
    builder.commit_from_file(path)
}
