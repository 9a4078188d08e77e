"""The README's demo command end to end: the sandbox, meltano run tap-cohorts target-duckdb, what landed."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import duckdb
import pytest

from tests.demo_truth import expected_rows, primary_key
from tests.helpers import days_ago

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


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
    # The answer first: the unified model by vendor for the newest cohorts at day 7, then the tables.
    answer = output.index("The answer (analytics.cohort_metrics, cohort_ltv, cohort_roas)")
    assert answer < output.index("Loaded into")
    rows = [line.split() for line in output[answer:].splitlines()[2:14]]
    assert {row[1] for row in rows} == {"adjust", "applovin", "appsflyer", "branch"}
    assert len({row[0] for row in rows}) == 3 and all(row[0] <= days_ago(8).isoformat() for row in rows)
    adjust = next(row for row in rows if row[1] == "adjust")
    assert all(value.endswith("%") and 0 < float(value[:-1]) < 100 for value in adjust[3:5])
    assert (tmp_path / "cohorts.png").stat().st_size > 20_000
    expected = expected_rows(20)
    assert len(expected) == 33  # every stream of the five vendors in the demo
    for table, rows in expected.items():
        assert f"cohorts.{table}: {rows} rows" in output

    second = run_demo(tmp_path)
    assert "Reading state from Database" in second and "No state was found" not in second
    assert f"syncing cohort dates {days_ago(8).isoformat()}..{days_ago(1).isoformat()}" in second  # bookmark - 7 days
    connection = duckdb.connect(str(tmp_path / "demo.duckdb"), read_only=True)
    for table, rows in expected.items():
        total = connection.execute(f"select count(*) from cohorts.{table}").fetchone()[0]
        distinct = connection.execute(
            f"select count(*) from (select distinct {primary_key(table)} from cohorts.{table})"
        ).fetchone()[0]
        assert (total, distinct) == (rows, rows), table
