"""AppsFlyer Cohort API limits and vocabulary, from `vendor-docs/appsflyer-cohort-api.txt`."""

from __future__ import annotations

import datetime as dt

from tap_cohorts.core.http import RateLimit

BASE_URL = "https://hq1.appsflyer.com"
PATH = "/api/cohorts/v1/data/app/{app_id}"

# "API call-rate limit 60 calls per minute and 50,000 calls day per account".
RATE_LIMITS = [RateLimit(60, 60), RateLimit(50_000, 86_400)]
# "Number of the days in the range: 1-31 days" (the "60 days" elsewhere in the document is not what `to` takes).
MAX_WINDOW_DAYS = 31
# The document says both 730 and 720 days for the earliest `from`; the stricter one never fails.
HISTORY_DAYS = 720
# Partial days (`partial_data`) are not final for 48 hours: AppsFlyer's "Cohort API - enhanced data freshness"
# says cost is pulled about every four hours and may be incomplete at the end of the day.
FINAL_AFTER_DAYS = 2
# Protect360's post-attribution fraud: "The current month (by install date) post-attribution report continues to
# be updated until the seventh day of the following month" ("Protect360 raw data reports"). Installs found
# fraudulent leave their media source's cohorts until then, so a cohort is final from the 8th of the next month.
FRAUD_WINDOW_LAST_DAY = 7


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def fraud_window_closes(cohort_date: dt.date) -> dt.date:
    """The first day after the fraud window of the cohort's install month."""
    next_month = month_start(month_start(cohort_date) + dt.timedelta(days=32))
    return next_month.replace(day=FRAUD_WINDOW_LAST_DAY + 1)


# "Queries return up to 30,000 rows".
ROW_CAP = 30_000

COHORT_TYPES = ("user_acquisition", "retargeting", "unified")
AGGREGATION_TYPES = ("on_day", "cumulative")
GROUPINGS = (
    "af_ad",
    "af_ad_id",
    "c",
    "af_c_id",
    "af_channel",
    "pid",
    "af_sub1",
    "af_keywords",
    "af_prt",
    "cohort_type",
    "site_id",
    "revenue_type",
    "attributed_touch_type",
    "af_adset",
    "af_adset_id",
    "geo",
)
DATE_GROUPING = "date"
# "Select 1-7 groupings"; the tap always adds `date`.
MAX_GROUPINGS = 6
MAX_PERIOD = 180
# "If no period filter is set the days 0-30, 60, 90, and 180 return."
DEFAULT_PERIODS = (*range(31), 60, 90, 180)

# The KPI functions as they appear in column names, and the record columns they fill. Real answers name the
# conversion rate `conversion_rate` (`af_purchase_conversion_rate_day_7`); the document's table heading
# "cvr (conversion rate)" is a label, but `cvr` is accepted too.
FUNCTION_COLUMNS = {
    "count": "count",
    "conversion_rate": "conversion_rate",
    "cvr": "conversion_rate",
    "rate": "rate",
    "sum": "sum",
    "unique_users": "unique_users",
}
COHORT_COLUMNS = {"users": "users", "cost": "cost", "ecpi": "ecpi"}
METRIC_COLUMNS = ("users", "cost", "ecpi", *FUNCTION_COLUMNS.values())
INTEGER_METRICS = ("users",)
# Counts are whole numbers unless per_user divides them by the cohort's users.
COUNT_METRICS = ("count", "unique_users")

HINTS = {
    401: "the API token is malformed, revoked or reset: use the current Cohort API token from the dashboard's "
    "Security center (it is over 700 characters) in config['appsflyer']['api_token']",
    404: "check that the app id is exactly as in the dashboard and that the app is on the Cohort API plan; "
    "use the most recently issued token",
    422: "the query was refused (illegal date or body); check the dates, groupings and filters in config",
}
