use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error names what it is about (parameter, file, model) and, where there is one, what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid {name} = {value}: allowed {allowed}")]
    InvalidParameter { name: &'static str, value: String, allowed: String },

    #[error("cannot read image {}: {reason}", path.display())]
    Decode { path: PathBuf, reason: String },

    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, #[source] source: std::io::Error },

    #[error("model {model}: {reason}{}", hint_suffix(hint))]
    Model { model: String, reason: String, hint: String },

    #[error("ONNX Runtime: {reason}{}", hint_suffix(hint))]
    Runtime { reason: String, hint: String },

    #[error("{method}: {reason}")]
    Refine { method: &'static str, reason: String },

    #[error("detail method {0} is not supported yet")]
    NotSupported(String),

    #[error("{0}")]
    Other(String),
}

fn hint_suffix(hint: &str) -> String {
    if hint.is_empty() { String::new() } else { format!(" ({hint})") }
}

impl Error {
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { path: path.into(), source }
    }

    pub fn model(model: impl Into<String>, reason: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Model { model: model.into(), reason: reason.into(), hint: hint.into() }
    }

    pub fn runtime(reason: impl Into<String>, hint: impl Into<String>) -> Self {
        Error::Runtime { reason: reason.into(), hint: hint.into() }
    }
}
