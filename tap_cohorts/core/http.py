"""One HTTP client per vendor: a shared rate budget, retries that honour Retry-After, errors with hints.

Every request of every stream of a vendor goes through that vendor's `VendorClient`, so the vendor's
documented limits hold for the whole run and the vendor never has to answer 429. The body of a response is
read inside the retried call, so a dropped connection or a truncated body is retried like a 5xx.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import email.utils
import heapq
import itertools
import json
import logging
import math
import os
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Collection, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, quote_plus, urljoin, urlsplit

import backoff
import requests
from pyrate_limiter import Duration, Limiter, Rate

from tap_cohorts.core.budget import account_budget_name, budget_secrets, open_bucket
from tap_cohorts.core.errors import MalformedBody, VendorError, VendorNotAsked
from tap_cohorts.core.failures import RunLedger
from tap_cohorts.core.windows import Window

if TYPE_CHECKING:
    from tap_cohorts.core.config import VendorRuntime

T = TypeVar("T")

RETRYABLE_STATUSES = frozenset({429, 499, 500, 502, 503, 504})
SHARED_BUDGET_POLL_SECONDS = 0.005
VENDOR_MESSAGE_CHARS = 500
# An error body is read this far at most (an endless or huge body must not fill memory), then redacted and cut.
ERROR_BODY_BYTES = 64 * 1024
MAX_REDIRECTS = 5
MEBIBYTE = 1024 * 1024
# Requests that no retry can mend: a URL or header the tap built from config that requests refuses.
NOT_RETRYABLE_REQUEST_ERRORS = (
    requests.exceptions.InvalidURL,
    requests.exceptions.InvalidSchema,
    requests.exceptions.MissingSchema,
    requests.exceptions.InvalidHeader,
    requests.exceptions.URLRequired,
)


@dataclass(frozen=True)
class RateLimit:
    """At most `requests` requests in any `seconds` seconds."""

    requests: int
    seconds: float

    def __str__(self) -> str:
        return f"{self.requests}/{self.seconds:g}s"


@dataclass
class VendorWord:
    """What a budget's X-RateLimit headers last said: `left` requests remain until the epoch second `reset`.
    `one_leaves_at_reset`: the window counted a request, and the oldest leaves it at the reset (an empty window's
    reset is the moment it was read, and frees nothing). `sent_before_reset`: the tap has waited that reset out,
    and this is the number of the last request claimed before it; `left` then counts those still unanswered and one
    more."""

    left: float
    reset: float
    one_leaves_at_reset: bool = True
    sent_before_reset: int | None = None

    @classmethod
    def of(cls, response: requests.Response) -> VendorWord | None:
        """The word of an answer's X-RateLimit-Remaining, -Reset (epoch seconds) and -Limit; None if it has none."""
        headers = response.headers
        remaining, reset, limit = (headers.get(f"X-RateLimit-{name}") for name in ("Remaining", "Reset", "Limit"))
        if remaining is None or reset is None:
            return None
        try:
            left, until = float(remaining), float(reset)
            counted_none = limit is not None and left >= float(limit)
        except ValueError:
            return None  # a header that is not a number says nothing; the 429 path still holds
        return cls(left, until, not counted_none) if math.isfinite(until) else None


@dataclass
class RequestLabel:
    """Where a request belongs, for log lines and error messages."""

    stream: str
    partition: Mapping[str, Any] | None = None
    window: Window | None = None

    def __str__(self) -> str:
        text = f"stream {self.stream}"
        if self.partition:
            text += ", partition " + ", ".join(f"{k}={v}" for k, v in self.partition.items())
        if self.window:
            text += f", window {self.window}"
        return text


@dataclass
class WindowStats:
    """What one window cost: requests sent and seconds spent waiting."""

    requests: int = 0
    retries: int = 0
    rate_limit_wait: float = 0.0
    job_wait: float = 0.0

    def add(self, other: WindowStats) -> None:
        self.requests += other.requests
        self.retries += other.retries
        self.rate_limit_wait += other.rate_limit_wait
        self.job_wait += other.job_wait


# Query parameters that carry a signature or a credential in a URL of someone else's (a pre-signed download):
# their values are hidden wherever a URL could be shown, though the tap never knew them as secrets.
SIGNED_URL_PARAMETER = re.compile(
    r"(?i)\b(x-amz-(?:signature|credential|security-token)|signature|sig|token|access_token|api_key|key)=[^&\s\"'<>]+"
)


def secret_forms(secret: str) -> set[str]:
    """Every way a secret can be written into text: raw and trimmed, Python-repr and JSON escaped (a message
    that quotes it), and URL-encoded with upper- or lowercase hex (a query string)."""
    forms = {secret, secret.strip()}
    for form in list(forms):
        forms.update({repr(form)[1:-1], json.dumps(form)[1:-1], json.dumps(form, ensure_ascii=False)[1:-1]})
    for form in list(forms):
        forms.add(form.replace("/", "\\/"))
    for form in list(forms):
        for encoded in (quote(form, safe=""), quote_plus(form, safe="")):
            forms.update({encoded, re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), encoded)})
    return {form for form in forms if form}


class Redactor:
    """Replaces every secret, in every form it can take (`secret_forms`), and every signed-URL parameter's value
    with `***` in text bound for logs and errors."""

    def __init__(self, secrets: Iterable[str]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if secret:
                forms.update(secret_forms(secret))
        self._forms = sorted(forms, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for form in self._forms:
            text = text.replace(form, "***")
        return SIGNED_URL_PARAMETER.sub(lambda m: f"{m.group(1)}=***", text)


class RedactingFilter(logging.Filter):
    """Redacts every registered secret from log records (urllib3 logs full URLs, query strings included)."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._redactor = Redactor(())

    def register(self, secrets: Iterable[str]) -> None:
        self._secrets.update(s for s in secrets if s)
        self._redactor = Redactor(self._secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self._redactor(record.getMessage())
        record.args = None
        return True


URLLIB3_REDACTION = RedactingFilter()
logging.getLogger("urllib3.connectionpool").addFilter(URLLIB3_REDACTION)


class RetryableError(Exception):
    """A failure worth another attempt (429, 5xx, a dropped connection, a truncated body)."""

    def __init__(
        self, message: str, retry_after: float | None = None, unreachable: bool = False, host_side: bool = False
    ) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        # No answer at all (refused, reset, timed out): if retries run out, the host is down for every request.
        self.unreachable = unreachable
        # The host's failure, not the request's (5xx, no answer, an answer cut or too slow): when one partition
        # has spent its retries on it, the vendor is down for the run (`VendorClient.down`).
        self.host_side = host_side or unreachable


def path_segment(value: Any) -> str:
    """A config or vendor value as one URL path segment: `../admin` cannot climb out of the path."""
    return quote(str(value), safe="")


def origin(url: str) -> str:
    """scheme://host:port of a URL, the port always written (http://h and http://h:80 are one origin)."""
    parts = urlsplit(url)
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    return f"{parts.scheme.lower()}://{(parts.hostname or '').lower()}:{port}"


def read_prefix(response: requests.Response, limit: int) -> str:
    """At most `limit` bytes of a (streamed) body, decoded; the rest is never read."""
    data = b""
    try:
        for chunk in response.iter_content(chunk_size=8192):
            data += chunk
            if len(data) >= limit:
                break
    except (requests.RequestException, ConnectionError, TimeoutError):
        pass  # the status says what went wrong; a body cut short still shows what it had
    return data[:limit].decode(response.encoding or "utf-8", errors="replace")


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After as seconds: delta-seconds (fractions accepted) or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)  # 1e309 is inf, which the caller refuses as too long
    except ValueError:
        pass
    else:
        return None if math.isnan(seconds) else max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())


def retry_after_or_exponential(base: float, cap: float = 120.0) -> Generator[float, RetryableError | None, None]:
    """A backoff wait generator: the vendor's Retry-After when it sent one, else full-jitter exponential."""
    attempt = 0
    error = yield 0.0
    while True:
        retry_after = error.retry_after if error is not None else None
        if retry_after is not None:
            delay = retry_after
        else:
            delay = random.uniform(base / 2, min(cap, base * 2**attempt))
        attempt += 1
        error = yield delay


class SizeLimitedBody:
    """A response's `raw`, stopping the body at `limit` decoded bytes: requests reads every body (iter_content,
    .content, .json) through `raw.stream`, so one cap covers them all, a gzip answer inflating to gigabytes
    included (urllib3 inflates a chunk at a time)."""

    def __init__(self, raw: Any, limit: int, too_large: Callable[[], Exception]) -> None:
        self._raw = raw
        self._limit = limit
        self._too_large = too_large
        self._read = 0

    def stream(self, amt: int = 1 << 16, decode_content: bool | None = None) -> Iterator[bytes]:
        for chunk in self._raw.stream(amt, decode_content=decode_content):
            self._read += len(chunk)
            if self._read > self._limit:
                raise self._too_large()
            yield chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


class Watchdog:
    """One thread that runs each due callback of its deadlines (a thread per request cost more than a small
    request's parsing). A cancelled deadline never runs, and its callback is let go at once."""

    def __init__(self) -> None:
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._due: list[tuple[float, int]] = []  # a heap; a cancelled ticket's entry is dropped when found
        self._wake = threading.Condition()
        self._tickets = itertools.count()
        self._thread: threading.Thread | None = None

    def schedule(self, seconds: float, callback: Callable[[], None]) -> int:
        with self._wake:
            ticket = next(self._tickets)
            self._callbacks[ticket] = callback
            heapq.heappush(self._due, (time.monotonic() + seconds, ticket))
            if len(self._due) > 2 * len(self._callbacks) + 64:  # mostly cancelled: keep the heap small
                self._due = [entry for entry in self._due if entry[1] in self._callbacks]
                heapq.heapify(self._due)
            if self._thread is None or not self._thread.is_alive():  # none yet, or a fork left it behind
                self._thread = threading.Thread(target=self._run, name="tap-cohorts-deadlines", daemon=True)
                self._thread.start()
            elif self._due[0][1] == ticket:
                self._wake.notify()  # sooner than what the thread waits for
            return ticket

    def cancel(self, ticket: int) -> None:
        with self._wake:
            self._callbacks.pop(ticket, None)

    def _run(self) -> None:
        while True:
            with self._wake:
                while self._due and self._due[0][1] not in self._callbacks:
                    heapq.heappop(self._due)
                if not self._due:
                    self._wake.wait()
                    continue
                when, ticket = self._due[0]
                if when > time.monotonic():
                    self._wake.wait(when - time.monotonic())
                    continue
                heapq.heappop(self._due)
                callback = self._callbacks.pop(ticket)
            callback()


DEADLINES = Watchdog()


class Deadline:
    """Ends the reading of a body at `seconds` after its headers: `request_timeout` bounds each read, so a body
    dripping a byte at a time would otherwise never end. The socket is shut down when the deadline is due, which
    makes the blocked read fail at once."""

    def __init__(self, response: requests.Response, seconds: float) -> None:
        self.expired = False
        connection = getattr(response.raw, "connection", None)
        self._socket = getattr(connection, "sock", None)
        self._seconds = seconds
        self._ticket: int | None = None

    def _expire(self) -> None:
        self.expired = True
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> Deadline:
        self._ticket = DEADLINES.schedule(self._seconds, self._expire)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._ticket is not None:
            DEADLINES.cancel(self._ticket)


DEFAULT_BUDGET = ""


@dataclass(frozen=True)
class EndpointBudget:
    """Endpoints a vendor limits apart from its other endpoints, sharing `limits` between them."""

    paths: tuple[str, ...]
    limits: list[RateLimit]


def pyrate_rates(limits: Iterable[RateLimit]) -> list[Rate]:
    return [Rate(limit.requests, int(limit.seconds * Duration.SECOND)) for limit in limits]


class VendorClient:
    """The HTTP session, rate budget and error policy of one vendor, shared by all its streams."""

    def __init__(
        self,
        *,
        vendor: str,
        base_url: str,
        rate_limits: list[RateLimit],
        shared_rate_budget: str | None = None,
        secrets: Iterable[str],
        hints: Mapping[int, str],
        auth_headers: Mapping[str, str] | None = None,
        auth_params: Mapping[str, str] | None = None,
        timeout: float = 300.0,
        deadline: float = 300.0,
        download_deadline: float = 3600.0,
        retry_budget: float = 900.0,
        max_retries: int = 8,
        retry_base_seconds: float = 2.0,
        max_retry_after: float = 900.0,
        max_response_bytes: int = 512 * MEBIBYTE,
        endpoint_budgets: Mapping[str, EndpointBudget] | None = None,
        honours_rate_headers: bool = False,
        logger: logging.Logger,
    ) -> None:
        self.vendor = vendor
        self.base_url = base_url.rstrip("/")
        self.rate_limits = rate_limits
        credentials = list(secrets)
        secrets = [*credentials, *budget_secrets(shared_rate_budget)]
        self.redact = Redactor(secrets)
        self.hints = dict(hints)
        self.timeout = timeout
        self.deadline = deadline
        self.download_deadline = download_deadline
        self.retry_budget = retry_budget
        self.retry_seconds = 0.0  # spent waiting to retry, across the run's partitions
        # Set when a partition spent its retries on the host's failures: later requests get one attempt each.
        self.down: str | None = None
        self.max_retries = max_retries
        self.retry_base_seconds = retry_base_seconds
        self.max_retry_after = max_retry_after
        self.max_response_bytes = max_response_bytes
        self.logger = logger
        self._auth_headers = dict(auth_headers or {})
        self._auth_params = dict(auth_params or {})
        self._shared = bool(shared_rate_budget)
        account = account_budget_name(vendor, credentials)
        self._limiters = {DEFAULT_BUDGET: Limiter(open_bucket(account, pyrate_rates(rate_limits), shared_rate_budget))}
        # Endpoints the vendor limits apart from the rest (Braze's /events/list and /purchases/product_list share
        # 1,000 an hour): each budget is its own bucket, and a request to one of its paths draws from it alone.
        self._budget_of_path: dict[str, str] = {}
        for name, budget in (endpoint_budgets or {}).items():
            bucket = open_bucket(f"{account}_{name}", pyrate_rates(budget.limits), shared_rate_budget)
            self._limiters[name] = Limiter(bucket)
            self._budget_of_path.update(dict.fromkeys(budget.paths, name))
        self.honours_rate_headers = honours_rate_headers
        # Per budget, what the vendor's X-RateLimit headers last said: requests remaining, and the epoch second of
        # the reset; and the requests sent on it and not answered yet (streams send some ahead, on threads).
        self._vendor_says: dict[str, VendorWord] = {}
        self._unanswered: dict[str, int] = dict.fromkeys(self._limiters, 0)
        self._claimed: dict[str, int] = dict.fromkeys(self._limiters, 0)  # each claim's number, per budget
        self._rate_headers = threading.Condition()
        self.session = requests.Session()
        self.session.headers["User-Agent"] = "tap-cohorts"
        # requests reads the proxy variables (and ~/.netrc) from the environment again for every request, a
        # scan of os.environ that cost more than the rest of a small request. They are read here once instead,
        # per origin (`_environment_for`); a ~/.netrc login is never wanted: the vendor's credential is explicit.
        self.session.trust_env = False
        self._environment: dict[str, dict[str, Any]] = {}
        URLLIB3_REDACTION.register(secrets)
        self.totals = WindowStats()
        self.ledger = RunLedger()  # the tap gives every client the run's ledger

    @classmethod
    def for_runtime(cls, runtime: VendorRuntime, **kwargs: Any) -> VendorClient:
        """A client with a vendor section's shared settings (host, limits, budget, timeout, retries)."""
        return cls(
            base_url=runtime.base_url,
            rate_limits=runtime.rate_limits,
            shared_rate_budget=runtime.shared_rate_budget,
            timeout=runtime.request_timeout,
            deadline=runtime.request_deadline_seconds,
            download_deadline=runtime.download_deadline_seconds,
            retry_budget=runtime.retry_budget_seconds,
            max_retries=runtime.max_retries,
            retry_base_seconds=runtime.retry_wait_seconds,
            max_retry_after=runtime.max_retry_after_seconds,
            max_response_bytes=runtime.max_response_mb * MEBIBYTE,
            endpoint_budgets=runtime.endpoint_budgets,
            **kwargs,
        )

    def fail(self, label: RequestLabel, error: Exception) -> None:
        """A partition ends with `error`: recorded in the run's ledger, so the run goes on (re-raised under
        fail_fast). A request its vendor's earlier failure made pointless is counted as not asked."""
        if self.ledger.fail_fast:
            raise error
        if isinstance(error, VendorNotAsked):
            self.ledger.skip(label.stream)
            return
        if isinstance(error, VendorError):
            message = self.redact(str(error))
        else:  # not one of ours: say where, and what it is
            message = self.redact(f"{self.vendor}: {label}: {type(error).__name__}: {error}")
        self.logger.error("%s (the run goes on with the next partition)", message)
        ends_vendor = isinstance(error, VendorError) and error.ends_vendor
        if isinstance(error, VendorError) and error.vendor_down:
            self.ledger.down.add(self.vendor)
        self.ledger.record(self.vendor, label.stream, label.partition, message, ends_vendor)

    def wait_for_budget(self, stats: WindowStats, budget: str = DEFAULT_BUDGET, *, claim: bool = False) -> int | None:
        """Block until the vendor's rate limits allow one more request on `budget`; count the wait. `claim`: the
        request counts as unanswered until `_answered` is given the claim's number, returned here (the vendor's
        remaining requests are shared with it)."""
        started = time.monotonic()
        ticket = self._wait_for_reset(budget, claim) if self.honours_rate_headers else None
        limiter = self._limiters[budget]
        try:
            if self._shared:
                # Short waits, each asked again with a fresh timestamp: a long blocking acquire keeps its first
                # one, which other processes' requests have overtaken by then.
                while not limiter.try_acquire(self.vendor, blocking=True, timeout=SHARED_BUDGET_POLL_SECONDS):
                    pass
            else:
                limiter.try_acquire(self.vendor, blocking=True)
        except BaseException:
            if ticket is not None:
                self._answered(budget, None, ticket)
            raise
        waited = time.monotonic() - started
        stats.rate_limit_wait += waited
        self.totals.rate_limit_wait += waited
        return ticket

    def note_rate_headers(
        self, response: requests.Response | None, budget: str, *, sent_before_reset: bool = False
    ) -> None:
        """Braze sends `X-RateLimit-Remaining` and `X-RateLimit-Reset` (epoch seconds) with every answer: once no
        request remains beyond those still unanswered, the budget's next request waits for the reset instead of
        meeting a 429. This covers what the tap's own windows cannot see: other clients of the same workspace,
        and a limit lower than configured. `response` is None when the request failed without one;
        `sent_before_reset`: it went before the reset the tap last waited out."""
        word = VendorWord.of(response) if response is not None else None
        said = self._vendor_says.get(budget)
        if said is not None and said.sent_before_reset is not None:
            if sent_before_reset and (word is None or word.reset <= said.reset):
                # An older word, and the slot this request held stays spent: were it freed, the next request would
                # go while the vendor's window still counts this one (a 429 in CI, under load).
                said.left -= 1
                return
            # Otherwise the answer was read after the reset: newer, whatever it says.
        elif said is not None and word is not None and word.reset <= said.reset:
            # Answers come back in any order, and a later reset is a later word: a sliding window's oldest request
            # only moves on, a fixed window only ends later. An older word says nothing now. The same window's
            # answers differ only in what they counted: the fewest remaining is the latest.
            if word.reset < said.reset:
                return
            word.left = min(word.left, said.left)
        if word is not None:
            self._vendor_says[budget] = word

    def _answered(self, budget: str, response: requests.Response | None, ticket: int) -> None:
        """Claim number `ticket` is answered (or failed): no longer unanswered, and its headers noted."""
        with self._rate_headers:
            self._unanswered[budget] -= 1
            said = self._vendor_says.get(budget)
            before = said is not None and said.sent_before_reset is not None and ticket <= said.sent_before_reset
            self.note_rate_headers(response, budget, sent_before_reset=before)
            self._rate_headers.notify_all()

    def _wait_for_reset(self, budget: str, claim: bool) -> int | None:
        """Wait while the vendor's last word leaves no request for this one: its remaining requests, less those
        sent since (unanswered, so perhaps not counted in it), are none until the reset. At the reset one request
        goes, and the others wait for its answer to say how many remain. When no request leaves the vendor's window
        at its reset, the wait is for an answer. None waits longer than max_retry_after_seconds."""
        with self._rate_headers:
            give_up_at: float | None = None
            while True:
                says = self._vendor_says.get(budget)
                now = time.time()
                if says is None or says.left - self._unanswered[budget] > 0:
                    break
                at_reset = says.sent_before_reset is None and says.one_leaves_at_reset
                if (at_reset and says.reset <= now) or (give_up_at is not None and now >= give_up_at):
                    says.left, says.sent_before_reset = self._unanswered[budget] + 1, self._claimed[budget]
                    break
                if give_up_at is None:
                    give_up_at = now + self.max_retry_after
                    if at_reset:
                        self._log_reset_wait(says.reset - now)
                # Otherwise the wait is for an answer (`_answered` notifies), at most until giving up.
                until = min(says.reset, give_up_at) if at_reset else give_up_at
                self._rate_headers.wait(until - now)
            if not claim:
                return None
            self._unanswered[budget] += 1
            self._claimed[budget] += 1
            return self._claimed[budget]

    def _log_reset_wait(self, wait: float) -> None:
        if wait > self.max_retry_after:
            self.logger.warning(
                "%s: X-RateLimit-Remaining is 0 until %.0fs from now, more than max_retry_after_seconds (%gs); "
                "waiting that long, then trying",
                self.vendor,
                wait,
                self.max_retry_after,
            )
        else:
            self.logger.info("%s: X-RateLimit-Remaining is 0: waiting %.1fs for X-RateLimit-Reset", self.vendor, wait)

    def call(
        self,
        method: str,
        path_or_url: str,
        *,
        label: RequestLabel,
        stats: WindowStats,
        read: Callable[[requests.Response], T],
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        authenticated: bool = True,
        rate_limited: bool = True,
        accept: Collection[int] = (),
    ) -> T:
        """Send one request (retried as needed) and return `read(response)`.

        `read` runs inside the retry, so it must consume the body. `authenticated=False` sends no vendor
        credential (pre-signed download URLs); `rate_limited=False` is for hosts outside the vendor's API;
        statuses in `accept` go to `read` instead of failing (a download URL that is not ready yet).
        """
        if self.vendor in self.ledger.ended:
            raise VendorNotAsked(f"{self.vendor}: {label}: not asked: {self.ledger.ended[self.vendor]}")
        url = path_or_url if "://" in path_or_url else self.base_url + path_or_url
        budget = self._budget_of_path.get(path_or_url, DEFAULT_BUDGET)
        # A download (a pre-signed file of an export) may take longer than an API answer.
        deadline_seconds = self.deadline if authenticated else self.download_deadline
        send_headers = {**(self._auth_headers if authenticated else {}), **(headers or {})}
        send_params = {**(self._auth_params if authenticated else {}), **(params or {})}

        def attempt() -> T:
            ticket = self.wait_for_budget(stats, budget, claim=self.honours_rate_headers) if rate_limited else None
            stats.requests += 1
            self.totals.requests += 1
            response: requests.Response | None = None
            try:
                response = self._send(method, url, send_params, json, send_headers, authenticated, label, stats, budget)
            except NOT_RETRYABLE_REQUEST_ERRORS as exc:
                raise VendorError(
                    f"{self.vendor}: {label}: {type(exc).__name__}: {self.redact(str(exc))}", ends_vendor=authenticated
                ) from None
            except requests.RequestException as exc:
                raise RetryableError(
                    f"{type(exc).__name__}: {self.redact(str(exc))}", unreachable=authenticated
                ) from None
            finally:
                if ticket is not None:
                    self._answered(budget, response, ticket)
            with response, Deadline(response, deadline_seconds) as deadline:
                response.raw = SizeLimitedBody(response.raw, self.max_response_bytes, lambda: too_large(response))
                try:
                    if response.status_code >= 400 and response.status_code not in accept:
                        self._raise_for_status(response, label)
                    return read(response)
                except (requests.RequestException, ConnectionError, TimeoutError, OSError, MalformedBody) as exc:
                    if deadline.expired:
                        setting = "request_deadline_seconds" if authenticated else "download_deadline_seconds"
                        raise RetryableError(
                            f"no whole answer within {setting} ({deadline_seconds:g}s): the body came too slowly",
                            host_side=True,
                        ) from None
                    raise RetryableError(
                        f"reading the response failed: {type(exc).__name__}: {self.redact(str(exc))}", host_side=True
                    ) from None

        def too_large(response: requests.Response) -> VendorError:
            return VendorError(
                f"{self.vendor}: {label}: the answer is larger than max_response_mb "
                f"({self.max_response_bytes / MEBIBYTE:g} MiB; {origin(response.url)}, HTTP {response.status_code}): "
                "reading stopped there. Ask for shorter windows or fewer dimensions, or raise the setting"
            )

        def log_retry(details: Any) -> None:
            stats.retries += 1
            self.retry_seconds += details["wait"]
            error = details.get("exception")
            self.logger.warning(
                "%s: %s; retry %d of %d in %.1fs",
                label,
                self.redact(str(error)),
                details["tries"],
                self.max_retries,
                details["wait"],
            )

        def no_more_retries(error: Exception) -> bool:
            return self.down is not None or self.retry_seconds >= self.retry_budget

        def give_up(details: Any) -> None:
            error = details.get("exception")
            reason = self.redact(str(error))
            if self.down is not None:
                raise VendorError(
                    f"{self.vendor}: {label}: vendor down (an earlier partition spent its retries: {self.down}); one "
                    f"attempt, not retried: {reason}",
                    vendor_down=True,
                ) from None
            if details["tries"] <= self.max_retries and self.retry_seconds >= self.retry_budget:
                raise VendorError(
                    f"{self.vendor}: {label}: not retried: this run's retries of {self.vendor} waited "
                    f"{self.retry_seconds:.0f}s, its retry_budget_seconds ({self.retry_budget:g}s): {reason}"
                ) from None
            if getattr(error, "host_side", False):
                self.down = f"gave up after {details['tries']} attempts: {reason}"
                self.logger.error(
                    "%s: %s is down for this run: its other requests get one attempt each until one succeeds",
                    label,
                    self.vendor,
                )
            raise VendorError(
                f"{self.vendor}: {label}: gave up after {details['tries']} attempts: {reason}",
                ends_vendor=getattr(error, "unreachable", False),
                vendor_down=getattr(error, "host_side", False),
            ) from None

        retried = backoff.on_exception(
            retry_after_or_exponential,
            RetryableError,
            max_tries=self.max_retries + 1,
            jitter=None,
            giveup=no_more_retries,
            on_backoff=log_retry,
            on_giveup=give_up,
            base=self.retry_base_seconds,
        )(attempt)
        answer = retried()
        if self.down is not None:
            self.logger.info("%s: %s answers again: requests are retried again", label, self.vendor)
            self.down = None
        return answer

    def _send(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any],
        body: Any,
        headers: Mapping[str, str],
        authenticated: bool,
        label: RequestLabel,
        stats: WindowStats,
        budget: str = DEFAULT_BUDGET,
    ) -> requests.Response:
        """One request; an authenticated one follows redirects only within its own origin (scheme, host and
        port), so the credential (a header, or AppLovin's key in the query string) never reaches another host.
        requests itself strips only `Authorization`, and only when the host changes."""
        response = self._request(method, url, params, body, headers, allow_redirects=not authenticated)
        for _ in range(MAX_REDIRECTS):
            if not (authenticated and response.is_redirect):
                return response
            target = urljoin(response.url, response.headers["Location"])
            status = response.status_code
            response.close()
            if origin(target) != origin(url):
                raise VendorError(
                    f"{self.vendor}: {label}: HTTP {status} redirects to {origin(target)}, another origin than "
                    f"{origin(url)}; not followed, so the credential is not sent there (check base_url)",
                    ends_vendor=True,
                )
            if status == 303 or (status in (301, 302) and method == "POST"):
                method, body = "GET", None
            self.wait_for_budget(stats, budget)  # a hop is a request to the vendor like any other
            stats.requests += 1
            self.totals.requests += 1
            response = self._request(method, target, None, body, headers, allow_redirects=False)
        if authenticated and response.is_redirect:
            response.close()
            raise VendorError(f"{self.vendor}: {label}: more than {MAX_REDIRECTS} redirects")
        return response

    def _request(
        self,
        method: str,
        url: str,
        params: Mapping[str, Any] | None,
        body: Any,
        headers: Mapping[str, str],
        *,
        allow_redirects: bool,
    ) -> requests.Response:
        """`session.request`, as requests' prepared-request flow: the request is prepared with the session's
        headers and cookies, and sent on its connections. `session.request` also merges the session's params, auth
        and hooks (the tap sets none) through runtime Protocol checks and cookie-jar copies: an eighth of the tap's
        CPU on Braze's list pages (docs/benchmark.md)."""
        prepared = requests.Request(
            method,
            url,
            params=params or None,
            json=body,
            headers={**self.session.headers, **headers},
            cookies=self.session.cookies,
        ).prepare()
        return self.session.send(
            prepared, timeout=self.timeout, stream=True, allow_redirects=allow_redirects, **self._environment_for(url)
        )

    def _environment_for(self, url: str) -> dict[str, Any]:
        """What requests takes from the environment for a URL when `trust_env` is on: the proxies for its
        origin (HTTP(S)_PROXY, ALL_PROXY, NO_PROXY) and the CA bundle (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE), read
        once per origin. A redirect that requests follows (an unauthenticated download) keeps its first
        origin's proxies."""
        key = origin(url)
        found = self._environment.get(key)
        if found is None:
            bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
            found = {"proxies": requests.utils.get_environ_proxies(url), **({"verify": bundle} if bundle else {})}
            self._environment[key] = found
        return found

    def _raise_for_status(self, response: requests.Response, label: RequestLabel) -> None:
        status = response.status_code
        # Redacted before it is cut: a secret the vendor echoes across the cut would leave its first characters.
        body = self.redact(read_prefix(response, ERROR_BODY_BYTES))[:VENDOR_MESSAGE_CHARS].strip()
        if status in RETRYABLE_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if retry_after is not None and not retry_after <= self.max_retry_after:  # NaN and inf included
                raise VendorError(
                    f"{self.vendor}: {label}: HTTP {status} {response.reason} asks to wait "
                    f"{response.headers.get('Retry-After')!r} ({retry_after:g}s) before trying again, more than "
                    f"max_retry_after_seconds ({self.max_retry_after:g}s); not waited: {body or '(empty body)'}"
                )
            raise RetryableError(
                f"HTTP {status} {response.reason}: {body}", retry_after=retry_after, host_side=status >= 500
            )
        hint = self.hints.get(status)
        message = f"{self.vendor}: {label}: HTTP {status} {response.reason}: {body or '(empty body)'}"
        if hint:
            message += f". Hint: {hint}"
        # A refused credential refuses every request: the vendor's other partitions are not asked.
        raise VendorError(message, ends_vendor=status == 401, status=status)
