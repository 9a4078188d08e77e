"""Partitioned Meltano jobs run at the same time: each keeps its own state id and only its own bookmarks.

The jobs are meltano.yml's own (`cohorts-<partition>-to-postgres`, one inherited tap-cohorts plugin each), run
twice, all at once each time, into one PostgreSQL database and one Meltano system database, like an
orchestrator would start them, after one run of the unpartitioned job (which has a state id of its own too).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest

from cohorts_sandbox import Sandbox
from tests.demo_truth import branch_rows, expected_rows, primary_key
from tests.helpers import days_ago
from tests.postgres_server import PostgresServer

ROOT = Path(__file__).resolve().parent.parent
MELTANO = str(ROOT / ".venv/bin/meltano")
START = 20  # days ago
LOOKBACK = 7  # the demo environment's lookback_days
# job -> (the partition plugin, the app ids it owns); Branch's partitions are its data sources.
JOBS = {
    "cohorts-appsflyer-puzzle-to-postgres": ("tap-cohorts-appsflyer-puzzle", {"com.example.puzzle"}),
    "cohorts-appsflyer-ios-to-postgres": ("tap-cohorts-appsflyer-ios", {"id1234567890"}),
    "cohorts-branch-to-postgres": ("tap-cohorts-branch", set()),
}


def run_all_at_once(env: dict[str, str]) -> None:
    processes = {
        job: subprocess.Popen(
            [MELTANO, "--environment=demo", "run", job],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for job in JOBS
    }
    for job, process in processes.items():
        _, stderr = process.communicate(timeout=600)
        errors = [line for line in stderr.splitlines() if "rror" in line and "│" not in line]
        assert process.returncode == 0, f"{job}: " + "\n".join(errors[:30])


def state_of(plugin: str, env: dict[str, str]) -> dict[str, Any]:
    state_id = f"demo:{plugin}-to-target-postgres"
    result = subprocess.run(
        [MELTANO, "--environment=demo", "state", "get", state_id], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout)["singer_state"]


def bookmarks(state: dict[str, Any]) -> dict[str, dict[str, str]]:
    """stream -> {partition as JSON ("{}" for a stream without partitions): bookmark}"""
    return {
        stream: {
            json.dumps(p.get("context", {}), sort_keys=True): p["replication_key_value"]
            for p in value.get("partitions", [value])
        }
        for stream, value in state["bookmarks"].items()
        if stream != "cohort_syncs"  # the tap's log of units: no bookmark of its own
    }


@pytest.mark.e2e
def test_parallel_jobs_keep_their_own_state(sandbox: Sandbox, postgres_server: PostgresServer, tmp_path: Path) -> None:
    with postgres_server.database("cohorts_partitions") as database:
        env = {
            **os.environ,
            "SANDBOX_PORT": str(sandbox.port),
            "DEMO_START_DATE": days_ago(START).isoformat(),
            "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
            "TARGET_POSTGRES_HOST": postgres_server.host,
            "TARGET_POSTGRES_PORT": str(postgres_server.port),
            "TARGET_POSTGRES_USER": postgres_server.user,
            "TARGET_POSTGRES_PASSWORD": postgres_server.password,
            "TARGET_POSTGRES_DATABASE": database,
        }
        # Before jobs run in parallel, one run alone creates Meltano's system database and the warehouse's schema
        # and tables (first-time migrations, and target-postgres's CREATE SCHEMA / CREATE TABLE, race).
        first = {**env, "DEMO_START_DATE": days_ago(1).isoformat()}
        created = subprocess.run(
            [MELTANO, "--environment=demo", "run", "cohorts-to-postgres"], cwd=ROOT, env=first, capture_output=True
        )
        assert created.returncode == 0, created.stderr[-3000:]
        whole = state_of("tap-cohorts", env)
        run_all_at_once(env)

        states = {plugin: bookmarks(state_of(plugin, env)) for plugin, _ in JOBS.values()}
        yesterday, today = days_ago(1).isoformat(), days_ago(0).isoformat()
        for plugin, apps in JOBS.values():
            if not apps:
                continue
            # Every partition of this job's apps is bookmarked at the last complete day, and nothing else is.
            assert set(states[plugin]) == {"appsflyer_cohorts"}, plugin
            partitions = states[plugin]["appsflyer_cohorts"]
            assert {json.loads(p)["app_id"] for p in partitions} == apps, plugin
            assert len(partitions) == 2 and set(partitions.values()) == {yesterday}, partitions  # 2 KPIs each
        branch = states["tap-cohorts-branch"]
        assert set(branch) == {"branch_install_cohorts", "branch_reengagement_cohorts"}
        assert {bookmark for stream in branch.values() for bookmark in stream.values()} == {today}

        # The second round: each job reads its own bookmarks, so each asks only for its lookback.
        sandbox.reset()
        run_all_at_once(env)
        appsflyer = sandbox.requests_to("appsflyer")
        assert {r.path.rsplit("/", 1)[1] for r in appsflyer} == {"com.example.puzzle", "id1234567890"}
        for app in ("com.example.puzzle", "id1234567890"):
            first = min(r.json()["from"] for r in appsflyer if r.path.endswith(app))
            assert first == days_ago(LOOKBACK + 1).isoformat()  # bookmark (yesterday) - lookback
        posts = [r for r in sandbox.requests_to("branch") if r.method == "POST"]
        assert {r.json()["start_date"] for r in posts} == {days_ago(LOOKBACK).isoformat()}
        assert {plugin: bookmarks(state_of(plugin, env)) for plugin, _ in JOBS.values()} == states
        assert state_of("tap-cohorts", env) == whole  # the unpartitioned job's state is its own as well

        with psycopg.connect(
            host=postgres_server.host, port=postgres_server.port, user=postgres_server.user, dbname=database
        ) as connection:
            key = primary_key("appsflyer_cohorts")
            counts = connection.execute(
                f"select count(*), count(distinct ({key})) from cohorts.appsflyer_cohorts"
            ).fetchone()
            expected = expected_rows(START, sandbox.simulators)["appsflyer_cohorts"]
            assert counts == (expected, expected)  # every row, each key once
            install = connection.execute("select count(*) from cohorts.branch_install_cohorts").fetchone()
            assert install == (branch_rows(sandbox.simulators, START, "install_cohort"),)
