"""Branch cohort streams: one export job per window (and per 3 measures), polled, downloaded, streamed."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from functools import partial
from typing import IO, TYPE_CHECKING, Any

import msgspec
import requests
from singer_sdk import typing as th

from tap_cohorts.core.check import Probe, probe_window
from tap_cohorts.core.config import VendorRuntime, config_key
from tap_cohorts.core.errors import RowCapReached, VendorError
from tap_cohorts.core.http import RequestLabel, VendorClient, WindowStats, path_segment
from tap_cohorts.core.jobs import JobTimeout, PollSchedule, download, is_transient, wait_for_job
from tap_cohorts.core.parsing import MappedJson, decode_items, read_json
from tap_cohorts.core.records import cohort_schema, dimension_key, to_cohort_date, to_integer, to_number
from tap_cohorts.core.windowed_stream import WindowedStream
from tap_cohorts.core.windows import Window, utc_today
from tap_cohorts.vendors.branch import settings

if TYPE_CHECKING:
    from singer_sdk import Tap

BAND = re.compile(r"^(?:day|week|month)(\d+)$")
ROW_FIELDS = frozenset({"measure", "metric", "users", "user", "cost", "per_user", "cumulative", "data"})


def full_dimension(name: str, data_source: str) -> str | None:
    """The dimension name for a data source: `touch_data_tilde_campaign` gets the activity prefix,
    `user_data_*` and `app_id` stay as they are; a full name of the other data source gives None."""
    prefix = settings.DATA_SOURCES[data_source]
    if name.startswith(settings.UNPREFIXED):
        return name
    if name.startswith(tuple(settings.DATA_SOURCES.values())):
        return name if name.startswith(prefix) else None
    return prefix + name


class JobFailed(Exception):
    pass


class Export:
    """A downloaded export file: a JSON array of rows, proved whole and surveyed (its rows, the keys they hold)
    before any record goes out, its rows decoded one at a time when read (`MappedJson`)."""

    ROW_KEYS = msgspec.json.Decoder(dict[str, msgspec.Raw])  # a row's keys, its values left undecoded

    def __init__(self, json: MappedJson[list[msgspec.Raw]]) -> None:
        assert json.value is not None
        self.json = json
        self.rows = len(json.value)
        self.keys: set[str] = set()
        for number, row in enumerate(json.value, start=1):
            try:
                self.keys.update(self.ROW_KEYS.decode(row))
            except msgspec.ValidationError:
                raise ValueError(f"row {number} of the export is not a JSON object: {bytes(row)[:200]!r}") from None

    @classmethod
    def read(cls, spool: IO[bytes]) -> Export:
        json = MappedJson(spool, list[msgspec.Raw])
        try:
            return cls(json)
        except BaseException:
            json.close()
            raise

    def items(self) -> Iterator[dict]:
        assert self.json.value is not None
        return decode_items(self.json.value)

    def close(self) -> None:
        self.json.close()


class BranchCohortStream(WindowedStream):
    """One Branch data source (install or re-engagement cohorts)."""

    primary_keys = ["measure", "metric", "cohort_date", "dimension_key", "period"]
    max_window_days = settings.MAX_WINDOW_DAYS
    history_days = settings.HISTORY_DAYS
    grain_settings = (
        "dimensions",
        "measures",
        "period_unit",
        "band_count",
        "cumulative",
        "per_user",
        "filters",
        "enable_install_recalculation",
    )

    def __init__(
        self,
        tap: Tap,
        *,
        data_source: str,
        client: VendorClient,
        runtime: VendorRuntime,
        section: Mapping[str, Any],
    ) -> None:
        self.data_source = data_source
        self.name = settings.STREAM_NAMES[data_source]
        super().__init__(tap, client=client, runtime=runtime, section=section)

    @property
    def date_dimension(self) -> str:
        return settings.DATA_SOURCES[self.data_source] + settings.DATE_DIMENSION

    @property
    def dimensions(self) -> list[str]:
        names: list[str] = []
        for name in self.section.get("dimensions") or []:
            full = full_dimension(str(name), self.data_source)
            if full and full != self.date_dimension and full not in names:
                names.append(full)
        return names

    @property
    def period_unit(self) -> str:  # type: ignore[override]
        return str(self.section.get("granularity") or "day")

    @property
    def schedule(self) -> PollSchedule:
        return PollSchedule(
            first=float(self.section.get("poll_interval_seconds", 5)),
            longest=float(self.section.get("poll_max_interval_seconds", 60)),
            timeout=float(self.section.get("job_timeout_seconds", 1800)),
        )

    @property
    def scope(self) -> dict[str, str]:
        """What the export covers: one app (`app_id`), or the whole organization."""
        if self.section.get("app_id"):
            return {"app_id": str(self.section["app_id"])}
        return {"organization_id": str(self.section["organization_id"])}

    def periods_asked(self, context: Mapping[str, Any] | None) -> Iterable[int]:
        return range(self.band_count)

    def completion_age(self, period: int) -> int:
        """Band b covers days [b, b + 1) of its granularity after install: complete (b + 1) units later (a month
        counted as 31 days, so never early)."""
        return (period + 1) * settings.GRANULARITY_DAYS[self.period_unit]

    @property
    def band_count(self) -> int:
        return int(self.section.get("granularity_band_count") or settings.DEFAULT_BAND_COUNT)

    @property
    def measures(self) -> list[str]:
        return [str(m) for m in self.section["measures"]]

    def partition_scope(self) -> dict[str, Any]:
        return self.scope

    def build_schema(self) -> dict:
        return cohort_schema(
            keys=[th.Property(name, th.StringType, required=True) for name in ("measure", "metric")],
            dimensions=self.dimensions,
            integer_metrics=["users"],
            number_metrics=["value", "cost"],
            extra=[th.Property("per_user", th.BooleanType), th.Property("cumulative", th.BooleanType)],
        )

    def cap_advice(self, context: Mapping[str, Any] | None) -> str:
        return (
            f"Drop dimensions from config['branch']['dimensions'] (now {self.dimensions}) "
            "or narrow them with config['branch']['filters']."
        )

    def request_body(self, window: Window, measures: list[str]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "start_date": window.start.isoformat(),
            "end_date": window.end.isoformat(),
            "data_source": self.data_source,
            "dimensions": [*self.dimensions, self.date_dimension],
            "measures": measures,
            "granularity": self.period_unit,
            "granularity_band_count": self.band_count,
            "cumulative": bool(self.section.get("cumulative", False)),
            "per_user": bool(self.section.get("per_user", False)),
        }
        if self.section.get("enable_install_recalculation") is not None:
            body["enable_install_recalculation"] = bool(self.section["enable_install_recalculation"])
        filters = {}
        for name, values in (self.section.get("filters") or {}).items():
            full = full_dimension(str(name), self.data_source)
            if full:
                filters[full] = values
        if filters:
            body["filters"] = filters
        return body

    def connection_probes(self) -> list[Probe]:
        """One export job of one day, submitted and not waited for: a 202 says the token reaches the app or
        organization with Aggregate Data access (a 404 names the app or organization Branch does not know)."""
        scope = ", ".join(f"{k} {v}" for k, v in self.scope.items())
        return [
            Probe(
                f"{self.data_source} exports for {scope}",
                config_key("branch", *self.scope),
                "POST",
                settings.EXPORT_PATH,
                params={**self.scope, "limit": settings.ROW_LIMIT, "format": "json"},
                json=self.request_body(probe_window(utc_today()), self.measures[: settings.MEASURES_PER_JOB]),
            )
        ]

    def fetch_window(
        self, context: Mapping[str, Any] | None, window: Window, label: RequestLabel, stats: WindowStats
    ) -> Iterator[dict]:
        measures = self.measures
        exports: list[Export] = []
        try:
            for start in range(0, len(measures), settings.MEASURES_PER_JOB):
                batch = measures[start : start + settings.MEASURES_PER_JOB]
                export = self.run_job(window, batch, label, stats)
                exports.append(export)
                if export.rows >= settings.ROW_LIMIT:
                    raise RowCapReached(export.rows)
                missing = [name for name in self.dimensions if name not in export.keys]
                if export.rows and missing:
                    # Read as null, they would give rows of different partners, say, one dimension_key.
                    raise VendorError(
                        f"branch: {label}: the export has no {', '.join(missing)} in any of its {export.rows} rows; "
                        f"requested dimensions: {', '.join([*self.dimensions, self.date_dimension])}; the rows "
                        f"hold: {', '.join(sorted(export.keys))}. Check config['branch']['dimensions'] against the "
                        "names Branch uses"
                    )
            for export in exports:
                yield from self.records(export.items())
        finally:
            for export in exports:
                export.close()

    def run_job(self, window: Window, measures: list[str], label: RequestLabel, stats: WindowStats) -> Export:
        """Submit, poll, download (the file, its row count and the keys its rows hold); a job that fails with a
        transient error is submitted once more."""
        for attempt in (1, 2):
            job_id = self.client.call(
                "POST",
                settings.EXPORT_PATH,
                label=label,
                stats=stats,
                params={**self.scope, "limit": settings.ROW_LIMIT, "format": "json"},
                json=self.request_body(window, measures),
                read=read_job_id,
            )
            try:
                url = wait_for_job(partial(self.poll, job_id, label, stats), self.schedule, stats)
            except JobFailed as failed:
                if attempt == 1 and is_transient(str(failed)):
                    self.logger.warning("%s: export job %s failed (%s); submitting it once more", label, job_id, failed)
                    continue
                raise VendorError(f"branch: {label}: export job {job_id} ended in ERROR: {failed}") from None
            except JobTimeout as timeout:
                raise VendorError(
                    f"branch: {label}: export job {job_id} {timeout}; raise config['branch']['job_timeout_seconds'] "
                    "or ask for fewer dimensions"
                ) from None
            spool, export = download(self.client, url, label, stats, Export.read)
            spool.close()  # the map holds the file
            return export
        raise AssertionError("unreachable")

    def poll(self, job_id: str, label: RequestLabel, stats: WindowStats) -> tuple[str, str | None]:
        status = self.client.call(
            "GET",
            settings.STATUS_PATH.format(job_id=path_segment(job_id)),
            label=label,
            stats=stats,
            params=self.scope,
            read=read_json,
        )
        state = str(status.get("status", "")).upper()
        if state == "FINISHED":
            url = status.get("response_url")
            if not url:
                raise VendorError(f"branch: {label}: job {job_id} FINISHED without a response_url")
            return state, str(url)
        if state == "ERROR":
            raise JobFailed(str(status.get("error_message") or "no error_message"))
        return state, None

    def records(self, rows: Iterable[dict]) -> Iterator[dict]:
        dimensions = self.dimensions
        known = ROW_FIELDS | {self.date_dimension, *dimensions}
        periods: dict[str, int] = {}  # band name: its period, read once per file
        keys: dict[tuple, str] = {}  # dimension_key by values: a file repeats a few combinations on every date
        for row in rows:
            unknown = [key for key in row if key not in known]
            if unknown:
                self.log_unknown_columns(unknown)
            values = {name: None if row.get(name) is None else str(row[name]) for name in dimensions}
            combination = tuple(values.values())
            key = keys.get(combination)
            if key is None:
                key = keys[combination] = dimension_key(values)
            if row.get(self.date_dimension) in (None, ""):
                raise ValueError(f"a row has no {self.date_dimension!r}: {str(row)[:200]}")
            base = {
                "measure": str(row["measure"]),
                "metric": str(row["metric"]),
                "cohort_date": to_cohort_date(row[self.date_dimension]),
                "period_unit": self.period_unit,
                "dimension_key": key,
                **values,
                "users": to_integer(row.get("users", row.get("user"))),
                "cost": to_number(row.get("cost")),
                "per_user": row.get("per_user"),
                "cumulative": row.get("cumulative"),
            }
            for band, value in (row.get("data") or {}).items():
                period = periods.get(band)
                if period is None:
                    periods[band] = period = band_period(band)
                # A count (an int) is the common value: it needs no parse.
                yield {**base, "period": period, "value": value if value.__class__ is int else to_number(value)}


def band_period(band: str) -> int:
    match = BAND.match(str(band))
    if not match:
        raise ValueError(f"band {band!r} is not day<N>, week<N> or month<N>")
    return int(match.group(1))


def read_job_id(response: requests.Response) -> str:
    payload = read_json(response)
    job_id = payload.get("job_id") if isinstance(payload, dict) else None
    if not job_id:
        raise ValueError(f"the export request returned no job_id: {str(payload)[:200]}")
    return str(job_id)
