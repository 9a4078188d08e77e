"""The sandbox's own promises that other tests lean on: a revision changes every value it is meant to change,
on whatever day the suite runs (small cohorts, zero counts and ratios included)."""

from __future__ import annotations

import logging

import pytest

from cohorts_sandbox import Sandbox
from cohorts_sandbox.synth import revised
from tests.helpers import run_tap, vendor_records
from tests.test_isolation import all_vendors
from tests.test_reliability import VENDORS, keyed, shrink_braze

pytestmark = pytest.mark.dates

# Values a revision leaves alone, by stream: fixed when the cohort is formed (Branch's cohort size and cost,
# AppLovin's installs), or not a cohort measure at all (list positions, a user profile's revenue and bucket).
FIXED = {
    "branch_install_cohorts": {"users", "cost"},
    "applovin_cohort_revenue": {"installs"},
    "applovin_cohort_impressions": {"installs"},
    "applovin_cohort_sessions": {"installs"},
    "braze_events": {"position"},
    "braze_products": {"position"},
    "braze_segment_users": {"total_revenue", "random_bucket"},
}


@pytest.mark.parametrize("value", [0, 0.0004, 0.3, 5, 17.25, 10**6])
def test_revised_moves_every_value_by_at_least_one_step(value: float) -> None:
    for step in (1, 0.01, 0.001):
        assert revised(value, 0, step) == value
        assert revised(value, 1, step) - value >= step
        assert revised(value, 2, step) - revised(value, 1, step) >= step


@pytest.mark.parametrize("vendor_name", VENDORS)
def test_a_revision_changes_every_measure_of_every_record(sandbox: Sandbox, vendor_name: str) -> None:
    logging.getLogger("tap-cohorts").setLevel(logging.WARNING)
    shrink_braze(sandbox)
    sandbox.config.braze_export_polls = 1
    config = VENDORS[vendor_name].config(sandbox)
    first = run_tap(config)
    keys = {m["stream"]: set(m["key_properties"]) for m in first.messages if m["type"] == "SCHEMA"}
    before = keyed(first)
    sandbox.config.revision = 1
    after = keyed(run_tap(config))
    assert before and before.keys() == after.keys()
    measured = 0
    for stream, records in before.items():
        assert records.keys() == after[stream].keys(), f"{stream}: a revision changed the set of keys"
        for key, record in records.items():
            for name, value in record.items():
                if name in keys[stream] | {"period"} | FIXED.get(stream, set()):
                    continue
                if isinstance(value, int | float) and not isinstance(value, bool):
                    measured += 1
                    assert after[stream][key][name] != value, f"{stream} {key}: {name} stayed {value!r}"
    assert measured > 0


# Per cohort stream: the cohort's size, and its rates (shares of the cohort, decaying with the period).
COHORT_COLUMNS = {
    "appsflyer_cohorts": ("users", ["rate"]),
    "adjust_cohorts": ("installs", ["retention_rate"]),
    "adjust_app_cohorts": ("installs", ["retention_rate"]),
    "adjust_tracker_cohorts": ("installs", ["retention_rate"]),
    "adjust_report_cohorts": ("cohort_size", ["retention_rate"]),
    "branch_install_cohorts": ("users", []),
    "branch_reengagement_cohorts": ("users", []),
    "applovin_cohort_revenue": ("installs", []),
    "applovin_cohort_impressions": ("installs", []),
    "applovin_cohort_sessions": ("installs", ["retention"]),
}


def test_every_cohort_stream_behaves_like_cohorts(sandbox: Sandbox) -> None:
    """One size per cohort across its periods, rates between 0 and 1, retention that never rises with the period:
    what a demo, a dbt model and a user's eye expect of cohorts."""
    config = all_vendors(sandbox)
    config.pop("braze")
    config["applovin"]["periods"] = [0, 1, 3, 7]
    records: dict[str, list[dict]] = {}
    for stream, record in vendor_records(run_tap(config).messages):
        records.setdefault(stream, []).append(record)
    assert set(records) == set(COHORT_COLUMNS)
    for stream, (size, rates) in COHORT_COLUMNS.items():
        cohorts: dict[tuple, list[dict]] = {}
        for record in records[stream]:
            cohort = tuple(sorted((k, str(v)) for k, v in record.items() if k in COHORT_KEYS))
            cohorts.setdefault(cohort, []).append(record)
        for cohort, periods in cohorts.items():
            assert len({record[size] for record in periods}) == 1, (stream, cohort, "cohort size varies")
            for rate in rates:
                by_period = sorted((r["period"], r[rate]) for r in periods if r.get(rate) is not None)
                assert all(0 <= value <= 1 for _, value in by_period), (stream, cohort, rate, by_period)
                later = [value for period, value in by_period if period >= 1]
                assert later == sorted(later, reverse=True), (stream, cohort, rate, by_period)


COHORT_KEYS = {"app_id", "app_token", "tracker_token", "cohort_type", "kpi", "cohort_date", "dimension_key"}
