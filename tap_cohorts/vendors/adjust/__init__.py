"""Adjust KPI Service cohort endpoints: config section, rules and streams."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from singer_sdk import typing as th

from tap_cohorts.core.config import VendorRuntime, common_problems, config_key, vendor_properties
from tap_cohorts.core.http import VendorClient
from tap_cohorts.core.vendor import Vendor
from tap_cohorts.vendors.adjust import settings
from tap_cohorts.vendors.adjust.streams import (
    AdjustAppCohortsStream,
    AdjustCohortsStream,
    AdjustCohortStream,
    AdjustTrackerCohortsStream,
    kpi_column,
)

if TYPE_CHECKING:
    from singer_sdk import Stream, Tap

LIST = th.ArrayType(th.StringType)

SECTION = th.Property(
    "adjust",
    th.ObjectType(
        th.Property(
            "api_token",
            th.StringType,
            required=True,
            secret=True,
            description="API token, sent as `Authorization: Token token=...`.",
        ),
        th.Property("app_tokens", LIST, required=True, description="App tokens."),
        th.Property("tracker_tokens", LIST, description="Tracker tokens; enables adjust_tracker_cohorts."),
        th.Property("kpis", LIST, required=True, description="KPIs; one numeric column each."),
        th.Property(
            "cohort_period",
            th.StringType(allowed_values=list(settings.COHORT_PERIODS)),
            default="day",
            description="The API's `period`: day, week or month cohorts.",
        ),
        th.Property(
            "max_period",
            th.IntegerType,
            description="The last period (in cohort_period units) a cohort is asked again for until it is complete. "
            "Default 30 days, 12 weeks or 6 months.",
        ),
        th.Property(
            "grouping",
            LIST,
            description="Extra grouping levels: trackers, networks, campaigns, adgroups, creatives, events, "
            "countries, region, device_types, os_names, partners (or any level Adjust adds); the date level and "
            "periods are always added.",
        ),
        th.Property("attribution_type", th.StringType(allowed_values=list(settings.ATTRIBUTION_TYPES))),
        th.Property("utc_offset", th.StringType, description="[+-]HH:MM"),
        th.Property("sandbox", th.BooleanType, description="Sandbox data instead of production."),
        th.Property("reattributed", th.StringType(allowed_values=list(settings.REATTRIBUTED))),
        th.Property("events", LIST, description="Event tokens."),
        th.Property("countries", LIST, description="ISO 3166 alpha-2 country codes."),
        th.Property("os_names", LIST),
        th.Property("device_types", LIST),
        th.Property("tracker_filter", LIST, description="Tracker tokens to include."),
        *vendor_properties(base_url=settings.BASE_URL, rate_limits=settings.RATE_LIMITS),
    ),
    description="Adjust's legacy KPI Service cohort endpoints. DEPRECATED: use the adjust_report section "
    "(adjust_report_cohorts). Absent: no KPI Service streams.",
)


def validate(config: Mapping[str, Any]) -> list[str]:
    section = config.get("adjust") or {}
    problems = common_problems(config, "adjust", non_empty=("app_tokens", "kpis", "tracker_tokens"))

    def key(*path: str) -> str:
        return config_key("adjust", *path)

    kpis = [str(k) for k in section.get("kpis") or []]
    columns: dict[str, str] = {}
    for kpi in kpis:
        column = kpi_column(kpi)
        if column in columns:
            problems.append(f"{key('kpis')}: {columns[column]!r} and {kpi!r} would both be column {column!r}")
        columns[column] = kpi
    for level in section.get("grouping") or []:
        if not re.fullmatch(r"[a-z_]+", str(level)):
            problems.append(f"{key('grouping')}: {level!r} is not a grouping level (lower-case words and _)")
    max_period = section.get("max_period")
    if isinstance(max_period, int) and max_period < 0:
        problems.append(f"{key('max_period')}: {max_period} must be 0 or more")
    offset = section.get("utc_offset")
    if offset is not None and not re.fullmatch(r"[+-]\d{2}:\d{2}", str(offset)):
        problems.append(f"{key('utc_offset')}: {offset!r} is not in [+-]HH:MM format")
    for value in section.get("countries") or []:
        if not re.fullmatch(r"[A-Za-z]{2}", str(value)):
            problems.append(f"{key('countries')}: {value!r} is not an ISO 3166 alpha-2 code")
    return problems


def streams(tap: Tap, section: Mapping[str, Any], runtime: VendorRuntime, client: VendorClient) -> list[Stream]:
    tap.logger.warning(
        "adjust: %s; the streams adjust_cohorts, adjust_app_cohorts and adjust_tracker_cohorts still sync",
        settings.DEPRECATION,
    )
    classes: list[type[AdjustCohortStream]] = [AdjustCohortsStream, AdjustAppCohortsStream]
    if section.get("tracker_tokens"):
        classes.insert(1, AdjustTrackerCohortsStream)
    return [cls(tap, client=client, runtime=runtime, section=section) for cls in classes]


VENDOR = Vendor(
    name="adjust",
    section=SECTION,
    base_url=settings.BASE_URL,
    rate_limits=settings.RATE_LIMITS,
    validate=validate,
    secret_key="api_token",
    auth_headers=lambda token: {"Authorization": f"Token token={token}"},
    hints=settings.HINTS,
    streams=streams,
)
