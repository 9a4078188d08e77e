"""Running the tap in-process against the sandbox, and reading what it wrote."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cohorts_sandbox import Sandbox
from tap_cohorts.tap import TapCohorts

TODAY = dt.datetime.now(dt.timezone.utc).date()
AF_TOKEN = "af-sandbox-token"
APPLOVIN_KEY = "applovin-sandbox-report-key"


def days_ago(days: int) -> dt.date:
    return TODAY - dt.timedelta(days=days)


@dataclass
class TapRun:
    messages: list[dict] = field(default_factory=list)
    error: BaseException | None = None

    def records(self, stream: str | None = None) -> list[dict]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and (stream is None or m["stream"] == stream)
        ]

    def counts(self) -> Counter:
        return Counter(m["stream"] for m in self.messages if m["type"] == "RECORD")

    @property
    def states(self) -> list[dict]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def final_state(self) -> dict:
        return self.states[-1]


def run_tap(config: dict, state: dict | None = None, catalog: dict | None = None, expect_error: bool = False) -> TapRun:
    """Run a sync in this process, collecting the Singer messages it writes."""
    buffer = io.BytesIO()
    stdout = io.TextIOWrapper(buffer, encoding="utf-8", write_through=True)
    run = TapRun()
    with contextlib.redirect_stdout(stdout):
        try:
            tap = TapCohorts(config=config, state=state, catalog=catalog)
            tap.sync_all()
        except Exception as exc:
            if not expect_error:
                raise
            run.error = exc
        stdout.flush()
    run.messages = [json.loads(line) for line in buffer.getvalue().decode().splitlines() if line]
    if expect_error and run.error is None:
        raise AssertionError("the run was expected to fail but succeeded")
    return run


def fast_limits(per_window: int = 60, seconds: float = 0.6) -> list[dict[str, Any]]:
    """AppsFlyer's documented limits on the sandbox's 100x time scale."""
    return [{"requests": per_window, "seconds": seconds}, {"requests": 50_000, "seconds": 864}]


def appsflyer_config(sandbox: Sandbox, **section: Any) -> dict:
    top = {key: section.pop(key) for key in ("start_date", "end_date", "lookback_days") if key in section}
    return {
        **{k: v.isoformat() if isinstance(v, dt.date) else v for k, v in top.items()},
        "appsflyer": {
            "api_token": AF_TOKEN,
            "base_url": sandbox.url("appsflyer"),
            "app_ids": ["com.example.puzzle"],
            "kpis": ["sessions"],
            "groupings": ["pid"],
            "rate_limits": fast_limits(),
            "retry_wait_seconds": 0.05,
            **section,
        },
    }


def applovin_config(sandbox: Sandbox, **section: Any) -> dict:
    top = {key: section.pop(key) for key in ("start_date", "end_date", "lookback_days") if key in section}
    return {
        **{k: v.isoformat() if isinstance(v, dt.date) else v for k, v in top.items()},
        "applovin": {
            "api_key": APPLOVIN_KEY,
            "base_url": sandbox.url("applovin"),
            "rate_limits": [{"requests": 200, "seconds": 1}],
            "retry_wait_seconds": 0.05,
            **section,
        },
    }


def primary_key(stream_keys: list[str], record: dict) -> tuple:
    return tuple(record[k] for k in stream_keys)
