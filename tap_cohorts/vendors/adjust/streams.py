"""Adjust cohort streams: per app, per app x tracker, and several apps in one call."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, ClassVar

from singer_sdk import typing as th

from tap_cohorts.core.check import Probe, probe_window
from tap_cohorts.core.config import config_key
from tap_cohorts.core.http import RequestLabel, WindowStats
from tap_cohorts.core.http import path_segment as segment
from tap_cohorts.core.parsing import read_json
from tap_cohorts.core.records import cohort_schema, dimension_key, to_number
from tap_cohorts.core.windowed_stream import WindowedStream
from tap_cohorts.core.windows import Window, utc_today
from tap_cohorts.vendors.adjust import settings
from tap_cohorts.vendors.adjust.flatten import LABEL_COLUMNS, column_name, flatten, singular

FIXED_COLUMNS = frozenset({"cohort_date", "period", "period_unit", "dimension_key", "app_token", "tracker_token"})


def kpi_column(kpi: str) -> str:
    """A KPI as a SQL-safe column: lower case, [a-z0-9_], never a leading digit nor a fixed column's name."""
    name = re.sub(r"[^a-z0-9_]+", "_", kpi.lower()).strip("_") or "kpi"
    if name[0].isdigit() or name in FIXED_COLUMNS or name == "currency":
        name = f"kpi_{name}"
    return name


def level_columns(option: str) -> list[str]:
    """The columns a configured grouping option brings, declared at discovery (`region` answers as `regions`)."""
    level = settings.ANSWER_LISTS.get(option, option)
    known = settings.LEVELS.get(level)
    if known is None:  # undocumented: its value, token and name, as the documented levels name theirs
        name = singular(level)
        return [name, f"{name}_token", f"{name}_name"]
    if known.value:
        return [known.singular]
    return [column_name(level, field) for field in (*known.identity, *known.labels)]


def period_start(day: dt.date, unit: str) -> dt.date:
    if unit == "week":
        return day - dt.timedelta(days=day.weekday())
    if unit == "month":
        return day.replace(day=1)
    return day


def next_period(start: dt.date, unit: str) -> dt.date:
    if unit == "week":
        return start + dt.timedelta(days=7)
    if unit == "month":
        return (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return start + dt.timedelta(days=1)


class AdjustCohortStream(WindowedStream):
    """What the three Adjust endpoints share: request parameters, the flattener, whole-period windows."""

    max_window_days = settings.MAX_WINDOW_DAYS
    key_columns: ClassVar[tuple[str, ...]] = ("app_token",)
    multi_app: ClassVar[bool] = False
    grain_settings = (
        "kpis",
        "cohort_period",
        "grouping_levels",
        "max_period",
        "attribution_type",
        "utc_offset",
        "sandbox",
        "reattributed",
        "events",
        "countries",
        "os_names",
        "device_types",
        "tracker_filter",
    )

    @property
    def kpis(self) -> list[str]:
        return [str(k) for k in self.section["kpis"]]

    @property
    def cohort_period(self) -> str:
        """The multi-app endpoint takes no `period`: its cohorts are days."""
        return "day" if self.multi_app else str(self.section.get("cohort_period") or "day")

    @property
    def period_unit(self) -> str:  # type: ignore[override]
        return self.cohort_period

    @property
    def grouping_levels(self) -> list[str]:
        """Configured levels, without the ones the tap places itself (apps, the date level, periods)."""
        placed = {"apps", settings.PERIODS_LEVEL, *settings.DATE_LEVELS.values(), "dates"}
        return [g for g in self.section.get("grouping") or [] if g not in placed]

    @property
    def dimension_columns(self) -> list[str]:
        columns: list[str] = [] if self.multi_app else ["app_name", "currency"]
        for level in (["apps"] if self.multi_app else []) + self.grouping_levels:
            columns += [c for c in level_columns(level) if c not in columns and c not in self.key_columns]
        if self.multi_app:
            columns = [c for c in columns if c != "app_token"]
        return columns

    def build_schema(self) -> dict:
        schema = cohort_schema(
            keys=[th.Property(name, th.StringType, required=True) for name in self.key_columns],
            dimensions=self.dimension_columns,
            number_metrics=[kpi_column(k) for k in self.kpis],
        )
        return {**schema, "description": settings.DEPRECATION, "deprecated": True}

    def plan(self, context: Mapping[str, Any] | None, first: dt.date, last: dt.date, today: dt.date) -> list[Window]:
        """Windows of whole weeks or months: a cohort split across two windows would be stored half."""
        if self.cohort_period == "day":
            return super().plan(context, first, last, today)
        windows: list[Window] = []
        start = period_start(first, self.cohort_period)
        while start <= last:
            end = next_period(start, self.cohort_period)
            while end <= last and (next_period(end, self.cohort_period) - start).days <= self.max_window_days:
                end = next_period(end, self.cohort_period)
            windows.append(Window(start, min(end - dt.timedelta(days=1), last)))
            start = end
        return windows

    @property
    def max_period(self) -> int:
        last = settings.DEFAULT_MAX_PERIOD[self.cohort_period]
        configured = self.section.get("max_period")
        if configured is not None and self.cohort_period == (self.section.get("cohort_period") or "day"):
            last = int(configured)  # max_period is in the configured cohort_period's units
        return last

    def periods_asked(self, context: Mapping[str, Any] | None) -> Iterable[int]:
        return range(self.max_period + 1)

    def completion_age(self, period: int) -> int:
        """Period p of a cohort is complete when p + 1 periods have passed since its last install day (a week
        cohort's start + 6, a month's start + 30 at the longest)."""
        days, spread = {"day": (1, 0), "week": (7, 6), "month": (31, 30)}[self.cohort_period]
        return days * (period + 1) + spread

    def cohort_span(self, day: dt.date) -> tuple[dt.date, dt.date]:
        start = period_start(day, self.cohort_period)
        return start, next_period(start, self.cohort_period) - dt.timedelta(days=1)

    def request_params(self, window: Window) -> dict[str, Any]:
        levels = ["apps"] if self.multi_app else []
        levels += [*self.grouping_levels, settings.DATE_LEVELS[self.cohort_period], settings.PERIODS_LEVEL]
        params: dict[str, Any] = {
            "start_date": window.start.isoformat(),
            "end_date": window.end.isoformat(),
            "kpis": ",".join(self.kpis),
            "grouping": ",".join(levels),
        }
        passed = ["utc_offset", "sandbox", "countries", "os_names", "device_types", "tracker_filter"]
        if not self.multi_app:
            passed += ["attribution_type", "reattributed", "events"]
            params["period"] = self.cohort_period
        for key in passed:
            value = self.section.get(key)
            if value is None:
                continue
            if isinstance(value, bool):
                value = str(value).lower()
            elif isinstance(value, list):
                value = ",".join(map(str, value))
            params[key] = value
        return params

    def path(self, context: Mapping[str, Any] | None) -> str:
        raise NotImplementedError

    def connection_probes(self) -> list[Probe]:
        """One day of each partition (app, tracker, or the app set): a 404 is an unknown app or tracker token, a
        403 KPIs the token may not read."""
        params = self.request_params(probe_window(utc_today()))
        probes = []
        contexts: list[dict | None] = [None] if self.partitions is None else list(self.partitions)
        for context in contexts:
            tokens = "/".join(str(v) for v in context.values()) if context else ",".join(self.section["app_tokens"])
            key = "tracker_tokens" if context and "tracker_token" in context else "app_tokens"
            what = f"{self.name} {tokens}: known, KPIs {params['kpis']} readable"
            probes.append(Probe(what, config_key("adjust", key), "GET", self.path(context), params))
        return probes

    def fetch_window(
        self, context: Mapping[str, Any] | None, window: Window, label: RequestLabel, stats: WindowStats
    ) -> Iterator[dict]:
        payload = self.client.call(
            "GET", self.path(context), label=label, stats=stats, params=self.request_params(window), read=read_json
        )
        result_set = payload.get("result_set") if isinstance(payload, dict) else None
        if not isinstance(result_set, Mapping):
            raise ValueError(f"expected a JSON object with a `result_set` object, got {str(payload)[:200]!r}")
        declared = set(self.schema["properties"])
        columns = {kpi: kpi_column(kpi) for kpi in self.kpis}
        for row, values in flatten(result_set, self.kpis):
            yield self.record(row, values, context, columns, declared)

    def record(
        self,
        row: dict[str, Any],
        values: dict[str, Any],
        context: Mapping[str, Any] | None,
        columns: dict[str, str],
        declared: set[str],
    ) -> dict:
        if "cohort_date" not in row or "period" not in row:
            raise ValueError(f"a result has no date or period level: {sorted(row)}")
        identity = {k: v for k, v in row.items() if k not in ("cohort_date", "period")}
        unknown = [k for k in identity if k not in declared]
        if unknown:
            self.log_unknown_columns(unknown)
        keys = {k: identity.get(k, (context or {}).get(k)) for k in self.key_columns}
        dimensions = {
            k: None if v is None else str(v)
            for k, v in identity.items()
            if k not in self.key_columns and k not in LABEL_COLUMNS
        }
        record: dict[str, Any] = {
            **keys,
            "cohort_date": dt.date.fromisoformat(str(row["cohort_date"])[:10]).isoformat(),
            "period": int(row["period"]),
            "period_unit": self.period_unit,
            "dimension_key": dimension_key(dimensions),
            **{k: None if v is None else str(v) for k, v in identity.items() if k in declared and k not in keys},
        }
        for kpi, column in columns.items():
            try:
                record[column] = to_number(values[kpi])
            except ValueError as error:
                raise ValueError(f"KPI {kpi!r} holds {values[kpi]!r}, which is not a number ({error})") from None
        return record


class AdjustCohortsStream(AdjustCohortStream):
    name = "adjust_cohorts"
    primary_keys = ["app_token", "cohort_date", "dimension_key", "period"]

    @property
    def partitions(self) -> list[dict]:
        return [{"app_token": token} for token in self.section["app_tokens"]]

    def path(self, context: Mapping[str, Any] | None) -> str:
        assert context is not None
        return settings.APP_PATH.format(app_token=segment(context["app_token"]))


class AdjustTrackerCohortsStream(AdjustCohortStream):
    name = "adjust_tracker_cohorts"
    primary_keys = ["app_token", "tracker_token", "cohort_date", "dimension_key", "period"]
    key_columns = ("app_token", "tracker_token")

    @property
    def partitions(self) -> list[dict]:
        return [
            {"app_token": app, "tracker_token": tracker}
            for app in self.section["app_tokens"]
            for tracker in self.section.get("tracker_tokens") or []
        ]

    def path(self, context: Mapping[str, Any] | None) -> str:
        assert context is not None
        return settings.TRACKER_PATH.format(
            app_token=segment(context["app_token"]), tracker_token=segment(context["tracker_token"])
        )


class AdjustAppCohortsStream(AdjustCohortStream):
    """All configured apps in one call per window; one bookmark for the set."""

    name = "adjust_app_cohorts"
    primary_keys = ["app_token", "cohort_date", "dimension_key", "period"]
    multi_app = True

    def path(self, context: Mapping[str, Any] | None) -> str:
        return settings.APPS_PATH.format(app_tokens=",".join(segment(token) for token in self.section["app_tokens"]))
