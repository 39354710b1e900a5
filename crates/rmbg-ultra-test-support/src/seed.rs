//! Fresh random inputs each run, replayable.

/// A fresh seed each run (printed, so a failure can be replayed with RMBG_ULTRA_SEED).
pub fn fresh_seed() -> u64 {
    let seed = std::env::var("RMBG_ULTRA_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64);
    eprintln!("seed = {seed} (replay with RMBG_ULTRA_SEED={seed})");
    seed
}
