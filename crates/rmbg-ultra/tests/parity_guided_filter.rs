//! Parity of the guided filter with `cv2.ximgproc.guidedFilter` (docs/product.md §2.2: max abs ≤ 1e-5),
//! on fresh random inputs each run and on the test photos at the node's defaults.
//!
//! Needs the reference venv (`scripts/pyref-venv.sh`, or RMBG_ULTRA_PYREF=/path/to/python).

use rmbg_ultra_test_support as common;

use common::*;
use image::{GrayImage, Luma, RgbImage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rmbg_ultra::refine::guided_filter::{guided_filter, guided_filter_alpha, opencv_radius, NODE_EPS};
use rmbg_ultra::remap::u8_to_unit;
use std::fmt::Write as _;
use std::path::Path;

const TOLERANCE: f64 = 1e-5;

struct Outcome {
    name: String,
    what: String,
    ours: Vec<f32>,
}

/// Runs the reference over every case written to `dir`, compares, prints one line per case and
/// panics listing every case above the tolerance.
fn check_against_opencv(dir: &Path, outcomes: &[Outcome], cases_txt: &str) {
    std::fs::write(dir.join("cases.txt"), cases_txt).unwrap();
    run_reference("guided_filter_ref.py", &[dir.to_str().unwrap()]);
    let mut report = String::new();
    let mut failures = Vec::new();
    let mut worst = 0f64;
    for o in outcomes {
        let (shape, theirs) = read_npy::<f32>(&dir.join(format!("{}.out.npy", o.name)));
        assert_eq!(shape.iter().product::<usize>(), o.ours.len(), "{}: shape {shape:?}", o.what);
        // NaN on one side only counts as an infinite difference (f64::max would skip it).
        let d = o
            .ours
            .iter()
            .zip(&theirs)
            .map(|(&x, &y)| {
                if x.is_nan() || y.is_nan() {
                    if x.is_nan() && y.is_nan() {
                        0.0
                    } else {
                        f64::INFINITY
                    }
                } else {
                    (x as f64 - y as f64).abs()
                }
            })
            .fold(0.0, f64::max);
        let differing = o.ours.iter().zip(&theirs).filter(|(x, y)| x.to_bits() != y.to_bits()).count();
        worst = worst.max(d);
        writeln!(report, "  {:<60} max abs {d:.3e}, {differing}/{} px not bit-identical", o.what, o.ours.len()).unwrap();
        if d > TOLERANCE {
            failures.push(format!("{}: max abs {d:e}", o.what));
        }
    }
    eprintln!("guided filter vs cv2.ximgproc.guidedFilter (worst {worst:.3e}):\n{report}");
    common::assert_no_failures(&failures, format!("{} case(s) above {TOLERANCE:e}", failures.len()));
}

#[derive(Debug, Clone, Copy)]
enum GuideKind {
    /// Independent u8 values / 255 (the node's guides are u8 / 255).
    NoiseU8,
    /// Independent floats in [0, 1).
    NoiseF32,
    /// Flat patches, gradients and a little noise, quantised to u8 / 255: low-variance windows,
    /// where Σ is ill-conditioned and, for eps < 0.01, OpenCV's determinant guard kicks in.
    StructuredU8,
    /// The same structure without quantisation.
    StructuredF32,
}

#[derive(Debug, Clone, Copy)]
enum SrcKind {
    BinaryNoise,
    BinaryShapes,
    Float,
}

fn size(rng: &mut StdRng) -> usize {
    match rng.random_range(0..10) {
        0..=2 => rng.random_range(1..=6),
        3..=6 => rng.random_range(7..=64),
        _ => rng.random_range(65..=320),
    }
}

fn structured(rng: &mut StdRng, w: usize, h: usize, quantise: bool) -> Vec<f32> {
    // A few axis-aligned flat patches over a diagonal gradient, plus sparse noise.
    let patches: Vec<(usize, usize, usize, usize, [f32; 3])> = (0..rng.random_range(1..6))
        .map(|_| {
            let (x0, y0) = (rng.random_range(0..w), rng.random_range(0..h));
            let (x1, y1) = (rng.random_range(x0..=w), rng.random_range(y0..=h));
            (x0, y0, x1, y1, [rng.random(), rng.random(), rng.random()])
        })
        .collect();
    let tilt: [f32; 3] = [rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)];
    let base: [f32; 3] = [rng.random(), rng.random(), rng.random()];
    let noise = rng.random_range(0.0..0.05f32);
    let mut g = Vec::with_capacity(w * h * 3);
    for y in 0..h {
        for x in 0..w {
            let t = (x + y) as f32 / (w + h) as f32;
            let mut px: [f32; 3] = std::array::from_fn(|c| base[c] + tilt[c] * t * 0.5);
            for &(x0, y0, x1, y1, col) in &patches {
                if x >= x0 && x < x1 && y >= y0 && y < y1 {
                    px = col;
                }
            }
            for v in px {
                let v = if rng.random_bool(0.1) { v + rng.random_range(-noise..=noise) } else { v };
                let v = v.clamp(0.0, 1.0);
                g.push(if quantise { u8_to_unit((v * 255.0).round() as u8) } else { v });
            }
        }
    }
    g
}

fn guide(rng: &mut StdRng, kind: GuideKind, w: usize, h: usize) -> Vec<f32> {
    match kind {
        GuideKind::NoiseU8 => (0..3 * w * h).map(|_| u8_to_unit(rng.random())).collect(),
        GuideKind::NoiseF32 => (0..3 * w * h).map(|_| rng.random::<f32>()).collect(),
        GuideKind::StructuredU8 => structured(rng, w, h, true),
        GuideKind::StructuredF32 => structured(rng, w, h, false),
    }
}

fn src(rng: &mut StdRng, kind: SrcKind, w: usize, h: usize) -> Vec<f32> {
    match kind {
        SrcKind::BinaryNoise => (0..w * h).map(|_| if rng.random_bool(0.5) { 1.0 } else { 0.0 }).collect(),
        SrcKind::BinaryShapes => {
            let (cx, cy) = (rng.random_range(0.0..w as f32), rng.random_range(0.0..h as f32));
            let rad = rng.random_range(0.0..(w.max(h) as f32));
            let (bx, by) = (rng.random_range(0..w), rng.random_range(0..h));
            (0..h)
                .flat_map(|y| (0..w).map(move |x| (x, y)))
                .map(|(x, y)| {
                    let disc = (x as f32 - cx).powi(2) + (y as f32 - cy).powi(2) < rad * rad;
                    let rect = x < bx && y >= by;
                    if disc != rect {
                        1.0
                    } else {
                        0.0
                    }
                })
                .collect()
        }
        SrcKind::Float => (0..w * h).map(|_| rng.random::<f32>()).collect(),
    }
}

#[test]
fn random_inputs_match_opencv() {
    let seed = fresh_seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut outcomes = Vec::new();
    let mut cases = String::new();
    let guides = [GuideKind::NoiseU8, GuideKind::NoiseF32, GuideKind::StructuredU8, GuideKind::StructuredF32];
    let srcs = [SrcKind::BinaryNoise, SrcKind::BinaryShapes, SrcKind::Float];
    for i in 0..60 {
        let (w, h) = (size(&mut rng), size(&mut rng));
        let radius = rng.random_range(1..=30);
        let eps = [0.015, 1e-3, 0.1][rng.random_range(0..3)];
        let gk = guides[i % guides.len()];
        let sk = srcs[rng.random_range(0..srcs.len())];
        let g = guide(&mut rng, gk, w, h);
        let s = src(&mut rng, sk, w, h);
        let name = format!("r{i}");
        write_npy(&dir.path().join(format!("{name}.guide.npy")), &[h, w, 3], &g);
        write_npy(&dir.path().join(format!("{name}.src.npy")), &[h, w], &s);
        writeln!(cases, "{name} {radius} {eps}").unwrap();
        let ours = guided_filter(&g, &s, w, h, radius, eps);
        outcomes.push(Outcome { name, what: format!("{w}x{h} r={radius} eps={eps} {gk:?}/{sk:?}"), ours });
    }
    check_against_opencv(dir.path(), &outcomes, &cases);
}

/// `convert('L')` of Pillow, to threshold the photos into a mask with many edges.
fn luma(p: &image::Rgb<u8>) -> u8 {
    ((19595 * p[0] as u32 + 38470 * p[1] as u32 + 7471 * p[2] as u32 + 32768) >> 16) as u8
}

#[test]
fn photos_match_opencv_at_node_defaults() {
    let photos = photos();
    assert!(photos.len() >= 6, "expected the six photos in testdata/photos, found {}", photos.len());
    let dir = tempfile::tempdir().unwrap();
    let mut outcomes = Vec::new();
    let mut cases = String::new();
    for (i, path) in photos.iter().enumerate() {
        let img: RgbImage = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).to_rgb8();
        let (w, h) = img.dimensions();
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let (cx, cy, rad) = (w as f32 / 2.0, h as f32 * 0.55, w.min(h) as f32 * 0.35);
        let disc =
            GrayImage::from_fn(w, h, |x, y| Luma([if (x as f32 - cx).powi(2) + (y as f32 - cy).powi(2) < rad * rad { 255 } else { 0 }]));
        let threshold = GrayImage::from_fn(w, h, |x, y| Luma([if luma(img.get_pixel(x, y)) > 110 { 255 } else { 0 }]));
        write_npy(&dir.path().join(format!("p{i}.guide.npy")), &[h as usize, w as usize, 3], img.as_raw());
        // Node defaults: detail_erode 6 + detail_dilate 6 → filter_radius 3 → OpenCV radius 5, with
        // a disc (one smooth contour) or a luminance threshold (edges everywhere) in turn; on the
        // first photo also a wide detail range (erode 30 + dilate 30 → filter_radius 11 → radius 13).
        // Few cases, because integration tests link an unoptimised build of the library.
        let mut runs = vec![if i % 2 == 0 { ("disc", &disc, 12 / 6 + 1) } else { ("luma>110", &threshold, 12 / 6 + 1) }];
        if i == 0 {
            runs.push(("luma>110", &threshold, 60 / 6 + 1));
        }
        for (mask_name, mask, filter_radius) in runs {
            let name = format!("p{i}_{}_{filter_radius}", mask_name.replace('>', "gt"));
            std::fs::copy(dir.path().join(format!("p{i}.guide.npy")), dir.path().join(format!("{name}.guide.npy"))).unwrap();
            write_npy(&dir.path().join(format!("{name}.src.npy")), &[h as usize, w as usize], mask.as_raw());
            let radius = opencv_radius(filter_radius);
            writeln!(cases, "{name} {radius} {NODE_EPS}").unwrap();
            let ours = guided_filter_alpha(&img, mask, filter_radius);
            outcomes.push(Outcome { name, what: format!("{stem} {w}x{h} mask {mask_name} radius {radius}"), ours });
        }
    }
    check_against_opencv(dir.path(), &outcomes, &cases);
}
