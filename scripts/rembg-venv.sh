#!/usr/bin/env bash
# Creates .venv-rembg, the pinned Python venv of rembg 2.0.86 (CPU) that bench/quality compares
# against. Idempotent: does nothing when the venv already matches bench/quality/requirements-rembg.txt.
# Models are not downloaded here: the benchmark points rembg's dis_custom session at our own
# isnet-general ONNX file.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv-rembg"
req="$root/bench/quality/requirements-rembg.txt"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi
echo "creating the rembg venv $venv" >&2
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
"$venv/bin/python" -c "import rembg.bg" >/dev/null
echo "$want" > "$stamp"
