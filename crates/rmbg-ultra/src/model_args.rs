//! The model and device options that `rmbg-ultra remove` and `rmbg-ultra serve` share, as one clap
//! `Args` struct (feature `clap`), and the one way from them to [`RemoverOptions`].

use crate::models::ModelStore;
use crate::params::Device;
use crate::pipeline::RemoverOptions;
use std::path::PathBuf;

/// Which models load and where they run.
#[derive(clap::Args, Debug, Clone)]
pub struct ModelArgs {
    /// Segmentation model: an id (see `rmbg-ultra models list`) or a path to an .onnx file.
    #[arg(long, default_value = crate::models::DEFAULT_SEGMENTATION)]
    pub seg_model: String,

    /// Matting model for the ViTMatte methods: an id or a path to an .onnx file.
    #[arg(long)]
    pub matting_model: Option<String>,

    /// A ComfyUI `models` folder to take ViTMatte from (also RMBG_ULTRA_COMFYUI_MODELS).
    #[arg(long)]
    pub comfyui_models: Option<PathBuf>,

    /// Where the networks run: auto (CUDA when available), cpu, cuda.
    #[arg(long, default_value = "auto", value_parser = parse_device)]
    pub device: Device,

    /// Fail instead of falling back to the CPU when --device cuda is not available.
    #[arg(long)]
    pub strict_device: bool,

    /// Never download a model; fail with the command that provides it instead.
    #[arg(long)]
    pub offline: bool,
}

fn parse_device(s: &str) -> Result<Device, String> {
    s.parse().map_err(|e: crate::Error| e.to_string())
}

impl ModelArgs {
    /// The remover these options describe, on the default model cache.
    pub fn remover_options(&self) -> RemoverOptions {
        RemoverOptions {
            seg_model: self.seg_model.clone(),
            matting_model: self.matting_model.clone(),
            comfyui_models: self.comfyui_models.clone(),
            device: self.device,
            strict_device: self.strict_device,
            allow_fetch: !self.offline,
            store: ModelStore::open_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        models: ModelArgs,
    }

    #[test]
    fn defaults_fetch_the_default_model_on_any_device() {
        let options = Command::parse_from(["x"]).models.remover_options();
        assert_eq!(options.seg_model, crate::models::DEFAULT_SEGMENTATION);
        assert_eq!((options.device, options.strict_device, options.allow_fetch), (Device::Auto, false, true));
        assert!(options.matting_model.is_none() && options.comfyui_models.is_none());
    }

    #[test]
    fn every_option_reaches_the_remover() {
        let argv = [
            "x",
            "--seg-model",
            "m.onnx",
            "--matting-model",
            "v",
            "--comfyui-models",
            "/c",
            "--device",
            "cpu",
            "--strict-device",
            "--offline",
        ];
        let options = Command::parse_from(argv).models.remover_options();
        assert_eq!((options.seg_model.as_str(), options.matting_model.as_deref()), ("m.onnx", Some("v")));
        assert_eq!(options.comfyui_models, Some(PathBuf::from("/c")));
        assert_eq!((options.device, options.strict_device, options.allow_fetch), (Device::Cpu, true, false));
    }

    #[test]
    fn an_unknown_device_names_the_choices() {
        let err = Command::try_parse_from(["x", "--device", "tpu"]).err().unwrap().to_string();
        assert!(err.contains("tpu") && err.contains("cuda"), "{err}");
    }
}
