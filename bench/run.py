"""The benchmark: throughput and memory of big syncs against raw loops, backfills against the rate-limit bound,
a daily incremental run, the Braze peer against a plain loop, and the pipeline (bench/pipeline.py). Prints a
table and writes it to bench/results/latest.md, with a plot in bench/results/latest.png.

Run: `make bench`. It starts its own sandboxes on free ports; the peer's virtualenv is kept in bench/work/.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import math
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
TODAY = dt.datetime.now(dt.timezone.utc).date()
AF_LIMITS = [{"requests": 60, "seconds": 0.6}, {"requests": 50_000, "seconds": 864}]
BRANCH_LIMITS = [{"requests": 2, "seconds": 0.01}, {"requests": 5, "seconds": 0.6}, {"requests": 150, "seconds": 36}]


@functools.cache
def installed_tap() -> str:
    """The tap as `meltano install` makes it for a user: a virtualenv of its own dependencies only, installed from
    this checkout, bytecode compiled (README: UV_COMPILE_BYTECODE). The development .venv also holds the
    benchmark's numpy, which the SDK's joblib imports when it is there: 0.08 s more at every start."""
    venv, uv = ROOT / "bench/work/tap-venv", str(BIN / "uv")
    subprocess.run([uv, "venv", "-q", "--allow-existing", "--python", sys.executable, str(venv)], check=True)
    subprocess.run(
        [uv, "pip", "install", "-q", "--compile-bytecode", "--reinstall-package", "tap-cohorts", str(ROOT)],
        env={**os.environ, "VIRTUAL_ENV": str(venv)},
        check=True,
    )
    return str(venv / "bin/tap-cohorts")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SandboxProcess:
    def __init__(self, time_scale: float = 0.01, **options: dict[str, int]) -> None:
        """`options`: --appsflyer-cardinality, --braze-counts and the like, as keyword arguments."""
        self.port = free_port()
        args = [str(BIN / "cohorts-sandbox"), "--port", str(self.port), "--time-scale", str(time_scale)]
        for name, value in options.items():
            args += [f"--{name.replace('_', '-')}", json.dumps(value)]
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL)
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


def measure(args: list[str], on_line: Callable[[bytes], None], output: Path | None = None) -> dict:
    """Run one process, feeding each stdout line to `on_line` (after the run when its stdout goes to `output`, a
    file): wall time and the process's own peak RSS."""
    started = time.monotonic()
    if output is not None:
        with output.open("wb") as sink:
            process = subprocess.Popen(args, stdout=sink, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(process.pid, 0)
        seconds = time.monotonic() - started
        with output.open("rb") as lines:
            for line in lines:
                on_line(line)
    else:
        process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert process.stdout is not None
        for line in process.stdout:
            on_line(line)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.monotonic() - started
    return {"seconds": seconds, "rss_mb": usage.ru_maxrss / 1024, "status": status, "started": started}


def run_tap(config: dict, state: dict | None = None, catalog: dict | None = None) -> dict:
    """One tap process: wall time, its own peak RSS, records and a checksum, the last state. Its output goes to a
    file, read after the run: a reader decoding every line from the pipe would take a core from the tap (2 here),
    which the reference loops, writing to /dev/null, do not pay."""
    folder = Path(tempfile.mkdtemp())
    (folder / "config.json").write_text(json.dumps(config))
    args = [installed_tap(), "--config", str(folder / "config.json")]
    for name, document in (("state", state), ("catalog", catalog)):
        if document:
            (folder / f"{name}.json").write_text(json.dumps(document))
            args += [f"--{name}", str(folder / f"{name}.json")]
    decoder = msgspec.json.Decoder()
    seen: dict[str, Any] = {"records": 0, "checksum": 0.0, "state": None}

    def on_line(line: bytes) -> None:
        if line.startswith(b'{"type":"RECORD"') and not line.startswith(b'"stream":"cohort_syncs"', 17):
            seen["records"] += 1  # the vendor's records, not the tap's log of what it asked (cohort_syncs)
            seen["checksum"] += metric_of(decoder.decode(line)["record"])
        elif b'"type":"STATE"' in line[:40]:
            seen["state"] = decoder.decode(line)["value"]

    try:
        result = measure(args, on_line, output=folder / "messages.jsonl")
    finally:
        shutil.rmtree(folder)
    if result["status"] != 0:
        raise RuntimeError(f"the tap failed ({result['status']})")
    return {**result, **seen}


def metric_of(record: dict) -> float:
    for name in ("count", "pub_revenue", "value"):
        if record.get(name) is not None:
            return float(record[name])
    return 0.0


def raw_appsflyer(url: str, token: str, bodies: list[tuple[str, dict]]) -> dict:
    """The same requests, parsed and turned into the same records by a minimal loop with no SDK, written as
    JSON lines to /dev/null: the practical limit of this machine."""
    session = requests.Session()
    encoder = msgspec.json.Encoder()
    records, checksum = 0, 0.0
    with open(os.devnull, "wb") as sink:
        for path, body in bodies:
            response = session.post(
                url + path,
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
    return {"records": records, "checksum": checksum}


# The peer: Airbyte's Braze source in a virtualenv of its own (Python 3.11; newer CDKs break its discovery and
# older ones fail to import, so the CDK is pinned).
WORK = ROOT / "bench/work"
PEER_VENV = WORK / "airbyte-source-braze-0.3.0"
PEER_PACKAGES = ["airbyte-source-braze==0.3.0", "airbyte-cdk==1.8.0"]
BRAZE_KEY = "braze-sandbox-api-key"
BRAZE_LISTS = {"segments": "/segments/list", "campaigns": "/campaigns/list", "events": "/events/list"}
BRAZE_COUNTS = {"segments": 50_000, "campaigns": 5_000, "events": 5_000}
BRAZE_LISTS_SCALE = 17  # for the tap against the plain loop (braze_lists_at_scale): 1,003,000 records, as the others


def peer_source() -> Path:
    """The peer's executable, installed on first use (about a minute; kept in bench/work/ afterwards)."""
    executable = PEER_VENV / "bin/source-braze"
    if not executable.exists():
        python = shutil.which("python3.11")
        if python is None:
            raise RuntimeError("python3.11 is needed for the peer (airbyte-source-braze 0.3.0)")
        progress("installing the peer: " + " ".join(PEER_PACKAGES))
        subprocess.run([python, "-m", "venv", str(PEER_VENV)], check=True)
        pip = [str(PEER_VENV / "bin/python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*pip, *PEER_PACKAGES], check=True, stderr=subprocess.DEVNULL)
    return executable


def airbyte_counter(counts: dict[str, int], errors: list[str]) -> Callable[[bytes], None]:
    """Counts Airbyte RECORD messages per stream and keeps the messages of errors (TRACE errors, ERROR logs)."""
    decoder = msgspec.json.Decoder()

    def on_line(line: bytes) -> None:
        head = line[:40]
        if b"RECORD" not in head and b"TRACE" not in head and b"LOG" not in head:
            return
        message = decoder.decode(line)
        if message.get("type") == "RECORD":
            stream = message["record"]["stream"]
            counts[stream] = counts.get(stream, 0) + 1
        error = (message.get("trace") or {}).get("error") or {}
        log = message.get("log") or {}
        if error.get("message"):  # a TRACE error carries the cause: it goes before any logged error
            first_line = str(error["message"]).splitlines()[0]
            cause = f": {error['internal_message']}" if error.get("internal_message") else ""
            errors.insert(sum(1 for e in errors if e.startswith("trace: ")), f"trace: {first_line}{cause}")
        elif log.get("level") in ("ERROR", "FATAL"):
            errors.append(str(log.get("message")))

    return on_line


def with_start_up(sandbox: SandboxProcess, run: Callable[[], dict]) -> dict:
    """One run, its requests to Braze, and its start-up: from the process's start to its first request at the
    sandbox (whose clock is this machine's monotonic clock, as the bench's)."""
    sandbox.reset()
    result = run()
    made = [r for r in sandbox.requests() if r["vendor"] == "braze"]
    return {**result, "requests": len(made), "start_up": min(r["at"] for r in made) - result["started"]}


def run_peer(sandbox: SandboxProcess, streams: list[str]) -> dict:
    """`source-braze read` of the given streams (full refresh): time, peak RSS, records per stream, errors."""
    executable = peer_source()
    folder = Path(tempfile.mkdtemp())
    config = {"url": sandbox.url("braze"), "api_key": BRAZE_KEY, "start_date": f"{TODAY - dt.timedelta(days=30)}"}
    (folder / "config.json").write_text(json.dumps(config))
    discovered = subprocess.run(
        [str(executable), "discover", "--config", str(folder / "config.json")], capture_output=True, check=True
    )
    catalog = next(json.loads(line)["catalog"] for line in discovered.stdout.splitlines() if b'"CATALOG"' in line)
    configured = {
        "streams": [
            {"stream": stream, "sync_mode": "full_refresh", "destination_sync_mode": "overwrite"}
            for stream in catalog["streams"]
            if stream["name"] in streams
        ]
    }
    (folder / "catalog.json").write_text(json.dumps(configured))
    counts: dict[str, int] = {}
    errors: list[str] = []
    args = [str(executable), "read", "--config", str(folder / "config.json"), "--catalog", str(folder / "catalog.json")]
    result = measure(args, airbyte_counter(counts, errors))
    return {**result, "records": sum(counts.values()), "per_stream": counts, "errors": errors}


def braze_tap_config(sandbox: SandboxProcess) -> dict:
    return {
        "start_date": f"{TODAY - dt.timedelta(days=30)}",
        "braze": {
            "api_key": BRAZE_KEY,
            "app_group_id": "ag-sandbox",
            "base_url": sandbox.url("braze"),
            # The sandbox sets no Braze limit here, and neither the peer nor the plain loop has one.
            "rate_limits": [{"requests": 100_000, "seconds": 1}],
        },
    }


def plain_braze_lists(url: str) -> dict:
    """The same lists by a plain requests + json loop, written as JSON lines to /dev/null: the reference."""
    session = requests.Session()
    encoder = msgspec.json.Encoder()
    records, pages = 0, 0
    with open(os.devnull, "wb") as sink:
        for name, path in BRAZE_LISTS.items():
            page = 0
            while True:
                response = session.get(
                    url + path, params={"page": page}, headers={"Authorization": f"Bearer {BRAZE_KEY}"}
                )
                response.raise_for_status()
                items = response.json()[name]
                pages += 1
                for index, item in enumerate(items):
                    record = {"name": item, "position": page * len(items) + index} if name == "events" else item
                    sink.write(encoder.encode({"type": "RECORD", "stream": f"braze_{name}", "record": record}))
                    sink.write(b"\n")
                    records += 1
                if len(items) < (250 if name == "events" else 100):
                    break
                page += 1
    return {"records": records, "requests": pages}


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


def branch_config(sandbox: SandboxProcess, days: int, limits: list[dict]) -> dict:
    """Install cohorts by campaign and country from `days` ago, the sandbox's jobs polled at once."""
    return {
        "start_date": f"{TODAY - dt.timedelta(days=days)}",
        "branch": {
            "access_token": "branch-sandbox-access-token",
            "organization_id": "org-sandbox",
            "base_url": sandbox.url("branch"),
            "data_sources": ["install_cohort"],
            "dimensions": ["touch_data_tilde_campaign", "data_country_code"],
            "measures": ["OPEN"],
            "poll_interval_seconds": 0.01,
            "poll_max_interval_seconds": 0.05,
            "rate_limits": limits,
        },
    }


def bound(requests_made: int, limits: list[dict]) -> float:
    """The least time the limits allow for this many requests."""
    return max((math.ceil(requests_made / limit["requests"]) - 1) * limit["seconds"] for limit in limits)


def progress(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def catalog_selecting(config: dict, wanted: set[str]) -> dict:
    """The tap's discovered catalog with only `wanted` streams selected."""
    folder = Path(tempfile.mkdtemp())
    (folder / "config.json").write_text(json.dumps(config))
    command = [installed_tap(), "--config", str(folder / "config.json"), "--discover"]
    catalog = json.loads(subprocess.run(command, capture_output=True, check=True).stdout)
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] in wanted
    return catalog


def raw_applovin(url: str, log: list[dict]) -> dict:
    """The AppLovin pages the tap fetched, fetched again and folded into the same records by a plain loop."""
    session = requests.Session()
    encoder = msgspec.json.Encoder()
    dims = ("application", "package_name", "platform", "country")
    records, checksum = 0, 0.0
    with open(os.devnull, "wb") as sink:
        for request in log:
            results = session.get(url + request["path"], params=request["query"]).json()["results"]
            periods: dict[int, list[tuple[str, str]]] = {}
            for name in results[0] if results else ():
                metric, _, period = name.rpartition("_")
                if period.isdigit() and metric:
                    periods.setdefault(int(period), []).append((name, metric))
            for row in results:
                dimensions = {d: row[d] for d in dims if d in row}
                key = json.dumps(dimensions, sort_keys=True, separators=(",", ":"))
                base = {"cohort_date": row["day"], "dimension_key": key, **dimensions, "installs": int(row["installs"])}
                for period, columns in periods.items():
                    values = {
                        metric: float(row[name]) if row[name] not in (None, "") else None for name, metric in columns
                    }
                    if all(value is None for value in values.values()):
                        continue
                    record = {**base, "period": period, **values}
                    records += 1
                    checksum += record.get("pub_revenue") or 0.0
                    sink.write(
                        encoder.encode({"type": "RECORD", "stream": "applovin_cohort_revenue", "record": record})
                    )
                    sink.write(b"\n")
    return {"records": records, "checksum": checksum}


def raw_branch(url: str, log: list[dict]) -> dict:
    """The Branch export files the tap downloaded, downloaded again and turned into the same records."""
    session = requests.Session()
    encoder = msgspec.json.Encoder()
    records, checksum = 0, 0.0
    with open(os.devnull, "wb") as sink:
        for request in log:
            rows = session.get(url + request["path"], params=request["query"]).json()
            for row in rows:
                base = {k: v for k, v in row.items() if k != "data"}
                for band, value in row["data"].items():
                    record = {**base, "period": int(band[3:]), "value": value}
                    records += 1
                    checksum += float(value or 0.0)
                    sink.write(encoder.encode({"type": "RECORD", "stream": "branch_install_cohorts", "record": record}))
                    sink.write(b"\n")
    return {"records": records, "checksum": checksum}


class Report:
    """The table rows, and the figures the plot shows."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, str, str]] = []
        self.throughput: list[tuple[str, float, float]] = []  # stream, tap records/s, reference records/s
        self.memory: list[tuple[str, float]] = []  # run, peak RSS MB
        self.backfills: list[tuple[str, float, float]] = []  # vendor, seconds, bound

    def add_throughput(self, stream: str, tap: dict, reference: dict, reference_name: str) -> None:
        assert tap["records"] == reference["records"], (stream, tap["records"], reference["records"])
        if "checksum" in reference:
            assert abs(tap["checksum"] - reference["checksum"]) <= 1e-6 * max(1.0, abs(reference["checksum"])), stream
        tap_rate, reference_rate = tap["records"] / tap["seconds"], reference["records"] / reference["seconds"]
        self.rows.append(
            (
                f"{stream} throughput",
                f"{tap['records']:,} records in {tap['seconds']:.1f} s = {tap_rate:,.0f}/s, "
                f"peak RSS {tap['rss_mb']:.0f} MB",
                f"{reference_name} {reference_rate:,.0f}/s (same responses, same records"
                + (", checksum equal" if "checksum" in reference else "")
                + f"): {tap_rate / reference_rate:.2f}x",
            )
        )
        self.throughput.append((stream, tap_rate, reference_rate))
        self.memory.append((f"{stream} ({tap['records']:,})", tap["rss_mb"]))


def best_of_two(
    sandbox: SandboxProcess, tap_run: Callable[[], dict], reference_run: Callable[[list[dict]], dict]
) -> tuple[dict, dict]:
    """The tap and its reference loop (given the requests the tap made), each twice in turn from a reset sandbox,
    the faster of each kept: on this machine the same run varies by up to a fifth from one minute to the next (one
    run put Branch at 0.76x the loop; four in turn, at 0.84-0.85x)."""
    taps, references = [], []
    for _ in range(2):
        sandbox.reset()
        taps.append(tap_run())
        references.append(reference_run(sandbox.requests()))
    return min(taps, key=lambda run: run["seconds"]), min(references, key=lambda run: run["seconds"])


def throughput_and_memory(report: Report) -> None:
    """1 and 2: big syncs of three streams against plain loops over the same responses; memory at 1M and 100k."""
    sandbox = SandboxProcess(
        appsflyer_cardinality={"pid": 8, "c": 5, "geo": 10},  # 400 cohorts a day
        applovin_countries=70,  # 280 cohorts a day
        branch_cardinality={"touch_data_tilde_campaign": 10, "data_country_code": 12},
    )
    try:
        big = appsflyer_config(sandbox, 100, ["com.example.puzzle"])
        progress("appsflyer_cohorts, about 1M records, and the raw loop, in turn, best of two")
        tap, raw = best_of_two(
            sandbox,
            lambda: run_tap(big),
            lambda log: run_reference(
                "appsflyer",
                url=sandbox.url("appsflyer"),
                token=big["appsflyer"]["api_token"],
                bodies=[(r["path"], json.loads(r["body"])) for r in log if r["vendor"] == "appsflyer"],
            ),
        )
        report.add_throughput("appsflyer_cohorts", tap, raw, "raw loop")
        sandbox.reset()
        progress("appsflyer_cohorts, about 100k records")
        small = run_tap(appsflyer_config(sandbox, 22, ["com.example.puzzle"]))
        report.memory.append((f"appsflyer_cohorts ({small['records']:,})", small["rss_mb"]))
        report.rows.append(
            (
                "peak RSS, 1M against 100k records",
                f"{tap['rss_mb']:.0f} MB for {tap['records']:,} records",
                f"{small['rss_mb']:.0f} MB for {small['records']:,} records: {tap['rss_mb'] / small['rss_mb']:.2f}x",
            )
        )

        sandbox.reset()
        applovin = {
            "applovin": {
                "api_key": "applovin-sandbox-report-key",
                "base_url": sandbox.url("applovin"),
                "rate_limits": [{"requests": 1000, "seconds": 1}],
            }
        }
        progress("applovin_cohort_revenue")
        catalog = catalog_selecting(applovin, {"applovin_cohort_revenue"})
        # The sandbox builds a report's table on its first page, and the raw loop, asking after the tap, would
        # find it built: a run first, unmeasured, so that neither pays for the vendor's work.
        run_tap(applovin, catalog=catalog)
        tap, raw = best_of_two(
            sandbox,
            lambda: run_tap(applovin, catalog=catalog),
            lambda log: run_reference(
                "applovin", url=sandbox.url("applovin"), log=[r for r in log if r["vendor"] == "applovin"]
            ),
        )
        report.add_throughput("applovin_cohort_revenue", tap, raw, "raw loop")

        branch = branch_config(sandbox, 89, BRANCH_LIMITS)
        progress("branch_install_cohorts")
        tap, raw = best_of_two(
            sandbox,
            lambda: run_tap(branch),
            lambda log: run_reference(
                "branch", url=sandbox.url("files"), log=[r for r in log if r["vendor"] == "files"]
            ),
        )
        report.add_throughput("branch_install_cohorts", tap, raw, "raw loop over the export files")

        # 4. The next day's incremental run after the 1M backfill: the lookback, and the cohorts whose requested
        # period (60, 90, 180) completed since (the state's last run moved back a day, as a day later).
        sandbox.reset()
        progress("daily run")
        first = run_tap(appsflyer_config(sandbox, 100, ["com.example.puzzle"]))
        state = first["state"]
        yesterday = (TODAY - dt.timedelta(days=1)).isoformat()
        for partition in state["bookmarks"]["appsflyer_cohorts"]["partitions"]:
            partition["last_run_date"] = yesterday
        sandbox.reset()
        daily = run_tap(big, state=state)
        made = len([r for r in sandbox.requests() if r["vendor"] == "appsflyer"])
        partitions = len(state["bookmarks"]["appsflyer_cohorts"]["partitions"])
        # Per partition: the 30 lookback days and yesterday, one day a call (the complete-days rule), and one
        # call per requested period past the lookback whose cohort (today - p - 1) is inside the 100-day range.
        maturing = [p for p in (60, 90, 180) if p + 1 <= 100]
        minimum = partitions * (31 + len(maturing))
        report.rows.append(
            (
                "next day's run after backfill",
                f"{made} requests, {daily['records']:,} records ({partitions} partition)",
                f"least the maturity rule needs: {minimum} (31 lookback + {len(maturing)} maturing cohorts)",
            )
        )
    finally:
        sandbox.stop()


def backfills(report: Report) -> None:
    """3: 24-month backfills under the vendors' limits on a 10x clock (a documented minute lasts 6 s)."""
    scale = 0.1
    af_limits = [{"requests": 60, "seconds": 60 * scale}, {"requests": 50_000, "seconds": 86_400 * scale}]
    branch_limits = [
        {"requests": 2, "seconds": 1 * scale},
        {"requests": 5, "seconds": 60 * scale},
        {"requests": 150, "seconds": 3600 * scale},
    ]
    sandbox = SandboxProcess(time_scale=scale)
    try:
        backfill = appsflyer_config(sandbox, 730, ["com.example.puzzle", "id1234567890"])
        # Small answers (no grouping but the date), so the rate limits, not the data, set the pace.
        backfill["appsflyer"].update(
            groupings=[], kpis=["sessions", "revenue", "roas"], periods=[0, 1, 7, 30], rate_limits=af_limits
        )
        progress("AppsFlyer backfill")
        result = run_tap(backfill)
        log = [r for r in sandbox.requests() if r["vendor"] == "appsflyer"]
        low = bound(len(log), af_limits)
        report.rows.append(
            (
                "AppsFlyer 24-month backfill (2 apps x 3 KPIs)",
                f"{len(log)} requests in {result['seconds']:.1f} s, {sum(r['status'] == 429 for r in log)} x 429",
                f"bound {low:.1f} s (60 a minute, on a 10x clock): {result['seconds'] / low:.2f}x",
            )
        )
        report.backfills.append(("AppsFlyer", result["seconds"], low))
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
                "rate_limits": branch_limits,
            },
        }
        progress("Branch backfill")
        result = run_tap(branch)
        log = [r for r in sandbox.requests() if r["vendor"] == "branch"]
        jobs = sum(r["method"] == "POST" for r in log)
        low = bound(len(log), branch_limits)
        report.rows.append(
            (
                "Branch 24-month backfill, both sources",
                f"{jobs} jobs, {len(log)} requests ({len(log) / jobs:.1f} a job) in {result['seconds']:.1f} s, "
                f"{sum(r['status'] == 429 for r in log)} x 429",
                f"bound {low:.1f} s (5 a minute, on a 10x clock): {result['seconds'] / low:.2f}x",
            )
        )
        report.backfills.append(("Branch", result["seconds"], low))
    finally:
        sandbox.stop()


def braze_lists_expected(counts: dict[str, int]) -> int:
    """The sandbox's truth: every segment and event, and the campaigns that are not archived (4 in 5)."""
    return counts["segments"] + counts["campaigns"] * 4 // 5 + counts["events"]


def braze_lists_at_scale(report: Report) -> None:
    """6: the Braze lists at BRAZE_LISTS_SCALE times the peer's size, tap-cohorts against the plain loop. At the
    peer's size a run takes a second, and the SDK's import alone (0.2 s more than the loop's start-up) is a fifth
    of it; here, about a million records like the other shapes, it is a fiftieth, so the ratio is the record path's."""
    counts = {name: count * BRAZE_LISTS_SCALE for name, count in BRAZE_COUNTS.items()}
    sandbox = SandboxProcess(braze_counts=counts)
    try:
        config = braze_tap_config(sandbox)
        catalog = catalog_selecting(config, {f"braze_{name}" for name in BRAZE_LISTS})
        progress(f"Braze lists x{BRAZE_LISTS_SCALE}: tap-cohorts and the plain loop, in turn, best of two")
        # The sandbox builds each list on its first request: a single run would charge that to whichever is first.
        tap, plain = best_of_two(
            sandbox,
            lambda: with_start_up(sandbox, lambda: run_tap(config, catalog=catalog)),
            lambda _: with_start_up(sandbox, lambda: run_reference("braze", url=sandbox.url("braze"))),
        )
    finally:
        sandbox.stop()
    expected = braze_lists_expected(counts)
    assert tap["records"] == plain["records"] == expected, (tap["records"], plain["records"], expected)
    assert tap["requests"] == plain["requests"], (tap["requests"], plain["requests"])
    tap_rate, plain_rate = tap["records"] / tap["seconds"], plain["records"] / plain["seconds"]
    report.throughput.append(("braze lists", tap_rate, plain_rate))
    report.memory.append((f"braze lists ({tap['records']:,})", tap["rss_mb"]))
    report.rows.append(
        (
            f"Braze lists x{BRAZE_LISTS_SCALE}, tap-cohorts",
            f"{tap['records']:,} records, {tap['requests']:,} requests in {tap['seconds']:.2f} s = {tap_rate:,.0f}/s "
            f"(start-up {tap['start_up']:.2f} s), peak RSS {tap['rss_mb']:.0f} MB",
            f"plain requests + json loop {plain_rate:,.0f}/s (start-up {plain['start_up']:.2f} s, same requests, same "
            f"records): {tap_rate / plain_rate:.2f}x",
        )
    )


def peer(report: Report) -> None:
    """5: the Braze list streams by tap-cohorts, by airbyte-source-braze 0.3.0 and by a plain loop."""
    sandbox = SandboxProcess(braze_counts=BRAZE_COUNTS)
    try:
        config = braze_tap_config(sandbox)
        catalog = catalog_selecting(config, {f"braze_{name}" for name in BRAZE_LISTS})
        # Best of three for these two: each takes about a second, half of it the tap's start-up.
        progress("Braze lists: tap-cohorts")
        tap = min(
            (with_start_up(sandbox, lambda: run_tap(config, catalog=catalog)) for _ in range(3)),
            key=lambda run: run["seconds"],
        )
        progress("Braze lists: plain loop")
        plain = min(
            (with_start_up(sandbox, lambda: run_reference("braze", url=sandbox.url("braze"))) for _ in range(3)),
            key=lambda run: run["seconds"],
        )
        sandbox.reset()
        progress("Braze lists: airbyte-source-braze")
        theirs = run_peer(sandbox, list(BRAZE_LISTS))
        theirs["requests"] = len([r for r in sandbox.requests() if r["vendor"] == "braze"])
        sandbox.reset()
        series = run_peer(sandbox, ["kpi_daily_new_users", "segments_analytics"])
    finally:
        sandbox.stop()
    expected = braze_lists_expected(BRAZE_COUNTS)
    assert tap["records"] == plain["records"] == expected, (tap["records"], plain["records"], expected)
    tap_rate, plain_rate = tap["records"] / tap["seconds"], plain["records"] / plain["seconds"]
    report.memory.append(("braze lists: tap-cohorts", tap["rss_mb"]))
    report.memory.append(("braze lists: airbyte-source-braze", theirs["rss_mb"]))
    lists = ", ".join(BRAZE_LISTS)
    tap_after, plain_after = tap["seconds"] - tap["start_up"], plain["seconds"] - plain["start_up"]
    report.rows.append(
        (
            f"Braze lists ({lists}), tap-cohorts",
            f"{tap['records']:,} records, {tap['requests']} requests in {tap['seconds']:.2f} s = {tap_rate:,.0f}/s "
            f"(start-up {tap['start_up']:.2f} s, then {tap_after:.2f} s), peak RSS {tap['rss_mb']:.0f} MB",
            f"plain requests + json loop {plain['records']:,} records, {plain['requests']} requests in "
            f"{plain['seconds']:.2f} s = {plain_rate:,.0f}/s (start-up {plain['start_up']:.2f} s, then "
            f"{plain_after:.2f} s): {tap_rate / plain_rate:.2f}x whole, {plain_after / tap_after:.2f}x after start-up",
        )
    )
    peer_rate = theirs["records"] / theirs["seconds"]
    per_stream = ", ".join(f"{name} {count:,}" for name, count in sorted(theirs["per_stream"].items()))
    report.rows.append(
        (
            "Braze lists, peer: airbyte-source-braze 0.3.0 (airbyte-cdk 1.8.0)",
            f"{theirs['records']:,} records ({per_stream}), {theirs['requests']} requests in "
            f"{theirs['seconds']:.1f} s = {peer_rate:,.0f}/s, peak RSS {theirs['rss_mb']:.0f} MB",
            f"tap-cohorts is {tap_rate / peer_rate:.0f}x faster, "
            f"with {tap['rss_mb'] / theirs['rss_mb']:.2f}x the peak RSS",
        )
    )
    first_error = series["errors"][0].splitlines()[0][:200] if series["errors"] else "none"
    report.rows.append(
        (
            "peer's data-series streams (kpi_daily_new_users, segments_analytics)",
            f"{series['records']:,} records, exit status {series['status']}",
            f"first error: {first_error}",
        )
    )


def plot(report: Report, pipeline_rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2, figsize=(16, 11), layout="constrained")
    (speed, memory), (backfill, loads) = axes
    names = [name for name, _, _ in report.throughput]
    positions = range(len(names))
    speed.bar([p - 0.2 for p in positions], [t for _, t, _ in report.throughput], 0.4, label="tap-cohorts")
    speed.bar([p + 0.2 for p in positions], [r for _, _, r in report.throughput], 0.4, label="plain loop")
    speed.set_xticks(list(positions), names, rotation=20, ha="right")
    speed.set_ylabel("records per second")
    speed.set_title("Throughput")
    speed.set_ylim(0, 1.25 * max(max(t, r) for _, t, r in report.throughput))
    speed.legend(loc="upper right")
    memory.barh([name for name, _ in report.memory], [mb for _, mb in report.memory])
    memory.set_xlabel("peak RSS (MB)")
    memory.set_title("Peak memory")
    vendors = [name for name, _, _ in report.backfills]
    backfill.bar([i - 0.2 for i in range(len(vendors))], [s for _, s, _ in report.backfills], 0.4, label="wall time")
    backfill.bar([i + 0.2 for i in range(len(vendors))], [b for _, _, b in report.backfills], 0.4, label="bound")
    backfill.set_xticks(list(range(len(vendors))), vendors)
    backfill.set_ylabel("seconds (10x clock)")
    backfill.set_title("24-month backfills against their bounds")
    backfill.legend()
    into_postgres = [row for row in pipeline_rows if row["loader"] == "target-postgres"]
    shapes = [row["shape"] for row in into_postgres]
    for offset, (label, seconds) in enumerate(
        [
            ("tap alone", lambda row: row["tap_seconds"]),
            ("loader alone", lambda row: min(row["loader_seconds"])),
            ("meltano run", lambda row: min(row["meltano_seconds"])),
        ]
    ):
        rates = [row["records"] / seconds(row) for row in into_postgres]
        loads.bar([i + (offset - 1) * 0.27 for i in range(len(shapes))], rates, 0.27, label=label)
    for i, row in enumerate(into_postgres):
        ratio = min(row["meltano_seconds"]) / min(row["loader_seconds"])
        rate = row["records"] / min(row["meltano_seconds"])
        loads.annotate(f"{ratio:.2f}x", (i + 0.27, rate), ha="center", va="bottom", fontsize=9)
    loads.set_xticks(list(range(len(shapes))), shapes)
    loads.set_ylabel("records per second")
    loads.set_title("The pipeline into PostgreSQL (meltano run against the loader alone)")
    loads.legend()
    figure.savefig(path, dpi=80)


REFERENCES: dict[str, Callable[..., dict]] = {
    "appsflyer": raw_appsflyer,
    "applovin": raw_applovin,
    "branch": raw_branch,
    "braze": plain_braze_lists,
}


def run_reference(name: str, **arguments: Any) -> dict:
    """A reference loop in a process of its own, measured like the tap: wall time from process start, peak RSS."""
    path = Path(tempfile.mkdtemp()) / "arguments.json"
    path.write_text(json.dumps(arguments))
    output: list[bytes] = []
    result = measure([sys.executable, __file__, "--reference", name, str(path)], output.append)
    if result["status"] != 0:
        raise RuntimeError(f"the {name} reference loop failed ({result['status']})")
    return {**result, **json.loads(output[-1])}


def main() -> None:
    if sys.argv[1:2] == ["--reference"]:
        print(json.dumps(REFERENCES[sys.argv[2]](**json.loads(Path(sys.argv[3]).read_text()))))
        return
    sys.path.insert(0, str(ROOT))
    from bench.pipeline import pipeline, pipeline_table  # here: it imports this module

    report = Report()
    throughput_and_memory(report)
    backfills(report)
    peer(report)
    braze_lists_at_scale(report)
    pipeline_rows = pipeline()
    loaders = pipeline_table(pipeline_rows)
    table = [
        "| measure | tap-cohorts | reference |",
        "| --- | --- | --- |",
        *(f"| {a} | {b} | {c} |" for a, b, c in report.rows),
    ]
    text = (
        f"Benchmark of {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores\n\n"
        + "\n".join(table)
        + "\n\nThe pipeline, per stream shape (records/s; the loader alone and `meltano run` the best of their rounds; "
        "the bound is the slower side alone):\n\n" + "\n".join(loaders)
    )
    print(text)
    results = ROOT / "bench/results"
    results.mkdir(exist_ok=True)
    (results / "latest.md").write_text(text + "\n")
    plot(report, pipeline_rows, results / "latest.png")


if __name__ == "__main__":
    main()
