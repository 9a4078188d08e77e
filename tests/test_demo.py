"""The README's demo command end to end: the sandbox, meltano run tap-cohorts target-duckdb, what landed."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import duckdb
import pytest

from cohorts_sandbox import Sandbox, SandboxConfig
from cohorts_sandbox.adjust import Query as AdjustQuery
from cohorts_sandbox.appsflyer import Query
from cohorts_sandbox.branch import Query as BranchQuery
from tests.helpers import days_ago

ROOT = Path(__file__).resolve().parent.parent
PERIODS = (0, 1, 3, 7, 14, 30)
ADJUST_TABLES = ("adjust_cohorts", "adjust_tracker_cohorts", "adjust_app_cohorts")
APPLOVIN_TABLES = ("applovin_cohort_revenue", "applovin_cohort_impressions", "applovin_cohort_sessions")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def expected_appsflyer_rows(start_days_ago: int) -> int:
    """The demo's AppsFlyer rows from the sandbox's own data (same seed as the demo's sandbox)."""
    simulator = Sandbox(SandboxConfig()).simulators["appsflyer"]
    rows = 0
    for app in ("com.example.puzzle", "id1234567890"):
        for kpi in ("sessions", "revenue"):
            query = Query(
                app, "user_acquisition", kpi, days_ago(start_days_ago), days_ago(1), ("pid", "date"), "on_day", PERIODS
            )
            rows += sum(len(row.values) for row in simulator.truth(query))
    return rows


def expected_adjust_rows(start_days_ago: int) -> int:
    """Per stream: 2 apps (x 1 tracker) x 3 countries x every period begun for each cohort day."""
    simulator = Sandbox(SandboxConfig()).simulators["adjust"]
    query = AdjustQuery(("abc123def4",), None, ("installs",), days_ago(start_days_ago), days_ago(0), (), "day")
    return 2 * 3 * sum(len(simulator.periods(query, day)) for day in simulator.cohort_dates(query))


def expected_branch_rows(start_days_ago: int, data_source: str) -> int:
    simulator = Sandbox(SandboxConfig()).simulators["branch"]
    prefix = "install_activity_" if data_source == "install_cohort" else "reengagement_activity_"
    dimensions = (prefix + "touch_data_tilde_campaign", prefix + "timezone_adjusted_day")
    query = BranchQuery(data_source, days_ago(start_days_ago), days_ago(0), dimensions, ("OPEN",), "day", 7)
    return sum(len(row["data"]) for row in simulator.rows(query))


def run_demo(tmp_path: Path) -> str:
    env = {
        **os.environ,
        "SKIP_SETUP": "1",
        "SANDBOX_PORT": str(free_port()),
        "DEMO_START_DATE": days_ago(20).isoformat(),
        "DEMO_DB": str(tmp_path / "demo.duckdb"),
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
    }
    result = subprocess.run(["bash", "scripts/demo.sh"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result.stdout + result.stderr


@pytest.mark.e2e
def test_the_demo_lands_every_stream_in_duckdb_and_a_second_run_upserts(tmp_path: Path) -> None:
    output = run_demo(tmp_path)
    expected = {"appsflyer_cohorts": expected_appsflyer_rows(20)}
    expected.update({table: 21 * 20 * len(PERIODS) for table in APPLOVIN_TABLES})  # 21 days x 4 apps x 5 countries
    expected.update({table: expected_adjust_rows(20) for table in ADJUST_TABLES})
    expected["branch_install_cohorts"] = expected_branch_rows(20, "install_cohort")
    expected["branch_reengagement_cohorts"] = expected_branch_rows(20, "reengagement_cohort")
    for table, rows in expected.items():
        assert f"cohorts.{table}: {rows} rows" in output

    second = run_demo(tmp_path)
    assert "Reading state from Database" in second and "No state was found" not in second
    assert f"syncing cohort dates {days_ago(8).isoformat()}..{days_ago(1).isoformat()}" in second  # bookmark - 7 days
    connection = duckdb.connect(str(tmp_path / "demo.duckdb"), read_only=True)
    for table, rows in expected.items():
        key = "cohort_date, dimension_key, period" + {
            "appsflyer_cohorts": ", app_id, cohort_type, kpi, aggregation_type",
            "adjust_cohorts": ", app_token",
            "adjust_app_cohorts": ", app_token",
            "adjust_tracker_cohorts": ", app_token, tracker_token",
            "branch_install_cohorts": ", measure, metric",
            "branch_reengagement_cohorts": ", measure, metric",
        }.get(table, "")
        total = connection.execute(f"select count(*) from cohorts.{table}").fetchone()[0]
        distinct = connection.execute(f"select count(*) from (select distinct {key} from cohorts.{table})").fetchone()[
            0
        ]
        assert (total, distinct) == (rows, rows), table
