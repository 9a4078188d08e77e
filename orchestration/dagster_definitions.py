"""Dagster definitions for this Meltano project: one Dagster job per Meltano job, one schedule per Meltano schedule.

    dagster dev -f orchestration/dagster_definitions.py

Each Dagster job runs `meltano run <job>` in the project, so Meltano keeps doing what it does (plugin config,
state under each job's own state id, the loaders); Dagster adds what an orchestrator adds: parallel runs, retries,
schedules, run history and logs. The jobs and schedules are read from Meltano itself (`meltano job list`,
`meltano schedule list`), so meltano.yml stays the one place they are defined.

Why not the `dagster-meltano` package: its last release (1.5.5) imports `dagster-shell`, whose releases end with
Dagster 1.9 (with current Dagster, pip resolves a 2021 `dagster-shell` that fails on import), and it runs each
task with `--force`, which lets two runs of one job overlap on one state id.
"""

import json
import os
import re
import subprocess
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import dagster as dg

PROJECT_ROOT = Path(os.environ.get("MELTANO_PROJECT_ROOT", Path(__file__).resolve().parent.parent))
LAST_LINES = 40
# The meltano next to this interpreter (the project's virtualenv), else the one on PATH.
MELTANO_BIN = Path(sys.executable).with_name("meltano")


class MeltanoProject(dg.ConfigurableResource):
    """Where the Meltano project is, and how to call it."""

    project_dir: str = str(PROJECT_ROOT)
    environment: str | None = None
    meltano_bin: str = str(MELTANO_BIN) if MELTANO_BIN.exists() else "meltano"

    def command(self, *args: str) -> list[str]:
        environment = [f"--environment={self.environment}"] if self.environment else []
        return [self.meltano_bin, *environment, *args]


def dagster_name(meltano_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", meltano_name)


def run_meltano_job(context: dg.OpExecutionContext, meltano: MeltanoProject, job: str) -> float:
    """`meltano run <job>`, its log lines streamed into Dagster's; a failure carries the last lines."""
    command = meltano.command("run", job)
    context.log.info(f"running {' '.join(command)} in {meltano.project_dir}")
    started = time.monotonic()
    last_lines: deque[str] = deque(maxlen=LAST_LINES)
    with subprocess.Popen(
        command, cwd=meltano.project_dir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            last_lines.append(line.rstrip())
            context.log.info(line.rstrip())
    if process.returncode != 0:
        raise dg.Failure(
            description=f"meltano run {job} failed with exit code {process.returncode}",
            metadata={"last lines": dg.MetadataValue.text("\n".join(last_lines))},
        )
    return time.monotonic() - started


def job_definition(job: str, tasks: list[str]) -> dg.JobDefinition:
    @dg.op(name=f"meltano_run_{dagster_name(job)}", description=f"`meltano run {job}`: {'; '.join(tasks)}")
    def meltano_run(context: dg.OpExecutionContext, meltano: MeltanoProject) -> None:
        seconds = run_meltano_job(context, meltano, job)
        context.log_event(
            dg.AssetMaterialization(
                asset_key=["meltano", dagster_name(job)],
                description=f"tables loaded by `meltano run {job}`",
                metadata={"tasks": "; ".join(tasks), "seconds": round(seconds, 1)},
            )
        )

    @dg.job(name=dagster_name(job), description=f"The Meltano job `{job}`.", tags={"meltano_job": job})
    def meltano_job() -> None:
        meltano_run()

    return meltano_job


def meltano_json(project: MeltanoProject, *args: str) -> dict[str, Any]:
    result = subprocess.run(
        project.command(*args, "--format=json"), cwd=project.project_dir, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"meltano {' '.join(args)} failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout)


def build_definitions(project: MeltanoProject | None = None) -> dg.Definitions:
    project = project or MeltanoProject()
    jobs = {
        job["job_name"]: job_definition(job["job_name"], job["tasks"])
        for job in meltano_json(project, "job", "list")["jobs"]
    }
    schedules = [
        dg.ScheduleDefinition(
            name=dagster_name(schedule["name"]),
            job=jobs[schedule["job"]["name"]],
            cron_schedule=schedule["cron_interval"],
            execution_timezone="UTC",
        )
        for schedule in meltano_json(project, "schedule", "list")["schedules"]["job"]
    ]
    return dg.Definitions(jobs=list(jobs.values()), schedules=schedules, resources={"meltano": project})


defs = build_definitions()
