"""TapCohorts: the config assembled from the vendor sections, and the streams of the configured vendors."""

from __future__ import annotations

import logging
import sys
from functools import cached_property
from typing import Any

import click
from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities
from singer_sdk.tap_base import CliTestOptionValue

from tap_cohorts.core.base_stream import TapStream
from tap_cohorts.core.check import check_connections
from tap_cohorts.core.config import common_problems, redact_config_secrets, secret_problems, top_level_properties
from tap_cohorts.core.errors import VendorError
from tap_cohorts.core.failures import RunLedger
from tap_cohorts.core.output import StateFlushingWriter
from tap_cohorts.core.sync_log import SyncLogStream
from tap_cohorts.core.vendor import Vendor
from tap_cohorts.vendors.adjust import VENDOR as ADJUST
from tap_cohorts.vendors.adjust.report_service import VENDOR as ADJUST_REPORT
from tap_cohorts.vendors.applovin import VENDOR as APPLOVIN
from tap_cohorts.vendors.appsflyer import VENDOR as APPSFLYER
from tap_cohorts.vendors.branch import VENDOR as BRANCH
from tap_cohorts.vendors.braze import VENDOR as BRAZE

VENDORS: tuple[Vendor, ...] = (APPSFLYER, BRANCH, ADJUST, ADJUST_REPORT, BRAZE, APPLOVIN)


class TapCohorts(Tap):
    """Cohort analytics from mobile marketing vendors; a vendor whose section is absent has no streams."""

    name = "tap-cohorts"
    # The streams depend on the config (one set per configured vendor), so `--discover` validates it too.
    dynamic_catalog = True
    message_writer_class = StateFlushingWriter
    capabilities = [
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        TapCapabilities.ACTIVATE_VERSION,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
    ]
    config_jsonschema = th.PropertiesList(*top_level_properties(), *(vendor.section for vendor in VENDORS)).to_dict()

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """The schema's checks and the rules a JSON schema cannot state, all reported at once, with every secret
        hidden (a type error quotes the value it refused).

        The SDK runs this before it builds any stream, so bad config never reaches a request.
        """
        schema_problems = super()._validate_config(raise_errors=False)
        problems = list(schema_problems) + common_problems(self.config)
        for vendor in VENDORS:
            if isinstance(self.config.get(vendor.name), dict):
                problems += secret_problems(self.config, vendor.name, vendor.secret_key)
                try:
                    problems += vendor.validate(self.config)
                except (TypeError, ValueError, AttributeError, KeyError):
                    if not schema_problems:
                        raise  # a rule that cannot read a value the schema accepted is a bug of ours
        redact = redact_config_secrets(self.config, VENDORS)
        problems = [redact(problem) for problem in problems]
        if problems and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=problems)
        return problems

    @cached_property
    def ledger(self) -> RunLedger:
        """The run's failures, shared by every vendor's client (`core/failures.py`)."""
        return RunLedger(fail_fast=bool(self.config.get("fail_fast")))

    @cached_property
    def sync_log(self) -> SyncLogStream:
        """`cohort_syncs`: the units this run asked again (`core/sync_log.py`), written by every cohort stream."""
        return SyncLogStream(self)

    def discover_streams(self) -> list[Stream]:
        streams: list[Stream] = []
        for vendor in VENDORS:
            if self.config.get(vendor.name):
                streams += vendor.build_streams(self, self.config, self.ledger)
        self.ledger.expect(stream.name for stream in streams)
        return [self.sync_log, *streams] if streams else streams

    def check_connections(self) -> bool:
        """`--test`: the configured vendors' probes (`core/check.py`), not a sync."""
        return check_connections((s for s in self.streams.values() if isinstance(s, TapStream)), self.logger)

    @classmethod
    def invoke(cls, **kwargs: Any) -> None:  # type: ignore[override]
        """A run that failed where the tap expects failures (a vendor's error, the run's summary) ends with one
        line and exit status 1; the traceback only at DEBUG. Any other exception is a bug: the SDK shows it whole."""
        try:
            super().invoke(**kwargs)
        except VendorError as error:
            cls.logger.error("%s", error, exc_info=cls.logger.isEnabledFor(logging.DEBUG))
            sys.exit(1)

    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """`--test` checks each vendor's connection (exit 1 when one fails); `--test=schema` is the SDK's."""
        if value != CliTestOptionValue.All.value:
            super().cb_test(ctx, param, value)
            return
        config = ctx.params.get("config")
        try:
            tap = cls(
                config=getattr(config, "config", None),
                parse_env_config=bool(getattr(config, "parse_env", False)),
                validate_config=True,
            )
        except ConfigValidationError as error:
            for problem in error.errors:
                cls.logger.error("Config validation error: %s", problem)
            ctx.exit(1)
        ctx.exit(0 if tap.check_connections() else 1)


if __name__ == "__main__":
    TapCohorts.cli()
