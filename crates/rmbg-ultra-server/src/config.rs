//! The service's limits and defaults, as the embedding code (or `rmbg-ultra serve`) sets them.

use rmbg_ultra::DetailMethod;
use std::net::SocketAddr;
use std::time::Duration;

/// The service's limits and defaults.
#[derive(Debug, Clone)]
pub struct Config {
    pub addr: SocketAddr,
    /// Worker threads running decode → model → encode.
    pub workers: usize,
    /// Requests that may wait for a worker; one more is answered 503.
    pub queue: usize,
    /// Largest request body (raw image or whole multipart form).
    pub max_body_bytes: usize,
    /// Largest image, width × height, checked from the file header.
    pub max_pixels: u64,
    /// Whole request: reading the body, waiting, processing.
    pub timeout: Duration,
    /// Bearer token required on every route but `/healthz`.
    pub token: Option<String>,
    /// Detail method of requests that name none; `None`: their profile's (PyMatting for quality,
    /// VITMatte for node).
    pub default_method: Option<DetailMethod>,
    /// Quality-profile requests that do not say `fast=` run the int8 model (`serve --fast`).
    pub default_fast: bool,
    /// Open connections at most; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers, and how long a kept-alive
    /// connection may stay idle, before it is closed.
    pub header_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            addr: SocketAddr::from(([127, 0, 0, 1], 7000)),
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue: 8,
            max_body_bytes: 50_000_000,
            max_pixels: rmbg_ultra::params::MAX_PIXELS,
            timeout: Duration::from_secs(120),
            token: None,
            default_method: None,
            default_fast: false,
            max_connections: 1024,
            header_timeout: Duration::from_secs(30),
        }
    }
}
