//! `rmbg-ultra remove`: the node's parameters as options, a batch that goes on past bad files.

use anyhow::{Context, Result};
use clap::Args;
use rmbg_ultra::decode::{decode_file, DecodeLimits};
use rmbg_ultra::encode::{encode, write_atomic, Format};
use rmbg_ultra::models::ModelStore;
use rmbg_ultra::{DetailMethod, Device, Params, Remover, RemoverOptions};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "tif", "tiff", "bmp", "gif"];

#[derive(Args, Debug)]
pub struct RemoveArgs {
    /// Image files or folders (folders are searched recursively for images).
    #[arg(required = true)]
    inputs: Vec<PathBuf>,

    /// Output folder (created when missing); for a single input, a .png file path also works.
    #[arg(short, long)]
    output: PathBuf,

    /// How the edge of the coarse mask is refined: VITMatte, VITMatte(local),
    /// vitmatte-base-composition-1k, PyMatting, GuidedFilter (or the ids vitmatte, vitmatte-local,
    /// vitmatte-base, pymatting, guided-filter).
    #[arg(long, short, default_value = "VITMatte", value_parser = parse_method)]
    method: DetailMethod,

    /// How far (in 5-pixel steps of the node) the edge band reaches INTO the subject. Larger values
    /// let the detail method re-decide more of the subject's border (hair, fur). GuidedFilter and
    /// PyMatting only use erode + dilate, as one radius. Range 1..=255.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=255))]
    erode: u32,

    /// How far the edge band reaches OUT into the background. Range 1..=255.
    #[arg(long, default_value_t = 6, value_parser = clap::value_parser!(u32).range(1..=255))]
    dilate: u32,

    /// Alpha at or below this becomes fully transparent; the rest is stretched up (for PyMatting:
    /// the threshold under which the blurred mask counts as background). Range 0.01..=0.98.
    #[arg(long, default_value_t = 0.01, value_parser = parse_black_point)]
    black_point: f64,

    /// Alpha at or above this becomes fully opaque (for PyMatting: the threshold above which the
    /// blurred mask counts as foreground). Range 0.02..=0.99.
    #[arg(long, default_value_t = 0.99, value_parser = parse_white_point)]
    white_point: f64,

    /// Skip the detail method: output the coarse (hard) mask of the segmentation model.
    #[arg(long)]
    no_detail: bool,

    /// Where the networks run: auto (CUDA when available), cpu, cuda.
    #[arg(long, default_value = "auto", value_parser = parse_device)]
    device: Device,

    /// Fail instead of falling back to the CPU when --device cuda is not available.
    #[arg(long)]
    strict_device: bool,

    /// ViTMatte works on at most this many megapixels (of 2^20 pixels); larger images are scaled
    /// down for it and its alpha scaled back up. Range 1..=999.
    #[arg(long, default_value_t = 2.0, value_parser = parse_max_megapixels)]
    max_megapixels: f64,

    /// Segmentation model: an id (see `rmbg-ultra models list`) or a path to an .onnx file.
    #[arg(long, default_value = rmbg_ultra::models::DEFAULT_SEGMENTATION)]
    seg_model: String,

    /// Matting model for the ViTMatte methods: an id or a path to an .onnx file.
    #[arg(long)]
    matting_model: Option<String>,

    /// A ComfyUI `models` folder to take ViTMatte from (also RMBG_ULTRA_COMFYUI_MODELS).
    #[arg(long)]
    comfyui_models: Option<PathBuf>,

    /// Also write the mask as <name>.mask.png (8-bit grey).
    #[arg(long)]
    save_mask: bool,

    /// Replace existing output files (they are skipped otherwise).
    #[arg(long)]
    overwrite: bool,

    /// Refuse images with more pixels than this (guards against decompression bombs).
    #[arg(long, default_value_t = 100_000_000)]
    max_pixels: u64,

    /// Never download a model; fail with the command that provides it instead.
    #[arg(long)]
    offline: bool,
}

fn parse_method(s: &str) -> Result<DetailMethod, String> {
    s.parse().map_err(|e: rmbg_ultra::Error| e.to_string())
}

fn parse_device(s: &str) -> Result<Device, String> {
    s.parse().map_err(|e: rmbg_ultra::Error| e.to_string())
}

fn parse_in_range(s: &str, (lo, hi): (f64, f64)) -> Result<f64, String> {
    let v: f64 = s.parse().map_err(|_| format!("{s:?} is not a number"))?;
    if v.is_finite() && (lo..=hi).contains(&v) {
        Ok(v)
    } else {
        Err(format!("{v} is out of range: allowed {lo}..={hi}"))
    }
}

fn parse_black_point(s: &str) -> Result<f64, String> {
    parse_in_range(s, rmbg_ultra::params::BLACK_POINT_RANGE)
}

fn parse_white_point(s: &str) -> Result<f64, String> {
    parse_in_range(s, rmbg_ultra::params::WHITE_POINT_RANGE)
}

fn parse_max_megapixels(s: &str) -> Result<f64, String> {
    parse_in_range(s, rmbg_ultra::params::MAX_MEGAPIXELS_RANGE)
}

/// One input and where its outputs go.
#[derive(Debug)]
struct Job {
    input: PathBuf,
    cutout: PathBuf,
    mask: PathBuf,
}

pub fn run(args: RemoveArgs, quiet: bool) -> Result<ExitCode> {
    let params = Params {
        method: args.method,
        detail_erode: args.erode,
        detail_dilate: args.dilate,
        black_point: args.black_point,
        white_point: args.white_point,
        process_detail: !args.no_detail,
        max_megapixels: args.max_megapixels,
    };
    params.validate()?;
    let jobs = plan(&args.inputs, &args.output)?;
    anyhow::ensure!(!jobs.is_empty(), "no image files found in {:?}", args.inputs);

    let remover = Remover::new(RemoverOptions {
        seg_model: args.seg_model.clone(),
        matting_model: args.matting_model.clone(),
        comfyui_models: args.comfyui_models.clone(),
        device: args.device,
        strict_device: args.strict_device,
        allow_fetch: !args.offline,
        store: ModelStore::open_default(),
    })?;
    remover.prepare(&params)?;
    tracing::info!("segmentation runs on {}", remover.device());

    let limits = DecodeLimits { max_pixels: args.max_pixels };
    let bar = if quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(jobs.len() as u64).with_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {per_sec} eta {eta} {msg}").unwrap(),
        )
    };
    let (mut done, mut skipped, mut failures) = (0usize, 0usize, Vec::new());
    for job in &jobs {
        bar.set_message(job.input.display().to_string());
        if !args.overwrite && (job.cutout.exists() || (args.save_mask && job.mask.exists())) {
            skipped += 1;
            bar.inc(1);
            continue;
        }
        match process(&remover, &params, &limits, job, args.save_mask, args.overwrite) {
            Ok(()) => done += 1,
            Err(e) => {
                bar.suspend(|| eprintln!("error: {}: {e:#}", job.input.display()));
                failures.push((job.input.clone(), format!("{e:#}")));
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if !quiet {
        let skip_note = if skipped > 0 { format!(", {skipped} skipped (outputs exist; --overwrite replaces them)") } else { String::new() };
        eprintln!("{done} written, {} failed{skip_note}", failures.len());
        for (input, e) in &failures {
            eprintln!("  failed: {}: {e}", input.display());
        }
    }
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn process(remover: &Remover, params: &Params, limits: &DecodeLimits, job: &Job, save_mask: bool, overwrite: bool) -> Result<()> {
    let image = decode_file(&job.input, limits)?;
    let cut = remover.remove(&image, params)?;
    let (w, h) = cut.rgba.dimensions();
    let png = encode(cut.rgba.as_raw(), w, h, image::ExtendedColorType::Rgba8, Format::Png)?;
    write_atomic(&job.cutout, &png, overwrite).with_context(|| format!("writing {}", job.cutout.display()))?;
    if save_mask {
        let png = encode(cut.mask.as_raw(), w, h, image::ExtendedColorType::L8, Format::Png)?;
        write_atomic(&job.mask, &png, overwrite).with_context(|| format!("writing {}", job.mask.display()))?;
    }
    Ok(())
}

fn is_image(p: &Path) -> bool {
    p.extension().and_then(|e| e.to_str()).is_some_and(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading folder {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out)?;
        } else if is_image(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// Maps inputs to output paths: `OUT/<relative folder>/<stem>.png` (+ `.mask.png`), or, for one
/// input file and an OUT ending in `.png`, OUT itself.
fn plan(inputs: &[PathBuf], output: &Path) -> Result<Vec<Job>> {
    let single_file = inputs.len() == 1 && inputs[0].is_file();
    if single_file && output.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) {
        let mask = output.with_extension("mask.png");
        return Ok(vec![Job { input: inputs[0].clone(), cutout: output.to_path_buf(), mask }]);
    }
    let mut jobs = Vec::new();
    let mut seen = HashSet::new();
    for input in inputs {
        let mut files = Vec::new();
        let base: PathBuf = if input.is_dir() {
            walk(input, &mut files)?;
            input.clone()
        } else {
            files.push(input.clone());
            input.parent().map(Path::to_path_buf).unwrap_or_default()
        };
        for file in files {
            let rel = file.strip_prefix(&base).unwrap_or(&file).with_extension("");
            let stem_path = output.join(rel);
            let cutout = stem_path.with_extension("png");
            anyhow::ensure!(
                seen.insert(cutout.clone()),
                "{} and another input would both write {}; process them separately",
                file.display(),
                cutout.display()
            );
            anyhow::ensure!(
                file.canonicalize().ok() != cutout.canonicalize().ok(),
                "{} would overwrite its own input; choose another output folder",
                file.display()
            );
            let mask = stem_path.with_extension("mask.png");
            jobs.push(Job { input: file, cutout, mask });
        }
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_inputs_keep_their_relative_structure() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("in/sub")).unwrap();
        for f in ["in/a.jpg", "in/sub/b.PNG", "in/notes.txt"] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        let jobs = plan(&[dir.path().join("in")], &dir.path().join("out")).unwrap();
        let outs: Vec<_> = jobs.iter().map(|j| j.cutout.strip_prefix(dir.path()).unwrap().to_path_buf()).collect();
        assert_eq!(outs, vec![PathBuf::from("out/a.png"), PathBuf::from("out/sub/b.png")]);
        assert!(jobs[0].mask.ends_with("out/a.mask.png"));
    }

    #[test]
    fn single_file_may_name_its_output_file() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("a.jpg");
        std::fs::write(&input, b"x").unwrap();
        let jobs = plan(&[input], &dir.path().join("cut.png")).unwrap();
        assert_eq!(jobs[0].cutout, dir.path().join("cut.png"));
        assert_eq!(jobs[0].mask, dir.path().join("cut.mask.png"));
    }

    #[test]
    fn two_inputs_with_one_output_name_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("x")).unwrap();
        std::fs::write(dir.path().join("a.jpg"), b"x").unwrap();
        std::fs::write(dir.path().join("x/a.jpg"), b"x").unwrap();
        let err = plan(&[dir.path().join("a.jpg"), dir.path().join("x/a.jpg")], &dir.path().join("out")).unwrap_err();
        assert!(err.to_string().contains("would both write"), "{err}");
    }

    #[test]
    fn float_options_are_checked_against_the_node_ranges() {
        assert!(parse_black_point("0.5").is_ok());
        assert!(parse_black_point("0").unwrap_err().contains("0.01..=0.98"));
        assert!(parse_white_point("1.2").unwrap_err().contains("0.02..=0.99"));
        assert!(parse_max_megapixels("0.5").is_err());
        assert!(parse_max_megapixels("nan").is_err());
    }
}
