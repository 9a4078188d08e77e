"""The warehouse equals the vendor over time, end to end: daily `meltano run`s into PostgreSQL and DuckDB, each
followed by the post-load step, while the sandbox restates the past every day (keys vanish, values move to
renamed keys), a Braze campaign, canvas and segment are deleted, and the AppsFlyer grouping changes.

After every day, each cohort table's current rows equal the sandbox's answer for every unit (stream x partition
x cohort date) as of the day the tap last asked for it: the same keys, the same values, nothing else. Each
`is_final` follows the vendor's rule for the day it was asked. On the days the unified model is built,
`cohort_metrics` holds the same keys and sums. `TRUTH_DAYS` sets the number of simulated days (`make test-truth`
runs 60).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from cohorts_sandbox import Sandbox
from cohorts_sandbox.appsflyer import Query as AppsFlyerQuery
from cohorts_sandbox.branch import Query as BranchQuery
from tap_cohorts.core.records import dimension_key
from tap_cohorts.vendors.appsflyer.settings import fraud_window_closes
from tests.clock import LIBFAKETIME
from tests.conftest import Query
from tests.helpers import TODAY

ROOT = Path(__file__).resolve().parent.parent
DAYS = int(os.environ.get("TRUTH_DAYS", "4"))
START = 20  # the first run backfills this many days
LOOKBACK = 3
DELETE_DAY = 2  # a Braze campaign, canvas and segment are deleted
GRAIN_DAY = 3  # AppsFlyer's groupings go from [pid] to [pid, geo]
DELETED = {"cmp-00001", "cnv-00001", "seg-00001"}
APP = "com.example.puzzle"
AF_PERIODS = (0, 1, 3, 7)
PERIODS = (0, 1, 3, 7, 14, 30)  # the demo environment's Adjust, AppLovin days
APPLOVIN_COLUMNS = ("application", "package_name", "platform", "country")
BRANCH_CAMPAIGN = "install_activity_touch_data_tilde_campaign"
SELECTED = [
    "cohort_syncs.*",
    "appsflyer_cohorts.*",
    "adjust_report_cohorts.*",
    "applovin_cohort_revenue.*",
    "branch_install_cohorts.*",
    *(f"braze_{name}.*" for name in ("campaigns", "campaign_details", "campaign_data_series", "canvases")),
    *(f"braze_{name}.*" for name in ("canvas_details", "segments", "segment_details")),
]
# Per table: unit (partition, cohort date) -> (the day it was asked, {row key: value}).
Expected = dict[str, dict[tuple, tuple[dt.date, dict[tuple, float]]]]


def child_clock(day: dt.date) -> dict[str, str]:
    """The environment that runs a child process at noon UTC of `day` (libfaketime, relative to the real clock)."""
    moment = dt.datetime.combine(day, dt.time(12), dt.timezone.utc)
    already = int(os.environ.get("FAKETIME", "0") or 0)  # a COHORTS_TODAY run moves children already
    offset = round((moment - dt.datetime.now(dt.timezone.utc)).total_seconds()) + already
    preload = [p for p in os.environ.get("LD_PRELOAD", "").split() if p != str(LIBFAKETIME)]
    return {"LD_PRELOAD": " ".join([*preload, str(LIBFAKETIME)]), "FAKETIME": f"{offset:+d}"}


class Simulation:
    """The sandbox's days, the runs and what each table must hold."""

    def __init__(self, sandbox: Sandbox, tmp_path: Path, loader: str, env: dict[str, str], query: Query) -> None:
        self.sandbox, self.tmp_path, self.loader, self.env, self.query = sandbox, tmp_path, loader, env, query
        self.warehouse = loader.removeprefix("target-")
        self.expected: Expected = defaultdict(dict)
        self.groupings = ["pid"]
        self.day = TODAY
        config = sandbox.config
        config.braze_campaigns, config.braze_canvases, config.braze_segments = 6, 4, 5

    def run(self, day_index: int, build: bool) -> str:
        self.day = TODAY + dt.timedelta(days=day_index)
        config = self.sandbox.config
        config.today, config.revision, config.restatement = self.day, day_index, day_index
        self.sandbox.reset()
        appsflyer = {
            "api_token": "af-sandbox-token",
            "base_url": self.sandbox.url("appsflyer"),
            "app_ids": [APP],
            "kpis": ["sessions"],
            "groupings": self.groupings,
            "periods": list(AF_PERIODS),
            "aggregation_type": "on_day",  # the demo environment's is cumulative
            "rate_limits": [{"requests": 60, "seconds": 0.6}, {"requests": 50000, "seconds": 864}],
        }
        environment = {
            **os.environ,
            **child_clock(self.day),
            "SANDBOX_PORT": str(self.sandbox.port),
            "DEMO_START_DATE": (TODAY - dt.timedelta(days=START)).isoformat(),
            "MELTANO_DATABASE_URI": f"sqlite:///{self.tmp_path / 'meltano.db'}",
            "TAP_COHORTS__SELECT": json.dumps(SELECTED),
            "TAP_COHORTS_LOOKBACK_DAYS": str(LOOKBACK),
            "TAP_COHORTS_APPSFLYER": json.dumps(appsflyer),
            **self.env,
        }
        step = f"dbt-{self.warehouse}:{'build' if build else 'supersede'}"
        result = subprocess.run(
            [str(ROOT / ".venv/bin/meltano"), "--environment=demo", "run", "tap-cohorts", self.loader, step],
            cwd=ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-6000:]
        self.learn_units()
        return result.stderr

    # What the vendors answered today, for every unit the tap asked.

    def learn_units(self) -> None:
        for request in self.sandbox.requests_to("appsflyer"):
            body = request.json()
            self.answer("appsflyer_cohorts", (), body["from"], body["to"], self.appsflyer_rows)
        for request in self.sandbox.requests_to("adjust", "/reports-service/"):
            first, last = request.query["date_period"][0].split(":")
            app = request.query["app_token__in"][0]
            self.answer("adjust_report_cohorts", (app,), first, last, lambda day, app=app: self.adjust_rows(app, day))
        for request in self.sandbox.requests_to("applovin"):
            self.answer(
                "applovin_cohort_revenue", (), request.query["start"][0], request.query["end"][0], self.applovin_rows
            )
        for request in self.sandbox.requests_to("branch"):
            if request.method == "POST":
                body = request.json()
                self.answer("branch_install_cohorts", (), body["start_date"], body["end_date"], self.branch_rows)

    def answer(self, table: str, partition: tuple, first: str, last: str, rows: Callable[[dt.date], dict]) -> None:
        day = dt.date.fromisoformat(first)
        while day <= dt.date.fromisoformat(last):
            self.expected[table][(partition, day)] = (self.day, rows(day))
            day += dt.timedelta(days=1)

    def appsflyer_rows(self, day: dt.date) -> dict[tuple, float]:
        query = AppsFlyerQuery(
            APP, "user_acquisition", "sessions", day, day, (*self.groupings, "date"), "on_day", AF_PERIODS
        )
        return {
            (day.isoformat(), dimension_key(row.dimensions), period): cell["count"]
            for row in self.sandbox.simulators["appsflyer"].truth(query)
            for period, cell in row.values.items()
        }

    def adjust_rows(self, app: str, day: dt.date) -> dict[tuple, float]:
        service = self.sandbox.simulators["adjust"].reports
        age = (self.day - day).days
        return {
            (app, day.isoformat(), dict(cohort.dimensions)["country_code"], dict(cohort.dimensions)["network"], n): (
                service.day_value(cohort, "revenue_total", n)
            )
            for cohort in service.cohorts([app], day, day, ["country_code", "network"])
            for n in PERIODS
            if n <= age
        }

    def applovin_rows(self, day: dt.date) -> dict[tuple, float]:
        rows = self.sandbox.simulators["applovin"].table("/maxCohort", day, day, list(APPLOVIN_COLUMNS), {})
        return {
            (day.isoformat(), *(row[c] for c in APPLOVIN_COLUMNS), p): float(row[f"pub_revenue_{p}"])
            for row in rows
            for p in PERIODS
        }

    def branch_rows(self, day: dt.date) -> dict[tuple, float]:
        query = BranchQuery("install_cohort", day, day, (BRANCH_CAMPAIGN, "install_activity_timezone_adjusted_day"),
                            ("OPEN",), "day", 7)  # fmt: skip
        return {
            (row["metric"], day.isoformat(), row[BRANCH_CAMPAIGN], int(band.removeprefix("day"))): float(value)
            for row in self.sandbox.simulators["branch"].rows(query)
            for band, value in row["data"].items()
        }

    # What the warehouse holds.

    def current(self, table: str) -> str:
        columns = {name for (name,) in self.query(
            "select column_name from information_schema.columns "
            f"where table_schema = 'cohorts' and table_name = '{table}'"
        )}  # fmt: skip
        return f"cohorts.{table}" + (" where _sdc_deleted_at is null" if "_sdc_deleted_at" in columns else "")

    def rows(self, table: str, key: str, value: str) -> dict[tuple, tuple[float, bool]]:
        found = self.query(f"select {key}, {value}, is_final from {self.current(table)}")
        return {
            tuple(str(v)[:10] if i == 0 else v for i, v in enumerate(row[:-2])): (row[-2], row[-1]) for row in found
        }

    def check_tables(self) -> dict[str, int]:
        """Every cohort table: exactly the expected keys and values, and is_final by the vendor's rule."""
        tables = {
            "appsflyer_cohorts": ("cohort_date, dimension_key, period", "count", lambda k: k),
            "adjust_report_cohorts": (
                "cohort_date, app_token, country_code, network, period",
                "revenue_total",
                lambda k: (k[1], k[0], k[2], k[3], k[4]),
            ),
            "applovin_cohort_revenue": (
                f"cohort_date, {', '.join(APPLOVIN_COLUMNS)}, period",
                "pub_revenue",
                lambda k: k,
            ),
            "branch_install_cohorts": (
                f"cohort_date, metric, {BRANCH_CAMPAIGN}, period",
                "value",
                lambda k: (k[1], k[0], k[2], k[3]),
            ),
        }
        sizes = {}
        for table, (key, value, order) in tables.items():
            found = {order(k): v for k, v in self.rows(table, key, value).items()}
            want: dict[tuple, tuple[float, bool]] = {}
            for (_, cohort_date), (asked, rows) in self.expected[table].items():
                for row_key, row_value in rows.items():
                    want[row_key] = (row_value, self.is_final(table, cohort_date, row_key[-1], asked))
            assert found.keys() == want.keys(), (
                f"{self.warehouse} {self.day} {table}: {len(found.keys() - want.keys())} rows the vendor no longer "
                f"returns, {len(want.keys() - found.keys())} missing; e.g. {sorted(found.keys() - want.keys())[:3]}"
            )
            for row_key, (row_value, final) in want.items():
                assert float(found[row_key][0]) == pytest.approx(row_value, rel=1e-9), (table, row_key)
                assert bool(found[row_key][1]) is final, (self.day, table, row_key, "is_final")
            total = self.query(f"select sum({value}) from {self.current(table)}")[0][0]
            assert float(total) == pytest.approx(sum(v for v, _ in want.values()), rel=1e-9), table
            sizes[table] = len(want)
        return sizes

    @staticmethod
    def is_final(table: str, cohort_date: dt.date, period: int, asked: dt.date) -> bool:
        """The vendors' rules, as docs/runs.md states them, for a value asked on `asked`."""
        complete = cohort_date + dt.timedelta(days=period + 1)
        if table == "appsflyer_cohorts":
            return asked >= max(complete, fraud_window_closes(cohort_date))
        if table == "applovin_cohort_revenue":
            return period + 1 <= 44 and asked >= complete
        return asked >= complete  # Adjust's day N, Branch's day band b

    def check_braze(self, deleted: set[str]) -> None:
        braze = self.sandbox.simulators["braze"]
        for kind, table, children in (
            ("campaigns", "braze_campaigns", (("braze_campaign_details", "campaign_id"),
                                              ("braze_campaign_data_series", "campaign_id"))),
            ("canvases", "braze_canvases", (("braze_canvas_details", "canvas_id"),)),
            ("segments", "braze_segments", (("braze_segment_details", "segment_id"),)),
        ):  # fmt: skip
            listed = {item["id"] for item in braze.items(kind)} - deleted
            assert {row[0] for row in self.query(f"select id from {self.current(table)}")} == listed, table
            for child, key in children:
                assert {row[0] for row in self.query(f"select distinct {key} from {self.current(child)}")} == listed
                if deleted and self.warehouse == "postgres":  # marked, not removed: the history stays
                    marked = self.query(f"select distinct {key} from cohorts.{child} where _sdc_deleted_at is not null")
                    assert {row[0] for row in marked} == deleted & {item["id"] for item in braze.items(kind)}, child

    def check_unified(self) -> None:
        """cohort_metrics: per vendor, the keys and sums the expected rows add up to, and is_final."""
        want: dict[str, dict[tuple, list]] = defaultdict(lambda: defaultdict(lambda: [0.0, True]))
        for table, units in self.expected.items():
            for (_, cohort_date), (asked, rows) in units.items():
                for row_key, value in rows.items():
                    final = self.is_final(table, cohort_date, row_key[-1], asked)
                    if table == "appsflyer_cohorts":
                        dims = json.loads(row_key[1])
                        vendor, key = "appsflyer", (APP, row_key[0], (dims.get("geo") or "").upper(), dims["pid"])
                    elif table == "adjust_report_cohorts":
                        vendor, key = "adjust", (row_key[0], row_key[1], row_key[2].upper(), row_key[3])
                    elif table == "applovin_cohort_revenue":
                        vendor, key = "applovin", (row_key[2], row_key[0], row_key[4].upper(), "")
                    elif row_key[0] == "total_count":
                        vendor, key = "branch", ("", row_key[1], "", row_key[2])
                    else:
                        continue
                    cell = want[vendor][(*key, row_key[-1])]
                    cell[0] += value
                    cell[1] = cell[1] and final
        measure = {"appsflyer": "sessions", "adjust": "revenue_cumulative", "applovin": "revenue_cumulative",
                   "branch": "sessions"}  # fmt: skip
        for vendor, cells in want.items():
            found = self.query(
                f"select app_id, cohort_date, country, source, period, {measure[vendor]}, is_final "
                f"from analytics.cohort_metrics where vendor = '{vendor}'"
            )
            got = {
                (row[0] or "", str(row[1])[:10], row[2] or "", row[3] or "", row[4]): (row[5], row[6]) for row in found
            }
            assert got.keys() == cells.keys(), f"{self.day} cohort_metrics {vendor}"
            for key, (total, final) in cells.items():
                assert float(got[key][0]) == pytest.approx(total, rel=1e-9), (vendor, key)
                assert got[key][1] is final, (vendor, key, "is_final")


def simulate(sandbox: Sandbox, tmp_path: Path, loader: str, env: dict[str, str], query: Query) -> None:
    simulation = Simulation(sandbox, tmp_path, loader, env, query)
    for day in range(DAYS):
        if day == DELETE_DAY:
            sandbox.config.braze_deleted = set(DELETED)
        if day == GRAIN_DAY:
            simulation.groupings = ["pid", "geo"]
        log = simulation.run(day, build=day in (0, GRAIN_DAY, DAYS - 1))
        if day == GRAIN_DAY:
            assert 'grain changed since the last run (groupings: ["pid"] -> ["geo", "pid"])' in log
            # The whole history again, in the new grain.
            froms = sorted(r.json()["from"] for r in sandbox.requests_to("appsflyer"))
            assert froms[0] == (TODAY - dt.timedelta(days=START)).isoformat()
        simulation.check_tables()
        simulation.check_braze(DELETED if day >= DELETE_DAY else set())
        if day in (0, GRAIN_DAY, DAYS - 1):
            simulation.check_unified()


@pytest.mark.e2e
def test_duckdb_equals_the_vendor_every_day(sandbox: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"

    def query(sql: str) -> list[tuple[Any, ...]]:
        with duckdb.connect(str(path), read_only=True) as connection:
            return connection.execute(sql).fetchall()

    simulate(sandbox, tmp_path, "target-duckdb", {"TARGET_DUCKDB_FILEPATH": str(path)}, query)


@pytest.mark.e2e
def test_postgres_equals_the_vendor_every_day(
    sandbox: Sandbox, postgres: tuple[dict[str, str], Query], tmp_path: Path
) -> None:
    env, query = postgres
    simulate(sandbox, tmp_path, "target-postgres", env, query)
