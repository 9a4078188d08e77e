#!/usr/bin/env bash
# Set up and run every check: ruff, mypy, then pytest (unit, vendor tests against the sandbox, the demo end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check .
.venv/bin/mypy
# Two workers: the tests that run Meltano in this checkout on one (tests/conftest.py), the rest on the other. The
# slowest tests are listed: .ci/run must stay under 15 minutes.
.venv/bin/pytest -q --numprocesses=2 --dist=loadgroup --durations=15 "$@"
