"""The connection check (`tap-cohorts --config … --test`): is each configured vendor reachable, does it accept
the credential, and is each app, id, report or permission the config names known and on the plan?

Each stream states its probes (`TapStream.connection_probes`): the smallest request its sync would send (one
day, the first KPI), built by the stream's own request code, so the check asks what a run asks. Probes go
through the vendor's client (its rate limits, redaction and error messages) with at most one retry, and read
nothing beyond the answer's status and body. A refused credential or an unreachable host ends that vendor's
check: its other probes are not sent.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tap_cohorts.core.config import config_key
from tap_cohorts.core.errors import VendorError
from tap_cohorts.core.http import RequestLabel, VendorClient, WindowStats
from tap_cohorts.core.windows import Window

if TYPE_CHECKING:
    from tap_cohorts.core.base_stream import TapStream

CHECK_RETRIES = 1


@dataclass(frozen=True)
class Probe:
    """One cheap request that confirms one part of a vendor's setup: `what` it confirms, under config `key`."""

    what: str
    key: str
    method: str
    path: str
    params: Mapping[str, Any] | None = None
    json: Any = None

    def identity(self) -> tuple[str, str, str]:
        return (self.method, self.path, repr(sorted((self.params or {}).items())) + repr(self.json))


def probe_window(today: dt.date) -> Window:
    """Yesterday: a day every vendor serves, and the least a cohort request can ask."""
    yesterday = today - dt.timedelta(days=1)
    return Window(yesterday, yesterday)


@dataclass
class Outcome:
    probe: Probe
    error: str | None = None
    not_asked: bool = False


def drain(response: Any) -> None:
    response.content  # noqa: B018  (the body is read, and dropped)


def run_probes(client: VendorClient, probes: list[Probe]) -> tuple[list[Outcome], str]:
    """Each probe once, in order; the vendor's state in a few words (reachable, credential accepted or not)."""
    client.max_retries = min(client.max_retries, CHECK_RETRIES)
    outcomes: list[Outcome] = []
    ended: str | None = None
    refused = answered = False
    for probe in probes:
        if ended is not None:
            outcomes.append(Outcome(probe, ended, not_asked=True))
            continue
        label = RequestLabel("connection check")
        said = f"{client.vendor}: {label}: "  # the line already names the vendor and the probe
        try:
            client.call(
                probe.method, probe.path, label=label, stats=WindowStats(), params=probe.params, json=probe.json,
                read=drain,
            )  # fmt: skip
            answered = True
            outcomes.append(Outcome(probe))
        except VendorError as error:
            message = client.redact(str(error)).removeprefix(said)
            outcomes.append(Outcome(probe, message))
            answered = answered or error.status is not None
            if error.status == 401:
                refused = True
            if error.ends_vendor:
                ended = f"not asked: {message}"
    if refused:
        state = f"reachable at {client.base_url}; the credential is REFUSED (HTTP 401; the hint says which key)"
    elif not answered:
        state = f"NOT reachable at {client.base_url}: check {config_key(client.vendor, 'base_url')} and the network"
    else:
        state = f"reachable at {client.base_url}; credential accepted"
    return outcomes, state


def check_connections(streams: Iterable[TapStream], logger: logging.Logger) -> bool:
    """Run every configured vendor's probes and log one block per vendor; True when every probe passed."""
    by_vendor: dict[str, tuple[VendorClient, list[Probe]]] = {}
    for stream in streams:
        _, probes = by_vendor.setdefault(stream.client.vendor, (stream.client, []))
        seen = {probe.identity() for probe in probes}
        probes += [probe for probe in stream.connection_probes() if probe.identity() not in seen]
    if not by_vendor:
        logger.error("Connection check: no vendor is configured (add an appsflyer, branch, adjust, adjust_report, "
                     "braze or applovin section)")  # fmt: skip
        return False
    failing: list[str] = []
    for vendor, (client, probes) in by_vendor.items():
        outcomes, state = run_probes(client, probes)
        failed = [outcome for outcome in outcomes if outcome.error is not None]
        if failed:
            keys = sorted({outcome.probe.key for outcome in failed if not outcome.not_asked})
            failing.append(f"{vendor} ({', '.join(keys)})")
        lines = [f"{'FAIL' if failed else 'ok'}: {vendor}: {state}; {len(outcomes) - len(failed)} of {len(outcomes)} "
                 "checks passed"]  # fmt: skip
        for outcome in outcomes:
            where = f"{outcome.probe.what} ({outcome.probe.key})"
            if outcome.error is None:
                lines.append(f"  ok    {where}")
            else:
                lines.append(f"  {'SKIP' if outcome.not_asked else 'FAIL'}  {where}: {outcome.error}")
        (logger.error if failed else logger.info)("Connection check: %s", "\n".join(lines))
    if failing:
        logger.error("Connection check FAILED: %s; each FAIL line above says why", "; ".join(failing))
        return False
    logger.info("Connection check passed: %s", ", ".join(by_vendor))
    return True
