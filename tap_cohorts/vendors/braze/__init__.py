"""Braze export endpoints: config section, rules and streams."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from singer_sdk import typing as th

from tap_cohorts.core.config import VendorRuntime, common_problems, config_key, vendor_properties
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
        th.Property(
            "fields_to_export",
            th.ArrayType(th.StringType),
            description="User fields to export (braze_id is always added); required with export_segment_ids, as "
            "Braze requires it since 2021.",
        ),
        th.Property(
            "output_format",
            th.StringType(allowed_values=list(settings.OUTPUT_FORMATS)),
            description="zip (Braze's default) or gzip, for exports written to your own cloud storage; the tap "
            "reads either from a download URL.",
        ),
        th.Property(
            "news_feed",
            th.BooleanType,
            default=True,
            description="The News Feed streams (braze_cards, braze_card_details, braze_card_data_series). "
            "DEPRECATED BY BRAZE (News Feed is replaced by Content Cards); false leaves them out.",
        ),
        th.Property("export_poll_interval_seconds", th.NumberType, default=10, description="First wait for the file."),
        th.Property(
            "export_poll_max_interval_seconds", th.NumberType, default=120, description="Longest wait between polls."
        ),
        th.Property("export_timeout_seconds", th.NumberType, default=3600, description="An export's total time limit."),
        *vendor_properties(
            base_url=settings.BASE_URL, rate_limits=settings.RATE_LIMITS, endpoint_budgets=settings.ENDPOINT_BUDGETS
        ),
    ),
    description="Braze export endpoints. Absent: no Braze streams.",
)


def validate(config: Mapping[str, Any]) -> list[str]:
    section = config.get("braze") or {}
    problems = common_problems(
        config,
        "braze",
        non_empty=("export_segment_ids", "fields_to_export"),
        positive=("export_poll_interval_seconds", "export_poll_max_interval_seconds", "export_timeout_seconds"),
    )
    if section.get("export_segment_ids") and "fields_to_export" not in section:
        problems.append(
            f"{config_key('braze', 'fields_to_export')}: required with export_segment_ids (Braze refuses an export "
            'without it since December 2021), e.g. ["external_id", "email", "custom_attributes"]'
        )
    return problems


def streams(tap: Tap, section: Mapping[str, Any], runtime: VendorRuntime, client: VendorClient) -> list[Stream]:
    news_feed = section.get("news_feed", True)
    if news_feed:
        tap.logger.warning(
            "braze: the News Feed streams (braze_cards, braze_card_details, braze_card_data_series) read endpoints "
            "Braze has deprecated (News Feed is replaced by Content Cards); set config['braze']['news_feed'] to false "
            "to leave them out"
        )
    classes = [
        cls
        for cls in STREAM_CLASSES
        if (cls is not BrazeSegmentUsersStream or section.get("export_segment_ids"))
        and (news_feed or not getattr(getattr(cls, "endpoint", None), "news_feed", False))
    ]
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
    endpoint_budgets=settings.ENDPOINT_BUDGETS,
    honours_rate_headers=True,
)
