//! Reading a `/v1/remove` body: raw image or multipart form, never more than the limit, and
//! draining what a refused request still sends.

use crate::error::ApiError;
use crate::request::SpecBuilder;
use axum::body::Body;
use axum::http::{header, HeaderMap, StatusCode};
use http_body_util::BodyExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// How the image arrives.
pub(crate) enum BodyKind {
    Raw,
    Multipart(String),
}

pub(crate) fn body_kind(headers: &HeaderMap) -> Result<BodyKind, ApiError> {
    let Some(ct) = headers.get(header::CONTENT_TYPE) else { return Ok(BodyKind::Raw) };
    let ct = ct.to_str().map_err(|_| ApiError::bad_request("Content-Type is not ASCII"))?;
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if mime == "multipart/form-data" {
        return multer::parse_boundary(ct)
            .map(BodyKind::Multipart)
            .map_err(|e| ApiError::bad_request(format!("multipart/form-data without a usable boundary: {e}")));
    }
    // `curl --data-binary @photo.jpg` sends application/x-www-form-urlencoded: the bytes are the image all the same.
    if mime.is_empty() || mime.starts_with("image/") || mime == "application/octet-stream" || mime == "application/x-www-form-urlencoded" {
        return Ok(BodyKind::Raw);
    }
    Err(ApiError::unsupported_media_type(format!(
        "Content-Type {mime} is not accepted: send the image as the body (image/*, application/octet-stream) or as field `file` of multipart/form-data"
    )))
}

/// A request refused before its body was read in full: the answer goes out now, and the rest of
/// the body is read and thrown away (at most `max_body_bytes` + 8 MiB, for at most 10 s) so that the
/// client, still sending, gets to read the answer instead of a connection reset. Costs no memory
/// beyond the connection's own buffer; at most 256 such drains at once, beyond that the
/// connection is simply closed.
pub(crate) fn linger(drains: &Arc<Semaphore>, max_body: usize, mut body: Body) {
    let Ok(permit) = drains.clone().try_acquire_owned() else { return };
    let max = max_body.saturating_add(8 << 20);
    tokio::spawn(async move {
        let _permit = permit;
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            let mut seen = 0usize;
            while let Some(Ok(frame)) = body.frame().await {
                seen += frame.data_ref().map_or(0, |d| d.len());
                if seen > max {
                    break;
                }
            }
        })
        .await;
    });
}

pub(crate) fn too_large_body(len: u64, max: usize) -> ApiError {
    ApiError::too_large(format!("request body is {len} bytes or more, more than the server's limit of {max} bytes"))
}

pub(crate) async fn read_body(body: &mut Body, max: usize, declared: Option<u64>) -> Result<Vec<u8>, ApiError> {
    let mut buf = Vec::with_capacity(declared.map_or(0, |n| n.min(max as u64) as usize));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| ApiError::bad_request(format!("cannot read the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > max {
                return Err(too_large_body((buf.len() + data.len()) as u64, max));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf)
}

/// Field `file` is the image; any other field is a parameter (as in the query string).
pub(crate) async fn read_multipart(
    body: &mut Body,
    boundary: String,
    max: usize,
    spec: &mut SpecBuilder,
) -> Result<(Vec<u8>, String), ApiError> {
    let limits = multer::SizeLimit::new().whole_stream(max as u64).per_field(64 * 1024).for_field("file", max as u64);
    let mut form = multer::Multipart::with_constraints(
        http_body_util::BodyDataStream::new(body),
        boundary,
        multer::Constraints::new().size_limit(limits),
    );
    let mut file: Option<(Vec<u8>, String)> = None;
    while let Some(mut field) = form.next_field().await.map_err(multipart_error)? {
        let name = field.name().unwrap_or("").to_string();
        if name == "file" {
            if file.is_some() {
                return Err(ApiError::bad_request("more than one field `file`: send one image per request"));
            }
            let label = field
                .file_name()
                .map(|f| f.chars().filter(|c| !c.is_control()).take(200).collect::<String>())
                .filter(|f| !f.is_empty())
                .unwrap_or_else(|| "field file".into());
            let mut data = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                data.extend_from_slice(&chunk);
            }
            file = Some((data, label));
        } else {
            let value = field.text().await.map_err(multipart_error)?;
            spec.set(&name, &value)?;
        }
    }
    file.ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "bad_image", "multipart form without field `file`: put the image there"))
}

fn multipart_error(e: multer::Error) -> ApiError {
    match e {
        multer::Error::StreamSizeExceeded { limit } | multer::Error::FieldSizeExceeded { limit, .. } => {
            ApiError::too_large(format!("multipart body or field larger than the server's limit of {limit} bytes"))
        }
        e => ApiError::bad_request(format!("malformed multipart/form-data: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn kind(content_type: Option<&str>) -> Result<BodyKind, ApiError> {
        let mut h = HeaderMap::new();
        if let Some(ct) = content_type {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
        }
        body_kind(&h)
    }

    #[test]
    fn images_octets_and_curl_forms_are_raw_multipart_needs_its_boundary() {
        for ct in [None, Some("image/jpeg"), Some("application/octet-stream"), Some("application/x-www-form-urlencoded"), Some("")] {
            assert!(matches!(kind(ct), Ok(BodyKind::Raw)), "{ct:?}");
        }
        assert!(matches!(kind(Some("multipart/form-data; boundary=xyz")), Ok(BodyKind::Multipart(b)) if b == "xyz"));
        assert_eq!(kind(Some("multipart/form-data")).err().unwrap().status, StatusCode::BAD_REQUEST);
        assert_eq!(kind(Some("text/plain")).err().unwrap().status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[tokio::test]
    async fn a_body_over_the_limit_is_refused_and_one_within_is_read_whole() {
        let mut body = Body::from(vec![7u8; 100]);
        assert_eq!(read_body(&mut body, 100, Some(100)).await.unwrap(), vec![7u8; 100]);
        let mut body = Body::from(vec![7u8; 101]);
        assert_eq!(read_body(&mut body, 100, None).await.err().unwrap().status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[tokio::test]
    async fn multipart_takes_file_as_the_image_and_other_fields_as_parameters() {
        let form = "--b\r\nContent-Disposition: form-data; name=\"output\"\r\n\r\nmask\r\n\
                    --b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\nPNGDATA\r\n--b--\r\n";
        let mut spec = SpecBuilder::new(None, false);
        let (bytes, name) = read_multipart(&mut Body::from(form), "b".into(), 1000, &mut spec).await.unwrap();
        assert_eq!((bytes.as_slice(), name.as_str()), (&b"PNGDATA"[..], "a.png"));
        assert_eq!(spec.build().unwrap().output, crate::request::Output::Mask);
        let no_file = "--b\r\nContent-Disposition: form-data; name=\"output\"\r\n\r\nmask\r\n--b--\r\n";
        let err = read_multipart(&mut Body::from(no_file), "b".into(), 1000, &mut SpecBuilder::new(None, false)).await.unwrap_err();
        assert_eq!(err.kind, "bad_image");
    }
}
