"""Braze export endpoints simulator (`vendor-docs/braze-export-api.md`).

Lists paged by `page` (100 or 250 items, most recent first; names sorted), details per id, data series of
`length` units ending at `ending_at`, the KPI and purchase series, and the segment user export: POST returns a
URL that answers 404 until the zip of JSON-lines files is ready (or no URL when the customer's S3 bucket is
configured). Bearer api_key; a wrong `app_group_id` is a 401 as the document says.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import threading
import uuid
import zipfile
import zlib
from dataclasses import dataclass

from cohorts_sandbox.server import Request, Response, SandboxConfig
from cohorts_sandbox.synth import revised, unit, unit_of

LIST_PATHS = {
    "/segments/list": ("segments", 100),
    "/campaigns/list": ("campaigns", 100),
    "/canvas/list": ("canvases", 100),
    "/feed/list": ("cards", 100),
    "/events/list": ("events", 250),
    "/purchases/product_list": ("products", 250),
}
DETAIL_PATHS = {
    "/segments/details": "segment_id",
    "/campaigns/details": "campaign_id",
    "/canvas/details": "canvas_id",
    "/feed/details": "card_id",
}
# Braze's "API rate limits": endpoints limited apart from the default budget (SandboxConfig.braze_budget_rate_limits).
BUDGETS = {
    "/events/list": "events_and_products",
    "/purchases/product_list": "events_and_products",
    "/campaigns/data_series": "campaign_data_series",
}
CANVAS_SERIES_PATH = "/canvas/data_series"
MAX_CANVAS_DAYS = 14
SERIES_PATHS = {
    "/segments/data_series": ("segment_id", False),
    "/campaigns/data_series": ("campaign_id", False),
    "/feed/data_series": ("card_id", True),
    "/kpi/mau/data_series": (None, False),
    "/kpi/dau/data_series": (None, False),
    "/kpi/new_users/data_series": (None, False),
    "/kpi/uninstalls/data_series": (None, False),
    "/sessions/data_series": (None, True),
    "/events/data_series": ("event", True),
    "/purchases/revenue_series": ("product", True),
    "/purchases/quantity_series": ("product", True),
}


@dataclass
class Export:
    segment_id: str
    fields: tuple[str, ...]
    output_format: str = "zip"
    gets: int = 0


class BrazeSimulator:
    name = "braze"
    # Every answer carries X-RateLimit-Limit, -Remaining and -Reset, as Braze documents.
    rate_headers = True

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.exports: dict[str, Export] = {}
        self._lock = threading.Lock()
        self._items: dict[tuple[str, bool, int], list] = {}
        self._answers: dict[tuple, bytes] = {}  # series answers, where config.braze_answer_cache

    def account(self, request: Request) -> str | None:
        return request.headers.get("authorization")

    def budget(self, request: Request) -> str:
        return BUDGETS.get(request.path, "")

    # The app group's objects.

    def items(self, kind: str, include_archived: bool = False) -> list:
        """The app group's objects of a kind; every fifth campaign and card is archived."""
        count = {
            "segments": self.config.braze_segments,
            "campaigns": self.config.braze_campaigns,
            "cards": self.config.braze_cards,
            "events": self.config.braze_events,
            "products": self.config.braze_products,
            "canvases": self.config.braze_canvases,
        }[kind]
        # Built once per size: a list of 50,000 segments is asked for page by page.
        key = (kind, include_archived, count)
        if key not in self._items:
            self._items[key] = self._build_items(kind, include_archived, count)
        return self._items[key]

    def _build_items(self, kind: str, include_archived: bool, count: int) -> list:
        if kind == "events":
            return sorted(f"Event {i:04d}" for i in range(count))
        if kind == "products":
            return sorted(f"Product {i:03d}" for i in range(count))
        prefix = {"segments": "seg", "campaigns": "cmp", "cards": "card", "canvases": "cnv"}[kind]
        newest_first = range(count - 1, -1, -1)
        if kind == "segments":
            return [
                {"id": f"{prefix}-{i:05d}", "name": f"Segment {i}", "analytics_tracking_enabled": i % 3 != 0,
                 "tags": ["sandbox"]}
                for i in newest_first
            ]  # fmt: skip
        if kind == "campaigns":
            return [
                {
                    "id": f"{prefix}-{i:05d}",
                    "name": f"Campaign {i}",
                    "is_api_campaign": i % 2 == 0,
                    "tags": [],
                    "last_edited": (dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(days=i)).isoformat(),
                    **self.config.braze_undocumented_fields,
                }
                for i in newest_first
                if include_archived or i % 5 != 4
            ]
        if kind == "canvases":  # oldest first, as Braze sorts Canvases by default
            return [
                {
                    "id": f"{prefix}-{i:05d}",
                    "name": f"Canvas {i}",
                    "tags": ["onboarding"] if i % 2 else [],
                    "last_edited": (dt.datetime(2026, 2, 1, tzinfo=dt.timezone.utc) + dt.timedelta(days=i)).isoformat(),
                }
                for i in range(count)
                if include_archived or i % 4 != 3
            ]
        return [
            {"id": f"{prefix}-{i:05d}", "type": "NewsItem", "title": f"Card {i}", "tags": []}
            for i in newest_first
            if include_archived or i % 5 != 4
        ]

    def details(self, path: str, identifier: str) -> dict:
        created = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc) + dt.timedelta(hours=int(unit(identifier) * 5000))
        base = {
            "created_at": created.isoformat(),
            "updated_at": (created + dt.timedelta(days=3)).isoformat(),
            "tags": [],
        }
        if path == "/segments/details":
            return {**base, "name": f"Segment {identifier}", "description": "Users who did something"}
        if path == "/campaigns/details":
            return {
                **base,
                "name": f"Campaign {identifier}",
                "schedule_type": "time_based",
                "channels": ["email", "android_push"],
                "first_sent": created.isoformat(),
                "last_sent": (created + dt.timedelta(days=30)).isoformat(),
                "archived": False,
                "draft": False,
                "description": "Welcome series",
                "messages": {
                    f"{identifier}-v1": {"channel": "email", "name": "Variation 1", "subject": "Hi", "body": "<p>"},
                    f"{identifier}-v2": {"channel": "android_push", "name": "Variation 2", "alert": "Hi"},
                },
                "conversion_behaviors": [
                    {"type": "Makes Any Purchase", "window": 86400},
                    {"type": "Performs Custom Event", "window": 259200, "custom_event_name": "Level Up"},
                ],
            }
        if path == "/canvas/details":
            steps = [f"{identifier}-step-{n}" for n in range(3)]
            return {
                **base,
                "name": f"Canvas {identifier}",
                "description": "Onboarding journey",
                "archived": False,
                "draft": False,
                "schedule_type": "action_based",
                "first_entry": created.isoformat(),
                "last_entry": (created + dt.timedelta(days=40)).isoformat(),
                "channels": ["email", "ios_push"],
                "variants": [
                    {"name": "Variant A", "id": f"{identifier}-var-a", "first_step_ids": steps[:1]},
                    {"name": "Control", "id": f"{identifier}-var-b", "first_step_ids": []},
                ],
                "steps": [
                    {
                        "name": f"Step {n}",
                        "type": "message",
                        "id": step,
                        "next_step_ids": steps[n + 1 : n + 2],
                        "next_paths": [{"name": None, "next_step_id": next_id} for next_id in steps[n + 1 : n + 2]],
                        "channels": ["email"],
                        "messages": {f"{step}-msg": {"channel": "email", "subject": f"Hello {n}"}},
                    }
                    for n, step in enumerate(steps)
                ],
            }
        return {
            **base,
            "name": f"Card {identifier}",
            "publish_at": created.isoformat(),
            "end_at": (created + dt.timedelta(days=60)).isoformat(),
            "title": "News Flash!",
            "image_url": "https://example.invalid/card.png",
            "extras": {"kvp": "value"},
            "description": "Today get 20% off!",
        }

    def point(self, path: str, identifier: str | None, app_id: str | None, time: str) -> dict:
        """One point of a series; its values depend only on what it describes."""
        draw = unit_of(self.config.seed, path, identifier, app_id, time)
        revision = self.config.revision

        def count(name: str, scale: int) -> int:
            return int(revised(draw(name) * scale, revision))

        def money(name: str, scale: int) -> float:
            return round(revised(draw(name) * scale, revision, 0.01), 2)

        if path == "/segments/data_series":
            return {"time": time, "size": count("size", 50_000)}
        if path == "/campaigns/data_series":
            return {
                "time": time,
                "conversions": count("conversions", 300),
                "revenue": money("revenue", 900),
                "conversions_by_send_time": count("by_send", 300),
                **{f"conversions{n}": count(f"conversions{n}", 200) for n in (1, 2, 3)},
                **{f"conversions{n}_by_send_time": count(f"by_send{n}", 200) for n in (1, 2, 3)},
                "unique_recipients": count("unique_recipients", 8000),
                **self.config.braze_undocumented_fields,
                "messages": {
                    "email": [
                        {"sent": count("sent", 9000), "opens": count("opens", 3000), "clicks": count("clicks", 900)}
                    ],
                    "android_push": [{"sent": count("push", 5000), "direct_opens": count("direct", 700)}],
                },
            }
        if path == CANVAS_SERIES_PATH:
            steps = {
                f"{identifier}-step-{n}": {
                    "name": f"Step {n}",
                    "revenue": money(f"step{n}_revenue", 100),
                    "conversions": count(f"step{n}_conversions", 40),
                    "conversions_by_entry_time": count(f"step{n}_by_entry", 40),
                    "messages": {
                        "email": [{"sent": count(f"step{n}_sent", 900), "opens": count(f"step{n}_opens", 300)}]
                    },
                }
                for n in range(3)
            }
            variants = {
                f"{identifier}-var-{v}": {
                    "name": name,
                    "revenue": money(f"var_{v}_revenue", 200),
                    "conversions": count(f"var_{v}_conversions", 80),
                    "conversions_by_entry_time": count(f"var_{v}_by_entry", 80),
                    "entries": count(f"var_{v}_entries", 1000),
                }
                for v, name in (("a", "Variant A"), ("b", "Control"))
            }
            return {
                "time": time,
                "total_stats": {
                    "revenue": money("revenue", 400),
                    "conversions": count("conversions", 160),
                    "conversions_by_entry_time": count("by_entry", 160),
                    "entries": count("entries", 2000),
                },
                "variant_stats": variants,
                "step_stats": steps,
            }
        if path == "/feed/data_series":
            return {
                "time": time,
                "clicks": count("clicks", 500),
                "impressions": count("impressions", 9000),
                "unique_clicks": count("unique_clicks", 400),
                "unique_impressions": count("unique_impressions", 7000),
            }
        if path.startswith("/kpi/"):
            name = path.split("/")[2]
            return {"time": time, name: count(name, 100_000)}
        if path == "/sessions/data_series":
            return {"time": time, "sessions": count("sessions", 80_000)}
        if path == "/events/data_series":
            return {"time": time, "count": count("count", 5_000)}
        if path == "/purchases/revenue_series":
            return {"time": time, "revenue": money("revenue", 10_000)}
        return {"time": time, "purchase_quantity": count("quantity", 700)}

    def series_times(self, ending_at: dt.datetime, length: int, hourly: bool) -> list[str]:
        if hourly:
            end = ending_at.replace(minute=0, second=0, microsecond=0)
            return [(end - dt.timedelta(hours=h)).isoformat() for h in range(length - 1, -1, -1)]
        end_day = ending_at.date()
        return [(end_day - dt.timedelta(days=d)).isoformat() for d in range(length - 1, -1, -1)]

    def users(self, segment_id: str, fields: tuple[str, ...] = ()) -> list[dict]:
        users = []
        for i in range(self.config.braze_users_per_segment):
            seed = (self.config.seed, segment_id, i)
            user = {
                "external_id": f"user-{segment_id}-{i}",
                "braze_id": f"{int(unit(*seed, 'id') * 16**24):024x}",
                "first_name": f"Name{i}",
                "email": f"user{i}@example.invalid",
                "country": "DE" if i % 2 else "US",
                "total_revenue": round(unit(*seed, "revenue") * 50, 2),
                "custom_attributes": {"level": int(unit(*seed, "level") * 40)},
                "custom_events": [{"name": "Level Up", "first": "2026-01-02", "last": "2026-03-04", "count": i + 1}],
                "purchases": [{"name": "Gems", "first": "2026-02-01", "last": "2026-02-01", "count": 1}],
                "devices": [{"model": "Pixel 8", "os": "Android 15", "carrier": "Telco", "ad_tracking_enabled": True}],
                "apps": [{"name": "Puzzle Quest", "platform": "Android", "version": "3.2", "sessions": str(i * 7)}],
                "created_at": f"2026-01-{1 + i % 28:02d}T08:00:00.000Z",
                "user_aliases": [{"alias_name": f"alias-{i}", "alias_label": "crm_id"}],
                "random_bucket": int(unit(*seed, "bucket") * 10_000),
                "attributed_campaign": "Summer Sale",
                "attributed_source": "Meta",
                "attributed_adgroup": "Lookalike 1%",
                "attributed_ad": "Video 15s",
                "canvases_received": [
                    {"name": "Onboarding", "api_canvas_id": "cnv-1", "last_received_message": "2026-02-01T10:00:00Z"}
                ],
                **self.config.braze_undocumented_fields,
            }
            if fields:
                user = {k: v for k, v in user.items() if k in fields or k == "braze_id"}
            users.append(user)
        return users

    # HTTP.

    def handle(self, request: Request) -> Response:
        if request.headers.get("authorization") != f"Bearer {self.config.braze_key}":
            return Response.json_body(401, {"message": "Invalid API key"})
        group = request.param("app_group_id") if request.method == "GET" else (request.json() or {}).get("app_group_id")
        if group is not None and group != self.config.braze_app_group_id:
            return Response.json_body(401, {"message": "Unknown or missing app group id"})
        path = request.path
        if path in self.config.braze_forbidden_paths:
            permission = path.strip("/").replace("/", ".")
            return Response.json_body(403, {"message": f"The API key does not have the {permission} permission"})
        if request.method == "POST" and path == "/users/export/segment":
            return self.export(request)
        if request.method != "GET":
            return Response.json_body(404, {"message": "Not found"})
        if path in LIST_PATHS:
            field, size = LIST_PATHS[path]
            page = int(request.param("page") or 0)
            items = self.items(field, include_archived=request.param("include_archived") == "true")
            if self.config.braze_deleted:
                items = [i for i in items if (i if isinstance(i, str) else i["id"]) not in self.config.braze_deleted]
            return Response.json_body(200, {"message": "success", field: items[page * size : (page + 1) * size]})
        if path in DETAIL_PATHS:
            identifier = request.param(DETAIL_PATHS[path])
            if not identifier:
                return Response.json_body(400, {"message": f"{DETAIL_PATHS[path]} is required"})
            return Response.json_body(200, {"message": "success", **self.details(path, identifier)})
        if path in SERIES_PATHS:
            return self.series(request)
        if path == CANVAS_SERIES_PATH:
            return self.canvas_series(request)
        return Response.json_body(404, {"message": "Not found"})

    def canvas_series(self, request: Request) -> Response:
        """`{"data": {"name", "stats": [...]}}`; `length` 1-14 days; step and variant stats only when asked."""
        canvas = request.param("canvas_id")
        if not canvas:
            return Response.json_body(400, {"message": "canvas_id is required"})
        try:
            length = int(request.param("length") or "")
            ending_at = dt.datetime.fromisoformat((request.param("ending_at") or "").replace("Z", "+00:00"))
        except ValueError:
            return Response.json_body(400, {"message": "length and ending_at are required"})
        if not 1 <= length <= MAX_CANVAS_DAYS:
            return Response.json_body(400, {"message": f"length must be between 1 and {MAX_CANVAS_DAYS} (inclusive)"})
        stats = []
        for time in self.series_times(ending_at, length, hourly=False):
            point = self.point(CANVAS_SERIES_PATH, canvas, None, time)
            if request.param("include_variant_breakdown") != "true":
                point.pop("variant_stats")
            if request.param("include_step_breakdown") != "true":
                point.pop("step_stats")
            stats.append(point)
        return Response.json_body(200, {"message": "success", "data": {"name": f"Canvas {canvas}", "stats": stats}})

    def series(self, request: Request) -> Response:
        key, takes_unit = SERIES_PATHS[request.path]
        identifier = request.param(key) if key else None
        if key in ("segment_id", "campaign_id", "card_id", "event") and not identifier:
            return Response.json_body(400, {"message": f"{key} is required"})
        try:
            length = int(request.param("length") or "")
        except ValueError:
            return Response.json_body(400, {"message": "length is required"})
        if not 1 <= length <= 100:
            return Response.json_body(400, {"message": "length must be between 1 and 100 inclusive"})
        ending = request.param("ending_at")
        try:
            ending_at = (
                dt.datetime.fromisoformat(ending.replace("Z", "+00:00")) if ending else dt.datetime.now(dt.timezone.utc)
            )
        except ValueError:
            return Response.json_body(400, {"message": "ending_at must be an ISO 8601 date-time"})
        unit_name = request.param("unit", "day") if takes_unit else "day"
        if unit_name not in ("day", "hour"):
            return Response.json_body(400, {"message": "unit must be day or hour"})
        asked = (request.path, tuple(sorted((k, tuple(v)) for k, v in request.query.items())), self.config.revision)
        cache = self.config.braze_answer_cache and ending is not None
        if cache and asked in self._answers:
            return Response(200, zlib.decompress(self._answers[asked]))
        times = self.series_times(ending_at, length, unit_name == "hour")
        app_id = request.param("app_id")
        data = [self.point(request.path, identifier, app_id, time) for time in times]
        response = Response.json_body(200, {"message": "success", "data": data})
        if cache:
            self._answers[asked] = zlib.compress(response.body, 1)
        return response

    def export(self, request: Request) -> Response:
        body = request.json() or {}
        segment = body.get("segment_id")
        if not segment:
            return Response.json_body(400, {"message": "segment_id is required"})
        if not body.get("fields_to_export"):
            return Response.json_body(400, {"message": "fields_to_export is required"})
        output_format = body.get("output_format", "zip")
        if output_format not in ("zip", "gzip"):
            return Response.json_body(400, {"message": "output_format must be zip or gzip"})
        prefix = f"{uuid.uuid4()}-{int(dt.datetime.now().timestamp())}"
        with self._lock:
            self.exports[prefix] = Export(segment, tuple(body["fields_to_export"]), output_format)
        payload: dict = {"message": "success", "object_prefix": prefix}
        if not self.config.braze_s3_bucket:
            extension = "gz" if output_format == "gzip" else "zip"
            payload["url"] = f"http://{request.headers.get('host')}/files/braze/{prefix}.{extension}"
        return Response.json_body(201, payload)

    def file(self, prefix: str) -> Response:
        export = self.exports.get(prefix)
        if export is None:
            return Response(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        export.gets += 1
        if export.gets < self.config.braze_export_polls:
            return Response(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        users = self.users(export.segment_id, export.fields)
        if export.output_format == "gzip":
            lines = "".join(json.dumps(u) + "\n" for u in users).encode()
            return Response(200, gzip.compress(lines), "application/gzip")
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            half = len(users) // 2
            for index, part in enumerate((users[:half], users[half:])):
                archive.writestr(f"{prefix}-{index}.txt", "".join(json.dumps(u) + "\n" for u in part))
        return Response(200, buffer.getvalue(), "application/zip")
