//! Parity of `resample` with the node's libraries: Pillow 13 BILINEAR and LANCZOS (identical bytes)
//! and torch-style bilinear (max abs 1e-6), on fresh random inputs every run and on the test photos.

use rmbg_ultra_test_support as common;

use common::{read_npy, run_reference, write_npy};
use image::{GrayImage, RgbImage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rmbg_ultra::resample::{pillow_resize_gray, pillow_resize_rgb, pillow_vertical_first, torch_bilinear, Filter};
use serde_json::json;

/// A random target size for one axis of length `n`, from a regime picked at random.
fn random_target(rng: &mut impl Rng, n: usize) -> usize {
    match rng.random_range(0..6) {
        0 => (n / rng.random_range(2..=60)).max(1),                 // strong shrink
        1 => (n * rng.random_range(2..=8)).clamp(1, 900),           // strong enlarge
        2 => (n as i64 + rng.random_range(-3..=3)).max(1) as usize, // nearly the same
        3 => n,                                                     // this axis untouched
        4 => 1,
        _ => rng.random_range(1..=400),
    }
}

struct Case {
    id: usize,
    filter: Filter,
    channels: usize,
    iw: usize,
    ih: usize,
    ow: usize,
    oh: usize,
}

fn random_u8(rng: &mut impl Rng, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rng.fill(&mut v[..]);
    v
}

fn resize_ours(src: &[u8], c: &Case) -> Vec<u8> {
    if c.channels == 3 {
        let img = RgbImage::from_raw(c.iw as u32, c.ih as u32, src.to_vec()).unwrap();
        pillow_resize_rgb(&img, c.ow as u32, c.oh as u32, c.filter).into_raw()
    } else {
        let img = GrayImage::from_raw(c.iw as u32, c.ih as u32, src.to_vec()).unwrap();
        pillow_resize_gray(&img, c.ow as u32, c.oh as u32, c.filter).into_raw()
    }
}

fn filter_name(f: Filter) -> &'static str {
    match f {
        Filter::Bilinear => "bilinear",
        Filter::Lanczos => "lanczos",
    }
}

fn shape(c: usize, w: usize, h: usize) -> Vec<usize> {
    if c == 3 {
        vec![h, w, 3]
    } else {
        vec![h, w]
    }
}

fn first_difference(a: &[u8], b: &[u8], w: usize, c: usize) -> String {
    match a.iter().zip(b).position(|(x, y)| x != y) {
        Some(i) => format!("first at x={} y={} ch={}: ours {} Pillow {}", (i / c) % w, i / c / w, i % c, a[i], b[i]),
        None => String::new(),
    }
}

#[test]
fn pillow_random_images_identical_bytes() {
    let seed = common::fresh_seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    // Every shape with both filters.
    let mut push = |iw: usize, ih: usize, ow: usize, oh: usize, channels: usize| {
        for filter in [Filter::Bilinear, Filter::Lanczos] {
            let id = cases.len();
            cases.push(Case { id, filter, channels, iw, ih, ow, oh });
        }
    };
    // Fixed shapes that must always be covered: 1×N, N×1, 1×1, the order rule's boundary.
    for &(iw, ih, ow, oh) in &[
        (1, 1, 1, 1),
        (1, 1, 7, 5),
        (1, 257, 1, 1024),
        (257, 1, 1024, 1),
        (1, 300, 5, 3),
        (300, 1, 2, 9),
        (120, 120, 70, 20),  // in_h-out_h == 2(in_w-out_w): horizontal first
        (120, 120, 71, 20),  // one more: vertical first
        (50, 900, 40, 10),   // tall strip, both shrink (vertical first)
        (90, 120, 100, 119), // width enlarged, height barely shrunk (vertical first)
        (120, 90, 130, 140), // both enlarged (horizontal first)
    ] {
        push(iw, ih, ow, oh, 3);
        push(iw, ih, ow, oh, 1);
    }
    // Random shapes in every regime.
    for _ in 0..60 {
        let iw = if rng.random_bool(0.1) { 1 } else { rng.random_range(1..=320) };
        let ih = if rng.random_bool(0.1) { 1 } else { rng.random_range(1..=320) };
        let (ow, oh) = (random_target(&mut rng, iw), random_target(&mut rng, ih));
        push(iw, ih, ow, oh, if rng.random_bool(0.7) { 3 } else { 1 });
    }
    // Random shapes right at the order rule's boundary (both orders are then equally likely).
    for _ in 0..20 {
        let iw = rng.random_range(2..=200);
        let ih = rng.random_range(2..=200);
        let ow = rng.random_range(1..=iw + 50);
        let oh = ih as i64 - 2 * (iw as i64 - ow as i64) + rng.random_range(-1..=1);
        if (1..=600).contains(&oh) {
            push(iw, ih, ow, oh as usize, 3);
        }
    }

    let mut jobs = Vec::new();
    let mut sources = Vec::new();
    for c in &cases {
        let src = random_u8(&mut rng, c.iw * c.ih * c.channels);
        let name = format!("case_{}.npy", c.id);
        write_npy(&dir.path().join(&name), &shape(c.channels, c.iw, c.ih), &src);
        jobs.push(json!({"id": c.id, "src": name, "w": c.ow, "h": c.oh, "filter": filter_name(c.filter)}));
        sources.push(src);
    }
    std::fs::write(dir.path().join("jobs.json"), serde_json::to_vec(&jobs).unwrap()).unwrap();
    run_reference("resample_ref.py", &["pillow", dir.path().to_str().unwrap()]);

    let mut failures = Vec::new();
    let (mut n_vfirst, mut n_hfirst) = (0, 0);
    for (c, src) in cases.iter().zip(&sources) {
        let (shape_ref, want) = read_npy::<u8>(&dir.path().join(format!("out_{}.npy", c.id)));
        assert_eq!(shape_ref, shape(c.channels, c.ow, c.oh));
        let got = resize_ours(src, c);
        if c.ow != c.iw && c.oh != c.ih {
            if pillow_vertical_first(c.iw, c.ih, c.ow, c.oh) {
                n_vfirst += 1
            } else {
                n_hfirst += 1
            }
        }
        if got != want {
            let (agree, worst) = common::byte_agreement(&got, &want);
            failures.push(format!(
                "{:?} {}x{}x{} -> {}x{}: {:.4}% equal, worst {worst}, {}",
                c.filter,
                c.iw,
                c.ih,
                c.channels,
                c.ow,
                c.oh,
                agree * 100.0,
                first_difference(&got, &want, c.ow, c.channels)
            ));
        }
    }
    eprintln!("{} cases ({n_vfirst} vertical-first, {n_hfirst} horizontal-first two-pass)", cases.len());
    common::assert_no_failures(&failures, format!("seed {seed}: {} of {} differ from Pillow", failures.len(), cases.len()));
}

#[test]
fn pillow_photos_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let photos = common::photos();
    assert!(!photos.is_empty(), "no photos in testdata/photos");
    let mut jobs = Vec::new();
    let mut expected = Vec::new();
    let mut id = 0;
    for (pi, photo) in photos.iter().enumerate() {
        // 1024² is the segmentation input; the others cover enlarging, strong shrinking and the
        // two pass orders on real content.
        let mut sizes = vec![(1024, 1024, "RGB")];
        if pi % 2 == 0 {
            sizes.extend([(1500, 700, "RGB"), (333, 1999, "RGB"), (64, 64, "L")]);
        } else {
            sizes.extend([(700, 1500, "RGB"), (1024, 1024, "L"), (1, 517, "RGB")]);
        }
        for (w, h, mode) in sizes {
            for filter in [Filter::Bilinear, Filter::Lanczos] {
                let f = filter_name(filter);
                jobs.push(json!({"id": id, "src": photo.to_str().unwrap(), "w": w, "h": h, "mode": mode, "filter": f}));
                expected.push((id, filter, photo.clone(), w, h, if mode == "L" { 1 } else { 3 }));
                id += 1;
            }
        }
    }
    std::fs::write(dir.path().join("jobs.json"), serde_json::to_vec(&jobs).unwrap()).unwrap();
    run_reference("resample_ref.py", &["pillow", dir.path().to_str().unwrap()]);

    let mut failures = Vec::new();
    for (id, filter, photo, ow, oh, channels) in expected {
        let (s, src) = read_npy::<u8>(&dir.path().join(format!("src_{id}.npy")));
        let c = Case { id, filter, channels, iw: s[1], ih: s[0], ow, oh };
        let (_, want) = read_npy::<u8>(&dir.path().join(format!("out_{id}.npy")));
        let got = resize_ours(&src, &c);
        if got != want {
            let (agree, worst) = common::byte_agreement(&got, &want);
            failures.push(format!(
                "{filter:?} {} {}x{}x{channels} -> {ow}x{oh}: {:.4}% equal, worst {worst}",
                photo.file_name().unwrap().to_string_lossy(),
                c.iw,
                c.ih,
                agree * 100.0
            ));
        }
    }
    common::assert_no_failures(&failures, "differ from Pillow");
}

/// A smooth random map (sum of a few random bumps), like a segmentation output.
fn smooth_map(rng: &mut impl Rng, w: usize, h: usize) -> Vec<f32> {
    let bumps: Vec<(f32, f32, f32, f32)> = (0..6)
        .map(|_| {
            (
                rng.random::<f32>() * w as f32,
                rng.random::<f32>() * h as f32,
                0.05 + 0.3 * rng.random::<f32>(),
                rng.random::<f32>(),
            )
        })
        .collect();
    let mut v = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let mut s = 0.0f32;
            for &(cx, cy, r, a) in &bumps {
                let dx = (x as f32 - cx) / (r * w as f32);
                let dy = (y as f32 - cy) / (r * h as f32);
                s += a * (-(dx * dx + dy * dy)).exp();
            }
            v.push(1.0 / (1.0 + (-4.0 * (s - 0.5)).exp()));
        }
    }
    v
}

/// Largest difference between horizontally or vertically adjacent samples.
fn max_step(v: &[f32], w: usize, h: usize) -> f64 {
    let mut m = 0.0f64;
    for y in 0..h {
        for x in 0..w {
            let a = v[y * w + x] as f64;
            if x + 1 < w {
                m = m.max((a - v[y * w + x + 1] as f64).abs());
            }
            if y + 1 < h {
                m = m.max((a - v[(y + 1) * w + x] as f64).abs());
            }
        }
    }
    m
}

#[test]
fn torch_bilinear_matches_numpy_and_onnxruntime() {
    let seed = common::fresh_seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();

    // (in_w, in_h, out_w, out_h, smooth)
    let mut cases: Vec<(usize, usize, usize, usize, bool)> = Vec::new();
    for (w, h) in [(1086, 1448), (1122, 1402), (1448, 1086)] {
        cases.push((1024, 1024, w, h, false));
        cases.push((1024, 1024, w, h, true));
    }
    cases.extend([
        (1024, 1024, 1, 257, false),
        (1024, 1024, 257, 1, false),
        (1024, 1024, 1, 1, false),
        (1, 1, 5, 3, false),
        (1, 257, 40, 1024, true),
    ]);
    for _ in 0..12 {
        let iw = rng.random_range(1..=300);
        let ih = rng.random_range(1..=300);
        let (ow, oh) = (random_target(&mut rng, iw), random_target(&mut rng, ih));
        cases.push((iw, ih, ow, oh, rng.random_bool(0.5)));
    }

    let mut jobs = Vec::new();
    let mut maps = Vec::new();
    for (id, &(iw, ih, ow, oh, smooth)) in cases.iter().enumerate() {
        let m: Vec<f32> =
            if smooth { smooth_map(&mut rng, iw, ih) } else { (0..iw * ih).map(|_| rng.random::<f32>()).collect() };
        let name = format!("map_{id}.npy");
        write_npy(&dir.path().join(&name), &[ih, iw], &m);
        jobs.push(json!({"id": id, "src": name, "w": ow, "h": oh}));
        maps.push(m);
    }
    std::fs::write(dir.path().join("jobs.json"), serde_json::to_vec(&jobs).unwrap()).unwrap();
    run_reference("resample_ref.py", &["torch", dir.path().to_str().unwrap()]);

    let mut failures = Vec::new();
    for (id, (&(iw, ih, ow, oh, smooth), m)) in cases.iter().zip(&maps).enumerate() {
        let got = torch_bilinear(m, iw, ih, ow, oh);
        let (s, np_ref) = read_npy::<f32>(&dir.path().join(format!("np_{id}.npy")));
        assert_eq!(s, vec![oh, ow]);
        let (_, ort_ref) = read_npy::<f32>(&dir.path().join(format!("ort_{id}.npy")));
        let d_np = common::max_abs_diff(&got, &np_ref);
        let d_ort = common::max_abs_diff(&got, &ort_ref);
        // onnxruntime maps coordinates as (o+0.5)/(out/in)-0.5, torch as (o+0.5)·(in/out)-0.5,
        // both in f32: the source coordinate may differ by a few ulp of the input length, and the
        // result by that much times the local slope (~1e-4 on white noise, ~1e-7 on smooth maps).
        // The numpy model follows torch's formula and must agree to 1e-6 (it agrees exactly).
        let ort_tol = 1e-6 + 4.0 * f32::EPSILON as f64 * (iw.max(ih) as f64 + 1.0) * 2.0 * max_step(m, iw, ih);
        let label = format!("{iw}x{ih} -> {ow}x{oh} ({})", if smooth { "smooth" } else { "noise" });
        eprintln!("{label}: numpy {d_np:.2e}, onnxruntime {d_ort:.2e}");
        if d_np > 1e-6 {
            failures.push(format!("{label}: max abs {d_np:.3e} vs numpy torch model"));
        }
        if d_ort > ort_tol {
            failures.push(format!("{label}: max abs {d_ort:.3e} vs onnxruntime Resize (tolerance {ort_tol:.1e})"));
        }
    }
    common::assert_no_failures(&failures, format!("seed {seed}"));
}
