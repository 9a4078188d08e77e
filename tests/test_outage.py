"""A vendor that is down costs the run one partition's retries, not every partition's: once a partition has spent
its retries on the host's failures (5xx, refused connections), the vendor's other partitions get one attempt each,
fail as "vendor down" and keep their bookmarks; the other vendors sync as in a clean run; a success resets it."""

from __future__ import annotations

import json
import logging
import socket

import pytest

from cohorts_sandbox import Fault, Sandbox
from tests.helpers import applovin_config, appsflyer_config, days_ago, run_tap, vendor_records
from tests.test_adjust_report import report_config

APPS = ["com.example.puzzle", "id1234567890", "com.example.third"]
RETRIES = 8  # the default max_retries


def many_partitions(sandbox: Sandbox, **appsflyer: object) -> dict:
    """AppsFlyer with 3 apps x 2 cohort types x 3 KPIs (18 partitions), and Adjust's Report Service beside it."""
    sandbox.config.appsflyer_apps = tuple(APPS)
    config = {
        **appsflyer_config(
            sandbox,
            app_ids=APPS,
            cohort_types=["user_acquisition", "retargeting"],
            kpis=["sessions", "revenue", "retention"],
            periods=[0, 1],
            retry_wait_seconds=0.01,
            **appsflyer,
        ),
        **report_config(sandbox),
    }
    config.update(start_date=days_ago(10).isoformat(), lookback_days=2)
    return config


def bookmarks(state: dict, stream: str) -> dict[str, str]:
    value = state["bookmarks"].get(stream, {})
    return {json.dumps(p["context"], sort_keys=True): p["replication_key_value"] for p in value.get("partitions", [])}


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("outage", ["HTTP 500", "refused connections"])
def test_many_partitions_of_a_vendor_that_is_down_cost_one_partitions_retries(
    sandbox: Sandbox, outage: str, caplog: pytest.LogCaptureFixture
) -> None:
    clean_config = many_partitions(sandbox)
    clean = run_tap(clean_config)
    state = clean.final_state
    sandbox.reset()
    config = many_partitions(sandbox)
    if outage == "HTTP 500":
        sandbox.add_fault(Fault("status", vendor="appsflyer", status=500, times=100_000, message="Internal error"))
    else:
        config["appsflyer"]["base_url"] = f"http://127.0.0.1:{closed_port()}/appsflyer"
    run = run_tap(config, state=state, expect_error=True)

    if outage == "HTTP 500":
        # One partition's retries, then one attempt for each of the other 17 (before: 18 x 9 = 162 requests).
        assert len(sandbox.requests_to("appsflyer")) == (RETRIES + 1) + 17
        assert "appsflyer (down)" in run.error_text
        assert "vendor down (an earlier partition spent its retries" in caplog.text
    else:  # an unreachable host ends the vendor: its other partitions are not asked
        assert "appsflyer (down)" in run.error_text
        assert "| (not asked) | appsflyer_cohorts | 17 partition(s) | its vendor ended earlier |" in caplog.text
    assert "Vendor(s) down in this run: appsflyer" in caplog.text
    # Every AppsFlyer bookmark is where it was; Adjust synced as in a clean run.
    assert bookmarks(run.final_state, "appsflyer_cohorts") == bookmarks(state, "appsflyer_cohorts")
    assert len(bookmarks(state, "appsflyer_cohorts")) == 18
    sandbox.reset()
    again = run_tap(clean_config, state=state)
    assert [r for r in vendor_records(run.messages) if r[0] == "adjust_report_cohorts"] == [
        r for r in vendor_records(again.messages) if r[0] == "adjust_report_cohorts"
    ]


def test_applovins_three_streams_down_cost_one_streams_retries(sandbox: Sandbox) -> None:
    sandbox.add_fault(Fault("status", vendor="applovin", status=503, times=100_000))
    config = applovin_config(sandbox, retry_wait_seconds=0.01)
    run = run_tap(config, expect_error=True)
    assert len(sandbox.requests_to("applovin")) == (RETRIES + 1) + 2  # before: 3 x 9 = 27
    assert "applovin (down)" in run.error_text
    assert run.records() == []


def test_a_success_resets_it(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    """One app's queries fail (a partition's problem, not an outage): after its retries the vendor is taken for
    down, the next partition's one attempt succeeds, and from then on requests are retried again."""
    sandbox.add_fault(Fault("status", vendor="appsflyer", path_contains="com.example.puzzle", status=500, times=10_000))
    sandbox.add_fault(Fault("status", vendor="appsflyer", path_contains="com.example.third", status=502, times=2))
    config = many_partitions(sandbox)
    config["appsflyer"]["cohort_types"] = ["user_acquisition"]
    config["appsflyer"]["kpis"] = ["sessions"]
    with caplog.at_level(logging.INFO, logger="tap-cohorts"):  # an earlier test may have quietened it
        run = run_tap(config, expect_error=True)
    synced = {r["app_id"] for r in run.records("appsflyer_cohorts")}
    assert synced == {"id1234567890", "com.example.third"}  # the third app's two 502s were retried
    assert "appsflyer answers again: requests are retried again" in caplog.text
    assert "1 partition(s) failed (appsflyer (down))" in run.error_text


def test_a_run_s_retries_have_a_budget(sandbox: Sandbox) -> None:
    """Whatever the number of partitions, a vendor's retries wait at most retry_budget_seconds in a run."""
    sandbox.add_fault(Fault("status", vendor="appsflyer", status=429, times=100_000, retry_after=0.2))
    config = many_partitions(sandbox, retry_budget_seconds=1)
    config["appsflyer"]["kpis"] = ["sessions"]
    run = run_tap(config, expect_error=True)
    # 429 is not the host failing: no "down"; the budget (1 s of 0.2 s waits) allows 5 retries in the whole run.
    assert len(sandbox.requests_to("appsflyer")) == 6 + 5
    assert "its retry_budget_seconds (1s)" in run.error_text and "(down)" not in run.error_text
