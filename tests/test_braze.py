"""The Braze streams against the sandbox: lists, details, series, KPIs, purchases and the user export."""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time

import pytest
import requests

from cohorts_sandbox import Fault, Sandbox
from tap_cohorts.core.http import DEFAULT_BUDGET, RateLimit, VendorClient, WindowStats
from tests.helpers import catalog_selecting, days_ago, run_tap

pytestmark = pytest.mark.dates

KEY = "braze-sandbox-api-key"
GROUP = "ag-sandbox"


def every_user_field(running: Sandbox) -> list[str]:
    """Every field the sandbox's exported users have (fields_to_export is required)."""
    return sorted(running.simulators["braze"].users("any")[0])


def braze_config(running: Sandbox, **section: object) -> dict:
    top = {key: section.pop(key) for key in ("start_date", "end_date", "lookback_days") if key in section}
    if "export_segment_ids" in section:
        section.setdefault("fields_to_export", every_user_field(running))
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
    sandbox.config.braze_canvases = 4
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
    # The windows of a series are sent ahead together (`requests_ahead`), so they may arrive in any order.
    kpi = sorted((r.query["ending_at"], r.query["length"]) for r in small.requests_to("braze", "/kpi/dau/data_series"))
    assert [(length, ending) for ending, length in kpi] == [
        (["100"], [f"{days_ago(51).isoformat()}T23:59:59Z"]),
        (["51"], [f"{days_ago(0).isoformat()}T23:59:59Z"]),
    ]
    small.reset()
    run = run_tap(braze_config(small, start_date=days_ago(5), data_series_unit="hour"))
    sessions = small.requests_to("braze", "/sessions/data_series")
    asked = sorted((r.query["ending_at"], r.query["length"], r.query["unit"]) for r in sessions)
    assert [(length, unit) for _, length, unit in asked] == [(["96"], ["hour"]), (["48"], ["hour"])]
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
    fields = every_user_field(sandbox)
    assert [r.json() for r in exports] == [
        {"app_group_id": GROUP, "segment_id": "seg-00001", "fields_to_export": fields},
        {"app_group_id": GROUP, "segment_id": "seg-00002", "fields_to_export": fields},
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
    assert any("your own cloud storage (S3 or Azure" in r.getMessage() for r in caplog.records)


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
    assert "HTTP 401" in run.error_text and "Unknown or missing app group id" in run.error_text
    assert "Hint: unknown or missing app group id" in run.error_text


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
    "braze_canvases": {"last_edited", "tags"},
    "braze_canvas_details": {"first_entry", "last_entry", "variants", "steps", "archived", "draft", "channels"},
    "braze_canvas_data_series": {"entries", "conversions", "conversions_by_entry_time", "variant_stats", "step_stats"},
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


def test_canvases_their_details_and_14_day_series_with_step_and_variant_stats(small: Sandbox) -> None:
    """Braze's Canvas export endpoints (braze-docs: export/canvas/get_canvases.md, get_canvas_details.md,
    get_canvas_analytics.md): the list (archived ones with include_archived), details per Canvas, and the data
    series in windows of at most 14 days, its total_stats as columns and its variant and step stats as objects."""
    simulator = small.simulators["braze"]
    start, end = days_ago(20), days_ago(1)
    run = run_tap(braze_config(small, start_date=start, end_date=end, include_archived=True))
    canvases = simulator.items("canvases", include_archived=True)
    assert run.records("braze_canvases") == canvases and len(canvases) == 4
    details = {r["canvas_id"]: r for r in run.records("braze_canvas_details")}
    assert details["cnv-00002"] == {**simulator.details("/canvas/details", "cnv-00002"), "canvas_id": "cnv-00002"}
    assert details["cnv-00002"]["steps"][0]["next_step_ids"] == ["cnv-00002-step-1"]
    series = run.records("braze_canvas_data_series")
    days = [(start + dt.timedelta(days=n)).isoformat() for n in range(20)]
    expected = []
    for canvas in canvases:
        for day in days:
            point = simulator.point("/canvas/data_series", canvas["id"], None, day)
            expected.append({**point.pop("total_stats"), **point, "canvas_id": canvas["id"]})
    key = lambda r: (r["canvas_id"], r["time"])  # noqa: E731
    assert sorted(series, key=key) == sorted(expected, key=key)
    assert isinstance(series[0]["entries"], int) and set(series[0]["variant_stats"]) == {
        f"{series[0]['canvas_id']}-var-a",
        f"{series[0]['canvas_id']}-var-b",
    }
    requests = small.requests_to("braze", "/canvas/data_series")
    assert {r.query["length"][0] for r in requests} == {"14", "6"} and len(requests) == 2 * 4
    assert all(r.query["include_variant_breakdown"] == ["true"] for r in requests)
    assert all(r.query["include_step_breakdown"] == ["true"] for r in requests)
    assert [r.query.get("include_archived") for r in small.requests_to("braze", "/canvas/list")] == [["true"]]
    canvas_requests = small.requests_to("braze", "/canvas/")
    assert all(
        r.headers["authorization"] == f"Bearer {KEY}" and r.query["app_group_id"] == [GROUP] for r in canvas_requests
    )


def test_a_canvas_series_refused_for_a_missing_permission_costs_only_that_canvas(small: Sandbox) -> None:
    small.add_fault(
        Fault(
            "status",
            vendor="braze",
            path_contains="/canvas/data_series",
            param="canvas_id=cnv-00000",  # the first Canvas's (the next ones are asked at the same time)
            status=403,
            times=1,
            message="API key lacks canvas.data_series",
        )
    )
    run = run_tap(braze_config(small, start_date=days_ago(3), end_date=days_ago(1)), expect_error=True)
    message = run.error_text
    assert "HTTP 403" in message and "API key lacks canvas.data_series" in message
    assert "stream braze_canvas_data_series" in message and "canvas_id=cnv-00000" in message
    assert "Hint: the REST API key lacks the permission for this endpoint (e.g. canvas.list" in message
    series = run.records("braze_canvas_data_series")
    assert {r["canvas_id"] for r in series} == {"cnv-00001", "cnv-00002"}  # the other live Canvases synced
    assert len(run.records("braze_canvas_details")) == 3 and run.records("braze_segments")


def test_the_news_feed_streams_are_marked_deprecated_and_can_be_left_out(
    small: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    from tap_cohorts.tap import TapCohorts

    names = {s.name for s in TapCohorts(config=braze_config(small)).streams.values()}
    assert {"braze_cards", "braze_card_details", "braze_card_data_series"} <= names
    assert "Braze has deprecated (News Feed is replaced by Content Cards)" in caplog.text
    names = {s.name for s in TapCohorts(config=braze_config(small, news_feed=False)).streams.values()}
    assert not {n for n in names if n.startswith("braze_card")} and "braze_canvases" in names
    assert (
        "DEPRECATED BY BRAZE"
        in TapCohorts.config_jsonschema["properties"]["braze"]["properties"]["news_feed"]["description"]
    )


def test_an_export_without_fields_to_export_fails_before_any_request(sandbox: Sandbox) -> None:
    from singer_sdk.exceptions import ConfigValidationError

    from tap_cohorts.tap import TapCohorts

    config = braze_config(sandbox, export_segment_ids=["seg-00001"])
    del config["braze"]["fields_to_export"]
    with pytest.raises(ConfigValidationError) as raised:
        TapCohorts(config=config)
    assert "config['braze']['fields_to_export']: required with export_segment_ids" in "\n".join(raised.value.errors)
    assert sandbox.requests == []


def test_a_gzip_export_is_read_like_a_zip(sandbox: Sandbox) -> None:
    sandbox.config.braze_segments = 1
    config = braze_config(
        sandbox, start_date=days_ago(1), end_date=days_ago(1), export_segment_ids=["seg-00000"], output_format="gzip"
    )
    run = run_tap(config)
    assert sandbox.requests_to("braze", "/users/export/segment")[0].json()["output_format"] == "gzip"
    assert sandbox.requests_to("files", "/braze/")[-1].path.endswith(".gz")
    users = sandbox.simulators["braze"].users("seg-00000")
    assert run.records("braze_segment_users") == [{**user, "segment_id": "seg-00000"} for user in users]


def shared_budget_requests(sandbox: Sandbox, tap_windows: list[dict]) -> list:
    sandbox.config.braze_events = 1000  # 4 full pages and an empty one
    sandbox.config.braze_products = 2
    # 3 requests a minute of vendor time (0.6 s on the sandbox's 100x clock), for Braze's 1,000 an hour.
    sandbox.config.braze_budget_rate_limits = {"events_and_products": [(3, 60.0)]}
    config = braze_config(sandbox, start_date=days_ago(1), end_date=days_ago(1), news_feed=False)
    config["braze"]["endpoint_rate_limits"] = {"events_and_products": tap_windows}
    config["braze"]["max_retries"] = 0
    selected = {"braze_events", "braze_products"}
    from tap_cohorts.tap import TapCohorts

    catalog = TapCohorts(config=config).catalog_dict
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] in selected
    run_tap(config, catalog=catalog, expect_error=tap_windows[0]["requests"] > 3)
    return sandbox.requests_to("braze", "/events/list") + sandbox.requests_to("braze", "/purchases/product_list")


def test_events_and_products_share_their_own_lower_budget(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """/events/list and /purchases/product_list share 1,000 requests an hour (Braze's API rate limits), apart
    from the 250,000 of the other export endpoints: the tap's budget for the two keeps them under it."""
    monkeypatch.setattr(VendorClient, "note_rate_headers", lambda *args, **kwargs: None)  # only the tap's own windows
    requests = shared_budget_requests(sandbox, [{"requests": 3, "seconds": 0.6}])
    assert len(requests) == 6 and all(r.status == 200 for r in requests)
    times = sorted(r.at for r in requests)
    # The 4th waited for the window, shared across both endpoints (unbudgeted, it would follow within
    # milliseconds); the first request also opens the connection, so its arrival may lag its turn by a little.
    assert times[3] - times[0] >= 0.6 * 0.8
    sandbox.reset()
    # The same run with the budget as generous as the default one meets Braze's 429.
    requests = shared_budget_requests(sandbox, [{"requests": 1000, "seconds": 0.6}])
    assert any(r.status == 429 for r in requests)


def test_x_ratelimit_headers_are_honoured(
    small: Sandbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Braze answers every request with X-RateLimit-Limit/-Remaining/-Reset: at 0 remaining the tap waits for
    the reset, so a workspace limit below the configured one (here 4 requests per 0.3 s) costs no 429."""
    caplog.set_level(logging.INFO)
    small.config.braze_rate_limits = [(4, 30.0)]  # 4 requests in 0.3 s on the sandbox's 100x clock
    # Series answers that take longer than the window, as under load: the requests sent ahead are answered after
    # the reset, and their answers say less than they seem to (these met 429s until the tap knew it).
    small.add_fault(Fault("slow", vendor="braze", path_contains="data_series", delay=0.35, times=10**6))
    config = braze_config(small, start_date=days_ago(3), end_date=days_ago(1), max_retries=0)
    run_tap(config)
    responses = small.requests_to("braze")
    assert len(responses) > 30 and all(r.status == 200 for r in responses)
    assert "X-RateLimit-Remaining is 0: waiting" in caplog.text
    # Without the headers honoured, the same run meets 429s (and, without retries, fails).
    small.reset()
    monkeypatch.setattr(VendorClient, "note_rate_headers", lambda *args, **kwargs: None)
    run_tap(config, expect_error=True)
    assert any(r.status == 429 for r in small.requests_to("braze"))


def rate_answer(remaining: int, reset: float) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response.headers["X-RateLimit-Remaining"] = str(remaining)
    response.headers["X-RateLimit-Reset"] = f"{reset:.3f}"
    return response


def rate_header_client() -> VendorClient:
    """A Braze client honouring the X-RateLimit headers, its own windows far above what the tests send."""
    return VendorClient(
        vendor="braze",
        base_url="http://127.0.0.1:9",
        rate_limits=[RateLimit(1000, 1)],
        secrets=[],
        hints={},
        logger=logging.getLogger("tap-cohorts"),
        honours_rate_headers=True,
    )


def test_an_answer_that_comes_back_late_does_not_bring_the_reset_forward() -> None:
    """Requests sent ahead are answered in any order. An older answer (an earlier reset) says nothing about now: were
    it taken as the latest, the tap would send at the older reset and meet a 429 (this failed CI once). Past the
    reset, one request goes, and the next waits for an answer newer than that reset. An answer to a request sent
    before the reset does not free a slot either: the vendor's window still counts that request (taken as freed,
    the next request went early and met a 429 in CI, under load, where answers come back late)."""
    client = rate_header_client()
    stats = WindowStats()
    reset = time.time() + 0.4
    sent_ahead = [client.wait_for_budget(stats, claim=True) for _ in range(3)]
    assert all(isinstance(ticket, int) for ticket in sent_ahead)
    client._answered(DEFAULT_BUDGET, rate_answer(0, reset), sent_ahead[0])
    client._answered(DEFAULT_BUDGET, rate_answer(1, reset - 0.3), sent_ahead[1])  # sent earlier, answered later
    first = client.wait_for_budget(stats, claim=True)
    assert time.time() >= round(reset, 3) - 0.001  # not at the older reset, 0.3 s before

    second = threading.Thread(target=client.wait_for_budget, args=(stats,), kwargs={"claim": True})
    second.start()
    second.join(0.2)
    assert second.is_alive()  # past the reset, one request went; the next waits for its answer
    client._answered(DEFAULT_BUDGET, rate_answer(0, reset), sent_ahead[2])  # sent before the reset: no news, no slot
    second.join(0.2)
    assert second.is_alive()
    assert first is not None
    client._answered(DEFAULT_BUDGET, rate_answer(3, reset + 1), first)  # the first one's answer: 3 remain
    second.join(1)
    assert not second.is_alive()


def test_the_reset_of_an_empty_window_frees_no_request() -> None:
    """An answer read while the vendor's window was empty (Remaining = Limit) gives the moment it was read as the
    reset. Nothing leaves the window then: once the tap has sent all it said remain, the next request waits for an
    answer, not for that reset (sent at it, it met a 429 in CI)."""
    client = rate_header_client()
    stats = WindowStats()
    asking = client.wait_for_budget(stats, claim=True)
    empty = rate_answer(4, time.time())
    empty.headers["X-RateLimit-Limit"] = "4"
    assert asking is not None
    client._answered(DEFAULT_BUDGET, empty, asking)
    sent = [client.wait_for_budget(stats, claim=True) for _ in range(4)]
    fifth = threading.Thread(target=client.wait_for_budget, args=(stats,), kwargs={"claim": True})
    fifth.start()
    fifth.join(0.3)
    assert fifth.is_alive()  # the empty window's reset has passed, and frees nothing
    assert sent[0] is not None
    client._answered(DEFAULT_BUDGET, rate_answer(0, time.time() + 0.2), sent[0])  # full until 0.2 s from now
    fifth.join(0.1)
    assert fifth.is_alive()
    fifth.join(1)
    assert not fifth.is_alive()  # one request left the window at that reset


def test_the_next_campaigns_series_are_asked_ahead_at_most_eight_at_a_time(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A series is a request per campaign and window: the tap sends the next ones (this campaign's windows, then the
    next campaigns listed) while one campaign's points are written, at most REQUESTS_AHEAD at a time. Each is still
    asked once, and the records and bookmarks are those of a run that asks one at a time."""
    from tap_cohorts.vendors.braze import settings
    from tap_cohorts.vendors.braze.streams import BrazeSeriesStream

    sandbox.config.braze_campaigns = 30
    delay = 0.05  # every series answer takes this long: requests sent together overlap at the vendor
    sandbox.add_fault(Fault("slow", vendor="braze", path_contains="/campaigns/data_series", delay=delay, times=10**6))
    config = braze_config(sandbox, start_date=days_ago(110), end_date=days_ago(1))
    catalog = catalog_selecting(config, "braze_campaigns", "braze_campaign_data_series")
    ahead = run_tap(config, catalog=catalog)

    asked = sandbox.requests_to("braze", "/campaigns/data_series")
    listed = [c["id"] for c in sandbox.simulators["braze"].items("campaigns")]
    windows = [(r.query["campaign_id"][0], r.query["ending_at"][0]) for r in asked]
    assert len(windows) == len(set(windows)) == 2 * len(listed)  # 110 days: two windows a campaign, each once
    assert all(r.status == 200 for r in asked)
    # Answers recorded within one delay of each other were being served at the same time.
    answered = sorted(r.at for r in asked)
    at_once = max(sum(1 for t in answered[i:] if t < start + delay) for i, start in enumerate(answered))
    assert 2 <= at_once <= settings.REQUESTS_AHEAD

    sandbox.reset()
    sandbox.add_fault(Fault("slow", vendor="braze", path_contains="/campaigns/data_series", delay=0.0, times=10**6))
    monkeypatch.setattr(BrazeSeriesStream, "requests_ahead", 0)
    one_at_a_time = run_tap(config, catalog=catalog)
    assert len(sandbox.requests_to("braze", "/campaigns/data_series")) == len(asked)
    stream = "braze_campaign_data_series"
    assert ahead.records(stream) == one_at_a_time.records(stream)
    assert ahead.final_state["bookmarks"][stream] == one_at_a_time.final_state["bookmarks"][stream]


def test_the_next_campaigns_details_are_asked_ahead_and_a_failed_one_costs_only_its_own_record(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Details are a request per campaign: the next campaigns' are sent while one is written, at most REQUESTS_AHEAD
    at a time, each once. A campaign whose details fail (asked ahead or not) is that campaign's failure alone: the
    records are those of a run asking one at a time."""
    from tap_cohorts.vendors.braze import settings
    from tap_cohorts.vendors.braze.streams import BrazeDetailsStream

    sandbox.config.braze_campaigns = 30
    delay = 0.05
    listed = [c["id"] for c in sandbox.simulators["braze"].items("campaigns")]
    broken = listed[10]

    def faults() -> None:  # the first fault that matches a request is the one it meets
        sandbox.add_fault(
            Fault(
                "status",
                vendor="braze",
                path_contains="/campaigns/details",
                param=f"campaign_id={broken}",
                status=400,
                message="campaign not found",
                times=10**6,
            )
        )
        sandbox.add_fault(Fault("slow", vendor="braze", path_contains="/campaigns/details", delay=delay, times=10**6))

    faults()
    config = braze_config(sandbox, start_date=days_ago(3), end_date=days_ago(1), max_retries=0)
    catalog = catalog_selecting(config, "braze_campaigns", "braze_campaign_details")
    ahead = run_tap(config, catalog=catalog, expect_error=True)

    asked = sandbox.requests_to("braze", "/campaigns/details")
    assert sorted(r.query["campaign_id"][0] for r in asked) == sorted(listed)  # each once
    # Answers recorded within one delay of each other were being served at the same time (the broken one is instant).
    answered = sorted(r.at for r in asked if r.query["campaign_id"][0] != broken)
    at_once = max(sum(1 for t in answered[i:] if t < start + delay) for i, start in enumerate(answered))
    assert 2 <= at_once <= settings.REQUESTS_AHEAD
    assert "1 partition(s) failed (braze)" in ahead.error_text
    assert broken in ahead.error_text and "campaign not found" in ahead.error_text
    details = {r["campaign_id"] for r in ahead.records("braze_campaign_details")}
    assert details == set(listed) - {broken}

    sandbox.reset()
    faults()
    monkeypatch.setattr(BrazeDetailsStream, "requests_ahead", 0)
    one_at_a_time = run_tap(config, catalog=catalog, expect_error=True)
    stream = "braze_campaign_details"
    assert ahead.records(stream) == one_at_a_time.records(stream)


def test_a_series_per_object_logs_its_progress_not_a_line_per_window(
    small: Sandbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A child stream's partition plans and windows are DEBUG lines; INFO has a line of progress at most every
    PROGRESS_INTERVAL_SECONDS (here every partition), and the stream's summary. The SDK's lines for each parent's
    sync (its start, its record count and time metrics) come once for the run: Meltano relays every line."""
    from tap_cohorts.core import windowed_stream

    monkeypatch.setattr(windowed_stream, "PROGRESS_INTERVAL_SECONDS", 0.0)
    caplog.set_level(logging.INFO)
    caplog.set_level(logging.INFO, logger="singer_sdk.metrics")
    config = braze_config(small, start_date=days_ago(3), end_date=days_ago(1))
    result = run_tap(
        config, catalog=catalog_selecting(config, "braze_campaigns", "braze_campaign_data_series", "braze_kpi_dau")
    )
    lines = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    campaign_lines = [line for line in lines if "braze_campaign_data_series" in line and "campaign_id=" in line]
    assert not campaign_lines  # no line per campaign or window at INFO
    assert not [line for line in lines if line.startswith("Beginning sync of 'braze_campaign_data_series'")]
    assert [line for line in lines if line.startswith("Beginning sync of 'braze_campaigns'")]  # the parent's, kept
    points = [json.loads(line.removeprefix("METRIC: ")) for line in lines if line.startswith("METRIC: ")]
    series_points = [p for p in points if p["tags"]["stream"] == "braze_campaign_data_series"]
    assert sorted((p["type"], p["metric"]) for p in series_points) == [
        ("counter", "record_count"),
        ("timer", "sync_duration"),
    ]
    counted = next(p for p in series_points if p["metric"] == "record_count")
    assert counted["value"] == len(result.records("braze_campaign_data_series")) > 0
    assert "context" not in counted["tags"]  # the count of every campaign, not of one
    timed = next(p for p in series_points if p["metric"] == "sync_duration")
    assert timed["tags"]["status"] == "succeeded" and timed["value"] > 0
    campaigns = len(small.simulators["braze"].items("campaigns"))
    progress = [line for line in lines if line.startswith("braze_campaign_data_series: ") and "synced so far" in line]
    assert progress[-1] == (
        f"braze_campaign_data_series: {campaigns} partitions synced so far, {3 * campaigns} records in {campaigns} "
        f"windows, {campaigns} requests"
    )
    assert any("stream braze_kpi_dau" in line and "syncing cohort dates" in line for line in lines)  # not a child
