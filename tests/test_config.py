"""Bad config fails before the first request, with one message naming the key, the value and the rule."""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import subprocess
import sys

import pytest
from singer_sdk.exceptions import ConfigValidationError

from cohorts_sandbox import Sandbox
from tap_cohorts.tap import TapCohorts
from tests.helpers import applovin_config, appsflyer_config

pytestmark = pytest.mark.dates


def base(sandbox: Sandbox) -> dict:
    config = appsflyer_config(sandbox, start_date="2026-01-01")
    config.update(applovin_config(sandbox))
    config["adjust"] = {
        "api_token": "adjust-config-test-token",
        "base_url": sandbox.url("adjust"),
        "app_tokens": ["a"],
        "kpis": ["installs"],
    }
    config["braze"] = {"api_key": "braze-config-test-key", "base_url": sandbox.url("braze")}
    return config


SECRETS = {"api_key", "api_token", "access_token"}


def with_change(config: dict, path: tuple, value: object) -> dict:
    changed = copy.deepcopy(config)
    target = changed
    for key in path[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return changed


CASES = [
    (("end_date",), "2025-12-31", ["config['end_date']", "2025-12-31", "before start_date 2026-01-01"]),
    (("start_date",), "2026-13-01", ["config['start_date']", "2026-13-01"]),
    (("lookback_days",), -1, ["config['lookback_days']", "-1", "must be from 0 to 3650"]),
    (("appsflyer", "kpis"), [], ["config['appsflyer']['kpis']", "empty"]),
    (("appsflyer", "app_ids"), KeyError, ["'app_ids' is a required property", "config['appsflyer']"]),
    (("appsflyer", "cohort_types"), ["organic"], ["'organic' is not one of", "config['appsflyer']['cohort_types'][0]"]),
    (
        ("appsflyer", "groupings"),
        ["pid", "c", "geo", "af_adset", "af_ad", "af_channel", "af_prt"],
        ["config['appsflyer']['groupings']", "7 groupings", "at most 6"],
    ),
    (
        ("appsflyer", "groupings"),
        ["pid", "country"],
        ["'country' is not one of", "config['appsflyer']['groupings'][1]"],
    ),
    (("appsflyer", "periods"), [0, 181], ["config['appsflyer']['periods']", "181", "0-180"]),
    (("appsflyer", "min_cohort_size"), 0, ["config['appsflyer']['min_cohort_size']", "0", "1 or more"]),
    (("appsflyer", "partial_data"), True, ["config['appsflyer']['partial_data']", "cumulative", "'on_day'"]),
    (("appsflyer", "aggregation_type"), "daily", ["'daily' is not one of", "config['appsflyer']['aggregation_type']"]),
    (
        ("appsflyer", "rate_limits"),
        [{"requests": 0, "seconds": 1}],
        ["config['appsflyer']['rate_limits'][0]['requests']", "0"],
    ),
    (
        ("appsflyer", "rate_limits"),
        [{"requests": 5, "seconds": -1}],
        ["config['appsflyer']['rate_limits'][0]['seconds']", "-1"],
    ),
    (
        ("appsflyer", "filters"),
        {"period": [1]},
        ["config['appsflyer']['filters']['period']", "config['appsflyer']['periods']"],
    ),
    (("appsflyer", "start_date"), "2027-01-01", ["config['appsflyer']['start_date']"]),
    (("applovin", "periods"), [0, 8], ["config['applovin']['periods']", "8", "not a period MAX reports"]),
    (("applovin", "columns"), ["region"], ["'region' is not one of", "config['applovin']['columns'][0]"]),
    (("applovin", "page_size"), 0, ["config['applovin']['page_size']", "1 or more"]),
    # A secret's value is never shown, not even in the schema's type error (which quotes it).
    (("applovin", "api_key"), 12345, ["*** is not of type 'string'", "config['applovin']['api_key']"]),
    (("applovin", "api_key"), "k3y-from-a-file\n", ["config['applovin']['api_key']: starts or ends with whitespace"]),
    (("adjust", "api_token"), " tok\ten", ["config['adjust']['api_token']: starts or ends with whitespace"]),
    (("appsflyer", "api_token"), "", ["config['appsflyer']['api_token']: is empty"]),
    (
        ("adjust", "base_url"),
        "ftp://dash.adjust.com",
        ["config['adjust']['base_url']: 'ftp://dash.adjust.com' is not an"],
    ),
    (
        ("appsflyer", "lookback_days"),
        10**10,
        ["config['appsflyer']['lookback_days']: 10000000000 must be from 0 to 3650"],
    ),
    (("braze", "max_response_mb"), 0, ["config['braze']['max_response_mb']: 0 must be from 1 to 1048576"]),
    (("adjust", "request_timeout"), 1e300, ["config['adjust']['request_timeout']: 1e+300 must be above 0 and at most"]),
    (
        ("applovin", "rate_limits"),
        [{"requests": 1, "seconds": 0.0001}],
        ["config['applovin']['rate_limits'][0]['seconds']: 0.0001 must be a number from 0.001"],
    ),
    (("braze", "base_url"), "not-a-url", ["config['braze']['base_url']: 'not-a-url' is not an http:// or https://"]),
    (("adjust", "kpis"), [], ["config['adjust']['kpis']: an empty list"]),
    (
        ("adjust", "kpis"),
        ["Revenue-Total", "revenue total"],
        ["config['adjust']['kpis']", "both be column 'revenue_total'"],
    ),
    (("adjust", "cohort_period"), "year", ["'year' is not one of", "config['adjust']['cohort_period']"]),
    (("adjust", "utc_offset"), "1:00", ["config['adjust']['utc_offset']: '1:00'", "[+-]HH:MM"]),
    (("adjust", "countries"), ["germany"], ["config['adjust']['countries']: 'germany'", "alpha-2"]),
    (("adjust", "grouping"), ["Countries!"], ["config['adjust']['grouping']: 'Countries!'"]),
    (("adjust", "attribution_type"), "view", ["'view' is not one of", "config['adjust']['attribution_type']"]),
    (("adjust", "app_tokens"), KeyError, ["'app_tokens' is a required property"]),
    (("braze", "data_series_unit"), "week", ["'week' is not one of", "config['braze']['data_series_unit']"]),
    (("braze", "export_segment_ids"), [], ["config['braze']['export_segment_ids']: an empty list"]),
    (("braze", "export_timeout_seconds"), 0, ["config['braze']['export_timeout_seconds']: 0 must be above 0"]),
    (("braze", "api_key"), KeyError, ["'api_key' is a required property", "config['braze']"]),
    (("braze", "rate_limits"), [{"requests": 5}], ["'seconds' is a required property"]),
    (
        ("appsflyer", "shared_rate_budget"),
        "memcached://budget.internal:11211",
        ["config['appsflyer']['shared_rate_budget']", "memcached:// is not a budget backend"],
    ),
    (
        ("appsflyer", "shared_rate_budget"),
        "/no/such/folder/budget.sqlite",
        ["config['appsflyer']['shared_rate_budget']", "the folder /no/such/folder does not exist"],
    ),
]


@pytest.mark.parametrize(
    ("path", "value", "expected"), CASES, ids=["-".join(map(str, c[0])) + f"={c[1]}" for c in CASES]
)
def test_bad_config_fails_before_any_request_naming_the_key(
    sandbox: Sandbox, path: tuple, value: object, expected: list[str]
) -> None:
    config = with_change(base(sandbox), path, value)
    if path == ("appsflyer", "start_date"):
        config["end_date"] = "2026-06-01"
    with pytest.raises(ConfigValidationError) as raised:
        TapCohorts(config=config).sync_all()
    errors = "\n".join(raised.value.errors)
    for fragment in expected:
        assert fragment in errors
    if path[-1] in SECRETS and value:
        assert str(value).strip() not in errors
    assert sandbox.requests == []


def test_a_schema_error_does_not_hide_the_rule_errors(sandbox: Sandbox) -> None:
    config = with_change(with_change(base(sandbox), ("applovin", "api_key"), 12345), ("appsflyer", "kpis"), [])
    with pytest.raises(ConfigValidationError) as raised:
        TapCohorts(config=config)
    errors = "\n".join(raised.value.errors)
    assert "config['applovin']['api_key']" in errors and "config['appsflyer']['kpis']: an empty list" in errors


def test_unified_cohorts_have_no_uninstalls(sandbox: Sandbox) -> None:
    config = base(sandbox)
    config["appsflyer"].update(cohort_types=["unified"], kpis=["uninstalls"])
    with pytest.raises(ConfigValidationError) as raised:
        TapCohorts(config=config)
    assert (
        "config['appsflyer']['kpis']: 'uninstalls' is not available with cohort type 'unified'" in raised.value.errors
    )


def test_the_good_base_config_is_accepted(sandbox: Sandbox) -> None:
    tap = TapCohorts(config=base(sandbox))
    assert {"applovin_cohort_revenue", "appsflyer_cohorts", "adjust_cohorts", "braze_segments"} <= set(tap.streams)
    assert "adjust_tracker_cohorts" not in tap.streams and "braze_segment_users" not in tap.streams


@pytest.mark.parametrize(
    ("value", "date"),
    [
        ("2026-01-05", dt.date(2026, 1, 5)),
        ("2026-01-05T00:00:00Z", dt.date(2026, 1, 5)),
        ("2026-01-05T23:30:00.000-05:00", dt.date(2026, 1, 5)),  # its own date, not UTC's (the 6th)
        ("2026-01-05 10:00", dt.date(2026, 1, 5)),
    ],
)
def test_a_config_date_is_a_date_or_an_iso_date_time(sandbox: Sandbox, value: str, date: dt.date) -> None:
    tap = TapCohorts(config={**applovin_config(sandbox), "start_date": value, "end_date": value})
    bounds = tap.streams["applovin_cohort_revenue"].runtime.bounds  # type: ignore[attr-defined]
    assert bounds.start_date == bounds.end_date == date


@pytest.mark.parametrize("value", ["05/01/2026", "2026-13-01", "Jan 5 2026", "2026-01-05T25:00"])
def test_a_date_in_another_form_is_named_with_the_form_to_use(sandbox: Sandbox, value: str) -> None:
    with pytest.raises(ConfigValidationError) as raised:
        TapCohorts(config={**applovin_config(sandbox), "start_date": value})
    assert f"config['start_date']: {value!r} is not a date (use YYYY-MM-DD)" in raised.value.errors


def test_an_absent_vendor_section_means_no_streams_for_it(sandbox: Sandbox) -> None:
    assert sorted(TapCohorts(config=applovin_config(sandbox)).streams) == [
        "applovin_cohort_impressions",
        "applovin_cohort_revenue",
        "applovin_cohort_sessions",
        "cohort_syncs",
    ]


def test_the_cli_reports_every_problem_and_exits_1(sandbox: Sandbox, tmp_path) -> None:
    config = base(sandbox)
    config["appsflyer"]["kpis"] = []
    config["end_date"] = "2025-01-01"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    result = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "tap-cohorts"), "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "config['appsflyer']['kpis']: an empty list is not allowed" in result.stderr
    assert "config['end_date']: 2025-01-01 is before start_date 2026-01-01" in result.stderr
    assert sandbox.requests == []
