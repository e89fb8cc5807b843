#!/usr/bin/env bash
# Install (project + headless Chromium), then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/browser.sh
.venv/bin/ruff check .
# Two workers by default (the reference machine has 2 cores), each taking the next test when it is free
# (worksteal: the long tests do not pile up on one worker); TEST_WORKERS=0 runs in one process.
.venv/bin/python -m pytest -n "${TEST_WORKERS:-2}" --dist worksteal "$@"
