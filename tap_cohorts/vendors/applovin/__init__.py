"""AppLovin MAX Cohort API: config section, rules and streams."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from singer_sdk import typing as th

from tap_cohorts.core.config import VendorRuntime, common_problems, config_key, vendor_properties
from tap_cohorts.core.http import VendorClient
from tap_cohorts.core.vendor import Vendor
from tap_cohorts.vendors.applovin import settings
from tap_cohorts.vendors.applovin.streams import AppLovinCohortStream

if TYPE_CHECKING:
    from singer_sdk import Stream, Tap

SECTION = th.Property(
    "applovin",
    th.ObjectType(
        th.Property(
            "api_key",
            th.StringType,
            required=True,
            secret=True,
            description="Report Key, sent as the `api_key` query parameter (redacted from every log and error).",
        ),
        th.Property(
            "columns",
            th.ArrayType(th.StringType(allowed_values=list(settings.DIMENSIONS))),
            description="Dimension columns. Default: application, package_name, platform, country.",
        ),
        th.Property(
            "periods",
            th.ArrayType(th.IntegerType),
            description="Cohort days among 0-7, 10, 14, 18, 21, 24, 27, 30, 45 (and 60, 75, 90 for impressions "
            "and sessions). Default: all.",
        ),
        th.Property(
            "filters",
            th.ObjectType(additional_properties=True),
            description='Column filters, e.g. {"platform": "ios"}, sent as filter_<column>.',
        ),
        th.Property(
            "page_size",
            th.IntegerType,
            default=settings.DEFAULT_PAGE_SIZE,
            description="Rows per request (limit/offset paging).",
        ),
        *vendor_properties(base_url=settings.BASE_URL, rate_limits=settings.RATE_LIMITS),
    ),
    description="AppLovin MAX Cohort API. Absent: no AppLovin streams.",
)


def validate(config: Mapping[str, Any]) -> list[str]:
    section = config.get("applovin") or {}
    problems = common_problems(config, "applovin", non_empty=("periods",))
    columns = section.get("columns")
    if columns is not None and len(set(columns)) != len(columns):
        problems.append(f"{config_key('applovin', 'columns')}: {columns} names a column twice")
    periods = section.get("periods")
    if periods:
        for period in periods:
            if period not in settings.LONG_PERIODS:
                problems.append(
                    f"{config_key('applovin', 'periods')}: {period} is not a period MAX reports "
                    f"(one of {', '.join(map(str, settings.LONG_PERIODS))})"
                )
    page_size = section.get("page_size")
    if isinstance(page_size, int) and page_size < 1:
        problems.append(f"{config_key('applovin', 'page_size')}: {page_size} must be 1 or more")
    return problems


def streams(tap: Tap, section: Mapping[str, Any], runtime: VendorRuntime, client: VendorClient) -> list[Stream]:
    return [
        AppLovinCohortStream(tap, report=report, client=client, runtime=runtime, section=section)
        for report in settings.REPORTS
    ]


VENDOR = Vendor(
    name="applovin",
    section=SECTION,
    base_url=settings.BASE_URL,
    rate_limits=settings.RATE_LIMITS,
    validate=validate,
    secret_key="api_key",
    auth_params=lambda key: {"api_key": key},
    hints=settings.HINTS,
    streams=streams,
)
