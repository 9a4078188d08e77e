"""The AppLovin MAX cohort streams against the sandbox: records, paging, parameters, the 45-day window."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlencode

import pytest

from cohorts_sandbox import Sandbox
from tap_cohorts.vendors.applovin.settings import LONG_PERIODS, SHORT_PERIODS
from tests.helpers import APPLOVIN_KEY, applovin_config, days_ago, run_tap

pytestmark = pytest.mark.dates

KEY = ["cohort_date", "dimension_key", "period"]
STREAMS = {
    "applovin_cohort_revenue": "/maxCohort",
    "applovin_cohort_impressions": "/maxCohort/imp",
    "applovin_cohort_sessions": "/maxCohort/session",
}
INTEGERS = {"installs", "user_count", "imp", "inter_imp", "reward_imp", "banner_imp", "mrec_imp", "session_count"}


def expected_records(
    sandbox: Sandbox, path: str, start: dt.date, end: dt.date, columns: list[str], periods: tuple[int, ...]
) -> dict[tuple, dict]:
    """The sandbox's own table, turned into the records the contract describes (one per cohort x period)."""
    simulator = sandbox.simulators["applovin"]
    expected = {}
    for row in simulator.table(path, start, end, columns, {}):
        dimensions = {c: row[c] for c in columns}
        for period in periods:
            metrics = {
                name[: -len(f"_{period}")]: value
                for name, value in row.items()
                if name.endswith(f"_{period}")
                and name[: -len(f"_{period}")].rstrip("_0123456789") == name[: -len(f"_{period}")]
            }
            record = {
                "cohort_date": row["day"],
                "period": period,
                "period_unit": "day",
                "dimension_key": json.dumps(dimensions, sort_keys=True, separators=(",", ":")),
                **dimensions,
                "installs": int(row["installs"]),
                **{k: (None if v == "" else int(v) if k in INTEGERS else float(v)) for k, v in metrics.items()},
            }
            expected[tuple(record[k] for k in KEY)] = record
    return expected


def by_key(records: list[dict]) -> dict[tuple, dict]:
    keyed = {tuple(r[k] for k in KEY): r for r in records}
    assert len(keyed) == len(records), "duplicate primary keys in one run"
    return keyed


@pytest.mark.parametrize("stream", STREAMS)
def test_exact_records_for_two_days(sandbox: Sandbox, stream: str) -> None:
    start, end = days_ago(10), days_ago(9)
    config = applovin_config(sandbox, start_date=start, end_date=end, columns=["platform"], periods=[0, 7, 30])
    records = by_key(run_tap(config).records(stream))
    assert len(records) == 2 * 3 * 3  # 2 days x 3 platforms (android, ios, fireos) x 3 periods
    assert records == expected_records(sandbox, STREAMS[stream], start, end, ["platform"], (0, 7, 30))
    sample = next(iter(records.values()))
    assert isinstance(sample["installs"], int) and sample["dimension_key"].startswith('{"platform":')


def test_every_documented_period_and_metric_by_default(sandbox: Sandbox) -> None:
    day = days_ago(3)
    run = run_tap(applovin_config(sandbox, start_date=day, end_date=day))
    revenue = run.records("applovin_cohort_revenue")
    sessions = run.records("applovin_cohort_sessions")
    assert sorted({r["period"] for r in revenue}) == list(SHORT_PERIODS)
    assert sorted({r["period"] for r in sessions}) == list(LONG_PERIODS)
    assert set(revenue[0]) >= {
        "pub_revenue",
        "iap_pub_revenue",
        "mrec_rpi",
        "rpi",
        "application",
        "package_name",
        "country",
    }
    assert len(revenue) == 4 * 5 * len(SHORT_PERIODS)  # 4 apps x 5 countries per day


def test_paging_walks_limit_and_offset_to_a_short_page(sandbox: Sandbox) -> None:
    day = days_ago(5)
    config = applovin_config(sandbox, start_date=day, end_date=day, periods=[0], page_size=7)
    run = run_tap(config)
    requests = sandbox.requests_to("applovin", "/maxCohort/imp")
    assert [(r.query["offset"], r.query["limit"]) for r in requests] == [
        (["0"], ["7"]),
        (["7"], ["7"]),
        (["14"], ["7"]),
    ]
    assert len(run.records("applovin_cohort_impressions")) == 20  # 4 apps x 5 countries, 7 + 7 + 6


def test_an_exactly_full_last_page_is_followed_by_one_empty_page(sandbox: Sandbox) -> None:
    day = days_ago(5)
    run = run_tap(applovin_config(sandbox, start_date=day, end_date=day, periods=[0], page_size=10))
    requests = sandbox.requests_to("applovin", "/maxCohort/session")
    assert [r.query["offset"] for r in requests] == [["0"], ["10"], ["20"]]
    assert len(run.records("applovin_cohort_sessions")) == 20


def test_the_request_parameters(sandbox: Sandbox) -> None:
    start, end = days_ago(6), days_ago(4)
    config = applovin_config(
        sandbox,
        start_date=start,
        end_date=end,
        columns=["country", "platform"],
        periods=[1],
        filters={"platform": "ios"},
    )
    run = run_tap(config)
    request = sandbox.requests_to("applovin", "/maxCohort/session")[0]
    assert request.method == "GET"
    assert request.query == {
        "api_key": [APPLOVIN_KEY],
        "start": [start.isoformat()],
        "end": [end.isoformat()],
        "format": ["json"],
        "columns": [
            "day,country,platform,installs,daily_usage_1,session_count_1,user_count_1,session_length_1,retention_1"
        ],
        "filter_platform": ["ios"],
        "sort_day": ["ASC"],
        "sort_country": ["ASC"],
        "sort_platform": ["ASC"],
        "limit": ["10000"],
        "offset": ["0"],
    }
    assert {r["platform"] for r in run.records("applovin_cohort_sessions")} == {"ios"}


def test_the_start_is_clamped_to_the_45_day_request_window(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    run_tap(applovin_config(sandbox, start_date=days_ago(120), periods=[0]))
    starts = {r.query["start"][0] for r in sandbox.requests_to("applovin")}
    assert starts == {days_ago(44).isoformat()}  # the last 45 days, today included, in one request
    assert all(r.status == 200 for r in sandbox.requests_to("applovin"))
    assert any("older than the vendor serves" in r.getMessage() for r in caplog.records)


def test_the_query_string_is_what_the_document_shows(sandbox: Sandbox) -> None:
    """The key rides in the query string, as the document says (and so must be redacted everywhere)."""
    day = days_ago(2)
    run_tap(applovin_config(sandbox, start_date=day, end_date=day, periods=[0]))
    request = sandbox.requests_to("applovin")[0]
    assert urlencode({"api_key": APPLOVIN_KEY}) in urlencode(request.query, doseq=True)
