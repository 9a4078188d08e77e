"""Branch Cohort Exports: limits and vocabulary, from `vendor-docs/branch-cohort-exports.md`."""

from __future__ import annotations

from tap_cohorts.core.http import RateLimit

BASE_URL = "https://api2.branch.io"
EXPORT_PATH = "/v2/analytics"
STATUS_PATH = "/v2/analytics/{job_id}"

# "2 requests per second, 5 requests per minute, 150 requests per hour" (per account; polls count too).
RATE_LIMITS = [RateLimit(2, 1), RateLimit(5, 60), RateLimit(150, 3600)]
# "Max number of days that can be queried at a time: 90".
MAX_WINDOW_DAYS = 90
# "Max month lookback: 24".
HISTORY_DAYS = 730
# "Max number of records returned by API: 50,000" (and `limit`: "Min: 50000, Max: 50000").
ROW_LIMIT = 50_000
# "Max number of dimensions: 11" (the tap's date dimension included).
MAX_DIMENSIONS = 11
# The document says 5 at the top and "Limit is 3" for `measures`: jobs carry at most 3 measures each.
MEASURES_PER_JOB = 3

DATA_SOURCES = {
    "install_cohort": "install_activity_",
    "reengagement_cohort": "reengagement_activity_",
}
STREAM_NAMES = {
    "install_cohort": "branch_install_cohorts",
    "reengagement_cohort": "branch_reengagement_cohorts",
}
# Dimensions used as they are, whatever the data source.
UNPREFIXED = ("user_data_", "app_id")
DATE_DIMENSION = "timezone_adjusted_day"
GRANULARITIES = ("day", "week", "month")
# Days in a band of each granularity when waiting for it to be complete (a month at its longest).
GRANULARITY_DAYS = {"day": 1, "week": 7, "month": 31}
DEFAULT_BAND_COUNT = 30

HINTS = {
    400: "the export request was refused: check dimensions, measures, dates and filters in config['branch']",
    401: "the Access-Token was refused: use the API key (Access Token) of a user with Aggregate Data and Export access",
    403: "the user needs both Aggregate Data and Export access at the Organization level",
    404: "check config['branch']['organization_id'] or ['app_id'], and base_url",
}
