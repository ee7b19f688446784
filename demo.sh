#!/usr/bin/env bash
# Quick start: install, then synthesize a corpus, chunk it, train a small model and generate audio.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup_venv.sh
exec "${SAMPLERNN_VENV:-.venv}/bin/python" -m samplernn.demo "$@"
