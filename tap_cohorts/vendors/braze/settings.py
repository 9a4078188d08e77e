"""Braze export endpoints, described as data (`vendor-docs/braze-export-api.md`).

Endpoints that differ only in path, field names and parent are one entry each in the tables below; the
stream classes in `streams.py` are built from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tap_cohorts.core.http import EndpointBudget, RateLimit

BASE_URL = "https://rest.iad-01.braze.com"
# Braze's "API rate limits" (braze-inc/braze-docs, _docs/_api/api_limits.md): the export endpoints share the
# default 250,000 requests an hour per workspace; two budgets are apart from it (the client picks a request's
# budget by its path). Braze also answers every request
# with X-RateLimit-Limit / -Remaining / -Reset, which the client honours.
RATE_LIMITS = [RateLimit(250_000, 3600)]
ENDPOINT_BUDGETS = {
    # "1,000 requests per hour, shared with the /purchases/product_list endpoint".
    "events_and_products": EndpointBudget(("/events/list", "/purchases/product_list"), [RateLimit(1000, 3600)]),
    # "50,000 requests per minute".
    "campaign_data_series": EndpointBudget(("/campaigns/data_series",), [RateLimit(50_000, 60)]),
}
# A series is a request or two per parent (campaign, segment, ...): the next 8 requests, in the order their points
# are written (this parent's windows, then the next parents listed), are sent ahead, each on its own thread, while
# this parent's points are written, all within the budgets above (`WindowedStream.requests_ahead`). One at a time,
# 10,000 campaigns would cost Braze's latency 10,000 times. The details streams (a request per object) send the next
# objects' requests ahead on as many threads (`OneRequestPerParent`).
REQUESTS_AHEAD = 8
# "length ... must be between 1 and 100 inclusive" (units: days, or hours where `unit` is taken).
MAX_SERIES_UNITS = 100
# The Canvas series: "Must be between 1 and 14 (inclusive)" days.
MAX_CANVAS_SERIES_DAYS = 14
OUTPUT_FORMATS = ("zip", "gzip")
UNITS = ("day", "hour")
# Where the "total" rows of a per-product series go: the product key never holds a null.
ALL_PRODUCTS = "(total)"


@dataclass(frozen=True)
class ListEndpoint:
    """A paged list: `field` holds the items, `page_size` a full page; names-only lists become {"name": ...}."""

    stream: str
    path: str
    field: str
    page_size: int
    child_key: str  # the context key children get (segment_id, campaign_id, card_id, event, product)
    names_only: bool = False
    takes_archived: bool = False
    properties: tuple[tuple[str, str], ...] = ()  # (name, JSON type) besides id/name
    news_feed: bool = False  # a News Feed endpoint, which Braze deprecated


@dataclass(frozen=True)
class DetailsEndpoint:
    stream: str
    path: str
    parent: str
    id_param: str
    properties: tuple[tuple[str, str], ...]
    news_feed: bool = False


@dataclass(frozen=True)
class SeriesEndpoint:
    """A data series: `length` units ending at `ending_at`; one record per point in time.

    The points are the list at `points_at` in the answer; a point's `totals` object (the Canvas series'
    `total_stats`) is spread into columns, its other objects kept as they are."""

    stream: str
    path: str
    metrics: tuple[tuple[str, str], ...]
    parent: str | None = None
    id_param: str | None = None
    takes_unit: bool = False
    takes_app_id: bool = False
    tracked_only: bool = False
    extra_params: dict[str, str] = field(default_factory=dict)
    max_units: int = MAX_SERIES_UNITS
    points_at: tuple[str, ...] = ("data",)
    totals: str | None = None
    news_feed: bool = False


LISTS = (
    ListEndpoint(
        "braze_segments",
        "/segments/list",
        "segments",
        100,
        "segment_id",
        properties=(("analytics_tracking_enabled", "boolean"), ("tags", "array")),
    ),
    ListEndpoint(
        "braze_campaigns",
        "/campaigns/list",
        "campaigns",
        100,
        "campaign_id",
        takes_archived=True,
        properties=(("is_api_campaign", "boolean"), ("tags", "array"), ("last_edited", "date-time")),
    ),
    ListEndpoint(
        "braze_canvases",
        "/canvas/list",
        "canvases",
        100,
        "canvas_id",
        takes_archived=True,
        properties=(("last_edited", "date-time"), ("tags", "array")),
    ),
    ListEndpoint(
        "braze_cards",
        "/feed/list",
        "cards",
        100,
        "card_id",
        takes_archived=True,
        properties=(("type", "string"), ("title", "string"), ("tags", "array")),
        news_feed=True,
    ),
    ListEndpoint("braze_events", "/events/list", "events", 250, "event", names_only=True),
    ListEndpoint(
        "braze_products",
        "/purchases/product_list",
        "products",
        250,
        "product",
        names_only=True,
    ),
)

DETAILS = (
    DetailsEndpoint(
        "braze_segment_details",
        "/segments/details",
        "braze_segments",
        "segment_id",
        (
            ("created_at", "date-time"),
            ("updated_at", "date-time"),
            ("name", "string"),
            ("description", "string"),
            ("tags", "array"),
        ),
    ),
    DetailsEndpoint(
        "braze_campaign_details",
        "/campaigns/details",
        "braze_campaigns",
        "campaign_id",
        (
            ("created_at", "date-time"),
            ("updated_at", "date-time"),
            ("name", "string"),
            ("schedule_type", "string"),
            ("channels", "array"),
            ("first_sent", "date-time"),
            ("last_sent", "date-time"),
            ("tags", "array"),
            ("archived", "boolean"),
            ("draft", "boolean"),
            ("description", "string"),
            ("messages", "object"),
            ("conversion_behaviors", "objects"),
        ),
    ),
    DetailsEndpoint(
        "braze_canvas_details",
        "/canvas/details",
        "braze_canvases",
        "canvas_id",
        (
            ("created_at", "date-time"),
            ("updated_at", "date-time"),
            ("name", "string"),
            ("description", "string"),
            ("archived", "boolean"),
            ("draft", "boolean"),
            ("schedule_type", "string"),
            ("first_entry", "date-time"),
            ("last_entry", "date-time"),
            ("channels", "array"),
            ("variants", "objects"),
            ("tags", "array"),
            ("steps", "objects"),
        ),
    ),
    DetailsEndpoint(
        "braze_card_details",
        "/feed/details",
        "braze_cards",
        "card_id",
        (
            ("created_at", "date-time"),
            ("updated_at", "date-time"),
            ("name", "string"),
            ("publish_at", "date-time"),
            ("end_at", "date-time"),
            ("tags", "array"),
            ("title", "string"),
            ("image_url", "string"),
            ("extras", "object"),
            ("description", "string"),
        ),
        news_feed=True,
    ),
)

SERIES = (
    SeriesEndpoint(
        "braze_segment_data_series",
        "/segments/data_series",
        (("size", "integer"),),
        parent="braze_segments",
        id_param="segment_id",
        tracked_only=True,
    ),
    SeriesEndpoint(
        "braze_campaign_data_series",
        "/campaigns/data_series",
        (
            ("conversions", "integer"),
            ("revenue", "number"),
            ("conversions_by_send_time", "integer"),
            *((f"conversions{n}", "integer") for n in (1, 2, 3)),
            *((f"conversions{n}_by_send_time", "integer") for n in (1, 2, 3)),
            ("unique_recipients", "integer"),
            ("messages", "object"),
        ),
        parent="braze_campaigns",
        id_param="campaign_id",
    ),
    SeriesEndpoint(
        "braze_canvas_data_series",
        "/canvas/data_series",
        (
            ("revenue", "number"),
            ("conversions", "integer"),
            ("conversions_by_entry_time", "integer"),
            ("entries", "integer"),
            ("variant_stats", "object"),
            ("step_stats", "object"),
        ),
        parent="braze_canvases",
        id_param="canvas_id",
        extra_params={"include_variant_breakdown": "true", "include_step_breakdown": "true"},
        max_units=MAX_CANVAS_SERIES_DAYS,
        points_at=("data", "stats"),
        totals="total_stats",
    ),
    SeriesEndpoint(
        "braze_card_data_series",
        "/feed/data_series",
        (
            ("clicks", "integer"),
            ("impressions", "integer"),
            ("unique_clicks", "integer"),
            ("unique_impressions", "integer"),
        ),
        parent="braze_cards",
        id_param="card_id",
        takes_unit=True,
        news_feed=True,
    ),
    *(
        SeriesEndpoint(f"braze_kpi_{name}", f"/kpi/{name}/data_series", ((name, "integer"),), takes_app_id=True)
        for name in ("mau", "dau", "new_users", "uninstalls")
    ),
    SeriesEndpoint(
        "braze_sessions", "/sessions/data_series", (("sessions", "integer"),), takes_unit=True, takes_app_id=True
    ),
    SeriesEndpoint(
        "braze_event_data_series",
        "/events/data_series",
        (("count", "integer"),),
        parent="braze_events",
        id_param="event",
        takes_unit=True,
        takes_app_id=True,
    ),
    SeriesEndpoint(
        "braze_revenue_series",
        "/purchases/revenue_series",
        (("revenue", "number"),),
        takes_unit=True,
        takes_app_id=True,
    ),
    SeriesEndpoint(
        "braze_purchase_quantity_series",
        "/purchases/quantity_series",
        (("purchase_quantity", "integer"),),
        parent="braze_products",
        id_param="product",
        takes_unit=True,
        takes_app_id=True,
    ),
)

EXPORT_PATH = "/users/export/segment"

HINTS = {
    400: "Braze refused the request as bad syntax",
    401: "unknown or missing app group id, or a refused api_key: check config['braze']['app_group_id'] and "
    "['api_key'] (a REST API key with export permissions)",
    403: "the REST API key lacks the permission for this endpoint (e.g. canvas.list, canvas.details, "
    "canvas.data_series for the Canvas streams)",
    404: "check config['braze']['base_url']: it must be your instance's REST endpoint",
}
