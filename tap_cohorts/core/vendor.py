"""What a vendor package gives the tap: its config section, its rules, its client and its streams."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from singer_sdk import typing as th

from tap_cohorts.core.config import VendorRuntime, vendor_runtime
from tap_cohorts.core.failures import RunLedger
from tap_cohorts.core.http import EndpointBudget, RateLimit, VendorClient

if TYPE_CHECKING:
    from singer_sdk import Stream, Tap


@dataclass(frozen=True)
class Vendor:
    """One vendor: `name` is its config section; the functions take the whole config or that section."""

    name: str
    section: th.Property
    base_url: str
    rate_limits: list[RateLimit]
    validate: Callable[[Mapping[str, Any]], list[str]]
    streams: Callable[[Tap, Mapping[str, Any], VendorRuntime, VendorClient], list[Stream]]
    # The credential: its key in the section, and how it is sent (as headers, or as query parameters).
    secret_key: str
    auth_headers: Callable[[str], dict[str, str]] = lambda secret: {}
    auth_params: Callable[[str], dict[str, str]] = lambda secret: {}
    hints: Mapping[int, str] = field(default_factory=dict)
    # Endpoints limited apart from the rest (a request names its budget), and whether the vendor's
    # X-RateLimit-Remaining / X-RateLimit-Reset headers are honoured.
    endpoint_budgets: Mapping[str, EndpointBudget] = field(default_factory=dict)
    honours_rate_headers: bool = False

    def client(self, section: Mapping[str, Any], runtime: VendorRuntime, logger: logging.Logger) -> VendorClient:
        secret = str(section[self.secret_key])
        return VendorClient.for_runtime(
            runtime,
            vendor=self.name,
            secrets=[secret],
            hints=self.hints,
            auth_headers=self.auth_headers(secret),
            auth_params=self.auth_params(secret),
            honours_rate_headers=self.honours_rate_headers,
            logger=logger,
        )

    def build_streams(self, tap: Tap, config: Mapping[str, Any], ledger: RunLedger) -> list[Stream]:
        section = config[self.name]
        runtime = vendor_runtime(
            config,
            section,
            default_base_url=self.base_url,
            default_rate_limits=self.rate_limits,
            default_endpoint_budgets=self.endpoint_budgets,
        )
        client = self.client(section, runtime, tap.logger)
        client.ledger = ledger
        return self.streams(tap, section, runtime, client)
