#!/usr/bin/env bash
# Creates the venv VENV with exactly the pinned REQUIREMENTS. Idempotent: does nothing when VENV
# already matches them (a sha256 stamp of the requirements file). IMPORT, if given, is a module
# that must import afterwards (a check that the install is whole).
# Usage: scripts/pinned-venv.sh VENV REQUIREMENTS LABEL [IMPORT]
set -euo pipefail
venv=$1 req=$2 label=$3 import=${4:-}
stamp="$venv/.requirements.sha256"
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    exit 0
fi
echo "creating the $label venv $venv" >&2
python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$req"
if [ -n "$import" ]; then
    "$venv/bin/python" -c "import $import" >/dev/null
fi
echo "$want" > "$stamp"
