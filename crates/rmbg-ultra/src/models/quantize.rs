//! Models made locally: the int8 IS-Net (`isnet-general-int8`) is quantised on this machine from
//! `isnet-general` by `scripts/quantize-int8.py` in a pinned Python venv, both embedded in the binary
//! so that an installed `rmbg-ultra` needs no checkout (docs/int8.md has the recipe and its numbers).
//!
//! Layout in the cache: `venv-quantize/` (its `.requirements.sha256` stamp says which pinned
//! requirements it holds), `quantize/` (the embedded script and requirements, rewritten when they
//! differ), and the model under `models/<id>/`. Every step works under a temporary name and is
//! renamed into place only when it succeeded, so a failure leaves nothing half-made behind.

use super::{ModelSpec, ModelStore, Task};
use crate::{Error, Result};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The pinned requirements of the quantisation venv (`reference/requirements-quantize.txt`).
pub const REQUIREMENTS: &str = include_str!("../../../../reference/requirements-quantize.txt");
/// The quantiser (`scripts/quantize-int8.py`).
pub const SCRIPT: &str = include_str!("../../../../scripts/quantize-int8.py");

/// The calibration photos (the repository's shared test photos, MIT, see testdata/README.md),
/// written into the cache at run time (the chosen recipe of docs/int8.md calibrates on them alone).
pub const CALIBRATION_IMAGES: &[(&str, &[u8])] = &[
    ("animal.jpg", include_bytes!("../../../../testdata/photos/animal.jpg")),
    ("baby.jpg", include_bytes!("../../../../testdata/photos/baby.jpg")),
    ("car.jpg", include_bytes!("../../../../testdata/photos/car.jpg")),
    ("graphic.jpg", include_bytes!("../../../../testdata/photos/graphic.jpg")),
    ("people.jpg", include_bytes!("../../../../testdata/photos/people.jpg")),
    ("product.jpg", include_bytes!("../../../../testdata/photos/product.jpg")),
];

/// The interpreter that makes the venv: `RMBG_ULTRA_PYTHON`, else `python3`.
pub fn default_python() -> PathBuf {
    std::env::var_os("RMBG_ULTRA_PYTHON").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("python3"))
}

/// How a local quantisation runs.
#[derive(Debug, Clone)]
pub struct QuantizeOptions {
    /// The Python 3 that creates the venv (`python3 -m venv`).
    pub python: PathBuf,
    /// The venv folder; default `<cache>/venv-quantize`.
    pub venv: Option<PathBuf>,
    /// Fetch the base model when it is missing.
    pub fetch_base: bool,
}

impl Default for QuantizeOptions {
    fn default() -> Self {
        QuantizeOptions { python: default_python(), venv: None, fetch_base: true }
    }
}

fn hint(model: &str, what: &str) -> String {
    format!("{what}; then run `rmbg-ultra models fetch {model}` again (or pass a model file path)")
}

/// Makes `spec` (a model with `made_from`) from its base model and installs it into the store.
/// `progress(done, total)` counts calibration images. Returns the installed file.
pub fn make(
    store: &ModelStore,
    spec: &ModelSpec,
    base: &str,
    opts: &QuantizeOptions,
    progress: &mut dyn FnMut(u64, u64),
) -> Result<PathBuf> {
    let base_path = store.resolve(base, Task::Segmentation, opts.fetch_base)?;
    let venv = opts.venv.clone().unwrap_or_else(|| store.root().join("venv-quantize"));
    let python = ensure_venv(spec.id, &opts.python, &venv)?;
    let tools = store.root().join("quantize");
    let script = write_if_changed(&tools.join("quantize-int8.py"), SCRIPT.as_bytes())?;
    write_if_changed(&tools.join("requirements-quantize.txt"), REQUIREMENTS.as_bytes())?;
    let calib = tools.join("calibration");
    for (name, bytes) in CALIBRATION_IMAGES {
        write_if_changed(&calib.join(name), bytes)?;
    }

    let target = store.path_of(spec);
    let dir = target.parent().expect("model path has a folder");
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    // The script writes atomically too, but into a private folder: nothing appears beside the
    // model until it is complete and renamed.
    let work = tempfile::Builder::new().prefix(".quantize-").tempdir_in(dir).map_err(|e| Error::io(dir, e))?;
    let out = work.path().join(spec.file_name);
    let mut cmd = Command::new(&python);
    cmd.arg(&script).arg(&base_path).arg(&out).arg("--calib").arg(&calib).env("PYTHONHASHSEED", "0").env("OMP_NUM_THREADS", "1");
    run_streaming(spec.id, cmd, &format!("{} {}", python.display(), script.display()), progress)?;
    let meta = std::fs::metadata(&out).map_err(|_| {
        Error::model(spec.id, format!("{} finished but wrote no model", script.display()), hint(spec.id, "check the messages above"))
    })?;
    if meta.len() < 1 << 20 {
        return Err(Error::model(spec.id, format!("the quantiser wrote only {} bytes", meta.len()), "nothing was installed"));
    }
    std::fs::rename(&out, &target).map_err(|e| Error::io(&target, e))?;
    Ok(target)
}

/// The venv's Python; creates the venv (`python -m venv`, `pip install -r` of [`REQUIREMENTS`])
/// when it is missing or holds other requirements. Built as `<venv>.partial-*` and renamed.
pub fn ensure_venv(model: &str, python: &Path, venv: &Path) -> Result<PathBuf> {
    let want = crate::fs::sha256_bytes(REQUIREMENTS.as_bytes());
    let stamp = venv.join(".requirements.sha256");
    let venv_python = venv.join("bin").join("python");
    if venv_python.exists() && std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == want) {
        return Ok(venv_python);
    }
    let parent = venv.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    let name = venv.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "venv".into());
    let partial = tempfile::Builder::new().prefix(&format!(".{name}.partial-")).tempdir_in(parent).map_err(|e| Error::io(parent, e))?;
    let py = python.display().to_string();
    tracing::info!("creating the quantisation venv {} with {py}", venv.display());
    run_checked(
        model,
        Command::new(python).args(["-m", "venv"]).arg(partial.path()),
        &format!("{py} -m venv {}", partial.path().display()),
        "install Python 3 with its venv module (Debian: apt-get install python3-venv), or set RMBG_ULTRA_PYTHON to one",
    )?;
    let req = partial.path().join("requirements-quantize.txt");
    std::fs::write(&req, REQUIREMENTS).map_err(|e| Error::io(&req, e))?;
    let partial_python = partial.path().join("bin").join("python");
    run_checked(
        model,
        Command::new(&partial_python).args(["-m", "pip", "install", "-q", "--disable-pip-version-check", "-r"]).arg(&req),
        &format!("{} -m pip install -r requirements-quantize.txt", partial_python.display()),
        "check that pip can reach the package index (onnxruntime==1.32.0, onnx, numpy, pillow)",
    )?;
    std::fs::write(partial.path().join(".requirements.sha256"), format!("{want}\n")).map_err(|e| Error::io(partial.path(), e))?;
    if venv.exists() {
        std::fs::remove_dir_all(venv).map_err(|e| Error::io(venv, e))?;
    }
    let built = partial.keep();
    std::fs::rename(&built, venv).map_err(|e| {
        let _ = std::fs::remove_dir_all(&built);
        Error::io(venv, e)
    })?;
    Ok(venv_python)
}

fn run_checked(model: &str, cmd: &mut Command, shown: &str, what_to_do: &str) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::model(model, format!("cannot run `{shown}`: {e}"), hint(model, what_to_do)))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(Error::model(model, format!("`{shown}` failed ({}){}", out.status, tail(&stderr)), hint(model, what_to_do)));
    }
    Ok(())
}

/// Runs the quantiser, turning its `calibrated i/n` lines into progress and keeping the last lines
/// of its stderr for the error.
fn run_streaming(model: &str, mut cmd: Command, shown: &str, progress: &mut dyn FnMut(u64, u64)) -> Result<()> {
    let what = "see the quantiser's messages; `rmbg-ultra -v models fetch` shows them as it runs";
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::model(model, format!("cannot run `{shown}`: {e}"), hint(model, what)))?;
    let mut last: std::collections::VecDeque<String> = Default::default();
    if let Some(err) = child.stderr.take() {
        for line in BufReader::new(err).lines().map_while(std::result::Result::ok) {
            tracing::info!("{line}");
            if let Some((i, n)) = parse_progress(&line) {
                progress(i, n);
            }
            if last.len() == 30 {
                last.pop_front();
            }
            last.push_back(line);
        }
    }
    let status = child.wait().map_err(|e| Error::model(model, format!("`{shown}`: {e}"), ""))?;
    if !status.success() {
        let text: Vec<String> = last.into_iter().collect();
        return Err(Error::model(model, format!("`{shown}` failed ({status}){}", tail(&text.join("\n"))), hint(model, what)));
    }
    Ok(())
}

fn parse_progress(line: &str) -> Option<(u64, u64)> {
    let rest = line.strip_prefix("[quantize-int8] calibrated ")?;
    let frac = rest.split_whitespace().next()?;
    let (i, n) = frac.split_once('/')?;
    Some((i.parse().ok()?, n.parse().ok()?))
}

/// The last lines of a command's stderr, for an error message.
fn tail(stderr: &str) -> String {
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let from = lines.len().saturating_sub(6);
    format!(": {}", lines[from..].join(" | "))
}

/// Writes `bytes` to `path` (atomically) unless it already holds exactly that.
fn write_if_changed(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    if std::fs::read(path).is_ok_and(|b| b == bytes) {
        return Ok(path.to_path_buf());
    }
    crate::fs::write_atomic(path, bytes, true)?;
    Ok(path.to_path_buf())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{spec, Status};
    use rmbg_ultra_test_support::files_under;

    #[test]
    fn embedded_files_are_the_repository_ones() {
        assert!(REQUIREMENTS.contains("onnxruntime==1.32.0"));
        assert_eq!(CALIBRATION_IMAGES.len(), 6);
        assert!(CALIBRATION_IMAGES.iter().all(|(_, b)| b.len() > 10_000));
        assert!(SCRIPT.contains("quantize_static") && SCRIPT.contains("calibrated {i + 1}/{len(calib)}"));
    }

    #[test]
    fn progress_lines_are_parsed() {
        assert_eq!(parse_progress("[quantize-int8] calibrated 3/40 animal.jpg#v1"), Some((3, 40)));
        assert_eq!(parse_progress("[quantize-int8] wrote x"), None);
        assert_eq!(tail("a\n\nb\n"), ": a | b");
    }

    #[test]
    fn a_missing_python_names_the_command_and_the_model_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let venv = dir.path().join("venv-quantize");
        let err = ensure_venv("isnet-general-int8", Path::new("/nonexistent/python3"), &venv).unwrap_err().to_string();
        assert!(err.contains("isnet-general-int8") && err.contains("-m venv"), "{err}");
        assert!(err.contains("rmbg-ultra models fetch isnet-general-int8"), "{err}");
        assert!(files_under(dir.path()).is_empty(), "{:?}", files_under(dir.path()));
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    }

    #[test]
    fn a_failing_python_is_reported_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let venv = dir.path().join("venv-quantize");
        let err = ensure_venv("isnet-general-int8", Path::new("false"), &venv).unwrap_err().to_string();
        assert!(err.contains("`false -m venv") && err.contains("failed"), "{err}");
        assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());
    }

    #[test]
    fn fetching_the_int8_model_with_a_broken_python_installs_nothing() {
        // The base model is faked (any file with the pinned size would be refused), so this stops at
        // the venv step: the fake base is given as an unpinned path through a fake store layout.
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::new(dir.path());
        let int8 = spec("isnet-general-int8").unwrap();
        let opts = QuantizeOptions { python: PathBuf::from("false"), venv: None, fetch_base: false };
        // Without the base model and no fetch, the error names the base model's fetch command.
        let err = make(&store, int8, "isnet-general", &opts, &mut |_, _| {}).unwrap_err().to_string();
        assert!(err.contains("models fetch isnet-general"), "{err}");
        assert!(matches!(store.verify(int8).unwrap(), Status::Missing));
        assert!(!store.path_of(int8).exists());
    }

    #[test]
    fn a_valid_venv_stamp_is_reused_without_running_python() {
        let dir = tempfile::tempdir().unwrap();
        let venv = dir.path().join("v");
        std::fs::create_dir_all(venv.join("bin")).unwrap();
        std::fs::write(venv.join("bin/python"), b"").unwrap();
        std::fs::write(venv.join(".requirements.sha256"), crate::fs::sha256_bytes(REQUIREMENTS.as_bytes())).unwrap();
        let got = ensure_venv("m", Path::new("false"), &venv).unwrap();
        assert_eq!(got, venv.join("bin/python"));
        // a stale stamp means rebuilding, which fails here with `false` and keeps the old venv
        std::fs::write(venv.join(".requirements.sha256"), b"old").unwrap();
        assert!(ensure_venv("m", Path::new("false"), &venv).is_err());
        assert!(venv.join("bin/python").exists());
    }
}
