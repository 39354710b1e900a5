//! ONNX Runtime: where its shared library comes from and how it is loaded.
//!
//! The `ort` crate is built with `load-dynamic`, so nothing is downloaded at build time; the library
//! is the one inside the official PyPI wheel, fetched by `pip download` into the cache and checked
//! against a pinned sha256. Lookup order at run time: `ORT_DYLIB_PATH`, then the cache.

use crate::models::{cache_root, sha256_file};
use crate::{Error, Result};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

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
            let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| Error::io(&dir, e))?;
            let got = copy_hashing(&mut entry, tmp.as_file_mut()).map_err(|e| Error::io(&target, e))?;
            if got != *sha {
                return Err(Error::runtime(
                    format!("{member} from {} has sha256 {got}, expected {sha}", self.pip_requirement),
                    "the package index served a different build; nothing was installed",
                ));
            }
            tmp.persist(&target).map_err(|e| Error::io(&target, e.error))?;
        }
        Ok(self.library_path())
    }
}

/// Copies `from` into `to` and returns the sha256 of what went through, without holding it all.
fn copy_hashing(from: &mut impl Read, to: &mut impl std::io::Write) -> std::io::Result<String> {
    use sha2::Digest;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n])?;
    }
    Ok(hex::encode(hasher.finalize()))
}

fn file_name(member: &str) -> &str {
    member.rsplit('/').next().unwrap_or(member)
}

/// The library that [`init`] loads: `ORT_DYLIB_PATH`, else the CUDA build when installed (it runs
/// on the CPU too when no GPU is there), else the CPU build.
pub fn find_library() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(Error::runtime(format!("ORT_DYLIB_PATH={} does not exist", p.display()), SETUP_HINT))
        };
    }
    for build in [CUDA_RUNTIME, CPU_RUNTIME] {
        if build.is_installed() {
            return Ok(build.library_path());
        }
    }
    Err(Error::runtime(
        format!("the ONNX Runtime library was not found in {} or {}", CPU_RUNTIME.dir().display(), CUDA_RUNTIME.dir().display()),
        SETUP_HINT,
    ))
}

static ENVIRONMENT: OnceLock<std::result::Result<(PathBuf, ort::environment::Environment), String>> = OnceLock::new();

/// Loads ONNX Runtime once per process; later calls return the same library and environment.
pub fn init() -> Result<(&'static Path, &'static ort::environment::Environment)> {
    let state = ENVIRONMENT.get_or_init(|| {
        let path = find_library().map_err(|e| e.to_string())?;
        let env = ort::init_from(&path)
            .map_err(|e| format!("cannot load {}: {e}", path.display()))?
            .with_name("rmbg-ultra")
            .build()
            .map_err(|e| format!("cannot start {}: {e}", path.display()))?;
        tracing::debug!("loaded ONNX Runtime from {}", path.display());
        Ok((path, env))
    });
    match state {
        Ok((path, env)) => Ok((path.as_path(), env)),
        Err(msg) => Err(Error::runtime(msg.clone(), SETUP_HINT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_hashing_copies_and_hashes() {
        let mut out = Vec::new();
        let h = copy_hashing(&mut &b"abc"[..], &mut out).unwrap();
        assert_eq!(out, b"abc");
        assert_eq!(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn library_lives_in_a_versioned_cache_folder() {
        let p = CPU_RUNTIME.library_path();
        assert!(p.ends_with("runtime/onnxruntime-cpu-1.32.0/libonnxruntime.so.1.32.0"), "{}", p.display());
    }
}
