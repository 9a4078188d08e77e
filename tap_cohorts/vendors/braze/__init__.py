"""Braze export endpoints: config section, rules and streams."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from singer_sdk import typing as th

from tap_cohorts.core.config import VendorRuntime, common_problems, vendor_properties
from tap_cohorts.core.http import VendorClient
from tap_cohorts.core.vendor import Vendor
from tap_cohorts.vendors.braze import settings
from tap_cohorts.vendors.braze.streams import STREAM_CLASSES, BrazeSegmentUsersStream

if TYPE_CHECKING:
    from singer_sdk import Stream, Tap

SECTION = th.Property(
    "braze",
    th.ObjectType(
        th.Property("api_key", th.StringType, required=True, secret=True, description="REST API key, sent as Bearer."),
        th.Property("app_group_id", th.StringType, description="App group id, sent where the document asks for it."),
        th.Property("app_id", th.StringType, description="Limit KPI, session, event and purchase series to one app."),
        th.Property("include_archived", th.BooleanType, description="Include archived campaigns and cards."),
        th.Property(
            "data_series_unit",
            th.StringType(allowed_values=list(settings.UNITS)),
            description="day or hour, for the series that take a unit (default day).",
        ),
        th.Property(
            "export_segment_ids",
            th.ArrayType(th.StringType),
            description="Segments whose users to export; enables braze_segment_users.",
        ),
        th.Property("fields_to_export", th.ArrayType(th.StringType), description="User fields to export."),
        th.Property("export_poll_interval_seconds", th.NumberType, default=10, description="First wait for the file."),
        th.Property(
            "export_poll_max_interval_seconds", th.NumberType, default=120, description="Longest wait between polls."
        ),
        th.Property("export_timeout_seconds", th.NumberType, default=3600, description="An export's total time limit."),
        *vendor_properties(base_url=settings.BASE_URL, rate_limits=settings.RATE_LIMITS),
    ),
    description="Braze export endpoints. Absent: no Braze streams.",
)


def validate(config: Mapping[str, Any]) -> list[str]:
    return common_problems(
        config,
        "braze",
        non_empty=("export_segment_ids",),
        positive=("export_poll_interval_seconds", "export_poll_max_interval_seconds", "export_timeout_seconds"),
    )


def streams(tap: Tap, section: Mapping[str, Any], runtime: VendorRuntime, client: VendorClient) -> list[Stream]:
    classes = [c for c in STREAM_CLASSES if c is not BrazeSegmentUsersStream or section.get("export_segment_ids")]
    return [cls(tap, client=client, runtime=runtime, section=section) for cls in classes]


VENDOR = Vendor(
    name="braze",
    section=SECTION,
    base_url=settings.BASE_URL,
    rate_limits=settings.RATE_LIMITS,
    validate=validate,
    secret_key="api_key",
    auth_headers=lambda key: {"Authorization": f"Bearer {key}"},
    hints=settings.HINTS,
    streams=streams,
)
