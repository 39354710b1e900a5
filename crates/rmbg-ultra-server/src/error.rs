//! Every error the service answers: a status, a short machine-readable kind and a sentence, sent as
//! JSON `{"error": kind, "detail": sentence}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use rmbg_ultra::decode::DecodeErrorKind;
use rmbg_ultra::Error as LibError;

/// An error response. `kind` is stable (clients and metrics key on it); `detail` is for people.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub detail: String,
    /// Seconds for `Retry-After` (503 only).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, kind: &'static str, detail: impl Into<String>) -> Self {
        ApiError { status, kind, detail: detail.into(), retry_after: None }
    }

    pub fn bad_parameter(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_parameter", detail)
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", detail)
    }

    pub fn too_large(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", detail)
    }

    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", detail)
    }

    pub fn overloaded(detail: impl Into<String>, retry_after: u64) -> Self {
        ApiError { retry_after: Some(retry_after.max(1)), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", detail) }
    }

    pub fn timeout(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::GATEWAY_TIMEOUT, "timeout", detail)
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", detail)
    }

    /// Maps a library error to the status it deserves: the request's fault (4xx) or ours (5xx).
    pub fn from_lib(e: &LibError) -> Self {
        let detail = e.to_string();
        match e {
            LibError::InvalidParameter { .. } => Self::bad_parameter(detail),
            LibError::Decode { kind, .. } => classify_decode(kind, detail),
            // PyMatting's per-image refusals (black_point > white_point, no foreground or background).
            LibError::Refine { .. } => Self::new(StatusCode::BAD_REQUEST, "cannot_refine", detail),
            LibError::Model { .. } | LibError::Runtime { .. } | LibError::Io { .. } | LibError::Encode { .. } | LibError::Other(_) => {
                Self::internal(detail)
            }
            LibError::ModelNotFound { .. } | LibError::ModelNeedsExport { .. } => Self::internal(detail),
        }
    }
}

/// A decode failure is the client's: too many pixels → 413, not an image format we read → 415,
/// anything else (empty, corrupt, truncated) → 400.
fn classify_decode(kind: &DecodeErrorKind, detail: String) -> ApiError {
    match kind {
        DecodeErrorKind::TooLarge { .. } | DecodeErrorKind::OverDecoderLimits { .. } => ApiError::too_large(detail),
        DecodeErrorKind::Unrecognised { .. } | DecodeErrorKind::Unsupported { .. } => ApiError::unsupported_media_type(detail),
        DecodeErrorKind::Empty | DecodeErrorKind::Truncated { .. } | DecodeErrorKind::Corrupt { .. } => {
            ApiError::new(StatusCode::BAD_REQUEST, "bad_image", detail)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.kind, "detail": self.detail }).to_string();
        let mut resp = (self.status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response();
        if let Some(s) = self.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        // The metrics layer counts errors by kind.
        resp.extensions_mut().insert(ErrorKind(self.kind));
        resp
    }
}

/// Attached to error responses so that the metrics middleware can count them by kind.
#[derive(Debug, Clone, Copy)]
pub struct ErrorKind(pub &'static str);

#[cfg(test)]
mod tests {
    use super::*;
    use rmbg_ultra::decode::{decode_bytes, DecodeLimits};
    use std::path::Path;

    fn status_of(bytes: &[u8], max_pixels: u64) -> StatusCode {
        let e = decode_bytes(bytes, Path::new("body"), &DecodeLimits { max_pixels }).unwrap_err();
        ApiError::from_lib(&e).status
    }

    fn png(w: u32, h: u32) -> Vec<u8> {
        let px = vec![7u8; (w * h * 3) as usize];
        rmbg_ultra::encode::encode(&px, w, h, image::ExtendedColorType::Rgb8, rmbg_ultra::encode::Format::Png).unwrap()
    }

    #[test]
    fn decode_errors_get_the_right_status() {
        assert_eq!(status_of(&png(20, 20), 100), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(status_of(b"%PDF-1.7 not an image at all", 1000), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(status_of(b"qoif\0\0\0\x01\0\0\0\x01\x03\0", 1000), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(status_of(&png(20, 20)[..40], 1000), StatusCode::BAD_REQUEST);
        assert_eq!(status_of(b"", 1000), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn a_decoder_over_its_memory_limits_is_too_large() {
        // A 1×1 GIF whose frame claims 65535×65535 (the decode module's test explains it).
        let gif = b"GIF89a\x01\x00\x01\x00\x00\x00\x00\x2c\0\0\0\0\xff\xff\xff\xff\x80\0\0\0\xff\xff\xff\x02\x02\x4c\x01\x00\x3b";
        assert_eq!(status_of(gif, 1000), StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn library_errors_map_to_statuses() {
        let p = rmbg_ultra::Params { detail_erode: 0, ..Default::default() };
        assert_eq!(ApiError::from_lib(&p.validate().unwrap_err()).status, StatusCode::BAD_REQUEST);
        let encode = LibError::Encode { format: rmbg_ultra::encode::Format::Png, reason: "x".into() };
        assert_eq!(ApiError::from_lib(&encode).status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(ApiError::from_lib(&LibError::Other("x".into())).status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
