"""The Adjust cohort streams against the sandbox, and the generic flattener on its own."""

from __future__ import annotations

import datetime as dt
import itertools
import json

import pytest

from cohorts_sandbox import Sandbox
from cohorts_sandbox.adjust import APPS, TRACKERS, Query
from tap_cohorts.vendors.adjust.flatten import flatten
from tap_cohorts.vendors.adjust.streams import kpi_column
from tests.helpers import days_ago, run_tap

pytestmark = pytest.mark.dates

TOKEN = "adjust-sandbox-token"
APP_A, APP_B = "abc123def4", "3fdwnag4ec"
KPIS = ["installs", "retention_rate", "Revenue-Total"]


def adjust_config(running: Sandbox, **section: object) -> dict:
    top = {key: section.pop(key) for key in ("start_date", "end_date", "lookback_days") if key in section}
    return {
        **{k: v.isoformat() if isinstance(v, dt.date) else v for k, v in top.items()},
        "adjust": {
            "api_token": TOKEN,
            "base_url": running.url("adjust"),
            "app_tokens": [APP_A],
            "kpis": KPIS,
            "rate_limits": [{"requests": 100, "seconds": 1}],
            "retry_wait_seconds": 0.05,
            **section,
        },
    }


def expected(
    sandbox: Sandbox,
    start: dt.date,
    end: dt.date,
    levels: tuple[str, ...],
    *,
    apps: tuple[str, ...] = (APP_A,),
    tracker: str | None = None,
    period: str = "day",
) -> dict[tuple, dict]:
    """Records built from the sandbox's value function, not from its JSON: independent of the flattener."""
    simulator = sandbox.simulators["adjust"]
    query = Query(apps, tracker, tuple(KPIS), start, end, (), period)
    records = {}
    trackers = [tracker] if tracker else list(TRACKERS)
    for app in apps:
        for t in trackers if "trackers" in levels else [None]:
            for country in ("de", "gb", "us") if "countries" in levels else [None]:
                for cohort in simulator.cohort_dates(query):
                    for p in simulator.periods(query, cohort):
                        identity: dict = {"app": app, "date": cohort, "period": p}
                        dims: dict = {}
                        columns: dict = {"app_name": APPS[app]["name"], "currency": APPS[app]["currency"]}
                        if t:
                            identity["tracker"] = t
                            dims["tracker_token"] = t
                            columns.update(tracker_token=t, tracker_name=TRACKERS[t])
                        if country:
                            identity["countries"] = country
                            dims["country"] = country
                            columns["country"] = country
                        values = simulator.kpi_values(query, identity)
                        record = {
                            "app_token": app,
                            **({"tracker_token": tracker} if tracker else {}),
                            "cohort_date": cohort.isoformat(),
                            "period": p,
                            "period_unit": period,
                            "dimension_key": json.dumps(dims, sort_keys=True, separators=(",", ":")),
                            **columns,
                            **{kpi_column(k): v for k, v in zip(KPIS, values)},
                        }
                        records[(app, tracker or t, record["cohort_date"], record["dimension_key"], p)] = record
    return records


def by_key(records: list[dict]) -> dict[tuple, dict]:
    keyed = {
        (r["app_token"], r.get("tracker_token"), r["cohort_date"], r["dimension_key"], r["period"]): r for r in records
    }
    assert len(keyed) == len(records)
    return keyed


def test_exact_records_per_app_with_trackers(sandbox: Sandbox) -> None:
    start, end = days_ago(6), days_ago(5)
    run = run_tap(adjust_config(sandbox, start_date=start, end_date=end, grouping=["trackers"]))
    assert by_key(run.records("adjust_cohorts")) == expected(sandbox, start, end, ("trackers",))
    record = run.records("adjust_cohorts")[0]
    assert list(record)[:5] == ["app_token", "cohort_date", "period", "period_unit", "dimension_key"]
    assert isinstance(record["installs"], int) and isinstance(record["retention_rate"], float)
    assert "revenue_total" in record  # "Revenue-Total" made safe for SQL


def test_exact_records_per_tracker_with_an_extra_grouping_level(sandbox: Sandbox) -> None:
    start, end = days_ago(4), days_ago(4)
    config = adjust_config(sandbox, start_date=start, end_date=end, tracker_tokens=["34abcd"], grouping=["countries"])
    run = run_tap(config)
    records = by_key(run.records("adjust_tracker_cohorts"))
    assert records == expected(sandbox, start, end, ("countries",), tracker="34abcd")
    assert {r["country"] for r in records.values()} == {"de", "gb", "us"}
    [request] = sandbox.requests_to("adjust", "/trackers/")
    assert request.path == f"/kpis/v1/{APP_A}/trackers/34abcd/cohorts"


def test_several_apps_in_one_call(sandbox: Sandbox) -> None:
    start, end = days_ago(3), days_ago(3)
    config = adjust_config(sandbox, start_date=start, end_date=end, app_tokens=[APP_A, APP_B], grouping=["trackers"])
    run = run_tap(config)
    [request] = sandbox.requests_to("adjust", f"/kpis/v1/{APP_A},{APP_B}/cohorts")
    assert request.query["grouping"] == ["apps,trackers,days,periods"] and "period" not in request.query
    records = by_key(run.records("adjust_app_cohorts"))
    assert records == expected(sandbox, start, end, ("trackers",), apps=(APP_A, APP_B))
    assert {r["app_name"] for r in records.values()} == {"Puzzle Quest", "Idle Farm"}


def test_the_request_parameters(sandbox: Sandbox) -> None:
    day = days_ago(2)
    config = adjust_config(
        sandbox,
        start_date=day,
        end_date=day,
        grouping=["countries", "days", "periods"],
        countries=["de", "gb"],
        os_names=["ios"],
        attribution_type="click",
        sandbox=False,
        utc_offset="+01:00",
        reattributed="false",
    )
    run_tap(config)
    # with one app, the per-app and the several-apps streams share a path; only the former sends `period`
    [request] = [r for r in sandbox.requests_to("adjust") if "period" in r.query]
    assert request.headers["authorization"] == f"Token token={TOKEN}"
    assert request.query == {
        "start_date": [day.isoformat()],
        "end_date": [day.isoformat()],
        "kpis": ["installs,retention_rate,Revenue-Total"],
        "grouping": ["countries,days,periods"],
        "period": ["day"],
        "utc_offset": ["+01:00"],
        "sandbox": ["false"],
        "countries": ["de,gb"],
        "os_names": ["ios"],
        "attribution_type": ["click"],
        "reattributed": ["false"],
    }


def test_week_cohorts_are_asked_in_whole_weeks(sandbox: Sandbox) -> None:
    start = days_ago(60)
    run = run_tap(adjust_config(sandbox, start_date=start, cohort_period="week"))
    requests = [r for r in sandbox.requests_to("adjust") if "period" in r.query]
    starts = [dt.date.fromisoformat(r.query["start_date"][0]) for r in requests]
    ends = [dt.date.fromisoformat(r.query["end_date"][0]) for r in requests]
    assert all(s.weekday() == 0 for s in starts) and starts[0] <= start < starts[0] + dt.timedelta(days=7)
    assert all(e.weekday() == 6 for e in ends[:-1]) and ends[-1] == days_ago(0)
    assert all(r.query["grouping"] == ["weeks,periods"] and r.query["period"] == ["week"] for r in requests)
    records = run.records("adjust_cohorts")
    assert {r["period_unit"] for r in records} == {"week"}
    # every complete week is stored whole: the same values as one request for that week alone
    simulator = sandbox.simulators["adjust"]
    week = starts[1]
    whole = simulator.kpi_values(
        Query((APP_A,), None, tuple(KPIS), week, week + dt.timedelta(days=6), (), "week"),
        {"app": APP_A, "date": week, "period": 0},
    )
    stored = next(r for r in records if r["cohort_date"] == week.isoformat() and r["period"] == 0)
    assert [stored[kpi_column(k)] for k in KPIS] == whole


def test_month_cohorts_are_asked_in_whole_months(sandbox: Sandbox) -> None:
    start = days_ago(100)
    run = run_tap(adjust_config(sandbox, start_date=start, cohort_period="month"))
    requests = [r for r in sandbox.requests_to("adjust") if "period" in r.query]
    windows = [
        (dt.date.fromisoformat(r.query["start_date"][0]), dt.date.fromisoformat(r.query["end_date"][0]))
        for r in requests
    ]
    # one calendar month a window (28 to 31 days), from the month holding start_date to today
    assert windows[0][0] == start.replace(day=1) and windows[-1][1] == days_ago(0)
    for (first, last), (following, _) in itertools.pairwise(windows):
        assert first.day == 1 and following == last + dt.timedelta(days=1) and following.day == 1
    assert windows[-1][0] == days_ago(0).replace(day=1)
    records = run.records("adjust_cohorts")
    assert {r["period_unit"] for r in records} == {"month"}
    assert {r["cohort_date"] for r in records} == {first.isoformat() for first, _ in windows}
    # every complete month is stored whole: the same values as one request for that month alone
    simulator = sandbox.simulators["adjust"]
    for first, last in windows[:-1]:
        whole = simulator.kpi_values(
            Query((APP_A,), None, tuple(KPIS), first, last, (), "month"), {"app": APP_A, "date": first, "period": 0}
        )
        stored = next(r for r in records if r["cohort_date"] == first.isoformat() and r["period"] == 0)
        assert [stored[kpi_column(k)] for k in KPIS] == whole


def test_state_and_lookback_per_app(sandbox: Sandbox) -> None:
    config = adjust_config(sandbox, start_date=days_ago(40), app_tokens=[APP_A, APP_B], lookback_days=3)
    first = run_tap(config)
    partitions = first.final_state["bookmarks"]["adjust_cohorts"]["partitions"]
    assert {p["context"]["app_token"]: p["replication_key_value"] for p in partitions} == {
        APP_A: days_ago(0).isoformat(),
        APP_B: days_ago(0).isoformat(),
    }
    sandbox.reset()
    run_tap(config, state=first.final_state)
    per_app = [r for r in sandbox.requests if "," not in r.path]
    assert sorted((r.path, r.query["start_date"][0]) for r in per_app) == [
        (f"/kpis/v1/{APP_B}/cohorts", days_ago(3).isoformat()),
        (f"/kpis/v1/{APP_A}/cohorts", days_ago(3).isoformat()),
    ]


def test_kpi_values_of_the_wrong_length_fail_clearly(sandbox: Sandbox) -> None:
    sandbox.config.adjust_short_kpi_values = True
    day = days_ago(2)
    run = run_tap(adjust_config(sandbox, start_date=day, end_date=day), expect_error=True)
    message = run.error_text
    assert "holds 2 values for the 3 KPIs requested" in message and "refusing to guess" in message
    assert f"stream adjust_app_cohorts, window {day}..{day}" in message  # the first stream synced


def test_403_fails_with_the_hint(sandbox: Sandbox) -> None:
    day = days_ago(2)
    run = run_tap(
        adjust_config(sandbox, start_date=day, end_date=day, kpis=["installs", "forbidden_kpi"]), expect_error=True
    )
    assert "HTTP 403" in run.error_text and "Hint: the token has no access to these KPIs" in run.error_text
    # A 403 is the partition's (these KPIs), not the account's: each stream's one partition asks once and fails.
    assert len(sandbox.requests_to("adjust")) == 2 and "2 partition(s) failed" in run.error_text


def test_the_flattener_walks_any_level_and_keeps_kpi_order() -> None:
    result_set = {
        "token": "app1",
        "name": "App",
        "currency": "EUR",
        "networks": [  # a level the document does not show
            {
                "token": "n1",
                "name": "Net",
                "dates": [{"date": "2026-01-05", "periods": [{"period": "2", "kpi_values": [3, "0.5", None]}]}],
            }
        ],
    }
    rows = list(flatten(result_set, ["installs", "arpu", "revenue"]))
    assert rows == [
        (
            {
                "app_token": "app1",
                "app_name": "App",
                "currency": "EUR",
                "network_token": "n1",
                "network_name": "Net",
                "cohort_date": "2026-01-05",
                "period": "2",
            },
            {"installs": 3, "arpu": "0.5", "revenue": None},
        )
    ]
    # A KPI named like a column keeps both: the period stays the period.
    [(identity, values)] = list(
        flatten({"dates": [{"date": "2026-01-05", "periods": [{"period": "2", "kpi_values": [7]}]}]}, ["period"])
    )
    assert identity["period"] == "2" and values == {"period": 7}


def test_the_flattener_refuses_misaligned_kpi_values() -> None:
    with pytest.raises(ValueError, match="holds 1 values for the 2 KPIs"):
        list(flatten({"dates": [{"date": "2026-01-01", "periods": [{"period": "0", "kpi_values": [1]}]}]}, ["a", "b"]))


# Every level of Adjust's KPI Service grouping reference (adjust/dev-docs, docs/api/kpi-service/grouping.md), the
# column its identity lands in, and how many members the sandbox has.
DOCUMENTED_LEVELS = {
    "trackers": ("tracker_token", 3),
    "networks": ("network_token", 2),
    "campaigns": ("campaign_token", 2),  # two campaigns of one name: the token tells them apart
    "adgroups": ("adgroup_token", 2),
    "creatives": ("creative_token", 2),
    "events": ("event_token", 2),
    "countries": ("country", 3),
    "region": ("region", 3),  # the option is `region`; the answer's list is `regions`
    "device_types": ("device_type", 2),
    "os_names": ("os_name", 2),
    "partners": ("partner", 3),
}


@pytest.mark.parametrize("level", DOCUMENTED_LEVELS)
def test_every_documented_grouping_level_gives_each_member_its_own_key(
    sandbox: Sandbox, level: str, caplog: pytest.LogCaptureFixture
) -> None:
    column, members = DOCUMENTED_LEVELS[level]
    day = days_ago(3)
    run = run_tap(adjust_config(sandbox, start_date=day, end_date=day, grouping=[level]))
    records = run.records("adjust_cohorts")
    periods = len(sandbox.simulators["adjust"].periods(Query((APP_A,), None, (), day, day, (), "day"), day))
    assert len(by_key(records)) == members * periods  # one record per member x period: none merged
    assert all(r[column] is not None for r in records), f"{column} is null"
    assert len({r[column] for r in records}) == members
    assert all(json.loads(r["dimension_key"]) == {column: r[column]} for r in records)
    assert "does not map" not in caplog.text
