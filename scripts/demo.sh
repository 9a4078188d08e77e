#!/usr/bin/env bash
# The demo: install the project and Meltano, start the vendor sandbox, run
# `meltano --environment=demo run tap-cohorts target-duckdb dbt-duckdb:build` (the load, then the unified model
# of transform/), print what landed per table, and draw the LTV curves and retention heatmap (output/cohorts.png).
# Environment: SANDBOX_PORT (default 8787), DEMO_START_DATE (default 60 days ago), DEMO_DB (default output/cohorts.duckdb).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${SKIP_SETUP:-0}" = 1 ] || bash scripts/setup.sh
export SANDBOX_PORT="${SANDBOX_PORT:-8787}"
export DEMO_START_DATE="${DEMO_START_DATE:-$(.venv/bin/python -c 'import datetime as d; print(d.date.today() - d.timedelta(days=60))')}"
export TARGET_DUCKDB_FILEPATH="${DEMO_DB:-$PWD/output/cohorts.duckdb}"
mkdir -p "$(dirname "$TARGET_DUCKDB_FILEPATH")"

.venv/bin/cohorts-sandbox --port "$SANDBOX_PORT" --time-scale 0.01 &
sandbox_pid=$!
trap 'kill $sandbox_pid 2>/dev/null || true' EXIT
.venv/bin/python - <<PY
import time, urllib.request
for _ in range(100):
    try:
        urllib.request.urlopen("http://127.0.0.1:${SANDBOX_PORT}/_sandbox/health", timeout=1)
        break
    except OSError:
        time.sleep(0.1)
PY

.venv/bin/meltano --environment=demo run tap-cohorts target-duckdb dbt-duckdb:build
.venv/bin/python scripts/show_duckdb.py "$TARGET_DUCKDB_FILEPATH"
.venv/bin/python scripts/plot_cohorts.py "$TARGET_DUCKDB_FILEPATH" "${DEMO_PICTURE:-$(dirname "$TARGET_DUCKDB_FILEPATH")/cohorts.png}"
