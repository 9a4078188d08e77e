"""`adjust_report_cohorts` (Adjust's Report Service) against the sandbox: records against the sandbox's own value
functions, the requests, days not reached or not complete, currency, an empty answer, errors and bad config."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
import time_machine

from cohorts_sandbox import Sandbox
from cohorts_sandbox.adjust_reports import CURRENCIES, DIMENSION_VALUES, Cohort
from tests.helpers import TODAY, days_ago, run_tap

pytestmark = pytest.mark.dates

TOKEN = "adjust-sandbox-token"
APP_A, APP_B = "abc123def4", "3fdwnag4ec"
STREAM = "adjust_report_cohorts"
DAYS = [0, 1, 7, 30]


def report_config(running: Sandbox, **section: Any) -> dict:
    top = {key: section.pop(key) for key in ("start_date", "end_date", "lookback_days") if key in section}
    return {
        **{k: v.isoformat() if isinstance(v, dt.date) else v for k, v in top.items()},
        "adjust_report": {
            "api_token": TOKEN,
            "base_url": running.url("adjust"),
            "app_tokens": [APP_A],
            "days": DAYS,
            "dimensions": ["country_code"],
            "rate_limits": [{"requests": 100, "seconds": 1}],
            "retry_wait_seconds": 0.05,
            **section,
        },
    }


def truth(
    sandbox: Sandbox,
    start: dt.date,
    end: dt.date,
    *,
    apps: tuple[str, ...] = (APP_A,),
    mature: bool = False,
    currency: str = "USD",
) -> dict[tuple, dict]:
    """The records the tap must write, from the sandbox's value functions (not its JSON): per app, day, country
    and requested day N the cohort has reached (mature: completed)."""
    service = sandbox.simulators["adjust"].reports
    rate = CURRENCIES[currency]
    records = {}
    day = start
    while day <= end:
        age = (TODAY - day).days
        for app in apps:
            for country in DIMENSION_VALUES["country_code"]:
                cohort = Cohort(app, day, (("country_code", country),))
                for n in DAYS:
                    if n > age or (mature and n == age):
                        continue
                    key = (app, day.isoformat(), json.dumps({"country_code": country}, separators=(",", ":")), n)
                    records[key] = {
                        "cohort_size": service.cohort_value(cohort, "cohort_size"),
                        "network_cost": round(service.cohort_value(cohort, "network_cost") * rate, 2),
                        "retained_users": int(service.day_value(cohort, "retained_users", n)),
                        "retention_rate": service.day_value(cohort, "retention_rate", n),
                        "revenue_total": round(service.day_value(cohort, "revenue_total", n) * rate, 2),
                    }
        day += dt.timedelta(days=1)
    return records


def keyed(records: list[dict]) -> dict[tuple, dict]:
    metrics = ("cohort_size", "network_cost", "retained_users", "retention_rate", "revenue_total")
    out = {
        (r["app_token"], r["cohort_date"], r["dimension_key"], r["period"]): {m: r[m] for m in metrics} for r in records
    }
    assert len(out) == len(records), "a primary key repeats"
    return out


def test_records_are_one_per_cohort_and_day_reached_with_the_vendors_values(sandbox: Sandbox) -> None:
    start = days_ago(40)
    run = run_tap(report_config(sandbox, start_date=start, app_tokens=[APP_A, APP_B]))
    records = run.records(STREAM)
    assert keyed(records) == truth(sandbox, start, TODAY, apps=(APP_A, APP_B))
    first = records[0]
    assert first["period_unit"] == "day" and first["currency"] == "USD" and first["country_code"] in ("DE", "GB", "US")
    assert isinstance(first["cohort_size"], int) and isinstance(first["retained_users"], int)
    assert isinstance(first["retention_rate"], float) and isinstance(first["revenue_total"], float)
    # A cohort 5 days old has days 0 and 1 (and day 5 would be in progress); its unreached day 7 and day 30
    # answer 0 retention and the revenue so far, which must not be stored as day 7's or day 30's.
    young = {r["period"] for r in records if r["cohort_date"] == days_ago(5).isoformat()}
    assert young == {0, 1}
    partitions = run.final_state["bookmarks"][STREAM]["partitions"]
    assert {p["context"]["app_token"]: p["replication_key_value"] for p in partitions} == {
        APP_A: TODAY.isoformat(),
        APP_B: TODAY.isoformat(),
    }


def test_the_requests(sandbox: Sandbox) -> None:
    start = days_ago(40)
    config = report_config(
        sandbox,
        start_date=start,
        dimensions=["country_code", "network"],
        cohort_metrics=["retention_rate"],
        metrics=["cohort_size"],
        attribution_source="first",
        attribution_type="click",
        ad_spend_mode="network",
        reattributed="all",
        utc_offset="+01:00",
        sandbox=False,
    )
    run_tap(config)
    requests = sandbox.requests_to("adjust", "/reports-service/")
    assert [r.query["date_period"][0] for r in requests] == [
        f"{start}:{start + dt.timedelta(days=30)}",
        f"{start + dt.timedelta(days=31)}:{TODAY}",
    ]
    query = requests[0].query
    assert requests[0].path == "/reports-service/report" and requests[0].method == "GET"
    assert requests[0].headers["authorization"] == f"Bearer {TOKEN}"
    assert {k: v[0] for k, v in query.items() if k != "date_period"} == {
        "dimensions": "app_token,day,country_code,network",
        "metrics": "cohort_size,retention_rate_d0,retention_rate_d1,retention_rate_d7,retention_rate_d30",
        "app_token__in": APP_A,
        "cohort_maturity": "immature",
        "currency": "USD",
        "format_dates": "false",
        "attribution_source": "first",
        "attribution_type": "click",
        "ad_spend_mode": "network",
        "reattributed": "all",
        "utc_offset": "+01:00",
        "sandbox": "false",
    }


def test_mature_cohorts_only_and_another_currency(sandbox: Sandbox) -> None:
    start = days_ago(10)
    run = run_tap(report_config(sandbox, start_date=start, cohort_maturity="mature", currency="EUR"))
    records = run.records(STREAM)
    # `mature` answers 0 for every day not complete: none of those is stored (yesterday's cohort has no day 1).
    assert keyed(records) == truth(sandbox, start, TODAY, mature=True, currency="EUR")
    assert {r["currency"] for r in records} == {"EUR"}
    assert not [r for r in records if r["cohort_date"] == TODAY.isoformat()]
    assert {r["period"] for r in records if r["cohort_date"] == days_ago(1).isoformat()} == {0}


def test_the_next_run_asks_the_lookback_and_the_cohorts_that_completed_a_day(sandbox: Sandbox) -> None:
    config = report_config(sandbox, start_date=days_ago(60), lookback_days=3)
    first = run_tap(config)
    sandbox.reset()
    tomorrow = TODAY + dt.timedelta(days=1)
    with time_machine.travel(dt.datetime.combine(tomorrow, dt.time(12), tzinfo=dt.timezone.utc), tick=False):
        second = run_tap(config, state=first.final_state)
    windows = sorted(r.query["date_period"][0] for r in sandbox.requests_to("adjust"))
    # Days 7 and 30 of the cohorts 8 and 31 days old (as of tomorrow) completed since today's run: both in one
    # window (the answer holds every day of every cohort in it), and the lookback in another.
    assert windows == [
        f"{tomorrow - dt.timedelta(days=31)}:{tomorrow - dt.timedelta(days=8)}",
        f"{days_ago(3)}:{tomorrow}",  # the bookmark (today) less the lookback
    ]
    old = str(tomorrow - dt.timedelta(days=31))
    assert (
        sorted(r["period"] for r in second.records(STREAM) if r["cohort_date"] == old)
        == [0, 0, 0, 1, 1, 1] + [7] * 3 + [30] * 3
    )


def test_an_empty_answer_is_204_and_no_records(sandbox: Sandbox) -> None:
    run = run_tap(report_config(sandbox, start_date=days_ago(3), app_tokens=["nodata0000"]))
    assert run.records(STREAM) == []
    assert [r.status for r in sandbox.requests_to("adjust")] == [204]
    assert run.final_state["bookmarks"][STREAM]["partitions"][0]["replication_key_value"] == TODAY.isoformat()


@pytest.mark.parametrize(
    ("change", "status", "vendor_message", "hint"),
    [
        ({"api_token": "wrong"}, 401, "Invalid token.", "sent as `Authorization: Bearer ...`"),
        ({"dimensions": ["store_id"]}, 400, "Unsupported dimension: store_id", "check config['adjust_report']"),
        ({"metrics": ["forbidden_metric"]}, 403, "You do not have permission", "no access to these metrics"),
    ],
)
def test_a_vendor_error_names_the_stream_partition_and_window_with_adjusts_message(
    sandbox: Sandbox, change: dict, status: int, vendor_message: str, hint: str
) -> None:
    day = days_ago(2)
    run = run_tap(report_config(sandbox, start_date=day, end_date=day, **change), expect_error=True)
    message = run.error_text
    assert f"HTTP {status}" in message and vendor_message in message and hint in message
    assert f"stream {STREAM}, partition app_token={APP_A}, window {day}..{day}" in message
    assert "wrong" not in message and TOKEN not in message


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"cohort_metrics": ["retention_rate_d7"]}, "'retention_rate_d7' names one day; give the metric"),
        ({"days": [0, 400]}, "config['adjust_report']['days']: 400 must be from 0 to 365"),
        ({"days": []}, "config['adjust_report']['days']: an empty list is not allowed"),
        ({"dimensions": ["week"]}, "'week' is a date dimension; cohorts are by day"),
        ({"currency": "usd"}, "'usd' is not an ISO 4217 code"),
        ({"metrics": ["cohort_size", "currency"]}, "'currency' is a column the tap fills itself"),
        ({"metrics": ["cohort_size"], "cohort_metrics": ["cohort_size"]}, "'cohort_size' is already in metrics"),
        ({"cohort_maturity": "ripe"}, "cohort_maturity"),
    ],
)
def test_bad_config_fails_before_the_first_request(sandbox: Sandbox, change: dict, expected: str) -> None:
    run = run_tap(report_config(sandbox, start_date=days_ago(2), **change), expect_error=True)
    assert expected in str(getattr(run.error, "errors", "")) + run.error_text
    assert sandbox.requests == []
