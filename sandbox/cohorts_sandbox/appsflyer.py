"""AppsFlyer Cohort API simulator (`vendor-docs/appsflyer-cohort-api.txt`).

POST /api/cohorts/v1/data/app/{app_id}?format=csv|json with a JSON query; Bearer token; 1-31 days from at most
720 days back; complete cohort days only unless partial_data (so the periods returned depend on `to`); at most
30,000 rows, silently truncated as the real API does.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, replace

from cohorts_sandbox.server import Request, Response, SandboxConfig
from cohorts_sandbox.synth import fmt, restated, revised, unit

GROUPINGS = (
    "af_ad", "af_ad_id", "c", "af_c_id", "af_channel", "pid", "af_sub1", "af_keywords", "af_prt",
    "cohort_type", "site_id", "revenue_type", "attributed_touch_type", "af_adset", "af_adset_id", "geo", "date",
)  # fmt: skip
COHORT_TYPES = ("user_acquisition", "retargeting", "unified")
DEFAULT_PERIODS = (*range(31), 60, 90, 180)
KNOWN_VALUES = {
    "pid": ["googleadwords_int", "Meta ads", "tiktokglobal_int", "Organic", "unityads_int", "applovin_int"],
    "geo": ["US", "GB", "DE", "JP", "BR", "IN", "FR", "CA"],
    "c": ['Summer, "Promo"', "brand_search", "Ünïcode ✓", "retarget_q3"],
}
HISTORY_DAYS = 720
MAX_DAYS = 31


def functions_of(kpi: str, aggregation: str) -> tuple[str, ...]:
    """The KPI functions returned for a KPI (the document's table)."""
    name = kpi.lower()
    if name == "sessions":
        return ("count", "rate", "unique_users") if aggregation == "on_day" else ("count", "rate")
    if name == "revenue":
        return ("count", "sum")
    if name in ("roas", "roi"):
        return ("rate",)
    if name == "uninstalls":
        return ("count", "rate")
    return ("count", "conversion_rate", "sum", "unique_users")


@dataclass(frozen=True)
class Query:
    app_id: str
    cohort_type: str
    kpi: str
    start: dt.date
    end: dt.date
    groupings: tuple[str, ...]
    aggregation: str
    periods: tuple[int, ...]
    per_user: bool = False
    min_cohort_size: int = 1
    partial_data: bool = False


@dataclass
class CohortRow:
    date: dt.date
    dimensions: dict[str, str]
    users: int
    cost: float | None
    ecpi: float | None
    values: dict[int, dict[str, float | int]]


class AppsFlyerSimulator:
    name = "appsflyer"

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config

    def account(self, request: Request) -> str | None:
        return request.headers.get("authorization")

    def values(self, grouping: str) -> list[str]:
        count = self.config.appsflyer_cardinality.get(grouping, 2)
        known = KNOWN_VALUES.get(grouping, [])
        return [known[i] if i < len(known) else f"{grouping}_{i}" for i in range(count)]

    def handle(self, request: Request) -> Response:
        if request.method != "POST" or not request.path.startswith("/api/cohorts/v1/data/app/"):
            return Response(404, b"Not found", "text/plain")
        token = request.headers.get("authorization", "")
        if not token:
            return Response(200, b"", "text/csv")  # the document: no token at all gives 200 with no data
        if token != f"Bearer {self.config.appsflyer_token}":
            return Response(401, b"Unauthorized: the authorization token is malformed", "text/plain")
        app_id = request.path.rsplit("/", 1)[1]
        if app_id not in self.config.appsflyer_apps:
            return Response(404, b"Not found: the app is not authorized for the Cohort API", "text/plain")
        try:
            query = self.parse_query(app_id, request)
        except ValueError as exc:
            return Response.json_body(422, {"error": "Unprocessable Entity", "message": str(exc)})
        rows = itertools.islice(self.rows(query, self.returned_periods(query)), self.config.appsflyer_row_cap)
        if request.param("format", "csv") == "json":
            return Response.json_body(200, {"query": request.json(), "results": list(self.json_rows(query, rows))})
        return Response(200, self.csv_body(query, rows), "text/csv")

    def parse_query(self, app_id: str, request: Request) -> Query:
        try:
            body = request.json()
        except ValueError:
            raise ValueError("the body is not JSON") from None
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        for key in ("cohort_type", "from", "to", "groupings", "kpis", "aggregation_type"):
            if key not in body:
                raise ValueError(f"{key} is mandatory")
        if body["cohort_type"] not in COHORT_TYPES:
            raise ValueError(f"cohort_type {body['cohort_type']!r} is not one of {COHORT_TYPES}")
        try:
            start, end = dt.date.fromisoformat(body["from"]), dt.date.fromisoformat(body["to"])
        except (TypeError, ValueError):
            raise ValueError("Illegal date") from None
        today = self.config.current_date()
        if end < start or (end - start).days + 1 > MAX_DAYS:
            raise ValueError(f"Illegal date: the range must hold 1-{MAX_DAYS} days")
        if start < today - dt.timedelta(days=HISTORY_DAYS):
            raise ValueError(f"Illegal date: from is more than {HISTORY_DAYS} days ago")
        groupings = body["groupings"]
        if not isinstance(groupings, list) or not 1 <= len(groupings) <= 7:
            raise ValueError("groupings: select 1-7 groupings")
        for grouping in groupings:
            if grouping not in GROUPINGS:
                raise ValueError(f"groupings: unknown grouping {grouping!r}")
        kpis = body["kpis"]
        if not isinstance(kpis, list) or len(kpis) != 1:
            raise ValueError("kpis: select one KPI")
        aggregation = body["aggregation_type"]
        if aggregation not in ("on_day", "cumulative"):
            raise ValueError("aggregation_type must be on_day or cumulative")
        if body.get("partial_data") and aggregation != "cumulative":
            raise ValueError("partial_data is only allowed when aggregation_type is cumulative")
        if kpis[0].lower() == "uninstalls" and body["cohort_type"] == "unified":
            raise ValueError("uninstalls is not available for unified")
        min_size = body.get("min_cohort_size", 1)
        if not isinstance(min_size, int) or min_size < 1:
            raise ValueError("min_cohort_size: minimum value allowed is 1")
        periods = (body.get("filters") or {}).get("period", DEFAULT_PERIODS)
        if any(not isinstance(p, int) or not 0 <= p <= 180 for p in periods):
            raise ValueError("filters.period: values 0-180")
        return Query(
            app_id=app_id,
            cohort_type=body["cohort_type"],
            kpi=kpis[0],
            start=start,
            end=end,
            groupings=tuple(groupings),
            aggregation=aggregation,
            periods=tuple(sorted(set(periods))),
            per_user=bool(body.get("per_user", False)),
            min_cohort_size=min_size,
            partial_data=bool(body.get("partial_data", False)),
        )

    def returned_periods(self, query: Query) -> tuple[int, ...]:
        """Complete cohort days are counted from `to`: periods 0 .. today - to - 1, unless partial_data."""
        if query.partial_data:
            return query.periods
        complete = (self.config.current_date() - query.end).days
        return tuple(p for p in query.periods if p < complete)

    def rows(self, query: Query, periods: tuple[int, ...]) -> Iterator[CohortRow]:
        """The cohorts of a query; each value depends only on its cohort, so any window gives the same."""
        dimensions = [g for g in query.groupings if g != "date"]
        combos = list(itertools.product(*(self.values(g) for g in dimensions)))
        functions = functions_of(query.kpi, query.aggregation)
        date = query.start
        while date <= query.end:
            for combo in combos:
                reported = dict(zip(dimensions, combo))
                shown = restated(reported, self.config.restatement, self.config.seed, query.app_id, date.isoformat())
                if shown is None:
                    continue
                row = self.cohort(query, date, reported, periods, functions)
                if row is not None:
                    yield replace(row, dimensions=shown)
            date += dt.timedelta(days=1)

    def cohort(
        self,
        query: Query,
        date: dt.date,
        dimensions: dict[str, str],
        periods: tuple[int, ...],
        functions: tuple[str, ...],
    ) -> CohortRow | None:
        seed = (
            self.config.seed,
            query.app_id,
            query.cohort_type,
            date.isoformat(),
            sorted(dimensions.items()),
        )
        # Counts and money as of the revision; ratios from the revision-0 values, revised on their own, so
        # every value changes with the revision (a ratio of two revised values might not).
        revision = self.config.revision

        def ratio(first_value: float) -> float:
            return round(revised(first_value, revision, 0.001), 4)

        first_users = 5 + int(unit(*seed, "users") * 400)
        users = 5 + int(revised(unit(*seed, "users") * 400, revision))
        if users < query.min_cohort_size:
            return None
        organic = dimensions.get("pid") == "Organic"
        cpi = 0.4 + 2 * unit(*seed, "cpi")
        ecpi = None if organic else ratio(cpi)
        cost = None if ecpi is None else round(users * ecpi, 2)
        activity = 0.15 + 0.7 * unit(*seed, query.kpi, "activity")
        decay = 0.2 + unit(*seed, query.kpi, "decay")
        price = 0.05 + 0.5 * unit(*seed, query.kpi, "price")  # a share of the active users pays
        cumulative = query.aggregation == "cumulative"
        values: dict[int, dict[str, float | int]] = {}
        cumulative_count = cumulative_sum = first_cumulative = 0.0
        for period in range(max(periods, default=-1) + 1):
            first_count = int(first_users * activity / (1 + decay * period))
            count = int(revised(users * activity / (1 + decay * period), revision))
            first_cumulative += first_count
            cumulative_count += count
            cumulative_sum += count * price
            if period not in periods:
                continue
            total = cumulative_count if cumulative else count
            first_total = first_cumulative if cumulative else first_count
            revenue = round(cumulative_sum if cumulative else count * price, 2)
            cell: dict[str, float | int] = {}
            for function in functions:
                if function == "count":
                    cell["count"] = ratio(first_total / first_users) if query.per_user else int(total)
                elif function == "sum":
                    cell["sum"] = ratio(first_total * price / first_users) if query.per_user else revenue
                elif function == "unique_users":
                    cell["unique_users"] = int(revised(first_total * 0.7, revision))
                elif function == "conversion_rate":
                    cell["conversion_rate"] = ratio(first_total * 0.7 / first_users)
                elif function == "rate":
                    if query.kpi.lower() in ("roas", "roi"):
                        first_cost = 1.0 if organic else first_users * cpi
                        paid_back = first_cumulative * price / first_cost
                        cell["rate"] = round(ratio(paid_back) - (1 if query.kpi.lower() == "roi" else 0), 4)
                    else:
                        cell["rate"] = ratio(first_total / first_users)
            values[period] = cell
        return CohortRow(date, dimensions, users, cost, ecpi, values)

    def csv_body(self, query: Query, rows: Iterator[CohortRow]) -> bytes:
        periods = self.returned_periods(query)
        functions = functions_of(query.kpi, query.aggregation)
        metric_columns = [(p, f) for p in periods for f in functions]
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(
            [
                *query.groupings,
                "users",
                "cost",
                "ecpi",
                *(f"{query.kpi}_{f}_day_{p}" for p, f in metric_columns),
            ]
        )
        for row in rows:
            writer.writerow(
                [
                    *(row.date.isoformat() if g == "date" else row.dimensions[g] for g in query.groupings),
                    row.users,
                    fmt(row.cost, 2),
                    fmt(row.ecpi),
                    *(fmt(row.values[p][f]) for p, f in metric_columns),
                ]
            )
        return out.getvalue().encode("utf-8")

    def json_rows(self, query: Query, rows: Iterator[CohortRow]) -> Iterator[dict]:
        for row in rows:
            yield {
                **{g: row.date.isoformat() if g == "date" else row.dimensions[g] for g in query.groupings},
                "users": row.users,
                "cost": row.cost,
                "ecpi": row.ecpi,
                **{f"{query.kpi}_{f}_day_{p}": v for p, cell in row.values.items() for f, v in cell.items()},
            }

    def truth(self, query: Query) -> Iterator[CohortRow]:
        """Ground truth: every cohort of [start, end] with every complete period it has, as if each cohort
        date were asked alone (what a connector that loses nothing must end up with)."""
        today = self.config.current_date()
        date = query.start
        while date <= query.end:
            single = Query(**{**query.__dict__, "start": date, "end": date})
            complete = tuple(p for p in query.periods if query.partial_data or p < (today - date).days)
            yield from self.rows(single, complete)
            date += dt.timedelta(days=1)
