#!/usr/bin/env bash
# Creates .venv-quantize, the pinned Python venv of scripts/quantize-int8.py and scripts/eval-int8.py
# (onnxruntime's quantisation tools). Idempotent: does nothing when the venv already matches
# reference/requirements-quantize.txt. Usage: scripts/quantize-venv.sh [VENV_DIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="${1:-$root/.venv-quantize}"
req="$root/reference/requirements-quantize.txt"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi
echo "creating the quantisation venv $venv" >&2
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
echo "$want" > "$stamp"
