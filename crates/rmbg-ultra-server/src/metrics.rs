//! Counters, gauges and histograms for `GET /metrics` (Prometheus text format 0.0.4). Every label
//! set is fixed in advance or drawn from a small closed set (routes, status codes, error kinds), so
//! the metrics themselves never grow with traffic.

use rmbg_ultra::job::Stage;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex};
use std::time::Duration;

/// Stages timed for every `/v1/remove` request: the service's own (reading the body, waiting for a
/// worker, the whole request) around the library's [`Stage`]s, which the CLI reports too.
pub static STAGES: LazyLock<Vec<&'static str>> =
    LazyLock::new(|| ["read", "queue"].into_iter().chain(Stage::ALL.map(Stage::name)).chain(["total"]).collect());

/// Upper bounds of the latency buckets, seconds.
const BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

/// Routes that get their own label; everything else is `other`.
pub const ROUTES: &[&str] = &["/v1/remove", "/v1/models", "/healthz", "/metrics"];

pub struct Histogram {
    buckets: Vec<AtomicU64>,
    count: AtomicU64,
    /// Sum in nanoseconds.
    sum_ns: AtomicU64,
}

impl Histogram {
    fn new() -> Self {
        Histogram { buckets: BUCKETS.iter().map(|_| AtomicU64::new(0)).collect(), count: AtomicU64::new(0), sum_ns: AtomicU64::new(0) }
    }

    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        // Non-cumulative storage; rendering accumulates.
        if let Some(i) = BUCKETS.iter().position(|&b| s <= b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(d.as_nanos().min(u64::MAX as u128) as u64, Ordering::Relaxed);
    }

    pub fn mean(&self) -> Option<Duration> {
        let n = self.count.load(Ordering::Relaxed);
        (n > 0).then(|| Duration::from_nanos(self.sum_ns.load(Ordering::Relaxed) / n))
    }
}

pub struct Metrics {
    /// (route, status) → count.
    requests: Mutex<BTreeMap<(&'static str, u16), u64>>,
    /// error kind → count.
    errors: Mutex<BTreeMap<&'static str, u64>>,
    stages: Vec<Histogram>,
    /// Jobs waiting for a worker.
    pub queue_depth: AtomicI64,
    /// Workers running a job.
    pub workers_busy: AtomicI64,
    /// Admitted `/v1/remove` requests (reading, queued, running or answering).
    pub in_flight: AtomicI64,
    pub queue_capacity: usize,
    pub workers: usize,
}

impl Metrics {
    pub fn new(workers: usize, queue_capacity: usize) -> Self {
        Metrics {
            requests: Mutex::new(BTreeMap::new()),
            errors: Mutex::new(BTreeMap::new()),
            stages: STAGES.iter().map(|_| Histogram::new()).collect(),
            queue_depth: AtomicI64::new(0),
            workers_busy: AtomicI64::new(0),
            in_flight: AtomicI64::new(0),
            queue_capacity,
            workers,
        }
    }

    pub fn route_label(path: &str) -> &'static str {
        ROUTES.iter().copied().find(|r| *r == path).unwrap_or("other")
    }

    pub fn record_request(&self, route: &'static str, status: u16) {
        *self.requests.lock().unwrap_or_else(|p| p.into_inner()).entry((route, status)).or_default() += 1;
    }

    pub fn record_error(&self, kind: &'static str) {
        *self.errors.lock().unwrap_or_else(|p| p.into_inner()).entry(kind).or_default() += 1;
    }

    pub fn stage(&self, name: &str) -> &Histogram {
        let i = STAGES.iter().position(|s| *s == name).expect("known stage");
        &self.stages[i]
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let w = &mut out;
        let _ = writeln!(w, "# HELP rmbg_ultra_http_requests_total HTTP requests answered, by route and status.");
        let _ = writeln!(w, "# TYPE rmbg_ultra_http_requests_total counter");
        for ((route, status), n) in self.requests.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(w, "rmbg_ultra_http_requests_total{{route=\"{route}\",status=\"{status}\"}} {n}");
        }
        let _ = writeln!(w, "# HELP rmbg_ultra_errors_total Error responses, by kind (the `error` field of the JSON body).");
        let _ = writeln!(w, "# TYPE rmbg_ultra_errors_total counter");
        for (kind, n) in self.errors.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = writeln!(w, "rmbg_ultra_errors_total{{kind=\"{kind}\"}} {n}");
        }
        let _ = writeln!(
            w,
            "# HELP rmbg_ultra_stage_seconds Time per stage of the /v1/remove requests answered with an image ({}).",
            STAGES.join(", ")
        );
        let _ = writeln!(w, "# TYPE rmbg_ultra_stage_seconds histogram");
        for (stage, h) in STAGES.iter().zip(&self.stages) {
            let mut cum = 0;
            for (b, n) in BUCKETS.iter().zip(&h.buckets) {
                cum += n.load(Ordering::Relaxed);
                let _ = writeln!(w, "rmbg_ultra_stage_seconds_bucket{{stage=\"{stage}\",le=\"{b}\"}} {cum}");
            }
            let count = h.count.load(Ordering::Relaxed);
            let _ = writeln!(w, "rmbg_ultra_stage_seconds_bucket{{stage=\"{stage}\",le=\"+Inf\"}} {count}");
            let _ = writeln!(w, "rmbg_ultra_stage_seconds_sum{{stage=\"{stage}\"}} {}", h.sum_ns.load(Ordering::Relaxed) as f64 / 1e9);
            let _ = writeln!(w, "rmbg_ultra_stage_seconds_count{{stage=\"{stage}\"}} {count}");
        }
        let gauges: [(&str, &str, i64); 5] = [
            ("rmbg_ultra_queue_depth", "Requests waiting for a worker.", self.queue_depth.load(Ordering::Relaxed)),
            ("rmbg_ultra_queue_capacity", "Requests that may wait for a worker; more are answered 503.", self.queue_capacity as i64),
            ("rmbg_ultra_workers", "Worker threads.", self.workers as i64),
            ("rmbg_ultra_workers_busy", "Workers running a request.", self.workers_busy.load(Ordering::Relaxed)),
            ("rmbg_ultra_in_flight", "Admitted /v1/remove requests (reading, waiting, running or answering).", self.in_flight.load(Ordering::Relaxed)),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(w, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        if let Some(rss) = resident_bytes() {
            let _ = writeln!(w, "# HELP process_resident_memory_bytes Resident memory size in bytes.");
            let _ = writeln!(w, "# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {rss}");
        }
        out
    }
}

/// The process's resident set size (Linux: /proc/self/status VmRSS).
pub fn resident_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_prometheus_text() {
        let m = Metrics::new(2, 4);
        m.record_request("/v1/remove", 200);
        m.record_request("/v1/remove", 200);
        m.record_error("overloaded");
        m.stage("segment").observe(Duration::from_millis(30));
        let t = m.render();
        assert!(t.contains("rmbg_ultra_http_requests_total{route=\"/v1/remove\",status=\"200\"} 2"), "{t}");
        assert!(t.contains("rmbg_ultra_errors_total{kind=\"overloaded\"} 1"));
        assert!(t.contains("rmbg_ultra_stage_seconds_bucket{stage=\"segment\",le=\"0.025\"} 0"));
        assert!(t.contains("rmbg_ultra_stage_seconds_bucket{stage=\"segment\",le=\"0.05\"} 1"));
        assert!(t.contains("rmbg_ultra_stage_seconds_bucket{stage=\"segment\",le=\"+Inf\"} 1"));
        assert!(t.contains("rmbg_ultra_queue_capacity 4"));
        assert_eq!(m.stage("segment").mean(), Some(Duration::from_millis(30)));
        for stage in ["read", "queue", "decode", "encode", "total"] {
            assert!(t.contains(&format!("rmbg_ultra_stage_seconds_count{{stage=\"{stage}\"}} ")), "{stage}: {t}");
        }
    }
}
