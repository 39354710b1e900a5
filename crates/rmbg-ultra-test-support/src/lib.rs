//! What the rmbg-ultra test suites and benchmarks share: paths of the test data, the pinned Python
//! reference, `.npy` exchange with it, fresh seeds, comparisons and the tiny ONNX fixtures;
//! [`process`] is what the benchmarks read about their own process (peak memory, CPU time).
//! [`http`] is the service's client side, shared by the service's tests and the CLI's `serve` test;
//! what only one suite needs stays in that suite's `tests/common`.

mod compare;
mod failures;
mod fixtures;
pub mod http;
mod images;
mod npy;
mod paths;
pub mod process;
mod reference;
mod seed;

pub use compare::{byte_agreement, max_abs_diff};
pub use failures::assert_no_failures;
pub use fixtures::{broken_segmentation_model, tiny_segmentation_model};
pub use images::png_claiming;
pub use npy::{read_npy, write_npy, NpyElement};
pub use paths::{files_under, photos, repo_root, testdata};
pub use reference::{python, run_reference, run_reference_code};
pub use seed::fresh_seed;
