//! The `rmbg-ultra` binary on temporary folders: batches, bad input, streams, formats, interrupts.
//! Needs the runtime and default model that `scripts/test.sh` installs (`rmbg-ultra setup`).

use rmbg_ultra_test_support::{self as common, png_claiming};

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rmbg-ultra"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("start rmbg-ultra")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write_rgb(path: &Path, w: u32, h: u32) {
    let img = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7 % 256) as u8, (y * 5 % 256) as u8, 128]));
    img.save(path).unwrap();
}

/// Every file under `dir` (recursively), relative.
fn files_in(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(base, &p, out)
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned())
            }
        }
    }
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out.sort();
    out
}

#[test]
fn a_batch_goes_on_past_bad_files_and_names_each() {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("in");
    std::fs::create_dir(&inp).unwrap();
    std::fs::write(inp.join("empty.png"), b"").unwrap();
    std::fs::write(inp.join("corrupt.jpg"), b"this is not a jpeg at all").unwrap();
    let photo = std::fs::read(common::testdata("photos/car.jpg")).unwrap();
    std::fs::write(inp.join("truncated.jpg"), &photo[..photo.len() / 3]).unwrap();
    std::fs::write(inp.join("bomb.png"), png_claiming(100_000, 100_000)).unwrap();
    write_rgb(&inp.join("good.png"), 40, 30);
    let out = dir.path().join("out");

    let t = Instant::now();
    let o = run(&["remove", "--method", "GuidedFilter", "-o", out.to_str().unwrap(), inp.to_str().unwrap()]);
    let err = stderr(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(t.elapsed() < Duration::from_secs(120), "the bomb must be refused from its header");
    for name in ["empty.png", "corrupt.jpg", "truncated.jpg", "bomb.png"] {
        assert!(err.contains(&format!("failed: {}", inp.join(name).display())), "summary lacks {name}:\n{err}");
    }
    assert!(err.contains("1 written, 4 failed"), "{err}");
    assert!(err.contains("empty") && err.contains("truncated") && err.contains("100000"), "{err}");
    assert_eq!(files_in(&out), vec!["good.png"], "only complete outputs, nothing else");
}

#[test]
fn odd_formats_and_tiny_sizes_all_work() {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("in");
    std::fs::create_dir(&inp).unwrap();
    image::ImageBuffer::<image::Rgb<u16>, _>::from_fn(20, 10, |x, _| image::Rgb([x as u16 * 3000, 65535, 0])).save(inp.join("deep16.png")).unwrap();
    image::GrayImage::from_fn(12, 9, |x, y| image::Luma([(x * y) as u8])).save(inp.join("grey.png")).unwrap();
    image::RgbaImage::from_fn(9, 12, |x, _| image::Rgba([200, 10, 10, (x * 20) as u8])).save(inp.join("rgba.png")).unwrap();
    write_rgb(&inp.join("one.png"), 1, 1);
    write_rgb(&inp.join("tall.png"), 1, 257);
    common::run_reference_code(&format!(
        "from PIL import Image; Image.new('CMYK', (16, 8), (0, 128, 255, 30)).save(r'{}', quality=95)",
        inp.join("cmyk.jpg").display()
    ));
    let out = dir.path().join("out");
    let o = run(&["remove", "--json", "--method", "GuidedFilter", "--save-mask", "-o", out.to_str().unwrap(), inp.to_str().unwrap()]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}\n{stdout}", stderr(&o));
    for (name, w, h) in [("deep16", 20, 10), ("grey", 12, 9), ("rgba", 9, 12), ("one", 1, 1), ("tall", 1, 257), ("cmyk", 16, 8)] {
        let cut = image::open(out.join(format!("{name}.png"))).unwrap();
        assert_eq!((cut.width(), cut.height()), (w, h), "{name}");
        assert_eq!(cut.color(), image::ColorType::Rgba8, "{name}");
        let mask = image::open(out.join(format!("{name}.mask.png"))).unwrap();
        assert_eq!(mask.color(), image::ColorType::L8, "{name}");
    }
    let lines: Vec<serde_json::Value> = stdout.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 7, "{stdout}");
    assert!(lines[..6].iter().all(|l| l["status"] == "ok" && l["seconds"]["segment"].as_f64().unwrap() > 0.0), "{stdout}");
    assert_eq!(lines[6]["summary"]["written"], 6);
    assert_eq!(lines[6]["summary"]["failed"], 0);
}

#[test]
fn existing_outputs_are_kept_unless_overwrite_and_inputs_never_touched() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("a.png");
    write_rgb(&input, 16, 16);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("a.png"), b"keep me").unwrap();
    let o = run(&["remove", "--method", "GuidedFilter", "-o", out.to_str().unwrap(), input.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("1 skipped"), "{}", stderr(&o));
    assert_eq!(std::fs::read(out.join("a.png")).unwrap(), b"keep me");

    let o = run(&["remove", "--overwrite", "--method", "GuidedFilter", "-o", out.to_str().unwrap(), input.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(image::open(out.join("a.png")).is_ok());

    let before = std::fs::read(&input).unwrap();
    let o = run(&["remove", "--overwrite", "--method", "GuidedFilter", "-o", dir.path().to_str().unwrap(), input.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("own input"), "{}", stderr(&o));
    assert_eq!(std::fs::read(&input).unwrap(), before);
}

#[test]
fn standard_input_to_standard_output() {
    let bytes = std::fs::read(common::testdata("lemur/lemur.png")).unwrap();
    let mut child = bin()
        .args(["remove", "--quiet", "--only-mask", "--method", "GuidedFilter", "-o", "-", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &bytes).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let mask = image::load_from_memory(&o.stdout).unwrap();
    assert_eq!((mask.width(), mask.height(), mask.color()), (680, 440, image::ColorType::L8));
}

#[test]
fn formats_background_and_only_mask() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("p.jpg");
    std::fs::copy(common::testdata("photos/product.jpg"), &input).unwrap();
    let (w, h) = image::image_dimensions(&input).unwrap();
    let cases: [(&[&str], &str, image::ColorType); 4] = [
        (&["--format", "webp"], "p.webp", image::ColorType::Rgba8),
        (&["--format", "tiff", "--only-mask"], "p.mask.tiff", image::ColorType::L8),
        (&["--background", "#ffffff"], "p.png", image::ColorType::Rgb8),
        (&["--only-mask"], "p.mask.png", image::ColorType::L8),
    ];
    for (i, (opts, name, color)) in cases.iter().enumerate() {
        let out = dir.path().join(format!("out{i}"));
        let o = bin().args(["remove", "--method", "GuidedFilter", "-o", out.to_str().unwrap()]).args(*opts).arg(&input).output().unwrap();
        assert!(o.status.success(), "{opts:?}: {}", stderr(&o));
        assert_eq!(files_in(&out), vec![name.to_string()], "{opts:?}");
        let img = image::open(out.join(name)).unwrap();
        assert_eq!((img.width(), img.height(), img.color()), (w, h, *color), "{opts:?}");
    }
    // The composite shows the background where the mask is 0 and the photo where it is 255.
    let mask = image::open(dir.path().join("out3/p.mask.png")).unwrap().to_luma8();
    let flat = image::open(dir.path().join("out2/p.png")).unwrap().to_rgb8();
    let photo = rmbg_ultra::decode::decode_file(&input, &Default::default()).unwrap();
    for ((m, f), p) in mask.pixels().zip(flat.pixels()).zip(photo.pixels()) {
        match m.0[0] {
            0 => assert_eq!(f.0, [255, 255, 255]),
            255 => assert_eq!(f.0, p.0),
            _ => {}
        }
    }
}

#[test]
fn out_of_range_options_name_option_value_and_range() {
    let cases: [(&[&str], &str); 11] = [
        (&["--erode", "0"], "--erode"),
        (&["--erode", "256"], "--erode"),
        (&["--dilate", "0"], "--dilate"),
        (&["--black-point", "0"], "0.01..=0.98"),
        (&["--black-point", "0.99"], "0.01..=0.98"),
        (&["--white-point", "1"], "0.02..=0.99"),
        (&["--max-megapixels", "0.5"], "1..=999"),
        (&["--method", "Magic"], "GuidedFilter"),
        (&["--device", "tpu"], "auto, cpu, cuda"),
        (&["--profile", "best"], "node, quality"),
        (&["--foreground", "colour"], "ml, blur, off"),
    ];
    for (opts, want) in cases {
        let o = bin().args(["remove", "-o", "/nonexistent-out"]).args(opts).arg("x.jpg").output().unwrap();
        assert_eq!(o.status.code(), Some(2), "{opts:?}");
        let err = stderr(&o);
        assert!(err.contains(want) && err.contains(opts[1]), "{opts:?}: {err}");
    }
}

/// `--fast` is the quality profile on the int8 model: with the node profile, or with a model that
/// has no int8 variant, it is refused before any model is loaded or made.
#[test]
fn fast_is_refused_with_the_node_profile_or_a_model_without_int8() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.png");
    write_rgb(&input, 8, 8);
    let out = dir.path().join("out");
    for (opts, want) in [
        (&["--profile", "node"][..], "profile node keeps the node's model"),
        (&["--seg-model", "rmbg-1.4"][..], "only with isnet-general"),
    ] {
        let o = bin().args(["remove", "--offline", "--fast", "-o"]).arg(&out).args(opts).arg(&input).output().unwrap();
        assert_eq!(o.status.code(), Some(1), "{opts:?}");
        let err = stderr(&o);
        assert!(err.contains("invalid fast") && err.contains(want), "{opts:?}: {err}");
        assert!(!out.exists(), "{opts:?}: nothing is written");
    }
}

/// `--fast` runs the quality profile on the int8 model that `rmbg-ultra setup --int8` made (the
/// test script runs it): the same bytes as naming that model, and not the fp32 model's bytes.
#[test]
fn fast_is_the_quality_profile_on_the_int8_model() {
    let installed = bin().args(["models", "path", "isnet-general-int8"]).output().unwrap();
    let path = String::from_utf8_lossy(&installed.stdout).trim().to_string();
    assert!(
        installed.status.success() && Path::new(&path).is_file(),
        "isnet-general-int8 is not installed: run `rmbg-ultra setup --int8` (scripts/test.sh does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("product.jpg");
    std::fs::copy(common::testdata("photos/product.jpg"), &input).unwrap();
    let cut = |name: &str, opts: &[&str]| -> Vec<u8> {
        let out = dir.path().join(name);
        let o = bin().args(["remove", "--offline", "--quiet", "--method", "GuidedFilter", "-o"]).arg(&out).args(opts).arg(&input).output().unwrap();
        assert!(o.status.success(), "{opts:?}: {}", stderr(&o));
        std::fs::read(out.join("product.png")).unwrap()
    };
    let fast = cut("fast", &["--fast"]);
    assert_eq!(fast, cut("named", &["--profile", "quality", "--seg-model", "isnet-general-int8"]));
    assert_ne!(fast, cut("fp32", &["--profile", "quality"]));
}

/// A first run names no method: the quality profile refines with PyMatting, which needs no
/// download, so it works on a machine without ViTMatte; `--profile node` keeps the node's VITMatte.
#[test]
fn the_default_method_is_the_profiles() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("animal.jpg");
    std::fs::copy(common::testdata("photos/animal.jpg"), &input).unwrap();
    let nowhere = tempfile::tempdir().unwrap();
    let cut = |name: &str, opts: &[&str]| -> Output {
        let out = dir.path().join(name);
        bin().args(["remove", "--offline", "--json", "-o"]).arg(&out).args(opts).arg(&input).output().unwrap()
    };
    let default = cut("default", &[]);
    assert!(default.status.success(), "{}", stderr(&default));
    let named = cut("named", &["--method", "PyMatting"]);
    assert!(named.status.success(), "{}", stderr(&named));
    let read = |name: &str| std::fs::read(dir.path().join(name).join("animal.png")).unwrap();
    assert_eq!(read("default"), read("named"), "the quality profile's default is PyMatting");
    // --fast keeps the int8 network's soft mask unless a method is named (isnet-general-int8: scripts/test.sh).
    assert!(cut("fast", &["--fast"]).status.success());
    assert!(cut("fast-no-detail", &["--fast", "--no-detail"]).status.success());
    assert!(cut("fast-named", &["--fast", "--method", "guided-filter"]).status.success());
    assert_eq!(read("fast"), read("fast-no-detail"), "--fast refines nothing by default");
    assert_ne!(read("fast"), read("fast-named"), "--fast --method guided-filter refines");

    // The node's default is VITMatte: only a ViTMatte method reads --matting-model, and a missing
    // file there fails, naming it.
    let node = cut("node", &["--profile", "node", "--matting-model", nowhere.path().join("none.onnx").to_str().unwrap()]);
    assert!(!node.status.success());
    assert!(stderr(&node).contains("none.onnx"), "{}", stderr(&node));
}

/// The batch overlaps decoding, the network and the rest across images; results must be what
/// one image at a time gives, reported in input order, with a bad file in the middle kept in place.
#[test]
fn an_overlapped_batch_equals_one_image_at_a_time_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("in");
    std::fs::create_dir(&inp).unwrap();
    let names = ["a_car.jpg", "b_bad.jpg", "c_people.jpg", "d_small.png"];
    std::fs::copy(common::testdata("photos/car.jpg"), inp.join(names[0])).unwrap();
    std::fs::write(inp.join(names[1]), b"not an image").unwrap();
    std::fs::copy(common::testdata("photos/people.jpg"), inp.join(names[2])).unwrap();
    write_rgb(&inp.join(names[3]), 64, 48);
    let batch = dir.path().join("batch");
    let o = run(&["remove", "--json", "--method", "GuidedFilter", "--save-mask", "-o", batch.to_str().unwrap(), inp.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&o.stdout).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let inputs: Vec<String> = lines[..4].iter().map(|l| l["input"].as_str().unwrap().rsplit('/').next().unwrap().to_string()).collect();
    assert_eq!(inputs, names, "results come in input order");
    let statuses: Vec<&str> = lines[..4].iter().map(|l| l["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["ok", "error", "ok", "ok"]);
    for name in [names[0], names[2], names[3]] {
        let single = dir.path().join(format!("single-{}", name.replace('.', "-")));
        let o = run(&["remove", "--quiet", "--method", "GuidedFilter", "--save-mask", "-o", single.to_str().unwrap(), inp.join(name).to_str().unwrap()]);
        assert!(o.status.success(), "{}", stderr(&o));
        let stem = name.rsplit_once('.').unwrap().0;
        for file in [format!("{stem}.png"), format!("{stem}.mask.png")] {
            assert_eq!(std::fs::read(batch.join(&file)).unwrap(), std::fs::read(single.join(&file)).unwrap(), "{file}");
        }
    }
}

#[test]
fn premultiplied_and_picture_backgrounds_come_from_the_same_cutout() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("p.jpg");
    std::fs::copy(common::testdata("photos/animal.jpg"), &input).unwrap();
    let backdrop = dir.path().join("backdrop.png");
    image::RgbImage::from_pixel(30, 20, image::Rgb([10, 200, 30])).save(&backdrop).unwrap();
    let runs: [(&str, Vec<&str>); 4] = [
        ("straight", vec!["--save-mask"]),
        ("premultiplied", vec!["--premultiplied"]),
        ("picture", vec!["--background-image", backdrop.to_str().unwrap()]),
        ("node", vec!["--profile", "node", "--premultiplied"]),
    ];
    for (name, opts) in &runs {
        let out = dir.path().join(name);
        let o = bin().args(["remove", "--quiet", "--method", "GuidedFilter", "-o", out.to_str().unwrap()]).args(opts).arg(&input).output().unwrap();
        assert!(o.status.success(), "{name}: {}", stderr(&o));
    }
    let straight = image::open(dir.path().join("straight/p.png")).unwrap().to_rgba8();
    let mask = image::open(dir.path().join("straight/p.mask.png")).unwrap().to_luma8();
    let pre = image::open(dir.path().join("premultiplied/p.png")).unwrap().to_rgba8();
    let picture = image::open(dir.path().join("picture/p.png")).unwrap();
    assert_eq!(picture.color(), image::ColorType::Rgb8);
    let picture = picture.to_rgb8();
    let mut soft = 0;
    for (((s, p), m), c) in straight.pixels().zip(pre.pixels()).zip(mask.pixels()).zip(picture.pixels()) {
        assert_eq!((s[3], p[3]), (m[0], m[0]));
        let a = m[0] as u32;
        for ch in 0..3 {
            assert_eq!(p[ch] as u32, (s[ch] as u32 * a + 127) / 255, "premultiplied = straight·α");
            assert_eq!(c[ch] as u32, (s[ch] as u32 * a + [10, 200, 30][ch] * (255 - a) + 127) / 255, "over the picture");
        }
        soft += (a > 0 && a < 255) as usize;
    }
    assert!(soft > 1000, "the quality profile's edge is soft");
    // The node's premultiplied cutout is the photo's colours times its alpha.
    let node = image::open(dir.path().join("node/p.png")).unwrap().to_rgba8();
    let photo = rmbg_ultra::decode::decode_file(&input, &Default::default()).unwrap();
    for (n, p) in node.pixels().zip(photo.pixels()) {
        assert_eq!(n[0] as u32, (p[0] as u32 * n[3] as u32 + 127) / 255);
    }
    let o = bin().args(["remove", "-o", dir.path().join("x").to_str().unwrap(), "--background-image", "/nonexistent.png"]).arg(&input).output().unwrap();
    assert!(!o.status.success() && stderr(&o).contains("--background-image /nonexistent.png"), "{}", stderr(&o));
}

#[test]
fn help_explains_the_parameters_and_version_prints() {
    let o = run(&["remove", "--help"]);
    let help = String::from_utf8_lossy(&o.stdout);
    for want in ["--profile", "[default: quality]", "--foreground", "--premultiplied", "--erode", "INTO the subject", "--dilate", "OUT into the background", "--black-point", "transparent", "--white-point", "opaque", "[default: 6]", "0.01..=0.98", "VITMatte(local) (vitmatte-local)", "GuidedFilter (guided-filter)"] {
        assert!(help.contains(want), "help lacks {want:?}");
    }
    let o = run(&["--version"]);
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("rmbg-ultra "));
}

/// Starts a batch of copies of a photo and waits for its first finished output.
fn start_batch(dir: &Path, copies: usize) -> (std::process::Child, PathBuf) {
    let inp = dir.join("in");
    std::fs::create_dir(&inp).unwrap();
    for i in 0..copies {
        std::fs::copy(common::testdata("photos/people.jpg"), inp.join(format!("p{i}.jpg"))).unwrap();
    }
    let out = dir.join("out");
    let child = bin()
        .args(["remove", "--quiet", "--method", "GuidedFilter", "--save-mask", "-o", out.to_str().unwrap(), inp.to_str().unwrap()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while files_in(&out).is_empty() {
        assert!(t.elapsed() < Duration::from_secs(180), "no output appeared");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, out)
}

fn assert_only_complete_outputs(out: &Path) {
    let files = files_in(out);
    assert!(!files.is_empty());
    for f in &files {
        assert!(f.ends_with(".png") && !f.starts_with('.'), "unexpected file {f}");
        let img = image::open(out.join(f)).unwrap_or_else(|e| panic!("{f} is not a complete image: {e}"));
        assert_eq!(img.width(), 1122, "{f}");
    }
}

#[test]
fn sigkill_mid_batch_leaves_only_complete_files() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, out) = start_batch(dir.path(), 6);
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert_only_complete_outputs(&out);
    assert!(files_in(&out).len() < 12, "the batch should not have finished");
}

#[test]
fn ctrl_c_stops_after_the_image_in_hand() {
    let dir = tempfile::tempdir().unwrap();
    let (child, out) = start_batch(dir.path(), 6);
    // SAFETY: sending SIGINT to our own child process.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", stderr(&o));
    assert_only_complete_outputs(&out);
    assert!(files_in(&out).len() < 12);
}

#[test]
fn cuda_without_gpu_falls_back_with_one_warning_unless_strict() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("a.png");
    write_rgb(&input, 8, 8);
    let out = dir.path().join("out");
    let o = run(&["remove", "--device", "cuda", "--method", "GuidedFilter", "-o", out.to_str().unwrap(), input.to_str().unwrap()]);
    let err = stderr(&o);
    if err.contains("on cuda") {
        return; // a machine with a working CUDA runtime: nothing to fall back from
    }
    assert!(o.status.success(), "{err}");
    assert_eq!(err.matches("device is set to cuda, but not available, using cpu instead").count(), 1, "{err}");
    assert!(err.contains("on cpu"), "the device used is reported: {err}");

    let o = run(&["remove", "--device", "cuda", "--strict-device", "--overwrite", "-o", out.to_str().unwrap(), input.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("CUDA was asked for") && stderr(&o).contains("--device cpu"), "{}", stderr(&o));
}

#[test]
fn folders_recurse_keep_structure_and_quiet_is_silent() {
    let dir = tempfile::tempdir().unwrap();
    let inp = dir.path().join("in");
    std::fs::create_dir_all(inp.join("deeper/still")).unwrap();
    write_rgb(&inp.join("top.png"), 6, 5);
    write_rgb(&inp.join("deeper/still/low.jpg"), 5, 6);
    std::fs::write(inp.join("deeper/readme.txt"), b"not an image").unwrap();
    let out = dir.path().join("out");
    let o = run(&["remove", "--quiet", "--no-detail", "-o", out.to_str().unwrap(), inp.to_str().unwrap()]);
    assert!(o.status.success());
    assert!(o.stderr.is_empty() && o.stdout.is_empty(), "--quiet printed: {}", stderr(&o));
    assert_eq!(files_in(&out), vec!["deeper/still/low.png", "top.png"]);
}
