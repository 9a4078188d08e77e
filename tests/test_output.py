"""The fast record path gives way to the SDK's wherever the SDK has work to do: deselected properties, stream
maps, flattening, selected child streams. Same records either way where nothing is asked of them."""

from __future__ import annotations

import copy

from cohorts_sandbox import Sandbox
from tap_cohorts.tap import TapCohorts
from tests.helpers import appsflyer_config, days_ago, run_tap


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
    braze = {
        "braze": {
            "api_key": "braze-sandbox-api-key",
            "app_group_id": "ag-sandbox",
            "base_url": sandbox.url("braze"),
            "rate_limits": [{"requests": 1000, "seconds": 1}],
        }
    }
    catalog = copy.deepcopy(TapCohorts(config=braze).catalog_dict)
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in ("braze_campaigns", "braze_segments")
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
