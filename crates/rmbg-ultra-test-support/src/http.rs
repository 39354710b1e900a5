//! The service's HTTP side as its tests drive it: test images, a small blocking client over
//! ureq, the error-body check and one /metrics value. Used by the service's tests and by the CLI's
//! `serve` test, which runs the real binary.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

// ---------------------------------------------------------------- images

/// A photo with a bright square on a dark background, so that even the tiny model finds a subject.
pub fn photo(w: u32, h: u32) -> image::RgbImage {
    image::RgbImage::from_fn(w, h, |x, y| {
        let inside = x > w / 4 && x < 3 * w / 4 && y > h / 4 && y < 3 * h / 4;
        if inside {
            image::Rgb([230, 200 - (x % 50) as u8, 180])
        } else {
            // A flat background: the segmentation map's minimum, so the tiny model's mask is 0 there.
            image::Rgb([20, 20, 30])
        }
    })
}

pub fn png_bytes(img: &image::RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

pub fn png(w: u32, h: u32) -> Vec<u8> {
    png_bytes(&photo(w, h))
}

// ---------------------------------------------------------------- HTTP

pub struct Reply {
    pub status: u16,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    pub fn image(&self) -> image::DynamicImage {
        image::load_from_memory(&self.body).unwrap_or_else(|e| panic!("status {} body is no image ({e}): {}", self.status, self.text()))
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut r = r.unwrap_or_else(|e| panic!("request failed: {e}"));
    let headers = r.headers().iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect();
    let content_type = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body = r.body_mut().with_config().limit(200_000_000).read_to_vec().unwrap();
    Reply { status: r.status().as_u16(), content_type, headers, body }
}

pub fn get(addr: SocketAddr, path: &str) -> Reply {
    get_with(addr, path, &[])
}

pub fn get_with(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut req = agent().get(format!("http://{addr}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    reply(req.call())
}

/// POST with a body and content type (None: no Content-Type header).
pub fn post(addr: SocketAddr, path: &str, content_type: Option<&str>, body: &[u8]) -> Reply {
    post_with(addr, path, content_type, body, &[])
}

pub fn post_with(addr: SocketAddr, path: &str, content_type: Option<&str>, body: &[u8], headers: &[(&str, &str)]) -> Reply {
    let mut req = agent().post(format!("http://{addr}{path}"));
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    reply(req.send(body))
}

pub fn post_image(addr: SocketAddr, query: &str, body: &[u8]) -> Reply {
    post(addr, &format!("/v1/remove{query}"), Some("image/png"), body)
}

/// A multipart/form-data body: text fields, then the file as field `file`.
pub fn multipart(fields: &[(&str, &str)], file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----rmbg-ultra-test-boundary-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (k, v) in fields {
        write!(body, "--{boundary}\r\nContent-Disposition: form-data; name=\"{k}\"\r\n\r\n{v}\r\n").unwrap();
    }
    write!(body, "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"photo.png\"\r\nContent-Type: image/png\r\n\r\n").unwrap();
    body.extend_from_slice(file);
    write!(body, "\r\n--{boundary}--\r\n").unwrap();
    (format!("multipart/form-data; boundary={boundary}"), body)
}

/// A raw HTTP/1.1 exchange on a fresh connection (for chunked bodies and odd requests). Returns
/// the status and the whole response text.
pub fn raw_exchange(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

/// One value of /metrics, by its full series name (with labels).
pub fn metric(addr: SocketAddr, series: &str) -> Option<f64> {
    let text = get(addr, "/metrics").text();
    text.lines().find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')).and_then(|v| v.trim().parse().ok()))
}

pub fn assert_error(r: &Reply, status: u16, kind: &str, detail_has: &[&str]) {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(r.content_type.starts_with("application/json"), "{}", r.content_type);
    let j = r.json();
    assert_eq!(j["error"], kind, "{j}");
    let detail = j["detail"].as_str().unwrap_or_else(|| panic!("no detail: {j}"));
    for want in detail_has {
        assert!(detail.contains(want), "detail {detail:?} lacks {want:?}");
    }
}
