//! The background remover as an HTTP service that holds load without growing (`rmbg-ultra serve`
//! starts it from the command line).
//!
//! * `POST /v1/remove`: image as the raw body or multipart field `file`; parameters as query or
//!   form fields with the CLI's names; answers the RGBA cutout (or the mask) as PNG, WebP or TIFF.
//! * `GET /healthz`, `GET /v1/models`, `GET /metrics` (Prometheus text).
//!
//! One [`rmbg_ultra::Remover`] (models loaded once) is shared by a fixed pool of worker threads
//! behind a bounded queue; a full queue answers 503 at once. Body size, pixel count, queue length,
//! workers and time per request are bounded by [`Config`]; the shutdown signal finishes in-flight requests
//! and refuses new ones. See [`routes`] for how memory stays bounded.

mod auth;
mod body;
pub mod config;
pub mod error;
pub mod listen;
pub mod metrics;
pub mod pool;
pub mod request;
pub mod routes;

pub use config::Config;
pub use listen::{spawn, Running, Server};
