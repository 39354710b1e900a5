//! Times the guided filter the way the node runs it (u8 image as guide, binary mask as source).
//!
//! ```text
//! cargo build --release -p rmbg-ultra --example bench_guided_filter
//! target/release/examples/bench_guided_filter [--image PATH | --size WxH] [--mask PATH]
//!     [--radius R] [--eps E] [--iters N] [--f32]
//! ```
//!
//! Without `--image` a WxH (default 2300x1740, ~4 MP) test card is generated. Without `--mask` the
//! mask is a centred disc. `--radius` is OpenCV's radius (default 5, the node's default);
//! `--f32` times the f32 API on `u8/255` copies instead of the u8 wrapper. Prints one JSON line:
//! `{"seconds": median per run, "min_seconds", "cpu_seconds" (user+sys per run), "runs", "width", "height", "radius", "eps",
//! "api", "peak_rss_kb"}` (peak RSS of the whole process, from /proc/self/status VmHWM).

use rmbg_ultra_test_support::process::{cpu_seconds, peak_rss_kb};

use image::{GrayImage, Luma, Rgb, RgbImage};
use rmbg_ultra::refine::guided_filter::{guided_filter, guided_filter_u8, NODE_EPS};
use rmbg_ultra::remap::u8_to_unit;
use std::time::Instant;

fn usage() -> ! {
    eprintln!("usage: bench_guided_filter [--image PATH | --size WxH] [--mask PATH] [--radius R] [--eps E] [--iters N] [--f32]");
    std::process::exit(2)
}

fn main() {
    let mut image_path = None;
    let mut mask_path = None;
    let (mut w, mut h) = (2300u32, 1740u32);
    let (mut radius, mut eps, mut iters, mut f32_api) = (5usize, NODE_EPS, 5usize, false);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--image" => image_path = Some(val()),
            "--mask" => mask_path = Some(val()),
            "--size" => {
                let v = val();
                let (a, b) = v.split_once('x').unwrap_or_else(|| usage());
                (w, h) = (a.parse().unwrap_or_else(|_| usage()), b.parse().unwrap_or_else(|_| usage()));
            }
            "--radius" => radius = val().parse().unwrap_or_else(|_| usage()),
            "--eps" => eps = val().parse().unwrap_or_else(|_| usage()),
            "--iters" => iters = val().parse::<usize>().unwrap_or_else(|_| usage()).max(1),
            "--f32" => f32_api = true,
            _ => usage(),
        }
    }

    let img: RgbImage = match &image_path {
        Some(p) => image::open(p).unwrap_or_else(|e| panic!("{p}: {e}")).to_rgb8(),
        None => RgbImage::from_fn(w, h, |x, y| {
            // Smooth gradients with a hashed texture: realistic variance, deterministic.
            let n = (x.wrapping_mul(2654435761) ^ y.wrapping_mul(40503)) >> 27;
            Rgb([(x * 255 / w) as u8 ^ n as u8, (y * 255 / h) as u8, ((x + y) % 256) as u8])
        }),
    };
    (w, h) = img.dimensions();
    let mask: GrayImage = match &mask_path {
        Some(p) => image::open(p).unwrap_or_else(|e| panic!("{p}: {e}")).to_luma8(),
        None => {
            let (cx, cy, r) = (w as f32 / 2.0, h as f32 / 2.0, w.min(h) as f32 * 0.35);
            GrayImage::from_fn(w, h, |x, y| Luma([if (x as f32 - cx).powi(2) + (y as f32 - cy).powi(2) < r * r { 255 } else { 0 }]))
        }
    };
    assert_eq!(mask.dimensions(), (w, h), "mask size differs from the image");

    let (guide, src) = if f32_api {
        (img.as_raw().iter().map(|&v| u8_to_unit(v)).collect::<Vec<f32>>(), mask.as_raw().iter().map(|&v| u8_to_unit(v)).collect())
    } else {
        (Vec::new(), Vec::new())
    };
    let run = || -> Vec<f32> {
        if f32_api {
            guided_filter(&guide, &src, w as usize, h as usize, radius, eps)
        } else {
            guided_filter_u8(&img, &mask, radius, eps)
        }
    };
    let _warm = run();
    let mut times = Vec::with_capacity(iters);
    let mut checksum = 0f64;
    let cpu0 = cpu_seconds();
    for _ in 0..iters {
        let t = Instant::now();
        let q = run();
        times.push(t.elapsed().as_secs_f64());
        checksum += q.iter().map(|&v| v as f64).sum::<f64>();
        drop(q);
    }
    let cpu = cpu_seconds().zip(cpu0).map(|(b, a)| (b - a) / iters as f64);
    times.sort_by(f64::total_cmp);
    let json = serde_json::json!({
        "seconds": times[times.len() / 2],
        "min_seconds": times[0],
        "cpu_seconds": cpu,
        "runs": iters,
        "width": w,
        "height": h,
        "radius": radius,
        "eps": eps,
        "api": if f32_api { "guided_filter (f32)" } else { "guided_filter_u8 (u8 image + mask, as the node)" },
        "threads": rayon::current_num_threads(),
        "checksum": checksum / iters as f64,
        "peak_rss_kb": peak_rss_kb(),
    });
    println!("{json}");
}
