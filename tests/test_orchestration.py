"""The Dagster definitions: every Meltano job and schedule is there, and a job runs in-process into DuckDB."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from cohorts_sandbox import Sandbox
from orchestration.dagster_definitions import MeltanoProject, build_definitions
from tests.demo_truth import expected_rows
from tests.helpers import days_ago

START = 5  # days ago


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    return build_definitions(MeltanoProject(environment="demo"))


def test_every_meltano_job_and_schedule_is_a_dagster_one(definitions: dg.Definitions) -> None:
    repository = definitions.get_repository_def()
    jobs = {job.name for job in repository.get_all_jobs()}
    assert {"cohorts_to_duckdb", "cohorts_to_postgres", "cohorts_branch_to_postgres"} <= jobs
    assert {"cohorts_appsflyer_puzzle_to_postgres", "cohorts_appsflyer_ios_to_postgres"} <= jobs
    schedules = {s.name: (s.job_name, s.cron_schedule) for s in repository.schedule_defs}
    assert schedules["daily_cohorts_to_postgres"] == ("cohorts_to_postgres", "0 0 * * *")
    assert schedules["daily_cohorts_branch_to_postgres"] == ("cohorts_branch_to_postgres", "0 6 * * *")


def test_the_documented_dagster_command_loads_the_file(tmp_path: Path) -> None:
    """`dagster dev -f orchestration/dagster_definitions.py` loads the file the same way as this command."""
    dagster = Path(sys.executable).with_name("dagster")
    result = subprocess.run(
        [str(dagster), "definitions", "validate", "-f", "orchestration/dagster_definitions.py"],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "DAGSTER_HOME": str(tmp_path), "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'm.db'}"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "All code locations passed validation" in result.stderr + result.stdout


@pytest.mark.e2e
def test_a_job_materialises_in_process_into_duckdb(
    definitions: dg.Definitions, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("SANDBOX_PORT", str(sandbox.port))
    monkeypatch.setenv("DEMO_START_DATE", days_ago(START).isoformat())
    monkeypatch.setenv("MELTANO_DATABASE_URI", f"sqlite:///{tmp_path / 'meltano.db'}")
    monkeypatch.setenv("TARGET_DUCKDB_FILEPATH", str(warehouse))

    result = definitions.get_job_def("cohorts_to_duckdb").execute_in_process()

    assert result.success
    [materialization] = result.asset_materializations_for_node("meltano_run_cohorts_to_duckdb")
    assert materialization.asset_key == dg.AssetKey(["meltano", "cohorts_to_duckdb"])
    with duckdb.connect(str(warehouse), read_only=True) as connection:
        for table, rows in expected_rows(START, sandbox.simulators).items():
            assert connection.execute(f"select count(*) from cohorts.{table}").fetchall() == [(rows,)], table


def test_a_failed_meltano_run_fails_the_dagster_run_with_its_last_lines(
    definitions: dg.Definitions, sandbox: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDBOX_PORT", str(sandbox.port))
    monkeypatch.setenv("DEMO_START_DATE", "not-a-date")
    monkeypatch.setenv("MELTANO_DATABASE_URI", f"sqlite:///{tmp_path / 'meltano.db'}")
    monkeypatch.setenv("TARGET_DUCKDB_FILEPATH", str(tmp_path / "warehouse.duckdb"))

    result = definitions.get_job_def("cohorts_to_duckdb").execute_in_process(raise_on_error=False)

    assert not result.success
    [failure] = [event for event in result.all_events if event.is_step_failure]
    error = failure.step_failure_data.user_failure_data
    assert error is not None and error.description is not None
    assert "meltano run cohorts-to-duckdb failed with exit code" in error.description
    assert "config['start_date']" in error.metadata["last lines"].value
    assert sandbox.requests == []
