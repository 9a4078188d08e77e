"""`meltano run` into real targets: a PostgreSQL server started by this test run, and DuckDB.

Two daily runs with overlapping lookback while the sandbox's cohorts mature between them: each table must
hold exactly one row per primary key, the re-synced cohorts must carry the new values, Meltano must keep the
state so the second run asks only for the lookback, and column types must be what SQL expects.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest

from cohorts_sandbox import Fault, Sandbox
from tests.demo_truth import (
    adjust_report_revenue_sum,
    applovin_revenue_sum,
    appsflyer_count_sum,
    expected_rows,
    primary_key,
)
from tests.helpers import days_ago
from tests.postgres_server import PostgresServer

ROOT = Path(__file__).resolve().parent.parent
START = 20  # days ago
LOOKBACK = 7  # the demo environment's lookback_days

Query = Callable[[str], list[tuple[Any, ...]]]


def meltano_run(
    loader: str, sandbox: Sandbox, tmp_path: Path, env: dict[str, str], expect_failure: bool = False
) -> str:
    environment = {
        **os.environ,
        "SANDBOX_PORT": str(sandbox.port),
        "DEMO_START_DATE": days_ago(START).isoformat(),
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
        **env,
    }
    result = subprocess.run(
        [str(ROOT / ".venv/bin/meltano"), "--environment=demo", "run", "tap-cohorts", loader],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert (result.returncode != 0) == expect_failure, result.stderr[-5000:]
    return result.stderr


@pytest.fixture
def postgres(postgres_server: PostgresServer) -> Iterator[tuple[dict[str, str], Query]]:
    with postgres_server.database("cohorts_e2e") as name:
        env = {
            "TARGET_POSTGRES_HOST": postgres_server.host,
            "TARGET_POSTGRES_PORT": str(postgres_server.port),
            "TARGET_POSTGRES_USER": postgres_server.user,
            "TARGET_POSTGRES_PASSWORD": postgres_server.password,
            "TARGET_POSTGRES_DATABASE": name,
        }

        def query(sql: str) -> list[tuple[Any, ...]]:
            with psycopg.connect(
                host=postgres_server.host, port=postgres_server.port, user=postgres_server.user, dbname=name
            ) as connection:
                return connection.execute(sql).fetchall()

        yield env, query


def duckdb_target(tmp_path: Path) -> tuple[dict[str, str], Query]:
    path = tmp_path / "warehouse.duckdb"

    def query(sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(path), read_only=True) as connection:
            return connection.execute(sql).fetchall()

    return {"TARGET_DUCKDB_FILEPATH": str(path)}, query


def check_two_daily_runs(loader: str, env: dict[str, str], query: Query, sandbox: Sandbox, tmp_path: Path) -> None:
    first = meltano_run(loader, sandbox, tmp_path, env)
    assert "No state was found" in first
    expected = expected_rows(START, sandbox.simulators)
    for table, rows in expected.items():
        assert query(f"select count(*) from cohorts.{table}") == [(rows,)], table
    old = appsflyer_count_sum(sandbox.simulators, days_ago(START), days_ago(1))
    assert query("select sum(count) from cohorts.appsflyer_cohorts")[0][0] == old

    # A day later the cohorts have matured: the sandbox's values change, the second run re-syncs the lookback.
    stale_first, stale_last = days_ago(START), days_ago(LOOKBACK + 2)
    appsflyer_before = appsflyer_count_sum(sandbox.simulators, stale_first, stale_last)
    applovin_before = applovin_revenue_sum(sandbox.simulators, days_ago(START), days_ago(LOOKBACK + 1))
    resynced_before = appsflyer_count_sum(sandbox.simulators, days_ago(LOOKBACK + 1), days_ago(1))
    report_before = adjust_report_revenue_sum(sandbox.simulators, START, LOOKBACK + 1)
    sandbox.reset()
    sandbox.config.revision = 1
    second = meltano_run(loader, sandbox, tmp_path, env)
    assert "Reading state from Database" in second and "No state was found" not in second
    appsflyer_from = min(r.json()["from"] for r in sandbox.requests_to("appsflyer"))
    assert appsflyer_from == days_ago(LOOKBACK + 1).isoformat()  # bookmark (yesterday) - lookback
    assert {r.query["start"][0] for r in sandbox.requests_to("applovin")} == {days_ago(LOOKBACK).isoformat()}
    assert {r.json()["start_date"] for r in sandbox.requests_to("branch") if r.method == "POST"} == {
        days_ago(LOOKBACK).isoformat()
    }

    for table, rows in expected.items():
        total = query(f"select count(*) from cohorts.{table}")[0][0]
        distinct = query(f"select count(*) from (select distinct {primary_key(table)} from cohorts.{table}) keys")[0][0]
        assert (total, distinct) == (rows, rows), table
    # Adjust grouped by os_names and countries: one row per real key, iOS and Android apart.
    for table in ("adjust_cohorts", "adjust_app_cohorts"):
        real_keys = f"select distinct app_token, os_name, country, cohort_date, period from cohorts.{table}"
        assert query(f"select count(*) from ({real_keys}) keys")[0][0] == expected[table], table
        assert sorted(query(f"select distinct os_name from cohorts.{table}")) == [("android",), ("ios",)]
    resynced = appsflyer_count_sum(sandbox.simulators, days_ago(LOOKBACK + 1), days_ago(1))
    assert resynced != resynced_before  # the values really changed, so the sums below tell old from new
    assert query("select sum(count) from cohorts.appsflyer_cohorts")[0][0] == appsflyer_before + resynced
    report_windows = {r.query["date_period"][0] for r in sandbox.requests_to("adjust", "/reports-service/")}
    assert report_windows == {f"{days_ago(LOOKBACK)}:{days_ago(0)}"}
    report_newer = adjust_report_revenue_sum(sandbox.simulators, LOOKBACK, 0)
    stored = float(query("select sum(revenue_total) from cohorts.adjust_report_cohorts")[0][0])
    assert stored == pytest.approx(report_before + report_newer, rel=1e-9)
    newer = applovin_revenue_sum(sandbox.simulators, days_ago(LOOKBACK), days_ago(0))
    stored = float(query("select sum(pub_revenue) from cohorts.applovin_cohort_revenue")[0][0])
    assert stored == pytest.approx(applovin_before + newer, rel=1e-9)


@pytest.mark.e2e
def test_postgres_two_daily_runs_upsert_and_types(
    sandbox: Sandbox, postgres: tuple[dict[str, str], Query], tmp_path: Path
) -> None:
    env, query = postgres
    check_two_daily_runs("target-postgres", env, query, sandbox, tmp_path)
    types = dict(
        query(
            "select table_name || '.' || column_name, data_type from information_schema.columns "
            "where table_schema = 'cohorts'"
        )
    )
    assert types["appsflyer_cohorts.cohort_date"] == "date"
    assert types["appsflyer_cohorts.period"] == "bigint"
    assert types["appsflyer_cohorts.users"] == "bigint"
    assert types["appsflyer_cohorts.rate"] in ("numeric", "double precision")
    assert types["applovin_cohort_revenue.pub_revenue"] in ("numeric", "double precision")
    assert types["branch_install_cohorts.per_user"] == "boolean"
    assert types["adjust_cohorts.installs"] in ("numeric", "double precision")
    assert types["adjust_report_cohorts.cohort_size"] == "bigint"
    assert types["adjust_report_cohorts.retention_rate"] in ("numeric", "double precision")
    assert types["adjust_report_cohorts.cohort_date"] == "date"
    assert types["appsflyer_cohorts.dimension_key"] in ("text", "character varying")
    cohort_json = [n for n, kind in types.items() if kind in ("json", "jsonb") and not n.startswith("braze_")]
    assert cohort_json == []  # scalar metrics are never JSON-encoded; only Braze's nested objects are JSON
    assert types["braze_campaign_data_series.messages"] == "jsonb"
    assert types["braze_canvas_data_series.step_stats"] == "jsonb"
    assert types["braze_canvas_data_series.entries"] == "bigint"
    assert types["braze_canvas_details.steps"] == "ARRAY"  # of jsonb, as campaign conversion_behaviors
    assert types["braze_segment_data_series.time"] == "date"


@pytest.mark.e2e
def test_duckdb_two_daily_runs_upsert(sandbox: Sandbox, tmp_path: Path) -> None:
    env, query = duckdb_target(tmp_path)
    check_two_daily_runs("target-duckdb", env, query, sandbox, tmp_path)


@pytest.mark.e2e
def test_a_run_with_one_vendor_failing_is_filled_in_by_the_next(
    sandbox: Sandbox, postgres: tuple[dict[str, str], Query], tmp_path: Path
) -> None:
    """Meltano 4.4.1 keeps the state a failed run's target wrote (as partial state, merged on the next run), so
    the next run asks the failed vendor for what it missed and the others for their lookback only."""
    env, query = postgres
    # AppLovin refuses the key (revoked, then fixed): one request, then its other streams are not asked.
    sandbox.add_fault(Fault("status", vendor="applovin", status=401, times=100_000, message="key revoked"))
    first = meltano_run("target-postgres", sandbox, tmp_path, env, expect_failure=True)
    assert "1 partition(s) failed (applovin)" in first and "key revoked" in first
    assert len(sandbox.requests_to("applovin")) == 1
    expected = expected_rows(START, sandbox.simulators)
    for table, rows in expected.items():
        count = query(f"select count(*) from cohorts.{table}")[0][0] if table_exists(query, table) else 0
        assert count == (0 if table.startswith("applovin") else rows), table

    sandbox.reset()
    second = meltano_run("target-postgres", sandbox, tmp_path, env)
    assert "Reading state from Database" in second
    for table, rows in expected.items():
        total = query(f"select count(*) from cohorts.{table}")[0][0]
        distinct = query(f"select count(*) from (select distinct {primary_key(table)} from cohorts.{table}) keys")[0][0]
        assert (total, distinct) == (rows, rows), table
    # The failed vendor is asked for the whole missed range, the others for their lookback only.
    assert {r.query["start"][0] for r in sandbox.requests_to("applovin")} == {days_ago(START).isoformat()}
    appsflyer_from = min(r.json()["from"] for r in sandbox.requests_to("appsflyer"))
    assert appsflyer_from == days_ago(LOOKBACK + 1).isoformat()


def table_exists(query: Query, table: str) -> bool:
    sql = f"select count(*) from information_schema.tables where table_schema = 'cohorts' and table_name = '{table}'"
    return query(sql)[0][0] == 1
