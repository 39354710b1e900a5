//! Shared by the service tests: servers on 127.0.0.1:0, a small HTTP client, test images, and a
//! tiny segmentation model so that hundreds of requests stay cheap while every one still runs
//! through the real service (admission, queue, workers, decode, ONNX Runtime, encode).
#![allow(dead_code)]

use rmbg_ultra::{DetailMethod, Device, Remover, RemoverOptions};
use rmbg_ultra_server::{spawn, Config, Running};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

// ---------------------------------------------------------------- a tiny ONNX model, by hand

fn varint(mut v: u64, out: &mut Vec<u8>) {
    loop {
        let b = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn field_varint(field: u32, v: u64, out: &mut Vec<u8>) {
    varint((field as u64) << 3, out);
    varint(v, out);
}

fn field_bytes(field: u32, bytes: &[u8], out: &mut Vec<u8>) {
    varint(((field as u64) << 3) | 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// ValueInfoProto: a float tensor of fixed shape.
fn value_info(name: &str, dims: &[u64]) -> Vec<u8> {
    let mut shape = Vec::new();
    for &d in dims {
        let mut dim = Vec::new();
        field_varint(1, d, &mut dim); // dim_value
        field_bytes(1, &dim, &mut shape); // dim
    }
    let mut tensor = Vec::new();
    field_varint(1, 1, &mut tensor); // elem_type FLOAT
    field_bytes(2, &shape, &mut tensor); // shape
    let mut ty = Vec::new();
    field_bytes(1, &tensor, &mut ty); // tensor_type
    let mut vi = Vec::new();
    field_bytes(1, name.as_bytes(), &mut vi);
    field_bytes(2, &ty, &mut vi);
    vi
}

/// An ONNX model (opset 13) that is a single `ReduceMean` over `axes` of the [1,3,1024,1024]
/// input. With `axes = [1]` it meets the segmentation contract ([1,1,1024,1024] out: the grey
/// level of the resized photo); other axes give a wrong output shape (an internal error).
pub fn reduce_mean_model(axes: &[i64], out_dims: &[u64]) -> Vec<u8> {
    let mut attr = Vec::new();
    field_bytes(1, b"axes", &mut attr);
    for &a in axes {
        field_varint(8, a as u64, &mut attr); // ints
    }
    field_varint(20, 7, &mut attr); // type INTS
    let mut node = Vec::new();
    field_bytes(1, b"input", &mut node);
    field_bytes(2, b"output", &mut node);
    field_bytes(4, b"ReduceMean", &mut node);
    field_bytes(5, &attr, &mut node);
    let mut graph = Vec::new();
    field_bytes(1, &node, &mut graph);
    field_bytes(2, b"tiny", &mut graph);
    field_bytes(11, &value_info("input", &[1, 3, 1024, 1024]), &mut graph);
    field_bytes(12, &value_info("output", out_dims), &mut graph);
    let mut opset = Vec::new();
    field_bytes(1, b"", &mut opset);
    field_varint(2, 13, &mut opset);
    let mut model = Vec::new();
    field_varint(1, 8, &mut model); // ir_version
    field_bytes(2, b"rmbg-ultra-server-tests", &mut model);
    field_bytes(7, &graph, &mut model);
    field_bytes(8, &opset, &mut model);
    model
}

fn model_dir() -> &'static Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap()).path()
}

/// The tiny model that meets the segmentation contract.
pub fn tiny_model() -> PathBuf {
    let p = model_dir().join("tiny-seg.onnx");
    if !p.exists() {
        std::fs::write(&p, reduce_mean_model(&[1], &[1, 1, 1024, 1024])).unwrap();
    }
    p
}

/// A model that runs but breaks the contract (output [1,1,1,1024]): every request is a 500.
pub fn broken_model() -> PathBuf {
    let p = model_dir().join("broken-seg.onnx");
    if !p.exists() {
        std::fs::write(&p, reduce_mean_model(&[1, 2], &[1, 1, 1, 1024])).unwrap();
    }
    p
}

pub fn remover(seg_model: &str) -> Arc<Remover> {
    Arc::new(
        Remover::new(RemoverOptions {
            seg_model: seg_model.to_string(),
            device: Device::Cpu,
            allow_fetch: false,
            ..RemoverOptions::default()
        })
        .unwrap_or_else(|e| panic!("cannot load {seg_model}: {e} (run `cargo run -p rmbg-ultra-cli -- setup` first)")),
    )
}

/// The real default segmentation model (IS-Net, ~2-4 s per request on 2 cores).
pub fn real_remover() -> Arc<Remover> {
    remover(rmbg_ultra::models::DEFAULT_SEGMENTATION)
}

pub fn tiny_remover() -> Arc<Remover> {
    remover(tiny_model().to_str().unwrap())
}

pub fn config() -> Config {
    Config {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        workers: 2,
        queue: 8,
        default_method: Some(DetailMethod::GuidedFilter),
        ..Config::default()
    }
}

pub fn start(config: Config, remover: Arc<Remover>) -> Running {
    spawn(config, remover).expect("server starts")
}

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

/// A valid PNG header that claims `w`×`h` pixels, with next to no data.
pub fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut chunk = |kind: &[u8], data: &[u8]| {
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        out.extend_from_slice(&body);
        out.extend_from_slice(&crc32fast::hash(&body).to_be_bytes());
    };
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 2, 0, 0, 0]);
    chunk(b"IHDR", &ihdr);
    chunk(b"IDAT", &[0x78, 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
    chunk(b"IEND", &[]);
    out
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

/// Resident memory of this process, bytes.
pub fn rss() -> u64 {
    rmbg_ultra_server::metrics::resident_bytes().expect("VmRSS in /proc/self/status")
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
