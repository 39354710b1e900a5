#!/usr/bin/env bash
# The whole test suite: the pinned Python reference venv, runtime and default model (both cached
# and idempotent), every Rust test in release mode, then the ComfyUI node's tests (their own venv).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/pyref-venv.sh
cargo build --release --locked
target/release/rmbg-ultra setup --quiet
cargo test --release --locked --workspace "$@"
scripts/test-comfyui.sh
