#!/usr/bin/env bash
# Set up everything the demo and the tests need: a virtualenv with the tap, the sandbox, Meltano and the
# dev tools, then the Meltano plugins (defined inline in meltano.yml, so no Hub is needed).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]' -e ./sandbox
.venv/bin/meltano install >/dev/null
