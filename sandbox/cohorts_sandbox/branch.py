"""Branch Cohort Exports simulator (`vendor-docs/branch-cohort-exports.md`).

POST /v2/analytics starts a job; GET /v2/analytics/{job_id} reports QUEUED, RUNNING, then FINISHED with a
`response_url` (or ERROR with an `error_message`); the file is served by the `files` simulator at a pre-signed
URL that must not receive the Access-Token. Rate limits are per account (2/s, 5/min, 150/h), polls included.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

from cohorts_sandbox.braze import BrazeSimulator
from cohorts_sandbox.server import Request, Response, SandboxConfig
from cohorts_sandbox.synth import restated, revised, unit

PREFIXES = {"install_cohort": "install_activity_", "reengagement_cohort": "reengagement_activity_"}
DATE_DIMENSION = "timezone_adjusted_day"
KNOWN_VALUES = {
    "touch_data_tilde_campaign": ["A4G", "summer_sale", "brand"],
    "touch_data_tilde_channel": ["facebook", "google", "email"],
    "data_country_code": ["US", "DE", "JP"],
    "user_data_platform": ["ANDROID_APP", "IOS_APP"],
}
MEASURE_METRICS = {
    "revenue": ("revenue",),
    "LTV": ("revenue",),
    "ARPU": ("revenue",),
    "ARPPU": ("revenue",),
    "Retention": ("rate",),
    "ROAS": ("rate",),
    "ROI": ("rate",),
    "users": ("unique_count",),
    "cost": ("cost",),
    "eCPA": ("cost",),
}
MONEY_METRICS = frozenset({"revenue", "cost"})
MAX_DAYS = 90
HISTORY_DAYS = 730
# Apps of the sandbox's organization: an export scoped by `app_id` (instead of `organization_id`) gets that app's
# share of the organization's cohorts.
APP_IDS = ("1234567890123456789", "9876543210987654321")


@dataclass(frozen=True)
class Query:
    data_source: str
    start: dt.date
    end: dt.date
    dimensions: tuple[str, ...]
    measures: tuple[str, ...]
    granularity: str = "day"
    band_count: int = 30
    cumulative: bool = False
    per_user: bool = False
    filters: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # The export's scope: an app id, or "" for the whole organization.
    app_id: str = ""
    # `enable_install_recalculation`: unattributed installs that a later attributed install duplicates (users
    # who opt in to ATT after installing from an ad) are removed.
    install_recalculation: bool = False


@dataclass
class Job:
    job_id: str
    query: Query
    limit: int
    polls: int = 0
    error: str | None = None
    signature: str = field(default_factory=lambda: uuid.uuid4().hex)


class BranchSimulator:
    name = "branch"

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def account(self, request: Request) -> str | None:
        return request.headers.get("access-token")

    def handle(self, request: Request) -> Response:
        if request.headers.get("access-token") != self.config.branch_token:
            return Response.json_body(401, {"code": 401, "error_message": "Invalid Access-Token"})
        app_id, organization = request.param("app_id"), request.param("organization_id")
        if app_id is None and organization is None:
            return Response.json_body(
                400, {"code": 400, "error_message": "Either app_id or organization_id is required"}
            )
        if app_id is not None and app_id not in APP_IDS:
            return Response.json_body(404, {"code": 404, "error_message": "App not found"})
        if app_id is None and organization != self.config.branch_organization:
            return Response.json_body(404, {"code": 404, "error_message": "Organization not found"})
        if request.method == "POST" and request.path == "/v2/analytics":
            return self.submit(request)
        if request.method == "GET" and request.path.startswith("/v2/analytics/"):
            return self.status(request.path.rsplit("/", 1)[1], request)
        return Response.json_body(404, {"code": 404, "error_message": "Not found"})

    def submit(self, request: Request) -> Response:
        try:
            query = self.parse(request)
        except ValueError as exc:
            return Response.json_body(400, {"code": 400, "error_message": str(exc)})
        limit = min(int(request.param("limit") or 50_000), self.config.branch_row_limit)
        job = Job(str(uuid.uuid4()), query, limit)
        with self._lock:
            if self.config.branch_job_errors:
                job.error = self.config.branch_job_errors.pop(0)
            self.jobs[job.job_id] = job
        return Response.json_body(
            202, {"job_id": job.job_id, "code": 202, "status_url": f"https://api2.branch.io/v2/analytics/{job.job_id}"}
        )

    def parse(self, request: Request) -> Query:
        body = request.json()
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        source = body.get("data_source")
        if source not in PREFIXES:
            raise ValueError(f"data_source must be install_cohort or reengagement_cohort, got {source!r}")
        try:
            start, end = dt.date.fromisoformat(body["start_date"]), dt.date.fromisoformat(body["end_date"])
        except (KeyError, TypeError, ValueError):
            raise ValueError("start_date and end_date are required, as YYYY-MM-DD") from None
        if end < start or (end - start).days + 1 > MAX_DAYS:
            raise ValueError(f"at most {MAX_DAYS} days can be queried at a time")
        if start < self.config.current_date() - dt.timedelta(days=HISTORY_DAYS):
            raise ValueError("start_date is beyond the 24 months of lookback")
        dimensions = body.get("dimensions") or []
        if len(dimensions) > 11:
            raise ValueError("at most 11 dimensions")
        for name in dimensions:
            if not (name.startswith(PREFIXES[source]) or name.startswith("user_data_") or name == "app_id"):
                raise ValueError(f"unknown dimension {name!r} for {source}")
        measures = body.get("measures") or []
        if not 1 <= len(measures) <= 3:
            raise ValueError("measures: between 1 and 3")
        band_count = body.get("granularity_band_count")
        if not isinstance(band_count, int) or band_count < 1:
            raise ValueError("granularity_band_count is required")
        granularity = body.get("granularity", "day")
        if granularity not in ("day", "week", "month"):
            raise ValueError("granularity: day, week or month")
        filters = tuple(sorted((k, tuple(v)) for k, v in (body.get("filters") or {}).items()))
        recalculation = body.get("enable_install_recalculation", False)
        if not isinstance(recalculation, bool):
            raise ValueError("enable_install_recalculation must be a boolean")
        return Query(
            source,
            start,
            end,
            tuple(dimensions),
            tuple(measures),
            granularity,
            band_count,
            bool(body.get("cumulative")),
            bool(body.get("per_user")),
            filters,
            request.param("app_id") or "",
            recalculation,
        )

    def status(self, job_id: str, request: Request) -> Response:
        job = self.jobs.get(job_id)
        if job is None:
            return Response.json_body(404, {"code": 404, "error_message": f"no job {job_id}"})
        job.polls += 1
        if job.polls < self.config.branch_job_polls:
            state = "QUEUED" if job.polls == 1 else "RUNNING"
            return Response.json_body(200, {"status": state, "code": 102, "response_url": None})
        if job.error:
            return Response.json_body(200, {"status": "ERROR", "code": 500, "error_message": job.error})
        url = f"http://{request.headers.get('host')}/files/branch/{job_id}.json?X-Amz-Signature={job.signature}"
        return Response.json_body(200, {"status": "FINISHED", "code": 200, "response_url": url})

    def values(self, dimension: str) -> list[str]:
        bare = dimension
        for prefix in PREFIXES.values():
            bare = bare.removeprefix(prefix)
        count = self.config.branch_cardinality.get(bare, 2)
        known = KNOWN_VALUES.get(bare, [])
        return [known[i] if i < len(known) else f"{bare}_{i}" for i in range(count)]

    def rows(self, query: Query) -> Iterator[dict]:
        """Every row of a job's file (before the row limit); values depend only on the cohort they describe."""
        date_dimension = PREFIXES[query.data_source] + DATE_DIMENSION
        others = [d for d in query.dimensions if d != date_dimension]
        filters = dict(query.filters)
        combos = [
            combo
            for combo in itertools.product(*(self.values(d) for d in others))
            if all(dict(zip(others, combo)).get(k, v[0]) in v for k, v in filters.items() if k in others)
        ]
        today = self.config.current_date()
        step = {"day": 1, "week": 7, "month": 30}[query.granularity]
        revision = self.config.revision
        date = query.start
        while date <= query.end:
            age = (today - date).days
            bands = [b for b in range(query.band_count) if b * step < age]
            for combo in combos:
                dimensions = dict(zip(others, combo))
                shown = restated(dimensions, self.config.restatement, self.config.seed, "branch", date.isoformat())
                if shown is None:
                    continue
                seed: tuple = (self.config.seed, query.data_source, date.isoformat(), sorted(dimensions.items()))
                if query.app_id:
                    seed = (*seed, query.app_id)
                users = 10 + int(unit(*seed, "users") * 500)
                if query.install_recalculation:
                    users -= users // 20  # the duplicated unattributed installs, about 5%
                cost = round(users * (0.3 + unit(*seed, "cpi")), 2)
                for measure in query.measures:
                    for metric in MEASURE_METRICS.get(measure, ("total_count", "unique_count")):
                        data: dict[str, int | str] = {}
                        running = 0.0
                        for band in bands:
                            # A band in progress (begun, not complete) has half its value; complete, it stays.
                            progress = 0.5 if age < (band + 1) * step else 1.0
                            base = unit(*seed, measure, metric, band) * progress
                            value = revised(base * users / (1 + 0.3 * band), revision)
                            running += value
                            amount = running if query.cumulative else value
                            if query.per_user:
                                amount /= users
                            key = f"{query.granularity}{band}"
                            if query.per_user:  # four places: a revision moves a per-user value by 1 / users
                                data[key] = f"{amount:.4f}"
                            elif metric in MONEY_METRICS or metric == "rate":
                                data[key] = f"{amount:.2f}"
                            else:
                                data[key] = int(amount)
                        yield {
                            "users": users,
                            "cost": f"{cost:.2f}",
                            "metric": metric,
                            "measure": measure,
                            "per_user": query.per_user,
                            "cumulative": query.cumulative,
                            "data": data,
                            **{self.config.branch_answer_names.get(k, k): v for k, v in shown.items()},
                            date_dimension: date.isoformat(),
                        }
            date += dt.timedelta(days=1)

    def file(self, job_id: str, signature: str | None) -> Response:
        job = self.jobs.get(job_id)
        if job is None or signature != job.signature:
            return Response(403, b"<Error><Code>AccessDenied</Code></Error>", "application/xml")
        rows = itertools.islice(self.rows(job.query), job.limit)
        return Response(200, json.dumps(list(rows)).encode(), "application/json")


class FilesSimulator:
    """The pre-signed download host (S3 in production): no vendor credential, no rate limit."""

    name = "files"

    def __init__(self, branch: BranchSimulator, braze: BrazeSimulator) -> None:
        self.branch = branch
        self.braze = braze

    def account(self, request: Request) -> str | None:
        return None

    def handle(self, request: Request) -> Response:
        if request.method == "GET" and request.path.startswith("/branch/") and request.path.endswith(".json"):
            job_id = request.path[len("/branch/") : -len(".json")]
            return self.branch.file(job_id, request.param("X-Amz-Signature"))
        if request.method == "GET" and request.path.startswith("/braze/") and request.path.endswith((".zip", ".gz")):
            return self.braze.file(request.path[len("/braze/") :].rsplit(".", 1)[0])
        return Response(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
