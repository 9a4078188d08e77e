"""Incremental state: per-partition bookmarks, lookback, and resuming an interrupted run without gaps."""

from __future__ import annotations

import datetime as dt
import itertools

import pytest

from cohorts_sandbox import Fault, Sandbox
from tests.helpers import applovin_config, appsflyer_config, days_ago, run_tap
from tests.test_appsflyer import DEFAULT_PERIODS, KEY, STREAM, by_key, expected_records

pytestmark = pytest.mark.dates

# What a revision of the sandbox changes in every appsflyer_cohorts record (the sessions KPI).
MEASURES = {"users", "cost", "ecpi", "count", "rate", "unique_users"}


def bookmark(state: dict, stream: str = STREAM) -> str:
    [partition] = state["bookmarks"][stream]["partitions"]
    return partition["replication_key_value"]


def test_a_second_run_from_the_final_state_requests_only_the_lookback(sandbox: Sandbox) -> None:
    first = run_tap(appsflyer_config(sandbox, start_date=days_ago(70), lookback_days=5))
    assert bookmark(first.final_state) == days_ago(1).isoformat()
    sandbox.reset()
    second = run_tap(appsflyer_config(sandbox, start_date=days_ago(70), lookback_days=5), state=first.final_state)
    windows = [(r.json()["from"], r.json()["to"]) for r in sandbox.requests_to("appsflyer")]
    assert windows == [(days_ago(n).isoformat(), days_ago(n).isoformat()) for n in range(6, 0, -1)]
    assert bookmark(second.final_state) == days_ago(1).isoformat()
    assert by_key(second.records(STREAM)) == expected_records(sandbox, days_ago(6), days_ago(1))


def test_applovin_state_and_lookback(sandbox: Sandbox) -> None:
    first = run_tap(applovin_config(sandbox, start_date=days_ago(20), periods=[0]))
    state = first.final_state
    assert state["bookmarks"]["applovin_cohort_revenue"]["replication_key_value"] == days_ago(0).isoformat()
    sandbox.reset()
    run_tap(applovin_config(sandbox, start_date=days_ago(20), periods=[0], lookback_days=3), state=state)
    assert {r.query["start"][0] for r in sandbox.requests_to("applovin")} == {days_ago(3).isoformat()}
    assert len(sandbox.requests_to("applovin")) == 3


def test_an_interrupted_run_resumes_without_gaps(sandbox: Sandbox) -> None:
    start = days_ago(70)
    # The fourth request fails for good (a 401), after windows 70..61, 60..31 and 30 have been emitted.
    sandbox.add_fault(Fault("status", vendor="appsflyer", status=401, skip=3, message="token revoked"))
    # Without the fraud window, so that on the 8th of a month the resumed run's maturing cohorts are the periods'
    # alone (the last month's cohorts are asked once more then: tests/test_sync_log.py).
    config = appsflyer_config(sandbox, start_date=start, lookback_days=0, fraud_window=False)
    interrupted = run_tap(config, expect_error=True)
    assert "token revoked" in interrupted.error_text
    last_state = interrupted.final_state
    assert bookmark(last_state) == days_ago(30).isoformat()

    truth = expected_records(sandbox, start, days_ago(1))
    # Every state the run wrote holds only dates whose records had all been emitted before it.
    emitted: set[tuple] = set()
    for message in interrupted.messages:
        if message["type"] == "RECORD" and message["stream"] == STREAM:
            emitted.add(tuple(message["record"][k] for k in KEY))
        elif message["type"] == "STATE" and STREAM in message["value"].get("bookmarks", {}):
            through = bookmark(message["value"])
            assert {k for k in truth if k[4] <= through} <= emitted

    sandbox.reset()
    resumed = run_tap(config, state=last_state)
    # It resumes at the bookmark; before that, only single cohorts whose requested period completed today.
    windows = [(r.json()["from"], r.json()["to"]) for r in sandbox.requests_to("appsflyer")]
    resumed_from = [w for w in windows if w[0] >= days_ago(30).isoformat()]
    assert resumed_from[0][0] == days_ago(30).isoformat()
    maturing = {dt.date.fromisoformat(w[0]) for w in windows if w not in resumed_from}
    assert all(w[0] == w[1] for w in windows if w not in resumed_from)
    assert maturing == {days_ago(p + 1) for p in DEFAULT_PERIODS if 30 < p + 1 <= 70}  # not before start_date
    combined = by_key(interrupted.records(STREAM)) | by_key(resumed.records(STREAM))
    assert combined == truth


def test_resynced_rows_keep_their_primary_key_and_take_the_new_values(sandbox: Sandbox) -> None:
    config = appsflyer_config(sandbox, start_date=days_ago(40), lookback_days=10)
    first = run_tap(config)
    first_truth = expected_records(sandbox, days_ago(40), days_ago(1))
    sandbox.config.revision = 1  # cohorts mature between two daily runs
    second = run_tap(config, state=first.final_state)
    before, after = by_key(first.records(STREAM)), by_key(second.records(STREAM))
    assert before == first_truth
    # The second run re-syncs exactly the lookback, on the same keys, each with the new revision's values.
    assert after == expected_records(sandbox, days_ago(11), days_ago(1))
    assert set(after) == {k for k in before if k[4] >= days_ago(11).isoformat()}
    for key, record in after.items():
        changed = {name for name in MEASURES if record[name] != before[key][name]}
        assert changed == MEASURES & {name for name, value in record.items() if value is not None}, key


def test_a_state_that_is_costly_to_write_goes_out_less_often(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> None:
    """STATE at most once a second, and at most STATE_TIME_SHARE of the stream's time: where the SDK takes 0.1 s
    to copy and write a (large) state, one every 5 s. What is not written is kept for the next one."""
    from singer_sdk.streams.core import Stream

    from tap_cohorts.core import windowed_stream
    from tap_cohorts.tap import TapCohorts

    clock = [1000.0]
    written: list[float] = []

    def sdk_write(stream: Stream) -> None:
        written.append(clock[0])
        clock[0] += 0.1  # what copying the state costs
        stream.state_manager.is_flushed = True

    monkeypatch.setattr(windowed_stream.time, "monotonic", lambda: clock[0])
    monkeypatch.setattr(Stream, "_write_state_message", sdk_write)
    stream = TapCohorts(config=appsflyer_config(sandbox, start_date=days_ago(3))).streams["appsflyer_cohorts"]
    for _ in range(40):  # a window every 0.5 s for 20 s
        stream.state_manager.is_flushed = False
        stream._write_state_message()
        clock[0] += 0.5
    gaps = [b - a for a, b in itertools.pairwise(written)]
    assert len(written) == 4 and all(5.0 <= gap < 5.7 for gap in gaps), gaps  # (once a second: 20)
    assert windowed_stream.STATE_INTERVAL_SECONDS == 1.0 and windowed_stream.STATE_TIME_SHARE == 0.02
