"""`meltano run` into a real PostgreSQL server started by this test run (DuckDB: test_demo.py, test_warehouse_truth.py).

Two daily runs with overlapping lookback while the sandbox's cohorts mature between them: each table must
hold exactly one row per primary key, the re-synced cohorts must carry the new values, Meltano must keep the
state so the second run asks only for the lookback, and column types must be what SQL expects.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Collection
from pathlib import Path

import pytest

from cohorts_sandbox import Fault, Sandbox
from cohorts_sandbox.adjust_reports import DIMENSION_VALUES, Cohort
from tests.conftest import Query
from tests.demo_truth import (
    adjust_report_revenue_sum,
    applovin_revenue_sum,
    appsflyer_count_sum,
    expected_rows,
    primary_key,
)
from tests.helpers import days_ago

ROOT = Path(__file__).resolve().parent.parent
NETWORKS = DIMENSION_VALUES["network"]
START = 20  # days ago
LOOKBACK = 7  # the demo environment's lookback_days


def meltano_run(
    loader: str,
    sandbox: Sandbox,
    tmp_path: Path,
    env: dict[str, str],
    expect_failure: bool = False,
    then: tuple[str, ...] = (),
) -> str:
    environment = {
        **os.environ,
        "SANDBOX_PORT": str(sandbox.port),
        "DEMO_START_DATE": days_ago(START).isoformat(),
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
        **env,
    }
    result = subprocess.run(
        [str(ROOT / ".venv/bin/meltano"), "--environment=demo", "run", "tap-cohorts", loader, *then],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert (result.returncode != 0) == expect_failure, result.stderr[-5000:]
    return result.stderr


# One daily run of the demo environment into a warehouse, then its dbt build (first: the warehouse is empty).
DailyRun = Callable[[bool], None]


def meltano_daily_run(loader: str, env: dict[str, str], sandbox: Sandbox, tmp_path: Path, transform: str) -> DailyRun:
    """`meltano run tap-cohorts <loader> <transform>`, Meltano keeping the state between runs."""

    def run(first: bool) -> None:
        log = meltano_run(loader, sandbox, tmp_path, env, then=(transform,))
        assert "Completed successfully" in log
        assert ("No state was found" in log) == first
        assert first or "Reading state from Database" in log

    return run


def check_two_daily_runs(
    daily_run: DailyRun, query: Query, sandbox: Sandbox, tables: Collection[str] | None = None
) -> None:
    """Two daily runs, each followed by the dbt build of the unified model, which must pass (`tables`: the ones
    the runs load, when not every one of the demo's)."""
    daily_run(True)
    expected = {t: rows for t, rows in expected_rows(START, sandbox.simulators).items() if not tables or t in tables}
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
    daily_run(False)
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
    check_unified_model(query, sandbox)


def check_unified_model(query: Query, sandbox: Sandbox) -> None:
    """The dbt models after two maturing runs: row counts reconcile with the tap's tables, unified values equal
    the vendor tables' values computed by hand, and one ROAS equals the sandbox's truth."""
    metrics = dict(query("select vendor, count(*) from analytics.cohort_metrics group by vendor"))
    staged = {
        "adjust": "select count(*) from cohorts.adjust_report_cohorts",  # split by country_code and network only
        "appsflyer": "select count(*) from (select distinct app_id, cohort_date, pid, period from "
        "cohorts.appsflyer_cohorts where cohort_type = 'user_acquisition') k",
        "branch": "select count(*) from (select distinct cohort_date, install_activity_touch_data_tilde_campaign, "
        "period from cohorts.branch_install_cohorts) k",
        "applovin": "select count(*) from (select distinct package_name, cohort_date, country, period from "
        "cohorts.applovin_cohort_revenue) k",
    }
    assert metrics == {vendor: query(sql)[0][0] for vendor, sql in staged.items()}
    assert all(metrics.values())
    assert query("select count(*) from analytics.cohort_metrics")[0][0] == sum(metrics.values())

    # Adjust, one key by hand: day 1's own revenue is revenue_total of day 1 less day 0's.
    day = days_ago(3).isoformat()
    raw = dict(
        query(
            "select period, revenue_total from cohorts.adjust_report_cohorts where app_token = 'abc123def4' and "
            f"cast(cohort_date as date) = date '{day}' and country_code = 'DE' and network = 'Meta'"
        )
    )
    [(revenue, cumulative, retention, cost)] = query(
        "select revenue, revenue_cumulative, retention_rate, cost from analytics.cohort_metrics where vendor = "
        f"'adjust' and app_id = 'abc123def4' and cohort_date = date '{day}' and country = 'DE' and source = 'Meta' "
        "and period = 1"
    )
    assert float(revenue) == pytest.approx(float(raw[1]) - float(raw[0]), rel=1e-9)
    assert float(cumulative) == pytest.approx(float(raw[1]), rel=1e-12)
    [(raw_retention, raw_cost)] = query(
        "select retention_rate, network_cost from cohorts.adjust_report_cohorts where app_token = 'abc123def4' and "
        f"cast(cohort_date as date) = date '{day}' and country_code = 'DE' and network = 'Meta' and period = 1"
    )
    assert float(retention) == pytest.approx(float(raw_retention), rel=1e-9)
    assert float(cost) == pytest.approx(float(raw_cost), rel=1e-12)
    # AppsFlyer (the demo asks cumulative values): the sessions and revenue KPI rows pivoted into one row, the
    # revenue so far as the model's revenue_cumulative (no on-day revenue, and no unique users, are asked).
    source = query(f"select min(pid) from cohorts.appsflyer_cohorts where cast(cohort_date as date) = date '{day}'")[0][
        0
    ]
    kpis = query(
        "select kpi, period, count, sum, unique_users from cohorts.appsflyer_cohorts where app_id = "
        f"'com.example.puzzle' and cast(cohort_date as date) = date '{day}' and pid = '{source}' and period <= 1"
    )
    by = {(kpi, period): (count, amount, uniques) for kpi, period, count, amount, uniques in kpis}
    [(sessions, active, revenue, cumulative)] = query(
        "select sessions, active_users, revenue, revenue_cumulative from analytics.cohort_metrics where vendor = "
        f"'appsflyer' and app_id = 'com.example.puzzle' and cohort_date = date '{day}' and source = '{source}' "
        "and period = 1"
    )
    assert float(sessions) == by[("sessions", 1)][0] and active is None and by[("sessions", 1)][2] is None
    assert revenue is None
    assert float(cumulative) == pytest.approx(float(by[("revenue", 1)][1]), rel=1e-12)
    assert float(by[("revenue", 1)][1]) >= float(by[("revenue", 0)][1]) > 0

    # ROAS where the sandbox's truth is known: Puzzle Quest, cohort 3 days ago, Germany, day 1: Adjust's cost over
    # its three networks against their revenue_total plus AppLovin's ad revenue over both platforms.
    service = sandbox.simulators["adjust"].reports
    cohorts = [Cohort("abc123def4", days_ago(3), (("country_code", "DE"), ("network", n))) for n in NETWORKS]
    cost = sum(round(service.cohort_value(c, "network_cost"), 2) for c in cohorts)
    adjust_revenue = sum(service.day_value(c, "revenue_total", 1) for c in cohorts)
    platforms = sandbox.simulators["applovin"].table(
        "/maxCohort",
        days_ago(3),
        days_ago(3),
        ["application", "package_name", "platform", "country"],
        {"package_name": "com.example.puzzle", "country": "de"},
    )
    ad_revenue = sum(float(row["ads_pub_revenue_1"]) for row in platforms)  # each platform's row as the tap stores it
    expected = (adjust_revenue + ad_revenue) / cost
    [(roas,)] = query(
        "select roas from analytics.cohort_roas where cost_vendor = 'adjust' and app = 'puzzle_quest' and "
        f"cohort_date = date '{day}' and country = 'DE' and period = 1"
    )
    assert float(roas) == pytest.approx(expected, rel=1e-6)
    assert query("select count(*) from analytics.cohort_roas where roas is not null and not cost > 0")[0][0] == 0


@pytest.mark.e2e
def test_postgres_two_daily_runs_upsert_and_types(
    sandbox: Sandbox, postgres: tuple[dict[str, str], Query], tmp_path: Path
) -> None:
    env, query = postgres
    daily_run = meltano_daily_run("target-postgres", env, sandbox, tmp_path, "dbt-postgres:build")
    check_two_daily_runs(daily_run, query, sandbox)
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
