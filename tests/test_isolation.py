"""One vendor's failure must not cost the others their day: all five vendors in one run, one partition failing
for good; every other partition syncs exactly as in a clean run, the failing one's bookmark stays, the run
exits non-zero with a summary naming the failure. `fail_fast` restores stop-at-first-error."""

from __future__ import annotations

import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import pytest

from cohorts_sandbox import Fault, Sandbox, SandboxConfig
from tap_cohorts.core.errors import VendorError
from tap_cohorts.core.failures import RunFailed
from tests.helpers import TapRun, applovin_config, appsflyer_config, days_ago, run_tap
from tests.test_adjust import adjust_config
from tests.test_adjust_report import report_config
from tests.test_branch import branch_config
from tests.test_braze import braze_config
from tests.test_cli import TAP
from tests.test_reliability import keyed, shrink_braze


def all_vendors(sandbox: Sandbox, **top: Any) -> dict:
    """Every vendor in one config, each from its own start date, all up to yesterday."""
    sections = [
        appsflyer_config(sandbox, app_ids=["com.example.puzzle", "id1234567890"], periods=[0, 1, 7]),
        branch_config(sandbox, data_sources=["install_cohort", "reengagement_cohort"]),
        adjust_config(sandbox, grouping=["trackers"], tracker_tokens=["12djsk"]),
        report_config(sandbox, app_tokens=["abc123def4", "3fdwnag4ec"]),
        braze_config(sandbox, export_segment_ids=["seg-00001"]),
        applovin_config(sandbox, periods=[0, 1], page_size=30),
    ]
    config: dict[str, Any] = {"start_date": days_ago(12).isoformat(), "end_date": days_ago(1).isoformat(), **top}
    for section in sections:
        config.update({k: v for k, v in section.items() if isinstance(v, dict)})
    return config


def bookmarks(run: TapRun, stream: str) -> dict[str, str | None]:
    """Each partition's bookmark in the run's last state, by its context."""
    state = run.final_state["bookmarks"].get(stream, {})
    partitions = state.get("partitions") or [state]
    return {repr(sorted((p.get("context") or {}).items())): p.get("replication_key_value") for p in partitions}


def shrunk(sandbox: Sandbox) -> Sandbox:
    shrink_braze(sandbox)
    sandbox.config.braze_export_polls = 1
    return sandbox


@pytest.fixture
def five(sandbox: Sandbox) -> Sandbox:
    return shrunk(sandbox)


@pytest.fixture(scope="module")
def clean() -> dict:
    """What a clean run of every vendor gives (the same from every sandbox of one seed): each failing run is
    compared with it, so it is run once for the module."""
    with Sandbox(SandboxConfig(time_scale=0.01)) as sandbox:
        return keyed(run_tap(all_vendors(shrunk(sandbox))))


# Per vendor: how one of its partitions fails for good, the stream it belongs to, and that partition's context.
FAILURES: dict[str, tuple[Fault | None, str, dict[str, str] | None]] = {
    "appsflyer": (
        Fault("status", vendor="appsflyer", path_contains="/app/id1234567890", status=500, times=10_000),
        "appsflyer_cohorts",
        {"app_id": "id1234567890", "cohort_type": "user_acquisition", "kpi": "sessions"},
    ),
    "branch": (None, "branch_install_cohorts", None),  # its export job ends in ERROR (sandbox.branch_job_errors)
    "adjust": (
        Fault("status", vendor="adjust", path_contains="/trackers/", status=404, times=10_000),
        "adjust_tracker_cohorts",
        {"app_token": "abc123def4", "tracker_token": "12djsk"},
    ),
    "adjust_report": (
        # One app's windows fail (the other app's partition still syncs).
        Fault("status", vendor="adjust", path_contains="/reports-service/", status=500, times=2),
        "adjust_report_cohorts",
        None,
    ),
    "braze": (
        # The first campaign's series (two attempts: max_retries 1); the second campaign's still syncs (asked at the
        # same time: the tap sends the next requests ahead).
        Fault(
            "status",
            vendor="braze",
            path_contains="/campaigns/data_series",
            param="campaign_id=cmp-00001",
            status=500,
            times=2,
        ),
        "braze_campaign_data_series",
        None,
    ),
    "applovin": (
        # The issue's own case: a number with a fraction where a count must be whole.
        Fault("bad_value", vendor="applovin", path_contains="/maxCohort/imp", field="user_count_0", value="483.80"),
        "applovin_cohort_impressions",
        None,
    ),
}


@pytest.mark.parametrize("vendor", FAILURES)
def test_one_failing_partition_costs_only_itself(
    five: Sandbox, clean: dict, vendor: str, caplog: pytest.LogCaptureFixture
) -> None:
    config = all_vendors(five, max_retries=1)
    for section in config.values():
        if isinstance(section, dict):
            section["max_retries"] = 1
    assert len(clean) >= 33 - 4  # every stream of every vendor (the News Feed and product series may be empty)
    fault, stream, partition = FAILURES[vendor]
    if fault:
        five.add_fault(fault)
    else:
        five.config.branch_job_errors = ["invalid dimension combination"]
    caplog.set_level(logging.INFO)
    failed = run_tap(config, expect_error=True)

    assert isinstance(failed.error, RunFailed) and "partition(s) failed" in failed.error_text
    records = keyed(failed)
    for name, rows in clean.items():
        if name == stream:
            assert records.get(name, {}).items() <= rows.items()  # what it did emit is right
            assert records.get(name, {}) != rows
        else:
            assert records.get(name) == rows, f"{name} lost records to {vendor}'s failure"
    if partition is not None:
        assert bookmarks(failed, stream)[repr(sorted(partition.items()))] is None  # the bookmark did not move
    summary = next(
        r.getMessage() for r in caplog.records if "Run summary:" in r.getMessage() and "failed" in r.getMessage()
    )
    assert f"| {vendor} | {stream} |" in summary
    print(f"\n{vendor}: {sum(map(len, records.values()))} records against {sum(map(len, clean.values()))} clean")


def test_a_refused_credential_ends_that_vendor_after_one_request(
    five: Sandbox, clean: dict, caplog: pytest.LogCaptureFixture
) -> None:
    config = all_vendors(five)
    five.add_fault(Fault("status", vendor="adjust", status=401, times=10_000, message="token revoked"))
    failed = run_tap(config, expect_error=True)
    # One request to the KPI Service, one to the Report Service (one token, two sections): each ends at once.
    assert len(five.requests_to("adjust")) == 2
    records = keyed(failed)
    assert {name: rows for name, rows in records.items()} == {
        n: r for n, r in clean.items() if not n.startswith("adjust")
    }
    assert "token revoked" in failed.error_text
    summary = next(r.getMessage() for r in caplog.records if "partition(s) failed" in r.getMessage())
    assert "| (not asked) | adjust_cohorts |" in summary or "| (not asked) | adjust_tracker_cohorts |" in summary


def test_fail_fast_stops_at_the_first_error(five: Sandbox) -> None:
    config = all_vendors(five, fail_fast=True)
    five.add_fault(Fault("status", vendor="adjust", status=404, times=10_000))
    failed = run_tap(config, expect_error=True)
    assert isinstance(failed.error, VendorError) and not isinstance(failed.error, RunFailed)
    assert "HTTP 404" in failed.error_text
    assert len(five.requests_to("adjust")) == 1
    assert five.requests_to("applovin") == [] and five.requests_to("appsflyer") == []  # streams after it: never


def test_a_failed_run_ends_with_the_summary_and_one_line_not_a_traceback(sandbox: Sandbox, tmp_path: Path) -> None:
    config = {**appsflyer_config(sandbox, api_token="a-revoked-token"), **applovin_config(sandbox, periods=[0])}
    config["start_date"] = days_ago(2).isoformat()
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    result = subprocess.run([TAP, "--config", str(path)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.rstrip().splitlines()
    summary = next(i for i, line in enumerate(lines) if "Run summary: 1 partition(s) failed" in line)
    assert lines[summary + 1 : summary + 3] == ["| vendor | stream | partition | error |", "| --- | --- | --- | --- |"]
    assert lines[summary + 3].startswith("| appsflyer | appsflyer_cohorts | app_id=com.example.puzzle")
    assert "HTTP 401 Unauthorized" in lines[summary + 3]
    assert len(lines) == summary + 5  # the table's one row, then one line
    assert lines[-1].endswith(
        "| ERROR    | tap-cohorts                    | 1 partition(s) failed (appsflyer): the run summary above names "
        "each one, where and why; every other partition synced, and the failed ones keep their bookmarks and are "
        "asked again next run; `tap-cohorts --config … --test` checks each vendor's credentials and ids"
    )
    assert sum(record.startswith('{"type":"RECORD","stream":"applovin') for record in result.stdout.splitlines()) > 0
