#!/usr/bin/env bash
# Install, then run the whole job on data/sample and say where the dashboards are.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/outcomes run "$@"
