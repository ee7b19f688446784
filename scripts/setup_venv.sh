#!/usr/bin/env bash
# Create ./.venv (or $SAMPLERNN_VENV) and install the project into it; quiet when it is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${SAMPLERNN_VENV:-.venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip
fi
stamp="$venv/.installed-$(cat requirements*.txt pyproject.toml | sha1sum | cut -c1-12)"
if [ ! -f "$stamp" ]; then
  "$venv/bin/python" -m pip install --quiet -r requirements.txt -r requirements-dev.txt
  "$venv/bin/python" -m pip install --quiet --no-deps -e .
  touch "$stamp"
fi
