//! `rmbg-ultra`: parses arguments and reports; the work lives in the `rmbg-ultra` library.

mod remove;
mod serve;

use anyhow::Result;
use clap::{Parser, Subcommand};
use rmbg_ultra::models::{self, ModelStore, Status};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "rmbg-ultra", version, about = "Background remover exact to the ComfyUI node \"LayerMask: RmBgUltra V2\", in Rust.")]
struct Cli {
    /// Print only errors.
    #[arg(long, short, global = true)]
    quiet: bool,
    /// More log output (-v info on every stage, -vv debug).
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Cut out the foreground of images: writes RGBA PNGs (and masks).
    Remove(remove::RemoveArgs),
    /// Install the ONNX Runtime library and the default model into the cache (idempotent).
    Setup {
        /// Also install ONNX Runtime's CUDA build (onnxruntime-gpu, ~250 MB; needs CUDA 13 and cuDNN 9 at run time).
        #[arg(long)]
        cuda: bool,
        /// Also make isnet-general-int8, the model of `--fast` (int8 quantisation on this machine,
        /// a few minutes once; needs python3).
        #[arg(long)]
        int8: bool,
    },
    /// List, fetch, verify or locate models.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Run the HTTP service: POST /v1/remove, GET /healthz, /v1/models, /metrics.
    Serve(serve::ServeArgs),
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Every known model: id, task, installed or not, size, licence.
    List,
    /// Download models into the cache (all given ids; the default model when none).
    Fetch {
        ids: Vec<String>,
        /// Fetch again even when the cached file verifies.
        #[arg(long)]
        force: bool,
    },
    /// Re-hash cached models and compare with their checksums.
    Verify { ids: Vec<String> },
    /// Print the path of a model's file (fails when it is not installed).
    Path { id: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = match (cli.quiet, cli.verbose) {
        (true, _) => "error",
        (false, 0) => "warn,ort=error",
        (false, 1) => "warn,ort=error,rmbg_ultra=info,rmbg_ultra_cli=info",
        _ => "info,rmbg_ultra=debug,rmbg_ultra_cli=debug",
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("RMBG_ULTRA_LOG").unwrap_or_else(|_| filter.into()))
        .with_writer(std::io::stderr)
        .with_target(false)
        .without_time()
        .init();
    let result = match cli.command {
        Command::Remove(args) => remove::run(args, cli.quiet),
        Command::Setup { cuda, int8 } => setup(cuda, int8, cli.quiet).map(|_| ExitCode::SUCCESS),
        Command::Models(cmd) => models_command(cmd, cli.quiet).map(|_| ExitCode::SUCCESS),
        Command::Serve(args) => serve::run(args).map(|_| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn setup(cuda: bool, int8: bool, quiet: bool) -> Result<()> {
    let builds: &[rmbg_ultra::runtime::RuntimeBuild] =
        if cuda { &[rmbg_ultra::runtime::CPU_RUNTIME, rmbg_ultra::runtime::CUDA_RUNTIME] } else { &[rmbg_ultra::runtime::CPU_RUNTIME] };
    for build in builds {
        let lib = build.install()?;
        if !quiet {
            eprintln!("ONNX Runtime ({}): {}", build.name, lib.display());
        }
    }
    let store = ModelStore::open_default();
    fetch(&store, models::DEFAULT_SEGMENTATION, false, quiet)?;
    if int8 {
        let id = models::int8_of(models::DEFAULT_SEGMENTATION).expect("the default model has an int8 variant");
        fetch(&store, id, false, quiet)?;
    }
    Ok(())
}

fn known(id: &str) -> Result<&'static models::ModelSpec> {
    models::spec(id).ok_or_else(|| {
        let ids: Vec<&str> = models::MODELS.iter().map(|m| m.id).collect();
        anyhow::anyhow!("unknown model {id}: known models are {}", ids.join(", "))
    })
}

fn fetch(store: &ModelStore, id: &str, force: bool, quiet: bool) -> Result<()> {
    let spec = known(id)?;
    if !force {
        if let Status::Ok(entry) = store.verify(spec)? {
            if !quiet {
                eprintln!("{id}: installed, {}", entry.file.display());
            }
            return Ok(());
        }
    }
    let bar = if quiet || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        indicatif::ProgressBar::hidden()
    } else {
        indicatif::ProgressBar::new(0).with_style(
            indicatif::ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {eta}").unwrap(),
        )
    };
    bar.set_message(id.to_string());
    let path = store.fetch(spec, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })?;
    bar.finish_and_clear();
    if !quiet {
        eprintln!("{id}: fetched, {}", path.display());
    }
    Ok(())
}

fn models_command(cmd: ModelsCommand, quiet: bool) -> Result<()> {
    let store = ModelStore::open_default();
    match cmd {
        ModelsCommand::List => {
            println!("{:<18} {:<13} {:<10} {:>11}  {}", "ID", "TASK", "STATUS", "SIZE", "LICENCE / DESCRIPTION");
            for m in models::MODELS {
                let (status, size) = match store.verify(m)? {
                    Status::Ok(e) => ("installed", e.size.to_string()),
                    Status::Missing => ("missing", m.size.map_or("-".into(), |s| s.to_string())),
                    Status::Corrupt { .. } => ("damaged", "-".into()),
                };
                let default = if m.is_default { " [default]" } else { "" };
                println!("{:<18} {:<13} {:<10} {:>11}  {}; {}{default}", m.id, format!("{:?}", m.task).to_lowercase(), status, size, m.license, m.description);
            }
            println!("cache: {}", store.root().display());
        }
        ModelsCommand::Fetch { ids, force } => {
            let ids = if ids.is_empty() { vec![models::DEFAULT_SEGMENTATION.to_string()] } else { ids };
            for id in ids {
                fetch(&store, &id, force, quiet)?;
            }
        }
        ModelsCommand::Verify { ids } => {
            let specs: Vec<_> = if ids.is_empty() {
                models::MODELS.iter().collect()
            } else {
                ids.iter().map(|id| known(id)).collect::<Result<_>>()?
            };
            let mut bad = 0;
            for m in specs {
                match store.verify_with(m, true)? {
                    Status::Ok(e) => println!("{}: ok sha256 {} {}", m.id, e.sha256, e.file.display()),
                    Status::Missing => println!("{}: not installed", m.id),
                    Status::Corrupt { path, reason } => {
                        bad += 1;
                        println!("{}: DAMAGED {} ({reason}); run `rmbg-ultra models fetch {} --force`", m.id, path.display(), m.id)
                    }
                }
            }
            anyhow::ensure!(bad == 0, "{bad} model file(s) failed verification");
        }
        ModelsCommand::Path { id } => {
            let spec = known(&id)?;
            match store.verify(spec)? {
                Status::Ok(e) => println!("{}", e.file.display()),
                _ => anyhow::bail!("{id} is not installed: run `rmbg-ultra models fetch {id}`"),
            }
        }
    }
    Ok(())
}
