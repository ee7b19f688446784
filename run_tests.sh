#!/usr/bin/env bash
# Install, lint, and run the test suite.
set -euo pipefail
cd "$(dirname "$0")"
bash scripts/setup_venv.sh
py="${SAMPLERNN_VENV:-.venv}/bin/python"
"$py" -m ruff check .
exec "$py" -m pytest -q -n 2 --dist loadfile --durations=15 "$@"
