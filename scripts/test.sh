#!/usr/bin/env bash
# The whole test suite: the pinned Python reference venv, runtime and default model (both cached
# and idempotent), then every Rust test in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/pyref-venv.sh
cargo build --release --locked
target/release/rmbg-ultra setup --quiet
cargo test --release --locked --workspace "$@"
