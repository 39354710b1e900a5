//! How a parity test fails: with every case that failed, not just the first, and what replays them.

use std::fmt::Display;

/// Panics with `context` (the seed that replays the run, how many cases failed) and then one line per
/// failure; does nothing when `failures` is empty.
#[track_caller]
pub fn assert_no_failures(failures: &[String], context: impl Display) {
    assert!(failures.is_empty(), "{context}:\n{}", failures.join("\n"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_failures_passes() {
        assert_no_failures(&[], "seed 1");
    }

    #[test]
    #[should_panic(expected = "seed 7: 2 of 5 differ:\na\nb")]
    fn failures_are_listed_after_the_context() {
        let failures = vec!["a".to_string(), "b".to_string()];
        assert_no_failures(&failures, format!("seed 7: {} of 5 differ", failures.len()));
    }
}
