"""The command line a user and Meltano call: --about, --discover, and a sync with --catalog and --state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cohorts_sandbox import Sandbox
from tests.helpers import applovin_config, appsflyer_config, days_ago

pytestmark = pytest.mark.dates

ROOT = Path(__file__).resolve().parent.parent
TAP = os.path.join(os.path.dirname(sys.executable), "tap-cohorts")
PRIMARY_KEYS = {
    "appsflyer_cohorts": ["app_id", "cohort_type", "kpi", "aggregation_type", "cohort_date", "dimension_key", "period"],
    "applovin_cohort_revenue": ["cohort_date", "dimension_key", "period"],
    "applovin_cohort_impressions": ["cohort_date", "dimension_key", "period"],
    "applovin_cohort_sessions": ["cohort_date", "dimension_key", "period"],
    "cohort_syncs": ["stream", "sync_partition", "first_date", "last_date", "synced_at"],
}


def tap(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    result = subprocess.run([TAP, *args], capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_discover_lists_every_stream_with_its_key(sandbox: Sandbox, tmp_path: Path) -> None:
    config = {**appsflyer_config(sandbox, groupings=["pid", "geo"]), **applovin_config(sandbox, columns=["country"])}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    catalog = json.loads(tap("--config", str(path), "--discover").stdout)
    streams = {s["tap_stream_id"]: s for s in catalog["streams"]}
    assert {name: s["key_properties"] for name, s in streams.items()} == PRIMARY_KEYS
    appsflyer = streams["appsflyer_cohorts"]
    assert {"pid", "geo"} <= set(appsflyer["schema"]["properties"])
    assert appsflyer["schema"]["properties"]["cohort_date"]["format"] == "date"
    assert appsflyer["replication_key"] == "cohort_date" and appsflyer["replication_method"] == "INCREMENTAL"
    assert "application" not in streams["applovin_cohort_revenue"]["schema"]["properties"]
    readme = (ROOT / "README.md").read_text()
    for name in streams:
        assert f"`{name}`" in readme, f"{name} is not in the README"
    assert sandbox.requests == []


def test_discover_with_bad_config_names_the_key(sandbox: Sandbox, tmp_path: Path) -> None:
    """Meltano discovers before every run: bad config must fail there as clearly as in a sync."""
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**appsflyer_config(sandbox), "start_date": "not-a-date"}))
    result = subprocess.run([TAP, "--config", str(path), "--discover"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "config['start_date']: 'not-a-date' is not a date (use YYYY-MM-DD)" in result.stderr
    assert "Traceback" not in result.stderr
    assert sandbox.requests == []


def test_a_sync_with_catalog_and_state(sandbox: Sandbox, tmp_path: Path) -> None:
    config = applovin_config(sandbox, start_date=days_ago(20), periods=[0], lookback_days=2)
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    catalog = json.loads(tap("--config", str(config_path), "--discover").stdout)
    for stream in catalog["streams"]:
        selected = stream["tap_stream_id"] == "applovin_cohort_revenue"
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = selected
    catalog_path = tmp_path / "catalog.json"
    catalog_path.write_text(json.dumps(catalog))
    state = {
        "bookmarks": {
            "applovin_cohort_revenue": {
                "replication_key": "cohort_date",
                "replication_key_value": days_ago(5).isoformat(),
            }
        }
    }
    state_path = tmp_path / "state.json"
    state_path.write_text(json.dumps(state))
    result = tap("--config", str(config_path), "--catalog", str(catalog_path), "--state", str(state_path))
    messages = [json.loads(line) for line in result.stdout.splitlines()]
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    assert {m["stream"] for m in messages if m["type"] == "RECORD"} == {"applovin_cohort_revenue"}
    assert min(r["cohort_date"] for r in records) == days_ago(7).isoformat()
    assert [r.query["start"] for r in sandbox.requests_to("applovin")] == [[days_ago(7).isoformat()]]
    final = [m["value"] for m in messages if m["type"] == "STATE"][-1]
    assert final["bookmarks"]["applovin_cohort_revenue"]["replication_key_value"] == days_ago(0).isoformat()
    assert "Summary applovin_cohort_revenue: 160 records in 1 windows, 1 requests" in result.stderr
