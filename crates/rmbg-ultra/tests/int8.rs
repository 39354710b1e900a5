//! The locally made int8 IS-Net (`isnet-general-int8`, models/quantize.rs, docs/int8.md).
//!
//! The quantisations are slow (a Python venv with onnxruntime, unless `rmbg-ultra setup --int8`
//! made one, then two quantisations of about a minute each), so they run only with
//! `RMBG_ULTRA_TEST_INT8=1` (scripts/test.sh sets it); otherwise the test prints why it skipped. It needs python3
//! with venv and pip, the package index for pip, the ONNX Runtime library (`rmbg-ultra setup`) and
//! the `isnet-general` model (taken from the default cache, fetched there when missing).

use rmbg_ultra_test_support as common;

use rmbg_ultra::decode::{decode_file, DecodeLimits};
use rmbg_ultra::models::quantize::{self, QuantizeOptions};
use rmbg_ultra::models::{spec, ModelStore, Status, Task};
use rmbg_ultra::resample::torch_bilinear;
use rmbg_ultra::segment::{IsNetSession, INPUT_SIZE};
use rmbg_ultra::Device;
use std::path::{Path, PathBuf};

/// The share of the shared photos' pixels whose mask at 0.5 must agree with the fp16 original
/// (fp16 and fp32 agree on 99.998 %): issue 11's target, over all the photos' pixels together.
const MIN_AGREEMENT: f64 = 0.995;

/// No single photo may fall below this. `baby.jpg` is the hard one (98.84 %, docs/int8.md): large
/// regions where the network itself hesitates near 0.5, so small shifts cross the threshold.
const MIN_AGREEMENT_PER_PHOTO: f64 = 0.985;

fn enabled(test: &str) -> bool {
    if std::env::var("RMBG_ULTRA_TEST_INT8").is_ok_and(|v| v == "1") {
        return true;
    }
    eprintln!("skipping {test}: set RMBG_ULTRA_TEST_INT8=1 to run it (creates a venv and quantises isnet-general, several minutes)");
    false
}

/// A fresh cache holding a copy of the installed `isnet-general`.
fn cache_with_base(base: &Path) -> (tempfile::TempDir, ModelStore) {
    let dir = tempfile::tempdir().unwrap();
    let store = ModelStore::new(dir.path());
    let target = store.path_of(spec("isnet-general").unwrap());
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    if std::fs::hard_link(base, &target).is_err() {
        std::fs::copy(base, &target).unwrap();
    }
    // records it in the manifest now, so that later checks see only what quantising changed
    assert!(matches!(store.verify(spec("isnet-general").unwrap()).unwrap(), Status::Ok(_)));
    (dir, store)
}

fn base_model() -> PathBuf {
    ModelStore::open_default().resolve("isnet-general", Task::Segmentation, true).expect("isnet-general installs")
}

#[test]
fn int8_is_deterministic_and_agrees_with_the_original() {
    if !enabled("int8_is_deterministic_and_agrees_with_the_original") {
        return;
    }
    let base = base_model();
    let int8 = spec("isnet-general-int8").unwrap();

    // The venv that `rmbg-ultra setup --int8` made in the default cache, when there is one: making
    // it again (pip) is not what is under test here.
    let default_store = ModelStore::open_default();
    let made_venv = default_store.root().join("venv-quantize");
    let venv = made_venv.join(".requirements.sha256").is_file().then_some(made_venv);

    // 1: through the store, as `rmbg-ultra models fetch isnet-general-int8` does (without a venv
    // to reuse, it makes one in this cache).
    let (_d1, store1) = cache_with_base(&base);
    let path1 = match &venv {
        Some(v) => {
            let opts = QuantizeOptions { venv: Some(v.clone()), ..QuantizeOptions::default() };
            quantize::make(&store1, int8, "isnet-general", &opts, &mut |_, _| {}).expect("first quantisation");
            store1.path_of(int8)
        }
        None => {
            let p = store1.fetch(int8, &mut |_, _| {}).expect("first quantisation");
            assert!(store1.root().join("venv-quantize/.requirements.sha256").is_file());
            p
        }
    };
    let Status::Ok(e1) = store1.verify_with(int8, true).unwrap() else { panic!("first model does not verify") };

    // 2: another cache, the same venv.
    let (_d2, store2) = cache_with_base(&base);
    let opts = QuantizeOptions { venv: Some(venv.clone().unwrap_or_else(|| store1.root().join("venv-quantize"))), ..QuantizeOptions::default() };
    quantize::make(&store2, int8, "isnet-general", &opts, &mut |_, _| {}).expect("second quantisation");
    let Status::Ok(e2) = store2.verify(int8).unwrap() else { panic!("second model does not verify") };
    assert_eq!(e1.sha256, e2.sha256, "the same inputs must give the same bytes");
    if let Ok(Status::Ok(e0)) = default_store.verify(int8) {
        assert_eq!(e0.sha256, e1.sha256, "the model in the default cache was made from the same inputs");
    }
    eprintln!("isnet-general-int8: {} bytes, sha256 {}", e1.size, e1.sha256);
    // nothing but the model (and the manifest) beside it
    let leftovers: Vec<_> = common::files_under(path1.parent().unwrap()).into_iter().filter(|p| p != &path1).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Agreement with the fp16 original on the shared photos, through the library's segmentation.
    let fp16 = IsNetSession::load(&base, "isnet-general", Device::Cpu, true).unwrap();
    let q = IsNetSession::load(&path1, "isnet-general-int8", Device::Cpu, true).unwrap();
    let side = INPUT_SIZE as usize;
    let mut worst = 1.0f64;
    let (mut agreeing, mut total) = (0usize, 0usize);
    for photo in common::photos() {
        let img = decode_file(&photo, &DecodeLimits::default()).unwrap();
        let (w, h) = (img.width() as usize, img.height() as usize);
        // --fast is the quality profile: its network input.
        let filter = rmbg_ultra::pipeline::network_input_filter(rmbg_ultra::Profile::Quality);
        let a = torch_bilinear(&fp16.predict(&img, filter).unwrap(), side, side, w, h);
        let b = torch_bilinear(&q.predict(&img, filter).unwrap(), side, side, w, h);
        let same = a.iter().zip(&b).filter(|(x, y)| (**x >= 0.5) == (**y >= 0.5)).count();
        (agreeing, total) = (agreeing + same, total + a.len());
        let agree = same as f64 / a.len() as f64;
        let mean_abs = a.iter().zip(&b).map(|(x, y)| (x - y).abs() as f64).sum::<f64>() / a.len() as f64;
        eprintln!("{}: agreement {:.3} %, mean abs {mean_abs:.5}", photo.display(), 100.0 * agree);
        worst = worst.min(agree);
    }
    let overall = agreeing as f64 / total as f64;
    eprintln!("all photos: agreement {:.3} %", 100.0 * overall);
    assert!(overall >= MIN_AGREEMENT, "agreement over all photos {:.3} % < {:.1} %", 100.0 * overall, 100.0 * MIN_AGREEMENT);
    assert!(worst >= MIN_AGREEMENT_PER_PHOTO, "worst photo {:.3} % < {:.1} %", 100.0 * worst, 100.0 * MIN_AGREEMENT_PER_PHOTO);
}

#[test]
fn a_failing_python_names_the_model_and_leaves_nothing_in_the_cache() {
    let base = base_model();
    let int8 = spec("isnet-general-int8").unwrap();
    let (dir, store) = cache_with_base(&base);
    let before = common::files_under(dir.path());
    for python in ["false", "/nonexistent/python3"] {
        let opts = QuantizeOptions { python: PathBuf::from(python), ..QuantizeOptions::default() };
        let err = quantize::make(&store, int8, "isnet-general", &opts, &mut |_, _| {}).unwrap_err().to_string();
        assert!(err.contains("isnet-general-int8") && err.contains(&format!("{python} -m venv")), "{err}");
        assert!(err.contains("rmbg-ultra models fetch isnet-general-int8"), "{err}");
        assert_eq!(common::files_under(dir.path()), before, "the cache changed after: {err}");
        assert!(!store.root().join("venv-quantize").exists());
        assert!(matches!(store.verify(int8).unwrap(), Status::Missing));
    }
}
