"""AppLovin MAX Cohort API simulator (`vendor-docs/applovin-max-cohort-api.txt`).

GET /maxCohort, /maxCohort/imp, /maxCohort/session with `api_key` in the query string; dates within the
last 45 days; `columns`, `filter_x`, `sort_x`, `limit`/`offset`; CSV or JSON with every value a string.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import threading
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterator

from cohorts_sandbox.server import Request, Response, SandboxConfig
from cohorts_sandbox.synth import fmt, restated, revised, unit

SHORT_PERIODS = (0, 1, 2, 3, 4, 5, 6, 7, 10, 14, 18, 21, 24, 27, 30, 45)
LONG_PERIODS = (*SHORT_PERIODS, 60, 75, 90)
DIMENSIONS = ("application", "package_name", "platform", "country")
APPS = (
    ("Puzzle Quest", "com.example.puzzle", "android"),
    ("Puzzle Quest", "com.example.puzzle", "ios"),
    ("Idle Farm", "com.example.farm", "android"),
    ("Idle Farm", "com.example.farm", "fireos"),
)
COUNTRIES = ("us", "gb", "de", "jp", "br", "in", "fr", "ca", "kr", "mx")
# Beyond the ten above (benchmarks ask for more), made-up two-letter codes: q*, x* and z* first, then the rest of
# the 676 (the benchmark's pipeline asks for 350 countries, a million records).
MORE_COUNTRIES = tuple(
    code
    for code in dict.fromkeys(a + b for a in "qxz" + "abcdefghijklmnoprstuvwy" for b in "abcdefghijklmnopqrstuvwxyz")
    if code not in COUNTRIES
)
WINDOW_DAYS = 45  # the last 45 days, today included
TABLES_KEPT = 4  # the last queries' tables (a tap pages through one query at a time)

REVENUE_KINDS = ("iap", "reward", "inter", "banner", "mrec")
IMP_KINDS = ("inter", "reward", "banner", "mrec")


def report_metrics(path: str) -> tuple[tuple[int, ...], tuple[str, ...]] | None:
    if path == "/maxCohort":
        metrics = [
            "pub_revenue",
            "iap_pub_revenue",
            "ads_pub_revenue",
            *(f"{k}_pub_revenue" for k in REVENUE_KINDS[1:]),
        ]
        metrics += ["rpi", "iap_rpi", "ads_rpi", *(f"{k}_rpi" for k in REVENUE_KINDS[1:])]
        return SHORT_PERIODS, tuple(metrics)
    if path == "/maxCohort/imp":
        metrics = ["user_count", "imp", "imp_per_user"]
        for kind in IMP_KINDS:
            metrics += [f"{kind}_imp", f"{kind}_imp_per_user"]
        return LONG_PERIODS, tuple(metrics)
    if path == "/maxCohort/session":
        return LONG_PERIODS, ("daily_usage", "session_count", "user_count", "session_length", "retention")
    return None


class AppLovinSimulator:
    name = "applovin"

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self._tables: OrderedDict[tuple, list[dict[str, str]]] = OrderedDict()
        self._lock = threading.Lock()

    def account(self, request: Request) -> str | None:
        return request.param("api_key")

    def handle(self, request: Request) -> Response:
        report = report_metrics(request.path)
        if request.method != "GET" or report is None:
            return Response.json_body(404, {"code": 404, "message": "Not found"})
        if request.param("api_key") != self.config.applovin_key:
            return Response.json_body(401, {"code": 401, "message": "Invalid api_key"})
        periods, metrics = report
        try:
            start = dt.date.fromisoformat(request.param("start") or "")
            end = dt.date.fromisoformat(request.param("end") or "")
        except ValueError:
            return Response.json_body(400, {"code": 400, "message": "start and end must be YYYY-MM-DD"})
        today = self.config.current_date()
        if start < today - dt.timedelta(days=WINDOW_DAYS - 1) or end < start:
            return Response.json_body(
                400, {"code": 400, "message": f"start and end must be within the last {WINDOW_DAYS} days"}
            )
        known = {"day", *DIMENSIONS, "installs", *(f"{m}_{p}" for m in metrics for p in periods)}
        columns = [c for c in (request.param("columns") or "").split(",") if c]
        unknown = [c for c in columns if c not in known]
        if not columns or unknown:
            return Response.json_body(
                400, {"code": 400, "message": f"invalid columns: {','.join(unknown) or '(none)'}"}
            )
        filters = {k[len("filter_") :]: v[0] for k, v in request.query.items() if k.startswith("filter_")}
        sorts = tuple((k[len("sort_") :], request.param(k) == "DESC") for k in request.query if k.startswith("sort_"))
        dimensions = tuple(c for c in columns if c in DIMENSIONS)
        query = (request.path, start, min(end, today), dimensions, tuple(sorted(filters.items())), sorts)
        rows = self.sorted_table(query)
        offset = int(request.param("offset") or 0)
        limit = request.param("limit")
        rows = rows[offset : offset + int(limit)] if limit else rows[offset:]
        selected = [{c: row.get(c, "") for c in columns} for row in rows]
        if request.param("format", "json") == "csv":
            out = io.StringIO(newline="")
            writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(selected)
            return Response(200, out.getvalue().encode(), "text/csv")
        return Response.json_body(200, {"code": 200, "results": selected, "count": len(selected)})

    def sorted_table(self, query: tuple) -> list[dict[str, str]]:
        """The report's rows in the requested order, built once for the pages of one query: a page is a slice of
        them (building the whole table again for every page made the benchmark measure the sandbox, not the tap).
        The key holds everything the rows depend on, the sandbox's day, revision and restatement included."""
        path, start, end, dimensions, filters, sorts = query
        config = self.config
        day = config.current_date()
        key = (*query, day, config.revision, config.restatement, config.seed, config.applovin_countries)
        with self._lock:
            rows = self._tables.get(key)
        if rows is None:
            rows = list(self.table(path, start, end, list(dimensions), dict(filters)))
            for column, descending in reversed(sorts):
                rows.sort(key=_sort_key(column), reverse=descending)
            with self._lock:
                self._tables[key] = rows
                while len(self._tables) > TABLES_KEPT:
                    self._tables.popitem(last=False)
        return rows

    def table(
        self, path: str, start: dt.date, end: dt.date, dimensions: list[str], filters: dict[str, str]
    ) -> Iterator[dict[str, str]]:
        """Rows at the grain of the requested dimensions: additive measures summed, ratios recomputed."""
        report = report_metrics(path)
        assert report is not None
        periods, _ = report
        # The totals as of the revision, and as first seen (revision 0): ratios come from the latter, revised on
        # their own, so a revision changes every ratio (one of two revised totals might not).
        groups: dict[tuple, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        first: dict[tuple, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        date = start
        while date <= end:
            for app in APPS:
                for country in (COUNTRIES + MORE_COUNTRIES)[: self.config.applovin_countries]:
                    cell = dict(zip(DIMENSIONS, (*app, country)))
                    if any(cell.get(k) != v for k, v in filters.items() if k in DIMENSIONS):
                        continue
                    shown = restated(cell, self.config.restatement, "applovin", date.isoformat())
                    if shown is None:
                        continue
                    key = (date.isoformat(), *(shown[d] for d in dimensions))
                    for name, value in self.base(path, date, cell, periods, self.config.revision).items():
                        groups[key][name] += value
                    for name, value in self.base(path, date, cell, periods, 0).items():
                        first[key][name] += value
            date += dt.timedelta(days=1)
        for key, totals in groups.items():
            row = {"day": key[0], **dict(zip(dimensions, key[1:]))}
            row.update(self.finish(path, totals, first[key], periods))
            yield row

    def base(
        self, path: str, date: dt.date, cell: dict[str, str], periods: tuple[int, ...], revision: int
    ) -> dict[str, float]:
        """The additive measures of one app x country x day; the same in every query that covers it."""
        seed = (self.config.seed, date.isoformat(), cell["package_name"], cell["platform"], cell["country"])
        installs = 20 + int(unit(*seed, "installs") * 900)
        values: dict[str, float] = {"installs": installs}
        arpu = 0.05 + 0.5 * unit(*seed, "arpu")
        for period in periods:
            if path == "/maxCohort":
                total = installs * arpu * (1 - math.exp(-(period + 1) / 12))
                shares = [unit(*seed, kind) + 0.1 for kind in REVENUE_KINDS]
                for kind, share in zip(REVENUE_KINDS, shares):
                    values[f"{kind}_pub_revenue_{period}"] = round(revised(total * share / sum(shares), revision), 4)
            else:
                users = int(revised(installs * (0.1 + 0.5 * unit(*seed, "retention")) / (1 + 0.15 * period), revision))
                values[f"user_count_{period}"] = users
                if path == "/maxCohort/imp":
                    for kind in IMP_KINDS:
                        values[f"{kind}_imp_{period}"] = int(users * (1 + 6 * unit(*seed, kind, "imps")))
                else:
                    sessions = int(users * (1 + 3 * unit(*seed, "sessions")))
                    values[f"session_count_{period}"] = sessions
                    values[f"usage_total_{period}"] = users * (60 + 900 * unit(*seed, "usage"))
        return values

    def finish(
        self, path: str, totals: dict[str, float], first: dict[str, float], periods: tuple[int, ...]
    ) -> dict[str, str]:
        installs = totals["installs"]

        def ratio(name: str, per: str) -> float | None:
            """first[name] / first[per], as of the revision."""
            return revised(first[name] / first[per], self.config.revision, 0.001) if first[per] else None

        row = {"installs": fmt(int(installs))}
        for p in periods:
            if path == "/maxCohort":
                kinds = {k: totals[f"{k}_pub_revenue_{p}"] for k in REVENUE_KINDS}
                ads = sum(v for k, v in kinds.items() if k != "iap")
                revenue = {"pub_revenue": ads + kinds["iap"], "ads_pub_revenue": ads}
                revenue.update({f"{k}_pub_revenue": v for k, v in kinds.items()})
                for name, value in revenue.items():
                    row[f"{name}_{p}"] = fmt(value, 2)
                    row[f"{name.replace('pub_revenue', 'rpi')}_{p}"] = fmt(value / installs, 4)
            elif path == "/maxCohort/imp":
                users = totals[f"user_count_{p}"]
                imps = {k: totals[f"{k}_imp_{p}"] for k in IMP_KINDS}
                row[f"user_count_{p}"] = fmt(int(users))
                row[f"imp_{p}"] = fmt(int(sum(imps.values())))
                first_imps = sum(first[f"{k}_imp_{p}"] for k in IMP_KINDS)
                first_users = first[f"user_count_{p}"]
                per_user = revised(first_imps / first_users, self.config.revision, 0.001) if first_users else None
                row[f"imp_per_user_{p}"] = fmt(per_user)
                for kind, value in imps.items():
                    row[f"{kind}_imp_{p}"] = fmt(int(value))
                    row[f"{kind}_imp_per_user_{p}"] = fmt(ratio(f"{kind}_imp_{p}", f"user_count_{p}"))
            else:
                users = totals[f"user_count_{p}"]
                sessions = totals[f"session_count_{p}"]
                row[f"user_count_{p}"] = fmt(int(users))
                row[f"session_count_{p}"] = fmt(int(sessions))
                row[f"daily_usage_{p}"] = fmt(ratio(f"usage_total_{p}", f"user_count_{p}"), 1)
                row[f"session_length_{p}"] = fmt(ratio(f"usage_total_{p}", f"session_count_{p}"))
                row[f"retention_{p}"] = fmt(users / installs, 4)
        return row


def _sort_key(column: str) -> Callable[[dict[str, str]], tuple[int, float | str]]:
    return lambda row: _sort_value(row.get(column))


def _sort_value(value: str | None) -> tuple[int, float | str]:
    try:
        return (0, float(value or ""))
    except ValueError:
        return (1, value or "")
