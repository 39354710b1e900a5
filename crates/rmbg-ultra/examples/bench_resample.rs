//! Timing of the hot resamplers and of decoding, on the test photos.
//!
//!     cargo run --profile test --example bench_resample [-- PHOTO...]
//!
//! (the `test` profile is optimised and shares the test builds; `--release` works too).

use rmbg_ultra::decode::{decode_file, DecodeLimits};
use rmbg_ultra::resample::{pillow_bilinear_rgb, torch_bilinear};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn median(mut f: impl FnMut(), runs: usize) -> Duration {
    f(); // warm-up
    let mut t: Vec<Duration> = (0..runs)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed()
        })
        .collect();
    t.sort();
    t[runs / 2]
}

fn ms(d: Duration) -> String {
    format!("{:7.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    let mut photos: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    if photos.is_empty() {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/photos");
        photos = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
            .collect();
        photos.sort();
    }
    println!("rayon threads: {}", rayon::current_num_threads());
    let map: Vec<f32> = (0..1024 * 1024u64).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
    for p in &photos {
        let t_dec = median(|| drop(decode_file(p, &DecodeLimits::default()).unwrap()), 5);
        let img = decode_file(p, &DecodeLimits::default()).unwrap();
        let (w, h) = img.dimensions();
        let t_down = median(|| drop(pillow_bilinear_rgb(&img, 1024, 1024)), 15);
        let t_flip = {
            // The same photo turned 90°: the other pass order.
            let rot = image::imageops::rotate90(&img);
            median(|| drop(pillow_bilinear_rgb(&rot, 1024, 1024)), 15)
        };
        let t_up = median(|| drop(torch_bilinear(&map, 1024, 1024, w as usize, h as usize)), 15);
        println!(
            "{:12} {w}x{h}: decode {}  pillow→1024² {} (rotated {h}x{w}: {})  torch 1024²→{w}x{h} {}",
            p.file_name().unwrap().to_string_lossy(),
            ms(t_dec),
            ms(t_down),
            ms(t_flip),
            ms(t_up)
        );
    }
}
