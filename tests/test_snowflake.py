"""Snowflake, as far as this offline machine can prove it: target-snowflake's real CLI and dbt-snowflake on fakesnow.

fakesnow 0.12.1 (DuckDB answering Snowflake's SQL and wire protocol) stands in for Snowflake. target-snowflake
0.20.4 runs as meltano.yml configures it, with only its user stage emulated (tests/snowflake/target.py, test
harness only); dbt-snowflake builds transform/ through fakesnow's server (tests/snowflake/server.py) from a test
profile (tests/snowflake/profiles.yml). Both come from .venv-snowflake (scripts/setup.sh). What this proves and
what it cannot: docs/warehouses.md, "Snowflake".
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cohorts_sandbox import Sandbox
from tap_cohorts.tap import TapCohorts
from tests.demo_truth import ADJUST_TABLES, expected_rows
from tests.helpers import days_ago, run_tap
from tests.test_warehouses import START, check_two_daily_runs

ROOT = Path(__file__).resolve().parent.parent
SNOWFLAKE_ENV = ROOT / ".venv-snowflake/bin"
HARNESS = ROOT / "tests/snowflake"
DBT_PROJECT = ("--project-dir", str(ROOT / "transform"), "--profiles-dir", str(HARNESS), "--target", "snowflake")


# Every cohort stream and cohort_syncs, and the Braze streams whose shapes matter here (a list with ACTIVATE_VERSION,
# details with arrays and objects, data series with nested objects); the other Braze streams add time, not cases.
BRAZE_STREAMS = {f"braze_{kind}{part}" for kind in ("campaign", "canvas") for part in ("_details", "_data_series")}
BRAZE_STREAMS |= {"braze_campaigns", "braze_canvases"}


def catalog_without_most_of_braze(config: dict[str, Any]) -> dict[str, Any]:
    catalog = TapCohorts(config=config).catalog_dict
    for stream in catalog["streams"]:
        name = stream["tap_stream_id"]
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = not name.startswith("braze_") or name in BRAZE_STREAMS
    return catalog


def meltano_config(plugin: str, env: dict[str, str], project: Path) -> dict[str, Any]:
    """The plugin's config as the demo environment of meltano.yml resolves it. Meltano runs on a copy of
    meltano.yml in `project`: in the checkout, `meltano config` clears the plugin's run directory under .meltano/,
    which a `meltano run` of the other pytest worker may be reading."""
    project.mkdir(exist_ok=True)
    shutil.copy(ROOT / "meltano.yml", project / "meltano.yml")
    result = subprocess.run(
        [str(ROOT / ".venv/bin/meltano"), "--environment=demo", "config", "--unsafe", "print", plugin],
        cwd=project,
        env={**os.environ, **env, "MELTANO_DATABASE_URI": f"sqlite:///{project / 'meltano.db'}"},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(result.stdout)


class FakeSnowflake:
    """A Snowflake account on fakesnow: its databases in a directory, loaded by target-snowflake, read by dbt and
    by `query` through fakesnow's server (started when needed; DuckDB lets one process open a database at a time)."""

    def __init__(self, tmp_path: Path, target_config: dict[str, Any]) -> None:
        self.databases = tmp_path / "databases"
        self.stage = tmp_path / "stage"
        self.work = tmp_path
        self.databases.mkdir()
        self.stage.mkdir()
        self.target_config = tmp_path / "target.json"
        self.target_config.write_text(json.dumps(target_config))
        self.server: subprocess.Popen[str] | None = None
        self.server_log = tmp_path / "server.log"
        self.port = 0

    def load(self, messages: list[dict]) -> str:
        """target-snowflake's CLI on these Singer messages; its log."""
        self.stop()
        lines = "".join(json.dumps(message) + "\n" for message in messages)
        result = subprocess.run(
            [
                str(SNOWFLAKE_ENV / "python"),
                str(HARNESS / "target.py"),
                str(self.databases),
                str(self.stage),
                "--config",
                str(self.target_config),
            ],
            input=lines,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-5000:]
        assert list(self.stage.iterdir()) == []  # every staged file removed
        return result.stderr

    def start(self) -> None:
        if self.server is None:
            self.server = subprocess.Popen(
                [str(SNOWFLAKE_ENV / "python"), str(HARNESS / "server.py"), str(self.databases)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self.server_log.open("a"),
                text=True,
            )
            assert self.server.stdout is not None
            self.port = int(self.server.stdout.readline().split()[1])

    def stop(self) -> None:
        if self.server is not None:
            assert self.server.stdin is not None
            self.server.stdin.close()
            self.server.wait(timeout=60)
            self.server = None

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        self.start()
        assert self.server is not None and self.server.stdin is not None and self.server.stdout is not None
        self.server.stdin.write(json.dumps(sql) + "\n")
        self.server.stdin.flush()
        line = self.server.stdout.readline()
        assert line, f"the fakesnow server stopped: {self.server_log.read_text()[-5000:]}"
        assert line.startswith("{"), line
        answer = json.loads(line)
        assert "error" not in answer, f"{sql}: {answer.get('error')}"
        return [tuple(row) for row in answer["rows"]]

    def dbt(self, *args: str) -> str:
        """dbt-snowflake on transform/, as meltano.yml's dbt-snowflake utility runs it; its output."""
        self.start()
        result = subprocess.run(
            [str(SNOWFLAKE_ENV / "dbt"), *args, *DBT_PROJECT],
            env={
                **os.environ,
                "FAKESNOW_PORT": str(self.port),
                "DBT_TARGET_PATH": str(self.work / "dbt-target"),
                "DBT_LOG_PATH": str(self.work / "dbt-logs"),
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            },
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stdout[-5000:]
        return result.stdout


@pytest.fixture
def snowflake(sandbox: Sandbox, tmp_path: Path) -> Iterator[tuple[FakeSnowflake, dict[str, Any]]]:
    """A fake Snowflake loaded as meltano.yml's target-snowflake, and the demo environment's tap config."""
    if not (SNOWFLAKE_ENV / "python").exists():
        pytest.fail(".venv-snowflake is missing: scripts/setup.sh makes it (tests/snowflake/requirements.txt)")
    env = {"SANDBOX_PORT": str(sandbox.port), "DEMO_START_DATE": days_ago(START).isoformat()}
    project = tmp_path / "meltano-project"
    credentials = {"account": "fakesnow", "user": "fake", "password": "snow", "database": "COHORTS_DB"}
    target_config = {**meltano_config("target-snowflake", env, project), **credentials, "warehouse": "TEST_WAREHOUSE"}
    warehouse = FakeSnowflake(tmp_path, target_config)
    try:
        yield warehouse, meltano_config("tap-cohorts", env, project)
    finally:
        warehouse.stop()


@pytest.mark.e2e
def test_target_snowflake_and_dbt_snowflake_two_daily_runs_then_a_grouping_change(
    snowflake: tuple[FakeSnowflake, dict[str, Any]], sandbox: Sandbox
) -> None:
    """target-snowflake's CLI and dbt-snowflake's build, as meltano.yml runs them, on fakesnow: the same two
    maturing daily runs as PostgreSQL (one row per key, re-synced cohorts take the new values, the unified model's
    values by hand), Snowflake's column types, then a grouping change: a new column, and the old grain's rows
    marked `_sdc_deleted_at` by the post-load step."""
    warehouse, config = snowflake
    catalog = catalog_without_most_of_braze(config)
    state: dict[str, Any] = {}

    def daily_run(first: bool) -> None:
        nonlocal state
        run = run_tap(config, state=state or None, catalog=catalog)
        state = run.final_state
        log = warehouse.load(run.messages)
        assert ("Creating empty table" in log) == first
        if not first:  # (the first run's build is PostgreSQL's and DuckDB's to prove: it costs 15 s here)
            build = warehouse.dbt("build")
            assert "Completed successfully" in build and "PASS=27" in build

    loaded = {name for name in expected_rows(START, sandbox.simulators) if not name.startswith("braze_")}
    check_two_daily_runs(daily_run, warehouse.query, sandbox, tables=loaded | BRAZE_STREAMS)

    types = dict(
        warehouse.query(
            "select lower(table_name) || '.' || lower(column_name), data_type from information_schema.columns "
            "where table_schema = 'COHORTS'"
        )
    )
    assert types["appsflyer_cohorts.cohort_date"] == "DATE"
    assert types["appsflyer_cohorts.period"] == "NUMBER"
    assert types["appsflyer_cohorts.rate"] == "FLOAT"
    assert types["appsflyer_cohorts.is_final"] == "BOOLEAN"
    assert types["appsflyer_cohorts.dimension_key"] == "TEXT"
    assert types["appsflyer_cohorts._sdc_deleted_at"] == "TIMESTAMP_NTZ"
    assert types["adjust_report_cohorts.cohort_size"] == "NUMBER"
    assert types["branch_install_cohorts.per_user"] == "BOOLEAN"
    assert types["braze_campaign_data_series.messages"] == "VARIANT"
    assert types["braze_canvas_details.steps"] == "VARIANT"
    assert types["braze_canvas_data_series.time"] == "DATE"
    assert [n for n, kind in types.items() if kind == "VARIANT" and not n.startswith("braze_")] == []

    # The user adds a level to Adjust's grouping: a new column (ALTER TABLE), rows at the new grain, and the
    # post-load step marks every row of the old grain.
    before = {table: warehouse.query(f"select count(*) from cohorts.{table}")[0][0] for table in ADJUST_TABLES}
    adjust = {**config["adjust"], "grouping": [*config["adjust"]["grouping"], "device_types"]}
    run = run_tap({key: config[key] for key in ("start_date", "lookback_days")} | {"adjust": adjust}, state)
    warehouse.load(run.messages)
    superseded = warehouse.dbt("run-operation", "supersede_stale_rows")  # as `meltano invoke dbt-snowflake:supersede`
    rows = expected_rows(START, sandbox.simulators)
    for table in ADJUST_TABLES:
        assert types[f"{table}.os_name"] == "TEXT" and f"{table}.device_type" not in types
        new_rows = len(run.records(table))
        assert new_rows == 2 * rows[table]  # phone and tablet
        counts = warehouse.query(
            f"select count(*), count(device_type), count(_sdc_deleted_at), count(distinct device_type) "
            f"from cohorts.{table}"
        )
        assert counts == [(before[table] + new_rows, new_rows, before[table], 2)], table
        live = f"select count(*) from cohorts.{table} where _sdc_deleted_at is null and device_type is null"
        assert warehouse.query(live) == [(0,)], table
        assert f"supersede: {table.upper()}: {before[table]} row(s) marked _sdc_deleted_at" in superseded
