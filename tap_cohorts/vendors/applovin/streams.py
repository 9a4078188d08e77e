"""AppLovin MAX cohort streams: revenue, impressions and sessions, one class described by `Report` data."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
import requests

from tap_cohorts.core.check import Probe, probe_window
from tap_cohorts.core.config import VendorRuntime, config_key
from tap_cohorts.core.errors import VendorError
from tap_cohorts.core.http import RequestLabel, VendorClient, WindowStats
from tap_cohorts.core.parsing import MappedJson, decode_items, spool_body
from tap_cohorts.core.prefetch import Prefetch
from tap_cohorts.core.records import WideLayout, cohort_schema
from tap_cohorts.core.windowed_stream import WindowedStream
from tap_cohorts.core.windows import Window, utc_today
from tap_cohorts.vendors.applovin import settings

if TYPE_CHECKING:
    from singer_sdk import Tap


def period_column_parser(report: settings.Report) -> Callable[[str], tuple[str, int] | None]:
    """Reads `{metric}_{period}` columns; metric names are matched whole, so `imp_per_user_7` is not `imp`."""
    metrics = "|".join(sorted(report.metrics, key=len, reverse=True))
    pattern = re.compile(rf"^(?P<metric>{metrics})_(?P<period>\d+)$")

    def parse(column: str) -> tuple[str, int] | None:
        match = pattern.match(column)
        return (match["metric"], int(match["period"])) if match else None

    return parse


class PageShape(msgspec.Struct):
    """What a report page must hold: its rows, each left undecoded until read, and the optional total `count`."""

    results: list[msgspec.Raw]
    count: Any = None


@dataclass(frozen=True)
class Page:
    json: MappedJson[PageShape]
    rows: int
    count: int | None  # the answer's `count`: when above `rows`, the total the pages add up to
    digest: bytes  # to tell a page the vendor sends again (an ignored offset) from the next one

    def items(self) -> Iterator[dict]:
        assert self.json.value is not None
        return decode_items(self.json.value.results)

    def close(self) -> None:
        self.json.close()


def read_page(response: requests.Response) -> Page:
    """A page spooled to a temporary file and read whole once inside the retried call (`MappedJson`), so a body cut
    short is asked again before any record; its rows are decoded one at a time afterwards.

    Pages hold up to 10,000 rows of a few hundred columns (60 MB): parsed at once they would take hundreds of MB.
    """
    body, _ = spool_body(response.iter_content(chunk_size=1 << 16))
    with body:  # the map holds the file open
        page = MappedJson(body, PageShape)
    assert page.value is not None
    count = page.value.count
    return Page(page, len(page.value.results), int(count) if isinstance(count, int | float) else None, page.digest())


class AppLovinCohortStream(WindowedStream):
    """One MAX cohort endpoint, paged with limit/offset inside the 45-day request window."""

    max_window_days = settings.MAX_WINDOW_DAYS
    history_days = settings.HISTORY_DAYS
    primary_keys = ["cohort_date", "dimension_key", "period"]
    grain_settings = ("dimensions", "periods", "filters")

    def __init__(
        self,
        tap: Tap,
        *,
        report: settings.Report,
        client: VendorClient,
        runtime: VendorRuntime,
        section: Mapping[str, Any],
    ) -> None:
        self.report = report
        self.name = report.stream_name
        super().__init__(tap, client=client, runtime=runtime, section=section)

    @property
    def dimensions(self) -> list[str]:
        return list(self.section.get("columns") or settings.DIMENSIONS)

    @property
    def periods(self) -> list[int]:
        wanted = self.section.get("periods")
        return [p for p in self.report.periods if wanted is None or p in wanted]

    def periods_asked(self, context: Mapping[str, Any] | None) -> Iterable[int]:
        return self.periods

    def completion_age(self, period: int) -> int | None:
        """Values "within p days" are final once p + 1 days have passed; cohorts older than the 45-day request
        window cannot be asked, so a period complete only past that age is never final here."""
        age = period + 1
        return age if age <= settings.HISTORY_DAYS else None

    def build_schema(self) -> dict:
        return cohort_schema(
            keys=(),
            dimensions=self.dimensions,
            integer_metrics=["installs", *self.report.integer_metrics],
            number_metrics=[m for m in self.report.metrics if m not in self.report.integer_metrics],
        )

    def request_params(self, window: Window) -> dict[str, Any]:
        columns = [settings.DATE_COLUMN, *self.dimensions, *settings.COHORT_COLUMNS]
        columns += [f"{metric}_{period}" for period in self.periods for metric in self.report.metrics]
        params: dict[str, Any] = {
            "start": window.start.isoformat(),
            "end": window.end.isoformat(),
            "format": "json",
            "columns": ",".join(columns),
        }
        for name, value in (self.section.get("filters") or {}).items():
            params[name if name.startswith("filter_") else f"filter_{name}"] = value
        # A total order, so that limit/offset pages neither skip nor repeat rows.
        for column in (settings.DATE_COLUMN, *self.dimensions):
            params[f"sort_{column}"] = "ASC"
        return params

    def connection_probes(self) -> list[Probe]:
        """One day, one row of this report: a 401 is the Report Key, a 403 a report the key may not read."""
        params = {**self.request_params(probe_window(utc_today())), "limit": 1, "offset": 0}
        return [Probe(f"report {self.report.path}", config_key("applovin", "api_key"), "GET", self.report.path, params)]

    def fetch_window(
        self, context: Mapping[str, Any] | None, window: Window, label: RequestLabel, stats: WindowStats
    ) -> Iterator[dict]:
        """The window's pages in order; once a page says another follows, that one is asked while this page's
        rows are written (`core/prefetch.py`)."""
        page_size = int(self.section.get("page_size") or settings.DEFAULT_PAGE_SIZE)
        params = self.request_params(window)
        offset = 0
        previous = b""
        ahead: Prefetch[Page] = Prefetch(self.name)

        def ask(at: int) -> Page:
            return self.client.call(
                "GET",
                self.report.path,
                label=label,
                stats=stats,
                params={**params, "limit": page_size, "offset": at},
                read=read_page,
            )

        try:
            while True:
                fetched = ahead.take(offset)
                page = fetched.result() if fetched is not None else ask(offset)
                with contextlib.closing(page):
                    if page.rows and page.digest == previous:
                        raise VendorError(
                            f"applovin: {label}: the page at offset {offset} repeats the one before: the vendor "
                            "ignores `offset`; stopping here instead of reading the same rows forever"
                        )
                    previous = page.digest
                    total = page.count if page.count is not None and page.count > page.rows else None
                    # A short page ends the report, unless the answer's count says there is more.
                    last = page.rows == 0 or (page.rows < page_size and (total is None or offset + page.rows >= total))
                    if not last:
                        ahead.start(offset + page.rows, functools.partial(ask, offset + page.rows))
                    yield from self._fold_page(page.items())
                if last:
                    return
                offset += page.rows
        finally:
            ahead.close()

    def _fold_page(self, rows: Iterator[dict]) -> Iterator[dict]:
        layout: WideLayout | None = None
        for row in rows:
            if layout is None:  # columns are read by name, from the page's first row
                layout = WideLayout.from_header(
                    row.keys(),
                    date_column=settings.DATE_COLUMN,
                    dimension_columns=self.dimensions,
                    cohort_columns=settings.COHORT_COLUMNS,
                    period_column=period_column_parser(self.report),
                    integer_fields=["installs", *self.report.integer_metrics],
                )
                self.log_unknown_columns(layout.unknown_columns)
            yield from layout.fold(row, {}, self.period_unit)
