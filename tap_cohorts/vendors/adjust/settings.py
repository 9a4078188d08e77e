"""Adjust KPI Service cohort endpoints: limits and vocabulary, from `vendor-docs/adjust-cohort-endpoints.txt`."""

from __future__ import annotations

from dataclasses import dataclass

from tap_cohorts.core.http import RateLimit

BASE_URL = "https://api.adjust.com"
APP_PATH = "/kpis/v1/{app_token}/cohorts"
TRACKER_PATH = "/kpis/v1/{app_token}/trackers/{tracker_token}/cohorts"
APPS_PATH = "/kpis/v1/{app_tokens}/cohorts"

# Adjust calls the KPI Service legacy and points customers to the Report Service; its cost KPIs return 0 since
# 25 April 2023 ("Cost aggregation deprecation"). Said in discovery (each stream's schema), the config and the log.
DEPRECATION = (
    "DEPRECATED: Adjust's legacy KPI Service (Adjust points customers to the Report Service, and its cost KPIs return "
    "0 since April 2023); use adjust_report_cohorts (config section adjust_report) instead"
)

# The document states no rate limit, no longest range and no oldest date: a polite default rate, and windows
# of a month so that one answer stays small.
RATE_LIMITS = [RateLimit(5, 1)]
MAX_WINDOW_DAYS = 31

COHORT_PERIODS = ("day", "week", "month")
# The last period a cohort is asked again for until it is complete (`max_period`); the document states no number
# of periods, so these follow the sandbox (and a month of days, a quarter of weeks, half a year of months).
DEFAULT_MAX_PERIOD = {"day": 30, "week": 12, "month": 6}
# The grouping level that puts the cohort date in every result, per cohort period.
DATE_LEVELS = {"day": "days", "week": "weeks", "month": "months"}
PERIODS_LEVEL = "periods"
ATTRIBUTION_TYPES = ("click", "impression", "all")
REATTRIBUTED = ("true", "false", "default")


@dataclass(frozen=True)
class Level:
    """A grouping level: the list in the nested result_set, and what each field of its objects *is*.

    `identity` fields tell one member from another and go into `dimension_key`; `labels` describe a member (a
    tracker's name, an app's currency) and are columns outside the key, so a renamed tracker keeps its key. A
    `value` level's identity is its own value (`{"os_name": "ios"}`, or `{"token": "ios"}`), in a column named
    after the level (`os_name`); the others' fields are `{singular}_{field}` (`tracker_token`, `tracker_name`).
    """

    singular: str
    identity: tuple[str, ...] = ("token",)
    labels: tuple[str, ...] = ("name",)
    value: bool = False


def value_level(singular: str) -> Level:
    return Level(singular, identity=(singular, "token"), labels=(), value=True)


# Every level of Adjust's KPI Service grouping reference (adjust/dev-docs, docs/api/kpi-service/grouping.md):
# tracker levels (apps, trackers, networks, campaigns, adgroups, creatives), events, and the other options
# (countries, region -> `regions`, device_types, os_names, partners). A level not here is undocumented: each of
# its fields counts as identity (a key too many never merges two rows; a key too few does).
LEVELS: dict[str, Level] = {
    "apps": Level("app", labels=("name", "currency")),
    "trackers": Level("tracker"),
    "networks": Level("network"),
    "campaigns": Level("campaign"),
    "adgroups": Level("adgroup"),
    "creatives": Level("creative"),
    "events": Level("event"),
    "countries": value_level("country"),
    "regions": value_level("region"),
    "device_types": value_level("device_type"),
    "os_names": value_level("os_name"),
    "partners": value_level("partner"),
}
# The grouping options whose list in the answer has another name (`region` answers as `regions`).
ANSWER_LISTS = {"region": "regions"}
# The date and period levels: their objects carry the cohort date and the period.
DATE_LEVEL_LISTS = frozenset({"dates", "days", "weeks", "months"})
PERIODS_LIST = "periods"

HINTS = {
    400: "the request is malformed: check the dates, kpis, grouping and filters in config['adjust']",
    401: "authentication failed: check config['adjust']['api_token'] (sent as `Authorization: Token token=...`)",
    403: "the token has no access to these KPIs, this time period or this cohort period",
    404: "no such app or tracker: check config['adjust']['app_tokens'] and ['tracker_tokens']",
}


# The Report Service (`adjust_report` section), from Adjust's "Reports endpoint" and "Report service API
# authentication" (dev.adjust.com/en/api/rs-api/...) and the Datascape metrics glossary (help.adjust.com).
REPORT_BASE_URL = "https://automate.adjust.com"
REPORT_PATH = "/reports-service/report"
# The document's only limit is 50 simultaneous requests (429 beyond): the tap asks one at a time per process,
# at the KPI Service's polite rate; windows of a month, as there.
REPORT_RATE_LIMITS = [RateLimit(5, 1)]
REPORT_MAX_WINDOW_DAYS = 31
# The dimensions the tap places itself: the app (the partition) and the cohort day. Other date dimensions would
# split a cohort into hours or merge days into weeks: refused.
REPORT_PLACED_DIMENSIONS = ("app_token", "day")
REPORT_DATE_DIMENSIONS = frozenset({"hour", "week", "month", "year", "quarter"})
REPORT_DEFAULT_DIMENSIONS = ("country_code", "network")
# Metrics by day since install, asked as `{metric}_d{N}` for each of `days`, one column each in the record of
# period N; and metrics of the cohort as a whole (the same in every period's record).
REPORT_DEFAULT_COHORT_METRICS = ("retained_users", "retention_rate", "revenue_total")
REPORT_DEFAULT_METRICS = ("cohort_size", "network_cost")
REPORT_DEFAULT_DAYS = (0, 1, 2, 3, 7, 14, 30)
# The document states no last day; a cohort asked daily for a year is the longest worth it.
REPORT_MAX_DAY = 365
REPORT_INTEGER_METRICS = frozenset({"cohort_size", "installs", "retained_users", "sessions", "clicks"})
COHORT_MATURITIES = ("immature", "mature")
ATTRIBUTION_SOURCES = ("first", "dynamic")
AD_SPEND_MODES = ("adjust", "network", "mixed")
REPORT_REATTRIBUTED = ("all", "false", "true")

REPORT_HINTS = {
    400: "the request was refused: check config['adjust_report'] (dimensions, metrics, cohort_metrics, currency)",
    401: "authentication failed: check config['adjust_report']['api_token'] (sent as `Authorization: Bearer ...`)",
    403: "the token has no access to these metrics or apps",
    429: "more than 50 simultaneous requests on this token: lower the number of tap processes sharing it",
}
