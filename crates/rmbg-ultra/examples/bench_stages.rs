//! Per-stage timings of the node's pipeline on photos (driven by bench/bench_stages.py, which runs
//! the Python reference of each stage beside it). Prints one JSON object: seconds per stage summed
//! over the photos, and the process's peak RSS.
//!
//!     bench_stages MODEL.onnx PHOTO...

use rmbg_ultra_test_support as common;

use rmbg_ultra::decode::{decode_file, DecodeLimits};
use rmbg_ultra::encode::{encode, Format};
use rmbg_ultra::resample::pillow_bilinear_rgb;
use rmbg_ultra::segment::{binarize_to, normalize, normalized_to_size, INPUT_SIZE};
use rmbg_ultra::runtime::session::OnnxSession;
use rmbg_ultra::{compose, refine, remap::HistogramRemap, Device};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let model = PathBuf::from(&args[0]);
    let mut t: BTreeMap<&str, f64> = BTreeMap::new();
    let mut lap = |name: &'static str, start: Instant| *t.entry(name).or_default() += start.elapsed().as_secs_f64();

    let s = Instant::now();
    let session = OnnxSession::load(&model, "segmentation", Device::Cpu, true).unwrap();
    lap("load", s);
    let n = INPUT_SIZE as usize;
    for photo in &args[1..] {
        let s = Instant::now();
        let image = decode_file(photo.as_ref(), &DecodeLimits::default()).unwrap();
        lap("decode", s);
        let s = Instant::now();
        let resized = pillow_bilinear_rgb(&image, INPUT_SIZE, INPUT_SIZE);
        lap("resize_1024", s);
        let s = Instant::now();
        let (_, pred) = session.run_f32("input", &[1, 3, n, n], normalize(&resized)).unwrap();
        lap("network", s);
        let s = Instant::now();
        let (w, h) = image.dimensions();
        let mask = binarize_to(&normalized_to_size(&pred, n, w, h), w, h);
        lap("upsample_binarize", s);
        let s = Instant::now();
        let q = refine::guided_filter::guided_filter_alpha(&image, &mask, 12 / 6 + 1);
        let remap = HistogramRemap::new(0.01, 0.99);
        let alpha = image::GrayImage::from_raw(w, h, q.iter().map(|&v| remap.apply_u8(v)).collect()).unwrap();
        lap("guided_filter_remap", s);
        let s = Instant::now();
        let rgba = compose::cutout(&image, &alpha);
        let png = encode(rgba.as_raw(), w, h, image::ExtendedColorType::Rgba8, Format::Png).unwrap();
        std::hint::black_box(png);
        lap("compose_encode", s);
    }
    let mut out = serde_json::Map::new();
    for (k, v) in t {
        out.insert(k.into(), v.into());
    }
    out.insert("peak_rss_kb".into(), common::process::peak_rss_kb().unwrap_or(0).into());
    println!("{}", serde_json::Value::Object(out));
}
