"""TEST HARNESS ONLY: fakesnow's Snowflake server on the databases in DB_DIR, and queries through it.

    .venv-snowflake/bin/python tests/snowflake/server.py DB_DIR

fakesnow's own `python -m fakesnow -s` serves in-memory databases only; this serves DB_DIR's (where
tests/snowflake/target.py loaded them). It prints `port N` once listening; dbt-snowflake connects to it with
tests/snowflake/profiles.yml. Each line on stdin is one SQL statement (a JSON string), run through
snowflake-connector-python against the server; its rows come back as one JSON line (`{"rows": [...]}` or
`{"error": "..."}`). EOF stops it.
"""

from __future__ import annotations

import decimal
import importlib
import json
import sys

import fakesnow
import snowflake.connector
from fakesnow.instance import FakeSnow


def plain(value: object) -> object:
    """JSON for what the connector returns beyond JSON's types: whole decimals as integers, other as floats."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return str(value)


if __name__ == "__main__":
    answers, sys.stdout = sys.stdout, sys.stderr  # uvicorn logs to sys.stdout: to stderr, the answers alone here
    serve = fakesnow.server  # the function: importing the module below replaces the package's attribute
    importlib.import_module("fakesnow.server").shared_fs = FakeSnow(db_path=sys.argv[1])
    with serve() as connection_arguments:
        print(f"port {connection_arguments['port']}", file=answers, flush=True)
        with snowflake.connector.connect(**connection_arguments, database="COHORTS_DB") as connection:
            for line in sys.stdin:
                try:
                    rows = connection.cursor().execute(json.loads(line)).fetchall()
                    answer = {"rows": [list(row) for row in rows]}
                except Exception as exc:  # the test shows it
                    answer = {"error": str(exc)}
                print(json.dumps(answer, default=plain), file=answers, flush=True)
