//! `rmbg-ultra serve`: the service's options, and its start-up on a Tokio runtime until SIGTERM or
//! Ctrl-C. The service itself is the `rmbg-ultra-server` library.

use anyhow::{Context, Result};
use clap::Args;
use rmbg_ultra::{params, DetailMethod, ModelArgs, Params, Remover};
use rmbg_ultra_server::{Config, Server};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Options of `rmbg-ultra serve`.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Address to listen on (loopback by default; 0.0.0.0 for every interface).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// Port to listen on (0 picks a free one; the address is printed on stderr).
    #[arg(long, default_value_t = 7000)]
    pub port: u16,

    /// Worker threads running requests (decode, model, encode); default: the number of cores.
    #[arg(long)]
    pub workers: Option<usize>,

    /// Requests that may wait for a free worker; beyond that the server answers 503 at once.
    #[arg(long, default_value_t = 8)]
    pub queue: usize,

    /// Largest request body in MB (10^6 bytes): raw image or whole multipart form (413 beyond).
    #[arg(long, default_value_t = 50.0)]
    pub max_body_mb: f64,

    /// Largest image in pixels (width × height), checked from the file header before decoding
    /// (413 beyond); guards against decompression bombs.
    #[arg(long, default_value_t = rmbg_ultra::params::MAX_PIXELS)]
    pub max_pixels: u64,

    /// Open connections at most; further ones wait (in the kernel's backlog) until one closes.
    /// A connection that takes over 30 s to send a request's headers is closed.
    #[arg(long, default_value_t = 1024)]
    pub max_connections: usize,

    /// Seconds a request may take in all (reading, waiting, processing); 504 beyond.
    #[arg(long, default_value_t = 120.0)]
    pub timeout: f64,

    /// Require `Authorization: Bearer <TOKEN>` on every route but /healthz (off by default).
    #[arg(long, env = "RMBG_ULTRA_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    // Of requests that name none (`method=` overrides per request); the default is the request's
    // profile's, as for `remove`.
    #[arg(long, short, help = format!("Detail method of requests that name none (method= overrides it per request). {}", params::method_help()),
          value_parser = parse_method)]
    pub method: Option<DetailMethod>,

    /// Quality-profile requests run the int8 model made from --seg-model unless they say
    /// `fast=false` (made at start when missing, unless --offline; `profile=node` requests keep
    /// the node's model). Without this flag, requests may still ask for `fast=true`.
    #[arg(long)]
    pub fast: bool,

    #[command(flatten)]
    pub models: ModelArgs,
}

fn parse_method(s: &str) -> std::result::Result<DetailMethod, String> {
    s.parse().map_err(|e: rmbg_ultra::Error| e.to_string())
}

impl ServeArgs {
    /// The limits these options describe.
    pub fn config(&self) -> Result<Config> {
        anyhow::ensure!(self.workers != Some(0), "--workers must be at least 1");
        anyhow::ensure!(self.max_body_mb.is_finite() && self.max_body_mb > 0.0, "--max-body-mb must be positive");
        anyhow::ensure!(self.timeout.is_finite() && self.timeout > 0.0, "--timeout must be a positive number of seconds");
        anyhow::ensure!(self.max_pixels > 0, "--max-pixels must be positive");
        anyhow::ensure!(self.max_connections > 0, "--max-connections must be at least 1");
        let token = match &self.token {
            Some(t) if t.trim().is_empty() => anyhow::bail!("--token / RMBG_ULTRA_TOKEN is empty: give a token or leave it unset"),
            t => t.clone(),
        };
        let defaults = Config::default();
        Ok(Config {
            addr: SocketAddr::new(self.host, self.port),
            workers: self.workers.unwrap_or(defaults.workers),
            queue: self.queue,
            max_body_bytes: (self.max_body_mb * 1e6) as usize,
            max_pixels: self.max_pixels,
            timeout: Duration::from_secs_f64(self.timeout),
            token,
            default_method: self.method,
            default_fast: self.fast,
            max_connections: self.max_connections,
            ..defaults
        })
    }
}

/// `rmbg-ultra serve`: loads the models, serves until SIGTERM or Ctrl-C, then drains.
pub fn run(args: ServeArgs) -> Result<()> {
    let config = args.config()?;
    let remover = Remover::new(args.models.remover_options())?;
    if args.fast {
        // Make (or fetch) the int8 model here, at start: requests never wait minutes for it.
        let fast = remover.options().fast(rmbg_ultra::Profile::Quality)?;
        fast.store.resolve(&fast.seg_model, rmbg_ultra::models::Task::Segmentation, fast.allow_fetch)?;
    }
    for profile in rmbg_ultra::Profile::ALL {
        let fast = config.default_fast && profile == rmbg_ultra::Profile::Quality;
        let params = Params::for_profile(profile).with_detail(config.default_method, fast, true);
        let method = params.method;
        if let Err(e) = remover.prepare(&params) {
            tracing::warn!(
                "the default method {method} of profile {profile} is not available ({e}); such requests must name another one (method=GuidedFilter), or start with --method"
            );
        }
    }
    if config.token.is_none() && !config.addr.ip().is_loopback() {
        tracing::warn!("listening on {} without --token: anyone who reaches this address can use the service", config.addr.ip());
    }
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().context("starting the runtime")?;
    rt.block_on(async move {
        let device = remover.device();
        let signal = shutdown_signal().context("installing the SIGTERM/SIGINT handlers")?;
        let server = Server::bind(config.clone(), Arc::new(remover)).await.with_context(|| format!("cannot listen on {}", config.addr))?;
        if args.fast {
            server.load_fast().map_err(|e| anyhow::anyhow!("--fast: {e}"))?;
        }
        let addr = server.local_addr()?;
        // One line on stderr, always: scripts (and the tests) read the port from it.
        eprintln!(
            "rmbg-ultra serve: listening on http://{addr} (segmentation on {device}; {} workers, queue {}, default method {})",
            config.workers,
            config.queue,
            config.default_method.map_or("the profile's".to_string(), |m| m.to_string())
        );
        server.serve(signal).await?;
        eprintln!("rmbg-ultra serve: stopped");
        Ok(())
    })
}

/// SIGTERM or Ctrl-C (SIGINT). The handlers are installed when this is called (not when the
/// future is first polled), so a signal that comes right after start-up is not lost.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {},
                _ = int.recv() => {},
            }
            eprintln!("rmbg-ultra serve: shutting down, finishing in-flight requests");
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async move {
            let _ = tokio::signal::ctrl_c().await;
            eprintln!("rmbg-ultra serve: shutting down, finishing in-flight requests");
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Command {
        #[command(flatten)]
        serve: ServeArgs,
    }

    fn config(args: &[&str]) -> Result<Config> {
        Command::try_parse_from(std::iter::once("serve").chain(args.iter().copied())).unwrap().serve.config()
    }

    #[test]
    fn options_become_the_services_limits() {
        let c = config(&[
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--workers",
            "3",
            "--max-body-mb",
            "1.5",
            "--timeout",
            "2.5",
            "--method",
            "GuidedFilter",
            "--fast",
        ])
        .unwrap();
        assert_eq!(c.addr, "0.0.0.0:0".parse().unwrap());
        assert_eq!((c.workers, c.queue, c.max_body_bytes, c.max_connections), (3, 8, 1_500_000, 1024));
        assert_eq!(c.timeout, Duration::from_millis(2500));
        assert_eq!((c.default_method, c.default_fast, c.token), (Some(DetailMethod::GUIDED_FILTER), true, None));
        assert_eq!(config(&[]).unwrap().workers, Config::default().workers);
    }

    #[test]
    fn limits_that_would_refuse_everything_are_errors_naming_the_option() {
        for (args, option) in [
            (&["--workers", "0"][..], "--workers"),
            (&["--max-body-mb", "0"], "--max-body-mb"),
            (&["--timeout=-1"], "--timeout"),
            (&["--max-pixels", "0"], "--max-pixels"),
            (&["--max-connections", "0"], "--max-connections"),
            (&["--token", " "], "--token"),
        ] {
            let err = config(args).unwrap_err().to_string();
            assert!(err.contains(option), "{args:?}: {err}");
        }
    }

    #[test]
    fn the_model_options_are_the_shared_ones() {
        let args = Command::try_parse_from(["serve", "--seg-model", "m.onnx", "--device", "cpu", "--offline"]).unwrap().serve;
        let options = args.models.remover_options();
        assert_eq!((options.seg_model.as_str(), options.device, options.allow_fetch), ("m.onnx", rmbg_ultra::Device::Cpu, false));
    }
}
