"""A vendor that misbehaves on purpose (tests/hostile.py): redirects elsewhere, echoed secrets, broken
downloads. No credential reaches another host, and no secret reaches a log line or an error, in any encoding."""

from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote

import pytest
import requests

from cohorts_sandbox import Sandbox
from tap_cohorts.core.errors import VendorError
from tap_cohorts.core.http import RateLimit, RequestLabel, VendorClient, WindowStats, origin
from tests.helpers import APPLOVIN_KEY, applovin_config, days_ago, run_tap
from tests.hostile import drop, hostile_server, redirect, respond
from tests.test_branch import TOKEN as BRANCH_TOKEN
from tests.test_branch import branch_config

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
    message = str(run.error)
    assert f"HTTP 307 redirects to {origin(target)}" in message and "not followed" in message
    assert "stream branch_install_cohorts" in message and BRANCH_TOKEN not in message


def test_applovin_redirected_with_its_key_in_the_query_string_sends_it_nowhere(sandbox: Sandbox) -> None:
    with hostile_server() as front, hostile_server() as elsewhere:
        front.route("/", redirect(lambda path: elsewhere.url + path, status=302))  # the Location keeps the query
        run = run_tap(applovin_config(sandbox, base_url=front.url, start_date=days_ago(2)), expect_error=True)
    assert elsewhere.seen == []
    assert APPLOVIN_KEY in front.seen[0].path  # sent where it was configured to go, and only there
    assert f"redirects to {origin(elsewhere.url)}" in str(run.error) and APPLOVIN_KEY not in str(run.error)


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
