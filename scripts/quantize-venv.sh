#!/usr/bin/env bash
# Creates .venv-quantize, the pinned Python venv of scripts/quantize-int8.py and scripts/eval-int8.py
# (onnxruntime's quantisation tools). Idempotent: does nothing when the venv already matches
# reference/requirements-quantize.txt. Usage: scripts/quantize-venv.sh [VENV_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exec "$root/scripts/pinned-venv.sh" "${1:-$root/.venv-quantize}" "$root/reference/requirements-quantize.txt" quantisation
