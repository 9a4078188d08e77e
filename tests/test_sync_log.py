"""What lets the warehouse equal the vendor over time (core/sync_log.py), checked on the tap's output: the units
each run asked again (`cohort_syncs`, with an empty answer too), a grain change said and re-synced, Braze's lists
read whole with ACTIVATE_VERSION and deleted objects gone, and every record's `is_final` by the vendor's rule.
The end-to-end runs into PostgreSQL and DuckDB are tests/test_warehouse_truth.py."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest
import time_machine

from cohorts_sandbox import Fault, Sandbox
from cohorts_sandbox.synth import restated
from tap_cohorts.vendors.appsflyer.settings import fraud_window_closes
from tests.helpers import AF_TOKEN, TODAY, applovin_config, appsflyer_config, days_ago, run_tap
from tests.test_adjust import adjust_config
from tests.test_adjust_report import report_config
from tests.test_branch import branch_config
from tests.test_braze import braze_config
from tests.test_reliability import shrink_braze

pytestmark = pytest.mark.dates
AF = "appsflyer_cohorts"
PARTITION = json.dumps(
    {"app_id": "com.example.puzzle", "cohort_type": "user_acquisition", "kpi": "sessions"}, separators=(",", ":")
)


def test_every_window_is_a_unit_with_the_records_sync_columns(sandbox: Sandbox) -> None:
    run = run_tap(appsflyer_config(sandbox, start_date=days_ago(40), periods=[0, 1, 7]))
    records = run.records(AF, sync_columns=True)
    units = run.units()
    # One unit per request, covering exactly the dates asked; every record names the run and partition.
    asked = sorted((r.json()["from"], r.json()["to"]) for r in sandbox.requests_to("appsflyer"))
    assert sorted((u["first_date"], u["last_date"]) for u in units) == asked
    assert {u["stream"] for u in units} == {AF} and {u["reason"] for u in units} == {"window"}
    assert {u["sync_partition"] for u in units} == {r["sync_partition"] for r in records} == {PARTITION}
    assert len({u["synced_at"] for u in units} | {r["synced_at"] for r in records}) == 1
    assert sum(u["records"] for u in units) == len(records)
    assert json.loads(units[0]["grain"]) == {"aggregation_type": "on_day", "groupings": ["pid"], "periods": [0, 1, 7]}
    # A unit is written before the state that moves past it, so a run killed between them asks it again.
    kinds = [(m["type"], m.get("stream")) for m in run.messages if m["type"] in ("RECORD", "STATE")]
    last_unit = max(i for i, kind in enumerate(kinds) if kind == ("RECORD", "cohort_syncs"))
    assert kinds[last_unit + 1][0] == "STATE"


def test_an_answer_that_lost_all_its_rows_is_still_a_unit(sandbox: Sandbox) -> None:
    """A restated day whose only row the vendor no longer returns: no record, but a unit of 0 records, so the
    post-load step removes the row loaded before."""
    seed = sandbox.config.seed
    day = next(
        days_ago(n)
        for n in range(30, 200)
        if restated({}, 1, seed, "com.example.puzzle", days_ago(n).isoformat()) is None
    )
    config = appsflyer_config(sandbox, start_date=day, end_date=day, groupings=[], periods=[0])
    before = run_tap(config)
    assert len(before.records(AF)) == 1
    sandbox.config.restatement = 1
    after = run_tap(config)
    assert after.records(AF) == []
    [unit] = after.units()
    assert (unit["first_date"], unit["last_date"], unit["records"]) == (day.isoformat(), day.isoformat(), 0)
    assert unit["synced_at"] > before.units()[0]["synced_at"]


def test_restated_keys_vanish_from_the_answer_and_new_ones_appear(sandbox: Sandbox) -> None:
    """The sandbox's restatement, as each cohort vendor's answer shows it: keys of the first answer are missing
    from the second one and new keys appear (the rows an upsert alone would leave stale)."""
    configs = {
        "appsflyer_cohorts": appsflyer_config(sandbox, start_date=days_ago(20), lookback_days=0),
        "adjust_report_cohorts": report_config(sandbox, start_date=days_ago(20)),
        "applovin_cohort_revenue": applovin_config(sandbox, start_date=days_ago(20), periods=[0, 7]),
        "branch_install_cohorts": branch_config(
            sandbox, start_date=days_ago(20), data_sources=["install_cohort"], dimensions=["touch_data_tilde_campaign"]
        ),
        "adjust_cohorts": adjust_config(sandbox, start_date=days_ago(20), grouping=["countries"]),
    }
    for stream, config in configs.items():
        sandbox.config.restatement = 0
        first = {r["dimension_key"] + r["cohort_date"] for r in run_tap(config).records(stream)}
        sandbox.config.restatement = 1
        second = {r["dimension_key"] + r["cohort_date"] for r in run_tap(config).records(stream)}
        assert first - second, f"{stream}: no key vanished"
        if stream != "adjust_cohorts":  # the KPI Service's tree can drop a cohort, not rename it
            assert second - first, f"{stream}: no key was renamed"


def test_a_changed_grain_is_said_and_synced_again_from_start_date(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    config = appsflyer_config(sandbox, start_date=days_ago(40), lookback_days=7, periods=[0, 1])
    first = run_tap(config)
    state = first.final_state
    assert state["bookmarks"][AF]["partitions"][0]["grain"]["groupings"] == ["pid"]
    # The same grain written another way (order, an explicit default) is no change.
    same = appsflyer_config(
        sandbox, start_date=days_ago(40), lookback_days=7, periods=[1, 0], aggregation_type="on_day"
    )
    sandbox.reset()
    with caplog.at_level(logging.WARNING):
        again = run_tap(same, state=state)
    assert "grain" not in caplog.text and not any(u["reason"] == "grain_change" for u in again.units())
    assert min(r.json()["from"] for r in sandbox.requests_to("appsflyer")) == days_ago(8).isoformat()

    sandbox.reset()
    caplog.clear()
    changed = appsflyer_config(
        sandbox, start_date=days_ago(40), lookback_days=7, periods=[0, 1], groupings=["pid", "geo"]
    )
    with caplog.at_level(logging.WARNING):
        run = run_tap(changed, state=again.final_state)
    assert (
        f"stream {AF}, partition app_id=com.example.puzzle, cohort_type=user_acquisition, kpi=sessions: the settings "
        'that define this stream\'s grain changed since the last run (groupings: ["pid"] -> ["geo", "pid"])'
    ) in caplog.text
    # The whole history again, in the new grain; one unit supersedes every date of the old one.
    assert min(r.json()["from"] for r in sandbox.requests_to("appsflyer")) == days_ago(40).isoformat()
    assert {r.json()["groupings"][1] for r in sandbox.requests_to("appsflyer")} == {"geo"}
    [change] = [u for u in run.units() if u["reason"] == "grain_change"]
    assert (change["first_date"], change["last_date"], change["sync_partition"]) == (
        "1900-01-01",
        "9999-12-31",
        PARTITION,
    )
    geos = {r["geo"] for r in run.records(AF)}
    assert geos and None not in geos
    assert run.final_state["bookmarks"][AF]["partitions"][0]["grain"]["groupings"] == ["geo", "pid"]


def test_a_new_branch_scope_supersedes_the_old_partition_too(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    config = branch_config(sandbox, start_date=days_ago(10), data_sources=["install_cohort"])
    state = run_tap(config).final_state
    config["branch"]["app_id"] = "1234567890123456789"
    with caplog.at_level(logging.WARNING):
        run = run_tap(config, state=state)
    changes = [u["sync_partition"] for u in run.units() if u["reason"] == "grain_change"]
    assert changes == ['{"organization_id":"org-sandbox"}', '{"app_id":"1234567890123456789"}']
    assert 'partition: {"organization_id":"org-sandbox"} -> {"app_id":"1234567890123456789"}' in caplog.text


def test_braze_lists_activate_a_version_and_deleted_objects_leave(sandbox: Sandbox) -> None:
    shrink_braze(sandbox)
    config = braze_config(sandbox, start_date=days_ago(3))
    first = run_tap(config)
    sandbox.config.braze_deleted = {"cmp-00000", "cnv-00000", "seg-00001"}
    sandbox.reset()
    run = run_tap(config)
    activated = {m["stream"] for m in run.messages if m["type"] == "ACTIVATE_VERSION"}
    assert {"braze_campaigns", "braze_canvases", "braze_segments", "braze_cards", "braze_events"} <= activated
    # Not the children (one per parent record; the post-load step covers them), the series nor cohort streams.
    assert not any(s.endswith(("_details", "_data_series", "cohorts")) or s == "cohort_syncs" for s in activated)
    assert len([m for m in run.messages if m["type"] == "ACTIVATE_VERSION"]) == len(activated)
    versions = {m["stream"]: m["version"] for m in run.messages if m["type"] == "ACTIVATE_VERSION"}
    records = [m for m in run.messages if m["type"] == "RECORD" and m["stream"] == "braze_campaigns"]
    assert {m["version"] for m in records} == {versions["braze_campaigns"]}
    assert {r["id"] for r in run.records("braze_campaigns")} == {r["id"] for r in first.records("braze_campaigns")} - {
        "cmp-00000"
    }
    assert not [r for r in sandbox.requests_to("braze") if "cmp-00000" in str(r.query)]
    lists = {u["stream"]: u for u in run.units() if u["reason"] == "list"}
    assert lists["braze_campaigns"]["records"] == 1 and lists["braze_segments"]["records"] == 3
    assert {r["synced_at"] for r in run.records("braze_campaigns", sync_columns=True)} == {
        lists["braze_campaigns"]["synced_at"]
    }
    # Off when the loader cannot take it.
    quiet = run_tap({**config, "emit_activate_version_messages": False})
    assert not [m for m in quiet.messages if m["type"] == "ACTIVATE_VERSION"]


def test_a_list_that_fails_partway_is_no_unit(sandbox: Sandbox) -> None:
    """Only a list read whole says which objects are gone."""
    shrink_braze(sandbox)
    sandbox.config.braze_segments = 150  # two pages
    sandbox.add_fault(Fault("status", vendor="braze", path_contains="/segments/list", status=400, skip=1))
    run = run_tap(braze_config(sandbox, start_date=days_ago(3)), expect_error=True)
    assert "braze_segments" not in {u["stream"] for u in run.units()}
    assert "braze_campaigns" in {u["stream"] for u in run.units()}


def is_final_by_rule(stream: str, record: dict, today: dt.date) -> bool:
    """The vendors' rules, as docs/runs.md states them."""
    cohort = dt.date.fromisoformat(record["cohort_date"])
    period = record["period"]
    if stream == "appsflyer_cohorts":
        return today >= max(cohort + dt.timedelta(days=period + 1), fraud_window_closes(cohort))
    if stream.startswith("applovin"):
        return period + 1 <= 44 and today >= cohort + dt.timedelta(days=period + 1)
    if stream == "adjust_cohorts" and record["period_unit"] == "week":
        return today >= cohort + dt.timedelta(days=7 * (period + 1) + 6)
    if stream == "branch_install_cohorts" and record["period_unit"] == "week":
        return today >= cohort + dt.timedelta(days=7 * (period + 1))
    return today >= cohort + dt.timedelta(days=period + 1)


@pytest.mark.parametrize(
    "stream",
    ["appsflyer_cohorts", "adjust_report_cohorts", "adjust_cohorts", "branch_install_cohorts",
     "applovin_cohort_impressions"],
)  # fmt: skip
def test_every_record_says_whether_it_is_final(sandbox: Sandbox, stream: str) -> None:
    start = days_ago(60)
    config = {
        "appsflyer_cohorts": appsflyer_config(sandbox, start_date=start, periods=[0, 1, 7, 30]),
        "adjust_report_cohorts": report_config(sandbox, start_date=start, days=[0, 1, 7, 30]),
        "adjust_cohorts": adjust_config(sandbox, start_date=start, cohort_period="week", max_period=4),
        "branch_install_cohorts": branch_config(
            sandbox, start_date=start, data_sources=["install_cohort"], granularity="week"
        ),
        "applovin_cohort_impressions": applovin_config(sandbox),
    }[stream]
    records = run_tap(config).records(stream, sync_columns=True)
    finals = {r["is_final"] for r in records}
    assert finals == {True, False}, "the window holds final and provisional values"
    for record in records:
        assert record["is_final"] is is_final_by_rule(stream, record, TODAY), record
    if stream.startswith("applovin"):  # "within 60/75/90 days" can never be final inside the 45-day window
        assert not any(r["is_final"] for r in records if r["period"] >= 45)


def test_appsflyer_cohorts_stay_provisional_until_the_fraud_window_closes(sandbox: Sandbox) -> None:
    """A November cohort whose days are complete on 5 December is still provisional (Protect360 may reject its
    installs until the 7th); the run on 8 December asks the whole of November once more, now final."""
    config = appsflyer_config(
        sandbox, start_date=dt.date(2027, 11, 1), lookback_days=2, periods=[0, 1], app_ids=["id1234567890"]
    )
    state = None
    for day in (5, 6, 7, 8, 9):
        moment = dt.datetime(2027, 12, day, 12, tzinfo=dt.timezone.utc)
        sandbox.config.today = moment.date()
        sandbox.reset()
        with time_machine.travel(moment, tick=False):
            run = run_tap(config, state=state)
        state = run.final_state
        asked = {r.json()["from"][:7] for r in sandbox.requests_to("appsflyer")}
        records = run.records(AF, sync_columns=True)
        november = [r for r in records if r["cohort_date"].startswith("2027-11")]
        if day == 8:
            assert "2027-11" in asked and len({r["cohort_date"] for r in november}) == 30
            assert all(r["is_final"] for r in november)
        else:
            assert {r["cohort_date"][:7] for r in records} <= {"2027-11", "2027-12"}
            assert not any(r["is_final"] for r in november)
        assert not any(r["is_final"] for r in records if r["cohort_date"].startswith("2027-12"))
    # With the fraud window off, complete days are final at once.
    sandbox.reset()
    config["appsflyer"]["fraud_window"] = False
    with time_machine.travel(dt.datetime(2027, 12, 5, 12, tzinfo=dt.timezone.utc), tick=False):
        sandbox.config.today = dt.date(2027, 12, 5)
        records = run_tap(config).records(AF, sync_columns=True)
    assert all(r["is_final"] for r in records if r["cohort_date"] <= "2027-12-03")
    assert AF_TOKEN not in json.dumps(records)
