"""A sync killed with SIGKILL at random moments and restarted from its last emitted state ends with every
expected record at least once, and with exactly one row per primary key after upsert."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cohorts_sandbox import Sandbox
from tests.helpers import applovin_config, appsflyer_config, days_ago, run_tap, vendor_records

TAP = os.path.join(os.path.dirname(sys.executable), "tap-cohorts")


def last_state(output: Path) -> dict | None:
    """The last complete STATE line a killed run wrote (a line cut by the kill is not one)."""
    state = None
    for line in output.read_text().splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue
        if message.get("type") == "STATE":
            state = message["value"]
    return state


def records(output: Path) -> list[tuple[str, dict]]:
    messages = []
    for line in output.read_text().splitlines():
        try:
            messages.append(json.loads(line))
        except ValueError:
            continue
    return vendor_records(messages)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_killed_runs_resume_to_exactly_the_expected_rows(sandbox: Sandbox, tmp_path: Path, seed: int) -> None:
    config = {
        **appsflyer_config(sandbox, groupings=["pid", "geo"], app_ids=["com.example.puzzle", "id1234567890"]),
        **applovin_config(sandbox, periods=[0, 7]),
    }
    config.update(start_date=days_ago(70).isoformat(), lookback_days=0)
    expected = run_tap(config)
    keys = {m["stream"]: m["key_properties"] for m in expected.messages if m["type"] == "SCHEMA"}

    def table(found: list[tuple[str, dict]]) -> dict[tuple, dict]:
        return {(stream, json.dumps([r[k] for k in keys[stream]])): r for stream, r in found}

    truth = table(vendor_records(expected.messages))
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    rng = random.Random(seed)
    landed: list[tuple[str, dict]] = []
    state: dict | None = None
    kills = 0
    for attempt in range(30):
        output = tmp_path / f"run{attempt}.jsonl"
        args = [TAP, "--config", str(config_path)]
        if state is not None:
            state_path = tmp_path / f"state{attempt}.json"
            state_path.write_text(json.dumps(state))
            args += ["--state", str(state_path)]
        with output.open("w") as stdout:
            process = subprocess.Popen(args, stdout=stdout, stderr=subprocess.DEVNULL)
            try:
                process.wait(timeout=rng.uniform(0.8, 2.5) if attempt < 8 else 300)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
                kills += 1
        landed += records(output)
        state = last_state(output) or state
        if process.returncode == 0:
            break
        time.sleep(0.05)
    else:
        pytest.fail("the sync never finished")
    stored = table(landed)  # what a target that upserts by primary key holds
    assert set(stored) == set(truth)
    assert stored == truth
    print(f"\nseed {seed}: {kills} kills, {len(landed)} records written, {len(truth)} rows after upsert, 0 lost")
