//! Parity of the ViTMatte trimap with the node's `generate_VITMatte_trimap` (cv2.erode/cv2.dilate
//! with iterations=5; docs/product.md §2.2: identical), on fresh random blob masks each run, and of the
//! `max_megapixels` size rule with the node's formula.
//!
//! Needs the reference venv (`scripts/pyref-venv.sh`, or RMBG_ULTRA_PYREF=/path/to/python).

use rmbg_ultra_test_support as common;

use common::*;
use image::{GrayImage, Luma};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rmbg_ultra::refine::vitmatte::target_size;
use rmbg_ultra::trimap::{dilate_rect, erode_rect, vitmatte_trimap, ITERATIONS};
use std::fmt::Write as _;

/// A binary 0/255 mask of random ellipses and rectangles, with holes and specks, touching the
/// borders now and then (the border rule matters there).
fn blob_mask(rng: &mut StdRng, w: u32, h: u32) -> GrayImage {
    let mut m = GrayImage::new(w, h);
    let shapes = rng.random_range(1..=6);
    for i in 0..shapes {
        let value = if i > 0 && rng.random_bool(0.3) { 0 } else { 255 };
        let cx = rng.random_range(-0.1..1.1) * w as f64;
        let cy = rng.random_range(-0.1..1.1) * h as f64;
        let rx = rng.random_range(0.02..0.5) * w as f64 + 0.5;
        let ry = rng.random_range(0.02..0.5) * h as f64 + 0.5;
        let ellipse = rng.random_bool(0.7);
        for y in 0..h {
            for x in 0..w {
                let (dx, dy) = ((x as f64 - cx) / rx, (y as f64 - cy) / ry);
                let inside = if ellipse { dx * dx + dy * dy <= 1.0 } else { dx.abs() <= 1.0 && dy.abs() <= 1.0 };
                if inside {
                    m.put_pixel(x, y, Luma([value]));
                }
            }
        }
    }
    for _ in 0..rng.random_range(0..(w * h / 200 + 2)) {
        let (x, y) = (rng.random_range(0..w), rng.random_range(0..h));
        let v = m.get_pixel(x, y)[0];
        m.put_pixel(x, y, Luma([255 - v]));
    }
    m
}

#[test]
fn trimap_matches_cv2_on_random_masks() {
    let seed = fresh_seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let ks = [1u32, 2, 3, 6, 7, 20];
    let mut cases = String::new();
    let mut ours = Vec::new();
    let mut n = 0;
    let mut add = |rng: &mut StdRng, w: u32, h: u32, erode: u32, dilate: u32, cases: &mut String| {
        let mask = blob_mask(rng, w, h);
        let name = format!("c{n}");
        n += 1;
        write_npy(&dir.path().join(format!("{name}.mask.npy")), &[h as usize, w as usize], mask.as_raw());
        writeln!(cases, "{name} {erode} {dilate}").unwrap();
        let eroded = erode_rect(&mask, erode, ITERATIONS);
        let dilated = dilate_rect(&mask, dilate, ITERATIONS);
        let trimap = vitmatte_trimap(&mask, erode, dilate);
        ours.push((name, format!("{w}x{h} erode {erode} dilate {dilate}"), eroded, dilated, trimap));
    };
    // Every k as erode, paired with a different k as dilate, on a fresh mask each.
    for (i, &e) in ks.iter().enumerate() {
        let d = ks[(i + 1 + rng.random_range(0..ks.len() - 1)) % ks.len()];
        assert_ne!(e, d);
        let (w, h) = (rng.random_range(40..260), rng.random_range(30..200));
        add(&mut rng, w, h, e, d, &mut cases);
    }
    // Degenerate shapes and kernels wider than the image.
    for (w, h, e, d) in [(1, 1, 3, 2), (1, 37, 6, 7), (53, 1, 2, 20), (9, 7, 20, 6), (64, 48, 255, 2)] {
        add(&mut rng, w, h, e, d, &mut cases);
    }
    // A few random pairs in the node's range.
    for _ in 0..4 {
        let (e, d) = (rng.random_range(1..=30), rng.random_range(1..=30));
        let (w, h) = (rng.random_range(20..300), rng.random_range(20..300));
        add(&mut rng, w, h, e, d, &mut cases);
    }
    std::fs::write(dir.path().join("cases.txt"), &cases).unwrap();
    run_reference("trimap_ref.py", &[dir.path().to_str().unwrap()]);

    let mut failures = Vec::new();
    for (name, what, eroded, dilated, trimap) in &ours {
        for (kind, got) in [("eroded", eroded), ("dilated", dilated), ("trimap", trimap)] {
            let (shape, want) = read_npy::<u8>(&dir.path().join(format!("{name}.{kind}.npy")));
            assert_eq!(shape, vec![got.height() as usize, got.width() as usize], "{what} {kind}");
            let (same, worst) = byte_agreement(got.as_raw(), &want);
            if same < 1.0 {
                failures.push(format!("{what}: {kind} differs on {:.3}% of pixels (max {worst})", 100.0 * (1.0 - same)));
            }
        }
        assert!(trimap.as_raw().iter().all(|&v| v == 0 || v == 127 || v == 255));
    }
    eprintln!("{} trimap cases vs cv2", ours.len());
    common::assert_no_failures(&failures, format!("seed {seed}"));
}

#[test]
fn target_sizes_match_the_node() {
    assert_eq!(target_size(4000, 3000, 2.0), Some((1672, 1254)));
    assert_eq!(target_size(1920, 1080, 2.0), None);
    assert_eq!(target_size(2048, 1024, 2.0), None, "exactly 2 MP is not over the limit");
    assert_eq!(target_size(2049, 1024, 2.0), Some((2048, 1023)));

    let seed = fresh_seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut cases = Vec::new();
    for _ in 0..300 {
        let w = rng.random_range(1..12000u32);
        let h = rng.random_range(1..12000u32);
        let mp = if rng.random_bool(0.5) { rng.random_range(10..=9990) as f64 / 10.0 } else { rng.random_range(1.0..40.0) };
        let t = target_size(w, h, mp);
        if let Some((tw, th)) = t {
            // The 1-pixel floor is our departure where Pillow would raise; keep such cases out.
            if (w as f64 / h as f64) > 1e5 || (h as f64 / w as f64) > 1e5 || tw <= 1 || th <= 1 {
                continue;
            }
        }
        cases.push((w, h, mp, t));
    }
    let dir = tempfile::tempdir().unwrap();
    let input: String = cases.iter().map(|(w, h, mp, _)| format!("{w} {h} {mp}\n")).collect();
    std::fs::write(dir.path().join("in.txt"), input).unwrap();
    let out = dir.path().join("out.txt");
    run_reference("vitmatte_ref.py", &["--target-sizes", dir.path().join("in.txt").to_str().unwrap(), out.to_str().unwrap()]);
    let lines: Vec<String> = std::fs::read_to_string(&out).unwrap().lines().map(str::to_string).collect();
    assert_eq!(lines.len(), cases.len());
    let resized = cases.iter().filter(|c| c.3.is_some()).count();
    for ((w, h, mp, ours), theirs) in cases.iter().zip(&lines) {
        let ours_txt = match ours {
            Some((tw, th)) => format!("{tw} {th}"),
            None => "none".into(),
        };
        assert_eq!(&ours_txt, theirs, "seed {seed}: {w}x{h} @ {mp}");
    }
    eprintln!("{} sizes ({resized} over the limit) agree with the node's formula", cases.len());
}
