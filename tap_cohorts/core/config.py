"""Config shared by every vendor section: dates, lookback, base URL, rate limits and retry knobs.

Types and enums are checked by the SDK against the JSON schema (its messages name the key). The rules a
schema cannot say (an end before a start, a list too long for the vendor) are collected here and by each
vendor's `validate()`, and reported together before the first request.
"""

from __future__ import annotations

import datetime as dt
import json
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from singer_sdk import typing as th

from tap_cohorts.core.budget import budget_problem
from tap_cohorts.core.http import EndpointBudget, RateLimit, Redactor
from tap_cohorts.core.windows import SyncBounds, utc_today

DEFAULT_LOOKBACK_DAYS = 30
# Bounds that keep numbers inside what the clock, timedelta and the rate limiter can hold (10^10 days or
# 1e300 seconds crash them; a rate window under a millisecond rounds to none).
MAX_LOOKBACK_DAYS = 3650
MAX_SECONDS = 7 * 86_400
MAX_RESPONSE_MB = 1024 * 1024  # a tebibyte
MIN_RATE_SECONDS = 0.001


def config_key(*path: str | int) -> str:
    return "config" + "".join(f"[{p!r}]" for p in path)


def top_level_properties() -> list[th.Property]:
    return [
        th.Property(
            "start_date",
            th.DateType,
            description="Earliest cohort (install / attribution) date to sync. Default: each vendor's oldest "
            "allowed date.",
        ),
        th.Property("end_date", th.DateType, description="Last cohort date to sync. Default: today (UTC)."),
        th.Property(
            "lookback_days",
            th.IntegerType,
            default=DEFAULT_LOOKBACK_DAYS,
            description="Cohort dates before the bookmark that every run syncs again, because vendors revise "
            "recent values. Older cohorts are asked again on the day each requested period of theirs is complete "
            "(AppsFlyer: day p + 1 after the cohort; Adjust: p + 1 periods after its last install day; Branch: "
            "band b + 1 units; AppLovin: p + 1 days, within its 45-day window).",
        ),
        th.Property(
            "emit_activate_version_messages",
            th.BooleanType,
            default=True,
            description="Send ACTIVATE_VERSION with the streams read whole on every run (Braze's lists and segment "
            "exports), so a loader that supports it (target-postgres, target-snowflake: `activate_version`) "
            "marks the objects deleted at the vendor (`_sdc_deleted_at`).",
        ),
        th.Property(
            "fail_fast",
            th.BooleanType,
            default=False,
            description="Stop the run at the first error. Default: a failing partition ends alone (its bookmark "
            "stays), every other partition and vendor syncs, and the run exits non-zero with a summary.",
        ),
    ]


WINDOWS = th.ArrayType(
    th.ObjectType(
        th.Property("requests", th.IntegerType, required=True),
        th.Property("seconds", th.NumberType, required=True),
    )
)


def windows_text(limits: Iterable[RateLimit]) -> str:
    return "[" + ", ".join(f'{{"requests": {r.requests}, "seconds": {r.seconds:g}}}' for r in limits) + "]"


def vendor_properties(
    *, base_url: str, rate_limits: list[RateLimit], endpoint_budgets: Mapping[str, EndpointBudget] | None = None
) -> list[th.Property]:
    """The keys every vendor section has besides its credentials and its own options (and, for a vendor that
    limits some endpoints apart, `endpoint_rate_limits`)."""
    defaults = windows_text(rate_limits)
    budgets = []
    if endpoint_budgets:
        described = "; ".join(
            f"{name} ({', '.join(budget.paths)}): default {windows_text(budget.limits)}"
            for name, budget in endpoint_budgets.items()
        )
        budgets = [
            th.Property(
                "endpoint_rate_limits",
                th.ObjectType(*(th.Property(name, WINDOWS) for name in endpoint_budgets)),
                description="Windows of the endpoints the vendor limits apart from the rest, each its own budget "
                f"(not counted in rate_limits): {described}.",
            )
        ]
    return [
        th.Property("base_url", th.StringType, default=base_url, description=f"API host. Default {base_url}."),
        th.Property("start_date", th.DateType, description="Overrides the top-level start_date for this vendor."),
        th.Property(
            "lookback_days",
            th.IntegerType,
            description="Overrides the top-level lookback_days for this vendor.",
        ),
        th.Property(
            "rate_limits",
            WINDOWS,
            description=f"Windows that must all hold, shared by every stream of this vendor. Default {defaults}.",
        ),
        *budgets,
        th.Property(
            "shared_rate_budget",
            th.StringType,
            description="Where this vendor's request budget lives when several processes use one account: a "
            "SQLite file path (processes on one machine), or a postgresql:// or redis:// URL (several machines; "
            "needs tap-cohorts[postgres-budget] or [redis-budget]). The processes of one account given the same "
            "place draw from one budget. Default: this process's own.",
            secret=True,
        ),
        th.Property(
            "request_timeout", th.NumberType, default=300, description="Seconds to wait for each read of a response."
        ),
        th.Property(
            "request_deadline_seconds",
            th.NumberType,
            default=300,
            description="Seconds a whole API answer may take after its headers; a slower one is cut and retried "
            "like a dropped connection.",
        ),
        th.Property(
            "download_deadline_seconds",
            th.NumberType,
            default=3600,
            description="Seconds a whole export file (Branch's and Braze's downloads) may take after its headers.",
        ),
        th.Property(
            "retry_budget_seconds",
            th.NumberType,
            default=900,
            description="The longest this vendor's requests wait to retry in one run, across all its partitions; "
            "once spent, a failing request is not retried. Besides, once a partition has spent its retries on the "
            "host's failures (5xx, no answer), the vendor is down for the run: its other requests get one attempt "
            "each until one succeeds.",
        ),
        th.Property(
            "max_response_mb",
            th.IntegerType,
            default=512,
            description="The largest answer (after decompression, in MiB) the tap reads; a larger one fails its "
            "partition's window with an error naming this setting. Downloads go to a temporary file, so memory "
            "stays flat either way.",
        ),
        th.Property(
            "max_retries",
            th.IntegerType,
            default=8,
            description="Retries of a request that failed with 429, 5xx or a dropped connection.",
        ),
        th.Property(
            "max_retry_after_seconds",
            th.NumberType,
            default=900,
            description="The longest Retry-After the tap waits out; a vendor asking for more fails the partition, "
            "naming the wait it asked for.",
        ),
        th.Property(
            "retry_wait_seconds",
            th.NumberType,
            default=2,
            description="First wait before a retry when the vendor sends no Retry-After; it doubles each time.",
        ),
    ]


@dataclass(frozen=True)
class VendorRuntime:
    """A vendor section's shared settings, parsed."""

    base_url: str
    bounds: SyncBounds
    rate_limits: list[RateLimit]
    shared_rate_budget: str | None
    request_timeout: float
    request_deadline_seconds: float
    download_deadline_seconds: float
    retry_budget_seconds: float
    max_retries: int
    retry_wait_seconds: float
    max_retry_after_seconds: float
    max_response_mb: int
    endpoint_budgets: dict[str, EndpointBudget]


def parse_date(value: Any) -> dt.date:
    """A date from `YYYY-MM-DD` or an ISO 8601 date-time (its own date, in its own offset)."""
    text = str(value).strip()
    if text[-1:] in ("Z", "z"):  # Python 3.10's fromisoformat does not read the UTC designator
        text = text[:-1] + "+00:00"
    try:
        return dt.datetime.fromisoformat(text).date()
    except ValueError:
        raise ValueError(f"not a date: {value!r}") from None


def vendor_runtime(
    config: Mapping[str, Any],
    section: Mapping[str, Any],
    *,
    default_base_url: str,
    default_rate_limits: list[RateLimit],
    default_endpoint_budgets: Mapping[str, EndpointBudget] | None = None,
) -> VendorRuntime:
    start = section.get("start_date") or config.get("start_date")
    end = config.get("end_date")
    lookback = section.get("lookback_days")
    if lookback is None:
        lookback = config.get("lookback_days", DEFAULT_LOOKBACK_DAYS)
    limits = section.get("rate_limits")
    configured = section.get("endpoint_rate_limits") or {}
    budgets = {
        name: replace(budget, limits=parse_windows(configured[name])) if configured.get(name) else budget
        for name, budget in (default_endpoint_budgets or {}).items()
    }
    return VendorRuntime(
        base_url=section.get("base_url") or default_base_url,
        bounds=SyncBounds(
            start_date=parse_date(start) if start else None,
            end_date=parse_date(end) if end else utc_today(),
            lookback_days=int(lookback),
        ),
        rate_limits=parse_windows(limits) if limits else list(default_rate_limits),
        shared_rate_budget=section.get("shared_rate_budget") or None,
        request_timeout=float(section.get("request_timeout", 300)),
        request_deadline_seconds=float(section.get("request_deadline_seconds", 300)),
        download_deadline_seconds=float(section.get("download_deadline_seconds", 3600)),
        retry_budget_seconds=float(section.get("retry_budget_seconds", 900)),
        max_retries=int(section.get("max_retries", 8)),
        retry_wait_seconds=float(section.get("retry_wait_seconds", 2)),
        max_retry_after_seconds=float(section.get("max_retry_after_seconds", 900)),
        max_response_mb=int(section.get("max_response_mb", 512)),
        endpoint_budgets=budgets,
    )


def parse_windows(windows: Iterable[Mapping[str, Any]]) -> list[RateLimit]:
    return [RateLimit(int(r["requests"]), float(r["seconds"])) for r in windows]


def common_problems(
    config: Mapping[str, Any],
    vendor: str | None = None,
    *,
    non_empty: tuple[str, ...] = (),
    positive: tuple[str, ...] = (),
) -> list[str]:
    """Rules on the shared keys, for the top level (vendor=None) or one vendor section, and on the section's
    own lists that must not be empty and numbers that must be above 0."""
    problems: list[str] = []
    scope = config if vendor is None else config.get(vendor) or {}
    path: tuple[str, ...] = () if vendor is None else (vendor,)
    for key in non_empty:
        if key in scope and not scope[key]:
            problems.append(f"{config_key(*path, key)}: an empty list is not allowed; give at least one value")
    dates: dict[str, dt.date] = {}
    for key in ("start_date", "end_date"):
        value = scope.get(key)
        if value in (None, ""):
            continue
        try:
            dates[key] = parse_date(value)
        except (ValueError, TypeError):
            problems.append(f"{config_key(*path, key)}: {value!r} is not a date (use YYYY-MM-DD)")
    lookback = scope.get("lookback_days")
    if isinstance(lookback, int) and not 0 <= lookback <= MAX_LOOKBACK_DAYS:
        problems.append(f"{config_key(*path, 'lookback_days')}: {lookback} must be from 0 to {MAX_LOOKBACK_DAYS}")
    if vendor is None:
        start, end = dates.get("start_date"), dates.get("end_date")
        if start and end and end < start:
            problems.append(f"{config_key('end_date')}: {end.isoformat()} is before start_date {start.isoformat()}")
        return problems
    problems += window_problems(scope.get("rate_limits"), (vendor, "rate_limits"))
    budgets = scope.get("endpoint_rate_limits")
    if isinstance(budgets, Mapping):
        for name, windows in budgets.items():
            problems += window_problems(windows, (vendor, "endpoint_rate_limits", name))
    for key in (
        "request_timeout",
        "request_deadline_seconds",
        "download_deadline_seconds",
        "retry_budget_seconds",
        "retry_wait_seconds",
        "max_retry_after_seconds",
        *positive,
    ):
        value = scope.get(key)
        if _is_number(value) and not 0 < value <= MAX_SECONDS:
            problems.append(
                f"{config_key(vendor, key)}: {value!r} must be above 0 and at most {MAX_SECONDS:g} (a week)"
            )
    base_url = scope.get("base_url")
    if isinstance(base_url, str) and (problem := http_url_problem(base_url)):
        problems.append(f"{config_key(vendor, 'base_url')}: {problem}")
    budget = scope.get("shared_rate_budget")
    if isinstance(budget, str) and budget and (problem := budget_problem(budget)):
        problems.append(f"{config_key(vendor, 'shared_rate_budget')}: {problem}")
    response_mb = scope.get("max_response_mb")
    if isinstance(response_mb, int) and not 1 <= response_mb <= MAX_RESPONSE_MB:
        problems.append(f"{config_key(vendor, 'max_response_mb')}: {response_mb} must be from 1 to {MAX_RESPONSE_MB}")
    retries = scope.get("max_retries")
    if isinstance(retries, int) and retries < 0:
        problems.append(f"{config_key(vendor, 'max_retries')}: {retries} must be 0 or more")
    vendor_start = dates.get("start_date")
    end_value = config.get("end_date")
    if vendor_start and end_value:
        try:
            end = parse_date(end_value)
        except (ValueError, TypeError):
            return problems
        if end < vendor_start:
            problems.append(
                f"{config_key(vendor, 'start_date')}: {vendor_start.isoformat()} is after end_date {end.isoformat()}"
            )
    return problems


def window_problems(windows: Any, path: tuple[str, ...]) -> list[str]:
    """Rate windows of at least 1 request in a millisecond to a week."""
    problems: list[str] = []
    for index, limit in enumerate(windows if isinstance(windows, list) else []):
        if not isinstance(limit, Mapping):
            continue
        requests = limit.get("requests")
        if not isinstance(requests, int) or requests < 1:
            problems.append(
                f"{config_key(*path, index, 'requests')}: {limit.get('requests')!r} must be a whole number of at "
                "least 1"
            )
        seconds = limit.get("seconds")
        if not _is_number(seconds) or not MIN_RATE_SECONDS <= seconds <= MAX_SECONDS:
            problems.append(
                f"{config_key(*path, index, 'seconds')}: {limit.get('seconds')!r} must be a number from "
                f"{MIN_RATE_SECONDS} (a millisecond) to {MAX_SECONDS:g} (a week)"
            )
    return problems


def secret_problems(config: Mapping[str, Any], vendor: str, key: str) -> list[str]:
    """A credential must be sent exactly as the vendor issued it: whitespace at either end or a control
    character (a newline from a secrets file) would make a broken header or URL. The value is never shown."""
    value = (config.get(vendor) or {}).get(key)
    if not isinstance(value, str):
        return []
    if not value.strip():
        return [f"{config_key(vendor, key)}: is empty"]
    if value != value.strip() or any(ord(c) < 32 or ord(c) == 127 for c in value):
        return [
            f"{config_key(vendor, key)}: starts or ends with whitespace or holds a control character (often a "
            "newline from a secrets file); remove it (the value is not shown)"
        ]
    return []


def redact_config_secrets(config: Mapping[str, Any], vendors: Iterable[Any]) -> Redactor:
    """Hides the config's secrets (each vendor's credential and shared_rate_budget, whatever their type) in
    messages about the config."""
    secrets: list[str] = []
    for vendor in vendors:
        section = config.get(vendor.name)
        if not isinstance(section, Mapping):
            continue
        for key in (vendor.secret_key, "shared_rate_budget"):
            value = section.get(key)
            if value is None or value == "":
                continue
            secrets.append(value if isinstance(value, str) else json.dumps(value, default=str))
            if not isinstance(value, str):
                secrets.append(repr(value))
    return Redactor(secrets)


def http_url_problem(value: str) -> str | None:
    """Why `value` cannot be a vendor's base_url, or None."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"{value!r} is not an http:// or https:// URL with a host"
    if parts.query or parts.fragment:
        return f"{value!r} must not hold a query string or a fragment"
    return None


def _is_number(value: Any) -> TypeGuard[float]:
    """JSON numbers arrive as int, float or Decimal (the SDK parses config with Decimal)."""
    return isinstance(value, numbers.Number) and not isinstance(value, bool)
