"""What the `demo` environment of meltano.yml must land, computed from the sandbox's own data."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cohorts_sandbox import SandboxConfig, make_simulators
from cohorts_sandbox.adjust import Query as AdjustQuery
from cohorts_sandbox.adjust_reports import DIMENSION_VALUES, Cohort
from cohorts_sandbox.appsflyer import Query as AppsFlyerQuery
from cohorts_sandbox.branch import Query as BranchQuery
from tests.helpers import days_ago

PERIODS = (0, 1, 3, 7, 14, 30)
ADJUST_TABLES = ("adjust_cohorts", "adjust_tracker_cohorts", "adjust_app_cohorts")
APPLOVIN_TABLES = ("applovin_cohort_revenue", "applovin_cohort_impressions", "applovin_cohort_sessions")
Simulators = dict[str, Any]
COHORT = ("cohort_date", "dimension_key", "period")
KEYS = {
    "appsflyer_cohorts": (*COHORT, "app_id", "cohort_type", "kpi", "aggregation_type"),
    "adjust_cohorts": (*COHORT, "app_token"),
    "adjust_app_cohorts": (*COHORT, "app_token"),
    "adjust_tracker_cohorts": (*COHORT, "app_token", "tracker_token"),
    "adjust_report_cohorts": (*COHORT, "app_token"),
    "branch_install_cohorts": (*COHORT, "measure", "metric"),
    "branch_reengagement_cohorts": (*COHORT, "measure", "metric"),
    "braze_segments": ("id",),
    "braze_campaigns": ("id",),
    "braze_canvases": ("id",),
    "braze_canvas_details": ("canvas_id",),
    "braze_canvas_data_series": ("canvas_id", "time"),
    "braze_cards": ("id",),
    "braze_events": ("name",),
    "braze_products": ("name",),
    "braze_segment_details": ("segment_id",),
    "braze_campaign_details": ("campaign_id",),
    "braze_card_details": ("card_id",),
    "braze_segment_data_series": ("segment_id", "time"),
    "braze_campaign_data_series": ("campaign_id", "time"),
    "braze_card_data_series": ("card_id", "time"),
    "braze_event_data_series": ("event", "time"),
    "braze_purchase_quantity_series": ("product", "time"),
    "braze_segment_users": ("segment_id", "braze_id"),
    **{f"braze_{name}": ("time",) for name in ("kpi_mau", "kpi_dau", "kpi_new_users", "kpi_uninstalls", "sessions")},
    "braze_revenue_series": ("time",),
}


def primary_key(table: str) -> str:
    return ", ".join(KEYS.get(table, COHORT))


def braze_rows(simulators: Simulators, days: int) -> dict[str, int]:
    """The demo's Braze tables: lists and details once, every series one row a day, 25 exported users."""
    braze = simulators["braze"]
    kinds = ("segments", "campaigns", "canvases", "cards", "events", "products")
    counts = {kind: len(braze.items(kind)) for kind in kinds}
    tracked = sum(1 for s in braze.items("segments") if s["analytics_tracking_enabled"])
    return {
        **{f"braze_{kind}": count for kind, count in counts.items()},
        "braze_segment_details": counts["segments"],
        "braze_campaign_details": counts["campaigns"],
        "braze_canvas_details": counts["canvases"],
        "braze_canvas_data_series": counts["canvases"] * days,
        "braze_card_details": counts["cards"],
        "braze_segment_data_series": tracked * days,
        "braze_campaign_data_series": counts["campaigns"] * days,
        "braze_card_data_series": counts["cards"] * days,
        "braze_event_data_series": counts["events"] * days,
        "braze_purchase_quantity_series": (counts["products"] + 1) * days,  # and the all-products total
        **{f"braze_{name}": days for name in ("kpi_mau", "kpi_dau", "kpi_new_users", "kpi_uninstalls", "sessions")},
        "braze_revenue_series": days,
        "braze_segment_users": braze.config.braze_users_per_segment,
    }


def appsflyer_cohorts(simulators: Simulators, first: dt.date, last: dt.date) -> list:
    simulator = simulators["appsflyer"]
    rows = []
    for app in ("com.example.puzzle", "id1234567890"):
        for kpi in ("sessions", "revenue"):
            query = AppsFlyerQuery(app, "user_acquisition", kpi, first, last, ("pid", "date"), "cumulative", PERIODS)
            rows += list(simulator.truth(query))
    return rows


def adjust_rows(simulators: Simulators, start_days_ago: int) -> int:
    """Per stream: 2 apps (x 1 tracker) x 2 OS (iOS, Android) x 3 countries x every period begun for each cohort
    day: iOS and Android rows of one cohort are two keys."""
    simulator = simulators["adjust"]
    query = AdjustQuery(("abc123def4",), None, ("installs",), days_ago(start_days_ago), days_ago(0), (), "day")
    return 2 * 2 * 3 * sum(len(simulator.periods(query, day)) for day in simulator.cohort_dates(query))


def adjust_report_cohorts(start_days_ago: int, last_days_ago: int = 0) -> list[tuple[Cohort, int]]:
    """The demo's Report Service cohorts x days reached: 2 apps x 3 countries x 3 networks a cohort day."""
    pairs = []
    for ago in range(last_days_ago, start_days_ago + 1):
        for app in ("abc123def4", "3fdwnag4ec"):
            for country in DIMENSION_VALUES["country_code"]:
                for network in DIMENSION_VALUES["network"]:
                    cohort = Cohort(app, days_ago(ago), (("country_code", country), ("network", network)))
                    pairs += [(cohort, day) for day in PERIODS if day <= ago]
    return pairs


def adjust_report_revenue_sum(simulators: Simulators, start_days_ago: int, last_days_ago: int) -> float:
    service = simulators["adjust"].reports
    return sum(
        service.day_value(cohort, "revenue_total", day)
        for cohort, day in adjust_report_cohorts(start_days_ago, last_days_ago)
    )


def branch_rows(simulators: Simulators, start_days_ago: int, data_source: str) -> int:
    prefix = "install_activity_" if data_source == "install_cohort" else "reengagement_activity_"
    dimensions = (prefix + "touch_data_tilde_campaign", prefix + "timezone_adjusted_day")
    query = BranchQuery(data_source, days_ago(start_days_ago), days_ago(0), dimensions, ("OPEN",), "day", 7)
    return sum(len(row["data"]) for row in simulators["branch"].rows(query))


def expected_rows(start_days_ago: int, simulators: Simulators | None = None) -> dict[str, int]:
    """Rows per table after a run from `start_days_ago` (the demo's sandbox: default seed and revision)."""
    simulators = simulators or make_simulators(SandboxConfig())
    cohorts = appsflyer_cohorts(simulators, days_ago(start_days_ago), days_ago(1))
    days = start_days_ago + 1
    return {
        "appsflyer_cohorts": sum(len(row.values) for row in cohorts),
        **{table: days * 20 * len(PERIODS) for table in APPLOVIN_TABLES},  # 4 apps x 5 countries a day
        **{table: adjust_rows(simulators, start_days_ago) for table in ADJUST_TABLES},
        "adjust_report_cohorts": len(adjust_report_cohorts(start_days_ago)),
        "branch_install_cohorts": branch_rows(simulators, start_days_ago, "install_cohort"),
        "branch_reengagement_cohorts": branch_rows(simulators, start_days_ago, "reengagement_cohort"),
        **braze_rows(simulators, days),
    }


def appsflyer_count_sum(simulators: Simulators, first: dt.date, last: dt.date) -> int:
    return sum(cell["count"] for row in appsflyer_cohorts(simulators, first, last) for cell in row.values.values())


def applovin_revenue_sum(simulators: Simulators, first: dt.date, last: dt.date) -> float:
    simulator = simulators["applovin"]
    rows = simulator.table("/maxCohort", first, last, ["application", "package_name", "platform", "country"], {})
    return sum(float(row[f"pub_revenue_{p}"]) for row in rows for p in PERIODS)
