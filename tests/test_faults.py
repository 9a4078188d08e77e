"""Transient faults still give complete, correct data; permanent ones fail fast with the vendor's words and
a hint; no secret ever reaches a log line, an error, the state or a record."""

from __future__ import annotations

import http.server
import json
import logging
import os
import subprocess
import sys
import threading
import urllib.parse

import pytest
import requests

from cohorts_sandbox import Fault, Sandbox
from tests.helpers import APPLOVIN_KEY, applovin_config, appsflyer_config, days_ago, run_tap
from tests.test_appsflyer import STREAM, by_key, expected_records

pytestmark = pytest.mark.dates

START, END = days_ago(33), days_ago(29)  # windows 33..31, 30, 29


def assert_complete(sandbox: Sandbox, records: list[dict]) -> None:
    assert by_key(records) == expected_records(sandbox, START, END)


def test_429_with_retry_after_is_honoured(sandbox: Sandbox) -> None:
    sandbox.add_fault(Fault("status", vendor="appsflyer", status=429, retry_after=0.4))
    run = run_tap(appsflyer_config(sandbox, start_date=START, end_date=END))
    assert_complete(sandbox, run.records(STREAM))
    first, retry = sandbox.requests_to("appsflyer")[:2]
    assert (first.status, retry.status) == (429, 200)
    assert retry.at - first.at >= 0.4


def test_429_without_retry_after_backs_off_and_completes(sandbox: Sandbox) -> None:
    sandbox.add_fault(Fault("status", vendor="appsflyer", status=429, times=2))
    run = run_tap(appsflyer_config(sandbox, start_date=START, end_date=END))
    assert_complete(sandbox, run.records(STREAM))
    assert [r.status for r in sandbox.requests_to("appsflyer")][:3] == [429, 429, 200]


def test_a_burst_of_5xx_is_retried(sandbox: Sandbox) -> None:
    sandbox.add_fault(Fault("status", vendor="appsflyer", status=503, times=3, skip=1))
    run = run_tap(appsflyer_config(sandbox, start_date=START, end_date=END))
    assert_complete(sandbox, run.records(STREAM))
    assert [r.status for r in sandbox.requests_to("appsflyer")] == [200, 503, 503, 503, 200, 200]


def test_dropped_connections_are_retried(sandbox: Sandbox) -> None:
    sandbox.add_fault(Fault("drop", vendor="appsflyer", times=2))
    run = run_tap(appsflyer_config(sandbox, start_date=START, end_date=END))
    assert_complete(sandbox, run.records(STREAM))
    assert [r.fault for r in sandbox.requests_to("appsflyer")][:3] == ["drop", "drop", None]


def test_a_truncated_body_is_asked_again_not_half_parsed(sandbox: Sandbox) -> None:
    sandbox.add_fault(Fault("truncate", vendor="appsflyer"))
    run = run_tap(appsflyer_config(sandbox, start_date=START, end_date=END))
    assert_complete(sandbox, run.records(STREAM))
    assert len(sandbox.requests_to("appsflyer")) == 4


def test_a_slow_response_past_the_timeout_is_retried(sandbox: Sandbox, caplog: pytest.LogCaptureFixture) -> None:
    sandbox.add_fault(Fault("slow", vendor="appsflyer", delay=1.0))
    run = run_tap(appsflyer_config(sandbox, start_date=START, end_date=END, request_timeout=0.3))
    assert_complete(sandbox, run.records(STREAM))
    retries = [r.getMessage() for r in caplog.records if "retry 1 of 8" in r.getMessage()]
    assert len(retries) == 1 and "ReadTimeout" in retries[0] and f"window {START.isoformat()}" in retries[0]


def test_malformed_json_is_retried(sandbox: Sandbox) -> None:
    sandbox.add_fault(Fault("malformed_json", vendor="applovin"))
    day = days_ago(3)
    run = run_tap(applovin_config(sandbox, start_date=day, end_date=day, periods=[0]))
    assert run.counts() == {
        "applovin_cohort_impressions": 20,
        "applovin_cohort_revenue": 20,
        "applovin_cohort_sessions": 20,
    }


def test_401_fails_at_once_with_the_vendor_message_and_a_hint(sandbox: Sandbox) -> None:
    config = appsflyer_config(sandbox, start_date=START, end_date=END, api_token="not-the-token")
    run = run_tap(config, expect_error=True)
    message = run.error_text
    assert len(sandbox.requests_to("appsflyer")) == 1
    assert "HTTP 401" in message and "the authorization token is malformed" in message
    assert "Hint: the API token is malformed" in message
    assert f"stream {STREAM}, partition app_id=com.example.puzzle" in message
    assert f"window {START.isoformat()}..{days_ago(31).isoformat()}" in message
    assert "not-the-token" not in message


def test_404_names_the_app_and_the_plan(sandbox: Sandbox) -> None:
    run = run_tap(appsflyer_config(sandbox, start_date=START, end_date=END, app_ids=["com.unknown"]), expect_error=True)
    assert (
        "HTTP 404" in run.error_text and "Cohort API plan" in run.error_text and "app_id=com.unknown" in run.error_text
    )


def test_retries_end_with_a_clear_error(sandbox: Sandbox) -> None:
    sandbox.add_fault(Fault("status", vendor="applovin", status=500, times=10))
    day = days_ago(3)
    run = run_tap(applovin_config(sandbox, start_date=day, end_date=day, max_retries=2), expect_error=True)
    message = run.error_text
    assert "applovin" in message and "gave up after 3 attempts" in message and "HTTP 500" in message
    assert f"window {day.isoformat()}..{day.isoformat()}" in message
    # The first AppLovin stream gives up after 3 attempts: AppLovin is down, the other two get one attempt each.
    assert len(sandbox.requests_to("applovin")) == 3 + 2 and "3 partition(s) failed (applovin (down))" in message


def test_the_applovin_key_never_appears_in_logs_errors_state_or_records(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="urllib3")  # urllib3 logs each URL, query string included
    day = days_ago(3)
    sandbox.add_fault(Fault("drop", vendor="applovin"))
    sandbox.add_fault(Fault("status", vendor="applovin", status=503, times=2))
    ok = run_tap(applovin_config(sandbox, start_date=day, end_date=day, periods=[0]))
    assert sum(ok.counts().values()) == 60
    failing = run_tap(
        applovin_config(sandbox, start_date=day, end_date=day, api_key=APPLOVIN_KEY + "x"), expect_error=True
    )
    assert "Report Key" in failing.error_text
    everything = caplog.text + failing.error_text + json.dumps(ok.messages) + json.dumps(failing.messages)
    assert "api_key=***" in caplog.text  # urllib3 logged the URLs, redacted
    assert APPLOVIN_KEY not in everything


def test_the_cli_fails_with_the_hint_and_no_secret_on_stderr(sandbox: Sandbox, tmp_path) -> None:
    config = applovin_config(sandbox, start_date=days_ago(2), api_key="wrong-key-0123456789")
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    env = {**os.environ, "TAP_COHORTS_LOG_LEVEL": "DEBUG"}
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "tap-cohorts"), "--config", str(path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode != 0
    assert "HTTP 401" in result.stderr and "Hint: the Report Key (api_key) was refused" in result.stderr
    assert "wrong-key-0123456789" not in result.stderr + result.stdout


class RecordingProxy(http.server.BaseHTTPRequestHandler):
    """A plain HTTP forward proxy: notes each request's target and relays it to the sandbox."""

    seen: list[str] = []
    upstream = ""

    def relay(self) -> None:
        type(self).seen.append(f"{self.command} {self.path}")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = urllib.parse.urlsplit(self.path)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        with requests.Session() as session:
            session.trust_env = False  # the proxy's own requests go straight to the sandbox
            answer = session.request(
                self.command, f"{self.upstream}{target.path}?{target.query}", data=body, headers=headers, timeout=30
            )
        self.send_response(answer.status_code)
        for name in ("Content-Type",):
            if name in answer.headers:
                self.send_header(name, answer.headers[name])
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = relay

    def log_message(self, *args: object) -> None:
        pass


def test_the_environment_s_proxy_carries_the_requests_and_no_proxy_bypasses_it(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """requests' environment is read once per origin (not per request): HTTP_PROXY still carries every request,
    and a host in NO_PROXY still goes direct."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RecordingProxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    RecordingProxy.seen, RecordingProxy.upstream = [], f"http://127.0.0.1:{sandbox.port}"
    try:
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        config = appsflyer_config(sandbox, start_date=START, end_date=END)
        port = sandbox.port
        config["appsflyer"]["base_url"] = f"http://vendor.test:{port}/appsflyer"  # a name only the proxy knows
        run = run_tap(config)
        assert_complete(sandbox, run.records(STREAM))
        assert len(RecordingProxy.seen) == 3 == len(sandbox.requests_to("appsflyer"))
        assert all(line.startswith(f"POST http://vendor.test:{port}/appsflyer/") for line in RecordingProxy.seen)

        RecordingProxy.seen = []
        sandbox.reset()
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        run = run_tap(appsflyer_config(sandbox, start_date=START, end_date=END))
        assert_complete(sandbox, run.records(STREAM))
        assert RecordingProxy.seen == []
    finally:
        server.shutdown()
