#!/usr/bin/env bash
# Create .venv (Python 3.11+) and install the project with its dev extras. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip 2>/dev/null || true
echo "setup: installing the project and its dependencies into .venv (first time: a few minutes)"
# PYTHONWARNINGS silences setuptools' generic notice about editable installs in the build backend.
# constraints.txt pins every library to the versions the tests last passed with: a fresh machine
# installs exactly those, not whatever was released since.
PYTHONWARNINGS=ignore .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -c constraints.txt -e ".[dev]" 2>&1 \
    | grep -v "is ignored" || true
.venv/bin/python -c "import dagster, great_expectations, duckdb, plotly" || { echo "setup: installation failed" >&2; exit 1; }
