"""The fault matrix across every vendor: transient faults give the same records as a clean run; permanent
ones fail naming vendor, stream, partition and window, and the state they leave resumes without gaps. No
credential ever reaches a log line, an error, the state or a record."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from cohorts_sandbox import Fault, Sandbox
from tests.helpers import (
    AF_TOKEN,
    APPLOVIN_KEY,
    TapRun,
    applovin_config,
    appsflyer_config,
    days_ago,
    run_tap,
    vendor_records,
)
from tests.test_adjust import TOKEN as ADJUST_TOKEN
from tests.test_adjust import adjust_config
from tests.test_branch import TOKEN as BRANCH_TOKEN
from tests.test_branch import branch_config
from tests.test_braze import KEY as BRAZE_KEY
from tests.test_braze import braze_config


@dataclass(frozen=True)
class Vendor:
    name: str
    secret: str
    config: Callable[..., dict]
    json_api: bool


def shrink_braze(sandbox: Sandbox) -> None:
    for name, count in (
        ("segments", 4),
        ("campaigns", 2),
        ("cards", 2),
        ("events", 2),
        ("products", 1),
        ("canvases", 2),
    ):
        setattr(sandbox.config, f"braze_{name}", count)


VENDORS = {
    "appsflyer": Vendor(
        "appsflyer",
        AF_TOKEN,
        lambda s, **k: appsflyer_config(s, start_date=days_ago(33), end_date=days_ago(29), **k),
        False,
    ),
    "branch": Vendor(
        "branch",
        BRANCH_TOKEN,
        lambda s, **k: branch_config(
            s, start_date=days_ago(200), end_date=days_ago(1), data_sources=["install_cohort"], **k
        ),
        True,
    ),
    "adjust": Vendor(
        "adjust",
        ADJUST_TOKEN,
        lambda s, **k: adjust_config(s, start_date=days_ago(40), grouping=["trackers"], **k),
        True,
    ),
    "braze": Vendor(
        "braze",
        BRAZE_KEY,
        lambda s, **k: braze_config(
            s, start_date=days_ago(150), end_date=days_ago(1), export_segment_ids=["seg-00001"], **k
        ),
        True,
    ),
    "applovin": Vendor(
        "applovin",
        APPLOVIN_KEY,
        lambda s, **k: applovin_config(s, start_date=days_ago(3), periods=[0], page_size=30, **k),
        True,
    ),
}

TRANSIENT = {
    "429 with Retry-After": Fault("status", status=429, retry_after=0.1),
    "429 without Retry-After": Fault("status", status=429, times=2),
    "5xx burst": Fault("status", status=503, times=3),
    "dropped connections": Fault("drop", times=2),
    "slow past the read timeout": Fault("slow", delay=0.8),
    "truncated body": Fault("truncate"),
    "malformed JSON": Fault("malformed_json"),
}


def keyed(run: TapRun) -> dict[str, dict[str, dict]]:
    """Records per stream, by primary key (as the warehouse would hold them after upsert)."""
    keys: dict[str, list[str]] = {m["stream"]: m["key_properties"] for m in run.messages if m["type"] == "SCHEMA"}
    tables: dict[str, dict[str, dict]] = {}
    for stream, record in vendor_records(run.messages):
        key = json.dumps([record.get(k) for k in keys[stream]])
        tables.setdefault(stream, {})[key] = record
    return tables


def leaks(vendor: Vendor, run: TapRun, caplog: pytest.LogCaptureFixture) -> bool:
    return vendor.secret in caplog.text + str(run.error or "") + json.dumps(run.messages)


@pytest.fixture
def fault_sandbox(sandbox: Sandbox) -> Sandbox:
    shrink_braze(sandbox)
    sandbox.config.braze_export_polls = 1
    return sandbox


@pytest.mark.parametrize("vendor_name", VENDORS)
def test_transient_faults_change_nothing(
    fault_sandbox: Sandbox, vendor_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="urllib3")  # URLs with query strings are logged at DEBUG
    vendor = VENDORS[vendor_name]
    sandbox = fault_sandbox
    config = vendor.config(sandbox, request_timeout=0.4)
    baseline = keyed(run_tap(config))
    assert baseline and all(baseline.values())
    outcomes = {}
    targets = [vendor.name] + (["files"] if vendor.name in ("branch", "braze") else [])
    for label, fault in TRANSIENT.items():
        if label == "malformed JSON" and not vendor.json_api:
            continue
        for target in targets:
            sandbox.reset()
            sandbox.add_fault(Fault(**{**fault.to_dict(), "vendor": target, "skip": 1}))
            run = run_tap(config)
            applied = [r for r in sandbox.requests if r.fault] or [label == "slow past the read timeout"]
            assert applied, f"{label} on {target} was never applied"
            assert keyed(run) == baseline, f"{label} on {target} changed the records"
            assert not leaks(vendor, run, caplog), f"{label} on {target} leaked the credential"
            assert [r for r in sandbox.requests if r.status == 429 and not r.fault] == []
            outcomes[f"{label} ({target})"] = "complete, identical records"
    print(f"\n{vendor.name}: " + "; ".join(f"{k}: {v}" for k, v in outcomes.items()))


@pytest.mark.dates
@pytest.mark.parametrize("vendor_name", VENDORS)
def test_a_permanent_failure_names_where_and_resumes_without_gaps(
    fault_sandbox: Sandbox, vendor_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="urllib3")  # URLs with query strings are logged at DEBUG
    vendor = VENDORS[vendor_name]
    sandbox = fault_sandbox
    config = vendor.config(sandbox, max_retries=1, lookback_days=0)
    baseline = keyed(run_tap(config))
    sandbox.reset()
    sandbox.add_fault(Fault("status", vendor=vendor.name, status=500, times=1000, skip=2, message="outage"))
    failed = run_tap(config, expect_error=True)
    message = failed.error_text
    assert vendor.name in message and "stream " in message and "gave up after 2 attempts" in message
    assert "HTTP 500" in message and "outage" in message
    if vendor.name != "braze":  # Braze's first failing request is a list page, which has no window
        assert "window " in message
    assert not leaks(vendor, failed, caplog)
    sandbox.reset()
    resumed = run_tap(config, state=failed.final_state if failed.states else None)
    combined = keyed(failed)
    for stream, records in keyed(resumed).items():
        combined.setdefault(stream, {}).update(records)
    assert combined == baseline
