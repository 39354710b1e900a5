//! `rmbg-ultra remove`: the node's parameters as options, a batch that goes on past bad files.

use anyhow::{Context, Result};
use clap::Args;
use rmbg_ultra::decode::{decode_bytes, DecodeLimits};
use rmbg_ultra::encode::{write_atomic, Format};
use rmbg_ultra::foreground::ForegroundMethod;
use rmbg_ultra::job::{self, Backdrop, Outputs, Stage, Timings};
use rmbg_ultra::{compose, params, DetailMethod, ModelArgs, Params, Profile, Remover, RemoverOptions};
use serde_json::json;
use std::collections::HashSet;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Instant;

const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "webp", "tif", "tiff", "bmp", "gif"];

#[derive(Args, Debug)]
pub struct RemoveArgs {
    /// Image files, folders (searched recursively for images), glob patterns ("shots/*.jpg"),
    /// or - for standard input.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,

    /// Output folder (created when missing; the inputs' folder structure is kept under it); for a
    /// single input, a file path with the format's extension also works, and - is standard output.
    #[arg(short, long)]
    output: PathBuf,

    /// Output format: png, webp (lossless) or tiff.
    #[arg(long, default_value = "png", value_parser = parse_format)]
    format: Format,

    /// Write only the mask (8-bit grey), as <name>.mask.<ext>.
    #[arg(long, conflicts_with = "save_mask")]
    only_mask: bool,

    /// Composite onto this colour instead of transparency (#rrggbb, r,g,b, or white, black,
    /// grey, red, green, blue); the cut-out is then RGB.
    #[arg(long, value_parser = parse_color, conflicts_with = "background_image")]
    background: Option<[u8; 3]>,

    /// Composite onto this picture (scaled to cover the cut-out and centred); the cut-out is then RGB.
    #[arg(long)]
    background_image: Option<PathBuf>,

    /// Write premultiplied RGBA (colour already multiplied by alpha) instead of straight alpha.
    #[arg(long, conflicts_with_all = ["background", "background_image"])]
    premultiplied: bool,

    // The node's parameters and ours: names, defaults, ranges and help from the library's table
    // (`rmbg_ultra::params`), parsed and checked by it.
    #[arg(long, help = params::PROFILE.help, default_value_t = Profile::default(), value_parser = parse_lib::<Profile>)]
    profile: Profile,

    #[arg(long, help = params::FAST.help)]
    fast: bool,

    #[arg(long, help = params::FOREGROUND.help, value_parser = parse_lib::<ForegroundMethod>)]
    foreground: Option<ForegroundMethod>,

    /// Threads for the classical stages (guided filter, PyMatting, resizing); default: all cores.
    #[arg(long, short)]
    jobs: Option<usize>,

    /// Print one JSON line per image (input, outputs, seconds per stage, error) and a summary line.
    #[arg(long)]
    json: bool,

    #[arg(long, short, help = params::METHOD.help, value_parser = parse_lib::<DetailMethod>)]
    method: Option<DetailMethod>,

    #[arg(long, help = params::ERODE.help_with_range(), default_value_t = params::ERODE.default, value_parser = |s: &str| params::ERODE.parse(s))]
    erode: u32,

    #[arg(long, help = params::DILATE.help_with_range(), default_value_t = params::DILATE.default, value_parser = |s: &str| params::DILATE.parse(s))]
    dilate: u32,

    #[arg(long, help = params::BLACK_POINT.help_with_range(), default_value_t = params::BLACK_POINT.default,
          value_parser = |s: &str| params::BLACK_POINT.parse(s))]
    black_point: f64,

    #[arg(long, help = params::WHITE_POINT.help_with_range(), default_value_t = params::WHITE_POINT.default,
          value_parser = |s: &str| params::WHITE_POINT.parse(s))]
    white_point: f64,

    // `process_detail` turned off.
    #[arg(long, help = params::PROCESS_DETAIL.help)]
    no_detail: bool,

    #[arg(long, help = params::MAX_MEGAPIXELS.help_with_range(), default_value_t = params::MAX_MEGAPIXELS.default,
          value_parser = |s: &str| params::MAX_MEGAPIXELS.parse(s))]
    max_megapixels: f64,

    /// Also write the mask as <name>.mask.png (8-bit grey).
    #[arg(long)]
    save_mask: bool,

    /// Replace existing output files (they are skipped otherwise).
    #[arg(long)]
    overwrite: bool,

    /// Refuse images with more pixels than this (guards against decompression bombs).
    #[arg(long, default_value_t = params::MAX_PIXELS)]
    max_pixels: u64,

    #[command(flatten)]
    models: ModelArgs,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse().map_err(|e: rmbg_ultra::Error| e.to_string())
}

fn parse_color(s: &str) -> Result<[u8; 3], String> {
    compose::parse_color(s).map_err(|e| e.to_string())
}

/// clap value parser for the library's enums: their own error names the parameter and the choices.
fn parse_lib<T: std::str::FromStr<Err = rmbg_ultra::Error>>(s: &str) -> Result<T, String> {
    s.parse().map_err(|e: rmbg_ultra::Error| e.to_string())
}

/// Where an input comes from or an output goes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Place {
    File(PathBuf),
    Std,
}

impl std::fmt::Display for Place {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Place::File(p) => write!(f, "{}", p.display()),
            Place::Std => f.write_str("-"),
        }
    }
}

/// One input and where its outputs go (`None`: not written).
#[derive(Debug)]
struct Job {
    input: Place,
    cutout: Option<Place>,
    mask: Option<Place>,
}

impl Job {
    fn outputs(&self) -> impl Iterator<Item = &Place> {
        self.cutout.iter().chain(self.mask.iter())
    }

    fn outputs_exist(&self) -> bool {
        self.outputs().any(|o| matches!(o, Place::File(p) if p.exists()))
    }
}

/// What happened to one input, for the progress line, `--json` and the summary.
struct Outcome {
    timings: Timings,
    result: Result<()>,
}

/// One input on its way through the stages, with the time each one took so far.
struct InHand<T> {
    item: Result<T>,
    timings: Timings,
}

/// An image with its segmentation map, between the network and the rest.
struct Segmented {
    image: image::RgbImage,
    map: rmbg_ultra::segment::SegmentationMap,
}

/// Output naming, from the command line.
struct Naming {
    format: Format,
    cutout: bool,
    mask: bool,
}

pub fn run(args: RemoveArgs, quiet: bool) -> Result<ExitCode> {
    let params = Params {
        profile: args.profile,
        foreground: args.foreground.unwrap_or(args.profile.default_foreground()),
        detail_erode: args.erode,
        detail_dilate: args.dilate,
        black_point: args.black_point,
        white_point: args.white_point,
        max_megapixels: args.max_megapixels,
        ..Params::for_profile(args.profile)
    }
    .with_detail(args.method, args.fast, !args.no_detail);
    params.validate()?;
    let naming = Naming { format: args.format, cutout: !args.only_mask, mask: args.only_mask || args.save_mask };
    let jobs = plan(&args.inputs, &args.output, &naming)?;
    anyhow::ensure!(!jobs.is_empty(), "no image files found in {:?}", args.inputs);
    if let Some(n) = args.jobs {
        anyhow::ensure!(n >= 1, "--jobs must be at least 1");
        rayon::ThreadPoolBuilder::new().num_threads(n).build_global().context("setting --jobs")?;
    }

    // A bad backdrop is an argument error: found before any model is loaded.
    let backdrop = match (&args.background_image, args.background) {
        (Some(path), _) => Backdrop::Image(
            rmbg_ultra::decode::decode_file(path, &DecodeLimits { max_pixels: args.max_pixels }).with_context(|| format!("--background-image {}", path.display()))?,
        ),
        (None, Some(color)) => Backdrop::Color(color),
        (None, None) if args.premultiplied => Backdrop::Premultiplied,
        (None, None) => Backdrop::Transparent,
    };
    let outputs = Outputs { format: naming.format, cutout: naming.cutout.then_some(backdrop), mask: naming.mask };
    let mut options = args.models.remover_options();
    if args.fast {
        options = options.fast(params.profile)?;
        announce_local_model(&options, quiet || args.json);
    }
    let remover = Remover::new(options)?;
    remover.prepare(&params)?;
    let device = remover.device();
    if !quiet && !args.json {
        eprintln!(
            "segmentation on {device}; {} image(s), profile {}, method {}, foreground {}",
            jobs.len(),
            params.profile,
            if params.process_detail { params.method.node_name() } else { "none (coarse mask)" },
            params.foreground
        );
    }

    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        // A second Ctrl-C kills at once; the first lets the image in hand finish (no partial file either way).
        let _ = ctrlc::set_handler(move || {
            if flag.swap(true, Ordering::SeqCst) {
                std::process::exit(130);
            }
        });
    }

    let bar = if quiet || args.json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(jobs.len() as u64).with_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {per_sec} eta {eta} {wide_msg}").unwrap(),
        )
    };
    let limits = DecodeLimits { max_pixels: args.max_pixels };
    let started = Instant::now();
    let (mut written, mut skipped, mut failures) = (0usize, 0usize, Vec::new());

    // Three stages overlap, one image each, in order: image N+1 is read and decoded while image N
    // is in the network and image N−1 is refined, encoded and written. Bounded channels keep at
    // most one image waiting between stages, so memory does not grow with the batch.
    let (decoded_tx, decoded_rx) = mpsc::sync_channel::<(usize, Option<InHand<image::RgbImage>>)>(1);
    let (segmented_tx, rx) = mpsc::sync_channel::<(usize, Option<InHand<Segmented>>)>(1);
    let overwrite = args.overwrite;
    std::thread::scope(|scope| -> Result<()> {
        let jobs = &jobs;
        let stop = interrupted.clone();
        scope.spawn(move || {
            for (i, job) in jobs.iter().enumerate() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let item = if !overwrite && job.outputs_exist() {
                    None
                } else {
                    // Reading the file counts as decoding: the CLI's decode seconds always included it.
                    let mut timings = Timings::default();
                    let item = timings.time(Stage::Decode, || {
                        read_input(&job.input).and_then(|bytes| {
                            decode_bytes(&bytes, Path::new(&job.input.to_string()), &limits).map_err(anyhow::Error::from)
                        })
                    });
                    Some(InHand { item, timings })
                };
                if decoded_tx.send((i, item)).is_err() {
                    break;
                }
            }
        });
        let remover = &remover;
        scope.spawn(move || {
            for (i, item) in decoded_rx {
                let item = item.map(|InHand { item, mut timings }| {
                    let item = item.and_then(|image| {
                        let map = job::segment(remover, &image, params.profile, &mut timings)?;
                        Ok(Segmented { image, map })
                    });
                    InHand { item, timings }
                });
                if segmented_tx.send((i, item)).is_err() {
                    break;
                }
            }
        });
        for (i, item) in rx {
            let job = &jobs[i];
            bar.set_message(job.input.to_string());
            let Some(segmented) = item else {
                skipped += 1;
                if args.json {
                    println!("{}", json!({"input": job.input.to_string(), "status": "skipped", "reason": "outputs exist (--overwrite replaces them)"}));
                }
                bar.inc(1);
                continue;
            };
            let outcome = process(remover, &params, job, segmented, &outputs, overwrite);
            match &outcome.result {
                Ok(()) => written += 1,
                Err(e) => {
                    if !args.json && !quiet {
                        bar.suspend(|| eprintln!("error: {}: {e:#}", job.input));
                    }
                    failures.push((job.input.to_string(), format!("{e:#}")));
                }
            }
            if args.json {
                let error = outcome.result.as_ref().err().map(|e| format!("{e:#}"));
                println!(
                    "{}",
                    json!({
                        "input": job.input.to_string(),
                        "status": if error.is_none() { "ok" } else { "error" },
                        "outputs": if error.is_none() { job.outputs().map(|o| o.to_string()).collect::<Vec<_>>() } else { vec![] },
                        "seconds": outcome.timings.recorded().map(|(stage, d)| (stage.name().to_string(), d.as_secs_f64().into())).collect::<serde_json::Map<_, _>>(),
                        "error": error,
                    })
                );
            }
            bar.inc(1);
            if interrupted.load(Ordering::SeqCst) {
                break;
            }
        }
        Ok(())
    })?;
    bar.finish_and_clear();

    let stopped = interrupted.load(Ordering::SeqCst);
    let not_started = jobs.len() - written - skipped - failures.len();
    if args.json {
        println!(
            "{}",
            json!({"summary": {
                "written": written, "skipped": skipped, "failed": failures.len(), "not_started": not_started,
                "interrupted": stopped, "device": device.to_string(), "seconds": started.elapsed().as_secs_f64(),
                "failures": failures.iter().map(|(i, e)| json!({"input": i, "error": e})).collect::<Vec<_>>(),
            }})
        );
    } else if !quiet {
        let mut line = format!("{written} written, {} failed", failures.len());
        if skipped > 0 {
            line += &format!(", {skipped} skipped (outputs exist; --overwrite replaces them)");
        }
        if stopped {
            line += &format!(", interrupted ({not_started} not started)");
        }
        eprintln!("{line} in {:.1} s on {device}", started.elapsed().as_secs_f64());
        for (input, e) in &failures {
            eprintln!("  failed: {input}: {e}");
        }
    }
    Ok(if stopped {
        ExitCode::from(130)
    } else if failures.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Making a model locally takes minutes: say so before it starts rather than look hung.
fn announce_local_model(options: &RemoverOptions, quiet: bool) {
    let Some(spec) = rmbg_ultra::models::spec(&options.seg_model) else { return };
    let Some(base) = rmbg_ultra::models::made_from(spec.id) else { return };
    if !quiet && options.allow_fetch && matches!(options.store.verify(spec), Ok(rmbg_ultra::models::Status::Missing)) {
        eprintln!("making {} from {base} once (int8 quantisation, a few minutes; needs python3)", spec.id);
    }
}

fn read_input(input: &Place) -> Result<Vec<u8>> {
    match input {
        Place::File(p) => std::fs::read(p).with_context(|| format!("cannot read {}", p.display())),
        Place::Std => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).context("reading standard input")?;
            Ok(buf)
        }
    }
}

/// Everything after the network for one input, then its files.
fn process(remover: &Remover, params: &Params, job: &Job, segmented: InHand<Segmented>, outputs: &Outputs, overwrite: bool) -> Outcome {
    let InHand { item, mut timings } = segmented;
    let result = (|| -> Result<()> {
        let Segmented { image, map } = item?;
        let cut = job::finish(remover, &image, &map, params, &mut timings)?;
        drop((image, map));
        let encoded = job::encode(cut, outputs, &mut timings)?;
        // The CLI's encode seconds include writing the files.
        timings.time(Stage::Encode, || {
            for (dest, bytes) in [(&job.cutout, &encoded.cutout), (&job.mask, &encoded.mask)] {
                if let (Some(dest), Some(bytes)) = (dest, bytes) {
                    write_output(dest, bytes, overwrite)?;
                }
            }
            Ok(())
        })
    })();
    Outcome { timings, result }
}

fn write_output(dest: &Place, bytes: &[u8], overwrite: bool) -> Result<()> {
    match dest {
        Place::File(p) => write_atomic(p, bytes, overwrite).with_context(|| format!("writing {}", p.display())),
        Place::Std => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes).and_then(|_| out.flush()).context("writing standard output")
        }
    }
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

fn has_glob(p: &Path) -> bool {
    p.to_str().is_some_and(|s| s.contains(['*', '?', '[']))
}

/// The folder part of a glob pattern before its first wildcard: outputs keep paths relative to it.
fn glob_base(pattern: &str) -> PathBuf {
    let literal: Vec<&str> = pattern.split('/').take_while(|c| !c.contains(['*', '?', '['])).collect();
    PathBuf::from(literal.join("/"))
}

/// Every input as (file, folder its output path is relative to).
fn expand(inputs: &[PathBuf]) -> Result<Vec<(PathBuf, PathBuf)>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found = Vec::new();
            walk(input, &mut found)?;
            files.extend(found.into_iter().map(|f| (f, input.clone())));
        } else if !input.exists() && has_glob(input) {
            let pattern = input.to_str().unwrap();
            let base = glob_base(pattern);
            let mut found: Vec<PathBuf> = glob::glob(pattern)
                .with_context(|| format!("bad glob pattern {pattern}"))?
                .filter_map(|e| e.ok())
                .filter(|p| p.is_file() && is_image(p))
                .collect();
            anyhow::ensure!(!found.is_empty(), "no image files match {pattern}");
            found.sort();
            files.extend(found.into_iter().map(|f| (f, base.clone())));
        } else {
            // A missing file stays in the batch: it fails on its own, with its name, and the rest goes on.
            let base = input.parent().map(Path::to_path_buf).unwrap_or_default();
            files.push((input.clone(), base));
        }
    }
    Ok(files)
}

/// Maps inputs to outputs: `OUT/<relative folder>/<stem>.<ext>` (+ `<stem>.mask.<ext>`), or, for
/// one input and an OUT with an image extension or `-`, OUT itself.
fn plan(inputs: &[PathBuf], output: &Path, naming: &Naming) -> Result<Vec<Job>> {
    let stdin = inputs.iter().any(|p| p.as_os_str() == "-");
    anyhow::ensure!(!stdin || inputs.len() == 1, "- (standard input) must be the only input");
    let single = stdin || (inputs.len() == 1 && inputs[0].is_file());
    let to_stdout = output.as_os_str() == "-";
    if to_stdout {
        anyhow::ensure!(single, "-o - (standard output) takes exactly one input");
        anyhow::ensure!(naming.cutout != naming.mask, "standard output takes one image: drop --save-mask, or use --only-mask");
    }
    let input = if stdin { Place::Std } else { Place::File(inputs[0].clone()) };
    let ext = naming.format.extension();
    if single && (to_stdout || output.extension().is_some_and(|e| is_image(Path::new(&format!("x.{}", e.to_string_lossy()))))) {
        let (cutout, mask) = if to_stdout {
            (naming.cutout.then_some(Place::Std), naming.mask.then_some(Place::Std))
        } else if naming.cutout {
            (Some(Place::File(output.to_path_buf())), naming.mask.then(|| Place::File(output.with_extension(format!("mask.{ext}")))))
        } else {
            (None, Some(Place::File(output.to_path_buf())))
        };
        return Ok(vec![Job { input, cutout, mask }]);
    }
    if stdin {
        let stem = output.join("stdin");
        return Ok(vec![Job {
            input,
            cutout: naming.cutout.then(|| Place::File(stem.with_extension(ext))),
            mask: naming.mask.then(|| Place::File(stem.with_extension(format!("mask.{ext}")))),
        }]);
    }
    let mut jobs = Vec::new();
    let mut seen = HashSet::new();
    for (file, base) in expand(inputs)? {
        let rel = file.strip_prefix(&base).unwrap_or(&file).with_extension("");
        let rel = if rel.is_absolute() { PathBuf::from(rel.file_name().unwrap_or_default()) } else { rel };
        let stem_path = output.join(rel);
        // Appended, not `with_extension`: a stem with dots of its own ("x1.5-cafe") keeps them.
        let with_suffix = |suffix: String| {
            let mut name = stem_path.clone().into_os_string();
            name.push(suffix);
            PathBuf::from(name)
        };
        let cutout = with_suffix(format!(".{ext}"));
        let mask = with_suffix(format!(".mask.{ext}"));
        for out in [&cutout, &mask] {
            anyhow::ensure!(
                seen.insert(out.clone()),
                "{} and another input would both write {}; process them separately",
                file.display(),
                out.display()
            );
            anyhow::ensure!(
                file.canonicalize().ok().is_none() || file.canonicalize().ok() != out.canonicalize().ok(),
                "{} would overwrite its own input; choose another output folder",
                file.display()
            );
        }
        jobs.push(Job {
            input: Place::File(file),
            cutout: naming.cutout.then_some(Place::File(cutout)),
            mask: naming.mask.then_some(Place::File(mask)),
        });
    }
    Ok(jobs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::FromArgMatches;

    fn png_naming(mask: bool) -> Naming {
        Naming { format: Format::Png, cutout: true, mask }
    }

    fn file(p: &Option<Place>) -> PathBuf {
        match p {
            Some(Place::File(p)) => p.clone(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn stems_with_dots_keep_them() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["lemur-x1.5-cafe.png", "lemur-x1.2-sky.png"] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let out = dir.path().join("out");
        let jobs = plan(&[dir.path().to_path_buf()], &out, &png_naming(true)).unwrap();
        let mut names: Vec<PathBuf> = jobs.iter().map(|j| file(&j.cutout)).collect();
        names.sort();
        assert_eq!(names, vec![out.join("lemur-x1.2-sky.png"), out.join("lemur-x1.5-cafe.png")]);
        assert!(jobs.iter().any(|j| file(&j.mask) == out.join("lemur-x1.5-cafe.mask.png")));
    }

    #[test]
    fn folder_inputs_keep_their_relative_structure() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("in/sub")).unwrap();
        for f in ["in/a.jpg", "in/sub/b.PNG", "in/notes.txt"] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        let jobs = plan(&[dir.path().join("in")], &dir.path().join("out"), &png_naming(true)).unwrap();
        let outs: Vec<_> = jobs.iter().map(|j| file(&j.cutout).strip_prefix(dir.path()).unwrap().to_path_buf()).collect();
        assert_eq!(outs, vec![PathBuf::from("out/a.png"), PathBuf::from("out/sub/b.png")]);
        assert!(file(&jobs[0].mask).ends_with("out/a.mask.png"));
    }

    #[test]
    fn globs_keep_paths_below_their_literal_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("in/x")).unwrap();
        for f in ["in/x/a.jpg", "in/x/b.txt", "in/c.jpg"] {
            std::fs::write(dir.path().join(f), b"x").unwrap();
        }
        let pattern = dir.path().join("in/*/*.jpg");
        let jobs = plan(&[pattern], &dir.path().join("out"), &png_naming(false)).unwrap();
        assert_eq!(jobs.len(), 1);
        assert_eq!(file(&jobs[0].cutout), dir.path().join("out/x/a.png"));
        assert!(jobs[0].mask.is_none());
    }

    #[test]
    fn single_file_may_name_its_output_file() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("a.jpg");
        std::fs::write(&input, b"x").unwrap();
        let jobs = plan(&[input.clone()], &dir.path().join("cut.png"), &png_naming(true)).unwrap();
        assert_eq!(file(&jobs[0].cutout), dir.path().join("cut.png"));
        assert_eq!(file(&jobs[0].mask), dir.path().join("cut.mask.png"));
        let webp = Naming { format: Format::WebpLossless, cutout: false, mask: true };
        let jobs = plan(&[input], &dir.path().join("m.webp"), &webp).unwrap();
        assert!(jobs[0].cutout.is_none());
        assert_eq!(file(&jobs[0].mask), dir.path().join("m.webp"));
    }

    #[test]
    fn standard_streams_take_one_image() {
        let jobs = plan(&[PathBuf::from("-")], Path::new("-"), &png_naming(false)).unwrap();
        assert_eq!(jobs[0].input, Place::Std);
        assert_eq!(jobs[0].cutout, Some(Place::Std));
        assert!(plan(&[PathBuf::from("-")], Path::new("-"), &png_naming(true)).is_err());
        assert!(plan(&[PathBuf::from("-"), PathBuf::from("a.jpg")], Path::new("out"), &png_naming(false)).is_err());
    }

    #[test]
    fn two_inputs_with_one_output_name_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("x")).unwrap();
        std::fs::write(dir.path().join("a.jpg"), b"x").unwrap();
        std::fs::write(dir.path().join("x/a.jpg"), b"x").unwrap();
        let err = plan(&[dir.path().join("a.jpg"), dir.path().join("x/a.jpg")], &dir.path().join("out"), &png_naming(false)).unwrap_err();
        assert!(err.to_string().contains("would both write"), "{err}");
    }

    #[test]
    fn an_output_onto_its_own_input_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.png"), b"x").unwrap();
        let err = plan(&[dir.path().join("a.png"), dir.path().join("a.png")], dir.path(), &png_naming(false)).unwrap_err();
        assert!(err.to_string().contains("own input") || err.to_string().contains("both write"), "{err}");
    }

    fn remove_command() -> clap::Command {
        RemoveArgs::augment_args(clap::Command::new("remove"))
    }

    #[test]
    fn every_parameter_of_the_table_is_an_option() {
        let cmd = remove_command();
        for p in params::TABLE {
            let name = match p {
                params::Param::Bool(b) => b.off_flag.unwrap_or(b.name),
                other => other.name(),
            };
            let flag = name.replace('_', "-");
            let arg = cmd.get_arguments().find(|a| a.get_long() == Some(flag.as_str()));
            let help = arg.unwrap_or_else(|| panic!("no --{flag}")).get_help().map(|h| h.to_string()).unwrap_or_default();
            assert!(help.starts_with(p.help()), "--{flag}: {help}");
        }
    }

    #[test]
    fn node_options_take_the_tables_defaults_and_checks() {
        let parse = |opts: &[&str]| {
            let argv = [&["remove", "-o", "out", "in.jpg"][..], opts].concat();
            remove_command().try_get_matches_from(argv).and_then(|m| RemoveArgs::from_arg_matches(&m))
        };
        let a = parse(&[]).unwrap();
        assert_eq!((a.erode, a.dilate, a.black_point, a.white_point), (params::ERODE.default, 6, 0.01, params::WHITE_POINT.default));
        assert_eq!((a.max_megapixels, a.max_pixels, a.profile, a.no_detail), (2.0, params::MAX_PIXELS, Profile::Quality, false));
        let a = parse(&["--erode", "255", "--black-point", "0.98", "--no-detail"]).unwrap();
        assert_eq!((a.erode, a.black_point, a.no_detail), (255, 0.98, true));
        for (opts, want) in [
            (["--erode", "0"], "invalid erode = \"0\": allowed 1..=255"),
            (["--dilate", "6.5"], "invalid dilate = \"6.5\": allowed 1..=255"),
            (["--black-point", "0"], "invalid black_point = \"0\": allowed 0.01..=0.98"),
            (["--white-point", "1.2"], "invalid white_point = \"1.2\": allowed 0.02..=0.99"),
            (["--max-megapixels", "nan"], "invalid max_megapixels = \"nan\": allowed 1..=999"),
        ] {
            let e = parse(&opts).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains(opts[0]), "{opts:?}: {e}");
        }
    }

    #[test]
    fn colours_parse_in_every_form() {
        assert_eq!(parse_color("#ff8000").unwrap(), [255, 128, 0]);
        assert_eq!(parse_color("00ff00").unwrap(), [0, 255, 0]);
        assert_eq!(parse_color("1, 2, 3").unwrap(), [1, 2, 3]);
        assert_eq!(parse_color("White").unwrap(), [255, 255, 255]);
        assert!(parse_color("#ggg000").is_err());
        assert!(parse_color("300,0,0").is_err());
    }
}
