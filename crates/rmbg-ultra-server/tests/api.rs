//! Every endpoint and status code of `rmbg-ultra serve`, against real servers on 127.0.0.1.

mod common;

use common::*;
use rmbg_ultra::DetailMethod;
use rmbg_ultra_server::Config;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The tests that run the real model take turns (2 cores), so the others keep their timing.
static HEAVY: Mutex<()> = Mutex::new(());

fn heavy() -> std::sync::MutexGuard<'static, ()> {
    HEAVY.lock().unwrap_or_else(|p| p.into_inner())
}

#[test]
fn remove_answers_cutout_mask_and_formats() {
    let server = start(config(), tiny_remover());
    let addr = server.addr();
    let img = photo(40, 30);
    let body = png_bytes(&img);

    let r = post_image(addr, "", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.content_type, "image/png");
    assert!(r.header("server-timing").unwrap().contains("segment;dur="), "{:?}", r.headers);
    let cut = r.image();
    assert_eq!(cut.color(), image::ColorType::Rgba8);
    let cut = cut.to_rgba8();
    assert_eq!(cut.dimensions(), (40, 30));
    // quality (the default): opaque pixels keep the input colour, the soft edge is recoloured.
    for (c, i) in cut.pixels().zip(img.pixels()) {
        if c.0[3] == 255 {
            assert_eq!(&c.0[..3], &i.0);
        }
    }
    let alpha: Vec<u8> = cut.pixels().map(|p| p.0[3]).collect();

    // node: RGBA = the untouched input RGB + alpha.
    let r = post_image(addr, "?profile=node", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let node = r.image().to_rgba8();
    for (c, i) in node.pixels().zip(img.pixels()) {
        assert_eq!(&c.0[..3], &i.0);
    }
    let node_alpha: Vec<u8> = node.pixels().map(|p| p.0[3]).collect();
    assert!(node_alpha.contains(&255) && node_alpha.contains(&0), "the square is cut out");

    // Premultiplied and over a colour come from the same cutout.
    let r = post_image(addr, "?profile=node&output=premultiplied", &body);
    assert_eq!((r.status, r.header("x-rmbg-output").unwrap()), (200, "premultiplied"), "{}", r.text());
    for (p, n) in r.image().to_rgba8().pixels().zip(node.pixels()) {
        assert_eq!(p.0[0] as u32, (n.0[0] as u32 * n.0[3] as u32 + 127) / 255);
        assert_eq!(p.0[3], n.0[3]);
    }
    let r = post_image(addr, "?profile=node&background=white", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let flat = r.image();
    assert_eq!(flat.color(), image::ColorType::Rgb8);
    for ((f, n), &a) in flat.to_rgb8().pixels().zip(node.pixels()).zip(&node_alpha) {
        assert_eq!(f.0[1] as u32, (n.0[1] as u32 * a as u32 + 255 * (255 - a as u32) + 127) / 255);
    }

    let r = post_image(addr, "?output=mask", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let mask = r.image();
    assert_eq!(mask.color(), image::ColorType::L8);
    assert_eq!(mask.to_luma8().into_raw(), alpha, "the mask is the cutout's alpha");

    for (fmt, ct) in [("webp", "image/webp"), ("tiff", "image/tiff"), ("png", "image/png")] {
        let r = post_image(addr, &format!("?format={fmt}&output=mask"), &body);
        assert_eq!((r.status, r.content_type.as_str()), (200, ct), "{}", r.text());
        assert_eq!(r.image().to_luma8().into_raw(), alpha, "{fmt} is lossless");
    }

    // No Content-Type, octet-stream, and curl --data-binary's form type all mean "the body is the image".
    for ct in [None, Some("application/octet-stream"), Some("application/x-www-form-urlencoded")] {
        let r = post(addr, "/v1/remove?output=mask", ct, &body);
        assert_eq!(r.status, 200, "{ct:?}: {}", r.text());
    }

    // Every parameter by its CLI name; both spellings.
    let r = post_image(addr, "?method=PyMatting&erode=2&dilate=3&black-point=0.05&white_point=0.95&max_megapixels=2&output=mask", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = post_image(addr, "?profile=node&no_detail=true&output=mask", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let coarse = r.image().to_luma8().into_raw();
    assert!(coarse.iter().all(|&v| v == 0 || v == 255), "the node's no_detail gives the binary coarse mask");
}

#[test]
fn multipart_file_and_form_fields() {
    let server = start(config(), tiny_remover());
    let addr = server.addr();
    let img = png(24, 20);
    let plain = post_image(addr, "?output=mask&no-detail", &img);
    assert_eq!(plain.status, 200);

    let (ct, body) = multipart(&[("output", "mask"), ("no-detail", "1")], &img);
    let r = post(addr, "/v1/remove", Some(&ct), &body);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, plain.body, "form fields work like query parameters");

    // Query and form together; a bad form field is named.
    let (ct, body) = multipart(&[("white_point", "1.5")], &img);
    let r = post(addr, "/v1/remove?output=mask", Some(&ct), &body);
    assert_error(&r, 400, "bad_parameter", &["white_point", "1.5", "0.02..=0.99"]);

    let (ct, body) = multipart(&[("output", "mask")], &[]);
    let without_file = String::from_utf8_lossy(&body).replace("name=\"file\"", "name=\"other\"");
    let r = post(addr, "/v1/remove", Some(&ct), without_file.as_bytes());
    assert_error(&r, 400, "bad_parameter", &["other"]);

    let r = post(addr, "/v1/remove", Some("multipart/form-data"), b"--x\r\n");
    assert_error(&r, 400, "bad_request", &["boundary"]);
}

#[test]
fn bad_parameters_and_images_are_400_with_names_values_ranges() {
    let server = start(config(), tiny_remover());
    let addr = server.addr();
    let img = png(16, 16);
    for (q, want) in [
        ("?erode=0", vec!["erode", "\"0\"", "1..=255"]),
        ("?dilate=256", vec!["dilate", "256", "1..=255"]),
        ("?black_point=0", vec!["black_point", "0", "0.01..=0.98"]),
        ("?white-point=2", vec!["white_point", "2", "0.02..=0.99"]),
        ("?max_megapixels=0.5", vec!["max_megapixels", "0.5", "1..=999"]),
        ("?method=Magic", vec!["method", "Magic", "GuidedFilter"]),
        ("?output=both", vec!["output", "both", "cutout, premultiplied, mask"]),
        ("?format=jpeg", vec!["format", "jpeg", "png, webp, tiff"]),
        ("?colour=red", vec!["unknown parameter", "colour", "black_point"]),
    ] {
        let r = post_image(addr, q, &img);
        assert_error(&r, 400, "bad_parameter", &want);
    }
    // The node's PyMatting refuses black_point > white_point, per image; in the quality profile
    // black/white points are a remap of the final alpha, which takes any pair.
    let r = post_image(addr, "?profile=node&method=PyMatting&black_point=0.9&white_point=0.1", &img);
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"], "cannot_refine");
    let r = post_image(addr, "?output=mask&black_point=0.9&white_point=0.1", &img);
    assert_eq!(r.status, 200, "{}", r.text());

    assert_error(&post_image(addr, "", b""), 400, "bad_image", &["no image"]);
    let truncated = &png(64, 64)[..60];
    assert_error(&post_image(addr, "", truncated), 400, "bad_image", &["request body"]);
    let mut corrupt = png(32, 32);
    let n = corrupt.len();
    corrupt[n / 2..n - 20].iter_mut().for_each(|b| *b = 0x55);
    let r = post_image(addr, "", &corrupt);
    assert_eq!(r.status, 400, "{}", r.text());
}

#[test]
fn unsupported_types_are_415() {
    let server = start(config(), tiny_remover());
    let addr = server.addr();
    let r = post(addr, "/v1/remove", Some("application/json"), b"{\"image\": \"...\"}");
    assert_error(&r, 415, "unsupported_media_type", &["application/json", "multipart/form-data"]);
    let r = post(addr, "/v1/remove", Some("text/plain"), b"hello");
    assert_eq!(r.status, 415);
    let r = post_image(addr, "", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3 not an image");
    assert_error(&r, 415, "unsupported_media_type", &["not a recognised image format", "PNG"]);
}

#[test]
fn sizes_over_the_limits_are_413_and_a_bomb_is_refused_fast() {
    let server = start(Config { max_body_bytes: 20_000, max_pixels: 5_000, ..config() }, tiny_remover());
    let addr = server.addr();

    // Declared size over the limit.
    let big = vec![0u8; 30_000];
    assert_error(&post_image(addr, "", &big), 413, "too_large", &["20000"]);
    // Undeclared (chunked) size over the limit: refused while reading.
    let mut req = b"POST /v1/remove HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n".to_vec();
    for _ in 0..4 {
        req.extend_from_slice(format!("{:x}\r\n", 8000).as_bytes());
        req.extend_from_slice(&[1u8; 8000]);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let (status, text) = raw_exchange(addr, &req);
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("too_large"), "{text}");
    // Multipart over the limit.
    let (ct, body) = multipart(&[], &big);
    assert_eq!(post(addr, "/v1/remove", Some(&ct), &body).status, 413);

    // Too many pixels for --max-pixels (100×100 > 5000).
    assert_error(&post_image(addr, "", &png(100, 100)), 413, "too_large", &["100×100", "5000"]);
    // A header claiming 100000×100000 pixels: refused from the header, fast, with little memory.
    let before = rss();
    let t = Instant::now();
    let r = post_image(addr, "", &png_claiming(100_000, 100_000));
    let took = t.elapsed();
    assert_error(&r, 413, "too_large", &["100000×100000"]);
    assert!(took < Duration::from_secs(1), "the bomb took {took:?}");
    assert!(rss() < before + 50_000_000, "no big allocation for the bomb");
    // Under the limits, the same server works.
    assert_eq!(post_image(addr, "?output=mask", &png(50, 50)).status, 200);
}

#[test]
fn default_limits_refuse_the_bomb_too() {
    let server = start(config(), tiny_remover());
    let t = Instant::now();
    let r = post_image(server.addr(), "", &png_claiming(100_000, 100_000));
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_error(&r, 413, "too_large", &["100000×100000", "100000000"]);
}

#[test]
fn health_models_metrics_404_405() {
    let server = start(config(), tiny_remover());
    let addr = server.addr();

    let h = get(addr, "/healthz");
    assert_eq!(h.status, 200);
    let j = h.json();
    assert_eq!(j["status"], "ok");
    assert_eq!(j["device"], "cpu");
    assert_eq!((j["workers"].as_u64(), j["queue_capacity"].as_u64()), (Some(2), Some(8)));

    let m = get(addr, "/v1/models");
    assert_eq!(m.status, 200, "{}", m.text());
    let j = m.json();
    let models = j["models"].as_array().unwrap();
    assert_eq!(models.len(), rmbg_ultra::models::MODELS.len());
    for id in ["isnet-general", "isnet-general-q8", "rmbg-1.4", "vitmatte-small", "vitmatte-base"] {
        let e = models.iter().find(|e| e["id"] == id).unwrap_or_else(|| panic!("{id} missing: {j}"));
        assert!(["installed", "missing", "damaged"].contains(&e["status"].as_str().unwrap()), "{e}");
        assert_eq!(e["loaded"], false, "the tiny model is loaded, not {id}");
    }
    assert!(j["loaded"]["segmentation"]["model"].as_str().unwrap().ends_with("tiny-seg.onnx"), "{j}");
    let methods = j["methods"].as_array().unwrap();
    assert_eq!(methods.len(), rmbg_ultra::refine::METHODS.len());
    for m in rmbg_ultra::DetailMethod::all() {
        let e = methods.iter().find(|e| e["id"] == m.id()).unwrap_or_else(|| panic!("{m} missing: {j}"));
        assert_eq!((&e["name"], &e["in_node"]), (&serde_json::json!(m.name()), &serde_json::json!(m.in_node())), "{e}");
    }

    // One success and one error, then the counters show them.
    assert_eq!(post_image(addr, "?output=mask", &png(20, 20)).status, 200);
    assert_eq!(post_image(addr, "?erode=0", &png(20, 20)).status, 400);
    let r = get(addr, "/metrics");
    assert_eq!(r.status, 200);
    assert!(r.content_type.starts_with("text/plain; version=0.0.4"), "{}", r.content_type);
    let t = r.text();
    for want in [
        "rmbg_ultra_http_requests_total{route=\"/v1/remove\",status=\"200\"} 1",
        "rmbg_ultra_http_requests_total{route=\"/v1/remove\",status=\"400\"} 1",
        "rmbg_ultra_http_requests_total{route=\"/healthz\",status=\"200\"} 1",
        "rmbg_ultra_errors_total{kind=\"bad_parameter\"} 1",
        "rmbg_ultra_stage_seconds_count{stage=\"segment\"} 1",
        "rmbg_ultra_stage_seconds_count{stage=\"total\"} 1",
        "rmbg_ultra_stage_seconds_bucket{stage=\"queue\",le=\"+Inf\"} 1",
        "rmbg_ultra_queue_depth 0",
        "rmbg_ultra_queue_capacity 8",
        "rmbg_ultra_workers 2",
        "rmbg_ultra_workers_busy ",
        "rmbg_ultra_in_flight 0",
        "process_resident_memory_bytes ",
    ] {
        assert!(t.contains(want), "/metrics lacks {want:?}:\n{t}");
    }

    assert_error(&get(addr, "/nope"), 404, "not_found", &["/v1/remove"]);
    assert_error(&get(addr, "/v1/remove"), 405, "method_not_allowed", &["POST /v1/remove"]);
    assert_error(&post(addr, "/healthz", None, b""), 405, "method_not_allowed", &[]);
    assert!(get(addr, "/metrics").text().contains("rmbg_ultra_http_requests_total{route=\"other\",status=\"404\"} 1"));
}

#[test]
fn internal_errors_are_500_and_missing_models_are_named() {
    let server = start(config(), remover(broken_model().to_str().unwrap()));
    let addr = server.addr();
    let r = post_image(addr, "", &png(16, 16));
    assert_error(&r, 500, "internal", &["segmentation contract"]);
    // The server lives on.
    assert_eq!(get(addr, "/healthz").status, 200);

    // ViTMatte needs a matting model; without one (no fetching here) the answer is a clear 5xx
    // naming it, not a hang or a panic.
    let no_matting = rmbg_ultra::Remover::new(rmbg_ultra::RemoverOptions {
        seg_model: tiny_model().to_str().unwrap().into(),
        matting_model: Some("/nonexistent/vitmatte.onnx".into()),
        device: rmbg_ultra::Device::Cpu,
        allow_fetch: false,
        ..Default::default()
    })
    .unwrap();
    let server = start(Config { default_method: Some(DetailMethod::VITMATTE_LOCAL), ..config() }, std::sync::Arc::new(no_matting));
    let r = post_image(server.addr(), "", &png(16, 16));
    assert!(r.status == 501 || r.status == 500, "{} {}", r.status, r.text());
    assert!(r.json()["detail"].as_str().unwrap().to_lowercase().contains("vitmatte"), "names the model: {}", r.text());
}

/// `fast=true` runs the int8 model made from the server's segmentation model: refused with the
/// node profile or a model without an int8 variant (400), and never made on a request's path: a
/// cache without it answers 503 naming the command that makes it, and the server lives on.
#[test]
fn fast_needs_the_quality_profile_and_an_installed_int8_model() {
    let server = start(config(), tiny_remover());
    let r = post_image(server.addr(), "?fast=true", &png(16, 16));
    assert_error(&r, 400, "bad_parameter", &["only with isnet-general"]);
    let r = post_image(server.addr(), "?fast=true&profile=node", &png(16, 16));
    assert_error(&r, 400, "bad_parameter", &["profile=node keeps the node's model"]);
    drop(server);

    let _heavy = heavy();
    // A cache holding isnet-general but not its int8 variant.
    let cache = tempfile::tempdir().unwrap();
    let store = rmbg_ultra::models::ModelStore::new(cache.path());
    let base = rmbg_ultra::models::ModelStore::open_default()
        .resolve("isnet-general", rmbg_ultra::models::Task::Segmentation, false)
        .expect("isnet-general is installed (rmbg-ultra setup)");
    let target = store.path_of(rmbg_ultra::models::spec("isnet-general").unwrap());
    std::fs::create_dir_all(target.parent().unwrap()).unwrap();
    std::fs::copy(&base, &target).unwrap();
    let remover = rmbg_ultra::Remover::new(rmbg_ultra::RemoverOptions {
        device: rmbg_ultra::Device::Cpu,
        store,
        ..Default::default()
    })
    .unwrap();
    let server = start(config(), std::sync::Arc::new(remover));
    let health = get(server.addr(), "/healthz").json();
    assert_eq!(health["fast_model"], "isnet-general-int8");
    let r = post_image(server.addr(), "?fast=true", &png(16, 16));
    assert_error(&r, 503, "model_unavailable", &["isnet-general-int8", "rmbg-ultra models fetch isnet-general-int8"]);
    assert_eq!(post_image(server.addr(), "?fast=false", &png(16, 16)).status, 200);
    drop(server);

    // With the int8 model installed (`rmbg-ultra setup --int8`, as scripts/test.sh runs), the
    // same request is answered, and the fast cutout is not the fp32 one.
    let server = start(config(), real_remover());
    let body = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../testdata/photos/product.jpg")).unwrap();
    let fast = post_image(server.addr(), "?fast=true&output=mask", &body);
    assert_eq!(fast.status, 200, "{} (run `rmbg-ultra setup --int8`)", fast.text());
    let slow = post_image(server.addr(), "?output=mask", &body);
    assert_eq!(slow.status, 200, "{}", slow.text());
    let (a, b) = (fast.image(), slow.image());
    assert_eq!((a.width(), a.height()), (b.width(), b.height()));
    assert_ne!(fast.body, slow.body, "the int8 and fp32 networks give different masks");
}

#[test]
fn bearer_token_guards_everything_but_healthz() {
    let token = "s3cret-token";
    let server = start(Config { token: Some(token.into()), ..config() }, tiny_remover());
    let addr = server.addr();
    let img = png(16, 16);
    let r = post_image(addr, "?output=mask", &img);
    assert_error(&r, 401, "unauthorized", &["Bearer"]);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    for bad in ["Bearer wrong", "Bearer s3cret-token-and-more", "Bearer s3cret-toke", "Basic s3cret-token", "s3cret-token", "Bearer "] {
        let r = post_with(addr, "/v1/remove", Some("image/png"), &img, &[("authorization", bad)]);
        assert_eq!(r.status, 401, "{bad}");
    }
    assert_eq!(get(addr, "/metrics").status, 401);
    assert_eq!(get(addr, "/v1/models").status, 401);
    assert_eq!(get(addr, "/healthz").status, 200, "health checks need no token");
    let ok = [("authorization", "Bearer s3cret-token")];
    assert_eq!(post_with(addr, "/v1/remove?output=mask", Some("image/png"), &img, &ok).status, 200);
    assert_eq!(get_with(addr, "/metrics", &ok).status, 200);
    assert_eq!(get_with(addr, "/v1/models", &[("authorization", "bearer s3cret-token")]).status, 200);
}

/// Queue 1, workers 1, a burst of 8: two are served, the others get 503 with Retry-After at once,
/// and nothing waits beyond the queue.
#[test]
fn overload_is_503_at_once() {
    let _turn = heavy();
    let server = start(Config { workers: 1, queue: 1, ..config() }, real_remover());
    let addr = server.addr();
    let img = png(64, 48);
    let t = Instant::now();
    let replies: Vec<(Reply, Duration)> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..8)
            .map(|_| {
                s.spawn(|| {
                    let t = Instant::now();
                    let r = post_image(addr, "?no_detail&output=mask", &img);
                    (r, t.elapsed())
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = replies.iter().filter(|(r, _)| r.status == 200).count();
    let busy: Vec<_> = replies.iter().filter(|(r, _)| r.status == 503).collect();
    assert_eq!(ok + busy.len(), 8, "only 200 or 503: {:?}", replies.iter().map(|(r, _)| (r.status, r.text())).collect::<Vec<_>>());
    assert!((1..=2).contains(&ok), "one running + one queued are served, got {ok}");
    assert!(busy.len() >= 6, "{}", busy.len());
    for (r, took) in &busy {
        assert_error(r, 503, "overloaded", &["queue"]);
        let retry: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
        assert!(retry >= 1);
        assert!(*took < Duration::from_secs(1), "503 must come at once, took {took:?}");
    }
    assert!(t.elapsed() < Duration::from_secs(60));
    assert_eq!(metric(addr, "rmbg_ultra_errors_total{kind=\"overloaded\"}"), Some(busy.len() as f64));
    assert_eq!(metric(addr, "rmbg_ultra_queue_depth"), Some(0.0));
    // Once the burst is over, the next request is served.
    assert_eq!(post_image(addr, "?no_detail&output=mask", &img).status, 200);
}

#[test]
fn a_request_over_the_time_limit_is_504() {
    let _turn = heavy();
    let server = start(Config { workers: 1, queue: 2, timeout: Duration::from_millis(500), ..config() }, real_remover());
    let t = Instant::now();
    let r = post_image(server.addr(), "?no_detail", &png(32, 32));
    assert_error(&r, 504, "timeout", &["limit"]);
    assert!(t.elapsed() < Duration::from_secs(2), "answered at the limit, not when the work ends: {:?}", t.elapsed());
    // A client that stalls mid-body is cut off at the limit too.
    let (status, text) = raw_exchange(
        server.addr(),
        b"POST /v1/remove HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 1000\r\n\r\n\x89PNG",
    );
    assert_eq!(status, 504, "{text}");
}

#[test]
fn connections_beyond_the_limit_wait_for_a_free_slot_and_idle_ones_are_closed() {
    let server = start(Config { max_connections: 2, header_timeout: Duration::from_secs(3), ..config() }, tiny_remover());
    let addr = server.addr();
    let idle_a = std::net::TcpStream::connect(addr).unwrap();
    let idle_b = std::net::TcpStream::connect(addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let (tx, rx) = std::sync::mpsc::channel();
    let client = std::thread::spawn(move || {
        let r = get(addr, "/healthz");
        tx.send(r.status).unwrap();
    });
    assert!(rx.recv_timeout(Duration::from_millis(700)).is_err(), "a third connection is not served while two are open");
    drop(idle_a);
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 200, "served once a slot frees");
    client.join().unwrap();
    // A connection that sends no request is closed after the header timeout, freeing its slot.
    let mut idle_b = idle_b;
    idle_b.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t = Instant::now();
    let n = std::io::Read::read(&mut idle_b, &mut [0u8; 64]).unwrap_or(0);
    assert_eq!(n, 0, "closed without an answer");
    assert!(t.elapsed() < Duration::from_secs(8), "{:?}", t.elapsed());
}
