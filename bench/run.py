"""The benchmark: throughput and memory of big syncs against a raw baseline, backfills against the rate-limit
bound, and a daily incremental run. Prints a table and writes it to bench/results/latest.md.

Run: `make bench` (or `.venv/bin/python bench/run.py`). It starts its own sandbox on a free port.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import msgspec
import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TODAY = dt.datetime.now(dt.timezone.utc).date()
AF_LIMITS = [{"requests": 60, "seconds": 0.6}, {"requests": 50_000, "seconds": 864}]
BRANCH_LIMITS = [{"requests": 2, "seconds": 0.01}, {"requests": 5, "seconds": 0.6}, {"requests": 150, "seconds": 36}]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SandboxProcess:
    def __init__(self, cardinality: dict[str, int]) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [
                str(BIN / "cohorts-sandbox"),
                "--port",
                str(self.port),
                "--time-scale",
                "0.01",
                "--appsflyer-cardinality",
                json.dumps(cardinality),
            ],
            stdout=subprocess.DEVNULL,
        )
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{self.url('_sandbox')}/health", timeout=1)
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the sandbox did not start")

    def url(self, vendor: str) -> str:
        return f"http://127.0.0.1:{self.port}/{vendor}"

    def requests(self) -> list[dict]:
        with urllib.request.urlopen(f"{self.url('_sandbox')}/requests", timeout=60) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        urllib.request.urlopen(urllib.request.Request(f"{self.url('_sandbox')}/reset", data=b"{}", method="POST"))

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait()


def run_tap(config: dict, state: dict | None = None) -> dict:
    """One tap process: wall time, its own peak RSS, records and a checksum, the last state."""
    folder = Path(tempfile.mkdtemp())
    (folder / "config.json").write_text(json.dumps(config))
    args = [str(BIN / "tap-cohorts"), "--config", str(folder / "config.json")]
    if state:
        (folder / "state.json").write_text(json.dumps(state))
        args += ["--state", str(folder / "state.json")]
    decoder = msgspec.json.Decoder()
    started = time.monotonic()
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    records, checksum, last_state = 0, 0.0, None
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith(b'{"type":"RECORD"'):
            records += 1
            checksum += metric_of(decoder.decode(line)["record"])
        elif b'"type":"STATE"' in line[:40]:
            last_state = decoder.decode(line)["value"]
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.monotonic() - started
    if status != 0:
        raise RuntimeError(f"the tap failed ({status})")
    return {
        "seconds": elapsed,
        "rss_mb": usage.ru_maxrss / 1024,
        "records": records,
        "checksum": checksum,
        "state": last_state,
    }


def metric_of(record: dict) -> float:
    for name in ("count", "pub_revenue", "value"):
        if record.get(name) is not None:
            return float(record[name])
    return 0.0


def raw_appsflyer(sandbox: SandboxProcess, config: dict, bodies: list[tuple[str, dict]]) -> dict:
    """The same requests, parsed and turned into the same records by a minimal loop with no SDK, written as
    JSON lines to /dev/null: the practical limit of this machine."""
    token = config["appsflyer"]["api_token"]
    session = requests.Session()
    encoder = msgspec.json.Encoder()
    records, checksum = 0, 0.0
    started = time.monotonic()
    with open(os.devnull, "wb") as sink:
        for path, body in bodies:
            response = session.post(
                sandbox.url("appsflyer") + path,
                params={"format": "csv"},
                json=body,
                headers={"Authorization": f"Bearer {token}"},
            )
            reader = csv.reader(io.StringIO(response.text))
            header = next(reader)
            periods: dict[int, list[tuple[int, str]]] = {}
            for index, name in enumerate(header):
                if "_day_" in name:
                    function, period = name.rsplit("_day_", 1)
                    periods.setdefault(int(period), []).append((index, function.split("_", 1)[1]))
            dims = [i for i, n in enumerate(header) if n in body["groupings"] and n != "date"]
            date_index = header.index("date")
            for row in reader:
                key = json.dumps({header[i]: row[i] for i in dims}, sort_keys=True, separators=(",", ":"))
                for period, columns in periods.items():
                    record = {
                        "app_id": path.rsplit("/", 1)[1],
                        "cohort_date": row[date_index],
                        "period": period,
                        "dimension_key": key,
                        "users": int(row[header.index("users")]),
                    }
                    for index, function in columns:
                        value = row[index]
                        record[function] = float(value) if value else None
                    records += 1
                    checksum += record.get("count") or 0.0
                    sink.write(encoder.encode({"type": "RECORD", "stream": "appsflyer_cohorts", "record": record}))
                    sink.write(b"\n")
    return {"seconds": time.monotonic() - started, "records": records, "checksum": checksum}


def appsflyer_config(sandbox: SandboxProcess, days: int, apps: list[str]) -> dict:
    return {
        "start_date": (TODAY - dt.timedelta(days=days)).isoformat(),
        "appsflyer": {
            "api_token": "af-sandbox-token",
            "base_url": sandbox.url("appsflyer"),
            "app_ids": apps,
            "kpis": ["sessions"],
            "groupings": ["pid", "c", "geo"],
            "rate_limits": AF_LIMITS,
        },
    }


def bound(requests_made: int, limits: list[dict]) -> float:
    """The least time the limits allow for this many requests."""
    return max((math.ceil(requests_made / limit["requests"]) - 1) * limit["seconds"] for limit in limits)


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def main() -> None:
    rows: list[tuple[str, str, str]] = []
    sandbox = SandboxProcess({"pid": 8, "c": 5, "geo": 10})  # 400 cohorts a day
    try:
        # 1 and 2. Throughput and memory: ~1M and ~100k appsflyer records, against the raw loop.
        big = appsflyer_config(sandbox, 80, ["com.example.puzzle"])
        progress("1M-record sync")
        tap = run_tap(big)
        bodies = [(r["path"], json.loads(r["body"])) for r in sandbox.requests() if r["vendor"] == "appsflyer"]
        progress("raw loop")
        raw = raw_appsflyer(sandbox, big, bodies)
        assert tap["records"] == raw["records"], (tap["records"], raw["records"])
        assert abs(tap["checksum"] - raw["checksum"]) < 1e-6 * max(1.0, raw["checksum"])
        tap_rate, raw_rate = tap["records"] / tap["seconds"], raw["records"] / raw["seconds"]
        rows.append(
            (
                "appsflyer_cohorts throughput",
                f"{tap['records']:,} records in {tap['seconds']:.1f} s = {tap_rate:,.0f}/s",
                f"raw loop {raw_rate:,.0f}/s (same responses, same records, checksum equal): "
                f"{tap_rate / raw_rate:.2f}x",
            )
        )
        sandbox.reset()
        progress("100k-record sync")
        small = run_tap(appsflyer_config(sandbox, 24, ["com.example.puzzle"]))
        rows.append(
            (
                "peak RSS",
                f"{tap['rss_mb']:.0f} MB for {tap['records']:,} records",
                f"{small['rss_mb']:.0f} MB for {small['records']:,} records: {tap['rss_mb'] / small['rss_mb']:.2f}x",
            )
        )

        # 4. A daily incremental run after the backfill.
        sandbox.reset()
        progress("daily run")
        daily = run_tap(big, state=tap["state"])
        made = len([r for r in sandbox.requests() if r["vendor"] == "appsflyer"])
        minimum = 31  # the 30 lookback days and yesterday, one day a call (AppsFlyer's complete-days rule)
        rows.append(
            (
                "daily run after backfill",
                f"{made} requests, {daily['records']:,} records",
                f"minimum for lookback_days 30: {minimum}",
            )
        )

        # 3. Backfills under the time-scaled rate limits.
        sandbox.reset()
        backfill = appsflyer_config(sandbox, 730, ["com.example.puzzle", "id1234567890"])
        # Small answers (no grouping but the date), so the rate limits, not the data, set the pace.
        backfill["appsflyer"].update(groupings=[], kpis=["sessions", "revenue", "roas"], periods=[0, 1, 7, 30])
        progress("AppsFlyer backfill")
        result = run_tap(backfill)
        log = [r for r in sandbox.requests() if r["vendor"] == "appsflyer"]
        low = bound(len(log), AF_LIMITS)
        rows.append(
            (
                "AppsFlyer 24-month backfill",
                f"{len(log)} requests in {result['seconds']:.1f} s, {sum(r['status'] == 429 for r in log)} x 429",
                f"bound {low:.1f} s: {result['seconds'] / max(low, 1e-9):.2f}x",
            )
        )
        sandbox.reset()
        branch = {
            "start_date": (TODAY - dt.timedelta(days=730)).isoformat(),
            "branch": {
                "access_token": "branch-sandbox-access-token",
                "organization_id": "org-sandbox",
                "base_url": sandbox.url("branch"),
                "measures": ["OPEN"],
                "granularity_band_count": 7,
                "poll_interval_seconds": 0.01,
                "poll_max_interval_seconds": 0.05,
                "rate_limits": BRANCH_LIMITS,
            },
        }
        progress("Branch backfill")
        result = run_tap(branch)
        log = [r for r in sandbox.requests() if r["vendor"] == "branch"]
        jobs = sum(r["method"] == "POST" for r in log)
        low = bound(len(log), BRANCH_LIMITS)
        rows.append(
            (
                "Branch 24-month backfill, both sources",
                f"{jobs} jobs, {len(log)} requests ({len(log) / jobs:.1f} a job) in {result['seconds']:.1f} s, "
                f"{sum(r['status'] == 429 for r in log)} x 429",
                f"bound {low:.1f} s: {result['seconds'] / low:.2f}x",
            )
        )
    finally:
        sandbox.stop()
    table = [
        "| measure | tap-cohorts | reference |",
        "| --- | --- | --- |",
        *(f"| {a} | {b} | {c} |" for a, b, c in rows),
    ]
    text = (
        f"Benchmark of {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores\n\n"
        + "\n".join(table)
    )
    print(text)
    (ROOT / "bench/results").mkdir(exist_ok=True)
    (ROOT / "bench/results/latest.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
