//! The model store: the cache folder (`RMBG_ULTRA_CACHE`, else `$XDG_CACHE_HOME/rmbg-ultra`, else
//! `~/.cache/rmbg-ultra`) holds the runtime and `models/<id>/<file>`; `manifest.json` records size,
//! mtime and sha256 of every file so that a load re-hashes a file only when it changed on disk.

use super::registry::{describe_source, ModelSpec};
use crate::fs::{sha256_file, Hashed};
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// The cache folder of runtime and models.
pub fn cache_root() -> PathBuf {
    if let Some(p) = std::env::var_os("RMBG_ULTRA_CACHE") {
        return PathBuf::from(p);
    }
    dirs::cache_dir().unwrap_or_else(|| PathBuf::from(".cache")).join("rmbg-ultra")
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Manifest {
    models: BTreeMap<String, ManifestEntry>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ManifestEntry {
    pub file: PathBuf,
    pub size: u64,
    pub sha256: String,
    pub mtime: u64,
    pub source: String,
}

/// The model folder in the cache.
#[derive(Debug, Clone)]
pub struct ModelStore {
    root: PathBuf,
}

/// What `verify` found.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    Missing,
    Ok(ManifestEntry),
    Corrupt { path: PathBuf, reason: String },
}

fn mtime_of(meta: &std::fs::Metadata) -> u64 {
    meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs())
}

impl ModelStore {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ModelStore { root: root.into() }
    }

    pub fn open_default() -> Self {
        ModelStore::new(cache_root())
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn path_of(&self, spec: &ModelSpec) -> PathBuf {
        self.root.join("models").join(spec.id).join(spec.file_name)
    }

    fn manifest_path(&self) -> PathBuf {
        self.root.join("manifest.json")
    }

    fn load_manifest(&self) -> Manifest {
        std::fs::read(self.manifest_path()).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
    }

    fn save_manifest(&self, manifest: &Manifest) -> Result<()> {
        let json = serde_json::to_vec_pretty(manifest).expect("manifest serialises");
        crate::fs::write_atomic(&self.manifest_path(), &json, true)
    }

    /// Checks the cached file against its pinned hash (or the hash recorded at fetch). A file whose
    /// size and mtime match the manifest is trusted without re-hashing.
    pub fn verify(&self, spec: &ModelSpec) -> Result<Status> {
        self.verify_with(spec, false)
    }

    pub fn verify_with(&self, spec: &ModelSpec, rehash: bool) -> Result<Status> {
        let path = self.path_of(spec);
        let Ok(meta) = std::fs::metadata(&path) else { return Ok(Status::Missing) };
        let size = meta.len();
        let mtime = mtime_of(&meta);
        if let Some(want) = spec.size {
            if size != want {
                return Ok(Status::Corrupt { path, reason: format!("{size} bytes, expected {want}") });
            }
        }
        let mut manifest = self.load_manifest();
        let recorded = manifest.models.get(spec.id).cloned();
        if let Some(e) = &recorded {
            if !rehash && e.size == size && e.mtime == mtime && e.file == path && spec.sha256.is_none_or(|s| s == e.sha256) {
                return Ok(Status::Ok(e.clone()));
            }
        }
        let sha = sha256_file(&path).map_err(|e| Error::io(&path, e))?;
        let expected = spec.sha256.map(str::to_string).or_else(|| recorded.as_ref().map(|e| e.sha256.clone()));
        if let Some(want) = expected {
            if sha != want {
                return Ok(Status::Corrupt { path, reason: format!("sha256 {sha}, expected {want}") });
            }
        }
        let entry = ManifestEntry { file: path, size, sha256: sha, mtime, source: describe_source(spec) };
        manifest.models.insert(spec.id.to_string(), entry.clone());
        self.save_manifest(&manifest)?;
        Ok(Status::Ok(entry))
    }

    /// Records the file just installed at [`ModelStore::path_of`], hashed while it was written.
    pub(crate) fn record(&self, spec: &ModelSpec, hashed: &Hashed) -> Result<PathBuf> {
        let target = self.path_of(spec);
        let meta = std::fs::metadata(&target).map_err(|e| Error::io(&target, e))?;
        let entry = ManifestEntry {
            file: target.clone(),
            size: hashed.size,
            sha256: hashed.sha256.clone(),
            mtime: mtime_of(&meta),
            source: describe_source(spec),
        };
        let mut manifest = self.load_manifest();
        manifest.models.insert(spec.id.to_string(), entry);
        self.save_manifest(&manifest)?;
        Ok(target)
    }

    /// Forgets what the manifest said about `spec`, then hashes and records the file just made.
    pub(crate) fn record_new(&self, spec: &ModelSpec) -> Result<PathBuf> {
        let mut manifest = self.load_manifest();
        manifest.models.remove(spec.id);
        self.save_manifest(&manifest)?;
        match self.verify(spec)? {
            Status::Ok(e) => Ok(e.file),
            other => Err(Error::model(spec.id, format!("the new file does not verify: {other:?}"), "")),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::fs::sha256_bytes;
    use crate::models::{spec, Family, Source, Task};

    pub fn store_with(spec: &ModelSpec, bytes: &[u8]) -> (tempfile::TempDir, ModelStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::new(dir.path());
        let p = store.path_of(spec);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        (dir, store)
    }

    pub const UNPINNED: ModelSpec = ModelSpec {
        id: "test-model",
        task: Task::Matting,
        family: Family::VitMatte,
        file_name: "m.onnx",
        size: None,
        sha256: None,
        source: Source::HuggingFace { repo: "x/y", file: "m.onnx" },
        made_from: None,
        license: "",
        is_default: false,
        description: "",
    };

    #[test]
    fn pinned_model_with_wrong_size_is_corrupt() {
        let spec = spec("isnet-general").unwrap();
        let (_d, store) = store_with(spec, b"not a model");
        assert!(matches!(store.verify(spec).unwrap(), Status::Corrupt { .. }));
    }

    #[test]
    fn pinned_model_with_right_size_and_wrong_bytes_is_corrupt() {
        let pinned = ModelSpec { size: Some(3), sha256: Some("0".repeat(64).leak()), ..UNPINNED };
        let (_d, store) = store_with(&pinned, b"abc");
        let Status::Corrupt { reason, .. } = store.verify(&pinned).unwrap() else { panic!() };
        assert!(reason.contains(&sha256_bytes(b"abc")), "{reason}");
    }

    #[test]
    fn unpinned_model_is_recorded_then_a_changed_file_is_caught() {
        let (d, store) = store_with(&UNPINNED, b"version one");
        let Status::Ok(entry) = store.verify(&UNPINNED).unwrap() else { panic!() };
        assert_eq!(entry.sha256, sha256_bytes(b"version one"));
        assert_eq!(entry.source, "huggingface x/y/m.onnx");
        assert!(d.path().join("manifest.json").is_file());
        std::fs::write(store.path_of(&UNPINNED), b"version two").unwrap();
        assert!(matches!(store.verify_with(&UNPINNED, true).unwrap(), Status::Corrupt { .. }));
    }

    #[test]
    fn a_recorded_file_is_trusted_until_it_changes() {
        let (_d, store) = store_with(&UNPINNED, b"bytes");
        let path = store.record(&UNPINNED, &Hashed { size: 5, sha256: sha256_bytes(b"bytes") }).unwrap();
        assert_eq!(path, store.path_of(&UNPINNED));
        let Status::Ok(entry) = store.verify(&UNPINNED).unwrap() else { panic!() };
        assert_eq!((entry.size, entry.sha256), (5, sha256_bytes(b"bytes")));
        assert_eq!(store.verify(&UNPINNED).unwrap(), Status::Ok(store.load_manifest().models["test-model"].clone()));
    }
}
