"""Branch Cohort Exports: config section, rules and streams."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from singer_sdk import typing as th

from tap_cohorts.core.config import VendorRuntime, common_problems, config_key, parse_date, vendor_properties
from tap_cohorts.core.http import VendorClient
from tap_cohorts.core.vendor import Vendor
from tap_cohorts.core.windows import utc_today
from tap_cohorts.vendors.branch import settings
from tap_cohorts.vendors.branch.streams import BranchCohortStream, full_dimension

if TYPE_CHECKING:
    from singer_sdk import Stream, Tap

SECTION = th.Property(
    "branch",
    th.ObjectType(
        th.Property(
            "access_token",
            th.StringType,
            required=True,
            secret=True,
            description="API key (Access Token), sent as the `Access-Token` header.",
        ),
        th.Property(
            "organization_id",
            th.StringType,
            description="Organization id: the export covers every app of the organization. Give it or app_id.",
        ),
        th.Property(
            "app_id",
            th.StringType,
            description="Branch app id: the export covers this app only (sent instead of organization_id). Several "
            "apps: one Meltano plugin per app (inherit_from), each its own state.",
        ),
        th.Property(
            "enable_install_recalculation",
            th.BooleanType,
            description="Branch removes unattributed installs that a later attributed install duplicates (users "
            "who opt in to ATT after an ad). Default Branch's: false.",
        ),
        th.Property(
            "data_sources",
            th.ArrayType(th.StringType(allowed_values=list(settings.DATA_SOURCES))),
            default=list(settings.DATA_SOURCES),
            description="install_cohort and/or reengagement_cohort; one stream each.",
        ),
        th.Property(
            "dimensions",
            th.ArrayType(th.StringType),
            description="Dimensions; a name without an activity prefix (touch_data_tilde_campaign) gets each data "
            "source's prefix, user_data_* and app_id are used as they are. The date dimension is always added.",
        ),
        th.Property("measures", th.ArrayType(th.StringType), required=True, description="Measures (3 per job)."),
        th.Property("granularity", th.StringType(allowed_values=list(settings.GRANULARITIES)), default="day"),
        th.Property(
            "granularity_band_count",
            th.IntegerType,
            default=settings.DEFAULT_BAND_COUNT,
            description="Bands (periods) since the cohort event.",
        ),
        th.Property("cumulative", th.BooleanType, description="Each band sums the preceding ones."),
        th.Property("per_user", th.BooleanType, description="Each band divided by the user count."),
        th.Property("filters", th.ObjectType(additional_properties=True), description="{dimension: [values]}."),
        th.Property("poll_interval_seconds", th.NumberType, default=5, description="First wait before a poll."),
        th.Property("poll_max_interval_seconds", th.NumberType, default=60, description="Longest wait between polls."),
        th.Property("job_timeout_seconds", th.NumberType, default=1800, description="A job's total time limit."),
        *vendor_properties(base_url=settings.BASE_URL, rate_limits=settings.RATE_LIMITS),
    ),
    description="Branch Cohort Exports. Absent: no Branch streams.",
)


def validate(config: Mapping[str, Any]) -> list[str]:
    section = config.get("branch") or {}
    problems = common_problems(
        config,
        "branch",
        non_empty=("data_sources", "measures"),
        positive=("poll_interval_seconds", "poll_max_interval_seconds", "job_timeout_seconds"),
    )

    def key(*path: str) -> str:
        return config_key("branch", *path)

    if not section.get("organization_id") and not section.get("app_id"):
        problems.append(f"{key('organization_id')}: give organization_id or app_id (Branch needs one of them)")
    sources = section.get("data_sources", list(settings.DATA_SOURCES))
    dimensions = [str(d) for d in section.get("dimensions") or []]
    for name in dimensions:
        if not any(full_dimension(name, source) for source in sources if source in settings.DATA_SOURCES):
            problems.append(f"{key('dimensions')}: {name!r} belongs to a data source that is not in data_sources")
    for source in sources:
        if source not in settings.DATA_SOURCES:
            continue
        full = {full_dimension(name, source) for name in dimensions} - {None}
        full.add(settings.DATA_SOURCES[source] + settings.DATE_DIMENSION)
        if len(full) > settings.MAX_DIMENSIONS:
            problems.append(
                f"{key('dimensions')}: {len(full)} dimensions for {source} (the date dimension included); "
                f"Branch allows at most {settings.MAX_DIMENSIONS}"
            )
    bands = section.get("granularity_band_count")
    if isinstance(bands, int) and bands < 1:
        problems.append(f"{key('granularity_band_count')}: {bands} must be 1 or more")
    end = config.get("end_date")
    if end:
        try:
            oldest = utc_today() - dt.timedelta(days=settings.HISTORY_DAYS)
            if parse_date(end) < oldest:
                problems.append(
                    f"{config_key('end_date')}: {end} is beyond Branch's 24 months of lookback (oldest {oldest})"
                )
        except ValueError:
            pass
    return problems


def streams(tap: Tap, section: Mapping[str, Any], runtime: VendorRuntime, client: VendorClient) -> list[Stream]:
    return [
        BranchCohortStream(tap, data_source=source, client=client, runtime=runtime, section=section)
        for source in section.get("data_sources", list(settings.DATA_SOURCES))
    ]


VENDOR = Vendor(
    name="branch",
    section=SECTION,
    base_url=settings.BASE_URL,
    rate_limits=settings.RATE_LIMITS,
    validate=validate,
    secret_key="access_token",
    auth_headers=lambda token: {"Access-Token": token},
    hints=settings.HINTS,
    streams=streams,
)
