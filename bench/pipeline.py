"""The pipeline as users run it: per stream shape, the tap alone (its messages recorded to a file), each loader
alone on those messages (with `meltano.yml`'s settings), tap | loader (the two processes as `meltano run` joins
them, each one's peak RSS), and `meltano run tap-cohorts <loader>` end to end; records/s, and which side bounds
the pipeline. Into DuckDB and the PostgreSQL server this starts.

The loader alone and `meltano run` are each measured BENCH_PIPELINE_ROUNDS times (default 2), in turn, and the
fastest of each is kept: on this machine the same load varies by up to a fifth from one minute to the next, and
taking them in turn spreads that drift over both.

Run: `make bench` (with the rest), or `.venv/bin/python bench/pipeline.py`. `BENCH_PIPELINE_RECORDS` (default
1,000,000) sets the size of each shape; `BENCH_PIPELINE_SHAPES` (e.g. `AppsFlyer CSV,Braze series`) picks some,
`BENCH_PIPELINE_LOADERS` (e.g. `target-postgres`) the loaders.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, ExitStack, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.run import BIN, ROOT, TODAY, SandboxProcess, branch_config, catalog_selecting, installed_tap, progress
from tests.postgres_server import PostgresServer, running_postgres

RECORDS = int(os.environ.get("BENCH_PIPELINE_RECORDS", 1_000_000))
ONLY = [name for name in os.environ.get("BENCH_PIPELINE_SHAPES", "").split(",") if name]  # e.g. "Braze series"
LOADER_NAMES = os.environ.get("BENCH_PIPELINE_LOADERS", "target-duckdb,target-postgres")
# e.g. `target-postgres`: one loader only (a million records a shape take minutes a loader)
LOADERS = [name for name in LOADER_NAMES.split(",") if name]
ROUNDS = int(os.environ.get("BENCH_PIPELINE_ROUNDS", 2))
# Issue 28's bound: `meltano run` into PostgreSQL within this of the loader alone (the tap never the bottleneck).
WITHIN = 1.2
FAST = [{"requests": 100_000, "seconds": 1}]


@dataclass
class Shape:
    """A stream shape: the sandbox's size for about RECORDS records, and the tap's config for it."""

    name: str
    stream: str
    sandbox: dict[str, Any]
    config: Callable[[SandboxProcess], dict]
    # A first run, unmeasured, has the sandbox build its answers: AppLovin's report tables (built on a query's first
    # page), Braze's series (kept with `braze_answer_cache`). Measured, the sandbox then stands in for a vendor on
    # another machine: its CPU does not compete with the tap, Meltano, the loader and PostgreSQL on the two cores.
    warm_up: bool = False


def shapes() -> list[Shape]:
    scale = RECORDS / 1_000_000
    af_days = max(1, round(93 * scale))  # 400 cohorts a day x 27 periods
    countries = max(1, math.ceil(350 * scale))  # 4 apps a country, 45 days x 16 periods
    campaigns = max(1, round(10_000 * scale))  # 100 days of series each
    branch_days = max(1, round(90 * scale))
    return [
        Shape(
            "AppsFlyer CSV",
            "appsflyer_cohorts",
            {"appsflyer_cardinality": {"pid": 8, "c": 5, "geo": 10}},
            lambda sandbox: {
                "start_date": (TODAY - dt.timedelta(days=af_days)).isoformat(),
                "appsflyer": {
                    "api_token": "af-sandbox-token",
                    "base_url": sandbox.url("appsflyer"),
                    "app_ids": ["com.example.puzzle"],
                    "kpis": ["sessions"],
                    "groupings": ["pid", "c", "geo"],
                    "rate_limits": FAST,
                },
            },
        ),
        Shape(
            "AppLovin JSON",
            "applovin_cohort_revenue",
            {"applovin_countries": countries},
            lambda sandbox: {
                "applovin": {
                    "api_key": "applovin-sandbox-report-key",
                    "base_url": sandbox.url("applovin"),
                    "rate_limits": FAST,
                }
            },
            warm_up=True,
        ),
        Shape(
            "Branch export",
            "branch_install_cohorts",
            {"branch_cardinality": {"touch_data_tilde_campaign": 20, "data_country_code": 12}},
            lambda sandbox: branch_config(sandbox, branch_days, FAST),
        ),
        Shape(
            "Braze series",
            "braze_campaign_data_series",
            {"braze_counts": {"campaigns": campaigns}, "braze_answer_cache": True},
            lambda sandbox: {
                "start_date": (TODAY - dt.timedelta(days=100)).isoformat(),
                "braze": {
                    "api_key": "braze-sandbox-api-key",
                    "app_group_id": "ag-sandbox",
                    "base_url": sandbox.url("braze"),
                    "news_feed": False,
                    "rate_limits": FAST,
                },
            },
            warm_up=True,
        ),
    ]


def target_database(loader: str, postgres: PostgresServer, name: str) -> AbstractContextManager[str]:
    """A fresh PostgreSQL database for target-postgres; for target-duckdb, the name of its file."""
    return postgres.database(name) if loader == "target-postgres" else nullcontext(name)


def loader_config(loader: str, folder: Path, postgres: PostgresServer, database: str) -> dict:
    """The loader's settings as `meltano.yml` gives them, and where it writes."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    plugin = next(p for p in project["plugins"]["loaders"] if p["name"] == loader)
    config = dict(plugin.get("config") or {})
    if loader == "target-duckdb":
        config["filepath"] = str(folder / f"{database}.duckdb")
    else:
        config.update(host=postgres.host, port=postgres.port, user=postgres.user, password=postgres.password or "bench")
        config["database"] = database
    return config


def meltano_env(loader: str, config: dict, tap_config: dict, shape: Shape, folder: Path) -> dict[str, str]:
    """`meltano run`'s environment: the tap's vendor section and selection, the loader's connection."""
    prefix = loader.upper().replace("-", "_")
    env = {
        **os.environ,
        "MELTANO_DATABASE_URI": f"sqlite:///{folder / 'meltano.db'}",
        "TAP_COHORTS__SELECT": json.dumps([f"{shape.stream}.*"]),
        **{
            f"TAP_COHORTS_{key.upper()}": json.dumps(value) if isinstance(value, dict) else str(value)
            for key, value in tap_config.items()
        },
    }
    for key in ("filepath", "host", "port", "user", "password", "database"):
        if key in config:
            env[f"{prefix}_{key.upper()}"] = str(config[key])
    return env


def wait(process: subprocess.Popen) -> float:
    """Wait for the process; its own peak RSS in MB."""
    _, status, usage = os.wait4(process.pid, 0)
    if status:
        raise RuntimeError(f"{process.args[0]} failed ({status})")
    return usage.ru_maxrss / 1024


def target_path(loader: str) -> Path:
    return ROOT / f".meltano/loaders/{loader}/venv/bin/{loader}"


def run_meltano(loader: str, config: dict, tap_config: dict, shape: Shape, folder: Path, run: str) -> float:
    """`meltano run tap-cohorts <loader>` end to end, as a user runs it: its seconds. Each run has a state ID of
    its own (`run`), so each starts with no state, as the tap alone did: not from the bookmarks of the one before."""
    started = time.monotonic()
    subprocess.run(
        [str(BIN / "meltano"), "--environment=bench", "run", f"--state-id-suffix={run}", "tap-cohorts", loader],
        cwd=ROOT,
        env=meltano_env(loader, config, tap_config, shape, folder),
        check=True,
        capture_output=True,
    )
    return time.monotonic() - started


def loaded_rows(loader: str, config: dict, stream: str) -> int:
    """Rows in the stream's table after a load: every measured load must have loaded every record."""
    query = f"select count(*) from {config['default_target_schema']}.{stream}"
    if loader == "target-postgres":
        import psycopg

        keys = {"host": "host", "port": "port", "user": "user", "password": "password", "database": "dbname"}
        with psycopg.connect(**{name: config[key] for key, name in keys.items()}) as connection:
            row = connection.execute(query).fetchone()
            return int(row[0]) if row else 0
    python = target_path(loader).parent / "python"  # the loader's own duckdb, which wrote the file
    script = "import duckdb, sys; print(duckdb.connect(sys.argv[1], read_only=True).execute(sys.argv[2]).fetchone()[0])"
    return int(subprocess.run([str(python), "-c", script, config["filepath"], query], capture_output=True,
                              text=True, check=True).stdout)  # fmt: skip


def count_records(path: Path) -> int:
    with path.open("rb") as messages:
        return sum(1 for line in messages if line.startswith(b'{"type":"RECORD"'))


def measure_shape(shape: Shape, postgres: PostgresServer, folder: Path) -> list[dict[str, Any]]:
    sandbox = SandboxProcess(time_scale=0.001, **shape.sandbox)
    try:
        tap_config = shape.config(sandbox)
        (folder / "tap.json").write_text(json.dumps(tap_config))
        catalog = catalog_selecting(tap_config, {shape.stream})
        (folder / "catalog.json").write_text(json.dumps(catalog))
        tap_args = [
            installed_tap(),
            "--config",
            str(folder / "tap.json"),
            "--catalog",
            str(folder / "catalog.json"),
        ]
        messages = folder / "messages.jsonl"
        if shape.warm_up:
            progress(f"{shape.name}: a first run, to build the sandbox's answers")
            subprocess.run(tap_args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            sandbox.reset()
        progress(f"{shape.name}: the tap alone")
        started = time.monotonic()
        with messages.open("wb") as out:
            tap_rss = wait(subprocess.Popen(tap_args, stdout=out, stderr=subprocess.DEVNULL))
        tap_seconds = time.monotonic() - started
        records = count_records(messages)  # only the shape's stream is selected
        rows = []
        for loader in LOADERS:
            figures: dict[str, Any] = {"shape": shape.name, "loader": loader, "records": records}
            figures.update(tap_seconds=tap_seconds, tap_rss=tap_rss, loader_seconds=[], meltano_seconds=[])
            steps = [("alone", "piped", "meltano")] + [("alone", "meltano")] * (ROUNDS - 1)
            for number, step in enumerate(name for round_ in steps for name in round_):
                database = f"{shape.stream}_{loader.replace('-', '_')}_{step}_{number}"
                with target_database(loader, postgres, database) as name:
                    config = loader_config(loader, folder, postgres, name)
                    progress(f"{shape.name}: {loader} {step}")
                    (folder / "target.json").write_text(json.dumps(config))
                    target_args = [str(target_path(loader)), "--config", str(folder / "target.json")]
                    started = time.monotonic()
                    if step == "meltano":
                        seconds = run_meltano(loader, config, tap_config, shape, folder, run=database)
                        figures["meltano_seconds"].append(seconds)
                    elif step == "alone":
                        with messages.open("rb") as stdin:
                            figures["loader_rss"] = wait(
                                subprocess.Popen(
                                    target_args, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                                )
                            )
                        figures["loader_seconds"].append(time.monotonic() - started)
                    else:
                        tap = subprocess.Popen(tap_args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
                        load = subprocess.Popen(
                            target_args, stdin=tap.stdout, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                        )
                        assert tap.stdout is not None
                        tap.stdout.close()
                        figures["piped_tap_rss"], figures["piped_loader_rss"] = wait(tap), wait(load)
                        figures["piped_seconds"] = time.monotonic() - started
                    loaded = loaded_rows(loader, config, shape.stream)
                    if loaded != records:
                        figures.setdefault("short", []).append(f"{step}: {loaded:,} rows")
                sandbox.reset()
            rows.append(figures)
        return rows
    finally:
        sandbox.stop()


def pipeline_table(rows: list[dict[str, Any]]) -> list[str]:
    """Per shape and loader: records/s of each side and of the two ways of joining them; the loader alone and
    `meltano run` the fastest of their rounds, and `meltano run` against the loader alone, the issue's measure."""

    def rate(seconds: float, records: int) -> str:
        return f"{records / seconds:,.0f}/s"

    def rounds(seconds: list[float]) -> str:
        return f" (best of {', '.join(f'{each:.1f}' for each in seconds)} s)" if len(seconds) > 1 else ""

    lines = [
        "| shape | records | tap alone | loader alone | tap \\| loader | `meltano run` | `meltano run` against the "
        "loader alone | bound | peak RSS: tap, loader |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    over = []
    for row in rows:
        n, loader_seconds, meltano_seconds = row["records"], min(row["loader_seconds"]), min(row["meltano_seconds"])
        bound = "loader" if loader_seconds > row["tap_seconds"] else "tap"
        within = row["piped_seconds"] / max(loader_seconds, row["tap_seconds"])
        ratio = meltano_seconds / loader_seconds
        if row["loader"] == "target-postgres" and ratio > WITHIN:
            over.append(f"{row['shape']} ({ratio:.2f}x)")
        lines.append(
            f"| {row['shape']} into {row['loader'].removeprefix('target-')} | {n:,} | {rate(row['tap_seconds'], n)} "
            f"| {rate(loader_seconds, n)}{rounds(row['loader_seconds'])} | {rate(row['piped_seconds'], n)} "
            f"({within:.2f}x the slower alone) | {rate(meltano_seconds, n)}{rounds(row['meltano_seconds'])} "
            f"| {ratio:.2f}x | {bound} | {row['piped_tap_rss']:.0f} MB, "
            f"{row['piped_loader_rss']:.0f} MB |"
        )
    for row in rows:
        if row.get("short"):
            lines += ["", f"{row['shape']} into {row['loader']}: a load left rows out ({'; '.join(row['short'])})."]
    if any(row["loader"] == "target-postgres" for row in rows):
        verdict = "every shape." if not over else "not " + "; ".join(over) + "."
        lines += ["", f"`meltano run` into PostgreSQL within {WITHIN}x of the loader alone (issue 28): {verdict}"]
    return lines


def pipeline() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    with ExitStack() as stack:
        postgres = stack.enter_context(running_postgres())
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        for shape in shapes():
            if ONLY and shape.name not in ONLY:
                continue
            rows += measure_shape(shape, postgres, folder)
            progress("\n" + "\n".join(pipeline_table(rows)))
    return rows


if __name__ == "__main__":
    print("\n".join(pipeline_table(pipeline())))
