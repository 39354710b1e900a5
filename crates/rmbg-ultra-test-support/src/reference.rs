//! The pinned Python reference venv and the scripts under `reference/`.

use crate::paths::repo_root;
use std::path::PathBuf;
use std::process::Command;

/// The Python of the pinned reference venv that `scripts/pyref-venv.sh` creates.
pub fn python() -> PathBuf {
    let p = std::env::var_os("RMBG_ULTRA_PYREF").map(PathBuf::from).unwrap_or_else(|| repo_root().join(".venv-ref/bin/python"));
    assert!(p.exists(), "reference Python {} not found: run scripts/pyref-venv.sh (or set RMBG_ULTRA_PYREF)", p.display());
    p
}

/// Runs `reference/<script>` with `args` in the reference venv; panics with its stderr on failure.
pub fn run_reference(script: &str, args: &[&str]) -> String {
    let out = Command::new(python()).arg(repo_root().join("reference").join(script)).args(args).output().expect("start reference python");
    assert!(
        out.status.success(),
        "reference/{script} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a snippet of Python in the reference venv (e.g. to write a test image with Pillow).
pub fn run_reference_code(code: &str) {
    let out = Command::new(python()).args(["-c", code]).output().expect("start reference python");
    assert!(out.status.success(), "python -c failed:\n{}", String::from_utf8_lossy(&out.stderr));
}
