#!/usr/bin/env bash
# Tests of the ComfyUI node (crates/rmbg-ultra-comfyui): creates .venv-comfy when missing, builds
# the extension into it with maturin (release, abi3), builds the CLI the node is compared with,
# installs the runtime and default model (idempotent), then runs pytest. Extra arguments go to
# pytest (e.g. scripts/test-comfyui.sh -k interrupt).
#
# torch (ComfyUI's own dependency) is needed only by the torch variants and the conversion tests:
# taken from .venv-vitmatte when that venv has it (read-only, through a .pth file), else installed
# from PyPI (requirements-torch.txt, about 3 GB); if that fails the torch tests skip and say why,
# and the numpy variants of the same tests still run. RMBG_COMFY_NO_TORCH=1 skips the install.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
crate="$root/crates/rmbg-ultra-comfyui"
venv="$root/.venv-comfy"
py="$venv/bin/python"

req="$crate/requirements-test.txt"
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if ! [ -x "$py" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "creating $venv" >&2
    python3 -m venv "$venv"
    "$py" -m pip install -q --disable-pip-version-check -r "$req"
    echo "$want" > "$stamp"
fi

if ! "$py" -c "import torch" 2>/dev/null; then
    site=$("$py" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
    other="$root/.venv-vitmatte/bin/python"
    if [ -x "$other" ] && "$other" -c "import torch, transformers, onnx" 2>/dev/null \
        && [ "$("$other" -c 'import sys; print(sys.version_info[:2])')" = "$("$py" -c 'import sys; print(sys.version_info[:2])')" ]; then
        # After this venv's own packages on sys.path: its numpy/pillow pins win.
        "$other" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])" > "$site/zz-torch-from-venv-vitmatte.pth"
        echo "torch: reusing $root/.venv-vitmatte (read-only)" >&2
    elif [ "${RMBG_COMFY_NO_TORCH:-0}" != 1 ]; then
        echo "installing torch into $venv (about 3 GB)" >&2
        "$py" -m pip install -q --disable-pip-version-check -r "$crate/requirements-torch.txt" \
            || echo "WARNING: torch could not be installed; its tests will skip (the numpy variants run)" >&2
    fi
fi

cargo build --release --locked -p rmbg-ultra-cli
(cd "$crate" && VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" maturin develop --release --locked --quiet)
target/release/rmbg-ultra setup --quiet

RMBG_ULTRA_BIN="$root/target/release/rmbg-ultra" "$py" -m pytest "$crate/tests" -q --durations=5 "$@"
