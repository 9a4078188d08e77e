"""A vendor that misbehaves on purpose (tests/hostile.py): redirects elsewhere, echoed secrets, broken
downloads. No credential reaches another host, and no secret reaches a log line or an error, in any encoding."""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
import tracemalloc
import zipfile
import zlib
from typing import Any
from urllib.parse import quote

import pytest
import requests

from cohorts_sandbox import Fault, Sandbox
from tap_cohorts.core.errors import MalformedBody, VendorError
from tap_cohorts.core.http import RateLimit, RequestLabel, VendorClient, WindowStats, origin
from tap_cohorts.core.parsing import MAX_LINE_CHARS, bounded_lines
from tap_cohorts.vendors.branch.streams import Export
from tests.helpers import APPLOVIN_KEY, TapRun, applovin_config, appsflyer_config, days_ago, run_tap
from tests.hostile import drop, hostile_server, redirect, respond
from tests.test_branch import TOKEN as BRANCH_TOKEN
from tests.test_branch import branch_config
from tests.test_braze import braze_config

SECRET = 'Sx9/k"ey+Value-0123456789'
LABEL = RequestLabel("a_stream", {"app_id": "app"})


def client(base_url: str, **options: Any) -> VendorClient:
    return VendorClient(
        vendor="hostile",
        base_url=base_url,
        rate_limits=[RateLimit(1000, 1)],
        secrets=[options.pop("secret", SECRET)],
        hints={},
        auth_headers=options.pop("auth_headers", {"Access-Token": SECRET}),
        max_retries=options.pop("max_retries", 0),
        retry_base_seconds=0.01,
        timeout=5,
        logger=logging.getLogger("tap-cohorts"),
        **options,
    )


def text(response: requests.Response) -> str:
    return response.text


def call(vendor: VendorClient, path: str, **options: Any) -> str:
    return vendor.call("GET", path, label=LABEL, stats=WindowStats(), read=text, **options)


@pytest.mark.parametrize("elsewhere_host", ["another port", "another host"])
def test_branch_redirected_to_another_origin_sends_its_token_nowhere(sandbox: Sandbox, elsewhere_host: str) -> None:
    with hostile_server() as front, hostile_server() as elsewhere:
        # "another host": the same port by another name (localhost, not 127.0.0.1): requests keeps custom headers.
        target = elsewhere.url if elsewhere_host == "another port" else front.url.replace("127.0.0.1", "localhost")
        front.route("/", redirect(lambda path: target + "/next" + path))
        front.route("/next", respond(200, b"{}"))
        elsewhere.route("/", respond(200, b"{}"))
        run = run_tap(branch_config(sandbox, base_url=front.url, max_retries=0), expect_error=True)
    seen_elsewhere = elsewhere.seen + [s for s in front.seen if s.path.startswith("/next")]
    assert [s for s in seen_elsewhere if BRANCH_TOKEN in s.text()] == []
    assert seen_elsewhere == []
    message = run.error_text
    assert f"HTTP 307 redirects to {origin(target)}" in message and "not followed" in message
    assert "stream branch_install_cohorts" in message and BRANCH_TOKEN not in message


def test_applovin_redirected_with_its_key_in_the_query_string_sends_it_nowhere(sandbox: Sandbox) -> None:
    with hostile_server() as front, hostile_server() as elsewhere:
        front.route("/", redirect(lambda path: elsewhere.url + path, status=302))  # the Location keeps the query
        run = run_tap(applovin_config(sandbox, base_url=front.url, start_date=days_ago(2)), expect_error=True)
    assert elsewhere.seen == []
    assert APPLOVIN_KEY in front.seen[0].path  # sent where it was configured to go, and only there
    assert f"redirects to {origin(elsewhere.url)}" in run.error_text and APPLOVIN_KEY not in run.error_text


def test_a_redirect_within_the_same_origin_is_followed_with_the_credential() -> None:
    with hostile_server() as vendor:
        vendor.route("/old", redirect(lambda path: "/new?page=2", status=308))
        vendor.route("/new", respond(200, b"moved here"))
        assert call(client(vendor.url), "/old") == "moved here"
    assert [(s.path, s.headers.get("access-token")) for s in vendor.seen] == [
        ("/old", SECRET),
        ("/new?page=2", SECRET),
    ]


@pytest.mark.parametrize(
    "echo",
    [
        pytest.param(lambda s: "x" * 490 + s + "y" * 100, id="across the 500-character cut"),
        pytest.param(lambda s: json.dumps({"error": "bad key", "key": s}), id="JSON-escaped"),
        pytest.param(lambda s: json.dumps({"key": s}).replace("/", "\\/"), id="JSON with escaped slashes"),
        pytest.param(lambda s: "key=" + quote(s, safe="").lower(), id="lowercase percent-encoded"),
        pytest.param(lambda s: "key=" + quote(s, safe=""), id="percent-encoded"),
        pytest.param(lambda s: f"got {s!r}", id="Python repr"),
    ],
)
def test_a_secret_the_vendor_echoes_never_reaches_the_error(echo: Any, caplog: pytest.LogCaptureFixture) -> None:
    with hostile_server() as vendor:
        vendor.route("/e", respond(400, echo(SECRET).encode()))
        with pytest.raises(VendorError) as raised:
            call(client(vendor.url), "/e")
    message = str(raised.value)
    assert "HTTP 400" in message and "***" in message
    for fragment in (SECRET[:4], SECRET[-6:], quote(SECRET, safe="")[:6].lower()):
        assert fragment.lower() not in (message + caplog.text).lower()


def test_a_credential_requests_refuses_as_a_header_fails_at_once_without_showing_it(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """tap-cohorts refuses such a value in config first (tests/test_config.py); this is the client's own guard."""
    with hostile_server() as vendor:
        vendor.route("/", respond(200, b"ok"))
        broken = "Sk3y-from-a-file\n"
        with pytest.raises(VendorError) as raised:
            call(client(vendor.url, secret=broken, auth_headers={"Api-Key": broken}, max_retries=3), "/x")
    assert vendor.seen == [] and "InvalidHeader" in str(raised.value)
    assert "Sk3y" not in str(raised.value) + caplog.text
    assert "retry" not in caplog.text


@pytest.mark.parametrize("failure", ["403", "dropped"])
def test_a_failed_presigned_download_never_shows_its_signature(failure: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="urllib3")  # urllib3 logs each URL it asks, query string included
    with hostile_server() as files:
        files.route("/export", respond(403, b"<Error>SignatureDoesNotMatch</Error>") if failure == "403" else drop)
        url = f"{files.url}/export/file.zip?X-Amz-Credential=AKIAEXAMPLE%2F20261202&X-Amz-Signature=deadbeef0123"
        with pytest.raises(VendorError) as raised:
            call(client(files.url, max_retries=1), url, authenticated=False, rate_limited=False)
    shown = str(raised.value) + caplog.text
    assert files.seen and files.seen[0].path.endswith("X-Amz-Signature=deadbeef0123")
    assert ("SignatureDoesNotMatch" if failure == "403" else "gave up after 2 attempts") in str(raised.value)
    assert "deadbeef0123" not in shown and "AKIAEXAMPLE" not in shown
    if failure == "403":
        assert "/export/file.zip?X-Amz-Credential=***&X-Amz-Signature=***" in caplog.text


@pytest.mark.parametrize("retry_after", ["86400", "1000000000", "1e10", "1e309"])
def test_a_retry_after_beyond_the_cap_fails_at_once_naming_the_wait(retry_after: str) -> None:
    with hostile_server() as vendor:
        vendor.route("/slow", respond(429, b'{"error": "slow down"}', {"Retry-After": retry_after}))
        started = time.monotonic()
        with pytest.raises(VendorError) as raised:
            call(client(vendor.url, max_retries=8, max_retry_after=60), "/slow")
        elapsed = time.monotonic() - started
    assert elapsed < 5 and len(vendor.seen) == 1  # not a day of sleep, nor an OverflowError
    assert f"asks to wait '{retry_after}'" in str(raised.value) and "max_retry_after_seconds (60s)" in str(raised.value)


def test_a_retry_after_under_the_cap_is_waited_out() -> None:
    with hostile_server() as vendor:
        answers = iter([respond(429, b"", {"Retry-After": "0.2"}), respond(200, b"done")])
        vendor.route("/", lambda handler: next(answers)(handler))
        started = time.monotonic()
        assert call(client(vendor.url, max_retries=2, max_retry_after=60), "/x") == "done"
        assert 0.2 <= time.monotonic() - started < 3


def braze_list_server(ignores_page: bool) -> Any:
    def answer(handler: Any) -> None:
        page = 0 if ignores_page else int(handler.path.split("page=")[1].split("&")[0])
        segments = [{"id": f"seg-{page}-{n}", "name": "s"} for n in range(100)] if page < 3 else []
        respond(200, json.dumps({"message": "success", "segments": segments}).encode())(handler)

    return answer


def test_a_braze_list_that_ignores_page_fails_instead_of_looping(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    with hostile_server() as vendor:
        vendor.route("/segments/list", braze_list_server(ignores_page=True))
        run = run_tap(braze_config(sandbox, base_url=vendor.url), expect_error=True)
    pages = [s for s in vendor.seen if s.path.startswith("/segments/list")]
    assert len(pages) == 2  # the second page repeats the first: stop there, not 21,800 duplicates later
    assert "stream braze_segments" in caplog.text and "page 1 repeats page 0" in caplog.text
    assert len(run.records("braze_segments")) == 100 and isinstance(run.error, VendorError)


def applovin_server(total: int, cap: int, ignores_offset: bool = False) -> Any:
    """AppLovin's report of `total` rows, at most `cap` a page whatever `limit` says, `count` the total."""

    def answer(handler: Any) -> None:
        query = dict(part.split("=", 1) for part in handler.path.split("?", 1)[1].split("&"))
        offset = 0 if ignores_offset else int(query["offset"])
        rows = [
            {"day": days_ago(1).isoformat(), "country": f"c{n:03d}", "installs": "10", "pub_revenue_0": "1.5"}
            for n in range(offset, min(total, offset + min(cap, int(query["limit"]))))
        ]
        respond(200, json.dumps({"code": 200, "results": rows, "count": total}).encode())(handler)

    return answer


def applovin_run(sandbox: Sandbox, server: Any, fails: bool) -> tuple[TapRun, list]:
    with hostile_server() as vendor:
        vendor.route("/maxCohort", server)
        config = applovin_config(sandbox, base_url=vendor.url, start_date=days_ago(1), periods=[0], page_size=1000)
        run = run_tap(config, expect_error=fails)
    return run, [s for s in vendor.seen if s.path.startswith("/maxCohort?")]


def test_applovin_pages_shorter_than_asked_are_not_taken_as_the_end(sandbox: Sandbox) -> None:
    run, pages = applovin_run(sandbox, applovin_server(total=250, cap=100), fails=False)
    assert len(run.records("applovin_cohort_revenue")) == 250  # not 100: `count` says 250
    assert [p.path.split("offset=")[1].split("&")[0] for p in pages] == ["0", "100", "200"]


def test_applovin_ignoring_offset_fails_instead_of_looping(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    run, pages = applovin_run(sandbox, applovin_server(total=250, cap=100, ignores_offset=True), fails=True)
    assert len(pages) == 2 and "repeats the one before: the vendor ignores `offset`" in caplog.text
    assert len(run.records("applovin_cohort_revenue")) == 100


def test_a_braze_point_without_an_iso_time_fails_its_window(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    sandbox.add_fault(
        Fault("bad_value", vendor="braze", path_contains="/kpi/dau/", field="time", value="yesterday", times=100)
    )
    config = braze_config(sandbox, start_date=days_ago(3), end_date=days_ago(1))
    run = run_tap(config, expect_error=True)
    assert run.records("braze_kpi_dau") == [] and len(run.records("braze_kpi_mau")) == 3
    assert "stream braze_kpi_dau" in caplog.text and "has no ISO 8601 `time`" in caplog.text
    assert "braze_kpi_dau" not in run.final_state["bookmarks"] or not run.final_state["bookmarks"]["braze_kpi_dau"].get(
        "replication_key_value"
    )


def test_a_bookmark_in_the_future_is_clamped_to_today_with_a_warning(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    config = appsflyer_config(sandbox, start_date=days_ago(10), lookback_days=2, periods=[0, 1])
    first = run_tap(config)
    state = json.loads(json.dumps(first.final_state).replace(days_ago(1).isoformat(), "2099-01-01"))
    sandbox.reset()
    run_tap(config, state=state)
    assert "bookmark 2099-01-01 is after today" in caplog.text
    assert {r.json()["from"] for r in sandbox.requests_to("appsflyer")} >= {days_ago(2).isoformat()}


def test_an_app_id_cannot_climb_out_of_the_path(sandbox: Sandbox) -> None:
    with hostile_server() as vendor:
        vendor.route("/", respond(404, b"Not found"))
        config = appsflyer_config(sandbox, base_url=vendor.url, app_ids=["../../admin"], max_retries=0)
        run_tap(config, expect_error=True)
    assert [s.path for s in vendor.seen] == ["/api/cohorts/v1/data/app/..%2F..%2Fadmin?format=csv"]


def drip(handler: Any) -> None:
    """A body of 100 bytes, one every 0.3 s."""
    handler.send_response(200)
    handler.send_header("Content-Length", "100")
    handler.end_headers()
    for _ in range(100):
        handler.wfile.write(b"x")
        handler.wfile.flush()
        time.sleep(0.3)


def test_a_dripping_body_ends_at_the_request_deadline() -> None:
    with hostile_server() as vendor:
        vendor.route("/", drip)
        started = time.monotonic()
        with pytest.raises(VendorError) as raised:
            call(client(vendor.url, max_retries=1, deadline=1.0), "/slow")
        elapsed = time.monotonic() - started
    # Two attempts of at most the 1 s deadline each (each read is well inside request_timeout): not 30 s each.
    assert elapsed < 4 and "no whole answer within request_deadline_seconds (1s)" in str(raised.value)


GIB = 1 << 30
TAP = os.path.join(os.path.dirname(sys.executable), "tap-cohorts")
# Runs the tap and prints its peak RSS (KiB): the wrapper's only child is the tap.
PEAK_RSS = (
    "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.stderr.write(r.stderr); sys.exit(r.returncode)"
)


@functools.cache
def gzip_bomb(prefix: bytes) -> bytes:
    """`prefix`, then zeros up to 1 GiB, gzipped: about 1 MB on the wire."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"0" * (1 << 20)
    parts = [compressor.compress(prefix), *(compressor.compress(block) for _ in range(1024)), compressor.flush()]
    return b"".join(parts)


@pytest.mark.parametrize(
    ("vendor_name", "path", "prefix"),
    [
        ("appsflyer", "/api/cohorts", b"date,pid,sessions_day_0\n"),  # a CSV spooled to disk
        ("braze", "/segments/list", b'{"message": "success", "segments": ['),  # JSON parsed after its spool
    ],
)
def test_a_gzip_answer_inflating_to_a_gibibyte_stops_at_max_response_mb_in_flat_memory(
    sandbox: Sandbox, tmp_path: Any, vendor_name: str, path: str, prefix: bytes
) -> None:
    config = {
        "appsflyer": appsflyer_config,
        "braze": braze_config,
    }[vendor_name](sandbox, start_date=days_ago(1), end_date=days_ago(1), max_retries=0)
    with hostile_server() as vendor:
        body = gzip_bomb(prefix)
        assert len(body) < 2 * 1024 * 1024
        vendor.route("/", respond(404, b"not here"))
        vendor.route(path, respond(200, body, {"Content-Encoding": "gzip"}))
        config[vendor_name]["base_url"] = vendor.url
        config_path = tmp_path / "config.json"
        config_path.write_text(json.dumps(config))
        result = subprocess.run(
            [sys.executable, "-c", PEAK_RSS, TAP, "--config", str(config_path)],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ, "TMPDIR": str(tmp_path)},
        )
    peak_mb = int(result.stdout.split()[-1]) / 1024
    print(f"{vendor_name}: peak RSS {peak_mb:.0f} MB")
    assert result.returncode == 1
    assert "the answer is larger than max_response_mb (512 MiB" in result.stderr
    assert f"stream {vendor_name}" in result.stderr
    assert peak_mb < 200, f"peak RSS {peak_mb:.0f} MB"
    assert list(tmp_path.iterdir()) == [config_path]  # the spool of the cut answer is gone


def test_a_line_without_an_end_is_not_read_whole(tmp_path: Any) -> None:
    """A Braze export member (or a CSV) of one 100 MiB line: an error naming the line, memory at the line cap."""
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as files, files.open("users.txt", "w") as member:
        for _ in range(100):
            member.write(b"{" * (1 << 20))
    tracemalloc.start()
    with zipfile.ZipFile(archive) as files, files.open("users.txt") as raw:
        lines = bounded_lines(io.TextIOWrapper(raw, encoding="utf-8"), "users.txt ")
        with pytest.raises(ValueError, match=r"users\.txt line 1 is longer than 16,777,216 characters"):
            list(lines)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 4 * MAX_LINE_CHARS  # a str of the cap (up to 4 bytes a character), not 100 MiB


def test_an_applovin_page_of_another_shape_fails_its_window_instead_of_reading_no_rows(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [{"day": days_ago(1).isoformat(), "installs": "10"}]
    answer = respond(200, json.dumps({"code": 200, "data": rows, "count": 1}).encode())
    run, pages = applovin_run(sandbox, answer, fails=True)
    assert len(pages) == 1 and run.records("applovin_cohort_revenue") == []
    assert "unusable response: the response is not the JSON expected" in caplog.text
    assert "missing required field `results`" in caplog.text


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b'{"rows": [{"measure": "OPEN"}]}', "Expected `array`, got `object`"),
        (b'[{"measure": "OPEN"}, 7]', "row 2 of the export is not a JSON object: b'7'"),
    ],
)
def test_a_branch_export_of_another_shape_is_refused_not_read_as_empty(body: bytes, problem: str) -> None:
    with tempfile.SpooledTemporaryFile() as spool:
        spool.write(body)
        with pytest.raises(ValueError, match=re.escape(problem)):
            Export.read(spool)


def test_a_json_body_cut_short_is_malformed_so_it_is_asked_again() -> None:
    with tempfile.SpooledTemporaryFile() as spool:
        spool.write(b'[{"measure": "OPEN"}, {"meas')
        with pytest.raises(MalformedBody, match="not complete JSON"):
            Export.read(spool)
