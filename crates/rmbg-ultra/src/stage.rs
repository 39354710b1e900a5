//! The timed stages of one image, named once for every report (`--json` seconds, `/metrics`,
//! `Server-Timing`, the Python packages' dicts), and the time each took.

use std::time::{Duration, Instant};

/// The timed stages of one image, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Decode,
    /// The segmentation network.
    Segment,
    /// The detail method (or the quality profile's band) and the black/white points.
    Refine,
    /// Foreground colour estimation and the RGBA assembly.
    Compose,
    /// Backdrop, premultiplication and the output format (the CLI adds writing the file).
    Encode,
}

impl Stage {
    pub const ALL: [Stage; 5] = [Stage::Decode, Stage::Segment, Stage::Refine, Stage::Compose, Stage::Encode];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Decode => "decode",
            Stage::Segment => "segment",
            Stage::Refine => "refine",
            Stage::Compose => "compose",
            Stage::Encode => "encode",
        }
    }
}

/// Time per stage of one image; a stage that did not run (an earlier one failed) has none.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Timings([Option<Duration>; Stage::ALL.len()]);

impl Timings {
    pub fn get(&self, stage: Stage) -> Option<Duration> {
        self.0[stage as usize]
    }

    /// Adds `d` to `stage` (a stage timed in parts adds up).
    pub fn record(&mut self, stage: Stage, d: Duration) {
        let slot = &mut self.0[stage as usize];
        *slot = Some(slot.unwrap_or_default() + d);
    }

    /// Runs `f` and records how long it took under `stage`, whatever it returns.
    pub fn time<T>(&mut self, stage: Stage, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let out = f();
        self.record(stage, t.elapsed());
        out
    }

    /// Adds every stage `other` recorded (a part of the work timed elsewhere).
    pub fn add(&mut self, other: &Timings) {
        for (stage, d) in other.recorded() {
            self.record(stage, d);
        }
    }

    /// The stages that ran, in order.
    pub fn recorded(&self) -> impl Iterator<Item = (Stage, Duration)> + '_ {
        Stage::ALL.into_iter().filter_map(|s| self.get(s).map(|d| (s, d)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stage_names_are_unique_and_in_running_order() {
        let names: Vec<&str> = Stage::ALL.iter().map(|s| s.name()).collect();
        assert_eq!(names, ["decode", "segment", "refine", "compose", "encode"]);
        assert!(Stage::ALL.iter().enumerate().all(|(i, s)| *s as usize == i));
    }

    #[test]
    fn timings_keep_only_the_stages_that_ran_and_add_up_parts() {
        let mut t = Timings::default();
        let out = t.time(Stage::Decode, || 7);
        assert_eq!(out, 7);
        t.record(Stage::Encode, Duration::from_millis(2));
        t.record(Stage::Encode, Duration::from_millis(3));
        let stages: Vec<Stage> = t.recorded().map(|(s, _)| s).collect();
        assert_eq!(stages, [Stage::Decode, Stage::Encode]);
        assert_eq!(t.get(Stage::Encode), Some(Duration::from_millis(5)));
        assert_eq!(t.get(Stage::Segment), None);
        let mut sum = Timings::default();
        sum.record(Stage::Encode, Duration::from_millis(1));
        sum.add(&t);
        assert_eq!(sum.recorded().map(|(s, d)| (s, d.as_millis())).collect::<Vec<_>>(), [(Stage::Decode, 0), (Stage::Encode, 6)]);
    }
}
