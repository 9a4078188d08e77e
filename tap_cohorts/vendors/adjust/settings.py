"""Adjust KPI Service cohort endpoints: limits and vocabulary, from `vendor-docs/adjust-cohort-endpoints.txt`."""

from __future__ import annotations

from tap_cohorts.core.http import RateLimit

BASE_URL = "https://api.adjust.com"
APP_PATH = "/kpis/v1/{app_token}/cohorts"
TRACKER_PATH = "/kpis/v1/{app_token}/trackers/{tracker_token}/cohorts"
APPS_PATH = "/kpis/v1/{app_tokens}/cohorts"

# The document states no rate limit, no longest range and no oldest date: a polite default rate, and windows
# of a month so that one answer stays small.
RATE_LIMITS = [RateLimit(5, 1)]
MAX_WINDOW_DAYS = 31

COHORT_PERIODS = ("day", "week", "month")
# The grouping level that puts the cohort date in every result, per cohort period.
DATE_LEVELS = {"day": "days", "week": "weeks", "month": "months"}
PERIODS_LEVEL = "periods"
ATTRIBUTION_TYPES = ("click", "impression", "all")
REATTRIBUTED = ("true", "false", "default")

# Lists in the nested result_set, by the singular name their identity columns take.
LEVEL_NAMES = {
    "apps": "app",
    "trackers": "tracker",
    "events": "event",
    "countries": "country",
    "os_names": "os_name",
    "device_types": "device_type",
    "dates": "date",
    "days": "date",
    "weeks": "date",
    "months": "date",
    "periods": "period",
}
# Levels whose identity is their own value (`{"country": "de"}` or `{"token": "de"}`), not a token and a name.
VALUE_LEVELS = frozenset({"country", "os_name", "device_type"})
DATE_LIST_KEYS = frozenset({"dates", "days", "weeks", "months"})

HINTS = {
    400: "the request is malformed: check the dates, kpis, grouping and filters in config['adjust']",
    401: "authentication failed: check config['adjust']['api_token'] (sent as `Authorization: Token token=...`)",
    403: "the token has no access to these KPIs, this time period or this cohort period",
    404: "no such app or tracker: check config['adjust']['app_tokens'] and ['tracker_tokens']",
}
