"""The Branch cohort streams against the sandbox: jobs, polling, downloads, caps, rate limits, state."""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import time

import pytest

from cohorts_sandbox import Fault, Sandbox
from cohorts_sandbox.branch import Query
from tap_cohorts.vendors.branch.streams import full_dimension
from tests.helpers import days_ago, run_tap

pytestmark = pytest.mark.dates

TOKEN = "branch-sandbox-access-token"
ORG = "org-sandbox"
INSTALL, REENGAGEMENT = "branch_install_cohorts", "branch_reengagement_cohorts"
KEY = ["measure", "metric", "cohort_date", "dimension_key", "period"]
# Branch's 2/s, 5/min, 150/h on the sandbox's 100x time scale.
SCALED_LIMITS = [{"requests": 2, "seconds": 0.01}, {"requests": 5, "seconds": 0.6}, {"requests": 150, "seconds": 36}]


def branch_config(running: Sandbox, **section: object) -> dict:
    top = {key: section.pop(key) for key in ("start_date", "end_date", "lookback_days") if key in section}
    return {
        **{k: v.isoformat() if isinstance(v, dt.date) else v for k, v in top.items()},
        "branch": {
            "access_token": TOKEN,
            "organization_id": ORG,
            "base_url": running.url("branch"),
            "measures": ["OPEN"],
            "granularity_band_count": 3,
            "rate_limits": SCALED_LIMITS,
            "poll_interval_seconds": 0.01,
            "poll_max_interval_seconds": 0.05,
            "retry_wait_seconds": 0.05,
            **section,
        },
    }


def expected(sandbox: Sandbox, query: Query) -> dict[tuple, dict]:
    """The records the contract describes, from the sandbox's rows (not from the file the tap parsed)."""
    prefix = "install_activity_" if query.data_source == "install_cohort" else "reengagement_activity_"
    date_dimension = prefix + "timezone_adjusted_day"
    records = {}
    for row in sandbox.simulators["branch"].rows(query):
        dims = {d: row[d] for d in query.dimensions if d != date_dimension}
        for band, value in row["data"].items():
            record = {
                "measure": row["measure"],
                "metric": row["metric"],
                "cohort_date": row[date_dimension],
                "period_unit": query.granularity,
                "dimension_key": json.dumps(dims, sort_keys=True, separators=(",", ":")),
                **dims,
                "users": row["users"],
                "cost": float(row["cost"]),
                "per_user": row["per_user"],
                "cumulative": row["cumulative"],
                "period": int(band.removeprefix(query.granularity)),
                "value": float(value) if isinstance(value, str) else value,
            }
            records[tuple(record[k] for k in KEY)] = record
    return records


def by_key(records: list[dict]) -> dict[tuple, dict]:
    keyed = {tuple(r[k] for k in KEY): r for r in records}
    assert len(keyed) == len(records)
    return keyed


def test_exact_records_for_a_window(sandbox: Sandbox) -> None:
    start, end = days_ago(10), days_ago(8)
    config = branch_config(
        sandbox,
        start_date=start,
        end_date=end,
        data_sources=["install_cohort"],
        dimensions=["touch_data_tilde_campaign", "user_data_platform"],
        measures=["OPEN", "revenue"],
    )
    run = run_tap(config)
    dims = (
        "install_activity_touch_data_tilde_campaign",
        "user_data_platform",
        "install_activity_timezone_adjusted_day",
    )
    query = Query("install_cohort", start, end, dims, ("OPEN", "revenue"), "day", 3)
    records = by_key(run.records(INSTALL))
    assert records == expected(sandbox, query)
    assert len(records) == 3 * 2 * 2 * 3 * 3  # days x campaigns x platforms x (2 OPEN metrics + revenue) x bands
    sample = next(r for r in records.values() if r["metric"] == "revenue")
    assert isinstance(sample["value"], float) and isinstance(sample["users"], int) and sample["per_user"] is False


def test_an_export_scoped_to_one_app_with_install_recalculation(sandbox: Sandbox) -> None:
    """`app_id` replaces `organization_id` on the POST and on every poll; `enable_install_recalculation` is in the
    body, and the app's de-duplicated cohorts land (fewer users than without it)."""
    day = days_ago(6)
    app = "1234567890123456789"
    config = branch_config(
        sandbox, start_date=day, end_date=day, data_sources=["install_cohort"], enable_install_recalculation=True
    )
    del config["branch"]["organization_id"]
    config["branch"]["app_id"] = app
    run = run_tap(config)
    dims = ("install_activity_timezone_adjusted_day",)
    query = Query("install_cohort", day, day, dims, ("OPEN",), "day", 3, app_id=app, install_recalculation=True)
    records = by_key(run.records(INSTALL))
    assert records == expected(sandbox, query)
    organization = expected(sandbox, Query("install_cohort", day, day, dims, ("OPEN",), "day", 3))
    assert records != organization  # the app's own cohorts, not the organization's
    without = expected(sandbox, Query("install_cohort", day, day, dims, ("OPEN",), "day", 3, app_id=app))
    assert sum(r["users"] for r in records.values()) < sum(r["users"] for r in without.values())
    branch = sandbox.requests_to("branch")
    assert branch and all(r.query.get("app_id") == [app] and "organization_id" not in r.query for r in branch)
    [post] = [r for r in branch if r.method == "POST"]
    assert post.json()["enable_install_recalculation"] is True


def test_one_job_is_a_post_growing_polls_and_a_download_without_credentials(sandbox: Sandbox) -> None:
    sandbox.config.branch_job_polls = 4
    day = days_ago(5)
    config = branch_config(
        sandbox,
        start_date=day,
        end_date=day,
        data_sources=["reengagement_cohort"],
        dimensions=["touch_data_tilde_channel"],
        poll_interval_seconds=0.05,
        poll_max_interval_seconds=1,
    )
    run_tap(config)
    requests = sandbox.requests
    assert [(r.vendor, r.method) for r in requests] == [("branch", "POST")] + [("branch", "GET")] * 4 + [
        ("files", "GET")
    ]
    post = requests[0]
    assert post.path == "/v2/analytics" and post.headers["access-token"] == TOKEN
    assert post.query == {"organization_id": [ORG], "limit": ["50000"], "format": ["json"]}
    assert post.json() == {
        "start_date": day.isoformat(),
        "end_date": day.isoformat(),
        "data_source": "reengagement_cohort",
        "dimensions": ["reengagement_activity_touch_data_tilde_channel", "reengagement_activity_timezone_adjusted_day"],
        "measures": ["OPEN"],
        "granularity": "day",
        "granularity_band_count": 3,
        "cumulative": False,
        "per_user": False,
    }
    polls = requests[1:5]
    assert all(p.query == {"organization_id": [ORG]} for p in polls)
    # The interval grows with the job's age: 0.05 s, then 1.5 times longer each poll. Each gap holds its interval
    # at least (a busy machine adds to it, never takes away).
    gaps = [b.at - a.at for a, b in itertools.pairwise(polls)]
    assert all(gap >= 0.05 * 1.5**n for n, gap in enumerate(gaps, start=1)), gaps
    download = requests[-1]
    assert "access-token" not in download.headers and "authorization" not in download.headers
    assert "X-Amz-Signature" in download.query


def test_a_capped_result_splits_the_window(sandbox: Sandbox) -> None:
    sandbox.config.branch_cardinality = {"touch_data_tilde_campaign": 20, "touch_data_tilde_channel": 10}
    start, end = days_ago(200), days_ago(111)  # 90 days x 200 combinations x 3 rows = 54,000 rows
    config = branch_config(
        sandbox,
        start_date=start,
        end_date=end,
        data_sources=["install_cohort"],
        dimensions=["touch_data_tilde_campaign", "touch_data_tilde_channel"],
        measures=["OPEN", "revenue"],
        granularity_band_count=1,
    )
    run = run_tap(config)
    windows = [
        (r.json()["start_date"], r.json()["end_date"]) for r in sandbox.requests_to("branch") if r.method == "POST"
    ]
    assert windows == [
        (start.isoformat(), end.isoformat()),
        (start.isoformat(), days_ago(156).isoformat()),
        (days_ago(155).isoformat(), end.isoformat()),
    ]
    dims = ("install_activity_touch_data_tilde_campaign", "install_activity_touch_data_tilde_channel")
    query = Query(
        "install_cohort", start, end, (*dims, "install_activity_timezone_adjusted_day"), ("OPEN", "revenue"), "day", 1
    )
    records = by_key(run.records(INSTALL))
    assert len(records) == 54_000
    assert records == expected(sandbox, query)


def test_a_24_month_backfill_never_meets_a_429_and_stays_near_the_bound(sandbox: Sandbox) -> None:
    started = time.monotonic()
    run = run_tap(branch_config(sandbox, granularity_band_count=1))
    elapsed = time.monotonic() - started
    api = sandbox.requests_to("branch")
    jobs = [r for r in api if r.method == "POST"]
    assert len(jobs) == 2 * math.ceil(731 / 90)  # both data sources, 90-day windows back to 730 days ago
    assert [r.status for r in api if r.status == 429] == []
    assert len(api) == 3 * len(jobs)  # per job: the POST and two polls (QUEUED, then FINISHED)
    bound = max((math.ceil(len(api) / limit["requests"]) - 1) * limit["seconds"] for limit in SCALED_LIMITS)
    assert bound <= elapsed <= 1.5 * bound + 2
    assert run.final_state["bookmarks"][INSTALL]["replication_key_value"] == days_ago(0).isoformat()
    print(
        f"\nBranch 24-month backfill: {len(jobs)} jobs, {len(api)} API requests ({len(api) // len(jobs)} per job), "
        f"0 x 429, {elapsed:.1f}s against a lower bound of {bound:.1f}s"
    )


def test_a_job_in_error_fails_with_its_message(sandbox: Sandbox) -> None:
    sandbox.config.branch_job_errors = ["Query exceeds the allowed number of dimension values"]
    day = days_ago(5)
    run = run_tap(
        branch_config(sandbox, start_date=day, end_date=day, data_sources=["install_cohort"]), expect_error=True
    )
    message = run.error_text
    assert "ended in ERROR: Query exceeds the allowed number of dimension values" in message
    assert f"stream {INSTALL}, window {day}..{day}" in message
    assert len([r for r in sandbox.requests_to("branch") if r.method == "POST"]) == 1


def test_a_job_with_a_transient_error_is_submitted_once_more(sandbox: Sandbox) -> None:
    sandbox.config.branch_job_errors = ["Internal timeout, please try again"]
    day = days_ago(5)
    run = run_tap(branch_config(sandbox, start_date=day, end_date=day, data_sources=["install_cohort"]))
    assert len([r for r in sandbox.requests_to("branch") if r.method == "POST"]) == 2
    assert len(run.records(INSTALL)) > 0


def test_a_job_that_never_finishes_times_out_with_a_clear_message(sandbox: Sandbox) -> None:
    sandbox.config.branch_job_polls = 10**9
    day = days_ago(5)
    config = branch_config(
        sandbox, start_date=day, end_date=day, data_sources=["install_cohort"], job_timeout_seconds=0.5
    )
    run = run_tap(config, expect_error=True)
    message = run.error_text
    assert "not finished after" in message and "last status RUNNING" in message
    assert "config['branch']['job_timeout_seconds']" in message


def test_resume_after_an_interruption_between_windows(sandbox: Sandbox) -> None:
    start = days_ago(300)
    config = branch_config(
        sandbox, start_date=start, end_date=days_ago(1), data_sources=["install_cohort"], lookback_days=0
    )
    # The second job's POST is refused for good: the first window (300..211 days ago) is done.
    sandbox.add_fault(Fault("status", vendor="branch", path_contains="/v2/analytics", status=403, skip=3))
    interrupted = run_tap(config, expect_error=True)
    state = interrupted.final_state
    assert state["bookmarks"][INSTALL]["replication_key_value"] == days_ago(211).isoformat()
    sandbox.reset()
    resumed = run_tap(config, state=state)
    assert sandbox.requests_to("branch")[0].json()["start_date"] == days_ago(211).isoformat()
    dims = ("install_activity_timezone_adjusted_day",)
    truth = expected(sandbox, Query("install_cohort", start, days_ago(1), dims, ("OPEN",), "day", 3))
    assert by_key(interrupted.records(INSTALL)) | by_key(resumed.records(INSTALL)) == truth


def test_the_dimension_prefix_rule() -> None:
    assert full_dimension("touch_data_tilde_campaign", "install_cohort") == "install_activity_touch_data_tilde_campaign"
    assert (
        full_dimension("touch_data_tilde_campaign", "reengagement_cohort")
        == "reengagement_activity_touch_data_tilde_campaign"
    )
    assert full_dimension("user_data_os", "install_cohort") == "user_data_os"
    assert full_dimension("app_id", "reengagement_cohort") == "app_id"
    assert full_dimension("install_activity_data_os", "install_cohort") == "install_activity_data_os"
    assert full_dimension("install_activity_data_os", "reengagement_cohort") is None


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"dimensions": [f"touch_data_tilde_d{i}" for i in range(11)]}, "12 dimensions for install_cohort"),
        ({"measures": []}, "config['branch']['measures']: an empty list"),
        ({"data_sources": ["web_cohort"]}, "'web_cohort' is not one of"),
        ({"dimensions": ["install_activity_data_os"], "data_sources": ["reengagement_cohort"]}, "not in data_sources"),
        ({"granularity_band_count": 0}, "config['branch']['granularity_band_count']: 0"),
        ({"organization_id": None}, "give organization_id or app_id"),
        ({"enable_install_recalculation": "yes"}, "enable_install_recalculation"),
    ],
)
def test_bad_branch_config_fails_before_any_request(sandbox: Sandbox, change: dict, fragment: str) -> None:
    from singer_sdk.exceptions import ConfigValidationError

    from tap_cohorts.tap import TapCohorts

    config = branch_config(sandbox)
    config["branch"].update(change)
    with pytest.raises(ConfigValidationError) as raised:
        TapCohorts(config=config)
    assert fragment in "\n".join(raised.value.errors)
    assert sandbox.requests == []


def test_an_end_date_beyond_24_months_is_refused(sandbox: Sandbox) -> None:
    from singer_sdk.exceptions import ConfigValidationError

    from tap_cohorts.tap import TapCohorts

    config = branch_config(sandbox, start_date=days_ago(900), end_date=days_ago(800))
    with pytest.raises(ConfigValidationError) as raised:
        TapCohorts(config=config)
    assert "beyond Branch's 24 months of lookback" in "\n".join(raised.value.errors)


def test_a_requested_dimension_missing_from_every_row_fails_the_window_naming_both_sides(sandbox: Sandbox) -> None:
    """The document's dimension list names the ad partner `..._advertising_partner_name` (its label: "ad partner");
    an export answering it as `..._advertising_partner` would otherwise give every partner's rows one key."""
    requested = "install_activity_touch_data_tilde_advertising_partner_name"
    sandbox.config.branch_answer_names = {requested: "install_activity_touch_data_tilde_advertising_partner"}
    day = days_ago(10)
    config = branch_config(
        sandbox,
        start_date=day,
        end_date=day,
        data_sources=["install_cohort"],
        dimensions=["touch_data_tilde_advertising_partner_name"],
    )
    run = run_tap(config, expect_error=True)
    message = run.error_text
    assert f"the export has no {requested} in any of its" in message
    assert "install_activity_touch_data_tilde_advertising_partner," in message  # what the rows hold
    assert f"window {day}..{day}" in message and "stream branch_install_cohorts" in message
    assert run.records() == []
