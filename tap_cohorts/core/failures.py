"""One vendor's failure must not cost the others their day: the run's ledger of failures.

A failing partition (an app x cohort type x KPI, a data source, a parent's id, ...) ends that partition: its
bookmark stays where its last whole window left it, the ledger records where and why, and the run goes on with
the next partition, stream and vendor. A failure that makes every later request of the vendor pointless (a
refused credential, a host that cannot be reached, a URL requests cannot send) ends that vendor's streams at
once. At the end the tap logs a summary and exits non-zero if anything failed; `fail_fast` stops at the first
error instead.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tap_cohorts.core.errors import VendorError


@dataclass(frozen=True)
class Failure:
    vendor: str
    stream: str
    partition: str
    error: str


class RunFailed(VendorError):
    """Raised after the whole run, when some partitions failed: the process exits non-zero. Its message points to
    the summary above it; `failures` holds each."""

    def __init__(self, message: str, failures: list[Failure]) -> None:
        super().__init__(message)
        self.failures = failures


@dataclass
class RunLedger:
    fail_fast: bool = False
    failures: list[Failure] = field(default_factory=list)
    # Vendors whose every later request is pointless, with the failure that ended them.
    ended: dict[str, str] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    # Vendors whose host failed past a partition's retries (5xx, no answer): down for this run.
    down: set[str] = field(default_factory=set)
    # Streams whose end of run is still to come, and what the finished ones synced.
    pending: set[str] = field(default_factory=set)
    synced: list[tuple[str, int]] = field(default_factory=list)

    def expect(self, streams: Iterable[str]) -> None:
        self.pending = set(streams)

    def stream_finished(self, stream: str, records: int | None, logger: logging.Logger) -> None:
        """The SDK ends a run by asking every stream for its costs; after the last one, the summary."""
        self.pending.discard(stream)
        if records is not None:
            self.synced.append((stream, records))
        if not self.pending:
            self.report(logger)

    def record(
        self, vendor: str, stream: str, partition: Mapping[str, Any] | None, message: str, ends_vendor: bool
    ) -> None:
        """A partition failed with `message` (already naming where, and redacted)."""
        where = ", ".join(f"{k}={v}" for k, v in (partition or {}).items()) or "-"
        self.failures.append(Failure(vendor, stream, where, message))
        if ends_vendor and vendor not in self.ended:
            self.ended[vendor] = message

    def skip(self, stream: str) -> None:
        """A partition not asked because its vendor ended earlier in the run."""
        self.skipped[stream] += 1

    def report(self, logger: logging.Logger) -> None:
        """Log what synced and what failed; raise RunFailed when anything did."""
        lines = [f"  {stream}: {records} records" for stream, records in self.synced]
        logger.info("Run summary: synced\n%s", "\n".join(lines) or "  (nothing)")
        if not self.failures:
            return
        table = ["| vendor | stream | partition | error |", "| --- | --- | --- | --- |"]
        table += [f"| {f.vendor} | {f.stream} | {f.partition} | {f.error} |" for f in self.failures]
        table += [f"| (not asked) | {stream} | {count} partition(s) | its vendor ended earlier |"
                  for stream, count in self.skipped.items()]  # fmt: skip
        if self.down:
            table.append(
                f"Vendor(s) down in this run: {', '.join(sorted(self.down))} (5xx or no answer past one partition's "
                "retries; their other partitions had one attempt each; every bookmark is kept)"
            )
        logger.error("Run summary: %d partition(s) failed\n%s", len(self.failures), "\n".join(table))
        vendors = sorted(f"{v} (down)" if v in self.down else v for v in {f.vendor for f in self.failures})
        raise RunFailed(
            f"{len(self.failures)} partition(s) failed ({', '.join(vendors)}): the run summary above names each "
            "one, where and why; every other partition synced, and the failed ones keep their bookmarks and are "
            "asked again next run; `tap-cohorts --config … --test` checks each vendor's credentials and ids",
            self.failures,
        )
