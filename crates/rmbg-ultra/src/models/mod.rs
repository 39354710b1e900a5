//! Models: which exist ([`registry`]), the cache that holds them ([`store`]), where a model file is
//! searched for ([`locate`]), how it is downloaded ([`fetch`]) or made here ([`quantize`]).

pub mod fetch;
pub mod locate;
pub mod quantize;
pub mod registry;
pub mod store;

pub use registry::{
    bases_of_locally_made, describe_source, int8_of, made_from, spec, Family, ModelSpec, Source, Task, DEFAULT_SEGMENTATION, MODELS,
};
pub use store::{cache_root, ManifestEntry, ModelStore, Status};
