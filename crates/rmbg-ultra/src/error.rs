use crate::encode::Format;
use image::ImageFormat;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Every error names what it is about (parameter, file, model) and, where there is one, what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid {name} = {value}: allowed {allowed}")]
    InvalidParameter { name: &'static str, value: String, allowed: String },

    /// `kind` is not a `source`: its words are part of this message, and a chained report
    /// (`{:#}`) would say them twice.
    #[error("cannot read image {}: {kind}", path.display())]
    Decode { path: PathBuf, kind: DecodeErrorKind },

    #[error("cannot encode {format:?}: {reason}")]
    Encode { format: Format, reason: String },

    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, #[source] source: std::io::Error },

    #[error("model {model}: {reason}{}", hint_suffix(hint))]
    Model { model: String, reason: String, hint: String },

    #[error("ONNX Runtime: {reason}{}", hint_suffix(hint))]
    Runtime { reason: String, hint: String },

    #[error("{method}: {reason}")]
    Refine { method: &'static str, reason: String },

    #[error("{0}")]
    Other(String),

    /// A model file that is nowhere to be found: `searched` lists every place looked at, each with
    /// why it did not count (empty: `id` is neither a known model id nor an existing file); `hint`
    /// says what provides the file.
    #[error("model {id}: {}{}", not_found_reason(searched), hint_suffix(hint))]
    ModelNotFound { id: String, searched: Vec<String>, hint: String },

    /// A folder holds a model's transformers weights but no ONNX file: they need converting once
    /// (`hint`: the CLI's command for it; the ComfyUI node converts them itself).
    #[error("model {id}: {} holds the transformers weights of {method} but no ONNX file{}", folder.display(), hint_suffix(hint))]
    ModelNeedsExport { id: String, method: &'static str, folder: PathBuf, hint: String },
}

fn not_found_reason(searched: &[String]) -> String {
    if searched.is_empty() {
        "neither a known model id nor an existing file".to_string()
    } else {
        format!("no ONNX file found; searched: {}", searched.join("; "))
    }
}

/// Why an image file cannot be decoded, split the way image-rs splits its `ImageError`: front-ends
/// pick their answer (an HTTP status, a Python exception's `kind`) from the variant, never from the
/// words, which are for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeErrorKind {
    /// The file has no bytes at all.
    #[error("empty file (0 bytes)")]
    Empty,

    /// The header claims more pixels than `DecodeLimits::max_pixels`; no pixel was decoded.
    #[error(
        "image is {width}×{height} = {} pixels, more than the limit of {limit} (a guard against decompression bombs; \
         raise DecodeLimits::max_pixels to accept it)",
        width * height
    )]
    TooLarge { width: u64, height: u64, limit: u64 },

    /// Within the pixel limit, but the decoder would need more memory than such an image should.
    #[error("{} image exceeds the decoder's limits: {detail}", format_name(*format))]
    OverDecoderLimits { format: ImageFormat, detail: String },

    /// Not a format we know by its first bytes.
    #[error("not a recognised image format (first bytes {}); supported: JPEG, PNG, WebP, TIFF, BMP, GIF", hex_bytes(first_bytes))]
    Unrecognised { first_bytes: Vec<u8> },

    /// A format, or a feature of one (a colour space, a compression), that we do not decode.
    #[error("unsupported {} image: {detail}", format_name(*format))]
    Unsupported { format: ImageFormat, detail: String },

    /// The data ends before the image does.
    #[error("truncated {} file (the data ends before the image does)", format_name(*format))]
    Truncated { format: ImageFormat },

    /// The data is not what the format says it should be (or the decoder gave up on it).
    #[error("corrupt {} file: {detail}", format_name(*format))]
    Corrupt { format: ImageFormat, detail: String },
}

impl DecodeErrorKind {
    /// A stable name for the kind (`too_large`, `truncated`, ...), for front-ends that hand it on
    /// as a string (the Python `DecodeError.kind`).
    pub fn id(&self) -> &'static str {
        match self {
            DecodeErrorKind::Empty => "empty",
            DecodeErrorKind::TooLarge { .. } => "too_large",
            DecodeErrorKind::OverDecoderLimits { .. } => "over_decoder_limits",
            DecodeErrorKind::Unrecognised { .. } => "unrecognised",
            DecodeErrorKind::Unsupported { .. } => "unsupported",
            DecodeErrorKind::Truncated { .. } => "truncated",
            DecodeErrorKind::Corrupt { .. } => "corrupt",
        }
    }
}

/// `JPEG`, `PNG`, `WEBP`, ...
fn format_name(format: ImageFormat) -> String {
    format!("{format:?}").to_uppercase()
}

fn hex_bytes(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" ")
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

    /// The advice of a model or runtime error, if it has one. It is written for the CLI
    /// (`rmbg-ultra models fetch`, the repository's scripts), so a front-end whose users do
    /// something else (ComfyUI: a folder under its `models/`) shows [`Error::without_hint`] and its
    /// own advice instead.
    pub fn hint(&self) -> Option<&str> {
        match self {
            Error::Model { hint, .. } | Error::Runtime { hint, .. } | Error::ModelNotFound { hint, .. } | Error::ModelNeedsExport { hint, .. }
                if !hint.is_empty() =>
            {
                Some(hint)
            }
            _ => None,
        }
    }

    /// The message without its advice: what went wrong and, for a missing model, every place that
    /// was searched. The full message is this followed by ` (hint)`.
    pub fn without_hint(&self) -> String {
        match self {
            Error::Model { model, reason, .. } => format!("model {model}: {reason}"),
            Error::Runtime { reason, .. } => format!("ONNX Runtime: {reason}"),
            Error::ModelNotFound { id, searched, .. } => format!("model {id}: {}", not_found_reason(searched)),
            Error::ModelNeedsExport { id, method, folder, .. } => {
                format!("model {id}: {} holds the transformers weights of {method} but no ONNX file", folder.display())
            }
            other => other.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_the_part_without_hint_then_the_hint() {
        let cases = [
            Error::model("vitmatte-small", "no ONNX file found; searched: /a (missing)", "run `rmbg-ultra models fetch vitmatte-small`"),
            Error::runtime("the ONNX Runtime library was not found in /c", "run `rmbg-ultra setup`"),
            Error::ModelNotFound {
                id: "vitmatte-small".into(),
                searched: vec!["/a (missing)".into(), "/b (missing)".into()],
                hint: "run `rmbg-ultra models fetch vitmatte-small`".into(),
            },
            Error::ModelNeedsExport {
                id: "vitmatte-small".into(),
                method: "VITMatte",
                folder: "/m/vitmatte".into(),
                hint: "convert them once with `python3 scripts/export-vitmatte-onnx.py`".into(),
            },
        ];
        for e in cases {
            let hint = e.hint().expect("has a hint");
            assert_eq!(e.to_string(), format!("{} ({hint})", e.without_hint()));
            assert!(!e.without_hint().contains(hint), "{e}");
        }
        let e = Error::model("m", "is not a Hugging Face model", "");
        assert_eq!((e.hint(), e.without_hint()), (None, e.to_string()));
        let e = Error::Refine { method: "PyMatting", reason: "no foreground".into() };
        assert_eq!((e.hint(), e.without_hint()), (None, "PyMatting: no foreground".to_string()));
    }

    #[test]
    fn a_model_not_found_lists_every_place_searched() {
        let e = Error::ModelNotFound { id: "m".into(), searched: vec!["/a (missing)".into(), "/b (damaged)".into()], hint: "".into() };
        assert_eq!(e.to_string(), "model m: no ONNX file found; searched: /a (missing); /b (damaged)");
        let e = Error::ModelNotFound { id: "x.onnx".into(), searched: vec![], hint: "use one of a, b".into() };
        assert_eq!(e.to_string(), "model x.onnx: neither a known model id nor an existing file (use one of a, b)");
    }
}
