"""The sandbox HTTP server: routes `/{vendor}/...` to that vendor's simulator, with auth, rate limits,
faults and a request log around it. `/_sandbox/...` is its own control API for the standalone mode."""

from __future__ import annotations

import datetime as dt
import json
import math
import socket
import threading
import time
from collections import defaultdict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

from cohorts_sandbox.faults import Fault, transform_csv, write_bad_value


@dataclass
class SandboxConfig:
    """Everything that shapes the sandbox's answers. Defaults follow the vendor documents."""

    seed: int = 1
    # Seconds of vendor time per real second are 1/time_scale: 0.01 makes "60 per minute" 60 per 0.6 s.
    time_scale: float = 1.0
    # Cohort values change with the revision, as maturing cohorts do between two daily runs.
    revision: int = 0
    # Above 0, cohort rows vanish or move to renamed keys, as vendors restate the past (synth.restated).
    restatement: int = 0
    today: dt.date | None = None
    appsflyer_token: str = "af-sandbox-token"
    appsflyer_apps: tuple[str, ...] = ("com.example.puzzle", "id1234567890")
    appsflyer_cardinality: dict[str, int] = field(default_factory=lambda: {"pid": 4, "c": 3, "geo": 5})
    appsflyer_row_cap: int = 30_000
    appsflyer_rate_limits: list[tuple[int, float]] = field(default_factory=lambda: [(60, 60.0), (50_000, 86_400.0)])
    branch_token: str = "branch-sandbox-access-token"
    branch_organization: str = "org-sandbox"
    branch_rate_limits: list[tuple[int, float]] = field(default_factory=lambda: [(2, 1.0), (5, 60.0), (150, 3600.0)])
    # A job answers QUEUED, then RUNNING, and FINISHED at this status poll.
    branch_job_polls: int = 2
    # Error messages for the next jobs submitted (one each): they end in ERROR with it.
    branch_job_errors: list[str] = field(default_factory=list)
    branch_row_limit: int = 50_000
    branch_cardinality: dict[str, int] = field(default_factory=dict)
    # A vendor that answers a dimension under another name than the one requested (requested -> answered).
    branch_answer_names: dict[str, str] = field(default_factory=dict)
    braze_key: str = "braze-sandbox-api-key"
    braze_app_group_id: str = "ag-sandbox"
    braze_rate_limits: list[tuple[int, float]] = field(default_factory=list)
    # Endpoints Braze limits apart (budget -> windows; see BrazeSimulator.BUDGETS), each its own budget.
    braze_budget_rate_limits: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    braze_canvases: int = 8
    # Objects deleted in Braze (segment, campaign, canvas, card ids; event and product names): no list holds them.
    braze_deleted: set[str] = field(default_factory=set)
    # Endpoints the REST API key has no permission for: 403, as Braze answers a key without that permission.
    braze_forbidden_paths: set[str] = field(default_factory=set)
    # 200 segments and 250 events are exactly full last pages (100 and 250 a page).
    braze_segments: int = 200
    braze_campaigns: int = 30
    braze_cards: int = 12
    braze_events: int = 250
    braze_products: int = 6
    braze_users_per_segment: int = 25
    # Fields Braze may add one day, sent with every campaign, campaign series point and exported user.
    braze_undocumented_fields: dict[str, Any] = field(default_factory=dict)
    # The benchmark's pipeline: a data series answer is built once and kept (compressed) for the runs after it, so
    # that the sandbox, standing in for a vendor on another machine, takes no CPU from the tap and the loader.
    braze_answer_cache: bool = False
    # The export URL answers 404 until this GET.
    braze_export_polls: int = 2
    # The customer's own S3 bucket is configured: exports return no URL.
    braze_s3_bucket: bool = False
    adjust_token: str = "adjust-sandbox-token"
    adjust_rate_limits: list[tuple[int, float]] = field(default_factory=list)
    # A broken vendor: kpi_values one short of the KPIs asked for.
    adjust_short_kpi_values: bool = False
    applovin_key: str = "applovin-sandbox-report-key"
    applovin_countries: int = 5
    applovin_rate_limits: list[tuple[int, float]] = field(default_factory=list)

    def current_date(self) -> dt.date:
        return self.today or dt.datetime.now(dt.timezone.utc).date()


@dataclass
class Request:
    vendor: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def param(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8") or "null")


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json_body(cls, status: int, payload: Any) -> Response:
        return cls(status, json.dumps(payload).encode())


@dataclass
class RecordedRequest:
    vendor: str
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    status: int
    at: float
    fault: str | None = None

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8") or "null")

    def to_dict(self) -> dict:
        return {**self.__dict__, "body": self.body.decode("utf-8", "replace")}


class VendorSimulator(Protocol):
    name: str

    def account(self, request: Request) -> str | None: ...

    def handle(self, request: Request) -> Response: ...


class SlidingWindows:
    """The vendor's rate limits per account, as a vendor enforces them: sliding windows of request times."""

    def __init__(self) -> None:
        self._times: dict[tuple[str, ...], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()
        # The epoch second of monotonic 0, read once: a request's reset is then one number in every answer that
        # reports it, as a vendor's is (reading both clocks anew each time moved it by a millisecond or so).
        self._epoch_at_zero = time.time() - time.monotonic()

    def remaining(self, key: tuple[str, ...], limits: list[tuple[int, float]], scale: float) -> tuple[int, int, float]:
        """For the window nearest to full: its limit, the requests it has left, and the epoch second at which
        its oldest request leaves it (what X-RateLimit-Limit, -Remaining and -Reset say)."""
        now = time.monotonic()
        with self._lock:
            times = list(self._times[key])
        best: tuple[int, int, float] | None = None
        for requests, seconds in limits:
            span = seconds * scale
            recent = [t for t in times if t > now - span]
            left = max(0, requests - len(recent))
            reset = self._epoch_at_zero + ((recent[0] + span) if recent else now)
            if best is None or left < best[1]:
                best = (requests, left, reset)
        assert best is not None
        return best

    def admit(self, key: tuple[str, ...], limits: list[tuple[int, float]], scale: float) -> float | None:
        """None if the request is admitted (and counted); else seconds until it would be."""
        now = time.monotonic()
        with self._lock:
            times = self._times[key]
            longest = max((seconds for _, seconds in limits), default=0) * scale
            while times and times[0] <= now - longest:
                times.popleft()
            wait = 0.0
            for requests, seconds in limits:
                # Slack for the time between a client taking a slot and its request arriving here: 2%, and at
                # least 30 ms (at most half the window), which matters only on a scaled clock, where a minute
                # lasts 0.6 s and a second 10 ms.
                span = seconds * scale
                span -= max(0.02 * span, min(0.03, 0.5 * span))
                recent = [t for t in times if t > now - span] if len(times) >= requests else []
                if len(recent) >= requests:
                    wait = max(wait, recent[-requests] + span - now)
            if wait > 0:
                return wait
            times.append(now)
            return None


class Sandbox:
    """The simulator of every vendor on one loopback port: `url(vendor)` is that vendor's base_url."""

    def __init__(self, config: SandboxConfig | None = None, host: str = "127.0.0.1", port: int = 0) -> None:
        self.config = config or SandboxConfig()
        self.simulators = make_simulators(self.config)
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._windows = SlidingWindows()
        self._server = ThreadingHTTPServer((host, port), _handler_for(self))
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, vendor: str) -> str:
        return f"http://127.0.0.1:{self.port}/{vendor}"

    def start(self) -> Sandbox:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="cohorts-sandbox", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def serve_forever(self) -> None:
        self._server.serve_forever()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_fault(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.faults.clear()
        self._windows = SlidingWindows()

    def requests_to(self, vendor: str, path_contains: str = "") -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if r.vendor == vendor and path_contains in r.path]

    def take_fault(self, vendor: str, path: str, query: Mapping[str, list[str]] | None = None) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.matches(vendor, path, query):
                    if fault.skip > 0:
                        fault.skip -= 1
                        return None
                    fault.times -= 1
                    return fault
        return None

    def record(self, request: Request, status: int, fault: Fault | None) -> None:
        entry = RecordedRequest(
            vendor=request.vendor,
            method=request.method,
            path=request.path,
            query=request.query,
            headers=request.headers,
            body=request.body,
            status=status,
            at=time.monotonic(),
            fault=fault.kind if fault else None,
        )
        with self._lock:
            self.requests.append(entry)

    def rate_limits(self, vendor: str, budget: str = "") -> list[tuple[int, float]]:
        if budget:
            return list(getattr(self.config, f"{vendor}_budget_rate_limits", {}).get(budget, []))
        return list(getattr(self.config, f"{vendor}_rate_limits", []))

    def answer(self, request: Request) -> tuple[Response | None, Fault | None]:
        """The response to a vendor request (None: drop the connection), and the fault applied if any."""
        simulator = self.simulators.get(request.vendor)
        if simulator is None:
            return Response.json_body(404, {"error": f"no vendor {request.vendor!r} in the sandbox"}), None
        # Every request counts against the account's limits when it arrives, as a vendor counts them.
        account = simulator.account(request)
        budget = simulator.budget(request) if hasattr(simulator, "budget") else ""
        limits = self.rate_limits(request.vendor, budget)
        window_key = (request.vendor, account or "", budget)
        if account is not None and limits:
            wait = self._windows.admit(window_key, limits, self.config.time_scale)
            if wait is not None:
                response = Response.json_body(429, {"error": "Too Many Requests"})
                response.headers["Retry-After"] = _seconds(wait)
                self._rate_headers(request.vendor, response, window_key, limits)
                return response, None
        answered, fault = self._answer(request, simulator)
        if answered is not None and account is not None and limits:
            self._rate_headers(request.vendor, answered, window_key, limits)
        return answered, fault

    def _rate_headers(
        self, vendor: str, response: Response, key: tuple[str, ...], limits: list[tuple[int, float]]
    ) -> None:
        """Braze answers every request with its budget's X-RateLimit-* headers (the others send none)."""
        if not getattr(self.simulators[vendor], "rate_headers", False):
            return
        limit, left, reset = self._windows.remaining(key, limits, self.config.time_scale)
        response.headers["X-RateLimit-Limit"] = str(limit)
        response.headers["X-RateLimit-Remaining"] = str(left)
        response.headers["X-RateLimit-Reset"] = f"{reset:.3f}"

    def _answer(self, request: Request, simulator: VendorSimulator) -> tuple[Response | None, Fault | None]:
        fault = self.take_fault(request.vendor, request.path, request.query)
        if fault and fault.kind == "slow":
            time.sleep(fault.delay)
        if fault and fault.kind == "drop":
            return None, fault
        if fault and fault.kind == "status":
            response = Response.json_body(fault.status, {"error": fault.message})
            if fault.retry_after is not None:
                response.headers["Retry-After"] = _seconds(fault.retry_after)
            return response, fault
        response = simulator.handle(request)
        if fault and response.status == 200:
            if fault.kind in ("reorder_columns", "bom", "extra_column", "missing_column"):
                response.body = transform_csv(response.body, fault.kind, self.config.seed)
            elif fault.kind == "malformed_json":
                response.body = response.body[: len(response.body) // 2]
            elif fault.kind == "bad_value":
                response.body = write_bad_value(response.body, fault.field, fault.value)
        return response, fault


def make_simulators(config: SandboxConfig) -> dict[str, VendorSimulator]:
    """Every vendor's simulator over one config (no server: tests use them for ground truth too)."""
    from cohorts_sandbox.adjust import AdjustSimulator
    from cohorts_sandbox.applovin import AppLovinSimulator
    from cohorts_sandbox.appsflyer import AppsFlyerSimulator
    from cohorts_sandbox.branch import BranchSimulator, FilesSimulator
    from cohorts_sandbox.braze import BrazeSimulator

    branch, braze = BranchSimulator(config), BrazeSimulator(config)
    return {
        "appsflyer": AppsFlyerSimulator(config),
        "branch": branch,
        "braze": braze,
        "files": FilesSimulator(branch, braze),
        "adjust": AdjustSimulator(config),
        "applovin": AppLovinSimulator(config),
    }


def _seconds(value: float) -> str:
    """Retry-After: whole seconds as HTTP says, unless the sandbox runs on scaled time."""
    return str(math.ceil(value)) if value >= 1 else f"{value:.3f}"


def _handler_for(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in two writes: without TCP_NODELAY, delayed ACKs cost 40 ms a response.
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            self._dispatch()

        def do_POST(self) -> None:
            self._dispatch()

        def _dispatch(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            segments = parts.path.lstrip("/").split("/", 1)
            vendor, rest = segments[0], "/" + (segments[1] if len(segments) > 1 else "")
            if vendor == "_sandbox":
                self._send(self._control(rest, body))
                return
            request = Request(
                vendor=vendor,
                method=self.command,
                path=rest,
                query=parse_qs(parts.query, keep_blank_values=True),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            response, fault = sandbox.answer(request)
            sandbox.record(request, response.status if response else 0, fault)
            if response is None:
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            try:
                self._send(response, truncate=bool(fault and fault.kind == "truncate"))
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True  # the client gave up first (a read timeout, a deadline): as a vendor

        def _control(self, path: str, body: bytes) -> Response:
            if path == "/health":
                return Response.json_body(200, {"ok": True, "vendors": sorted(sandbox.simulators)})
            if path == "/requests":
                return Response.json_body(200, [r.to_dict() for r in sandbox.requests])
            if path == "/faults" and self.command == "POST":
                sandbox.add_fault(Fault(**json.loads(body)))
                return Response.json_body(200, {"faults": [f.to_dict() for f in sandbox.faults]})
            if path == "/reset" and self.command == "POST":
                sandbox.reset()
                return Response.json_body(200, {"ok": True})
            if path == "/revision" and self.command == "POST":
                sent = json.loads(body)
                sandbox.config.revision = int(sent["revision"])
                sandbox.config.restatement = int(sent.get("restatement", sandbox.config.restatement))
                return Response.json_body(
                    200, {"revision": sandbox.config.revision, "restatement": sandbox.config.restatement}
                )
            return Response.json_body(404, {"error": f"no control endpoint {path}"})

        def _send(self, response: Response, truncate: bool = False) -> None:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            for name, value in response.headers.items():
                self.send_header(name, value)
            if truncate:
                self.send_header("Connection", "close")
            self.end_headers()
            if truncate:
                self.wfile.write(response.body[: len(response.body) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            self.wfile.write(response.body)

    return Handler
