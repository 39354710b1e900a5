//! Parity of foreground estimation: the multi-level port with pymatting's
//! `estimate_foreground_ml` (bit-exact: max abs 0), blur-fusion with the numpy statement of the
//! paper's formula in reference/foreground_ref.py (max abs ≤ 1e-6), on fresh random inputs each run
//! and on the lemur.
//!
//! Needs the reference venv (`scripts/pyref-venv.sh`, or RMBG_ULTRA_PYREF=/path/to/python).

use rmbg_ultra_test_support as common;

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rmbg_ultra::foreground::{blur_fusion, estimate_foreground_ml, BlurFusionOptions, MlOptions};
use rmbg_ultra::remap::u8_to_unit;
use std::fmt::Write as _;
use std::path::Path;

const ML_TOLERANCE: f64 = 0.0;
const BLUR_TOLERANCE: f64 = 1e-6;

struct Case {
    name: String,
    what: String,
    ml: bool,
    ours: Vec<f32>,
}

/// Runs the reference over every case written to `dir`, prints one line per case and panics
/// listing every case above its tolerance.
fn check(dir: &Path, cases: &[Case], cases_txt: &str) {
    std::fs::write(dir.join("cases.txt"), cases_txt).unwrap();
    run_reference("foreground_ref.py", &[dir.to_str().unwrap()]);
    let mut report = String::new();
    let mut failures = Vec::new();
    for c in cases {
        let out = dir.join(format!("{}.out.npy", c.name));
        let theirs: Vec<f64> = if c.ml { read_npy::<f32>(&out).1.into_iter().map(f64::from).collect() } else { read_npy::<f64>(&out).1 };
        let ours: Vec<f64> = c.ours.iter().map(|&v| v as f64).collect();
        assert_eq!(ours.len(), theirs.len(), "{}: length", c.what);
        assert!(ours.iter().all(|v| v.is_finite()), "{}: non-finite output", c.what);
        let d = max_abs_diff(&ours, &theirs);
        let differing = ours.iter().zip(&theirs).filter(|(a, b)| a != b).count();
        writeln!(report, "  {:<58} max abs {d:.3e}, {differing}/{} values differ", c.what, ours.len()).unwrap();
        let tolerance = if c.ml { ML_TOLERANCE } else { BLUR_TOLERANCE };
        if d > tolerance {
            failures.push(format!("{}: max abs {d:e} > {tolerance:e}", c.what));
        }
    }
    eprintln!("foreground estimation vs reference:\n{report}");
    common::assert_no_failures(&failures, format!("{} case(s) above tolerance", failures.len()));
}

fn size(rng: &mut StdRng) -> usize {
    match rng.random_range(0..10) {
        0..=2 => rng.random_range(1..=6),
        3..=5 => rng.random_range(7..=40),
        _ => rng.random_range(41..=260),
    }
}

/// A matte with opaque, transparent and soft regions: a disc with a soft rim of random width, a
/// soft ramp, and noisy values in a random share of pixels.
fn random_alpha(rng: &mut StdRng, w: usize, h: usize) -> Vec<f32> {
    let (cx, cy) = (rng.random_range(0.0..w as f32), rng.random_range(0.0..h as f32));
    let rad = rng.random_range(0.0..w.max(h) as f32);
    let rim = rng.random_range(0.5..(w.max(h) as f32 / 3.0).max(1.0));
    let noisy = rng.random_range(0.0..0.3);
    (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as f32, (i / w) as f32);
            if rng.random_bool(noisy) {
                return rng.random::<f32>();
            }
            let d = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt();
            ((rad - d) / rim + 0.5).clamp(0.0, 1.0)
        })
        .collect()
}

/// Noise or a smooth colour gradient with a little noise, in 0..1.
fn random_image(rng: &mut StdRng, w: usize, h: usize) -> Vec<f32> {
    if rng.random_bool(0.4) {
        return (0..w * h * 3).map(|_| rng.random::<f32>()).collect();
    }
    let base: [f32; 3] = rng.random();
    let tilt: [f32; 3] = std::array::from_fn(|_| rng.random_range(-1.0..1.0));
    let noise = rng.random_range(0.0..0.1f32);
    (0..w * h * 3)
        .map(|k| {
            let (i, c) = (k / 3, k % 3);
            let t = ((i % w) + (i / w)) as f32 / (w + h) as f32;
            (base[c] + tilt[c] * t + rng.random_range(-noise..=noise)).clamp(0.0, 1.0)
        })
        .collect()
}

fn write_inputs(dir: &Path, name: &str, image: &[f32], alpha: &[f32], w: usize, h: usize) {
    write_npy(&dir.join(format!("{name}.image.npy")), &[h, w, 3], image);
    write_npy(&dir.join(format!("{name}.alpha.npy")), &[h, w], alpha);
}

#[test]
fn random_inputs_match_references() {
    let seed = fresh_seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let (mut cases, mut txt) = (Vec::new(), String::new());
    for i in 0..40 {
        let (mut w, h) = (size(&mut rng), size(&mut rng));
        if w * h == 1 {
            w = 2; // pymatting divides by zero on 1×1 (n_levels = 0)
        }
        let image = random_image(&mut rng, w, h);
        let alpha = random_alpha(&mut rng, w, h);
        let name = format!("r{i}");
        write_inputs(dir.path(), &name, &image, &alpha, w, h);
        if i % 2 == 0 {
            // Alternate the sequential sweep and the pipelined one: both must be pymatting's.
            let threads = if i % 4 == 0 { 1 } else { 2 };
            let ours = estimate_foreground_ml(&image, &alpha, w, h, &MlOptions { threads, ..Default::default() });
            writeln!(txt, "{name} ml").unwrap();
            cases.push(Case { name, what: format!("ml {w}x{h}, {threads} thread(s)"), ml: true, ours });
        } else {
            let r1 = rng.random_range(0..=60);
            let r2 = rng.random_range(0..=8);
            let ours = blur_fusion(&image, &alpha, w, h, &BlurFusionOptions { radius_large: r1, radius_small: r2 });
            writeln!(txt, "{name} blur {r1} {r2}").unwrap();
            cases.push(Case { name, what: format!("blur {w}x{h}, radii {r1}, {r2}"), ml: false, ours });
        }
    }
    check(dir.path(), &cases, &txt);
}

#[test]
fn lemur_matches_references() {
    let img = image::open(testdata("lemur/lemur.png")).unwrap().to_rgb8();
    let alpha_img = image::open(testdata("lemur/lemur_alpha.png")).unwrap().to_luma8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    assert_eq!(alpha_img.dimensions(), img.dimensions());
    let image: Vec<f32> = img.as_raw().iter().map(|&v| u8_to_unit(v)).collect();
    let alpha: Vec<f32> = alpha_img.as_raw().iter().map(|&v| u8_to_unit(v)).collect();
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path(), "lemur", &image, &alpha, w, h);
    let mut cases = Vec::new();
    let mut txt = String::new();
    for threads in [1, 2] {
        let name = format!("lemur_ml{threads}");
        for ext in ["image", "alpha"] {
            std::fs::copy(dir.path().join(format!("lemur.{ext}.npy")), dir.path().join(format!("{name}.{ext}.npy"))).unwrap();
        }
        let ours = estimate_foreground_ml(&image, &alpha, w, h, &MlOptions { threads, ..Default::default() });
        writeln!(txt, "{name} ml").unwrap();
        cases.push(Case { name, what: format!("ml lemur {w}x{h}, {threads} thread(s)"), ml: true, ours });
    }
    let opts = BlurFusionOptions::default();
    let ours = blur_fusion(&image, &alpha, w, h, &opts);
    writeln!(txt, "lemur blur {} {}", opts.radius_large, opts.radius_small).unwrap();
    cases.push(Case { name: "lemur".into(), what: format!("blur lemur {w}x{h}, default radii"), ml: false, ours });
    check(dir.path(), &cases, &txt);
}
