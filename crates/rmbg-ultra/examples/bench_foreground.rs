//! Times foreground estimation: the multi-level port (sequential, the default, and pipelined over
//! all cores), blur-fusion
//! and the u8 wrapper, and pymatting's `estimate_foreground_ml` side by side on the same input.
//!
//! ```text
//! cargo build --release -p rmbg-ultra --example bench_foreground
//! target/release/examples/bench_foreground [--image PATH --alpha PATH | --size WxH] [--iters N]
//!     [--python PATH | --no-python]
//! ```
//!
//! Without `--image` a WxH (default 1448x1448, ~2 MP) textured test card is generated with a disc
//! matte whose rim is soft over 40 px; `--image`/`--alpha` are resized to `--size` when one is
//! given. pymatting runs warm (numba compiled by a first call) in the reference venv
//! (`.venv-ref/bin/python`, or `--python`) through `reference/foreground_ref.py --bench`, in its own
//! process. Prints one JSON line: median and min seconds per call of each, `ratio_ml` (pymatting
//! seconds / ours), and `peak_rss_kb` of this process (VmHWM, before pymatting's process starts)
//! next to pymatting's.

use rmbg_ultra_test_support as common;

use image::{imageops, GrayImage, Luma, Rgb, RgbImage};
use rmbg_ultra::foreground::{blur_fusion, estimate_foreground, estimate_foreground_ml, BlurFusionOptions, ForegroundMethod, MlOptions};
use rmbg_ultra::remap::u8_to_unit;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn usage() -> ! {
    eprintln!("usage: bench_foreground [--image PATH --alpha PATH | --size WxH] [--iters N] [--python PATH | --no-python]");
    std::process::exit(2)
}

/// Median and minimum seconds of `iters` calls after one warm-up call.
fn time<T>(iters: usize, mut f: impl FnMut() -> T) -> (f64, f64) {
    drop(f());
    let mut times: Vec<f64> = (0..iters)
        .map(|_| {
            let t = Instant::now();
            let out = f();
            let s = t.elapsed().as_secs_f64();
            drop(out);
            s
        })
        .collect();
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[0])
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let (mut image_path, mut alpha_path, mut size) = (None, None, None);
    let mut iters = 5usize;
    let mut python = Some(root.join(".venv-ref/bin/python"));
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--image" => image_path = Some(val()),
            "--alpha" => alpha_path = Some(val()),
            "--size" => {
                let v = val();
                let (a, b) = v.split_once('x').unwrap_or_else(|| usage());
                size = Some((a.parse::<u32>().unwrap_or_else(|_| usage()), b.parse::<u32>().unwrap_or_else(|_| usage())));
            }
            "--iters" => iters = val().parse::<usize>().unwrap_or_else(|_| usage()).max(1),
            "--python" => python = Some(PathBuf::from(val())),
            "--no-python" => python = None,
            _ => usage(),
        }
    }

    let (img, matte) = match (&image_path, &alpha_path) {
        (Some(i), Some(a)) => {
            let mut img = image::open(i).unwrap_or_else(|e| panic!("{i}: {e}")).to_rgb8();
            let mut matte = image::open(a).unwrap_or_else(|e| panic!("{a}: {e}")).to_luma8();
            if let Some((w, h)) = size {
                img = imageops::resize(&img, w, h, imageops::FilterType::CatmullRom);
                matte = imageops::resize(&matte, w, h, imageops::FilterType::CatmullRom);
            }
            (img, matte)
        }
        (None, None) => {
            let (w, h) = size.unwrap_or((1448, 1448));
            let img = RgbImage::from_fn(w, h, |x, y| {
                let n = (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503)) >> 27;
                Rgb([(x * 255 / w) as u8 ^ n as u8, (y * 255 / h) as u8, ((x + y) % 256) as u8])
            });
            let (cx, cy, r) = (w as f32 / 2.0, h as f32 / 2.0, w.min(h) as f32 * 0.35);
            let matte = GrayImage::from_fn(w, h, |x, y| {
                let d = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt();
                Luma([(((r - d) / 40.0 + 0.5).clamp(0.0, 1.0) * 255.0).round() as u8])
            });
            (img, matte)
        }
        _ => usage(),
    };
    assert_eq!(img.dimensions(), matte.dimensions(), "alpha size differs from the image");
    let (w, h) = (img.width() as usize, img.height() as usize);
    let unit: Vec<f32> = img.as_raw().iter().map(|&v| u8_to_unit(v)).collect();
    let alpha: Vec<f32> = matte.as_raw().iter().map(|&v| u8_to_unit(v)).collect();

    let ml = time(iters, || estimate_foreground_ml(&unit, &alpha, w, h, &MlOptions::default()));
    let ml_pipe = time(iters, || estimate_foreground_ml(&unit, &alpha, w, h, &MlOptions { threads: 0, ..Default::default() }));
    let blur = time(iters, || blur_fusion(&unit, &alpha, w, h, &BlurFusionOptions::default()));
    let ml_u8 = time(iters, || estimate_foreground(&img, &alpha, ForegroundMethod::Ml));
    let blur_u8 = time(iters, || estimate_foreground(&img, &alpha, ForegroundMethod::BlurFusion));
    let our_rss = common::process::peak_rss_kb();

    let pymatting: Option<serde_json::Value> = python.filter(|p| p.exists()).map(|py| {
        let dir = tempfile::tempdir().unwrap();
        let (ip, ap) = (dir.path().join("image.npy"), dir.path().join("alpha.npy"));
        common::write_npy(&ip, &[h, w, 3], &unit);
        common::write_npy(&ap, &[h, w], &alpha);
        let out = Command::new(&py)
            .arg(root.join("reference/foreground_ref.py"))
            .args(["--bench", ip.to_str().unwrap(), ap.to_str().unwrap(), &iters.to_string()])
            .output()
            .expect("start reference python");
        assert!(out.status.success(), "foreground_ref.py --bench failed:\n{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_str(String::from_utf8_lossy(&out.stdout).trim().lines().last().unwrap()).unwrap()
    });
    let ratio = |ours: (f64, f64)| pymatting.as_ref().and_then(|p| p["seconds"].as_f64()).map(|s| s / ours.0);

    let json = serde_json::json!({
        "width": w,
        "height": h,
        "runs": iters,
        "threads": rayon::current_num_threads(),
        "ml_seconds": ml.0,
        "ml_min_seconds": ml.1,
        "ml_pipelined_seconds": ml_pipe.0,
        "ml_pipelined_min_seconds": ml_pipe.1,
        "blur_fusion_seconds": blur.0,
        "blur_fusion_min_seconds": blur.1,
        "estimate_foreground_ml_u8_seconds": ml_u8.0,
        "estimate_foreground_blur_u8_seconds": blur_u8.0,
        "pymatting": pymatting,
        "ratio_ml": ratio(ml),
        "ratio_ml_pipelined": ratio(ml_pipe),
        "ratio_blur_fusion_vs_pymatting_ml": ratio(blur),
        "peak_rss_kb": our_rss,
    });
    println!("{json}");
}
