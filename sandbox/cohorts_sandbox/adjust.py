"""Adjust KPI Service cohort endpoints simulator (`vendor-docs/adjust-cohort-endpoints.txt`); the Report Service
is `adjust_reports.py`, on the same host here.

GET /kpis/v1/{app_token}/cohorts, /kpis/v1/{app_token}/trackers/{tracker_token}/cohorts and
/kpis/v1/{app_token,app_token,...}/cohorts; `Authorization: Token token=...`; the nested `result_set`, built
level by level in the order of `grouping`, down to `kpi_values` in the order of `kpis`. Week and month cohorts
sum the days of the cohort that fall inside [start_date, end_date], as a real aggregate over that range would.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

from cohorts_sandbox.adjust_reports import PATH as REPORT_PATH
from cohorts_sandbox.adjust_reports import ReportService
from cohorts_sandbox.server import Request, Response, SandboxConfig
from cohorts_sandbox.synth import restated, revised, unit

APPS = {
    "abc123def4": {"name": "Puzzle Quest", "currency": "EUR"},
    "3fdwnag4ec": {"name": "Idle Farm", "currency": "USD"},
}
TRACKERS = {"12djsk": "Network 1", "34abcd": "Network 2", "56efgh": "Organic"}
EVENTS = {"0": "General Revenue Event", "ev1234": "Purchase"}
# Levels of a token and a name, as trackers (the grouping reference: networks, campaigns, adgroups, creatives).
NAMED_LEVELS = {
    "trackers": TRACKERS,
    "events": EVENTS,
    "networks": {"nw0001": "Meta", "nw0002": "Google Ads"},
    "campaigns": {"cp0001": "Summer Sale", "cp0002": "Summer Sale"},  # two campaigns may share a name
    "adgroups": {"ag0001": "Lookalike 1%", "ag0002": "Broad"},
    "creatives": {"cr0001": "Video 15s", "cr0002": "Banner"},
}
# Levels whose objects hold their value in a field named after the level (`{"os_name": "ios"}`); the option
# `region` answers as a list `regions`.
LEVEL_VALUES = {
    "countries": ("country", ("de", "gb", "us")),
    "os_names": ("os_name", ("ios", "android")),
    "device_types": ("device_type", ("phone", "tablet")),
    "regions": ("region", ("EMEA", "NA", "APAC")),
    "partners": ("partner", ("facebook", "google", "tiktok")),
}
OPTION_LISTS = {"region": "regions"}
DATE_LEVELS = {"days": "day", "weeks": "week", "months": "month"}
MAX_PERIODS = {"day": 30, "week": 12, "month": 6}
FORBIDDEN_KPI = "forbidden_kpi"
COHORT_SIZE_KPIS = ("installs", "cohort_size")
COUNT_KPIS = ("sessions", "clicks")


@dataclass(frozen=True)
class Query:
    apps: tuple[str, ...]
    tracker: str | None
    kpis: tuple[str, ...]
    start: dt.date
    end: dt.date
    grouping: tuple[str, ...]
    period: str


def cohort_start(day: dt.date, period: str) -> dt.date:
    if period == "week":
        return day - dt.timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


class AdjustSimulator:
    name = "adjust"

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.reports = ReportService(config)

    def account(self, request: Request) -> str | None:
        return request.headers.get("authorization")

    def handle(self, request: Request) -> Response:
        if request.path.startswith(REPORT_PATH):
            return self.reports.handle(request)
        parts = request.path.strip("/").split("/")
        if request.method != "GET" or len(parts) not in (4, 6) or parts[:2] != ["kpis", "v1"] or parts[-1] != "cohorts":
            return Response.json_body(404, {"error": "Request data not found"})
        if request.headers.get("authorization") != f"Token token={self.config.adjust_token}":
            return Response.json_body(401, {"error": "Authentication failed"})
        apps = tuple(parts[2].split(","))
        tracker = parts[4] if len(parts) == 6 else None
        if any(app not in APPS for app in apps) or (tracker is not None and tracker not in TRACKERS):
            return Response.json_body(404, {"error": "Request data not found: unknown app or tracker"})
        try:
            query = self.parse(request, apps, tracker)
        except ValueError as exc:
            return Response.json_body(400, {"error": f"Malformed request: {exc}"})
        if FORBIDDEN_KPI in query.kpis:
            return Response.json_body(403, {"error": f"Forbidden: no access to KPI {FORBIDDEN_KPI}"})
        parameters = {
            "kpis": list(query.kpis),
            "start_date": query.start.isoformat(),
            "end_date": query.end.isoformat(),
            "grouping": list(query.grouping),
            "period": query.period,
        }
        return Response.json_body(200, {"result_parameters": parameters, "result_set": self.result_set(query)})

    def parse(self, request: Request, apps: tuple[str, ...], tracker: str | None) -> Query:
        try:
            start = dt.date.fromisoformat(request.param("start_date") or "")
            end = dt.date.fromisoformat(request.param("end_date") or "")
        except ValueError:
            raise ValueError("start_date and end_date must be YYYY-MM-DD") from None
        if end < start:
            raise ValueError("end_date is before start_date")
        kpis = tuple(k for k in (request.param("kpis") or "").split(",") if k)
        if not kpis:
            raise ValueError("kpis is empty")
        grouping = tuple(OPTION_LISTS.get(g, g) for g in (request.param("grouping") or "").split(",") if g)
        multi = len(apps) > 1 or "apps" in grouping
        period = request.param("period") or "day"
        if multi and "period" in request.query:
            raise ValueError("the multiple apps endpoint takes no period")
        if period not in MAX_PERIODS:
            raise ValueError(f"period {period!r} is not day, week or month")
        for level in grouping:
            if level not in (*LEVEL_VALUES, *NAMED_LEVELS, *DATE_LEVELS, "apps", "periods"):
                raise ValueError(f"unknown grouping {level!r}")
            if level in DATE_LEVELS and DATE_LEVELS[level] != period:
                raise ValueError(f"grouping {level!r} does not match period {period!r}")
        return Query(apps, tracker, kpis, start, end, grouping, period)

    def result_set(self, query: Query) -> dict:
        if "apps" in query.grouping or len(query.apps) > 1:
            levels = [g for g in query.grouping if g != "apps"]
            return {
                "apps": [
                    {"token": app, **APPS[app], **self.children(query, levels, {"app": app})} for app in query.apps
                ]
            }
        app = query.apps[0]
        return {"token": app, **APPS[app], **self.children(query, list(query.grouping), {"app": app})}

    def children(self, query: Query, levels: list[str], identity: dict) -> dict:
        """The next level's list (or kpi_values at a leaf), keyed as the document shows."""
        if not levels:
            return {"kpi_values": self.kpi_values(query, identity)}
        level, rest = levels[0], levels[1:]
        if level in NAMED_LEVELS:
            members = NAMED_LEVELS[level]
            tokens = [query.tracker] if level == "trackers" and query.tracker else list(members)
            items = [
                {"token": t, "name": members[t], **self.children(query, rest, {**identity, level[:-1]: t})}
                for t in tokens
            ]
        elif level in LEVEL_VALUES:
            field, values = LEVEL_VALUES[level]
            items = [{field: v, **self.children(query, rest, {**identity, level: v})} for v in values]
        elif level in DATE_LEVELS:
            # A restatement removes a cohort of a grouping from the answer (the tree has no place for a rename).
            grouping = {k: str(v) for k, v in identity.items() if k != "app"}
            items = [
                {"date": start.isoformat(), **self.children(query, rest, {**identity, "date": start})}
                for start in self.cohort_dates(query)
                if restated(grouping, self.config.restatement, identity.get("app"), start.isoformat()) is not None
            ]
            level = "dates"
        elif level == "periods":
            items = [
                {"period": str(p), **self.children(query, rest, {**identity, "period": p})}
                for p in self.periods(query, identity.get("date"))
            ]
        else:
            items = []
        return {level: items}

    def cohort_dates(self, query: Query) -> list[dt.date]:
        dates, day = [], cohort_start(query.start, query.period)
        while day <= query.end:
            dates.append(day)
            day = cohort_start(day + dt.timedelta(days={"day": 1, "week": 7, "month": 32}[query.period]), query.period)
        return dates

    def periods(self, query: Query, start: dt.date | None) -> range:
        """Periods that have begun for this cohort (all of them when the query has no date level)."""
        limit = MAX_PERIODS[query.period]
        if start is None:
            return range(limit + 1)
        days = (self.config.current_date() - start).days
        elapsed = {"day": days, "week": days // 7, "month": days // 30}[query.period]
        return range(min(limit, elapsed) + 1) if elapsed >= 0 else range(0)

    def in_progress(self, query: Query, start: dt.date, period: int) -> bool:
        """The cohort's period has begun and is not complete: its value still grows."""
        days = (self.config.current_date() - start).days
        return {"day": days, "week": days // 7, "month": days // 30}[query.period] == period

    def kpi_values(self, query: Query, identity: dict) -> list[float | int]:
        start = identity.get("date")
        if start is None:
            days = [query.start]
        else:
            days = [d for d in self.cohort_days(start, query.period) if query.start <= d <= query.end]
        cohort = sorted((k, str(v)) for k, v in identity.items() if k not in ("date", "period"))
        # A period in progress (begun, not complete) has only part of its value; once complete it stays.
        progress = 0.5 if start is not None and self.in_progress(query, start, identity.get("period", 0)) else 1.0
        period = identity.get("period", 0)
        seed = (self.config.seed, "adjust")
        revision = self.config.revision
        # Like a cohort: one size per cohort whatever the period, rates between 0 and 1 that decay with the period
        # (day 0 is the install day: all of the cohort), other KPIs per user, falling with the period.
        installs = {day: int(revised(50 + 950 * unit(*seed, "installs", day.isoformat(), cohort), revision))
                    for day in days}  # fmt: skip
        cohort_size = sum(installs.values())
        values: list[float | int] = []
        for kpi in query.kpis:
            if kpi in COHORT_SIZE_KPIS:
                values.append(cohort_size)
                continue
            if kpi.endswith("_rate"):
                retained = 0.0
                for day in days:
                    first = 0.15 + 0.4 * unit(*seed, kpi, day.isoformat(), cohort)
                    rate = 1.0 if period == 0 else first / (1 + 0.35 * (period - 1))
                    # A revision lowers a share (installs found fraudulent, say): it stays a share, and decays.
                    retained += installs[day] * max(0.0, rate / (1 + 0.1 * revision) - 0.001 * revision) * progress
                values.append(round(retained / cohort_size, 4) if cohort_size else 0.0)
                continue
            total = 0.0
            for day in days:
                per_user = unit(*seed, kpi, day.isoformat(), cohort) * progress / (1 + 0.2 * period)
                # Revised per day (money in cents: written as total / 100), so a week's or month's sum changes too.
                total += revised(installs[day] * per_user * 10, revision)
            values.append(int(total) if kpi in COUNT_KPIS else round(total / 100, 4))
        return values[:-1] if self.config.adjust_short_kpi_values else values

    @staticmethod
    def cohort_days(start: dt.date, period: str) -> Iterator[dt.date]:
        day = start
        while cohort_start(day, period) == start:
            yield day
            day += dt.timedelta(days=1)
