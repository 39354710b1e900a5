//! The tiny ONNX models under `testdata/tiny-seg/` (made by its `make.py`; its README says what
//! they compute). The ComfyUI tests load the same files from Python.

use crate::paths::testdata;
use std::path::PathBuf;

/// Meets the segmentation contract in milliseconds: dark pixels 0, bright ones towards 1.
pub fn tiny_segmentation_model() -> PathBuf {
    fixture("tiny-seg/tiny-seg.onnx")
}

/// Runs, but answers [1,1,1,1024]: a model that breaks the segmentation contract.
pub fn broken_segmentation_model() -> PathBuf {
    fixture("tiny-seg/broken-seg.onnx")
}

fn fixture(rel: &str) -> PathBuf {
    let p = testdata(rel);
    assert!(p.is_file(), "{} is missing: restore it from git or run testdata/tiny-seg/make.py (see its README)", p.display());
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmbg_ultra::models::ModelStore;
    use rmbg_ultra::{Device, Profile, Remover, RemoverOptions};
    use std::path::Path;
    use std::process::Command;

    fn remover(model: &Path) -> Remover {
        Remover::new(RemoverOptions { seg_model: model.to_str().unwrap().into(), device: Device::Cpu, ..RemoverOptions::default() })
            .unwrap_or_else(|e| panic!("cannot load {}: {e} (the runtime comes with `rmbg-ultra setup`)", model.display()))
    }

    /// A bright square on a dark ground, like the service tests' photo.
    fn square() -> image::RgbImage {
        image::RgbImage::from_fn(64, 48, |x, y| {
            let inside = (16..48).contains(&x) && (12..36).contains(&y);
            image::Rgb(if inside { [230, 190, 180] } else { [20, 20, 30] })
        })
    }

    #[test]
    fn the_tiny_model_marks_bright_pixels_and_the_broken_one_breaks_the_contract() {
        let map = remover(&tiny_segmentation_model()).predict(&square(), Profile::Node).unwrap();
        assert_eq!((map.side, map.data.len()), (1024, 1024 * 1024));
        let at = |x: usize, y: usize| map.data[y * 1024 + x];
        // sigmoid(40 · (brightness − 0.5) − 10): the dark ground near 0, the square (0.784 bright) at 0.798.
        assert!(at(10, 10) < 1e-9 && at(1013, 1013) < 1e-9, "{} {}", at(10, 10), at(1013, 1013));
        assert!((at(512, 512) - 0.798).abs() < 0.005, "{}", at(512, 512));

        let e = remover(&broken_segmentation_model()).predict(&square(), Profile::Node).unwrap_err();
        assert!(e.to_string().contains("segmentation contract"), "{e}");
    }

    /// The committed files are what make.py writes, where its pinned venv (onnx 1.23.2) is at hand.
    #[test]
    fn fixtures_are_what_make_py_writes() {
        let python = ModelStore::open_default().root().join("venv-quantize/bin/python");
        if !python.exists() {
            eprintln!("skipped: {} not found (`rmbg-ultra setup --int8` makes it)", python.display());
            return;
        }
        let out = Command::new(&python).arg(testdata("tiny-seg/make.py")).arg("--check").output().expect("start python");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        for model in [tiny_segmentation_model(), broken_segmentation_model()] {
            assert!(std::fs::metadata(&model).unwrap().len() < 4096, "{} holds weights?", model.display());
        }
    }
}
