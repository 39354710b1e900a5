//! Times the "PyMatting" detail method on one case prepared by bench/bench_pymatting.py (which
//! runs pymatting on the same case and prints the comparison). Not a test.
//!
//!   bench_pymatting CASE_DIR [--repeat N] [--factor-only]
//!
//! `--factor-only` (alpha cases): builds the system once and prints the thread CPU time of each
//! incomplete Cholesky factorisation and each preconditioner application (for tuning).
//!
//! CASE_DIR holds `case.json` ({"kind": "node", "detail_range", "black_point", "white_point"} or
//! {"kind": "alpha"}), `image.npy` (u8 H×W×3) and `mask.npy` (node: u8 binary mask) or
//! `trimap.npy` (alpha: u8 trimap, read as v/255). Prints one JSON line with the timings, solver
//! statistics and memory, and writes the result to CASE_DIR/ours.npy (u8 for node, f64 alpha).

use rmbg_ultra::refine::pymatting::{estimate_alpha_cf_with, mask_edge_detail_with_report, CfReport, EPSILON};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Instant;

use rmbg_ultra_test_support as common;

/// A field of /proc/self/status in bytes (VmRSS, VmHWM).
fn proc_status_bytes(field: &str) -> u64 {
    common::process::status_kb(field).map_or(0, |kb| kb * 1024)
}

/// CPU time of all threads of this process so far, in seconds (from /proc/self/task/*/schedstat).
fn cpu_seconds() -> f64 {
    let mut ns = 0u64;
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
                ns += s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
            }
        }
    }
    ns as f64 * 1e-9
}

fn report_json(r: &CfReport) -> Value {
    json!({
        "unknowns": r.unknowns, "matrix_nnz": r.matrix_nnz, "factor_nnz": r.factor_nnz, "shift": r.shift,
        "iterations": r.iterations, "relative_residual": r.relative_residual, "solver_bytes": r.solver_bytes,
        "blur_s": r.blur_s, "laplacian_s": r.laplacian_s, "factor_s": r.factor_s, "cg_s": r.cg_s,
    })
}

/// CPU time of the calling thread in seconds (/proc/thread-self/schedstat).
fn thread_cpu_seconds() -> f64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse::<u64>().ok()))
        .map_or(0.0, |ns| ns as f64 * 1e-9)
}

fn factor_only(img: &[f64], tri: &[f64], w: usize, h: usize, repeat: usize) {
    use rmbg_ultra::refine::pymatting::{laplacian, preconditioner, trimap};
    let split = trimap::trimap_split(tri, w, h).unwrap();
    let sys = laplacian::matting_system(&laplacian::F64Image { data: img, width: w }, &split, EPSILON);
    let (mut fac, mut app) = (Vec::new(), Vec::new());
    for _ in 0..repeat {
        let c = thread_cpu_seconds();
        let f = preconditioner::ichol(&sys.a).unwrap();
        fac.push(thread_cpu_seconds() - c);
        let mut z = sys.b.clone();
        let c = thread_cpu_seconds();
        f.solve_in_place(&mut z);
        app.push(thread_cpu_seconds() - c);
    }
    let min = |v: &[f64]| v.iter().cloned().fold(f64::INFINITY, f64::min);
    println!("{}", json!({"factor_cpu_s": min(&fac), "apply_cpu_s": min(&app), "n": sys.a.n}));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = Path::new(args.first().expect("usage: bench_pymatting CASE_DIR [--repeat N]"));
    let repeat: usize = args.iter().position(|a| a == "--repeat").map_or(3, |i| args[i + 1].parse().unwrap());
    let case: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
    let (shape, rgb) = common::read_npy::<u8>(&dir.join("image.npy"));
    let (h, w) = (shape[0], shape[1]);

    let mut seconds = Vec::new();
    let mut cpu = Vec::new();
    let mut last: Option<CfReport> = None;
    let rss_before;
    match case["kind"].as_str().unwrap() {
        "node" => {
            let image = image::RgbImage::from_raw(w as u32, h as u32, rgb).unwrap();
            let (_, m) = common::read_npy::<u8>(&dir.join("mask.npy"));
            let mask = image::GrayImage::from_raw(w as u32, h as u32, m).unwrap();
            let (range, bp, wp) = (
                case["detail_range"].as_u64().unwrap() as u32,
                case["black_point"].as_f64().unwrap(),
                case["white_point"].as_f64().unwrap(),
            );
            common::process::reset_peak_rss();
            rss_before = proc_status_bytes("VmRSS:");
            let mut out = None;
            for _ in 0..repeat {
                let (t, c) = (Instant::now(), cpu_seconds());
                let (o, r) = mask_edge_detail_with_report(&image, &mask, range, bp, wp).expect("mask_edge_detail");
                seconds.push(t.elapsed().as_secs_f64());
                cpu.push(cpu_seconds() - c);
                out = Some(o);
                last = Some(r);
            }
            common::write_npy(&dir.join("ours.npy"), &[h, w], out.unwrap().as_raw());
        }
        "alpha" => {
            let img: Vec<f64> = rgb.iter().map(|&v| v as f64 / 255.0).collect();
            let (_, t) = common::read_npy::<u8>(&dir.join("trimap.npy"));
            let tri: Vec<f64> = t.iter().map(|&v| v as f64 / 255.0).collect();
            if args.iter().any(|a| a == "--factor-only") {
                return factor_only(&img, &tri, w, h, repeat);
            }
            common::process::reset_peak_rss();
            rss_before = proc_status_bytes("VmRSS:");
            let mut out = None;
            for _ in 0..repeat {
                let (t, c) = (Instant::now(), cpu_seconds());
                let (a, r) = estimate_alpha_cf_with(&img, &tri, w, h, EPSILON).expect("estimate_alpha_cf");
                seconds.push(t.elapsed().as_secs_f64());
                cpu.push(cpu_seconds() - c);
                out = Some(a);
                last = Some(r);
            }
            common::write_npy(&dir.join("ours.npy"), &[h, w], &out.unwrap());
        }
        k => panic!("unknown case kind {k}"),
    }
    let peak = proc_status_bytes("VmHWM:");
    let line = json!({
        "seconds": seconds,
        "cpu_seconds": cpu,
        "threads": rayon::current_num_threads(),
        "rss_before": rss_before,
        "peak_rss": peak,
        "report": report_json(&last.unwrap()),
    });
    println!("{line}");
}
