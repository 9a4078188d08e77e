"""AppsFlyer Cohort API: config section, rules and streams."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from singer_sdk import typing as th

from tap_cohorts.core.config import VendorRuntime, common_problems, config_key, vendor_properties
from tap_cohorts.core.http import VendorClient
from tap_cohorts.core.vendor import Vendor
from tap_cohorts.vendors.appsflyer import settings
from tap_cohorts.vendors.appsflyer.streams import AppsFlyerCohortsStream

if TYPE_CHECKING:
    from singer_sdk import Stream, Tap

SECTION = th.Property(
    "appsflyer",
    th.ObjectType(
        th.Property("api_token", th.StringType, required=True, secret=True, description="Cohort API token."),
        th.Property("app_ids", th.ArrayType(th.StringType), required=True, description="App ids, as in the dashboard."),
        th.Property(
            "cohort_types",
            th.ArrayType(th.StringType(allowed_values=list(settings.COHORT_TYPES))),
            default=["user_acquisition"],
            description="Cohort (conversion) types; one call each.",
        ),
        th.Property(
            "groupings",
            th.ArrayType(th.StringType(allowed_values=[*settings.GROUPINGS, settings.DATE_GROUPING])),
            description="Up to 6 grouping dimensions; `date` is always added.",
        ),
        th.Property("kpis", th.ArrayType(th.StringType), required=True, description="KPIs; one call each."),
        th.Property(
            "aggregation_type",
            th.StringType(allowed_values=list(settings.AGGREGATION_TYPES)),
            default="on_day",
        ),
        th.Property(
            "periods",
            th.ArrayType(th.IntegerType),
            description="Cohort days 0-180. Default 0-30, 60, 90, 180.",
        ),
        th.Property("per_user", th.BooleanType, description="Divide KPI functions by the cohort's users."),
        th.Property("min_cohort_size", th.IntegerType, description="Leave out cohorts with fewer users (1 or more)."),
        th.Property("partial_data", th.BooleanType, description="Include incomplete days (cumulative only)."),
        th.Property("preferred_currency", th.BooleanType, description="Revenue in the app's currency, not USD."),
        th.Property("preferred_timezone", th.BooleanType, description="Dates in the app's time zone, not UTC."),
        th.Property("filters", th.ObjectType(additional_properties=True), description="Passed through as `filters`."),
        th.Property(
            "fraud_window",
            th.BooleanType,
            default=True,
            description="Treat cohorts as provisional (`is_final` false) until Protect360's post-attribution fraud "
            "window of their install month closes (the 7th of the next month), and sync them once more then.",
        ),
        *vendor_properties(base_url=settings.BASE_URL, rate_limits=settings.RATE_LIMITS),
    ),
    description="AppsFlyer Cohort API. Absent: no AppsFlyer streams.",
)


def validate(config: Mapping[str, Any]) -> list[str]:
    section = config.get("appsflyer") or {}
    problems = common_problems(config, "appsflyer", non_empty=("app_ids", "kpis", "cohort_types"))

    def key(*path: str) -> str:
        return config_key("appsflyer", *path)

    groupings = [g for g in section.get("groupings") or [] if g != settings.DATE_GROUPING]
    if len(groupings) > settings.MAX_GROUPINGS:
        problems.append(
            f"{key('groupings')}: {groupings} has {len(groupings)} groupings; at most "
            f"{settings.MAX_GROUPINGS} are allowed because the tap adds `date` (the API takes 7)"
        )
    if len(set(groupings)) != len(groupings):
        problems.append(f"{key('groupings')}: {groupings} names a grouping twice")
    if "cohort_type" in groupings:
        problems.append(
            f"{key('groupings')}: 'cohort_type' is already a key column of every record; "
            "choose cohort types with cohort_types instead"
        )
    for period in section.get("periods") or []:
        if isinstance(period, int) and not 0 <= period <= settings.MAX_PERIOD:
            problems.append(f"{key('periods')}: {period} is outside 0-{settings.MAX_PERIOD}")
    size = section.get("min_cohort_size")
    if isinstance(size, int) and size < 1:
        problems.append(f"{key('min_cohort_size')}: {size} must be 1 or more (the API refuses 0)")
    aggregation = section.get("aggregation_type", "on_day")
    if section.get("partial_data") and aggregation != "cumulative":
        problems.append(
            f"{key('partial_data')}: true is only allowed with aggregation_type 'cumulative' (got {aggregation!r})"
        )
    kpis = [str(k) for k in section.get("kpis") or []]
    if "unified" in (section.get("cohort_types") or []) and "uninstalls" in [k.lower() for k in kpis]:
        problems.append(f"{key('kpis')}: 'uninstalls' is not available with cohort type 'unified'")
    if len(set(kpis)) != len(kpis):
        problems.append(f"{key('kpis')}: {kpis} names a KPI twice")
    if "period" in (section.get("filters") or {}):
        problems.append(f"{key('filters', 'period')}: set cohort days with {key('periods')} instead")
    return problems


def streams(tap: Tap, section: Mapping[str, Any], runtime: VendorRuntime, client: VendorClient) -> list[Stream]:
    if section.get("partial_data") and runtime.bounds.lookback_days < settings.FINAL_AFTER_DAYS:
        tap.logger.warning(
            "appsflyer: partial_data is on and lookback_days is %d: AppsFlyer's last %d days are not final (cost "
            "arrives every few hours), so the values of the newest cohorts will not be synced again once they are; "
            "set lookback_days to %d or more",
            runtime.bounds.lookback_days,
            settings.FINAL_AFTER_DAYS,
            settings.FINAL_AFTER_DAYS,
        )
    return [AppsFlyerCohortsStream(tap, client=client, runtime=runtime, section=section)]


VENDOR = Vendor(
    name="appsflyer",
    section=SECTION,
    base_url=settings.BASE_URL,
    rate_limits=settings.RATE_LIMITS,
    validate=validate,
    secret_key="api_token",
    auth_headers=lambda token: {"Authorization": f"Bearer {token}", "Accept": "application/json"},
    hints=settings.HINTS,
    streams=streams,
)
