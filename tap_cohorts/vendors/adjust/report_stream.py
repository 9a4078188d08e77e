"""`adjust_report_cohorts`: the Report Service's flat rows, one per app x cohort day x dimensions, folded to one
record per day since install."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from singer_sdk import typing as th

from tap_cohorts.core.check import Probe, probe_window
from tap_cohorts.core.config import config_key
from tap_cohorts.core.http import RequestLabel, WindowStats
from tap_cohorts.core.parsing import read_json
from tap_cohorts.core.records import WideLayout, cohort_schema
from tap_cohorts.core.windowed_stream import WindowedStream
from tap_cohorts.core.windows import Window, utc_today
from tap_cohorts.vendors.adjust import settings

# Report fields that describe a row without being a dimension the config asked for: kept as JSON text.
ROW_METADATA = ("attr_dependency",)
PASSED_THROUGH = ("attribution_type", "attribution_source", "reattributed", "ad_spend_mode", "utc_offset", "sandbox")


def day_column_parser(metrics: Iterable[str]) -> Callable[[str], tuple[str, int] | None]:
    """Reads `{metric}_d{N}` into (record column, N) for the configured cohort metrics."""
    names = "|".join(re.escape(m) for m in sorted(metrics, key=len, reverse=True))
    pattern = re.compile(rf"^(?P<metric>{names})_d(?P<day>\d+)$")

    def parse(column: str) -> tuple[str, int] | None:
        match = pattern.match(column)
        return (match["metric"], int(match["day"])) if match else None

    return parse


class AdjustReportCohortsStream(WindowedStream):
    name = "adjust_report_cohorts"
    primary_keys = ["app_token", "cohort_date", "dimension_key", "period"]
    max_window_days = settings.REPORT_MAX_WINDOW_DAYS
    grain_settings = (
        "dimensions",
        "metrics",
        "cohort_metrics",
        "days",
        "mature_only",
        "currency",
        *PASSED_THROUGH,
    )

    @property
    def partitions(self) -> list[dict]:
        return [{"app_token": token} for token in self.section["app_tokens"]]

    @property
    def dimensions(self) -> list[str]:
        configured = self.section.get("dimensions")
        names = settings.REPORT_DEFAULT_DIMENSIONS if configured is None else configured
        return [str(d) for d in names if d not in settings.REPORT_PLACED_DIMENSIONS]

    @property
    def cohort_metrics(self) -> list[str]:
        return [str(m) for m in self.section.get("cohort_metrics") or settings.REPORT_DEFAULT_COHORT_METRICS]

    @property
    def metrics(self) -> list[str]:
        configured = self.section.get("metrics")
        return [str(m) for m in (settings.REPORT_DEFAULT_METRICS if configured is None else configured)]

    @property
    def days(self) -> list[int]:
        return sorted({int(d) for d in self.section.get("days") or settings.REPORT_DEFAULT_DAYS})

    @property
    def mature_only(self) -> bool:
        return self.section.get("cohort_maturity") == "mature"

    def build_schema(self) -> dict:
        columns = [*self.metrics, *self.cohort_metrics]
        return cohort_schema(
            keys=[th.Property("app_token", th.StringType, required=True)],
            dimensions=[*self.dimensions, "currency", *ROW_METADATA],
            integer_metrics=[m for m in columns if m in settings.REPORT_INTEGER_METRICS],
            number_metrics=[m for m in columns if m not in settings.REPORT_INTEGER_METRICS],
        )

    def periods_asked(self, context: Mapping[str, Any] | None) -> Iterable[int]:
        return self.days

    def completion_age(self, period: int) -> int:
        """Day N of a cohort is complete once N + 1 whole days have passed."""
        return period + 1

    def request_params(self, context: Mapping[str, Any], window: Window) -> dict[str, Any]:
        metrics = [*self.metrics, *(f"{m}_d{day}" for m in self.cohort_metrics for day in self.days)]
        params: dict[str, Any] = {
            "dimensions": ",".join([*settings.REPORT_PLACED_DIMENSIONS, *self.dimensions]),
            "metrics": ",".join(metrics),
            "date_period": f"{window.start.isoformat()}:{window.end.isoformat()}",
            "app_token__in": context["app_token"],
            "cohort_maturity": self.section.get("cohort_maturity") or "immature",
            "currency": self.section.get("currency") or "USD",
            "format_dates": "false",
        }
        for key in PASSED_THROUGH:
            value = self.section.get(key)
            if value is not None:
                params[key] = str(value).lower() if isinstance(value, bool) else value
        return params

    def connection_probes(self) -> list[Probe]:
        """One day per app: a 404 is an unknown app token, a 403 a metric or app the token may not read."""
        window = probe_window(utc_today())
        return [
            Probe(
                f"app {context['app_token']}: known, metrics readable",
                config_key("adjust_report", "app_tokens"),
                "GET",
                settings.REPORT_PATH,
                self.request_params(context, window),
            )
            for context in self.partitions
        ]

    def fetch_window(
        self, context: Mapping[str, Any] | None, window: Window, label: RequestLabel, stats: WindowStats
    ) -> Iterator[dict]:
        assert context is not None
        payload = self.client.call(
            "GET",
            settings.REPORT_PATH,
            label=label,
            stats=stats,
            params=self.request_params(context, window),
            read=lambda response: None if response.status_code == 204 else read_json(response),
        )
        if payload is None:  # 204: "the response object is empty"
            return
        rows = payload.get("rows") if isinstance(payload, dict) else None
        if not isinstance(rows, list):
            raise ValueError(f"expected a JSON object with a `rows` list, got {str(payload)[:200]!r}")
        if payload.get("pagination"):
            # The document shows `"pagination": null` and says nothing of pages: a page of a larger answer
            # cannot be followed, and storing it alone would truncate silently.
            raise ValueError(f"the answer is one page of a larger one (pagination {payload['pagination']!r})")
        for warning in payload.get("warnings") or []:
            self.logger.warning("%s: Adjust warns: %s", label, warning)
        yield from self.fold(rows, context, utc_today())

    def fold(self, rows: list[Any], context: Mapping[str, Any], today: dt.date) -> Iterator[dict]:
        """Per row, one record per requested day the cohort has reached (or, with `cohort_maturity=mature`,
        completed): an immature answer gives an unreached day N retention 0 and the revenue *so far*, which are
        not day N's values."""
        layouts: dict[tuple[str, ...], WideLayout] = {}
        parse = day_column_parser(self.cohort_metrics)
        currency = self.section.get("currency") or "USD"
        unknown: list[str] = []
        for row in rows:
            if not isinstance(row, dict):
                raise ValueError(f"a row is not an object: {str(row)[:200]!r}")
            if row.get("app_token") not in (None, context["app_token"]):
                raise ValueError(f"a row of app {row['app_token']!r} answers the query for {context['app_token']!r}")
            missing = [name for name in self.dimensions if name not in row]
            if missing:
                raise ValueError(f"a row lacks the requested dimension(s) {', '.join(missing)}")
            header = tuple(row)
            layout = layouts.get(header)
            if layout is None:
                layout = layouts[header] = WideLayout.from_header(
                    [c for c in header if c not in ("app_token", *ROW_METADATA)],
                    date_column="day",
                    dimension_columns=self.dimensions,
                    cohort_columns={m: m for m in self.metrics},
                    period_column=parse,
                    integer_fields=settings.REPORT_INTEGER_METRICS,
                )
                unknown += [c for c in layout.unknown_columns if c not in unknown]
            constants: dict[str, Any] = {"app_token": context["app_token"], "currency": currency}
            for name in ROW_METADATA:
                if name in row:
                    constants[name] = json.dumps(row[name], sort_keys=True, separators=(",", ":"))
            for record in layout.fold(row, constants, self.period_unit):
                age = (today - dt.date.fromisoformat(record["cohort_date"])).days
                if record["period"] < age or (record["period"] == age and not self.mature_only):
                    yield record
        self.log_unknown_columns(unknown)
