"""Adjust Report Service (`adjust_report` section): Adjust's current reporting API, beside the legacy KPI
Service of the `adjust` section. Its own section because its host, token header and vocabulary differ."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from singer_sdk import typing as th

from tap_cohorts.core.config import VendorRuntime, common_problems, config_key, vendor_properties
from tap_cohorts.core.http import VendorClient
from tap_cohorts.core.vendor import Vendor
from tap_cohorts.vendors.adjust import settings
from tap_cohorts.vendors.adjust.report_stream import ROW_METADATA, AdjustReportCohortsStream

if TYPE_CHECKING:
    from singer_sdk import Stream, Tap

LIST = th.ArrayType(th.StringType)
NAME = re.compile(r"[a-z][a-z0-9_]*")
RESERVED_COLUMNS = frozenset({"app_token", "cohort_date", "period", "period_unit", "dimension_key", "currency"})

SECTION = th.Property(
    "adjust_report",
    th.ObjectType(
        th.Property(
            "api_token",
            th.StringType,
            required=True,
            secret=True,
            description="API token (the dashboard's, as for the KPI Service), sent as `Authorization: Bearer ...`.",
        ),
        th.Property("app_tokens", LIST, required=True, description="App tokens; one partition each."),
        th.Property(
            "cohort_metrics",
            LIST,
            description="Metrics by day since install, asked as `{metric}_d{N}` for each of `days`; one column "
            "each in the record of period N. Default retained_users, retention_rate, revenue_total (cumulative).",
        ),
        th.Property(
            "metrics",
            LIST,
            description="Metrics of the whole cohort, the same in each of its records. Default cohort_size, "
            "network_cost (the ad spend the KPI Service no longer reports).",
        ),
        th.Property(
            "days",
            th.ArrayType(th.IntegerType),
            description="Days since install (0-365). Default 0, 1, 2, 3, 7, 14, 30.",
        ),
        th.Property(
            "dimensions",
            LIST,
            description="Report dimensions to split cohorts by, e.g. country_code, network, campaign, os_name; "
            "app_token and day are always added. Default country_code, network.",
        ),
        th.Property(
            "cohort_maturity",
            th.StringType(allowed_values=list(settings.COHORT_MATURITIES)),
            default="immature",
            description="immature: days in progress too (asked again until complete); mature: complete days only.",
        ),
        th.Property("currency", th.StringType, default="USD", description="ISO 4217 code money is converted to."),
        th.Property(
            "attribution_source",
            th.StringType(allowed_values=list(settings.ATTRIBUTION_SOURCES)),
            description="first: activity to the install source; dynamic (Adjust's default): split with "
            "reattribution sources.",
        ),
        th.Property("attribution_type", th.StringType(allowed_values=list(settings.ATTRIBUTION_TYPES))),
        th.Property("ad_spend_mode", th.StringType(allowed_values=list(settings.AD_SPEND_MODES))),
        th.Property("reattributed", th.StringType(allowed_values=list(settings.REPORT_REATTRIBUTED))),
        th.Property("utc_offset", th.StringType, description="[+-]HH:MM"),
        th.Property("sandbox", th.BooleanType, description="Sandbox data instead of production."),
        *vendor_properties(base_url=settings.REPORT_BASE_URL, rate_limits=settings.REPORT_RATE_LIMITS),
    ),
    description="Adjust Report Service (adjust_report_cohorts). Absent: no Report Service stream.",
)


def validate(config: Mapping[str, Any]) -> list[str]:
    section = config.get("adjust_report") or {}
    problems = common_problems(config, "adjust_report", non_empty=("app_tokens", "cohort_metrics", "days"))

    def key(*path: str) -> str:
        return config_key("adjust_report", *path)

    columns: dict[str, str] = {}
    for list_key in ("metrics", "cohort_metrics"):
        for name in section.get(list_key) or []:
            if not NAME.fullmatch(str(name)):
                problems.append(f"{key(list_key)}: {name!r} is not a metric id (lower-case letters, digits and _)")
            elif re.search(r"_d\d+$", str(name)):
                problems.append(f"{key(list_key)}: {name!r} names one day; give the metric and list days in 'days'")
            elif name in RESERVED_COLUMNS or name in ROW_METADATA:
                problems.append(f"{key(list_key)}: {name!r} is a column the tap fills itself")
            elif name in columns:
                problems.append(f"{key(list_key)}: {name!r} is already in {columns[name]}")
            else:
                columns[name] = list_key
    for day in section.get("days") or []:
        if isinstance(day, int) and not 0 <= day <= settings.REPORT_MAX_DAY:
            problems.append(f"{key('days')}: {day} must be from 0 to {settings.REPORT_MAX_DAY}")
    for name in section.get("dimensions") or []:
        if name in settings.REPORT_DATE_DIMENSIONS:
            problems.append(f"{key('dimensions')}: {name!r} is a date dimension; cohorts are by day (always added)")
        elif not NAME.fullmatch(str(name)):
            problems.append(f"{key('dimensions')}: {name!r} is not a dimension (lower-case letters, digits and _)")
        elif name in columns or name in RESERVED_COLUMNS - set(settings.REPORT_PLACED_DIMENSIONS):
            problems.append(f"{key('dimensions')}: {name!r} would share its column with a metric or the tap's own")
    currency = section.get("currency")
    if currency is not None and not re.fullmatch(r"[A-Z]{3}", str(currency)):
        problems.append(f"{key('currency')}: {currency!r} is not an ISO 4217 code (three capital letters)")
    offset = section.get("utc_offset")
    if offset is not None and not re.fullmatch(r"[+-]\d{2}:\d{2}", str(offset)):
        problems.append(f"{key('utc_offset')}: {offset!r} is not in [+-]HH:MM format")
    return problems


def streams(tap: Tap, section: Mapping[str, Any], runtime: VendorRuntime, client: VendorClient) -> list[Stream]:
    return [AdjustReportCohortsStream(tap, client=client, runtime=runtime, section=section)]


VENDOR = Vendor(
    name="adjust_report",
    section=SECTION,
    base_url=settings.REPORT_BASE_URL,
    rate_limits=settings.REPORT_RATE_LIMITS,
    validate=validate,
    secret_key="api_token",
    auth_headers=lambda token: {"Authorization": f"Bearer {token}"},
    hints=settings.REPORT_HINTS,
    streams=streams,
)
