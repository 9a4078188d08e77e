"""`tap-cohorts --test`: a few cheap requests per configured vendor say whether it is reachable, accepts the
credential, and knows each app, id, report and permission the config names; exit 0 only when all pass."""

from __future__ import annotations

import json
import logging
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cohorts_sandbox import Sandbox
from tap_cohorts.tap import TapCohorts
from tests.helpers import applovin_config, appsflyer_config
from tests.postgres_server import free_port
from tests.test_adjust import adjust_config
from tests.test_adjust_report import report_config
from tests.test_branch import branch_config
from tests.test_braze import braze_config
from tests.test_cli import TAP
from tests.test_isolation import all_vendors
from tests.test_reliability import shrink_braze

pytestmark = pytest.mark.dates


def test_a_healthy_setup_passes_with_a_few_requests_per_vendor(sandbox: Sandbox, tmp_path: Path) -> None:
    shrink_braze(sandbox)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(all_vendors(sandbox)))
    result = subprocess.run([TAP, "--config", str(config), "--test"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout == ""  # a check, not a sync: no Singer message
    assert "Connection check passed: adjust, adjust_report, applovin, appsflyer, branch, braze" in result.stderr
    assert "FAIL" not in result.stderr
    # One request per app (AppsFlyer, Adjust), report (AppLovin), data source (Branch, a job submitted and not
    # waited for), and list or app-wide series (Braze: one per permission the configured streams need).
    asked = Counter(request.vendor for request in sandbox.requests)
    assert asked == {"appsflyer": 2, "branch": 2, "adjust": 3 + 2, "applovin": 3, "braze": 12}
    assert sandbox.requests_to("branch", "/v2/analytics/") == []  # no job status asked


# A broken setup: the config (this vendor alone), what breaks at the sandbox, and what the FAIL line must say.
Setup = tuple[Callable[[Sandbox], dict], Callable[[Sandbox], None], list[str]]


def keep(_: Sandbox) -> None:
    pass


def with_section(build: Callable[..., dict], name: str, **changes: Any) -> Callable[[Sandbox], dict]:
    def config(sandbox: Sandbox) -> dict:
        built = build(sandbox)
        built[name].update(changes)
        return built

    return config


BROKEN: dict[str, Setup] = {
    "appsflyer app off the Cohort API plan": (
        with_section(appsflyer_config, "appsflyer", app_ids=["com.example.puzzle", "com.not.on.plan"]),
        keep,
        [
            "FAIL: appsflyer: reachable",
            "credential accepted; 1 of 2 checks passed",
            "  ok    app com.example.puzzle: on the Cohort API plan (config['appsflyer']['app_ids'])",
            "  FAIL  app com.not.on.plan: on the Cohort API plan (config['appsflyer']['app_ids']): HTTP 404 Not Found: "
            "Not found: the app is not authorized for the Cohort API. Hint: check that the app id is exactly as in "
            "the dashboard and that the app is on the Cohort API plan",
            "Connection check FAILED: appsflyer (config['appsflyer']['app_ids'])",
        ],
    ),
    "appsflyer token refused": (
        with_section(appsflyer_config, "appsflyer", api_token="a-revoked-token", app_ids=["com.example.puzzle", "x"]),
        keep,
        [
            "the credential is REFUSED (HTTP 401",
            "FAIL  app com.example.puzzle: on the Cohort API plan (config['appsflyer']['app_ids']): HTTP 401 "
            "Unauthorized",
            "in config['appsflyer']['api_token']",
            "SKIP  app x: on the Cohort API plan (config['appsflyer']['app_ids']): not asked: HTTP 401",
        ],
    ),
    "appsflyer host unreachable": (
        lambda sandbox: {
            **appsflyer_config(sandbox),
            "appsflyer": {
                **appsflyer_config(sandbox)["appsflyer"],
                "base_url": f"http://127.0.0.1:{free_port()}",
                "retry_wait_seconds": 0.01,
            },
        },
        keep,
        [
            "FAIL: appsflyer: NOT reachable at http://127.0.0.1:",
            "check config['appsflyer']['base_url']",
            "ConnectionError",
        ],
    ),
    "braze key without a permission": (
        braze_config,
        lambda sandbox: sandbox.config.braze_forbidden_paths.add("/canvas/list"),
        [
            "FAIL: braze: reachable",
            "11 of 12 checks passed",
            "  FAIL  permission canvas.list (config['braze']['api_key']): HTTP 403 Forbidden: "
            '{"message": "The API key does not have the canvas.list permission"}. Hint: the REST API key lacks the '
            "permission for this endpoint",
            "  ok    permission campaigns.list (config['braze']['api_key'])",
        ],
    ),
    "braze app group unknown": (
        with_section(braze_config, "braze", app_group_id="ag-someone-else"),
        keep,
        ["the credential is REFUSED", "Unknown or missing app group id", "check config['braze']['app_group_id']"],
    ),
    "branch app not reachable with the token": (
        with_section(branch_config, "branch", app_id="999999", organization_id=None),
        keep,
        [
            "FAIL  install_cohort exports for app_id 999999 (config['branch']['app_id']): HTTP 404 Not Found: "
            '{"code": 404, "error_message": "App not found"}'
        ],
    ),
    "branch organization unknown": (
        with_section(branch_config, "branch", organization_id="org-other"),
        keep,
        ["(config['branch']['organization_id']): HTTP 404", "Organization not found"],
    ),
    "applovin report key refused": (
        with_section(applovin_config, "applovin", api_key="not-the-report-key"),
        keep,
        ["the credential is REFUSED", "FAIL  report /maxCohort", "(config['applovin']['api_key']): HTTP 401", "SKIP"],
    ),
    "adjust tracker unknown": (
        with_section(adjust_config, "adjust", grouping=["trackers"], tracker_tokens=["nosuch"]),
        keep,
        ["FAIL  adjust_tracker_cohorts abc123def4/nosuch", "(config['adjust']['tracker_tokens']): HTTP 404", "ok    "],
    ),
    "adjust KPI the token may not read": (
        with_section(adjust_config, "adjust", kpis=["installs", "forbidden_kpi"]),
        keep,
        ["(config['adjust']['app_tokens']): HTTP 403 Forbidden", "no access to KPI forbidden_kpi"],
    ),
    "adjust report metric the token may not read": (
        with_section(report_config, "adjust_report", metrics=["installs", "forbidden_metric"]),
        keep,
        [
            "FAIL  app abc123def4: known, metrics readable (config['adjust_report']['app_tokens']): HTTP 403 Forbidden",
            "You do not have permission to view forbidden_metric",
            "Hint: the token has no access to these metrics or apps",
        ],
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_setup_fails_naming_the_vendor_and_the_key(
    case: str, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    build, breaks, expected = BROKEN[case]
    breaks(sandbox)
    config = {k: v for k, v in build(sandbox).items() if isinstance(v, dict)}
    config = {name: {k: v for k, v in section.items() if v is not None} for name, section in config.items()}
    with caplog.at_level(logging.INFO, logger="tap-cohorts"):
        passed = TapCohorts(config=config, validate_config=True).check_connections()
    assert not passed
    text = caplog.text
    for line in expected:
        assert line in text, f"{line!r} not in:\n{text}"
    assert "Connection check FAILED" in text and "Connection check passed" not in text
    assert sandbox.requests_to("branch", "/v2/analytics/") == []  # no job is waited for


def test_the_cli_exits_1_when_a_check_fails(sandbox: Sandbox, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(appsflyer_config(sandbox, app_ids=["com.not.on.plan"])))
    result = subprocess.run([TAP, "--config", str(config), "--test"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert (
        result.stderr.rstrip()
        .splitlines()[-1]
        .endswith("Connection check FAILED: appsflyer (config['appsflyer']['app_ids']); each FAIL line above says why")
    )
    assert "Traceback" not in result.stderr
