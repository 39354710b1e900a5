#!/usr/bin/env bash
# Tests of the Ray Data recipe (examples/ray): creates .venv-ray with the pinned Ray
# (examples/ray/requirements.txt) when missing, builds the wheel with maturin and pip-installs it
# there (as a user installs it), builds the CLI the outputs are compared with, installs the
# runtime and default model (idempotent), then runs pytest, which starts a local Ray cluster.
# Extra arguments go to pytest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv="$root/.venv-ray"
py="$venv/bin/python"
scripts/pinned-venv.sh "$venv" examples/ray/requirements.txt "Ray Data" ray.data

cargo build --release --locked -p rmbg-ultra-cli
dist="$root/target/wheels-ray"
rm -rf "$dist"
(cd crates/rmbg-ultra-comfyui && "$venv/bin/maturin" build --release --locked --quiet -o "$dist")
"$py" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps "$dist"/rmbg_ultra_comfyui-*.whl
target/release/rmbg-ultra setup --quiet

# Ray's own usage reporting stays off: nothing leaves the machine during tests.
RAY_USAGE_STATS_ENABLED=0 RMBG_ULTRA_BIN="$root/target/release/rmbg-ultra" \
    "$py" -m pytest examples/ray -q -p no:cacheprovider --durations=5 "$@"
