//! `rmbg-ultra remove`: the node's parameters as options ([`RemoveArgs`], from the library's
//! parameter table), then [`plan`] (which files are read and written), [`batch`] (the overlapped
//! stages) and [`report`] (progress, `--json`, summary): a batch that goes on past bad files.

mod batch;
mod plan;
mod report;

use anyhow::{Context, Result};
use batch::Batch;
use clap::Args;
use plan::{plan, Naming};
use report::Report;
use rmbg_ultra::decode::DecodeLimits;
use rmbg_ultra::encode::Format;
use rmbg_ultra::foreground::ForegroundMethod;
use rmbg_ultra::job::{Backdrop, Outputs};
use rmbg_ultra::{compose, params, DetailMethod, ModelArgs, Params, Profile, Remover, RemoverOptions};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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

    #[arg(long, short, help = params::method_help(), value_parser = parse_lib::<DetailMethod>)]
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
            match (params.process_detail, params.profile) {
                (true, _) => params.method.name(),
                (false, Profile::Node) => "none (the binarised coarse mask)",
                (false, Profile::Quality) => "none (the network's soft mask)",
            },
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

    let mut report = Report::new(jobs.len(), quiet, args.json);
    let batch = Batch {
        remover: &remover,
        params: &params,
        outputs: &outputs,
        limits: DecodeLimits { max_pixels: args.max_pixels },
        overwrite: args.overwrite,
        interrupted: &interrupted,
    };
    batch.run(&jobs, &mut report)?;
    Ok(report.finish(jobs.len(), interrupted.load(Ordering::SeqCst), device))
}

/// Making a model locally takes minutes: say so before it starts rather than look hung.
fn announce_local_model(options: &RemoverOptions, quiet: bool) {
    let Some(spec) = rmbg_ultra::models::spec(&options.seg_model) else { return };
    let Some(base) = rmbg_ultra::models::made_from(spec.id) else { return };
    if !quiet && options.allow_fetch && matches!(options.store.verify(spec), Ok(rmbg_ultra::models::Status::Missing)) {
        eprintln!("making {} from {base} once (int8 quantisation, a few minutes; needs python3)", spec.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::FromArgMatches;

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
