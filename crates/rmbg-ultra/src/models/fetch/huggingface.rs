//! Downloads one file of a Hugging Face model repository into the model store.
//!
//! URL layout `{endpoint}/{repo}/resolve/main/{file}`, as the hub and its mirrors serve it. The
//! environment is read only by [`HfConfig::from_env`]: `HF_ENDPOINT` (a mirror, or a local test
//! server), `HF_TOKEN` (sent as `Authorization: Bearer …` to the endpoint only, not to where it
//! redirects), `HF_HUB_OFFLINE` (refuse to download). Everything else takes an explicit
//! [`HfConfig`], so tests need no process-wide environment.
//!
//! The body goes through [`super::install_checked`]: hashed while it is written, renamed into place
//! only after size and checksum are right, so an interrupted or wrong download never leaves a file
//! that looks installed.

use super::{install_checked, Pins};
use crate::fs::Hashed;
use crate::models::{ModelSpec, ModelStore, Source};
use crate::{Error, Result};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The public hub, used when `HF_ENDPOINT` is not set.
pub const DEFAULT_ENDPOINT: &str = concat!("https://", "huggingface", ".co");

/// Where and how to download.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HfConfig {
    /// Scheme and host (and port), without a trailing slash.
    pub endpoint: String,
    /// Sent as a bearer token when set.
    pub token: Option<String>,
    /// When true every download is refused.
    pub offline: bool,
}

impl Default for HfConfig {
    fn default() -> Self {
        HfConfig { endpoint: DEFAULT_ENDPOINT.to_string(), token: None, offline: false }
    }
}

impl HfConfig {
    /// `HF_ENDPOINT`, `HF_TOKEN` (or the older `HUGGING_FACE_HUB_TOKEN`) and `HF_HUB_OFFLINE`,
    /// read the way `huggingface_hub` reads them.
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        HfConfig {
            endpoint: var("HF_ENDPOINT").map(|e| e.trim_end_matches('/').to_string()).unwrap_or_else(|| DEFAULT_ENDPOINT.to_string()),
            token: var("HF_TOKEN").or_else(|| var("HUGGING_FACE_HUB_TOKEN")),
            offline: var("HF_HUB_OFFLINE").is_some_and(|v| is_true(&v)),
        }
    }

    /// The download URL of `file` in `repo` (branch `main`).
    pub fn url(&self, repo: &str, file: &str) -> String {
        format!("{}/{repo}/resolve/main/{file}", self.endpoint.trim_end_matches('/'))
    }
}

fn is_true(v: &str) -> bool {
    matches!(v.to_ascii_uppercase().as_str(), "1" | "ON" | "YES" | "TRUE")
}

/// Downloads `repo`/`file` to `dest` (atomically), checking `size` and `sha256` when given.
/// `progress(done, total)` is called as bytes arrive; `total` is 0 when the server does not say.
/// `model` names the model in errors.
#[allow(clippy::too_many_arguments)]
pub fn download(
    cfg: &HfConfig,
    model: &str,
    repo: &str,
    file: &str,
    dest: &Path,
    size: Option<u64>,
    sha256: Option<&str>,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<Hashed> {
    let url = cfg.url(repo, file);
    if cfg.offline {
        return Err(Error::model(
            model,
            format!("HF_HUB_OFFLINE is set, so {file} of {repo} was not downloaded"),
            "unset HF_HUB_OFFLINE, or put the file in place yourself and pass its path",
        ));
    }
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(120)))
        .user_agent(concat!("rmbg-ultra/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let mut request = agent.get(&url);
    if let Some(token) = &cfg.token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let response = request.call().map_err(|e| {
        Error::model(model, format!("cannot download {url}: {e}"), "check the network, or set HF_ENDPOINT to a reachable mirror")
    })?;
    let status = response.status().as_u16();
    match status {
        200..=299 => {}
        404 => {
            return Err(Error::model(
                model,
                format!("{file} not found in the Hugging Face repository {repo} ({url} answered 404)"),
                "check the repository and file name, or the mirror in HF_ENDPOINT",
            ))
        }
        401 | 403 => {
            return Err(Error::model(
                model,
                format!("{url} refused access to {file} of {repo} (HTTP {status})"),
                if cfg.token.is_some() {
                    "the token in HF_TOKEN has no access to this repository"
                } else {
                    "set HF_TOKEN to a token with access"
                },
            ))
        }
        _ => return Err(Error::model(model, format!("downloading {file} of {repo} from {url} failed with HTTP {status}"), "")),
    }
    let total = response
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .or(size)
        .unwrap_or(0);
    let mut body = response.into_body().into_reader();
    progress(0, total);
    let pins = Pins { size, sha256 };
    install_checked(model, &format!("the download of {url}"), dest, &mut body, pins, &mut |done| progress(done, total))
}

/// Fetches a Hugging Face model of the store into its place and records size, mtime and sha256
/// in the store's manifest. What [`ModelStore::fetch`] does for `Source::HuggingFace`, with the
/// configuration passed in.
pub fn fetch_into(store: &ModelStore, spec: &ModelSpec, cfg: &HfConfig, progress: &mut dyn FnMut(u64, u64)) -> Result<PathBuf> {
    let Source::HuggingFace { repo, file } = spec.source else {
        return Err(Error::model(spec.id, "is not a Hugging Face model", ""));
    };
    let target = store.path_of(spec);
    let done = download(cfg, spec.id, repo, file, &target, spec.size, spec.sha256, progress)?;
    tracing::info!("{}: fetched {repo}/{file} ({} bytes) to {}", spec.id, done.size, target.display());
    store.record(spec, &done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_follow_the_resolve_layout() {
        let cfg = HfConfig { endpoint: "http://127.0.0.1:9/".into(), ..HfConfig::default() };
        assert_eq!(cfg.url("a/b", "onnx/model.onnx"), "http://127.0.0.1:9/a/b/resolve/main/onnx/model.onnx");
        assert!(HfConfig::default().url("a/b", "f").ends_with("/a/b/resolve/main/f"));
    }

    #[test]
    fn offline_values_are_read_like_huggingface_hub() {
        for v in ["1", "true", "ON", "yes"] {
            assert!(is_true(v), "{v}");
        }
        for v in ["0", "false", "", "off"] {
            assert!(!is_true(v), "{v}");
        }
    }
}
