//! Times the ViTMatte stage (docs/node-behaviour.md §7.2: size limit, processor, model, crop, u8,
//! resize back) with ONNX Runtime. Driven by bench/bench_vitmatte.py, which runs transformers on
//! the same inputs; not a test.
//!
//! ```text
//! cargo build --release -p rmbg-ultra --example bench_vitmatte
//! ORT_DYLIB_PATH=… target/release/examples/bench_vitmatte MODEL.onnx CASE_DIR [--runs N] [--max-megapixels MP]
//! ```
//!
//! CASE_DIR holds `image.npy` (u8 H×W×3) and `trimap.npy` (u8 H×W). Writes CASE_DIR/ours.npy (the
//! u8 alpha) and prints one JSON line: load seconds, the first call (warm-up), the median and
//! minimum wall time of the timed calls and their median CPU time (user + sys, all threads), the
//! peak RSS of the process (VmHWM) and the RSS after loading.

use image::{GrayImage, RgbImage};
use rmbg_ultra::refine::vitmatte::VitMatteSession;
use rmbg_ultra::Device;
use std::path::Path;
use std::time::Instant;

use rmbg_ultra_test_support as common;

/// User + system CPU time of the process so far, 0 where /proc does not say.
fn cpu_seconds() -> f64 {
    common::process::cpu_seconds().unwrap_or(0.0)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!("usage: bench_vitmatte MODEL.onnx CASE_DIR [--runs N] [--max-megapixels MP]");
        std::process::exit(2);
    }
    let (model, dir) = (Path::new(&args[1]), Path::new(&args[2]));
    let mut runs = 3usize;
    let mut max_mp = 2.0f64;
    let mut rest = args[3..].iter();
    while let Some(a) = rest.next() {
        match a.as_str() {
            "--runs" => runs = rest.next().and_then(|v| v.parse().ok()).expect("--runs N"),
            "--max-megapixels" => max_mp = rest.next().and_then(|v| v.parse().ok()).expect("--max-megapixels MP"),
            other => panic!("unknown argument {other}"),
        }
    }
    let (shape, data) = common::read_npy::<u8>(&dir.join("image.npy"));
    let image = RgbImage::from_raw(shape[1] as u32, shape[0] as u32, data).unwrap();
    let (tshape, tdata) = common::read_npy::<u8>(&dir.join("trimap.npy"));
    let trimap = GrayImage::from_raw(tshape[1] as u32, tshape[0] as u32, tdata).unwrap();

    let t = Instant::now();
    let session = VitMatteSession::load(model, "vitmatte", Device::Cpu, true).unwrap_or_else(|e| panic!("{e}"));
    let load_s = t.elapsed().as_secs_f64();
    let rss_loaded = common::process::status_kb("VmRSS:");

    let t = Instant::now();
    let alpha = session.estimate_alpha(&image, &trimap, max_mp).unwrap_or_else(|e| panic!("{e}"));
    let first_s = t.elapsed().as_secs_f64();
    let mut times = Vec::new();
    let mut cpu = Vec::new();
    for _ in 0..runs {
        let (t, c) = (Instant::now(), cpu_seconds());
        let a = session.estimate_alpha(&image, &trimap, max_mp).unwrap();
        times.push(t.elapsed().as_secs_f64());
        cpu.push(cpu_seconds() - c);
        assert_eq!(a, alpha, "results differ between runs");
    }
    times.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    common::write_npy(&dir.join("ours.npy"), &[alpha.height() as usize, alpha.width() as usize], alpha.as_raw());
    let median = if times.is_empty() { first_s } else { times[times.len() / 2] };
    let min = times.first().copied().unwrap_or(first_s);
    println!(
        "{}",
        serde_json::json!({
            "width": image.width(), "height": image.height(), "max_megapixels": max_mp,
            "load_seconds": load_s, "first_seconds": first_s, "seconds": median, "min_seconds": min,
            "cpu_seconds": cpu.get(cpu.len() / 2).copied(), "runs": runs, "peak_rss_kb": common::process::peak_rss_kb(), "rss_after_load_kb": rss_loaded,
        })
    );
}
