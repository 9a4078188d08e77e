"""The date-windowed incremental stream that every cohort stream (and Braze's data series) builds on.

A run syncs each partition (an app, a data source, a parent's id, ...) from `bookmark - lookback_days` to `end_date` in
windows no longer than the vendor allows. The bookmark is the last cohort date of the last window whose
records have all been emitted, written after each window: a run killed at any moment and started again
from its last state loses nothing. A window whose response reaches the vendor's row cap is split in two
and asked again, so nothing is silently truncated.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Generator, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_cohorts.core.base_stream import TapStream
from tap_cohorts.core.config import VendorRuntime
from tap_cohorts.core.errors import RowCapReached, VendorError
from tap_cohorts.core.http import RequestLabel, VendorClient, WindowStats
from tap_cohorts.core.windows import Window, first_cohort_date, plan_windows, utc_today

if TYPE_CHECKING:
    from singer_sdk import Tap


class WindowedStream(TapStream):
    """A cohort stream: subclasses say how to fetch one window; this class runs windows, caps and state."""

    replication_key = "cohort_date"
    is_sorted = False
    # Records are typed by the tap's own parsers (numbers, dates, strings), so the SDK's per-record type
    # conformance pass would only cost time.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    period_unit: ClassVar[str] = "day"
    max_window_days: ClassVar[int]
    history_days: ClassVar[int | None] = None
    # Where a first run starts when neither config nor the vendor's history says (in days before today).
    fallback_start_days: ClassVar[int] = 99

    def __init__(self, tap: Tap, *, client: VendorClient, runtime: VendorRuntime, section: Mapping[str, Any]) -> None:
        self.client = client
        self.runtime = runtime
        self.section = section
        self.totals = WindowStats()
        self.records_emitted = 0
        self.windows_synced = 0
        super().__init__(tap, schema=self.build_schema())

    # What a vendor stream provides.

    def build_schema(self) -> dict:
        raise NotImplementedError

    def fetch_window(
        self, context: Mapping[str, Any] | None, window: Window, label: RequestLabel, stats: WindowStats
    ) -> Iterable[dict]:
        """The records of one window. Raise RowCapReached before yielding anything if the answer is capped."""
        raise NotImplementedError

    def cut_dates(self, context: Mapping[str, Any] | None, today: dt.date) -> Iterable[dt.date]:
        """Dates that must start a new window (see `plan_windows`)."""
        return ()

    def plan(self, context: Mapping[str, Any] | None, first: dt.date, last: dt.date, today: dt.date) -> list[Window]:
        """The windows of one partition's range."""
        return plan_windows(first, last, self.max_window_days, self.cut_dates(context, today))

    def latest_cohort_date(self, today: dt.date) -> dt.date:
        """The newest cohort date worth asking for."""
        return today

    def cap_advice(self, context: Mapping[str, Any] | None) -> str:
        return "Drop some dimensions so that one day fits in one response."

    # The run.

    def read_records(self, context: Mapping[str, Any] | None) -> Iterator[dict]:
        yield from self.sync_partition(context)

    def sync_partition(self, context: Mapping[str, Any] | None) -> Iterator[dict]:
        today = utc_today()
        where = str(RequestLabel(self.name, context))
        oldest = today - dt.timedelta(days=self.history_days) if self.history_days is not None else None
        bounds = self.runtime.bounds
        if bounds.start_date is None and oldest is None:
            bounds = replace(bounds, start_date=today - dt.timedelta(days=self.fallback_start_days))
        first = first_cohort_date(self._bookmark(context), bounds, oldest, self.logger, where)
        last = min(self.runtime.bounds.end_date, self.latest_cohort_date(today))
        windows = self.plan(context, first, last, today)
        if not windows:
            self.logger.info("%s: nothing to sync (from %s to %s)", where, first, last)
            return
        self.logger.info(
            "%s: syncing cohort dates %s..%s in %d window(s) (lookback %d days)",
            where,
            first,
            last,
            len(windows),
            self.runtime.bounds.lookback_days,
        )
        for window in windows:
            try:
                yield from self._sync_window(context, window)
            except Exception as error:  # the partition ends; its bookmark stays at the last whole window
                self.client.fail(RequestLabel(self.name, context, window), error)
                return

    def log_summary(self) -> None:
        if not self.windows_synced and not self.totals.requests:
            return
        self.logger.info(
            "Summary %s: %d records in %d windows, %d requests (%d retries), "
            "%.1fs waiting on rate limits, %.1fs waiting on jobs",
            self.name,
            self.records_emitted,
            self.windows_synced,
            self.totals.requests,
            self.totals.retries,
            self.totals.rate_limit_wait,
            self.totals.job_wait,
        )

    def _sync_window(self, context: Mapping[str, Any] | None, window: Window) -> Generator[dict, None, None]:
        pending = [window]
        while pending:
            current = pending.pop(0)
            label = RequestLabel(self.name, context, current)
            stats = WindowStats()
            started = time.monotonic()
            emitted = 0
            try:
                for record in self.fetch_window(context, current, label, stats):
                    emitted += 1
                    yield record
            except RowCapReached as cap:
                self.totals.add(stats)
                if emitted:
                    raise RuntimeError(f"{label}: row cap detected after records were emitted") from None
                if current.days == 1:
                    raise VendorError(
                        f"{self.client.vendor}: {label}: a single day reaches the vendor's cap of {cap.rows} "
                        f"rows, so it cannot be fetched whole. {self.cap_advice(context)}"
                    ) from None
                halves = current.halves()
                self.logger.info(
                    "%s: the response reached the cap of %d rows; splitting into %s and %s",
                    label,
                    cap.rows,
                    *halves,
                )
                pending[:0] = halves
                continue
            except ValueError as exc:
                raise VendorError(f"{self.client.vendor}: {label}: unusable response: {exc}") from None
            self.totals.add(stats)
            self.records_emitted += emitted
            self.windows_synced += 1
            self._advance_bookmark(context, current.end)
            self.logger.info(
                "%s: %d records, %d requests, %.1fs waiting on rate limits, %.1fs waiting on jobs, %.1fs in all",
                label,
                emitted,
                stats.requests,
                stats.rate_limit_wait,
                stats.job_wait,
                time.monotonic() - started,
            )

    # State: one bookmark per partition, moved only by whole windows.

    def _bookmark(self, context: Mapping[str, Any] | None) -> dt.date | None:
        state = self.get_context_state(context)
        value = state.get("replication_key_value")
        if not value or state.get("replication_key") != self.replication_key:
            return None
        return dt.date.fromisoformat(str(value)[:10])

    def _advance_bookmark(self, context: Mapping[str, Any] | None, through: dt.date) -> None:
        state = self.get_context_state(context)
        value = through.isoformat()
        previous = state.get("replication_key_value")
        if previous and state.get("replication_key") == self.replication_key and str(previous) > value:
            value = str(previous)
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = value
        self.state_manager.is_flushed = False
        self._write_state_message()

    def _increment_stream_state(self, latest_record: dict, *, context: Any = None) -> None:
        """Records do not move the bookmark: `_advance_bookmark` does, once a whole window is emitted.

        The SDK would take the newest cohort_date seen, which inside an unsorted window is ahead of
        records not yet emitted.
        """

    def get_replication_key_signpost(self, context: Mapping[str, Any] | None = None) -> None:
        """No signpost: the bookmark never passes `end_date`, and it is set per window, not per record."""
        return None
