#!/usr/bin/env bash
# Creates .venv-rembg, the pinned Python venv of rembg 2.0.86 (CPU) that bench/quality compares
# against. Idempotent: does nothing when the venv already matches bench/quality/requirements-rembg.txt.
# Models are not downloaded here: the benchmark points rembg's dis_custom session at our own
# isnet-general ONNX file.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exec "$root/scripts/pinned-venv.sh" "$root/.venv-rembg" "$root/bench/quality/requirements-rembg.txt" rembg rembg.bg
