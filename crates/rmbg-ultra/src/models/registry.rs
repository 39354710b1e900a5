//! Which models exist: one [`ModelSpec`] per model, with where its bytes come from, how they are
//! pinned, what it computes ([`Task`]) and which code runs it ([`Family`]).

use serde::{Deserialize, Serialize};

/// What a model computes, i.e. which input/output contract it meets (docs/product.md §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// A photo in, a foreground probability map out.
    Segmentation,
    /// `pixel_values` f32 [1,4,H,W] → `alphas` f32 [1,1,H,W].
    Matting,
}

/// The code that runs a model: for segmentation, the [`Segmenter`](crate::segment::Segmenter)
/// family with its input contract (size, normalisation, output). A new family is its module and
/// the entry that names it here.
#[derive(Debug, Clone, Copy)]
pub enum Family {
    Segmentation(&'static crate::segment::SegmenterFamily),
    /// ViTMatte (refine/vitmatte.rs).
    VitMatte,
}

impl Family {
    pub fn task(self) -> Task {
        match self {
            Family::Segmentation(_) => Task::Segmentation,
            Family::VitMatte => Task::Matting,
        }
    }
}

/// Where a model's file comes from.
#[derive(Debug, Clone, Copy)]
pub enum Source {
    /// An npm package whose `dist/resources.json` lists the chunks of `resource`.
    NpmChunks { package: &'static str, resource: &'static str },
    /// A file of a Hugging Face model repository.
    HuggingFace { repo: &'static str, file: &'static str },
}

#[derive(Debug, Clone, Copy)]
pub struct ModelSpec {
    pub id: &'static str,
    pub task: Task,
    pub family: Family,
    pub file_name: &'static str,
    /// Size and sha256 when pinned; a file fetched without them has its hash recorded at fetch time.
    pub size: Option<u64>,
    pub sha256: Option<&'static str>,
    pub source: Source,
    /// A model made on this machine rather than downloaded names the model it is made from; its
    /// `source` is that base's (where its bytes come from) and `fetch` installs the base, then
    /// quantises it (models/quantize.rs).
    pub made_from: Option<&'static str>,
    pub license: &'static str,
    pub is_default: bool,
    pub description: &'static str,
}

const ISNET: Family = Family::Segmentation(&crate::segment::isnet::FAMILY);

pub const MODELS: &[ModelSpec] = &[
    ModelSpec {
        id: "isnet-general",
        task: Task::Segmentation,
        family: ISNET,
        file_name: "isnet-general-fp16.onnx",
        size: Some(88_188_479),
        sha256: Some("b6e8497ba978a6f5fbb647e419d2696cd80df5a23cb6a8ea532021911bd76acb"),
        source: Source::NpmChunks { package: "@imgly/background-removal-data@1.4.5", resource: "/models/medium" },
        made_from: None,
        license: "package AGPL-3.0; model IS-Net/DIS (MIT)",
        is_default: true,
        description: "IS-Net general segmentation, fp16 weights (the default)",
    },
    ModelSpec {
        id: "isnet-general-q8",
        task: Task::Segmentation,
        family: ISNET,
        file_name: "isnet-general-q8.onnx",
        size: Some(44_342_436),
        sha256: Some("7001d60734fdc112dd9c062635fb59cd401fb82a9d4213134bce4dbd655c803a"),
        source: Source::NpmChunks { package: "@imgly/background-removal-data@1.4.5", resource: "/models/small" },
        made_from: None,
        license: "package AGPL-3.0; model IS-Net/DIS (MIT)",
        is_default: false,
        description: "IS-Net general segmentation, uint8-quantised (smaller, less exact)",
    },
    ModelSpec {
        id: "isnet-general-int8",
        task: Task::Segmentation,
        family: ISNET,
        file_name: "isnet-general-int8.onnx",
        // made locally; its sha256 is recorded in the manifest when it is made
        size: None,
        sha256: None,
        source: Source::NpmChunks { package: "@imgly/background-removal-data@1.4.5", resource: "/models/medium" },
        made_from: Some("isnet-general"),
        license: "package AGPL-3.0; model IS-Net/DIS (MIT)",
        is_default: false,
        description: "IS-Net general, static int8 made locally from isnet-general (about 3x faster on CPU; needs python3)",
    },
    ModelSpec {
        id: "rmbg-1.4",
        task: Task::Segmentation,
        family: ISNET,
        file_name: "model.onnx",
        size: None,
        sha256: None,
        source: Source::HuggingFace { repo: "briaai/RMBG-1.4", file: "onnx/model.onnx" },
        made_from: None,
        license: "bria-rmbg-1.4 (non-commercial)",
        is_default: false,
        description: "BRIA RMBG-1.4, the node's own model (non-commercial licence)",
    },
    ModelSpec {
        id: "vitmatte-small",
        task: Task::Matting,
        family: Family::VitMatte,
        file_name: "model.onnx",
        size: None,
        sha256: None,
        source: Source::HuggingFace { repo: "Xenova/vitmatte-small-composition-1k", file: "onnx/model.onnx" },
        made_from: None,
        license: "Apache-2.0",
        is_default: false,
        description: "ViTMatte small (Composition-1k), methods VITMatte and VITMatte(local)",
    },
    ModelSpec {
        id: "vitmatte-base",
        task: Task::Matting,
        family: Family::VitMatte,
        file_name: "model.onnx",
        size: None,
        sha256: None,
        source: Source::HuggingFace { repo: "Xenova/vitmatte-base-composition-1k", file: "onnx/model.onnx" },
        made_from: None,
        license: "Apache-2.0",
        is_default: false,
        description: "ViTMatte base (Composition-1k), method vitmatte-base-composition-1k",
    },
];

pub const DEFAULT_SEGMENTATION: &str = "isnet-general";

pub fn spec(id: &str) -> Option<&'static ModelSpec> {
    MODELS.iter().find(|m| m.id == id)
}

/// The base model a locally made model is made from.
pub fn made_from(id: &str) -> Option<&'static str> {
    spec(id).and_then(|m| m.made_from)
}

/// The int8 model made from `id`, which `--fast` runs in its place.
pub fn int8_of(id: &str) -> Option<&'static str> {
    MODELS.iter().find(|m| m.made_from == Some(id)).map(|m| m.id)
}

/// The models that have a locally made variant.
pub fn bases_of_locally_made() -> impl Iterator<Item = &'static str> {
    MODELS.iter().filter_map(|m| m.made_from)
}

/// Where a model's bytes come from, in words (the manifest's `source`, messages).
pub fn describe_source(spec: &ModelSpec) -> String {
    match (spec.made_from, spec.source) {
        (Some(base), _) => format!("made locally: int8 quantisation of {base} (scripts/quantize-int8.py)"),
        (None, Source::NpmChunks { package, resource }) => format!("npm {package} {resource}"),
        (None, Source::HuggingFace { repo, file }) => format!("huggingface {repo}/{file}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_model_id_is_unique_and_one_segmentation_model_is_default() {
        let mut ids: Vec<_> = MODELS.iter().map(|m| m.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), MODELS.len());
        let defaults: Vec<_> = MODELS.iter().filter(|m| m.is_default).collect();
        assert_eq!(defaults.len(), 1);
        assert_eq!(defaults[0].id, DEFAULT_SEGMENTATION);
        assert_eq!(defaults[0].task, Task::Segmentation);
    }

    #[test]
    fn every_family_runs_its_models_task() {
        for m in MODELS {
            assert_eq!(m.family.task(), m.task, "{}", m.id);
        }
    }

    #[test]
    fn pins_are_whole_sha256_digests() {
        for m in MODELS {
            if let Some(sha) = m.sha256 {
                assert!(sha.len() == 64 && sha.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{}", m.id);
                assert!(m.size.is_some(), "{} is pinned by hash but not by size", m.id);
            }
        }
    }

    #[test]
    fn locally_made_models_have_an_installable_base_and_are_not_pinned() {
        for m in MODELS.iter().filter(|m| m.made_from.is_some()) {
            let b = spec(m.made_from.unwrap()).expect("base registered");
            assert_eq!(m.task, b.task);
            assert!(m.sha256.is_none() && m.size.is_none(), "{} is made locally: its hash is recorded, not pinned", m.id);
            assert!(b.made_from.is_none());
        }
        assert_eq!(made_from("isnet-general-int8"), Some("isnet-general"));
        assert_eq!(int8_of("isnet-general"), Some("isnet-general-int8"));
        assert_eq!(int8_of("rmbg-1.4"), None);
        assert_eq!(bases_of_locally_made().collect::<Vec<_>>(), ["isnet-general"]);
    }
}
