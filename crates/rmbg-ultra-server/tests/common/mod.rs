//! Shared by the service tests: servers on 127.0.0.1:0, the HTTP client and test images of the
//! test-support crate, and the tiny segmentation fixture (testdata/tiny-seg) so that hundreds of requests stay cheap while every
//! one still runs through the real service (admission, queue, workers, decode, ONNX Runtime, encode).
// Each test file uses a part of this module.
#![allow(dead_code, unused_imports)]

use std::net::SocketAddr;
use rmbg_ultra::{DetailMethod, Device, Remover, RemoverOptions};
use rmbg_ultra_server::{spawn, Config, Running};
// tiny_model: meets the segmentation contract; broken_model: runs but answers [1,1,1,1024], so every
// request is a 500 (both in testdata/tiny-seg).
pub use rmbg_ultra_test_support::http::*;
pub use rmbg_ultra_test_support::{broken_segmentation_model as broken_model, png_claiming, tiny_segmentation_model as tiny_model};
use std::sync::Arc;

pub fn remover(seg_model: &str) -> Arc<Remover> {
    Arc::new(
        Remover::new(RemoverOptions {
            seg_model: seg_model.to_string(),
            device: Device::Cpu,
            allow_fetch: false,
            ..RemoverOptions::default()
        })
        .unwrap_or_else(|e| panic!("cannot load {seg_model}: {e} (run `cargo run -p rmbg-ultra-cli -- setup` first)")),
    )
}

/// The real default segmentation model (IS-Net, ~2-4 s per request on 2 cores).
pub fn real_remover() -> Arc<Remover> {
    remover(rmbg_ultra::models::DEFAULT_SEGMENTATION)
}

pub fn tiny_remover() -> Arc<Remover> {
    remover(tiny_model().to_str().unwrap())
}

pub fn config() -> Config {
    Config {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        workers: 2,
        queue: 8,
        default_method: Some(DetailMethod::GUIDED_FILTER),
        ..Config::default()
    }
}

pub fn start(config: Config, remover: Arc<Remover>) -> Running {
    spawn(config, remover).expect("server starts")
}

/// Resident memory of this process, bytes.
pub fn rss() -> u64 {
    rmbg_ultra_server::metrics::resident_bytes().expect("VmRSS in /proc/self/status")
}
