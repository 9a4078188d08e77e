"""Running the tap in-process against the sandbox, and reading what it wrote."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cohorts_sandbox import Sandbox
from tap_cohorts.core.records import SYNC_COLUMNS
from tap_cohorts.core.sync_log import STREAM_NAME as SYNC_LOG
from tap_cohorts.tap import TapCohorts

# What the tap adds to every cohort record (and Braze list record) about the sync.
SYNC_COLUMN_NAMES = frozenset({*(p.name for p in SYNC_COLUMNS), "synced_at"})

TODAY = dt.datetime.now(dt.timezone.utc).date()
AF_TOKEN = "af-sandbox-token"
APPLOVIN_KEY = "applovin-sandbox-report-key"


def days_ago(days: int) -> dt.date:
    return TODAY - dt.timedelta(days=days)


@dataclass
class TapRun:
    messages: list[dict] = field(default_factory=list)
    error: BaseException | None = None

    @property
    def error_text(self) -> str:
        """The error the run ended with and, after a run that went on past failures, each failure's message."""
        failures = getattr(self.error, "failures", [])
        return "\n".join([str(self.error), *(failure.error for failure in failures)])

    def records(self, stream: str | None = None, *, sync_columns: bool = False) -> list[dict]:
        """The vendor's records; `sync_columns` keeps what the tap adds about the sync (is_final, synced_at,
        sync_partition), which the tests of core/sync_log.py read."""
        records = [
            m["record"]
            for m in self.messages
            if m["type"] == "RECORD" and m["stream"] != SYNC_LOG and (stream is None or m["stream"] == stream)
        ]
        if sync_columns:
            return records
        return [{k: v for k, v in record.items() if k not in SYNC_COLUMN_NAMES} for record in records]

    def units(self) -> list[dict]:
        """The `cohort_syncs` records: the units the run asked again."""
        return [m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == SYNC_LOG]

    def counts(self) -> Counter:
        return Counter(m["stream"] for m in self.messages if m["type"] == "RECORD" and m["stream"] != SYNC_LOG)

    @property
    def states(self) -> list[dict]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def final_state(self) -> dict:
        return self.states[-1]


def vendor_records(messages: list[dict]) -> list[tuple[str, dict]]:
    """(stream, record) of the vendors' records, without `cohort_syncs` and the sync columns: what two runs that
    ask the same must give alike, whenever they ran."""
    return [
        (m["stream"], {k: v for k, v in m["record"].items() if k not in SYNC_COLUMN_NAMES})
        for m in messages
        if m.get("type") == "RECORD" and m["stream"] != SYNC_LOG
    ]


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


def catalog_selecting(base: dict, *streams: str) -> dict:
    """The catalog of `base` with only `streams` selected."""
    catalog = copy.deepcopy(TapCohorts(config=base).catalog_dict)
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in streams
    return catalog


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
