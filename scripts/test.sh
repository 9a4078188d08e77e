#!/usr/bin/env bash
# Set up and run every check: ruff, mypy, then pytest (unit, vendor tests against the sandbox, the demo end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy
.venv/bin/pytest -q --durations=15 "$@"  # the slowest tests listed: .ci/run must stay under 15 minutes
