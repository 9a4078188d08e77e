"""Adjust Report Service simulator: GET /reports-service/report, as Adjust's "Reports endpoint" documents it
(https://dev.adjust.com/en/api/rs-api/reports), with the cohort metrics of the Datascape glossary.

`Authorization: Bearer <token>`; `dimensions`, `metrics`, `date_period` (`YYYY-MM-DD:YYYY-MM-DD`),
`app_token__in`, `cohort_maturity`, `currency`, `format_dates`; one flat JSON row per combination of the
dimensions, every value a string; 204 with no body when there are no rows. Cohort metrics by day since install
are `{metric}_d{N}`. The quirks the tap must handle: with `cohort_maturity=immature` (the default) a day N the
cohort has not reached yet answers 0 for retention and the cohort's revenue *so far* for the cumulative
`revenue_total_dN`; with `mature` every day N not yet complete answers 0; dates are ISO only with
`format_dates=false`.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from dataclasses import dataclass

from cohorts_sandbox.server import Request, Response, SandboxConfig
from cohorts_sandbox.synth import restated, revised, unit

PATH = "/reports-service/report"
APPS = {"abc123def4": "Puzzle Quest", "3fdwnag4ec": "Idle Farm"}
# The dimensions the sandbox splits rows by, and their members.
DIMENSION_VALUES = {
    "country_code": ("DE", "GB", "US"),
    "network": ("Organic", "Meta", "AppLovin"),
    "campaign": ("Summer Sale (cp0001)", "Winter (cp0002)"),
    "os_name": ("ios", "android"),
    "partner_name": ("Facebook", "AppLovin"),
}
# Dimensions of the document the sandbox knows but does not split by (one member each).
OTHER_DIMENSIONS = ("app", "app_token", "day", "week", "month", "currency_code", "store_type", "platform")
COHORT_LEVEL = ("cohort_size", "network_cost", "installs")
DAY_METRIC = re.compile(r"^(retention_rate|retained_users|revenue_total|sessions)_d(\d+)$")
CURRENCIES = {"USD": 1.0, "EUR": 0.9, "GBP": 0.8}
FORBIDDEN_METRIC = "forbidden_metric"


@dataclass(frozen=True)
class Cohort:
    app: str
    day: dt.date
    dimensions: tuple[tuple[str, str], ...]


class ReportService:
    def __init__(self, config: SandboxConfig) -> None:
        self.config = config

    def handle(self, request: Request) -> Response:
        if request.method != "GET" or request.path.rstrip("/") != PATH:
            return Response.json_body(404, {"detail": "Not found"})
        if request.headers.get("authorization") != f"Bearer {self.config.adjust_token}":
            return Response.json_body(401, {"detail": "Invalid token."})
        try:
            dimensions, metrics, start, end = self.parse(request)
        except ValueError as exc:
            return Response.json_body(400, {"detail": str(exc)})
        if FORBIDDEN_METRIC in metrics:
            return Response.json_body(403, {"detail": f"You do not have permission to view {FORBIDDEN_METRIC}."})
        apps = [a for a in (request.param("app_token__in") or ",".join(APPS)).split(",") if a in APPS]
        currency = request.param("currency") or "USD"
        mature = request.param("cohort_maturity") == "mature"
        iso = request.param("format_dates") == "false"
        rows = []
        for cohort in self.cohorts(apps, start, end, dimensions):
            row: dict = {}
            for name in dimensions:
                row[name] = self.dimension_value(cohort, name, iso)
            if "network" in dimensions:
                row["attr_dependency"] = {"network": dict(cohort.dimensions)["network"], "partner_id": "34"}
            for metric in metrics:
                row[metric] = self.metric_text(cohort, metric, currency, mature)
            rows.append(row)
        if not rows:
            return Response(204)
        return Response.json_body(200, {"rows": rows, "totals": {}, "warnings": [], "pagination": None})

    def parse(self, request: Request) -> tuple[list[str], list[str], dt.date, dt.date]:
        dimensions = [d for d in (request.param("dimensions") or "").split(",") if d]
        metrics = [m for m in (request.param("metrics") or "").split(",") if m]
        if not dimensions or not metrics:
            raise ValueError("dimensions and metrics are required")
        for name in dimensions:
            if name not in DIMENSION_VALUES and name not in OTHER_DIMENSIONS:
                raise ValueError(f"Unsupported dimension: {name}")
        for name in metrics:
            if name not in COHORT_LEVEL and not DAY_METRIC.match(name) and name != FORBIDDEN_METRIC:
                raise ValueError(f"Unsupported metric: {name}")
        currency = request.param("currency")
        if currency is not None and currency not in CURRENCIES:
            raise ValueError(f"Unsupported currency: {currency}")
        if request.param("cohort_maturity") not in (None, "immature", "mature"):
            raise ValueError("cohort_maturity must be immature or mature")
        period = request.param("date_period") or ""
        try:
            first, last = (dt.date.fromisoformat(part) for part in period.split(":"))
        except ValueError:
            raise ValueError(f"date_period {period!r} is not YYYY-MM-DD:YYYY-MM-DD") from None
        if last < first:
            raise ValueError("date_period ends before it starts")
        return dimensions, metrics, first, last

    def cohorts(self, apps: list[str], start: dt.date, end: dt.date, dimensions: list[str]) -> list[Cohort]:
        split = [name for name in dimensions if name in DIMENSION_VALUES]
        days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
        combos = list(itertools.product(*(DIMENSION_VALUES[name] for name in split)))
        cohorts = []
        for app in apps:
            for day in days:
                if day > self.config.current_date():
                    continue
                for combo in combos:
                    shown = restated(dict(zip(split, combo)), self.config.restatement, app, day.isoformat())
                    if shown is not None:
                        cohorts.append(Cohort(app, day, tuple((name, shown[name]) for name in split)))
        return cohorts

    def dimension_value(self, cohort: Cohort, name: str, iso: bool) -> str:
        if name == "day":
            return cohort.day.isoformat() if iso else cohort.day.strftime("%b %d, %Y")
        if name == "app_token":
            return cohort.app
        if name == "app":
            return APPS[cohort.app]
        if name in ("week", "month"):
            raise ValueError(f"{name} is not a cohort day")  # not asked by the tap
        return dict(cohort.dimensions).get(name, "unknown")

    def metric_text(self, cohort: Cohort, metric: str, currency: str, mature: bool) -> str:
        rate = CURRENCIES[currency]
        if metric in COHORT_LEVEL:
            value = self.cohort_value(cohort, metric)
            return f"{value * rate:.2f}" if metric == "network_cost" else str(int(value))
        match = DAY_METRIC.match(metric)
        assert match is not None
        name, day = match[1], int(match[2])
        age = (self.config.current_date() - cohort.day).days
        if (mature and age <= day) or (age < day and name != "revenue_total"):
            return "0"
        value = self.day_value(cohort, name, min(day, age))
        if name == "revenue_total":
            return f"{value * rate:.2f}"
        return f"{value:.4f}" if name == "retention_rate" else str(int(value))

    # The truth the tests compare with (values before formatting and currency).

    def cohort_value(self, cohort: Cohort, metric: str) -> float:
        size = int(revised(self._base_size(cohort), self.config.revision))
        if metric in ("cohort_size", "installs"):
            return size
        if dict(cohort.dimensions).get("network") == "Organic":
            return 0.0
        return round(size * (0.5 + 2 * self._unit(cohort, "cpi")), 2)

    def day_value(self, cohort: Cohort, name: str, day: int) -> float:
        """Day `day`'s value as of today: the day in progress (the cohort's age) has half its users and revenue."""
        age = (self.config.current_date() - cohort.day).days
        spread = 0.8 + 0.4 * self._unit(cohort, "retention")

        def retained(k: int) -> float:
            users = int(revised(int(self._base_size(cohort) * 0.55 * (k + 1) ** -0.5 * spread), self.config.revision))
            return users * (0.5 if k == age else 1.0)

        if name == "retained_users":
            return retained(day)
        if name == "retention_rate":
            return round(retained(day) / self.cohort_value(cohort, "cohort_size"), 4)
        if name == "sessions":
            return retained(day) * 3
        arpdau = 0.05 + 0.3 * self._unit(cohort, "arpdau")
        return round(sum(retained(k) * arpdau for k in range(day + 1)), 2)

    def _base_size(self, cohort: Cohort) -> int:
        return 20 + int(480 * self._unit(cohort, "size"))

    def _unit(self, cohort: Cohort, what: str) -> float:
        return unit(self.config.seed, "adjust-report", what, cohort.app, cohort.day.isoformat(), cohort.dimensions)
