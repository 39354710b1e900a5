//! Parity of the ViTMatte stage (docs/node-behaviour.md §7.2) on the tiny random-weight ViTMatte of
//! testdata/vitmatte (made by scripts/make-tiny-vitmatte.py):
//! - against transformers (VitMatteImageProcessor + the PyTorch model, through the node's resize,
//!   crop and u8 steps), from the committed fixtures: alpha max abs ≤ 1e-4 before u8 (docs/product.md §2.2);
//! - against reference/vitmatte_ref.py (numpy + Pillow + Python onnxruntime on the same ONNX file)
//!   on fresh random inputs each run: the model input bit for bit, the alpha to 1e-5, the u8 alpha.
//!
//! Needs ONNX Runtime (ORT_DYLIB_PATH or `rmbg-ultra setup`) and, for the second part, the
//! reference venv (`scripts/pyref-venv.sh`). No torch at test time.

use rmbg_ultra_test_support as common;

use common::*;
use image::{GrayImage, Luma, Rgb, RgbImage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rmbg_ultra::refine::vitmatte::{preprocess, target_size, VitMatteSession};
use rmbg_ultra::resample::{pillow_bilinear_gray, pillow_bilinear_rgb};
use rmbg_ultra::trimap::vitmatte_trimap;
use rmbg_ultra::Device;
use std::fmt::Write as _;
use std::path::PathBuf;

const TRANSFORMERS_TOLERANCE: f64 = 1e-4;
const ONNXRUNTIME_TOLERANCE: f64 = 1e-5;

fn model_path() -> PathBuf {
    testdata("vitmatte/tiny-vitmatte.onnx")
}

fn session() -> VitMatteSession {
    VitMatteSession::load(&model_path(), "tiny-vitmatte", Device::Cpu, true).unwrap_or_else(|e| panic!("{e}"))
}

fn rgb_from_npy(path: &std::path::Path) -> RgbImage {
    let (shape, data) = read_npy::<u8>(path);
    assert_eq!(shape.len(), 3);
    RgbImage::from_raw(shape[1] as u32, shape[0] as u32, data).unwrap()
}

fn gray_from_npy(path: &std::path::Path) -> GrayImage {
    let (shape, data) = read_npy::<u8>(path);
    assert_eq!(shape.len(), 2);
    GrayImage::from_raw(shape[1] as u32, shape[0] as u32, data).unwrap()
}

#[test]
fn fixtures_match_transformers() {
    let session = session();
    let cases: Vec<serde_json::Value> = serde_json::from_str(&std::fs::read_to_string(testdata("vitmatte/cases.json")).unwrap()).unwrap();
    assert!(cases.len() >= 3);
    let mut report = String::new();
    let mut failures = Vec::new();
    let mut saw_resize = false;
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let mp = case["max_megapixels"].as_f64().unwrap();
        let image = rgb_from_npy(&testdata(&format!("vitmatte/{name}_image.npy")));
        let trimap = gray_from_npy(&testdata(&format!("vitmatte/{name}_trimap.npy")));
        let (alpha, resized) = session.estimate_alpha_f32(&image, &trimap, mp).unwrap();
        saw_resize |= resized;
        let processed = (case["processed_width"].as_u64().unwrap() as u32, case["processed_height"].as_u64().unwrap() as u32);
        assert_eq!(alpha.dimensions(), processed, "{name}: processed size");

        let (shape, want) = read_npy::<f32>(&testdata(&format!("vitmatte/{name}_alpha_f32.npy")));
        assert_eq!(shape, vec![processed.1 as usize, processed.0 as usize]);
        let d = max_abs_diff(alpha.as_raw(), &want);

        let u8_alpha = session.estimate_alpha(&image, &trimap, mp).unwrap();
        let want_u8 = gray_from_npy(&testdata(&format!("vitmatte/{name}_alpha_u8.npy")));
        assert_eq!(u8_alpha.dimensions(), image.dimensions());
        let (same, worst) = byte_agreement(u8_alpha.as_raw(), want_u8.as_raw());
        writeln!(
            report,
            "  {name:<8} {}x{} @ {mp} MP: alpha max abs {d:.2e}; u8 {:.3}% equal, max diff {worst}",
            image.width(),
            image.height(),
            100.0 * same
        )
        .unwrap();
        if d.is_nan() || d > TRANSFORMERS_TOLERANCE {
            failures.push(format!("{name}: alpha max abs {d:e} > {TRANSFORMERS_TOLERANCE:e}"));
        }
        // ±1 where ONNX Runtime and PyTorch straddle a multiple of 1/255 (about 0.05% of pixels).
        if same < 0.995 || worst > 1 {
            failures.push(format!("{name}: u8 alpha {:.3}% equal, max diff {worst}", 100.0 * same));
        }
    }
    eprintln!("ViTMatte stage vs transformers (fixtures):\n{report}");
    assert!(saw_resize, "no fixture exercises the max_megapixels resize");
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A picture with smooth areas, edges and noise, and the node's trimap of a random blob mask.
fn random_case(rng: &mut StdRng, w: u32, h: u32) -> (RgbImage, GrayImage) {
    let (fx, fy) = (rng.random_range(3.0..30.0), rng.random_range(3.0..30.0));
    let noise = rng.random_range(0.0..60.0);
    let image = RgbImage::from_fn(w, h, |x, y| {
        let base = [
            128.0 + 120.0 * ((x as f64 / fx).sin() * (y as f64 / fy).cos()),
            255.0 * x as f64 / w.max(2) as f64,
            if (x / 7 + y / 5) % 2 == 0 { 40.0 } else { 210.0 },
        ];
        Rgb(base.map(|v| (v + rng.random_range(-noise..=noise)).clamp(0.0, 255.0) as u8))
    });
    let (cx, cy) = (rng.random_range(0.2..0.8) * w as f64, rng.random_range(0.2..0.8) * h as f64);
    let (rx, ry) = (rng.random_range(0.1..0.45) * w as f64 + 1.0, rng.random_range(0.1..0.45) * h as f64 + 1.0);
    let mask = GrayImage::from_fn(w, h, |x, y| {
        let (dx, dy) = ((x as f64 - cx) / rx, (y as f64 - cy) / ry);
        Luma([if dx * dx + dy * dy <= 1.0 { 255 } else { 0 }])
    });
    let trimap = vitmatte_trimap(&mask, rng.random_range(1..=8), rng.random_range(1..=8));
    (image, trimap)
}

#[test]
fn fresh_inputs_match_the_onnxruntime_reference() {
    let seed = fresh_seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let session = session();
    let dir = tempfile::tempdir().unwrap();
    let mut cases = String::new();
    let mut ours = Vec::new();
    for i in 0..5 {
        let (w, h) = (rng.random_range(20..280), rng.random_range(20..280));
        // Half the cases go over a (deliberately small) limit so the resize path runs.
        let mp = if i % 2 == 1 { (w * h) as f64 / 1_048_576.0 * rng.random_range(0.3..0.95) } else { 2.0 };
        let (image, trimap) = random_case(&mut rng, w, h);
        let name = format!("r{i}");
        write_npy(&dir.path().join(format!("{name}_image.npy")), &[h as usize, w as usize, 3], image.as_raw());
        write_npy(&dir.path().join(format!("{name}_trimap.npy")), &[h as usize, w as usize], trimap.as_raw());
        writeln!(cases, "{name} {mp}").unwrap();

        // The model input, built the way estimate_alpha builds it.
        let (pi, pt) = match target_size(w, h, mp) {
            Some((tw, th)) => (pillow_bilinear_rgb(&image, tw, th), pillow_bilinear_gray(&trimap, tw, th)),
            None => (image.clone(), trimap.clone()),
        };
        let input = preprocess(&pi, &pt);
        let (alpha, resized) = session.estimate_alpha_f32(&image, &trimap, mp).unwrap();
        assert_eq!(resized, i % 2 == 1);
        let u8_alpha = session.estimate_alpha(&image, &trimap, mp).unwrap();
        ours.push((name, format!("{w}x{h} @ {mp:.4} MP"), input, alpha, u8_alpha));
    }
    std::fs::write(dir.path().join("cases.txt"), cases).unwrap();
    run_reference("vitmatte_ref.py", &[model_path().to_str().unwrap(), dir.path().to_str().unwrap()]);

    let mut report = String::new();
    let mut failures = Vec::new();
    for (name, what, (shape, input), alpha, u8_alpha) in &ours {
        let (ref_shape, ref_input) = read_npy::<f32>(&dir.path().join(format!("{name}_ref_pixel_values.npy")));
        assert_eq!(ref_shape, shape.to_vec(), "{what}: model input shape");
        let input_same = input.iter().zip(&ref_input).all(|(a, b)| a.to_bits() == b.to_bits());
        let (_, ref_alpha) = read_npy::<f32>(&dir.path().join(format!("{name}_ref_f32.npy")));
        let d = max_abs_diff(alpha.as_raw(), &ref_alpha);
        let ref_u8 = gray_from_npy(&dir.path().join(format!("{name}_ref_u8.npy")));
        let (same, worst) = byte_agreement(u8_alpha.as_raw(), ref_u8.as_raw());
        writeln!(report, "  {what:<24} input identical: {input_same}; alpha max abs {d:.2e}; u8 {:.3}% equal (max {worst})", 100.0 * same)
            .unwrap();
        if !input_same {
            failures.push(format!("{what}: model input differs from VitMatteImageProcessor's"));
        }
        if d.is_nan() || d > ONNXRUNTIME_TOLERANCE {
            failures.push(format!("{what}: alpha max abs {d:e}"));
        }
        if same < 0.999 || worst > 1 {
            failures.push(format!("{what}: u8 alpha {:.3}% equal, max diff {worst}", 100.0 * same));
        }
    }
    eprintln!("ViTMatte stage vs reference/vitmatte_ref.py:\n{report}");
    common::assert_no_failures(&failures, format!("seed {seed}"));
}

#[test]
fn mismatched_trimap_is_an_error() {
    let session = session();
    let err = session.estimate_alpha(&RgbImage::new(10, 10), &GrayImage::new(10, 9), 2.0).unwrap_err().to_string();
    assert!(err.contains("trimap"), "{err}");
}
