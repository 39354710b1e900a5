//! Where a model file is searched for: an explicit path, the store (then its download), and the
//! folders where ComfyUI users keep models. The ViTMatte methods search in this order:
//!
//! 1. an explicit model id or path to an `.onnx` file;
//! 2. the ComfyUI models folder (`comfyui_models`, else `$RMBG_ULTRA_COMFYUI_MODELS`): `vitmatte/`
//!    for the small model, `vitmatte-base-composition-1k/` for base; an `.onnx` there is used, a
//!    folder with only the transformers weights is an error that gives the export command;
//! 3. the model store;
//! 4. only for `VITMatte` and `vitmatte-base-composition-1k`, and when `allow_fetch`: the Hugging
//!    Face download into the store (`HF_ENDPOINT`, `HF_TOKEN`, `HF_HUB_OFFLINE` apply).
//!
//! `VITMatte(local)` never touches the network. When nothing is found the error
//! ([`Error::ModelNotFound`]) names the model, every place searched and the command that provides
//! the file.

use super::registry::{spec, ModelSpec, Source, Task, MODELS};
use super::store::{ModelStore, Status};
use crate::{DetailMethod, Error, Result};
use std::path::{Path, PathBuf};

/// Environment variable naming a ComfyUI `models` folder to look in.
pub const COMFYUI_MODELS_ENV: &str = "RMBG_ULTRA_COMFYUI_MODELS";
/// The script that turns a ComfyUI (transformers) ViTMatte folder into the ONNX file we load.
pub const EXPORT_SCRIPT: &str = "scripts/export-vitmatte-onnx.py";
/// The weights of a transformers ViTMatte folder, which need converting to ONNX.
pub const VITMATTE_WEIGHTS: &[&str] = &["model.safetensors", "pytorch_model.bin"];

impl ModelStore {
    /// A model id or a path to an `.onnx` file → a verified file. Ids missing from the cache are
    /// fetched when `allow_fetch`.
    pub fn resolve(&self, id_or_path: &str, task: Task, allow_fetch: bool) -> Result<PathBuf> {
        let Some(spec) = spec(id_or_path) else {
            let path = PathBuf::from(id_or_path);
            if path.is_file() {
                return Ok(path);
            }
            let known: Vec<&str> = MODELS.iter().filter(|m| m.task == task).map(|m| m.id).collect();
            return Err(Error::ModelNotFound {
                id: id_or_path.to_string(),
                searched: vec![],
                hint: format!("use one of {} or a path to an .onnx file", known.join(", ")),
            });
        };
        if spec.task != task {
            return Err(Error::model(spec.id, format!("is a {:?} model, a {:?} model is needed here", spec.task, task), ""));
        }
        match self.verify(spec)? {
            Status::Ok(entry) => Ok(entry.file),
            Status::Missing if allow_fetch => self.fetch(spec, &mut |_, _| {}),
            Status::Missing => Err(Error::ModelNotFound {
                id: spec.id.to_string(),
                searched: vec![format!("{} (not installed)", self.path_of(spec).display())],
                hint: format!("run `rmbg-ultra models fetch {}`", spec.id),
            }),
            Status::Corrupt { path, reason } => Err(Error::model(
                spec.id,
                format!("{} is damaged: {reason}", path.display()),
                format!("run `rmbg-ultra models fetch {} --force`", spec.id),
            )),
        }
    }
}

/// What a folder where a user keeps a model holds: its ONNX file (`model.onnx`, `onnx/model.onnx`,
/// else the only `.onnx` file directly in it) and the first of the weight files asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderContents {
    pub dir: PathBuf,
    pub onnx: Option<PathBuf>,
    pub weights: Option<PathBuf>,
}

impl FolderContents {
    pub fn of(dir: &Path, weight_names: &[&str]) -> Self {
        let weights = weight_names.iter().map(|n| dir.join(n)).find(|p| p.is_file());
        FolderContents { dir: dir.to_path_buf(), onnx: find_onnx(dir), weights }
    }

    /// The folder as an entry of a not-found error's `searched` list.
    pub fn searched_note(&self) -> String {
        let why = if self.dir.is_dir() { "no .onnx file" } else { "missing" };
        format!("{} ({why})", self.dir.display())
    }
}

/// `model.onnx`, `onnx/model.onnx`, else the only `.onnx` file directly in `dir`.
fn find_onnx(dir: &Path) -> Option<PathBuf> {
    for candidate in [dir.join("model.onnx"), dir.join("onnx").join("model.onnx")] {
        if candidate.is_file() {
            return Some(candidate);
        }
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x.eq_ignore_ascii_case("onnx")))
        .collect();
    found.sort();
    if found.len() == 1 {
        found.pop()
    } else {
        None
    }
}

/// The matting network a detail method runs ([`crate::refine::Method::matting_model`]): which model
/// of the registry, where the node keeps it in a ComfyUI `models` folder, and whether the method may
/// download it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MattingModel {
    /// The model's id in the registry (models/registry.rs).
    pub id: &'static str,
    /// The node's folder for it inside a ComfyUI `models` folder.
    pub comfyui_folder: &'static str,
    /// `false` for a method that never touches the network (`VITMatte(local)`).
    pub may_fetch: bool,
}

/// Finds (and, where allowed, fetches) the ONNX model of a ViTMatte method in the order of this
/// module's documentation.
pub fn locate_vitmatte(
    store: &ModelStore,
    method: DetailMethod,
    explicit: Option<&str>,
    comfyui_models: Option<&Path>,
    allow_fetch: bool,
) -> Result<PathBuf> {
    let from_env = std::env::var_os(COMFYUI_MODELS_ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
    let comfyui = comfyui_models.map(Path::to_path_buf).or(from_env);
    let mut fetch = |spec: &'static ModelSpec| {
        tracing::info!("fetching {} ({})", spec.id, spec.description);
        store.fetch(spec, &mut |_, _| {})
    };
    locate_vitmatte_with(store, method, explicit, comfyui.as_deref(), allow_fetch, &mut fetch)
}

/// [`locate_vitmatte`] with the ComfyUI folder already resolved (no environment is read) and the
/// download supplied by the caller (a progress bar, or a test that must see no download at all).
pub fn locate_vitmatte_with(
    store: &ModelStore,
    method: DetailMethod,
    explicit: Option<&str>,
    comfyui_models: Option<&Path>,
    allow_fetch: bool,
    fetch: &mut dyn FnMut(&'static ModelSpec) -> Result<PathBuf>,
) -> Result<PathBuf> {
    let Some(MattingModel { id, comfyui_folder: folder, may_fetch: method_fetches }) = method.matting_model() else {
        unreachable!("{method} runs no matting model: callers check Method::matting_model");
    };
    let spec = spec(id).expect("matting models are in MODELS");
    let may_fetch = allow_fetch && method_fetches;

    // 1. Explicit id or path.
    if let Some(explicit) = explicit {
        if let Some(explicit_spec) = super::registry::spec(explicit) {
            if explicit_spec.task == Task::Matting {
                return resolve_in_store(store, explicit_spec, may_fetch, fetch, vec![], None, &[]);
            }
        }
        return store.resolve(explicit, Task::Matting, false);
    }

    let mut searched: Vec<String> = Vec::new();

    // 2. The ComfyUI models folder.
    match comfyui_models {
        Some(models) => {
            let contents = FolderContents::of(&models.join(folder), VITMATTE_WEIGHTS);
            match contents {
                FolderContents { onnx: Some(path), .. } => return Ok(path),
                FolderContents { weights: Some(_), dir, .. } => {
                    return Err(Error::ModelNeedsExport {
                        id: id.to_string(),
                        method: method.name(),
                        hint: format!("convert them once with `{}` ({VENV_NOTE})", export_command(&dir)),
                        folder: dir,
                    })
                }
                nothing => searched.push(nothing.searched_note()),
            }
        }
        None => searched.push(format!("no ComfyUI models folder (set {COMFYUI_MODELS_ENV} or pass one)")),
    }

    // 3 and 4. The store, then the download.
    let comfy_dir = comfyui_models.map(|m| m.join(folder));
    let notes = if allow_fetch && !method_fetches { vec![format!("not fetched: {method} never uses the network")] } else { vec![] };
    resolve_in_store(store, spec, may_fetch, fetch, searched, comfy_dir.as_deref(), &notes)
}

fn resolve_in_store(
    store: &ModelStore,
    spec: &'static ModelSpec,
    may_fetch: bool,
    fetch: &mut dyn FnMut(&'static ModelSpec) -> Result<PathBuf>,
    mut searched: Vec<String>,
    comfy_dir: Option<&Path>,
    notes: &[String],
) -> Result<PathBuf> {
    let cached = store.path_of(spec);
    match store.verify(spec)? {
        Status::Ok(entry) => return Ok(entry.file),
        Status::Missing => searched.push(format!("{} (missing)", cached.display())),
        Status::Corrupt { path, reason } => searched.push(format!("{} (damaged: {reason})", path.display())),
    }
    if may_fetch {
        match fetch(spec) {
            Ok(path) => return Ok(path),
            Err(e) => searched.push(format!("download {} ({e})", source_of(spec))),
        }
    }
    searched.extend_from_slice(notes);
    Err(Error::ModelNotFound { id: spec.id.to_string(), searched, hint: how_to_get(spec, comfy_dir) })
}

fn source_of(spec: &ModelSpec) -> String {
    match spec.source {
        Source::HuggingFace { repo, file } => format!("Hugging Face {repo}/{file}"),
        Source::NpmChunks { package, .. } => format!("npm {package}"),
    }
}

fn how_to_get(spec: &ModelSpec, comfy_dir: Option<&Path>) -> String {
    let folder = if spec.id == "vitmatte-base" { "vitmatte-base-composition-1k" } else { "vitmatte" };
    let dir = comfy_dir.map(Path::to_path_buf).unwrap_or_else(|| Path::new("<ComfyUI>/models").join(folder));
    format!(
        "run `rmbg-ultra models fetch {}` where Hugging Face is reachable; or export the node's transformers folder with `{}` ({VENV_NOTE}); or pass the path of an .onnx file",
        spec.id,
        export_command(&dir),
    )
}

const VENV_NOTE: &str =
    "its venv: `python3 -m venv .venv-vitmatte && .venv-vitmatte/bin/pip install -r reference/requirements-vitmatte.txt`";

/// The exact command that converts a ComfyUI ViTMatte folder to the ONNX file we look for there.
pub fn export_command(dir: &Path) -> String {
    format!(".venv-vitmatte/bin/python {EXPORT_SCRIPT} {} {}", dir.display(), dir.join("model.onnx").display())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_fetch(_: &'static ModelSpec) -> Result<PathBuf> {
        panic!("no download expected")
    }

    #[test]
    fn a_missing_model_names_the_fetch_command_and_where_it_looked() {
        let dir = tempfile::tempdir().unwrap();
        let store = ModelStore::new(dir.path());
        let e = store.resolve("isnet-general", Task::Segmentation, false).unwrap_err();
        let Error::ModelNotFound { id, searched, hint } = &e else { panic!("{e}") };
        assert_eq!((id.as_str(), hint.as_str()), ("isnet-general", "run `rmbg-ultra models fetch isnet-general`"));
        assert_eq!(searched, &[format!("{} (not installed)", store.path_of(spec("isnet-general").unwrap()).display())]);
    }

    #[test]
    fn a_damaged_model_names_the_forced_fetch() {
        let spec = spec("isnet-general").unwrap();
        let (_d, store) = crate::models::store::tests::store_with(spec, b"not a model");
        let err = store.resolve("isnet-general", Task::Segmentation, false).unwrap_err().to_string();
        assert!(err.contains("damaged") && err.contains("models fetch isnet-general --force"), "{err}");
    }

    #[test]
    fn unknown_id_lists_known_ones_and_a_path_is_taken_as_is() {
        let e = ModelStore::new("/nonexistent").resolve("nope", Task::Segmentation, false).unwrap_err();
        assert!(matches!(&e, Error::ModelNotFound { searched, .. } if searched.is_empty()), "{e}");
        let err = e.to_string();
        assert!(err.contains("isnet-general") && err.contains("rmbg-1.4") && !err.contains("vitmatte"), "{err}");
        let f = tempfile::NamedTempFile::new().unwrap();
        let got = ModelStore::new("/nonexistent").resolve(f.path().to_str().unwrap(), Task::Segmentation, false).unwrap();
        assert_eq!(got, f.path());
    }

    #[test]
    fn a_model_is_refused_for_the_wrong_task() {
        let err = ModelStore::new("/nonexistent").resolve("vitmatte-small", Task::Segmentation, false).unwrap_err().to_string();
        assert!(err.contains("Matting"), "{err}");
    }

    #[test]
    fn a_folder_offers_its_onnx_file_in_order_and_its_weights() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(
            FolderContents::of(&d.join("absent"), VITMATTE_WEIGHTS).searched_note(),
            format!("{} (missing)", d.join("absent").display())
        );
        assert_eq!(FolderContents::of(d, VITMATTE_WEIGHTS), FolderContents { dir: d.to_path_buf(), onnx: None, weights: None });
        assert!(FolderContents::of(d, VITMATTE_WEIGHTS).searched_note().ends_with("(no .onnx file)"));
        std::fs::write(d.join("a.onnx"), "x").unwrap();
        assert_eq!(FolderContents::of(d, &[]).onnx, Some(d.join("a.onnx")));
        std::fs::write(d.join("b.onnx"), "x").unwrap();
        assert_eq!(FolderContents::of(d, &[]).onnx, None, "two candidates: neither is taken");
        std::fs::create_dir(d.join("onnx")).unwrap();
        std::fs::write(d.join("onnx/model.onnx"), "x").unwrap();
        assert_eq!(FolderContents::of(d, &[]).onnx, Some(d.join("onnx/model.onnx")));
        std::fs::write(d.join("model.onnx"), "x").unwrap();
        std::fs::write(d.join("pytorch_model.bin"), "x").unwrap();
        let c = FolderContents::of(d, VITMATTE_WEIGHTS);
        assert_eq!((c.onnx, c.weights), (Some(d.join("model.onnx")), Some(d.join("pytorch_model.bin"))));
    }

    #[test]
    fn vitmatte_search_order_is_explicit_comfyui_store() {
        let store_dir = tempfile::tempdir().unwrap();
        let comfy = tempfile::tempdir().unwrap();
        let store = ModelStore::new(store_dir.path());
        let small = spec("vitmatte-small").unwrap();
        let cached = store.path_of(small);
        std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
        std::fs::write(&cached, "store").unwrap();
        let find = |explicit: Option<&str>| {
            locate_vitmatte_with(&store, DetailMethod::VITMATTE, explicit, Some(comfy.path()), true, &mut no_fetch)
        };
        assert_eq!(find(None).unwrap(), cached);
        let in_comfy = comfy.path().join("vitmatte/model.onnx");
        std::fs::create_dir_all(in_comfy.parent().unwrap()).unwrap();
        std::fs::write(&in_comfy, "comfy").unwrap();
        assert_eq!(find(None).unwrap(), in_comfy);
        let mine = comfy.path().join("mine.onnx");
        std::fs::write(&mine, "mine").unwrap();
        assert_eq!(find(Some(mine.to_str().unwrap())).unwrap(), mine);
        assert_eq!(find(Some("vitmatte-small")).unwrap(), cached, "an explicit id skips the ComfyUI folder");
    }

    #[test]
    fn not_found_keeps_the_places_searched_apart_from_the_cli_advice() {
        let store_dir = tempfile::tempdir().unwrap();
        let comfy = tempfile::tempdir().unwrap();
        let store = ModelStore::new(store_dir.path());
        let mut fetch = |_: &'static ModelSpec| -> Result<PathBuf> { Err(Error::Other("no network here".into())) };
        let e = locate_vitmatte_with(&store, DetailMethod::VITMATTE, None, Some(comfy.path()), true, &mut fetch).unwrap_err();
        let Error::ModelNotFound { id, searched, .. } = &e else { panic!("{e}") };
        assert_eq!(id, "vitmatte-small");
        let cached = store.path_of(spec("vitmatte-small").unwrap());
        assert_eq!(
            searched[..2],
            [format!("{} (missing)", comfy.path().join("vitmatte").display()), format!("{} (missing)", cached.display())]
        );
        assert!(searched[2].starts_with("download Hugging Face Xenova/vitmatte-small-composition-1k/onnx/model.onnx (no network here"));
        let (places, hint) = (e.without_hint(), e.hint().expect("a hint for the CLI").to_string());
        // What a front-end other than the CLI would have to replace.
        for cli_only in ["rmbg-ultra models fetch vitmatte-small", EXPORT_SCRIPT, ".venv-vitmatte", "pass the path"] {
            assert!(!places.contains(cli_only), "{cli_only:?} in {places}");
            assert!(hint.contains(cli_only), "the CLI's advice lacks {cli_only:?}: {hint}");
        }
    }

    #[test]
    fn the_vitmatte_methods_use_the_nodes_folders_and_only_local_never_fetches() {
        let model = |m: DetailMethod| m.matting_model().expect("a ViTMatte method names its model");
        assert_eq!(model(DetailMethod::VITMATTE), MattingModel { id: "vitmatte-small", comfyui_folder: "vitmatte", may_fetch: true });
        assert_eq!(model(DetailMethod::VITMATTE_LOCAL), MattingModel { may_fetch: false, ..model(DetailMethod::VITMATTE) });
        assert_eq!(
            model(DetailMethod::VITMATTE_BASE),
            MattingModel { id: "vitmatte-base", comfyui_folder: "vitmatte-base-composition-1k", may_fetch: true }
        );
    }
}
