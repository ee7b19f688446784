#!/usr/bin/env bash
# Install, lint, and run the test suite.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup_venv.sh
py="${SAMPLERNN_VENV:-.venv}/bin/python"
"$py" -m ruff check .
export TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}"
exec "$py" -m pytest -q "$@"
