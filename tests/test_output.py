"""The fast record path gives way to the SDK's wherever the SDK has work to do: deselected properties, stream
maps, flattening, selected child streams. Same records either way where nothing is asked of them."""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import re
from decimal import Decimal

import pytest
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib import StateMessage

from cohorts_sandbox import Sandbox
from tap_cohorts.core.output import StateFlushingWriter
from tap_cohorts.tap import TapCohorts
from tests.helpers import TapRun, appsflyer_config, catalog_selecting, days_ago, run_tap

METRICS = "singer_sdk.metrics"
# The SDK's msgspec encoder writes an aware UTC datetime as RFC 3339 with a Z.
TIME_EXTRACTED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")


def config(sandbox: Sandbox, **top: object) -> dict:
    return {**appsflyer_config(sandbox, start_date=days_ago(4), groupings=["pid", "geo"]), **top}


def catalog_without(base: dict, stream: str, field: str) -> dict:
    catalog = copy.deepcopy(TapCohorts(config=base).catalog_dict)
    for entry in catalog["streams"]:
        if entry["tap_stream_id"] == stream:
            for metadata in entry["metadata"]:
                if metadata["breadcrumb"] == ["properties", field]:
                    metadata["metadata"]["selected"] = False
    return catalog


def braze_config(sandbox: Sandbox) -> dict:
    return {
        "braze": {
            "api_key": "braze-sandbox-api-key",
            "app_group_id": "ag-sandbox",
            "base_url": sandbox.url("braze"),
            "rate_limits": [{"requests": 1000, "seconds": 1}],
        }
    }


def test_a_deselected_property_is_left_out(sandbox: Sandbox) -> None:
    base = config(sandbox)
    plain = run_tap(base).records("appsflyer_cohorts")
    sandbox.reset()
    narrowed = run_tap(base, catalog=catalog_without(base, "appsflyer_cohorts", "geo")).records("appsflyer_cohorts")
    assert plain and all("geo" in record for record in plain)
    assert narrowed == [{k: v for k, v in record.items() if k != "geo"} for record in plain]


def test_stream_maps_and_flattening_still_apply(sandbox: Sandbox) -> None:
    maps = {"appsflyer_cohorts": {"app": "app_id.upper()", "pid": None}}
    run = run_tap(config(sandbox, stream_maps=maps, flattening_enabled=True, flattening_max_depth=1))
    records = run.records("appsflyer_cohorts")
    assert records and all(r["app"] == "COM.EXAMPLE.PUZZLE" and "pid" not in r for r in records)


def test_braze_children_run_only_when_selected(sandbox: Sandbox) -> None:
    braze = braze_config(sandbox)
    catalog = catalog_selecting(braze, "braze_campaigns", "braze_segments")
    lists_only = run_tap(braze, catalog=catalog)
    assert set(lists_only.counts()) == {"braze_campaigns", "braze_segments"}
    assert {r.path for r in sandbox.requests_to("braze")} == {"/campaigns/list", "/segments/list"}

    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == [] and entry["tap_stream_id"] == "braze_segment_details":
                metadata["metadata"]["selected"] = True
    sandbox.reset()
    with_details = run_tap(braze, catalog=catalog)
    segments = lists_only.counts()["braze_segments"]
    assert with_details.counts()["braze_segment_details"] == segments
    assert len([r for r in sandbox.requests_to("braze") if r.path == "/segments/details"]) == segments


def record_counts(caplog: pytest.LogCaptureFixture, stream: str) -> int:
    """What the SDK's record_count metric said for `stream`, in all."""
    points = [json.loads(r.getMessage().removeprefix("METRIC: ")) for r in caplog.records if r.name == METRICS]
    return sum(p["value"] for p in points if p["metric"] == "record_count" and p["tags"].get("stream") == stream)


def test_the_fast_path_writes_the_sdks_messages_and_counts_them(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """Records written past the SDK's loop are the SDK's RECORD messages, key for key and in its key order (a
    stream map that changes nothing sends them the SDK's way), and the SDK's record_count metric counts them."""
    base = config(sandbox)
    with caplog.at_level(logging.INFO, logger=METRICS):
        fast = run_tap(base)
    fast_count = record_counts(caplog, "appsflyer_cohorts")
    caplog.clear()
    sandbox.reset()
    with caplog.at_level(logging.INFO, logger=METRICS):
        sdk = run_tap({**base, "stream_maps": {"appsflyer_cohorts": {}}})
    sdk_count = record_counts(caplog, "appsflyer_cohorts")

    def shapes(run: TapRun) -> list[list[str]]:
        return [list(m) for m in run.messages if m["type"] == "RECORD" and m["stream"] == "appsflyer_cohorts"]

    assert fast.records("appsflyer_cohorts") == sdk.records("appsflyer_cohorts") != []
    assert shapes(fast) == shapes(sdk) and shapes(fast)[0] == ["type", "stream", "record", "time_extracted"]
    assert [list(r) for r in fast.records("appsflyer_cohorts")] == [list(r) for r in sdk.records("appsflyer_cohorts")]
    stamps = [m["time_extracted"] for run in (fast, sdk) for m in run.messages if m["type"] == "RECORD"]
    assert all(TIME_EXTRACTED.fullmatch(stamp) for stamp in stamps), stamps[:3]
    assert fast_count == sdk_count == len(fast.records("appsflyer_cohorts"))


def test_a_full_table_stream_s_records_carry_the_table_version(sandbox: Sandbox) -> None:
    """Braze's lists are read whole: each RECORD carries the version its ACTIVATE_VERSION names, as the SDK's."""
    braze = braze_config(sandbox)
    run = run_tap(braze, catalog=catalog_selecting(braze, "braze_segments"))
    versions = {m["version"] for m in run.messages if m["type"] == "ACTIVATE_VERSION"}
    records = [m for m in run.messages if m["type"] == "RECORD" and m["stream"] == "braze_segments"]
    assert len(versions) == 1 and records
    assert all(list(m) == ["type", "stream", "record", "version", "time_extracted"] for m in records)
    assert {m["version"] for m in records} == versions


def test_a_state_message_is_the_sdks_line() -> None:
    """STATE is encoded from the state as it is (no copy of it first): byte for byte the SDK's line, None values
    inside the state kept, as the SDK keeps them."""
    value = {
        "bookmarks": {
            "braze_campaign_data_series": {
                "partitions": [
                    {"context": {"campaign_id": f"cmp-{n}"}, "replication_key": "time", "replication_key_value": None}
                    for n in range(3)
                ],
                "progress_markers": {"Note": "unsorted", "replication_key_value": dt.date(2026, 12, 1)},
            },
            "cohort_syncs": {"replication_key_value": Decimal("1.50"), "tags": ["a", None]},
        }
    }
    ours = bytes(StateFlushingWriter().serialize_message(StateMessage(value=value)))
    sdks = bytes(MsgSpecWriter().serialize_message(StateMessage(value=value)))
    assert ours == sdks and ours.endswith(b"}\n") and b'"replication_key_value":null' in ours
    assert json.loads(ours)["value"]["bookmarks"]["cohort_syncs"]["tags"] == ["a", None]
