# The README's two commands.
.PHONY: demo test test-dates test-truth lint bench

demo:  ## install, start the sandbox, meltano run tap-cohorts target-duckdb, show what landed
	bash scripts/demo.sh

test:  ## install, lint, type-check and run every test
	bash scripts/test.sh

test-dates:  ## the date-sensitive tests as if today were each of several days (month, year, leap-day, DST edges)
	bash scripts/test_dates.sh

test-truth:  ## the warehouse-equals-the-vendor runs over 60 simulated days (make test runs 4), PostgreSQL and DuckDB
	TRUTH_DAYS=60 .venv/bin/pytest -q --timeout=3600 tests/test_warehouse_truth.py

lint:
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy

bench:  ## throughput, memory, backfills, the peer and the pipeline against their references (about an hour; not part of the tests)
	.venv/bin/python -m pip install --quiet -e '.[bench]'
	.venv/bin/python bench/run.py
