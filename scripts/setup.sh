#!/usr/bin/env bash
# Set up everything the demo and the tests need: a virtualenv with the tap, the sandbox, Meltano and the
# dev tools, then the Meltano plugins (defined inline in meltano.yml, so no Hub is needed). The end-to-end
# tests also need PostgreSQL's server binaries: installed from Debian's packages when missing (as root).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev,orchestrator]' -e ./sandbox
.venv/bin/meltano install >/dev/null
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && ! command -v pg_ctl >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  else
    echo "PostgreSQL server binaries (pg_ctl) are missing: install PostgreSQL for the end-to-end tests" >&2
  fi
fi
