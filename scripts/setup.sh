#!/usr/bin/env bash
# Set up everything the demo and the tests need: a virtualenv with the tap, the sandbox, Meltano and the
# dev tools, then the Meltano plugins (defined inline in meltano.yml, so no Hub is needed).
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev,orchestrator,demo]' -e ./sandbox
# Meltano installs plugins with uv, which writes no bytecode by default; where PYTHONDONTWRITEBYTECODE is set (as on
# the CI machine and in many container images) no run ever writes it either, so every `meltano run` would compile
# each plugin anew: the tap would start in 0.9 s instead of 0.4 s, target-postgres in 1.5 s instead of 0.55 s.
export UV_COMPILE_BYTECODE=1
# Every plugin but dbt-snowflake (defined for Snowflake users; nothing here can reach a Snowflake).
.venv/bin/meltano install --plugin-type extractor >/dev/null
.venv/bin/meltano install --plugin-type loader >/dev/null
.venv/bin/meltano install dbt-duckdb dbt-postgres >/dev/null
# The Snowflake tests' own environment (tests/test_snowflake.py): target-snowflake, dbt-snowflake and fakesnow, which
# stands in for Snowflake (tests/snowflake/requirements.txt). uv comes with Meltano.
.venv/bin/uv venv -q --allow-existing --python .venv/bin/python .venv-snowflake
VIRTUAL_ENV=.venv-snowflake .venv/bin/uv pip install -q -r tests/snowflake/requirements.txt
# The end-to-end tests start their own PostgreSQL and Redis servers, and the date runs need libfaketime: install
# them from Debian's packages if missing.
missing=()
if ! ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 && ! command -v pg_ctl >/dev/null; then
  missing+=(postgresql)
fi
if ! command -v redis-server >/dev/null; then
  missing+=(redis-server)
fi
# libfaketime moves the clock of the processes the tests start when they run as another day (make test-dates).
if ! ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1; then
  missing+=(faketime)
fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    echo "missing for the end-to-end tests: ${missing[*]} (install them with your package manager)" >&2
  fi
fi
