//! Parity of the "PyMatting" detail method with the libraries the node uses: cv2.GaussianBlur,
//! pymatting.estimate_alpha_cf and the node's `mask_edge_detail`, on fresh random inputs each run
//! and on real images. The reference side is reference/pymatting_ref.py (one process per test).

use rmbg_ultra_test_support as common;

use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rmbg_ultra::refine::pymatting::{estimate_alpha_cf, estimate_alpha_cf_with, gaussian_blur, mask_edge_detail, EPSILON};
use serde_json::{json, Value};
use std::path::Path;

/// Writes the manifest, runs the reference once over all cases, returns its stdout.
fn run_cases(dir: &Path, cases: &[Value]) -> String {
    std::fs::write(dir.join("manifest.json"), serde_json::to_string_pretty(cases).unwrap()).unwrap();
    let out = run_reference("pymatting_ref.py", &[dir.to_str().unwrap()]);
    eprint!("{out}");
    out
}

/// The reference's result for `name`: Ok(array) or Err(its exception text).
fn reference_f64(dir: &Path, name: &str) -> Result<(Vec<usize>, Vec<f64>), String> {
    let err = dir.join(format!("{name}.err"));
    if err.exists() {
        return Err(std::fs::read_to_string(err).unwrap());
    }
    Ok(read_npy::<f64>(&dir.join(name)))
}

fn reference_u8(dir: &Path, name: &str) -> Result<(Vec<usize>, Vec<u8>), String> {
    let err = dir.join(format!("{name}.err"));
    if err.exists() {
        return Err(std::fs::read_to_string(err).unwrap());
    }
    Ok(read_npy::<u8>(&dir.join(name)))
}

/// A smooth random field in about [0, 1]: a few low-frequency waves.
fn smooth_field(rng: &mut StdRng, w: usize, h: usize, waves: usize) -> Vec<f64> {
    let params: Vec<[f64; 4]> = (0..waves)
        .map(|_| [rng.random_range(-6.0..6.0), rng.random_range(-6.0..6.0), rng.random_range(0.0..6.3), rng.random_range(0.3..1.0)])
        .collect();
    let total: f64 = params.iter().map(|p| p[3]).sum();
    let mut f = Vec::with_capacity(w * h);
    for y in 0..h {
        for x in 0..w {
            let (u, v) = (x as f64 / w as f64, y as f64 / h as f64);
            let s: f64 = params.iter().map(|p| p[3] * (p[0] * u + p[1] * v + p[2]).sin()).sum();
            f.push(0.5 + 0.5 * s / total);
        }
    }
    f
}

/// A smooth colour image with a little noise, values in [0, 1].
fn smooth_image(rng: &mut StdRng, w: usize, h: usize) -> Vec<f64> {
    let chans: Vec<Vec<f64>> = (0..3).map(|_| smooth_field(rng, w, h, 3)).collect();
    let noise = rng.random_range(0.0..0.03);
    (0..w * h)
        .flat_map(|p| chans.iter().map(move |c| c[p]).collect::<Vec<_>>())
        .map(|v| (0.05 + 0.9 * v + rng.random_range(-noise..=noise)).clamp(0.0, 1.0))
        .collect()
}

/// A trimap from a smooth field: its top 35 % foreground, bottom 35 % background, the rest
/// unknown; known and unknown values are not always exactly 0/½/1, so the "keep the trimap's
/// known values" rule is tested too.
fn random_trimap(rng: &mut StdRng, w: usize, h: usize) -> Vec<f64> {
    let f = smooth_field(rng, w, h, 2);
    let mut sorted = f.clone();
    sorted.sort_by(f64::total_cmp);
    let (lo, hi) = (sorted[sorted.len() * 35 / 100], sorted[sorted.len() * 65 / 100]);
    let exact = rng.random_bool(0.5);
    f.iter()
        .map(|&v| {
            if v > hi {
                if exact {
                    1.0
                } else {
                    0.95
                }
            } else if v < lo {
                if exact {
                    0.0
                } else {
                    0.05
                }
            } else if exact {
                0.5
            } else {
                0.2 + 0.6 * (v - lo) / (hi - lo)
            }
        })
        .collect()
}

#[test]
fn gaussian_blur_matches_cv2() {
    let seed = fresh_seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut cases = Vec::new();
    let mut inputs = Vec::new();
    let mut sizes: Vec<(usize, usize)> = vec![(1, 1), (1, 9), (13, 1), (2, 3), (5, 4)];
    sizes.extend((0..8).map(|_| (rng.random_range(1..90), rng.random_range(1..90))));
    sizes.push((rng.random_range(300..700), rng.random_range(200..500)));
    for (n, &(w, h)) in sizes.iter().enumerate() {
        for &k in &[7usize, 11, 17, 21, 57] {
            let binary = rng.random_bool(0.5);
            let src: Vec<f64> =
                (0..w * h).map(|_| if binary { rng.random_range(0..2) as f64 } else { rng.random_range(0.0..1.0) }).collect();
            let name = format!("blur{n}_{k}");
            write_npy(&dir.path().join(format!("{name}_src.npy")), &[h, w], &src);
            cases.push(json!({"kind": "blur", "src": format!("{name}_src.npy"), "k": k, "out": format!("{name}.npy")}));
            inputs.push((name, w, h, k, src));
        }
    }
    run_cases(dir.path(), &cases);
    let mut worst = 0.0f64;
    for (name, w, h, k, src) in inputs {
        let (shape, want) = reference_f64(dir.path(), &format!("{name}.npy")).unwrap();
        assert_eq!(shape, vec![h, w]);
        let got = gaussian_blur(&src, w, h, k);
        let d = max_abs_diff(&got, &want);
        assert!(d <= 1e-12, "{name} ({w}×{h}, k={k}): max abs {d:e} (seed {seed})");
        worst = worst.max(d);
    }
    eprintln!("blur: worst max abs {worst:e}");
}

#[test]
fn estimate_alpha_cf_matches_pymatting_on_random_images() {
    let seed = fresh_seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let mut sizes = vec![(37usize, 53usize), (53, 37)];
    sizes.extend((0..4).map(|_| (rng.random_range(8..140), rng.random_range(8..140))));
    let mut cases = Vec::new();
    let mut inputs = Vec::new();
    for (n, &(w, h)) in sizes.iter().enumerate() {
        let img = smooth_image(&mut rng, w, h);
        let tri = random_trimap(&mut rng, w, h);
        let name = format!("alpha{n}");
        write_npy(&dir.path().join(format!("{name}_img.npy")), &[h, w, 3], &img);
        write_npy(&dir.path().join(format!("{name}_tri.npy")), &[h, w], &tri);
        cases.push(
            json!({"kind": "alpha", "image": format!("{name}_img.npy"), "trimap": format!("{name}_tri.npy"), "out": format!("{name}.npy")}),
        );
        inputs.push((name, w, h, img, tri));
    }
    run_cases(dir.path(), &cases);
    for (name, w, h, img, tri) in inputs {
        let ours = estimate_alpha_cf_with(&img, &tri, w, h, EPSILON);
        match (reference_f64(dir.path(), &format!("{name}.npy")), ours) {
            (Ok((shape, want)), Ok((got, rep))) => {
                assert_eq!(shape, vec![h, w]);
                let d = max_abs_diff(&got, &want);
                eprintln!("{name} {w}×{h}: {} unknowns, {} CG iterations, max abs {d:e}", rep.unknowns, rep.iterations);
                assert!(d <= 1e-3, "{name} ({w}×{h}): alpha max abs {d:e} (seed {seed})");
            }
            (Err(py), Err(rs)) => eprintln!("{name} {w}×{h}: both fail: pymatting {py} / ours {rs}"),
            (py, rs) => panic!("{name} ({w}×{h}, seed {seed}): pymatting {:?} but ours {:?}", py.map(|_| "ok"), rs.map(|_| "ok")),
        }
    }
}

/// Reads an RGBA PNG of grey values as one channel (R = G = B, as `convert("L")` keeps them).
fn grey_png(path: &Path) -> (usize, usize, Vec<u8>) {
    let img = image::open(path).unwrap().to_rgba8();
    let v = img.pixels().map(|p| {
        assert!(p.0[0] == p.0[1] && p.0[1] == p.0[2], "{} is not grey", path.display());
        p.0[0]
    });
    (img.width() as usize, img.height() as usize, v.collect())
}

#[test]
fn estimate_alpha_cf_matches_pymatting_on_the_lemur() {
    let dir = tempfile::tempdir().unwrap();
    let rgb = image::open(testdata("lemur/lemur.png")).unwrap().to_rgb8();
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    // pymatting's load_image: u8 / 255.0 in f64.
    let img: Vec<f64> = rgb.as_raw().iter().map(|&v| v as f64 / 255.0).collect();
    let (tw, th, tri_u8) = grey_png(&testdata("lemur/lemur_trimap.png"));
    assert_eq!((tw, th), (w, h));
    let tri: Vec<f64> = tri_u8.iter().map(|&v| v as f64 / 255.0).collect();
    write_npy(&dir.path().join("img.npy"), &[h, w, 3], &img);
    write_npy(&dir.path().join("tri.npy"), &[h, w], &tri);
    run_cases(dir.path(), &[json!({"kind": "alpha", "image": "img.npy", "trimap": "tri.npy", "out": "alpha.npy"})]);
    let (_, want) = reference_f64(dir.path(), "alpha.npy").unwrap();
    let t0 = std::time::Instant::now();
    let (got, rep) = estimate_alpha_cf_with(&img, &tri, w, h, EPSILON).unwrap();
    let d = max_abs_diff(&got, &want);
    eprintln!(
        "lemur: {} unknowns, {} CG iterations, {:.3} s, max abs vs pymatting {d:e}",
        rep.unknowns,
        rep.iterations,
        t0.elapsed().as_secs_f64()
    );
    assert!(d <= 1e-3, "lemur alpha max abs {d:e}");
    // The stored lemur_alpha.png is pymatting's alpha with its own default ε = 1e-7, as 8 bits
    // (it differs from the node's ε = 1e-6 result by up to 30 levels): ours with that ε agrees to
    // quantisation, independently of the live reference.
    let (aw, ah, stored) = grey_png(&testdata("lemur/lemur_alpha.png"));
    assert_eq!((aw, ah), (w, h));
    let (got7, _) = estimate_alpha_cf_with(&img, &tri, w, h, 1e-7).unwrap();
    let worst = got7.iter().zip(&stored).map(|(a, &s)| (a * 255.0 - s as f64).abs()).fold(0.0, f64::max);
    eprintln!("lemur: ε = 1e-7 alpha vs lemur_alpha.png: worst {worst:.3}/255");
    assert!(worst < 2.0, "vs lemur_alpha.png: {worst}/255");
}

/// A binary ellipse mask, rotated, covering a good part of the frame.
fn ellipse_mask(rng: &mut StdRng, w: u32, h: u32) -> image::GrayImage {
    let (cx, cy) = (w as f64 * rng.random_range(0.4..0.6), h as f64 * rng.random_range(0.4..0.6));
    let (ax, ay) = (w as f64 * rng.random_range(0.22..0.35), h as f64 * rng.random_range(0.22..0.35));
    let th: f64 = rng.random_range(0.0..std::f64::consts::PI);
    let (c, s) = (th.cos(), th.sin());
    image::GrayImage::from_fn(w, h, |x, y| {
        let (dx, dy) = (x as f64 - cx, y as f64 - cy);
        let (u, v) = (c * dx + s * dy, -s * dx + c * dy);
        image::Luma([if (u / ax).powi(2) + (v / ay).powi(2) <= 1.0 { 255 } else { 0 }])
    })
}

struct NodeCase {
    name: String,
    image: image::RgbImage,
    mask: image::GrayImage,
    detail_range: u32,
    black_point: f64,
    white_point: f64,
}

fn node_case_json(dir: &Path, c: &NodeCase) -> Value {
    let (w, h) = (c.image.width() as usize, c.image.height() as usize);
    write_npy(&dir.join(format!("{}_img.npy", c.name)), &[h, w, 3], c.image.as_raw());
    write_npy(&dir.join(format!("{}_mask.npy", c.name)), &[h, w], c.mask.as_raw());
    json!({"kind": "node", "image": format!("{}_img.npy", c.name), "mask": format!("{}_mask.npy", c.name),
           "detail_range": c.detail_range, "black_point": c.black_point, "white_point": c.white_point,
           "out": format!("{}.npy", c.name)})
}

#[test]
fn mask_edge_detail_matches_the_node_on_a_photo() {
    let seed = fresh_seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let photos = photos();
    let photo = &photos[rng.random_range(0..photos.len())];
    let image = image::open(photo).unwrap().to_rgb8();
    let mask = ellipse_mask(&mut rng, image.width(), image.height());
    let cases = vec![
        NodeCase {
            name: "defaults".into(),
            image: image.clone(),
            mask: mask.clone(),
            detail_range: 12,
            black_point: 0.01,
            white_point: 0.99,
        },
        NodeCase {
            name: "random".into(),
            image,
            mask,
            detail_range: rng.random_range(2..=40),
            black_point: (rng.random_range(1..=30) as f64) / 100.0,
            white_point: (rng.random_range(70..=99) as f64) / 100.0,
        },
    ];
    let manifest: Vec<Value> = cases.iter().map(|c| node_case_json(dir.path(), c)).collect();
    run_cases(dir.path(), &manifest);
    for c in &cases {
        let (_, want) = reference_u8(dir.path(), &format!("{}.npy", c.name)).unwrap();
        let t0 = std::time::Instant::now();
        let got = mask_edge_detail(&c.image, &c.mask, c.detail_range, c.black_point, c.white_point).unwrap();
        let secs = t0.elapsed().as_secs_f64();
        let sum: u64 = got.as_raw().iter().zip(&want).map(|(&a, &b)| a.abs_diff(b) as u64).sum();
        // In u8 levels; the contract is mean abs ≤ 0.5/255 on the [0, 1] scale, i.e. 0.5 levels.
        let mean = sum as f64 / want.len() as f64;
        let (equal, worst) = byte_agreement(got.as_raw(), &want);
        // The soft band is a few % of the frame: check it on its own too, so that a systematic
        // error there (rounding instead of truncating, say) cannot hide in the average.
        let band: Vec<(u8, u8)> =
            got.as_raw().iter().zip(&want).filter(|(&a, &b)| !(a == b && (a == 0 || a == 255))).map(|(&a, &b)| (a, b)).collect();
        let band_equal = band.iter().filter(|(a, b)| a == b).count() as f64 / band.len().max(1) as f64;
        eprintln!(
            "{} on {} (range {}, points {}/{}): {secs:.3} s, mean abs {mean:.2e} levels, {:.5}% equal, worst {worst}; \
             band of {} px {:.4}% equal",
            c.name,
            photo.file_name().unwrap().to_string_lossy(),
            c.detail_range,
            c.black_point,
            c.white_point,
            100.0 * equal,
            band.len(),
            100.0 * band_equal
        );
        assert!(mean <= 0.5, "{}: mean abs {mean} u8 levels on {} (seed {seed})", c.name, photo.display());
        assert!(band_equal >= 0.99, "{}: only {band_equal} of the soft band is identical (seed {seed})", c.name);
        assert!(want.iter().any(|&v| v > 0 && v < 255), "the case has soft edges");
    }
}

#[test]
fn errors_match_the_node() {
    let seed = fresh_seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let (w, h) = (48u32, 40u32);
    let img = smooth_image(&mut rng, w as usize, h as usize);
    let image = image::RgbImage::from_fn(w, h, |x, y| {
        let p = ((y * w + x) * 3) as usize;
        image::Rgb([0, 1, 2].map(|c| (img[p + c] * 255.0) as u8))
    });
    let mask = ellipse_mask(&mut rng, w, h);
    let thin = image::RgbImage::from_fn(w, 2, |x, _| image::Rgb([x as u8 * 5, 100, 200]));
    let thin_mask = image::GrayImage::from_fn(w, 2, |x, _| image::Luma([if x > w / 2 { 255 } else { 0 }]));
    // (case, what our message must say, what pymatting's must say)
    let cases = vec![
        (
            NodeCase {
                name: "bp_above_wp".into(),
                image: image.clone(),
                mask: mask.clone(),
                detail_range: 12,
                black_point: 0.8,
                white_point: 0.3,
            },
            vec!["0.8", "0.3", "black_point"],
            "Lower threshold must be smaller",
        ),
        (
            NodeCase {
                name: "empty".into(),
                image: image.clone(),
                mask: image::GrayImage::new(w, h),
                detail_range: 12,
                black_point: 0.01,
                white_point: 0.99,
            },
            vec!["no foreground", "empty", "detail method"],
            "did not contain foreground",
        ),
        (
            NodeCase {
                name: "full".into(),
                image: image.clone(),
                mask: image::GrayImage::from_pixel(w, h, image::Luma([255])),
                detail_range: 12,
                black_point: 0.01,
                white_point: 0.99,
            },
            vec!["no background", "whole image", "detail method"],
            "did not contain background",
        ),
        (
            NodeCase {
                name: "no_unknown".into(),
                image: image.clone(),
                mask: mask.clone(),
                detail_range: 12,
                black_point: 0.37,
                white_point: 0.37,
            },
            vec!["no unknown pixel", "500"],
            "did not converge within 500",
        ),
        (
            NodeCase { name: "two_rows".into(), image: thin, mask: thin_mask, detail_range: 2, black_point: 0.01, white_point: 0.99 },
            vec!["did not converge", "500"],
            "did not converge within 500",
        ),
    ];
    let mut manifest: Vec<Value> = cases.iter().map(|(c, _, _)| node_case_json(dir.path(), c)).collect();
    // estimate_alpha_cf directly: unknown pixels that share no window with the foreground.
    let (aw, ah) = (20usize, 12usize);
    let aimg = smooth_image(&mut rng, aw, ah);
    let atri: Vec<f64> = (0..aw * ah)
        .map(|p| match p % aw {
            0..=2 => 0.5,
            19 => 1.0,
            _ => 0.0,
        })
        .collect();
    write_npy(&dir.path().join("zero_rhs_img.npy"), &[ah, aw, 3], &aimg);
    write_npy(&dir.path().join("zero_rhs_tri.npy"), &[ah, aw], &atri);
    manifest.push(json!({"kind": "alpha", "image": "zero_rhs_img.npy", "trimap": "zero_rhs_tri.npy", "out": "zero_rhs.npy"}));
    run_cases(dir.path(), &manifest);

    for (c, ours_says, py_says) in &cases {
        let py = reference_u8(dir.path(), &format!("{}.npy", c.name)).expect_err(&format!("pymatting succeeded on {}", c.name));
        assert!(py.contains(py_says), "{}: pymatting said {py}", c.name);
        let ours = mask_edge_detail(&c.image, &c.mask, c.detail_range, c.black_point, c.white_point)
            .expect_err(&format!("we succeeded on {} where the node fails", c.name))
            .to_string();
        assert!(ours.starts_with("PyMatting: "), "{ours}");
        for s in ours_says {
            assert!(ours.contains(s), "{}: {ours:?} should mention {s:?}", c.name);
        }
        eprintln!("{}:\n  pymatting: {py}\n  ours:      {ours}", c.name);
    }
    let py = reference_f64(dir.path(), "zero_rhs.npy").expect_err("pymatting converged on a zero system");
    assert!(py.contains("did not converge"), "{py}");
    let ours = estimate_alpha_cf(&aimg, &atri, aw, ah).unwrap_err().to_string();
    assert!(ours.contains("did not converge") && ours.contains("foreground"), "{ours}");
}
