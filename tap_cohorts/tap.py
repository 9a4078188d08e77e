"""TapCohorts: the config assembled from the vendor sections, and the streams of the configured vendors."""

from __future__ import annotations

from typing import Any

from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import PluginCapabilities, TapCapabilities

from tap_cohorts.core.config import common_problems, top_level_properties
from tap_cohorts.core.vendor import Vendor
from tap_cohorts.vendors.applovin import VENDOR as APPLOVIN
from tap_cohorts.vendors.appsflyer import VENDOR as APPSFLYER

VENDORS: tuple[Vendor, ...] = (APPSFLYER, APPLOVIN)


class TapCohorts(Tap):
    """Cohort analytics from mobile marketing vendors; a vendor whose section is absent has no streams."""

    name = "tap-cohorts"
    message_writer_class = MsgSpecWriter
    capabilities = [
        TapCapabilities.CATALOG,
        TapCapabilities.STATE,
        TapCapabilities.DISCOVER,
        PluginCapabilities.ABOUT,
        PluginCapabilities.STREAM_MAPS,
        PluginCapabilities.FLATTENING,
    ]
    config_jsonschema = th.PropertiesList(*top_level_properties(), *(vendor.section for vendor in VENDORS)).to_dict()

    def __init__(self, *args: Any, validate_config: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, validate_config=validate_config, **kwargs)
        if validate_config:
            self._check_rules()

    def _check_rules(self) -> None:
        """The rules a JSON schema cannot state, all reported at once before any request."""
        problems = common_problems(self.config)
        for vendor in VENDORS:
            if self.config.get(vendor.name) is not None:
                problems += vendor.validate(self.config)
        if problems:
            raise ConfigValidationError("Config validation failed", errors=problems)

    def discover_streams(self) -> list[Stream]:
        streams: list[Stream] = []
        for vendor in VENDORS:
            if self.config.get(vendor.name):
                streams += vendor.build_streams(self, self.config)
        return streams


if __name__ == "__main__":
    TapCohorts.cli()
