#!/usr/bin/env bash
# Creates .venv-ref, the pinned Python venv of the references (the libraries the node uses).
# Idempotent: does nothing when the venv already matches reference/requirements.txt.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
exec "$root/scripts/pinned-venv.sh" "$root/.venv-ref" "$root/reference/requirements.txt" reference
