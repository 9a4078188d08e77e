"""AppLovin MAX Cohort API limits and vocabulary, from `vendor-docs/applovin-max-cohort-api.txt`."""

from __future__ import annotations

from dataclasses import dataclass

from tap_cohorts.core.http import RateLimit

BASE_URL = "https://r.applovin.com"

# The document states no rate limit; one request a second is a polite default that users can raise.
RATE_LIMITS = [RateLimit(1, 1)]
# "This API has a request window of 45 days. Make sure the date parameters are within the last 45 days."
# The last 45 days, today included, start 44 days ago; one request covers them all.
HISTORY_DAYS = 44
MAX_WINDOW_DAYS = 45
DEFAULT_PAGE_SIZE = 10_000

DIMENSIONS = ("application", "package_name", "platform", "country")
DATE_COLUMN = "day"
COHORT_COLUMNS = {"installs": "installs"}

SHORT_PERIODS = (0, 1, 2, 3, 4, 5, 6, 7, 10, 14, 18, 21, 24, 27, 30, 45)
LONG_PERIODS = (*SHORT_PERIODS, 60, 75, 90)


@dataclass(frozen=True)
class Report:
    """One cohort endpoint: the metrics it reports per period (`{metric}_{period}` columns)."""

    stream_name: str
    path: str
    periods: tuple[int, ...]
    metrics: tuple[str, ...]
    integer_metrics: tuple[str, ...] = ()


REPORTS = (
    Report(
        "applovin_cohort_revenue",
        "/maxCohort",
        SHORT_PERIODS,
        (
            "pub_revenue",
            "iap_pub_revenue",
            "ads_pub_revenue",
            "reward_pub_revenue",
            "inter_pub_revenue",
            "banner_pub_revenue",
            "mrec_pub_revenue",
            "rpi",
            "iap_rpi",
            "ads_rpi",
            "reward_rpi",
            "inter_rpi",
            "banner_rpi",
            "mrec_rpi",
        ),
    ),
    Report(
        "applovin_cohort_impressions",
        "/maxCohort/imp",
        LONG_PERIODS,
        (
            "user_count",
            "imp",
            "imp_per_user",
            "inter_imp",
            "inter_imp_per_user",
            "reward_imp",
            "reward_imp_per_user",
            "banner_imp",
            "banner_imp_per_user",
            "mrec_imp",
            "mrec_imp_per_user",
        ),
        integer_metrics=("user_count", "imp", "inter_imp", "reward_imp", "banner_imp", "mrec_imp"),
    ),
    Report(
        "applovin_cohort_sessions",
        "/maxCohort/session",
        LONG_PERIODS,
        ("daily_usage", "session_count", "user_count", "session_length", "retention"),
        integer_metrics=("session_count", "user_count"),
    ),
)

HINTS = {
    400: "check start/end (within the last 45 days), columns and filters",
    401: "the Report Key (api_key) was refused: use the Report Key from the MAX dashboard (Account > Keys)",
    403: "the Report Key (api_key) has no access to this report",
    404: "check base_url: the cohort endpoints are /maxCohort, /maxCohort/imp and /maxCohort/session",
}
