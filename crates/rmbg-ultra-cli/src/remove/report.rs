//! What `remove` tells the user: a progress bar and one error line per failed image, or with
//! `--json` one JSON line per image (input, outputs, seconds per stage, error); then a summary and
//! the exit code (0 all written, 1 some failed, 130 interrupted).

use super::batch::Outcome;
use super::plan::Job;
use serde_json::json;
use std::process::ExitCode;
use std::time::Instant;

pub(super) struct Report {
    json: bool,
    quiet: bool,
    bar: indicatif::ProgressBar,
    started: Instant,
    written: usize,
    skipped: usize,
    failures: Vec<(String, String)>,
}

impl Report {
    pub(super) fn new(total: usize, quiet: bool, json: bool) -> Self {
        let bar = if quiet || json || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
            indicatif::ProgressBar::hidden()
        } else {
            indicatif::ProgressBar::new(total as u64)
                .with_style(indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {per_sec} eta {eta} {wide_msg}").unwrap())
        };
        Report { json, quiet, bar, started: Instant::now(), written: 0, skipped: 0, failures: Vec::new() }
    }

    pub(super) fn begin(&self, job: &Job) {
        self.bar.set_message(job.input.to_string());
    }

    pub(super) fn skipped(&mut self, job: &Job) {
        self.skipped += 1;
        if self.json {
            println!("{}", json!({"input": job.input.to_string(), "status": "skipped", "reason": "outputs exist (--overwrite replaces them)"}));
        }
        self.bar.inc(1);
    }

    pub(super) fn finished(&mut self, job: &Job, outcome: &Outcome) {
        match &outcome.result {
            Ok(()) => self.written += 1,
            Err(e) => {
                if !self.json && !self.quiet {
                    self.bar.suspend(|| eprintln!("error: {}: {e:#}", job.input));
                }
                self.failures.push((job.input.to_string(), format!("{e:#}")));
            }
        }
        if self.json {
            let error = outcome.result.as_ref().err().map(|e| format!("{e:#}"));
            println!(
                "{}",
                json!({
                    "input": job.input.to_string(),
                    "status": if error.is_none() { "ok" } else { "error" },
                    "outputs": if error.is_none() { job.outputs().map(|o| o.to_string()).collect::<Vec<_>>() } else { vec![] },
                    "seconds": outcome.timings.recorded().map(|(stage, d)| (stage.name().to_string(), d.as_secs_f64().into())).collect::<serde_json::Map<_, _>>(),
                    "error": error,
                })
            );
        }
        self.bar.inc(1);
    }

    /// The summary of a batch of `total` jobs; `stopped`: interrupted before the end.
    pub(super) fn finish(self, total: usize, stopped: bool, device: impl std::fmt::Display) -> ExitCode {
        self.bar.finish_and_clear();
        let Report { json, quiet, started, written, skipped, failures, .. } = self;
        let not_started = total - written - skipped - failures.len();
        if json {
            println!(
                "{}",
                json!({"summary": {
                    "written": written, "skipped": skipped, "failed": failures.len(), "not_started": not_started,
                    "interrupted": stopped, "device": device.to_string(), "seconds": started.elapsed().as_secs_f64(),
                    "failures": failures.iter().map(|(i, e)| json!({"input": i, "error": e})).collect::<Vec<_>>(),
                }})
            );
        } else if !quiet {
            let mut line = format!("{written} written, {} failed", failures.len());
            if skipped > 0 {
                line += &format!(", {skipped} skipped (outputs exist; --overwrite replaces them)");
            }
            if stopped {
                line += &format!(", interrupted ({not_started} not started)");
            }
            eprintln!("{line} in {:.1} s on {device}", started.elapsed().as_secs_f64());
            for (input, e) in &failures {
                eprintln!("  failed: {input}: {e}");
            }
        }
        if stopped {
            ExitCode::from(130)
        } else if failures.is_empty() {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        }
    }
}
