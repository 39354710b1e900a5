//! The model store: which models exist, where their files live, how they are fetched and verified.
//!
//! One cache folder (`RMBG_ULTRA_CACHE`, else `$XDG_CACHE_HOME/rmbg-ultra`, else `~/.cache/rmbg-ultra`)
//! holds the runtime and `models/<id>/<file>`; `manifest.json` records size, mtime and sha256 of
//! every file so that a load re-hashes a file only when it changed on disk.

pub mod huggingface;
mod npm;
pub mod quantize;

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

/// What a model computes, i.e. which input/output contract it meets (docs/product.md §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// f32 [1,3,1024,1024] = RGB/255 − 0.5 → f32 [1,1,1024,1024] in 0..1.
    Segmentation,
    /// `pixel_values` f32 [1,4,H,W] → `alphas` f32 [1,1,H,W].
    Matting,
}

/// Where a model's file comes from.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// An npm package whose `dist/resources.json` lists the chunks of `resource`.
    NpmChunks { package: &'static str, resource: &'static str },
    /// A file of a Hugging Face model repository.
    HuggingFace { repo: &'static str, file: &'static str },
}

/// Models made on this machine rather than downloaded: (id, base model id). Their `source` is the
/// base model's (where their bytes come from); `fetch` installs the base, then quantises it
/// (models/quantize.rs).
pub const LOCALLY_MADE: &[(&str, &str)] = &[("isnet-general-int8", "isnet-general")];

/// The base model a locally made model is made from.
pub fn made_from(id: &str) -> Option<&'static str> {
    LOCALLY_MADE.iter().find(|(m, _)| *m == id).map(|(_, b)| *b)
}

/// The int8 model made from `id`, which `--fast` runs in its place.
pub fn int8_of(id: &str) -> Option<&'static str> {
    LOCALLY_MADE.iter().find(|(_, b)| *b == id).map(|(m, _)| *m)
}

#[derive(Debug, Clone, Copy)]
pub struct ModelSpec {
    pub id: &'static str,
    pub task: Task,
    pub file_name: &'static str,
    /// Size and sha256 when pinned; a file fetched without them has its hash recorded at fetch time.
    pub size: Option<u64>,
    pub sha256: Option<&'static str>,
    pub source: Source,
    pub license: &'static str,
    pub is_default: bool,
    pub description: &'static str,
}

pub const MODELS: &[ModelSpec] = &[
    ModelSpec {
        id: "isnet-general",
        task: Task::Segmentation,
        file_name: "isnet-general-fp16.onnx",
        size: Some(88_188_479),
        sha256: Some("b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb"),
        source: Source::NpmChunks { package: "@imgly/background-removal-data@1.4.5", resource: "/models/medium" },
        license: "package AGPL-3.0; model IS-Net/DIS (MIT)",
        is_default: true,
        description: "IS-Net general segmentation, fp16 weights (the default)",
    },
    ModelSpec {
        id: "isnet-general-q8",
        task: Task::Segmentation,
        file_name: "isnet-general-q8.onnx",
        size: Some(44_342_436),
        sha256: Some("7001d60734fdc112dd9c062635fb59cd401fb82a9d4213134bce4dbd655c803a"),
        source: Source::NpmChunks { package: "@imgly/background-removal-data@1.4.5", resource: "/models/small" },
        license: "package AGPL-3.0; model IS-Net/DIS (MIT)",
        is_default: false,
        description: "IS-Net general segmentation, uint8-quantised (smaller, less exact)",
    },
    ModelSpec {
        id: "isnet-general-int8",
        task: Task::Segmentation,
        file_name: "isnet-general-int8.onnx",
        // made locally; its sha256 is recorded in the manifest when it is made
        size: None,
        sha256: None,
        // made from isnet-general (LOCALLY_MADE), whose bytes come from here
        source: Source::NpmChunks { package: "@imgly/background-removal-data@1.4.5", resource: "/models/medium" },
        license: "package AGPL-3.0; model IS-Net/DIS (MIT)",
        is_default: false,
        description: "IS-Net general, static int8 made locally from isnet-general (about 3x faster on CPU; needs python3)",
    },
    ModelSpec {
        id: "rmbg-1.4",
        task: Task::Segmentation,
        file_name: "model.onnx",
        size: None,
        sha256: None,
        source: Source::HuggingFace { repo: "briaai/RMBG-1.4", file: "onnx/model.onnx" },
        license: "bria-rmbg-1.4 (non-commercial)",
        is_default: false,
        description: "BRIA RMBG-1.4, the node's own model (non-commercial licence)",
    },
    ModelSpec {
        id: "vitmatte-small",
        task: Task::Matting,
        file_name: "model.onnx",
        size: None,
        sha256: None,
        source: Source::HuggingFace { repo: "Xenova/vitmatte-small-composition-1k", file: "onnx/model.onnx" },
        license: "Apache-2.0",
        is_default: false,
        description: "ViTMatte small (Composition-1k), methods VITMatte and VITMatte(local)",
    },
    ModelSpec {
        id: "vitmatte-base",
        task: Task::Matting,
        file_name: "model.onnx",
        size: None,
        sha256: None,
        source: Source::HuggingFace { repo: "Xenova/vitmatte-base-composition-1k", file: "onnx/model.onnx" },
        license: "Apache-2.0",
        is_default: false,
        description: "ViTMatte base (Composition-1k), method vitmatte-base-composition-1k",
    },
];

pub const DEFAULT_SEGMENTATION: &str = "isnet-general";

pub fn spec(id: &str) -> Option<&'static ModelSpec> {
    MODELS.iter().find(|m| m.id == id)
}

/// The cache folder of runtime and models.
pub fn cache_root() -> PathBuf {
    if let Some(p) = std::env::var_os("RMBG_ULTRA_CACHE") {
        return PathBuf::from(p);
    }
    dirs::cache_dir().unwrap_or_else(|| PathBuf::from(".cache")).join("rmbg-ultra")
}

pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
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
        let path = self.manifest_path();
        let json = serde_json::to_vec_pretty(manifest).expect("manifest serialises");
        crate::encode::write_atomic(&path, &json, true)
    }

    /// A model id or a path to an `.onnx` file → a verified file. Ids missing from the cache are
    /// fetched when `allow_fetch`.
    pub fn resolve(&self, id_or_path: &str, task: Task, allow_fetch: bool) -> Result<PathBuf> {
        let Some(spec) = spec(id_or_path) else {
            let path = PathBuf::from(id_or_path);
            if path.is_file() {
                return Ok(path);
            }
            let known: Vec<&str> = MODELS.iter().filter(|m| m.task == task).map(|m| m.id).collect();
            return Err(Error::model(
                id_or_path,
                "neither a known model id nor an existing file",
                format!("use one of {} or a path to an .onnx file", known.join(", ")),
            ));
        };
        if spec.task != task {
            return Err(Error::model(spec.id, format!("is a {:?} model, a {:?} model is needed here", spec.task, task), ""));
        }
        match self.verify(spec)? {
            Status::Ok(entry) => Ok(entry.file),
            Status::Missing if allow_fetch => self.fetch(spec, &mut |_, _| {}),
            Status::Missing => Err(Error::model(
                spec.id,
                format!("not installed (looked in {})", self.path_of(spec).display()),
                format!("run `rmbg-ultra models fetch {}`", spec.id),
            )),
            Status::Corrupt { path, reason } => Err(Error::model(
                spec.id,
                format!("{} is damaged: {reason}", path.display()),
                format!("run `rmbg-ultra models fetch {} --force`", spec.id),
            )),
        }
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
        let mtime = meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_secs());
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
        let source = match made_from(spec.id) {
            Some(base) => format!("made locally: int8 quantisation of {base} (scripts/quantize-int8.py)"),
            None => describe_source(&spec.source),
        };
        let entry = ManifestEntry { file: path, size, sha256: sha, mtime, source };
        manifest.models.insert(spec.id.to_string(), entry.clone());
        self.save_manifest(&manifest)?;
        Ok(Status::Ok(entry))
    }

    /// Fetches a model into the store (replacing what is there) and records it in the manifest.
    /// `progress(done, total)` reports bytes.
    pub fn fetch(&self, spec: &ModelSpec, progress: &mut dyn FnMut(u64, u64)) -> Result<PathBuf> {
        let target = self.path_of(spec);
        let dir = target.parent().expect("model path has a folder");
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        if let Some(base) = made_from(spec.id) {
            quantize::make(self, spec, base, &quantize::QuantizeOptions::default(), progress)?;
            return self.record_new(spec);
        }
        let bytes = match spec.source {
            Source::NpmChunks { package, resource } => npm::fetch_chunked_resource(spec.id, package, resource, dir, progress)?,
            Source::HuggingFace { .. } => return huggingface::fetch_into(self, spec, &huggingface::HfConfig::from_env(), progress),
        };
        if let Some(want) = spec.size {
            if bytes.len() as u64 != want {
                return Err(Error::model(spec.id, format!("fetched {} bytes, expected {want}", bytes.len()), "nothing was installed"));
            }
        }
        let sha = sha256_bytes(&bytes);
        if let Some(want) = spec.sha256 {
            if sha != want {
                return Err(Error::model(spec.id, format!("fetched file has sha256 {sha}, expected {want}"), "nothing was installed"));
            }
        }
        crate::encode::write_atomic(&target, &bytes, true)?;
        self.record_new(spec)
    }

    /// Forgets what the manifest said about `spec`, then hashes and records the file just installed.
    pub(crate) fn record_new(&self, spec: &ModelSpec) -> Result<PathBuf> {
        let mut manifest = self.load_manifest();
        manifest.models.remove(spec.id);
        self.save_manifest(&manifest)?;
        match self.verify(spec)? {
            Status::Ok(e) => Ok(e.file),
            other => Err(Error::model(spec.id, format!("fetched file does not verify: {other:?}"), "")),
        }
    }
}

fn describe_source(source: &Source) -> String {
    match source {
        Source::NpmChunks { package, resource } => format!("npm {package} {resource}"),
        Source::HuggingFace { repo, file } => format!("huggingface {repo}/{file}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store_with(spec: &ModelSpec, bytes: &[u8]) -> (tempfile::TempDir, ModelStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::new(dir.path());
        let p = store.path_of(spec);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        (dir, store)
    }

    const UNPINNED: ModelSpec = ModelSpec {
        id: "test-model",
        task: Task::Segmentation,
        file_name: "m.onnx",
        size: None,
        sha256: None,
        source: Source::HuggingFace { repo: "x/y", file: "m.onnx" },
        license: "",
        is_default: false,
        description: "",
    };

    #[test]
    fn every_model_id_is_unique_and_one_segmentation_model_is_default() {
        let mut ids: Vec<_> = MODELS.iter().map(|m| m.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), MODELS.len());
        let defaults: Vec<_> = MODELS.iter().filter(|m| m.is_default).collect();
        assert_eq!(defaults.len(), 1);
        assert_eq!(defaults[0].id, DEFAULT_SEGMENTATION);
    }

    #[test]
    fn pinned_model_with_wrong_size_is_corrupt() {
        let spec = spec("isnet-general").unwrap();
        let (_d, store) = store_with(spec, b"not a model");
        assert!(matches!(store.verify(spec).unwrap(), Status::Corrupt { .. }));
        let err = store.resolve("isnet-general", Task::Segmentation, false).unwrap_err().to_string();
        assert!(err.contains("damaged") && err.contains("models fetch isnet-general"), "{err}");
    }

    #[test]
    fn unpinned_model_is_recorded_then_a_changed_file_is_caught() {
        let (_d, store) = store_with(&UNPINNED, b"version one");
        let Status::Ok(entry) = store.verify(&UNPINNED).unwrap() else { panic!() };
        assert_eq!(entry.sha256, sha256_bytes(b"version one"));
        std::fs::write(store.path_of(&UNPINNED), b"version two").unwrap();
        assert!(matches!(store.verify_with(&UNPINNED, true).unwrap(), Status::Corrupt { .. }));
    }

    #[test]
    fn missing_model_names_the_fetch_command() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::new(dir.path());
        let err = store.resolve("isnet-general", Task::Segmentation, false).unwrap_err().to_string();
        assert!(err.contains("rmbg-ultra models fetch isnet-general"), "{err}");
    }

    #[test]
    fn unknown_id_lists_known_ones_and_a_path_is_taken_as_is() {
        let err = ModelStore::new("/nonexistent").resolve("nope", Task::Segmentation, false).unwrap_err().to_string();
        assert!(err.contains("isnet-general") && err.contains("rmbg-1.4"), "{err}");
        let f = tempfile::NamedTempFile::new().unwrap();
        let got = ModelStore::new("/nonexistent").resolve(f.path().to_str().unwrap(), Task::Segmentation, false).unwrap();
        assert_eq!(got, f.path());
    }

    #[test]
    fn locally_made_models_have_an_installable_base_and_are_not_pinned() {
        for (id, base) in LOCALLY_MADE {
            let m = spec(id).expect("registered");
            let b = spec(base).expect("base registered");
            assert_eq!(m.task, b.task);
            assert!(m.sha256.is_none() && m.size.is_none(), "{id} is made locally: its hash is recorded, not pinned");
            assert!(made_from(base).is_none());
        }
        assert_eq!(made_from("isnet-general-int8"), Some("isnet-general"));
        assert_eq!(int8_of("isnet-general"), Some("isnet-general-int8"));
        assert_eq!(int8_of("rmbg-1.4"), None);
    }

    #[test]
    fn a_model_is_refused_for_the_wrong_task() {
        let err = ModelStore::new("/nonexistent").resolve("vitmatte-small", Task::Segmentation, false).unwrap_err().to_string();
        assert!(err.contains("Matting"), "{err}");
    }
}
