"""Adjust KPI Service cohort endpoints: limits and vocabulary, from `vendor-docs/adjust-cohort-endpoints.txt`."""

from __future__ import annotations

from dataclasses import dataclass

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
