"""appsflyer_cohorts against the sandbox: records, requests, windows, caps, rate limits."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from cohorts_sandbox import Fault, Sandbox
from cohorts_sandbox.appsflyer import Query
from tests.helpers import AF_TOKEN, appsflyer_config, days_ago, run_tap

pytestmark = pytest.mark.dates

STREAM = "appsflyer_cohorts"
KEY = ["app_id", "cohort_type", "kpi", "aggregation_type", "cohort_date", "dimension_key", "period"]
FUNCTION_COLUMNS = {
    "count": "count",
    "conversion_rate": "conversion_rate",
    "rate": "rate",
    "sum": "sum",
    "unique_users": "unique_users",
}
DEFAULT_PERIODS = (*range(31), 60, 90, 180)


def expected_records(
    sandbox: Sandbox,
    start: dt.date,
    end: dt.date,
    *,
    app_id: str = "com.example.puzzle",
    cohort_type: str = "user_acquisition",
    kpi: str = "sessions",
    groupings: tuple[str, ...] = ("pid",),
    periods: tuple[int, ...] = DEFAULT_PERIODS,
) -> dict[tuple, dict]:
    """What the warehouse must hold: every cohort with every complete period, from the sandbox's own data."""
    simulator = sandbox.simulators["appsflyer"]
    query = Query(app_id, cohort_type, kpi, start, end, (*groupings, "date"), "on_day", periods)
    expected = {}
    for row in simulator.truth(query):
        for period, cell in row.values.items():
            record = {
                "app_id": app_id,
                "cohort_type": cohort_type,
                "kpi": kpi,
                "aggregation_type": "on_day",
                "cohort_date": row.date.isoformat(),
                "period": period,
                "period_unit": "day",
                "dimension_key": json.dumps(row.dimensions, sort_keys=True, separators=(",", ":"), ensure_ascii=False),
                **row.dimensions,
                "users": row.users,
                "cost": row.cost,
                "ecpi": row.ecpi,
                **{FUNCTION_COLUMNS[f]: v for f, v in cell.items()},
            }
            expected[tuple(record[k] for k in KEY)] = record
    return expected


def by_key(records: list[dict]) -> dict[tuple, dict]:
    keyed = {tuple(r[k] for k in KEY): r for r in records}
    assert len(keyed) == len(records), "duplicate primary keys in one run"
    return keyed


def test_exact_records_for_one_day(sandbox: Sandbox) -> None:
    day = days_ago(100)
    run = run_tap(appsflyer_config(sandbox, start_date=day, end_date=day, periods=[0, 1, 7]))
    records = run.records(STREAM)
    assert len(records) == 4 * 3  # 4 media sources x 3 periods
    assert by_key(records) == expected_records(sandbox, day, day, periods=(0, 1, 7))
    organic = next(r for r in records if r["pid"] == "Organic" and r["period"] == 7)
    assert organic["dimension_key"] == '{"pid":"Organic"}'
    assert organic["cost"] is None and organic["ecpi"] is None  # no cost for organic installs: null, not 0
    assert isinstance(organic["users"], int) and isinstance(organic["count"], int)
    assert isinstance(organic["rate"], float) and organic["cohort_date"] == day.isoformat()


def test_the_request_is_the_documented_one(sandbox: Sandbox) -> None:
    day = days_ago(100)
    config = appsflyer_config(
        sandbox,
        start_date=day,
        end_date=day,
        periods=[7, 0],
        groupings=["geo", "pid"],
        min_cohort_size=2,
        filters={"geo": ["US", "GB"]},
    )
    run_tap(config)
    [request] = sandbox.requests_to("appsflyer")
    assert request.method == "POST"
    assert request.path == "/api/cohorts/v1/data/app/com.example.puzzle"
    assert request.query == {"format": ["csv"]}
    assert request.headers["authorization"] == f"Bearer {AF_TOKEN}"
    assert request.headers["accept"] == "application/json"
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {
        "cohort_type": "user_acquisition",
        "from": day.isoformat(),
        "to": day.isoformat(),
        "groupings": ["geo", "pid", "date"],
        "kpis": ["sessions"],
        "aggregation_type": "on_day",
        "min_cohort_size": 2,
        "filters": {"geo": ["US", "GB"], "period": [0, 7]},
    }


def test_a_backfill_matches_the_ground_truth_and_gets_every_complete_period(sandbox: Sandbox) -> None:
    """AppsFlyer returns periods up to today - `to` - 1: the tap cuts windows so no cohort misses one."""
    start = days_ago(70)
    run = run_tap(appsflyer_config(sandbox, start_date=start))
    requests = sandbox.requests_to("appsflyer")
    windows = [(r.json()["from"], r.json()["to"]) for r in requests]
    assert windows[:2] == [
        (days_ago(70).isoformat(), days_ago(61).isoformat()),
        (days_ago(60).isoformat(), days_ago(31).isoformat()),
    ]
    assert windows[2:] == [(days_ago(n).isoformat(), days_ago(n).isoformat()) for n in range(30, 0, -1)]
    assert by_key(run.records(STREAM)) == expected_records(sandbox, start, days_ago(1))
    assert all(r.status == 200 for r in requests)


def test_partitions_are_app_x_cohort_type_x_kpi(sandbox: Sandbox) -> None:
    day = days_ago(50)
    config = appsflyer_config(
        sandbox,
        start_date=day,
        end_date=day,
        periods=[0],
        app_ids=["com.example.puzzle", "id1234567890"],
        cohort_types=["user_acquisition", "retargeting", "unified"],
        kpis=["sessions", "revenue"],
    )
    run = run_tap(config)
    bodies = [
        (r.path.rsplit("/", 1)[1], r.json()["cohort_type"], r.json()["kpis"]) for r in sandbox.requests_to("appsflyer")
    ]
    assert len(bodies) == 12 and len(set(map(str, bodies))) == 12
    records = by_key(run.records(STREAM))
    expected = {}
    for app in ("com.example.puzzle", "id1234567890"):
        for cohort_type in ("user_acquisition", "retargeting", "unified"):
            for kpi in ("sessions", "revenue"):
                expected.update(
                    expected_records(sandbox, day, day, app_id=app, cohort_type=cohort_type, kpi=kpi, periods=(0,))
                )
    assert records == expected
    partitions = run.final_state["bookmarks"][STREAM]["partitions"]
    assert len(partitions) == 12
    # Unified (user acquisition and retargeting together) is its own partition and its own key.
    assert {r["cohort_type"] for r in records.values()} == {"user_acquisition", "retargeting", "unified"}
    assert {p["replication_key_value"] for p in partitions} == {day.isoformat()}


def test_a_capped_response_splits_the_window_and_loses_nothing(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.config.appsflyer_cardinality = {"pid": 30, "geo": 50}  # 1,500 rows a day; 31 days > 30,000
    start, end = days_ago(200), days_ago(170)
    caplog.set_level(logging.INFO)
    run = run_tap(appsflyer_config(sandbox, start_date=start, end_date=end, periods=[0], groupings=["pid", "geo"]))
    windows = [(r.json()["from"], r.json()["to"]) for r in sandbox.requests_to("appsflyer")]
    assert windows == [
        (start.isoformat(), end.isoformat()),
        (start.isoformat(), days_ago(186).isoformat()),
        (days_ago(185).isoformat(), end.isoformat()),
    ]
    records = by_key(run.records(STREAM))
    assert len(records) == 31 * 1500
    assert records == expected_records(sandbox, start, end, groupings=("pid", "geo"), periods=(0,))
    assert any("reached the cap of 30000 rows; splitting" in r.getMessage() for r in caplog.records)


def test_one_day_at_the_cap_fails_naming_the_dimensions_to_drop(sandbox: Sandbox) -> None:
    sandbox.config.appsflyer_cardinality = {"pid": 30, "geo": 1000}  # 30,000 rows in one day
    day = days_ago(200)
    run = run_tap(
        appsflyer_config(sandbox, start_date=day, end_date=day, periods=[0], groupings=["pid", "geo"]),
        expect_error=True,
    )
    message = run.error_text
    assert "single day reaches the vendor's cap of 30000 rows" in message
    assert "config['appsflyer']['groupings']" in message and "['pid', 'geo']" in message
    assert f"window {day.isoformat()}..{day.isoformat()}" in message and "app_id=com.example.puzzle" in message
    assert run.records(STREAM) == []


def test_reordered_columns_bom_and_an_extra_column_change_nothing(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    start, end = days_ago(32), days_ago(29)  # three windows: 32..31, 30, 29
    sandbox.add_fault(Fault("reorder_columns", vendor="appsflyer"))
    sandbox.add_fault(Fault("bom", vendor="appsflyer"))
    sandbox.add_fault(Fault("extra_column", vendor="appsflyer", times=5))
    run = run_tap(appsflyer_config(sandbox, start_date=start, end_date=end))
    assert [r.fault for r in sandbox.requests_to("appsflyer")] == ["reorder_columns", "bom", "extra_column"]
    assert by_key(run.records(STREAM)) == expected_records(sandbox, start, end)
    unknown = [r.getMessage() for r in caplog.records if "does not map" in r.getMessage()]
    assert len(unknown) == 1 and "sandbox_extra" in unknown[0]


def test_requests_are_paced_by_the_rate_limit_so_the_vendor_never_answers_429(sandbox: Sandbox) -> None:
    """Sandbox: 60 per 0.6 s (AppsFlyer's 60/min, time-scaled). The tap plans for 5 per 0.5 s: 12 requests
    need at least two waits of a full window; the sandbox must never have to refuse one."""
    sandbox.config.appsflyer_rate_limits = [(5, 50.0)]  # 5 per 0.5 s on the sandbox's time scale
    start = days_ago(12)
    config = appsflyer_config(sandbox, start_date=start, rate_limits=[{"requests": 5, "seconds": 0.5}])
    run_tap(config)
    requests = sandbox.requests_to("appsflyer")
    assert len(requests) == 12
    assert [r.status for r in requests] == [200] * 12
    assert requests[-1].at - requests[0].at >= 1.0
    for first, sixth in zip(requests, requests[5:]):
        assert sixth.at - first.at >= 0.49


def test_a_missing_column_never_shifts_values(sandbox: Sandbox) -> None:
    """A CSV whose last column is gone (header and rows): the other values stay in their own columns."""
    day = days_ago(100)
    sandbox.add_fault(Fault("missing_column", vendor="appsflyer"))
    run = run_tap(appsflyer_config(sandbox, start_date=day, end_date=day, periods=[0, 7]))
    truth = expected_records(sandbox, day, day, periods=(0, 7))
    records = by_key(run.records(STREAM))
    assert set(records) == set(truth)
    missing = 0
    for key, record in records.items():
        for column, value in truth[key].items():
            if column in record:
                assert record[column] == value
            else:
                missing += 1
    assert missing == 4  # unique_users of period 7 (the last column), one per media source


def test_event_kpis_land_their_conversion_rate(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    """The sandbox names the function as real answers do (`af_purchase_conversion_rate_day_7`)."""
    day = days_ago(30)
    config = appsflyer_config(sandbox, start_date=day, end_date=day, kpis=["af_purchase"], periods=[0, 7])
    records = run_tap(config).records(STREAM)
    assert by_key(records) == expected_records(sandbox, day, day, kpi="af_purchase", periods=(0, 7))
    assert records and all(isinstance(r["conversion_rate"], float) for r in records)
    assert "unknown" not in caplog.text.lower()


def test_a_rotated_token_fails_naming_the_key_and_the_next_run_resumes(sandbox: Sandbox) -> None:
    """AppsFlyer recommends a new token every 180 days and a reset invalidates the old one at once."""
    config = appsflyer_config(sandbox, start_date=days_ago(40), lookback_days=2)
    first = run_tap(config)
    sandbox.config.appsflyer_token = "af-rotated-token"  # reset in the dashboard
    sandbox.reset()
    failed = run_tap(config, state=first.final_state, expect_error=True)
    assert "HTTP 401" in failed.error_text and "config['appsflyer']['api_token']" in failed.error_text
    assert len(sandbox.requests_to("appsflyer")) == 1  # the account's failure ends AppsFlyer at once
    assert failed.final_state == first.final_state  # every bookmark kept
    sandbox.reset()
    config["appsflyer"]["api_token"] = "af-rotated-token"
    resumed = run_tap(config, state=failed.final_state)
    starts = [r.json()["from"] for r in sandbox.requests_to("appsflyer")]
    assert min(starts) == days_ago(3).isoformat()  # the kept bookmark (yesterday) less the lookback
    assert resumed.records(STREAM)
