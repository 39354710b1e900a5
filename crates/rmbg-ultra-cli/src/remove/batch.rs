//! The batch of `remove`: three stages overlap, one image each, in order: image N+1 is read and
//! decoded while image N is in the network and image N−1 is refined, encoded and written. Bounded
//! channels keep at most one image waiting between stages, so memory does not grow with the batch.

use super::plan::{Job, Place};
use super::report::Report;
use anyhow::{Context, Result};
use rmbg_ultra::decode::{decode_bytes, DecodeLimits};
use rmbg_ultra::encode::write_atomic;
use rmbg_ultra::job::{self, Outputs, Stage, Timings};
use rmbg_ultra::{Params, Remover};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;

/// What happened to one input, for the progress line, `--json` and the summary.
pub(super) struct Outcome {
    pub(super) timings: Timings,
    pub(super) result: Result<()>,
}

/// One input on its way through the stages, with the time each one took so far.
struct InHand<T> {
    item: Result<T>,
    timings: Timings,
}

/// An image with its segmentation map, between the network and the rest.
struct Segmented {
    image: image::RgbImage,
    map: rmbg_ultra::segment::SegmentationMap,
}

/// What every image of a batch gets.
pub(super) struct Batch<'a> {
    pub(super) remover: &'a Remover,
    pub(super) params: &'a Params,
    pub(super) outputs: &'a Outputs,
    pub(super) limits: DecodeLimits,
    pub(super) overwrite: bool,
    /// Set by Ctrl-C: the image in hand finishes, no further one starts.
    pub(super) interrupted: &'a AtomicBool,
}

impl Batch<'_> {
    /// Runs `jobs` in order and tells `report` about each as it ends. A job whose outputs exist is
    /// skipped unless `overwrite`; a failing job is reported and the batch goes on.
    pub(super) fn run(&self, jobs: &[Job], report: &mut Report) -> Result<()> {
        let (decoded_tx, decoded_rx) = mpsc::sync_channel::<(usize, Option<InHand<image::RgbImage>>)>(1);
        let (segmented_tx, rx) = mpsc::sync_channel::<(usize, Option<InHand<Segmented>>)>(1);
        let (limits, overwrite, stop) = (self.limits, self.overwrite, self.interrupted);
        std::thread::scope(|scope| -> Result<()> {
            scope.spawn(move || {
                for (i, job) in jobs.iter().enumerate() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let item = if !overwrite && job.outputs_exist() {
                        None
                    } else {
                        // Reading the file counts as decoding: the CLI's decode seconds always included it.
                        let mut timings = Timings::default();
                        let item = timings.time(Stage::Decode, || {
                            read_input(&job.input).and_then(|bytes| {
                                decode_bytes(&bytes, Path::new(&job.input.to_string()), &limits).map_err(anyhow::Error::from)
                            })
                        });
                        Some(InHand { item, timings })
                    };
                    if decoded_tx.send((i, item)).is_err() {
                        break;
                    }
                }
            });
            let (remover, profile) = (self.remover, self.params.profile);
            scope.spawn(move || {
                for (i, item) in decoded_rx {
                    let item = item.map(|InHand { item, mut timings }| {
                        let item = item.and_then(|image| {
                            let map = job::segment(remover, &image, profile, &mut timings)?;
                            Ok(Segmented { image, map })
                        });
                        InHand { item, timings }
                    });
                    if segmented_tx.send((i, item)).is_err() {
                        break;
                    }
                }
            });
            for (i, item) in rx {
                let job = &jobs[i];
                report.begin(job);
                match item {
                    None => report.skipped(job),
                    Some(segmented) => report.finished(job, &process(self.remover, self.params, job, segmented, self.outputs, overwrite)),
                }
                if stop.load(Ordering::SeqCst) {
                    break;
                }
            }
            Ok(())
        })
    }
}

fn read_input(input: &Place) -> Result<Vec<u8>> {
    match input {
        Place::File(p) => std::fs::read(p).with_context(|| format!("cannot read {}", p.display())),
        Place::Std => {
            let mut buf = Vec::new();
            std::io::stdin().read_to_end(&mut buf).context("reading standard input")?;
            Ok(buf)
        }
    }
}

/// Everything after the network for one input, then its files.
fn process(remover: &Remover, params: &Params, job: &Job, segmented: InHand<Segmented>, outputs: &Outputs, overwrite: bool) -> Outcome {
    let InHand { item, mut timings } = segmented;
    let result = (|| -> Result<()> {
        let Segmented { image, map } = item?;
        let cut = job::finish(remover, &image, &map, params, &mut timings)?;
        drop((image, map));
        let encoded = job::encode(cut, outputs, &mut timings)?;
        // The CLI's encode seconds include writing the files.
        timings.time(Stage::Encode, || {
            for (dest, bytes) in [(&job.cutout, &encoded.cutout), (&job.mask, &encoded.mask)] {
                if let (Some(dest), Some(bytes)) = (dest, bytes) {
                    write_output(dest, bytes, overwrite)?;
                }
            }
            Ok(())
        })
    })();
    Outcome { timings, result }
}

fn write_output(dest: &Place, bytes: &[u8], overwrite: bool) -> Result<()> {
    match dest {
        Place::File(p) => write_atomic(p, bytes, overwrite).with_context(|| format!("writing {}", p.display())),
        Place::Std => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes).and_then(|_| out.flush()).context("writing standard output")
        }
    }
}
