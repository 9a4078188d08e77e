"""Every requested period lands once it is complete: the tap run once a day for 200 simulated days (with a gap
of a week and a failed day in between), its records upserted by primary key as a warehouse would; at the end
every cohort's every complete period holds the sandbox's final value. The sandbox's values for a cohort and
period change until the period is complete (Adjust and Branch send periods in progress), then stay."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

import pytest
import time_machine

from cohorts_sandbox import Fault, Sandbox
from tests.helpers import TapRun, appsflyer_config, days_ago, run_tap
from tests.test_adjust import adjust_config
from tests.test_adjust_report import report_config
from tests.test_branch import branch_config
from tests.test_reliability import keyed

DAYS = 200
GAP = range(90, 97)  # the job did not run for a week
FAILED_DAY = 140  # the vendor failed that day


def simulate(sandbox: Sandbox, config: dict, vendor: str) -> tuple[dict[str, dict], dict[str, dict], list[int]]:
    """Daily runs over DAYS days from today: the warehouse after them, a clean backfill on the last day, and the
    requests of each daily run."""
    logging.getLogger("tap-cohorts").setLevel(logging.WARNING)
    warehouse: dict[str, dict] = {}
    state: dict | None = None
    requests: list[int] = []
    start = dt.datetime.combine(days_ago(0), dt.time(12), tzinfo=dt.timezone.utc)
    for day in range(DAYS):
        if day in GAP:
            continue
        with time_machine.travel(start + dt.timedelta(days=day), tick=False):
            sandbox.reset()
            if day == FAILED_DAY:
                sandbox.add_fault(Fault("status", vendor=vendor, status=404, times=1000))
            run: TapRun = run_tap(config, state=state, expect_error=day == FAILED_DAY)
            requests.append(len(sandbox.requests_to(vendor)))
            state = run.final_state
            for stream, rows in keyed(run).items():
                warehouse.setdefault(stream, {}).update(rows)
    with time_machine.travel(start + dt.timedelta(days=DAYS - 1), tick=False):
        clean = keyed(run_tap(config))
    return warehouse, clean, requests


def check(warehouse: dict, clean: dict, complete: Callable[[dict], bool]) -> int:
    """Every complete cohort x period of the clean backfill is in the warehouse with the same values."""
    compared = 0
    for stream, rows in clean.items():
        for key, record in rows.items():
            if complete(record):
                assert warehouse[stream].get(key) == record, f"{stream} {key}: missing or stale"
                compared += 1
    return compared


def age(record: dict, last_day: dt.date) -> int:
    return (last_day - dt.date.fromisoformat(record["cohort_date"])).days


@pytest.fixture
def last_day() -> dt.date:
    return days_ago(0) + dt.timedelta(days=DAYS - 1)


def test_appsflyer_day_60_90_and_180_land(sandbox: Sandbox, last_day: dt.date) -> None:
    config = appsflyer_config(sandbox, start_date=days_ago(5), lookback_days=3, periods=[0, 1, 7, 30, 60, 90, 180])
    warehouse, clean, requests = simulate(sandbox, config, "appsflyer")
    compared = check(warehouse, clean, lambda r: True)  # AppsFlyer sends complete periods only
    assert compared > 0 and {r["period"] for r in clean["appsflyer_cohorts"].values()} >= {60, 90, 180}
    # A daily run asks for the lookback and the cohorts whose requested period just completed: no more.
    assert max(requests[:5]) <= 3 + 7 and max(requests) <= 3 + 7 * 8  # the day after the gap catches up
    print(f"\nappsflyer: {compared} cohort x period values compared; requests a day {sorted(set(requests))}")


def test_adjust_week_cohorts_land_every_period(sandbox: Sandbox, last_day: dt.date) -> None:
    config = adjust_config(sandbox, start_date=days_ago(20), lookback_days=3, cohort_period="week", max_period=12)
    warehouse, clean, requests = simulate(sandbox, config, "adjust")
    # A week cohort's period p is complete 7 (p + 1) days after its last install day (its start + 6).
    compared = check(warehouse, clean, lambda r: age(r, last_day) >= 7 * (r["period"] + 1) + 6)
    assert compared > 0
    print(f"\nadjust: {compared} values compared; requests a day {sorted(set(requests))}")


def test_branch_week_bands_land(sandbox: Sandbox, last_day: dt.date) -> None:
    sandbox.config.branch_rate_limits = []
    config: dict[str, Any] = branch_config(
        sandbox,
        start_date=days_ago(10),
        lookback_days=3,
        data_sources=["install_cohort"],
        granularity="week",
        granularity_band_count=6,
        rate_limits=[{"requests": 1000, "seconds": 1}],
    )
    warehouse, clean, requests = simulate(sandbox, config, "branch")
    compared = check(warehouse, clean, lambda r: age(r, last_day) >= 7 * (r["period"] + 1))
    assert compared > 0
    print(f"\nbranch: {compared} values compared; requests a day {sorted(set(requests))}")


def test_adjust_report_service_days_7_30_and_90_land(sandbox: Sandbox, last_day: dt.date) -> None:
    config = report_config(sandbox, start_date=days_ago(5), lookback_days=3, days=[0, 1, 7, 30, 90])
    warehouse, clean, requests = simulate(sandbox, config, "adjust")
    # The Report Service sends days in progress at half their value: day N is final N + 1 days after the cohort.
    compared = check(warehouse, clean, lambda r: age(r, last_day) >= r["period"] + 1)
    assert compared > 0 and {r["period"] for r in clean["adjust_report_cohorts"].values()} >= {30, 90}
    assert max(requests[:5]) <= 3  # the lookback, and at most two windows of cohorts that completed a day
    print(f"\nadjust_report: {compared} values compared; requests a day {sorted(set(requests))}")
