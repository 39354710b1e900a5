//! Shared by the parity tests: the pinned Python reference venv, `.npy` exchange, fresh seeds.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

pub fn testdata(rel: &str) -> PathBuf {
    repo_root().join("testdata").join(rel)
}

pub fn photos() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(testdata("photos"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    v.sort();
    v
}

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

/// A fresh seed each run (printed, so a failure can be replayed with RMBG_ULTRA_SEED).
pub fn fresh_seed() -> u64 {
    let seed = std::env::var("RMBG_ULTRA_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64);
    eprintln!("seed = {seed} (replay with RMBG_ULTRA_SEED={seed})");
    seed
}

pub trait NpyElement: Copy {
    const DESCR: &'static str;
    fn write_le(self, out: &mut Vec<u8>);
    fn read_le(b: &[u8]) -> Self;
}

macro_rules! npy_element {
    ($t:ty, $d:expr) => {
        impl NpyElement for $t {
            const DESCR: &'static str = $d;
            fn write_le(self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_le_bytes());
            }
            fn read_le(b: &[u8]) -> Self {
                <$t>::from_le_bytes(b.try_into().unwrap())
            }
        }
    };
}
npy_element!(u8, "|u1");
npy_element!(f32, "<f4");
npy_element!(f64, "<f8");
npy_element!(i32, "<i4");

pub fn write_npy<T: NpyElement>(path: &Path, shape: &[usize], data: &[T]) {
    assert_eq!(shape.iter().product::<usize>(), data.len(), "npy shape/data mismatch");
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape_txt = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut header = format!("{{'descr': '{}', 'fortran_order': False, 'shape': {}, }}", T::DESCR, shape_txt);
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    for &v in data {
        v.write_le(&mut out);
    }
    std::fs::write(path, out).unwrap();
}

/// Reads a C-order `.npy` of element type `T`; returns (shape, data).
pub fn read_npy<T: NpyElement>(path: &Path) -> (Vec<usize>, Vec<T>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..6], b"\x93NUMPY", "{} is not .npy", path.display());
    let (hlen, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (u32::from_le_bytes(bytes[8..12].try_into().unwrap()) as usize, 12)
    };
    let header = std::str::from_utf8(&bytes[start..start + hlen]).unwrap();
    assert!(header.contains(&format!("'descr': '{}'", T::DESCR)), "{}: want {} in {header}", path.display(), T::DESCR);
    assert!(header.contains("'fortran_order': False"));
    let shape_txt = header.split("'shape': (").nth(1).unwrap().split(')').next().unwrap();
    let shape: Vec<usize> = shape_txt.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect();
    let size = std::mem::size_of::<T>();
    let data: Vec<T> = bytes[start + hlen..].chunks_exact(size).map(T::read_le).collect();
    assert_eq!(data.len(), shape.iter().product::<usize>());
    (shape, data)
}

/// Largest absolute difference of two equally long slices.
pub fn max_abs_diff(a: &[f64], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f64::max)
}

/// Share of equal bytes and the largest byte difference.
pub fn byte_agreement(a: &[u8], b: &[u8]) -> (f64, u8) {
    assert_eq!(a.len(), b.len());
    let equal = a.iter().zip(b).filter(|(x, y)| x == y).count();
    let worst = a.iter().zip(b).map(|(x, y)| x.abs_diff(*y)).max().unwrap_or(0);
    (equal as f64 / a.len().max(1) as f64, worst)
}

/// Runs a snippet of Python in the reference venv (e.g. to write a test image with Pillow).
pub fn run_reference_code(code: &str) {
    let out = Command::new(python()).args(["-c", code]).output().expect("start reference python");
    assert!(out.status.success(), "python -c failed:\n{}", String::from_utf8_lossy(&out.stderr));
}
