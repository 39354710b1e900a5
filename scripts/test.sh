#!/usr/bin/env bash
# The whole test suite: the pinned Python reference venv, runtime, default model and its int8
# variant (all cached and idempotent; the int8 model is made once, a few minutes), every Rust test
# in release mode (the int8 quantisation tests included), then the ComfyUI node's and the Python
# package's tests (their own venv), then the Ray Data example's test (its own pinned venv).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/pyref-venv.sh
cargo build --release --locked
target/release/rmbg-ultra setup --quiet --int8
RMBG_ULTRA_TEST_INT8=${RMBG_ULTRA_TEST_INT8:-1} cargo test --release --locked --workspace "$@"
scripts/test-comfyui.sh
scripts/test-ray.sh
