//! Memory under load: its own test binary (one test), so that the process's RSS is the server's.

mod common;

use common::*;
use rmbg_ultra_server::Config;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// `total` requests from `concurrency` client threads; returns the statuses.
fn hammer(addr: std::net::SocketAddr, total: usize, concurrency: usize, bodies: &[(String, Vec<u8>)]) -> Vec<u16> {
    let next = AtomicUsize::new(0);
    let statuses = std::sync::Mutex::new(Vec::with_capacity(total));
    std::thread::scope(|s| {
        for _ in 0..concurrency {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= total {
                    break;
                }
                let (query, body) = &bodies[i % bodies.len()];
                let r = post_image(addr, query, body);
                if r.status == 200 {
                    // Really an image of the right kind.
                    let img = r.image();
                    assert!(img.width() > 0);
                }
                statuses.lock().unwrap().push(r.status);
            });
        }
    });
    statuses.into_inner().unwrap()
}

#[test]
fn rss_stays_flat_over_200_requests_and_overload_is_503_not_memory() {
    // 200 requests at concurrency 8, through admission, queue, workers, decode, ONNX Runtime
    // (a tiny model) and encode, with a mix of outputs, formats and methods.
    let server = start(Config { workers: 2, queue: 8, ..config() }, tiny_remover());
    let addr = server.addr();
    let bodies: Vec<(String, Vec<u8>)> = vec![
        ("?no_detail".into(), png(48, 32)),
        ("?output=mask&format=webp".into(), png(40, 40)),
        ("?method=GuidedFilter&output=mask".into(), png(32, 48)),
        ("?no_detail=1&format=tiff".into(), png(33, 17)),
    ];
    let t = Instant::now();
    let first = hammer(addr, 20, 8, &bodies);
    let rss_warm = rss();
    let rest = hammer(addr, 180, 8, &bodies);
    let rss_end = rss();
    let took = t.elapsed();
    assert!(first.iter().chain(&rest).all(|&s| s == 200), "every request answered 200: {first:?} {rest:?}");
    assert_eq!(first.len() + rest.len(), 200);
    assert_eq!(metric(addr, "rmbg_ultra_http_requests_total{route=\"/v1/remove\",status=\"200\"}"), Some(200.0));
    assert_eq!(metric(addr, "rmbg_ultra_stage_seconds_count{stage=\"queue\"}"), Some(200.0), "all 200 went through the worker queue");
    eprintln!("200 requests in {took:?}; RSS after 20: {} MB, after 200: {} MB", rss_warm / 1_000_000, rss_end / 1_000_000);
    assert!(
        rss_end as f64 <= rss_warm as f64 * 1.10,
        "RSS grew from {} to {} bytes (more than 10 %)",
        rss_warm,
        rss_end
    );
    drop(server);

    // Overload: 1 worker, queue 1, bursts of 24 concurrent requests with ~0.4 MB bodies on the
    // real model (seconds per request). The surplus is refused with 503, nothing piles up.
    let server = start(Config { workers: 1, queue: 1, ..config() }, real_remover());
    let addr = server.addr();
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let noise = image::RgbImage::from_fn(400, 300, |_, _| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        image::Rgb([seed as u8, (seed >> 8) as u8, (seed >> 16) as u8])
    });
    let big = png_bytes(&noise);
    assert!(big.len() > 300_000, "{}", big.len());
    let burst = vec![("?no_detail&output=mask".to_string(), big)];
    let mut rss_after = Vec::new();
    for round in 0..3 {
        let statuses = hammer(addr, 24, 24, &burst);
        let ok = statuses.iter().filter(|&&s| s == 200).count();
        let busy = statuses.iter().filter(|&&s| s == 503).count();
        assert_eq!(ok + busy, 24, "round {round}: {statuses:?}");
        assert!(busy >= 20, "round {round}: the surplus is refused: {statuses:?}");
        rss_after.push(rss());
    }
    eprintln!("overload rounds, RSS MB: {:?}", rss_after.iter().map(|r| r / 1_000_000).collect::<Vec<_>>());
    assert!(rss_after[2] as f64 <= rss_after[0] as f64 * 1.10, "RSS grew under overload: {rss_after:?}");
}
