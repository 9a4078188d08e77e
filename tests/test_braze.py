"""The Braze streams against the sandbox: lists, details, series, KPIs, purchases and the user export."""

from __future__ import annotations

import datetime as dt

import pytest

from cohorts_sandbox import Fault, Sandbox
from tests.helpers import days_ago, run_tap

pytestmark = pytest.mark.dates

KEY = "braze-sandbox-api-key"
GROUP = "ag-sandbox"


def braze_config(running: Sandbox, **section: object) -> dict:
    top = {key: section.pop(key) for key in ("start_date", "end_date", "lookback_days") if key in section}
    return {
        **{k: v.isoformat() if isinstance(v, dt.date) else v for k, v in top.items()},
        "braze": {
            "api_key": KEY,
            "app_group_id": GROUP,
            "base_url": running.url("braze"),
            "rate_limits": [{"requests": 1000, "seconds": 1}],
            "retry_wait_seconds": 0.05,
            "export_poll_interval_seconds": 0.01,
            "export_poll_max_interval_seconds": 0.05,
            **section,
        },
    }


@pytest.fixture
def small(sandbox: Sandbox) -> Sandbox:
    sandbox.config.braze_segments = 6
    sandbox.config.braze_campaigns = 3
    sandbox.config.braze_cards = 2
    sandbox.config.braze_events = 3
    sandbox.config.braze_products = 2
    return sandbox


def test_exact_records_of_a_list_details_series_and_kpi(small: Sandbox) -> None:
    simulator = small.simulators["braze"]
    start, end = days_ago(3), days_ago(1)
    run = run_tap(braze_config(small, start_date=start, end_date=end))
    assert run.records("braze_segments") == simulator.items("segments")
    assert run.records("braze_events") == [
        {"name": name, "position": n} for n, name in enumerate(simulator.items("events"))
    ]
    tracked = [s["id"] for s in simulator.items("segments") if s["analytics_tracking_enabled"]]
    assert len(tracked) == 4
    details = {r["segment_id"]: r for r in run.records("braze_segment_details")}
    assert details["seg-00004"] == {**simulator.details("/segments/details", "seg-00004"), "segment_id": "seg-00004"}
    series = run.records("braze_segment_data_series")
    days = [(start + dt.timedelta(days=n)).isoformat() for n in range(3)]
    assert series == [
        {**simulator.point("/segments/data_series", segment, None, day), "segment_id": segment}
        for segment in tracked
        for day in days
    ]
    assert run.records("braze_kpi_mau") == [simulator.point("/kpi/mau/data_series", None, None, day) for day in days]
    quantity = run.records("braze_purchase_quantity_series")
    assert {r["product"] for r in quantity} == {"(total)", "Product 000", "Product 001"}
    total = [r for r in quantity if r["product"] == "(total)"]
    assert total == [
        {**simulator.point("/purchases/quantity_series", None, None, d), "product": "(total)"} for d in days
    ]


def test_lists_page_through_an_exactly_full_last_page(sandbox: Sandbox) -> None:
    day = days_ago(1)
    run = run_tap(braze_config(sandbox, start_date=day, end_date=day))
    segment_pages = [r.query["page"] for r in sandbox.requests_to("braze", "/segments/list")]
    assert segment_pages == [["0"], ["1"], ["2"]]  # 200 segments: two full pages and an empty one
    assert [r.query["page"] for r in sandbox.requests_to("braze", "/events/list")] == [["0"], ["1"]]
    assert len(run.records("braze_segments")) == 200 and len(run.records("braze_events")) == 250
    assert len({r["id"] for r in run.records("braze_segments")}) == 200
    assert all(r.query["app_group_id"] == [GROUP] for r in sandbox.requests_to("braze"))
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in sandbox.requests_to("braze"))


def test_series_requests_across_windows_and_units(small: Sandbox) -> None:
    run_tap(braze_config(small, start_date=days_ago(150)))
    kpi = [(r.query["length"], r.query["ending_at"]) for r in small.requests_to("braze", "/kpi/dau/data_series")]
    assert kpi == [
        (["100"], [f"{days_ago(51).isoformat()}T23:59:59Z"]),
        (["51"], [f"{days_ago(0).isoformat()}T23:59:59Z"]),
    ]
    small.reset()
    run = run_tap(braze_config(small, start_date=days_ago(5), data_series_unit="hour"))
    sessions = small.requests_to("braze", "/sessions/data_series")
    assert [(r.query["length"], r.query["unit"]) for r in sessions] == [(["96"], ["hour"]), (["48"], ["hour"])]
    records = run.records("braze_sessions")
    assert len(records) == 6 * 24 and records[0]["time"].endswith("+00:00")
    # series without a unit parameter stay daily
    assert "unit" not in small.requests_to("braze", "/kpi/mau/data_series")[0].query


def test_child_contexts_and_state_per_parent(small: Sandbox) -> None:
    config = braze_config(small, start_date=days_ago(10), lookback_days=2)
    first = run_tap(config)
    partitions = first.final_state["bookmarks"]["braze_segment_data_series"]["partitions"]
    tracked = {s["id"] for s in small.simulators["braze"].items("segments") if s["analytics_tracking_enabled"]}
    assert {p["context"]["segment_id"] for p in partitions if p.get("replication_key_value")} == tracked
    assert all(set(p["context"]) == {"segment_id"} for p in partitions)
    requested = {r.query["segment_id"][0] for r in small.requests_to("braze", "/segments/data_series")}
    assert requested == tracked  # segments without analytics tracking have no series to ask for
    small.reset()
    run_tap(config, state=first.final_state)
    lengths = {r.query["length"][0] for r in small.requests_to("braze", "/segments/data_series")}
    assert lengths == {"3"}  # bookmark (today) minus 2 days of lookback, per segment


def test_the_segment_export_is_polled_downloaded_and_unzipped(sandbox: Sandbox) -> None:
    sandbox.config.braze_export_polls = 3
    sandbox.config.braze_segments = 3
    config = braze_config(
        sandbox, start_date=days_ago(1), end_date=days_ago(1), export_segment_ids=["seg-00001", "seg-00002"]
    )
    run = run_tap(config)
    exports = sandbox.requests_to("braze", "/users/export/segment")
    assert [r.json() for r in exports] == [
        {"app_group_id": GROUP, "segment_id": "seg-00001"},
        {"app_group_id": GROUP, "segment_id": "seg-00002"},
    ]
    downloads = sandbox.requests_to("files", "/braze/")
    assert [r.status for r in downloads] == [404, 404, 200, 404, 404, 200]
    assert not any("authorization" in r.headers for r in downloads)
    users = run.records("braze_segment_users")
    simulator = sandbox.simulators["braze"]
    expected = [
        {**user, "segment_id": segment} for segment in ("seg-00001", "seg-00002") for user in simulator.users(segment)
    ]
    assert users == expected
    assert isinstance(users[0]["custom_events"], list) and users[0]["custom_events"][0]["name"] == "Level Up"


def test_an_export_to_the_customers_bucket_emits_nothing_and_says_so(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.config.braze_s3_bucket = True
    sandbox.config.braze_segments = 1
    config = braze_config(sandbox, start_date=days_ago(1), end_date=days_ago(1), export_segment_ids=["seg-00000"])
    run = run_tap(config)
    assert run.records("braze_segment_users") == []
    assert any("your own S3 bucket" in r.getMessage() for r in caplog.records)


def test_fields_to_export_are_passed_and_respected(sandbox: Sandbox) -> None:
    sandbox.config.braze_segments = 1
    config = braze_config(
        sandbox,
        start_date=days_ago(1),
        end_date=days_ago(1),
        export_segment_ids=["seg-00000"],
        fields_to_export=["email", "country"],
    )
    run = run_tap(config)
    assert sandbox.requests_to("braze", "/users/export/segment")[0].json()["fields_to_export"] == ["email", "country"]
    assert set(run.records("braze_segment_users")[0]) == {"email", "country", "braze_id", "segment_id"}


def test_429_is_retried_after_retry_after(small: Sandbox) -> None:
    small.add_fault(Fault("status", vendor="braze", path_contains="/segments/list", status=429, retry_after=0.2))
    run = run_tap(braze_config(small, start_date=days_ago(1), end_date=days_ago(1)))
    first, retry = small.requests_to("braze", "/segments/list")[:2]
    assert (first.status, retry.status) == (429, 200) and retry.at - first.at >= 0.2
    assert len(run.records("braze_segments")) == 6


def test_a_wrong_app_group_fails_with_the_documented_reason(small: Sandbox) -> None:
    run = run_tap(braze_config(small, start_date=days_ago(1), app_group_id="ag-other"), expect_error=True)
    assert "HTTP 401" in str(run.error) and "Unknown or missing app group id" in str(run.error)
    assert "Hint: unknown or missing app group id" in str(run.error)


def test_totals_match_the_sandbox(small: Sandbox) -> None:
    simulator = small.simulators["braze"]
    start = days_ago(120)
    run = run_tap(braze_config(small, start_date=start, app_id="app-1"))
    days = [(start + dt.timedelta(days=n)).isoformat() for n in range(121)]
    revenue = sum(r["revenue"] for r in run.records("braze_revenue_series"))
    assert revenue == pytest.approx(
        sum(simulator.point("/purchases/revenue_series", None, "app-1", d)["revenue"] for d in days)
    )
    events = run.records("braze_event_data_series")
    assert len(events) == 3 * 121
    assert sum(r["count"] for r in events) == sum(
        simulator.point("/events/data_series", e, "app-1", d)["count"] for e in simulator.items("events") for d in days
    )
    assert {r["app_id"] for r in run.records("braze_kpi_dau")} == {"app-1"}


# Fields Braze documents today (braze-inc/braze-docs: _docs/_api/endpoints/export/campaigns/get_campaigns.md,
# get_campaign_details.md, get_campaign_analytics.md, and the segment export's user fields), which the tap
# dropped before as "not found in catalog schema".
DOCUMENTED = {
    "braze_campaigns": {"last_edited"},
    "braze_campaign_details": {"archived", "draft", "description", "messages", "conversion_behaviors"},
    "braze_campaign_data_series": {
        "unique_recipients",
        *(f"conversions{n}" for n in (1, 2, 3)),
        *(f"conversions{n}_by_send_time" for n in (1, 2, 3)),
    },
    "braze_segment_users": {
        "created_at",
        "user_aliases",
        "random_bucket",
        "attributed_campaign",
        "attributed_source",
        "attributed_adgroup",
        "attributed_ad",
        "canvases_received",
    },
}


def test_every_documented_field_lands_and_none_is_dropped(small: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    run = run_tap(braze_config(small, start_date=days_ago(2), end_date=days_ago(1), export_segment_ids=["seg-00001"]))
    for stream, fields in DOCUMENTED.items():
        records = run.records(stream)
        assert records, stream
        for name in fields:
            assert all(r.get(name) is not None for r in records), f"{stream}.{name} is missing"
    details = run.records("braze_campaign_details")[0]
    assert details["conversion_behaviors"][1]["custom_event_name"] == "Level Up"
    assert all("extra_properties" not in r for r in run.records())  # nothing undeclared in the real shapes
    assert "does not map" not in caplog.text


def test_a_field_braze_adds_is_kept_in_extra_properties_and_named_once(
    small: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    small.config.braze_undocumented_fields = {"holdout_share": 0.1, "team": {"id": "t1"}}
    run = run_tap(braze_config(small, start_date=days_ago(2), end_date=days_ago(1), export_segment_ids=["seg-00001"]))
    for stream in ("braze_campaigns", "braze_campaign_data_series", "braze_segment_users"):
        records = run.records(stream)
        assert records and all(r["extra_properties"] == {"holdout_share": 0.1, "team": {"id": "t1"}} for r in records)
        schema = next(m for m in run.messages if m["type"] == "SCHEMA" and m["stream"] == stream)["schema"]
        assert "extra_properties" in schema["properties"]
        warnings = [
            r.getMessage() for r in caplog.records if stream in r.getMessage() and "does not map" in r.getMessage()
        ]
        assert warnings == [
            f"{stream}: the vendor sent columns this tap does not map, kept in extra_properties: holdout_share, team"
        ]
