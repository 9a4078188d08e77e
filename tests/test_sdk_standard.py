"""The SDK's standard tap tests (discovery, sync, schema conformance) against a sandbox of their own."""

from __future__ import annotations

from singer_sdk.testing import get_tap_test_class

from cohorts_sandbox import Sandbox, SandboxConfig
from tap_cohorts.tap import TapCohorts
from tests.helpers import applovin_config, appsflyer_config, days_ago

# get_tap_test_class needs its config when the module is imported, so this sandbox starts here.
SANDBOX = Sandbox(SandboxConfig(time_scale=0.01)).start()
CONFIG = {
    **appsflyer_config(SANDBOX, periods=[0, 1, 7], app_ids=["com.example.puzzle", "id1234567890"]),
    **applovin_config(SANDBOX, periods=[0, 7], columns=["platform", "country"]),
    "start_date": days_ago(10).isoformat(),
}

TestTapCohorts = get_tap_test_class(TapCohorts, config=CONFIG)
