"""`appsflyer_cohorts`: one call per app x cohort type x KPI x window, CSV folded to one record per period."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import IO, Any

from singer_sdk import typing as th

from tap_cohorts.core.check import Probe, probe_window
from tap_cohorts.core.config import config_key
from tap_cohorts.core.errors import RowCapReached
from tap_cohorts.core.http import RequestLabel, WindowStats, path_segment
from tap_cohorts.core.parsing import count_csv_rows, read_csv, spool_body
from tap_cohorts.core.records import WideLayout, cohort_schema
from tap_cohorts.core.windowed_stream import WindowedStream
from tap_cohorts.core.windows import Window, utc_today
from tap_cohorts.vendors.appsflyer import settings

KEY_COLUMNS = ("app_id", "cohort_type", "kpi", "aggregation_type")
PASSED_THROUGH = ("min_cohort_size", "per_user", "partial_data", "preferred_currency", "preferred_timezone")


def period_column_parser(kpi: str) -> Callable[[str], tuple[str, int] | None]:
    """Reads `{kpi}_{function}_day_{period}` (and `{function}_{kpi}_day_{period}`, as the document writes
    event revenue) into (record column, period). KPI names are matched without regard to case."""
    functions = "|".join(sorted(settings.FUNCTION_COLUMNS, key=len, reverse=True))
    name = re.escape(kpi)
    pattern = re.compile(
        rf"^(?:{name}_(?P<after>{functions})|(?P<before>{functions})_{name})_day_(?P<period>\d+)$",
        re.IGNORECASE,
    )

    def parse(column: str) -> tuple[str, int] | None:
        match = pattern.match(column)
        if not match:
            return None
        function = (match["after"] or match["before"]).lower()
        return settings.FUNCTION_COLUMNS[function], int(match["period"])

    return parse


class AppsFlyerCohortsStream(WindowedStream):
    name = "appsflyer_cohorts"
    primary_keys = [*KEY_COLUMNS, "cohort_date", "dimension_key", "period"]
    max_window_days = settings.MAX_WINDOW_DAYS
    prefetches = True  # an answer is spooled whole (its rows counted against the cap) before it is read
    history_days = settings.HISTORY_DAYS
    # A window returns the periods complete for its last date only (see cut_dates): no merging across dates.
    merge_maturing = False
    grain_settings = (
        "groupings",
        "periods",
        "aggregation_type",
        "per_user",
        "min_cohort_size",
        "partial_data",
        "preferred_currency",
        "preferred_timezone",
        "filters",
    )

    @property
    def groupings(self) -> list[str]:
        return [g for g in self.section.get("groupings") or [] if g != settings.DATE_GROUPING]

    @property
    def aggregation_type(self) -> str:
        return str(self.section.get("aggregation_type") or "on_day")

    @property
    def periods(self) -> list[int]:
        return sorted(set(self.section.get("periods") or settings.DEFAULT_PERIODS))

    @property
    def partitions(self) -> list[dict]:
        return [
            {"app_id": app_id, "cohort_type": cohort_type, "kpi": kpi}
            for app_id in self.section["app_ids"]
            for cohort_type in self.section.get("cohort_types") or ["user_acquisition"]
            for kpi in self.section["kpis"]
        ]

    @property
    def integer_metrics(self) -> tuple[str, ...]:
        if self.section.get("per_user"):
            return settings.INTEGER_METRICS
        return (*settings.INTEGER_METRICS, *settings.COUNT_METRICS)

    def build_schema(self) -> dict:
        return cohort_schema(
            keys=[th.Property(name, th.StringType, required=True) for name in KEY_COLUMNS],
            dimensions=self.groupings,
            integer_metrics=self.integer_metrics,
            number_metrics=[m for m in settings.METRIC_COLUMNS if m not in self.integer_metrics],
        )

    def latest_cohort_date(self, today: dt.date) -> dt.date:
        """Without partial_data the API returns complete days only, so today's cohort has nothing yet."""
        return today if self.section.get("partial_data") else today - dt.timedelta(days=1)

    def periods_asked(self, context: Mapping[str, Any] | None) -> Iterable[int]:
        return self.periods

    def completion_age(self, period: int) -> int:
        """Day p of a cohort is complete once p + 1 whole days have passed (the complete-day rule); with
        partial_data, the newest days are not final for 2 days (cost arrives every few hours)."""
        if self.section.get("partial_data"):
            return max(period + 1, settings.FINAL_AFTER_DAYS)
        return period + 1

    @property
    def waits_for_fraud_window(self) -> bool:
        return self.section.get("fraud_window", True) is not False

    def final_on(self, cohort_date: dt.date, period: int) -> dt.date:
        """Complete, and (by default) past the post-attribution fraud window of the install month."""
        complete = cohort_date + dt.timedelta(days=self.completion_age(period))
        return max(complete, settings.fraud_window_closes(cohort_date)) if self.waits_for_fraud_window else complete

    def restatement_ranges(self, last_run: dt.date, today: dt.date) -> Iterable[tuple[dt.date, dt.date]]:
        """The install months whose fraud window closed since the last run: their cohorts once more, now final."""
        if not self.waits_for_fraud_window:
            return []
        ranges = []
        month = settings.month_start(last_run - dt.timedelta(days=62))
        while month <= today:
            closes = settings.fraud_window_closes(month)
            if last_run < closes <= today:
                ranges.append((month, settings.month_start(closes) - dt.timedelta(days=1)))
            month = settings.month_start(month + dt.timedelta(days=32))
        return ranges

    def cut_dates(self, context: Mapping[str, Any] | None, today: dt.date) -> Iterable[dt.date]:
        """AppsFlyer counts complete cohort days from `to`: a window ending on date e returns periods up to
        today - e - 1 for every cohort in it. A window holding both today - p - 1 and today - p would lose
        period p of its older cohorts, so each requested period p cuts the range there."""
        if self.section.get("partial_data"):
            return ()
        return [today - dt.timedelta(days=period) for period in self.periods]

    def cap_advice(self, context: Mapping[str, Any] | None) -> str:
        return (
            f"Drop groupings from config['appsflyer']['groupings'] (now {self.groupings}), "
            "or narrow them with config['appsflyer']['filters']."
        )

    def request_body(self, context: Mapping[str, Any], window: Window) -> dict[str, Any]:
        body: dict[str, Any] = {
            "cohort_type": context["cohort_type"],
            "from": window.start.isoformat(),
            "to": window.end.isoformat(),
            "groupings": [*self.groupings, settings.DATE_GROUPING],
            "kpis": [context["kpi"]],
            "aggregation_type": self.aggregation_type,
        }
        for key in PASSED_THROUGH:
            if self.section.get(key) is not None:
                body[key] = self.section[key]
        filters = dict(self.section.get("filters") or {})
        if self.section.get("periods"):
            filters["period"] = self.periods
        if filters:
            body["filters"] = filters
        return body

    def connection_probes(self) -> list[Probe]:
        """One day of the first cohort type and KPI per app: a 404 says the app is not on the Cohort API plan."""
        window = probe_window(utc_today())
        first_of_each_app: dict[str, Mapping[str, Any]] = {}
        for context in self.partitions:
            first_of_each_app.setdefault(context["app_id"], context)
        return [
            Probe(
                f"app {app_id}: on the Cohort API plan",
                config_key("appsflyer", "app_ids"),
                "POST",
                settings.PATH.format(app_id=path_segment(app_id)),
                params={"format": "csv"},
                json=self.request_body(context, window),
            )
            for app_id, context in first_of_each_app.items()
        ]

    def request_window(
        self, context: Mapping[str, Any] | None, window: Window, label: RequestLabel, stats: WindowStats
    ) -> IO[bytes]:
        assert context is not None
        body, newlines = self.client.call(
            "POST",
            settings.PATH.format(app_id=path_segment(context["app_id"])),
            label=label,
            stats=stats,
            params={"format": "csv"},
            json=self.request_body(context, window),
            read=lambda response: spool_body(response.iter_content(chunk_size=1 << 16)),
        )
        if newlines >= settings.ROW_CAP:
            try:
                rows = count_csv_rows(body)
                if rows >= settings.ROW_CAP:
                    raise RowCapReached(rows)
            except BaseException:
                body.close()  # a capped (or unreadable) answer is not read on
                raise
        return body

    def read_window(self, context: Mapping[str, Any] | None, window: Window, answer: IO[bytes]) -> Iterator[dict]:
        assert context is not None
        with answer:
            yield from self._records(answer, context)

    def _records(self, body: IO[bytes], context: Mapping[str, Any]) -> Iterator[dict]:
        header, rows = read_csv(body)
        if not header or header == [""]:
            return
        layout = WideLayout.from_header(
            header,
            date_column=settings.DATE_GROUPING,
            dimension_columns=self.groupings,
            cohort_columns=settings.COHORT_COLUMNS,
            period_column=period_column_parser(str(context["kpi"])),
            integer_fields=self.integer_metrics,
        )
        self.log_unknown_columns(layout.unknown_columns)
        constants = {**context, "aggregation_type": self.aggregation_type}
        for row in rows:
            yield from layout.fold(row, constants, self.period_unit)
