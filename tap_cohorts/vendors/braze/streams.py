"""Braze streams, built from the endpoint tables in `settings.py`: lists, details, data series, the user export."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import zipfile
from collections.abc import Iterable, Iterator, Mapping
from functools import cached_property
from typing import IO, TYPE_CHECKING, Any, ClassVar, cast

from singer_sdk import typing as th
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_cohorts.core.base_stream import TapStream
from tap_cohorts.core.check import Probe, probe_window
from tap_cohorts.core.child_streams import OncePerRun, OneRequestPerParent, announce_children
from tap_cohorts.core.config import VendorRuntime, config_key
from tap_cohorts.core.errors import MalformedBody, VendorError
from tap_cohorts.core.http import RequestLabel, VendorClient, WindowStats
from tap_cohorts.core.jobs import JobTimeout, PollSchedule, wait_for_job
from tap_cohorts.core.parsing import bounded_lines, read_json, spool_body
from tap_cohorts.core.sync_log import ALL_DATES, SyncLogStream
from tap_cohorts.core.windowed_stream import WindowedStream
from tap_cohorts.core.windows import Window, plan_windows, utc_today
from tap_cohorts.vendors.braze import settings

if TYPE_CHECKING:
    from singer_sdk import Tap

JSON_TYPES: dict[str, Any] = {
    "string": th.StringType,
    "boolean": th.BooleanType,
    "integer": th.IntegerType,
    "number": th.NumberType,
    "date-time": th.DateTimeType,
    "array": th.ArrayType(th.StringType),
    "object": th.ObjectType(additional_properties=True),
    "objects": th.ArrayType(th.ObjectType(additional_properties=True)),
}


# Every Braze record has this column: the fields Braze sent that the schema does not declare, as sent (null when
# there are none), so a field Braze adds is never dropped; the log names each one once per stream.
EXTRA_PROPERTIES = "extra_properties"
# The fields of a list record that are the tap's, not Braze's.
OWN_FIELDS = (EXTRA_PROPERTIES, "synced_at")


def properties(pairs: Iterable[tuple[str, str]]) -> list[th.Property]:
    return [th.Property(name, JSON_TYPES[kind]) for name, kind in pairs]


def extra_properties() -> th.Property:
    return th.Property(
        EXTRA_PROPERTIES,
        th.ObjectType(additional_properties=True),
        description="Fields Braze sent that this tap does not declare, as sent.",
    )


def keep_extras(stream: TapStream, record: dict, declared: Mapping[str, Any]) -> dict:
    """The record with its undeclared fields moved into `extra_properties` (absent, so null, when none are)."""
    if record.keys() <= declared.keys():
        return record  # the common case, checked at C speed: a data series has a point a day for every object
    extras = {key: record.pop(key) for key in [k for k in record if k not in declared]}
    if extras:
        stream.log_unknown_columns(extras, kept_in=EXTRA_PROPERTIES)
        record[EXTRA_PROPERTIES] = extras
    return record


def permission_probe(path: str, params: Mapping[str, Any]) -> Probe:
    """`--test`'s request to one endpoint, named by the REST API key permission it needs, as Braze's dashboard
    names it (`/kpi/dau/data_series` needs `kpi.dau.data_series`)."""
    permission = path.strip("/").replace("/", ".")
    return Probe(f"permission {permission}", config_key("braze", "api_key"), "GET", path, params)


def with_app_group(section: Mapping[str, Any], **extra: Any) -> dict[str, Any]:
    """Request parameters with `app_group_id` when it is configured (the document asks for it everywhere)."""
    group = section.get("app_group_id")
    return {**({"app_group_id": group} if group else {}), **extra}


def read_object(response: Any) -> Any:
    payload = read_json(response)
    if not isinstance(payload, dict):
        raise ValueError(f"expected a JSON object, got {str(payload)[:200]!r}")
    return payload


class BrazeStream(OncePerRun):
    """What every Braze stream shares: the client, the section, and `app_group_id` where the document asks."""

    def __init__(self, tap: Tap, *, client: VendorClient, runtime: VendorRuntime, section: Mapping[str, Any]) -> None:
        self.client = client
        self.runtime = runtime
        self.section = section
        super().__init__(tap, schema=self.build_schema())

    def build_schema(self) -> dict:
        raise NotImplementedError

    def params(self, **extra: Any) -> dict[str, Any]:
        return with_app_group(self.section, **extra)


class BrazeListStream(BrazeStream):
    """A paged list, read until a short or empty page (an exactly full last page costs one empty page).

    Names-only lists (events, products) also carry each name's `position` in the vendor's list: a table of
    nothing but its key cannot be upserted by target-duckdb, nor loaded whole when every column is text.
    """

    endpoint: ClassVar[settings.ListEndpoint]
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE  # records are projected to the schema in `project`

    def build_schema(self) -> dict:
        key = "name" if self.endpoint.names_only else "id"
        extra = [] if self.endpoint.names_only else [th.Property("name", th.StringType)]
        return th.PropertiesList(
            th.Property(key, th.StringType, required=True),
            *extra,
            *properties(self.endpoint.properties),
            *([th.Property("position", th.IntegerType)] if self.endpoint.names_only else []),
            extra_properties(),
            th.Property("synced_at", th.DateTimeType, description="When the run that listed the object started."),
        ).to_dict()

    @cached_property
    def sync_log(self) -> SyncLogStream | None:
        return getattr(self._tap, "sync_log", None)

    def read_records(self, context: Mapping[str, Any] | None) -> Iterator[dict]:
        label = RequestLabel(self.name)
        stats = WindowStats()
        synced_at = self.sync_log.synced_at if self.sync_log is not None else None
        page = 0
        previous: list | None = None
        while True:
            extra: dict[str, Any] = {"page": page}
            if self.endpoint.takes_archived and self.section.get("include_archived") is not None:
                extra["include_archived"] = str(bool(self.section["include_archived"])).lower()
            payload = self.client.call(
                "GET",
                self.endpoint.path,
                label=label,
                stats=stats,
                params=self.params(**extra),
                read=read_object,
            )
            items = payload.get(self.endpoint.field)
            if not isinstance(items, list):
                raise VendorError(
                    f"braze: {label}: page {page} has no {self.endpoint.field!r} list: {str(payload)[:200]}"
                )
            if items and items == previous:
                raise VendorError(
                    f"braze: {label}: page {page} repeats page {page - 1}: the vendor ignores `page`; stopping here "
                    "instead of reading the same items forever"
                )
            previous = items
            records = [
                {"name": item, "position": index} if self.endpoint.names_only else self.project(item)
                for index, item in enumerate(items, start=page * self.endpoint.page_size)
            ]
            if self.child_streams:
                announce_children(self, [self.get_child_context(record, context) for record in records])
            for record in records:
                record["synced_at"] = synced_at
                yield record
            if len(items) < self.endpoint.page_size:
                break
            page += 1
        self.logger.info("%s: %d pages, %d requests", self.name, page + 1, stats.requests)
        if self.sync_log is not None:  # the whole list was read: an object not in it was deleted at Braze
            listed = page * self.endpoint.page_size + len(items)
            self.sync_log.record_unit(self.name, "{}", *ALL_DATES, reason="list", records=listed, grain={})

    def connection_probes(self) -> list[Probe]:
        """The list's first page: a 403 names the REST API key's missing permission."""
        return [permission_probe(self.endpoint.path, self.params(page=0))]

    def project(self, item: Any) -> dict:
        """The item's schema fields, and the fields Braze adds in `extra_properties`. The JSON types are Braze's
        own, so the SDK's type conformance (a quarter of the time of a 50,000-segment list) is left out."""
        if not isinstance(item, dict):
            raise VendorError(f"braze: stream {self.name}: a list item is not an object: {str(item)[:200]}")
        fields = self.schema["properties"]
        if len(item) == len(fields) - len(OWN_FIELDS) and item.keys() <= fields.keys():
            return item  # exactly the declared fields: the common case, at no cost
        vendor_fields = {name: item.get(name) for name in fields if name not in OWN_FIELDS}
        return keep_extras(self, vendor_fields | item, fields)

    def get_child_context(self, record: dict, context: Mapping[str, Any] | None) -> dict:
        key = record["name"] if self.endpoint.names_only else record["id"]
        return {self.endpoint.child_key: key, "tracked": record.get("analytics_tracking_enabled", True)}


class ProductsListStream(BrazeListStream):
    """Products also open the all-products series once, with the first product (see settings.ALL_PRODUCTS)."""

    _total_opened = False

    def generate_child_contexts(self, record: dict, context: Mapping[str, Any] | None) -> Iterator[dict]:
        if not self._total_opened:
            self._total_opened = True
            yield {self.endpoint.child_key: settings.ALL_PRODUCTS, "tracked": True}
        yield self.get_child_context(record, context)


class BrazeDetailsStream(OneRequestPerParent, BrazeStream):
    """One request per parent id; the record is the response without its `message`, plus the id. The next ids'
    requests are sent ahead (settings.REQUESTS_AHEAD): one at a time, 10,000 campaigns would cost Braze's latency
    10,000 times."""

    endpoint: ClassVar[settings.DetailsEndpoint]
    state_partitioning_keys: ClassVar[list[str]] = []  # type: ignore[misc]
    requests_ahead = settings.REQUESTS_AHEAD

    def build_schema(self) -> dict:
        return th.PropertiesList(
            th.Property(self.endpoint.id_param, th.StringType, required=True),
            *properties(self.endpoint.properties),
            extra_properties(),
        ).to_dict()

    def answer_key(self, context: Mapping[str, Any]) -> str:
        return str(context[self.endpoint.id_param])

    def ask(self, context: Mapping[str, Any]) -> Any:
        identifier = context[self.endpoint.id_param]
        return self.client.call(
            "GET",
            self.endpoint.path,
            label=RequestLabel(self.name, {self.endpoint.id_param: identifier}),
            stats=WindowStats(),
            params=self.params(**{self.endpoint.id_param: identifier}),
            read=read_object,
        )

    def read_records(self, context: Mapping[str, Any] | None) -> Iterator[dict]:
        assert context is not None
        payload = self.answer(context)
        payload.pop("message", None)
        identifier = context[self.endpoint.id_param]
        yield keep_extras(self, {**payload, self.endpoint.id_param: identifier}, self.schema["properties"])


class BrazeSeriesStream(OncePerRun, WindowedStream):
    """A data series, incremental by `time` in windows of at most 100 units, bookmarked per parent id."""

    endpoint: ClassVar[settings.SeriesEndpoint]
    replication_key = "time"
    # Braze's JSON goes out as Braze sent it: the schema declares integers, numbers and open objects, whose JSON
    # values the SDK's conformance would leave as they are (it cost a third of the tap's time on a series).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    max_window_days = settings.MAX_SERIES_UNITS
    prefetches = True
    requests_ahead = settings.REQUESTS_AHEAD

    def __init__(self, tap: Tap, *, client: VendorClient, runtime: VendorRuntime, section: Mapping[str, Any]) -> None:
        key = self.endpoint.id_param
        super().__init__(tap, client=client, runtime=runtime, section=section)
        self.primary_keys = [*([key] if key else []), "time", *(["app_id"] if self.filters_app else [])]
        if key:
            self.state_partitioning_keys = [key]  # the parent's id, not the rest of its context

    @property
    def filters_app(self) -> bool:
        return self.endpoint.takes_app_id and bool(self.section.get("app_id"))

    @property
    def unit(self) -> str:
        return str(self.section.get("data_series_unit") or "day") if self.endpoint.takes_unit else "day"

    def build_schema(self) -> dict:
        key = self.endpoint.id_param
        return th.PropertiesList(
            *([th.Property(key, th.StringType, required=True)] if key else []),
            th.Property("time", th.DateType if self.unit == "day" else th.DateTimeType, required=True),
            *([th.Property("app_id", th.StringType, required=True)] if self.filters_app else []),
            *properties(self.endpoint.metrics),
            extra_properties(),
        ).to_dict()

    def plan(self, context: Mapping[str, Any] | None, first: dt.date, last: dt.date, today: dt.date) -> list[Window]:
        """At most the endpoint's units a window: 100 days (14 for a Canvas), or 4 whole days (96 hours) of
        hourly points."""
        units = self.endpoint.max_units
        return plan_windows(first, last, units if self.unit == "day" else units // 24)

    def connection_probes(self) -> list[Probe]:
        """A series of all the app group (not of one object: the check asks no list for an id): yesterday."""
        if self.endpoint.id_param:
            return []
        extra = {"length": 1, "ending_at": f"{probe_window(utc_today()).end.isoformat()}T23:59:59Z"}
        return [
            permission_probe(self.endpoint.path, with_app_group(self.section, **extra, **self.endpoint.extra_params))
        ]

    def asks_vendor(self, context: Mapping[str, Any] | None) -> bool:
        """The document serves a segment's series only when analytics tracking is enabled."""
        return not (self.endpoint.tracked_only and context and context.get("tracked") is False)

    def read_records(self, context: Mapping[str, Any] | None) -> Iterator[dict]:
        if self.asks_vendor(context):
            yield from self.sync_partition(context)

    def request_window(
        self, context: Mapping[str, Any] | None, window: Window, label: RequestLabel, stats: WindowStats
    ) -> Any:
        key = self.endpoint.id_param
        identifier = (context or {}).get(key) if key else None
        extra: dict[str, Any] = {
            "length": window.days * (24 if self.unit == "hour" else 1),
            "ending_at": f"{window.end.isoformat()}T23:59:59Z",
            **self.endpoint.extra_params,
        }
        if key and identifier != settings.ALL_PRODUCTS:
            extra[key] = identifier
        if self.endpoint.takes_unit and self.section.get("data_series_unit"):
            extra["unit"] = self.unit
        if self.filters_app:
            extra["app_id"] = self.section["app_id"]
        return self.client.call(
            "GET",
            self.endpoint.path,
            label=label,
            stats=stats,
            params=with_app_group(self.section, **extra),
            read=read_object,
        )

    def read_window(self, context: Mapping[str, Any] | None, window: Window, answer: Any) -> Iterator[dict]:
        key = self.endpoint.id_param
        identifier = (context or {}).get(key) if key else None
        points: Any = answer
        for step in self.endpoint.points_at:
            points = points.get(step) if isinstance(points, dict) else None
        if not isinstance(points, list):
            raise ValueError(f"no `{'.'.join(self.endpoint.points_at)}` list in {str(answer)[:200]!r}")
        first, last = window.start.isoformat(), window.end.isoformat()
        declared = self.schema["properties"]
        for point in points:
            time = point.get("time") if isinstance(point, dict) else None
            try:
                dt.date.fromisoformat(str(time)[:10])
            except ValueError:
                raise ValueError(f"a data point has no ISO 8601 `time`: {str(point)[:200]}") from None
            time = str(time)
            if not first <= time[:10] <= last:
                continue  # a point outside the window belongs to (and is emitted with) another window
            record = {**point, "time": time[:10] if self.unit == "day" else time}
            totals = self.endpoint.totals
            if totals and totals in record:
                if not isinstance(record[totals], dict):
                    raise ValueError(f"`{totals}` is not an object: {str(point)[:200]}")
                record.update(record.pop(totals))
            if key:
                record[key] = identifier
            if self.filters_app:
                record["app_id"] = self.section["app_id"]
            yield keep_extras(self, record, declared)


class BrazeSegmentUsersStream(BrazeStream):
    """POST /users/export/segment per segment, wait for the URL to become valid, stream the zip of JSON lines."""

    name = "braze_segment_users"
    primary_keys = ["segment_id", "braze_id"]
    USER_FIELDS: ClassVar[tuple[tuple[str, str], ...]] = (
        ("external_id", "string"),
        ("appboy_id", "string"),
        ("first_name", "string"),
        ("last_name", "string"),
        ("email", "string"),
        ("dob", "string"),
        ("home_city", "string"),
        ("country", "string"),
        ("phone", "string"),
        ("language", "string"),
        ("time_zone", "string"),
        ("gender", "string"),
        ("total_revenue", "number"),
        ("push_subscribe", "string"),
        ("email_subscribe", "string"),
        ("custom_attributes", "object"),
        ("created_at", "date-time"),
        ("random_bucket", "integer"),
        ("attributed_campaign", "string"),
        ("attributed_source", "string"),
        ("attributed_adgroup", "string"),
        ("attributed_ad", "string"),
        ("uninstalled_at", "date-time"),
    )
    USER_ARRAYS: ClassVar[tuple[str, ...]] = (
        "custom_events",
        "purchases",
        "devices",
        "push_tokens",
        "apps",
        "campaigns_received",
        "canvases_received",
        "cards_clicked",
        "user_aliases",
    )

    @property
    def partitions(self) -> list[dict]:
        return [{"segment_id": segment} for segment in self.section.get("export_segment_ids") or []]

    def build_schema(self) -> dict:
        any_object = th.ObjectType(additional_properties=True)
        return th.PropertiesList(
            th.Property("segment_id", th.StringType, required=True),
            th.Property("braze_id", th.StringType, required=True),
            *properties(self.USER_FIELDS),
            th.Property("last_coordinates", th.ArrayType(th.NumberType)),
            *(th.Property(name, th.ArrayType(any_object)) for name in self.USER_ARRAYS),
            extra_properties(),
        ).to_dict()

    @property
    def schedule(self) -> PollSchedule:
        return PollSchedule(
            first=float(self.section.get("export_poll_interval_seconds", 10)),
            longest=float(self.section.get("export_poll_max_interval_seconds", 120)),
            timeout=float(self.section.get("export_timeout_seconds", 3600)),
        )

    def read_records(self, context: Mapping[str, Any] | None) -> Iterator[dict]:
        assert context is not None
        segment = context["segment_id"]
        label = RequestLabel(self.name, {"segment_id": segment})
        stats = WindowStats()
        body: dict[str, Any] = {
            **self.params(),
            "segment_id": segment,
            "fields_to_export": list(self.section["fields_to_export"]),
        }
        if self.section.get("output_format"):
            body["output_format"] = self.section["output_format"]
        started = self.client.call("POST", settings.EXPORT_PATH, label=label, stats=stats, json=body, read=read_object)
        url = started.get("url")
        if not url:
            self.logger.warning(
                "%s: Braze wrote the export to your own cloud storage (S3 or Azure; object prefix %s), as configured "
                "on the Braze side; the tap reads no data from there, so this segment gives no records",
                label,
                started.get("object_prefix"),
            )
            return
        try:
            archive = wait_for_job(lambda: self.poll(str(url), label, stats), self.schedule, stats)
        except JobTimeout as timeout:
            raise VendorError(
                f"braze: {label}: the export file {timeout}; raise config['braze']['export_timeout_seconds']"
            ) from None
        count = 0
        with archive:
            for record in self.users(archive, segment):
                count += 1
                yield record
        self.logger.info(
            "%s: %d users, %d requests, %.1fs waiting for the export", label, count, stats.requests, stats.job_wait
        )

    def poll(self, url: str, label: RequestLabel, stats: WindowStats) -> tuple[str, IO[bytes] | None]:
        """The export URL answers 403/404 until the file is there; then it is the file (zip, or gzip with
        `output_format: gzip`), downloaded to a spool and checked whole before any record."""

        def read(response: Any) -> IO[bytes] | None:
            if response.status_code in (403, 404):
                return None
            spool, _ = spool_body(response.iter_content(chunk_size=1 << 16))
            try:
                check_export_file(spool)
            except MalformedBody:
                spool.close()
                raise
            spool.seek(0)
            return spool

        result = self.client.call(
            "GET", url, label=label, stats=stats, authenticated=False, rate_limited=False, accept=(403, 404), read=read
        )
        return ("ready" if result is not None else "not ready"), result

    def users(self, archive: IO[bytes], segment: str) -> Iterator[dict]:
        declared = self.schema["properties"]
        for name, raw in export_members(archive):
            with raw:
                lines = bounded_lines(io.TextIOWrapper(raw, encoding="utf-8"), f"{name} ")
                for line_number, line in enumerate(lines, start=1):
                    if not line.strip():
                        continue
                    try:
                        user = json.loads(line)
                    except ValueError:
                        raise ValueError(f"{name} line {line_number} is not JSON") from None
                    braze_id = user.get("braze_id") or user.get("appboy_id")
                    if not braze_id:
                        raise ValueError(f"{name} line {line_number} has no braze_id nor appboy_id")
                    yield keep_extras(self, {**user, "segment_id": segment, "braze_id": str(braze_id)}, declared)


GZIP_MAGIC = b"\x1f\x8b"


def check_export_file(spool: IO[bytes]) -> None:
    """A whole zip (every member's CRC) or a whole gzip (read to its end), else MalformedBody: fetched again."""
    head = spool.read(2)
    spool.seek(0)
    if head == GZIP_MAGIC:
        try:
            with gzip.GzipFile(fileobj=spool, mode="rb") as unpacked:
                while unpacked.read(1 << 20):
                    pass
        except (OSError, EOFError) as exc:
            raise MalformedBody(f"the export file is not a whole gzip: {exc}") from None
        return
    try:
        with zipfile.ZipFile(spool) as archive:
            broken = archive.testzip()
    except zipfile.BadZipFile as exc:
        raise MalformedBody(f"the export file is not a whole zip: {exc}") from None
    if broken:
        raise MalformedBody(f"the export file's member {broken} is damaged")


def export_members(spool: IO[bytes]) -> Iterator[tuple[str, IO[bytes]]]:
    """The JSON-lines files of an export: a zip's members, or a gzip's one stream."""
    if spool.read(2) == GZIP_MAGIC:
        spool.seek(0)
        yield "the gzip file", cast(IO[bytes], gzip.GzipFile(fileobj=spool, mode="rb"))
        return
    spool.seek(0)
    with zipfile.ZipFile(spool) as files:
        for member in files.infolist():
            if not member.is_dir():
                yield member.filename, files.open(member)


def stream_classes() -> list[type[BrazeStream] | type[BrazeSeriesStream]]:
    """One class per endpoint (the SDK links children to parents by class)."""
    lists: dict[str, type[BrazeListStream]] = {}
    for endpoint in settings.LISTS:
        base = ProductsListStream if endpoint.stream == "braze_products" else BrazeListStream
        primary = ["name"] if endpoint.names_only else ["id"]
        lists[endpoint.stream] = type(
            endpoint.stream, (base,), {"name": endpoint.stream, "endpoint": endpoint, "primary_keys": primary}
        )
    classes: list[type[BrazeStream] | type[BrazeSeriesStream]] = list(lists.values())
    for details in settings.DETAILS:
        attributes = {
            "name": details.stream,
            "endpoint": details,
            "parent_stream_type": lists[details.parent],
            "primary_keys": [details.id_param],
        }
        classes.append(type(details.stream, (BrazeDetailsStream,), attributes))
    for series in settings.SERIES:
        attributes = {"name": series.stream, "endpoint": series}
        if series.parent:
            attributes["parent_stream_type"] = lists[series.parent]
        classes.append(type(series.stream, (BrazeSeriesStream,), attributes))
    classes.append(BrazeSegmentUsersStream)
    return classes


STREAM_CLASSES = stream_classes()
