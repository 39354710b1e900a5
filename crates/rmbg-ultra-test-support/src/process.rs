//! What a benchmark reads about its own process from Linux's /proc: memory (current and peak
//! resident set) and CPU time. Each reader gives None where /proc does not say.

/// A field of /proc/self/status in kB, e.g. `"VmRSS:"` (resident now) or `"VmHWM:"` (peak).
pub fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The peak resident set of this process so far (VmHWM), in kB.
pub fn peak_rss_kb() -> Option<u64> {
    status_kb("VmHWM:")
}

/// Lowers the peak (VmHWM) to the current resident set (Linux ≥ 4.0), so that the next reading is
/// the peak of what runs in between.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// User + system CPU time of the process so far, all threads, in seconds (/proc/self/stat, in
/// clock ticks of 10 ms).
pub fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_and_cpu_time_are_read() {
        let rss = status_kb("VmRSS:").unwrap();
        assert!(rss > 0);
        assert!(peak_rss_kb().unwrap() >= rss);
        assert!(status_kb("NoSuchField:").is_none());
        let start = cpu_seconds().unwrap();
        let spin = std::time::Instant::now();
        let mut x = 0u64;
        while cpu_seconds().unwrap() < start + 0.05 {
            x = x.wrapping_add(std::hint::black_box(1));
            assert!(spin.elapsed().as_secs() < 60, "CPU time did not advance");
        }
        assert!(x > 0);
    }

    #[test]
    fn the_peak_can_be_lowered_again() {
        let big = vec![1u8; 256 << 20];
        let with_big = peak_rss_kb().unwrap();
        assert!(with_big >= 256 << 10, "{with_big} kB");
        drop(std::hint::black_box(big));
        reset_peak_rss();
        let after = peak_rss_kb().unwrap();
        assert!(after + (128 << 10) < with_big, "peak {with_big} kB, after the reset {after} kB");
    }
}
