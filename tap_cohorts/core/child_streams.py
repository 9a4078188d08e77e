"""Child streams (one sync per parent record): what the SDK writes at every sync, written once per run, and told
what comes next.

The SDK writes a SCHEMA message at every `sync()`, and a child stream is synced once per parent record:
tens of thousands of Braze segments would mean as many SCHEMA messages, and targets built on pipelinewise
(target-duckdb, target-snowflake's ancestors) flush every stream at each one, loading a row at a time. Each sync
also logs three lines (its start, its record count, its time), which Meltano relays one by one: 20,000 lines for a
backfill of 6,500 campaigns, none of which says more than the stream's own progress lines.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from types import TracebackType
from typing import Any

from singer_sdk import metrics

from tap_cohorts.core.base_stream import TapStream
from tap_cohorts.core.windowed_stream import WindowedStream


class RunCounter(metrics.Counter):
    """A child stream's record count over all its syncs: logged on the SDK's interval and when the run ends
    (`exit()`), not at the end of each parent's sync. It counts no single parent, so it has no context tag."""

    def with_context(self, value: Mapping[str, Any] | None) -> None:
        return

    def __enter__(self) -> RunCounter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc_val: BaseException | None, exc_tb: TracebackType | None
    ) -> None:
        return


class RunTimer(metrics.Timer):
    """A child stream's sync time, from its first parent's sync to the run's end (`finish()`); a failed sync
    logs it at once, as the SDK's timer does."""

    def with_context(self, value: Mapping[str, Any] | None) -> None:
        return

    def __enter__(self) -> RunTimer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc_val: BaseException | None, exc_tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            super().__exit__(exc_type, exc_val, exc_tb)

    def finish(self) -> None:
        super().__exit__(None, None, None)


class OncePerRun(TapStream):
    """Writes the stream's SCHEMA message once per run and, as a child stream, its record count and sync time
    once per run (`RunCounter`, `RunTimer`); the SDK's "Beginning sync" line for each parent goes to DEBUG."""

    _schema_written = False
    _run_counter: RunCounter | None = None
    _run_timer: RunTimer | None = None

    def _write_schema_message(self) -> None:
        if not self._schema_written:
            self._schema_written = True
            super()._write_schema_message()

    def get_record_counter(self, **options: Any) -> metrics.Counter:
        if self.parent_stream_type is None:
            return super().get_record_counter(**options)
        if self._run_counter is None:
            tags = {metrics.Tag.STREAM: self.name}
            self._run_counter = RunCounter(metrics.Metric.RECORD_COUNT, tags, **options)
        self._record_counter = self._run_counter  # `_write_records` counts on it
        return self._run_counter

    def get_sync_timer(self) -> metrics.Timer:
        if self.parent_stream_type is None:
            return super().get_sync_timer()
        if self._run_timer is None:
            self._run_timer = RunTimer(metrics.Metric.SYNC_DURATION, {metrics.Tag.STREAM: self.name})
        return self._run_timer

    def log(self, message: str, *args: Any, level: int = logging.INFO, **kwargs: Any) -> None:
        if self.parent_stream_type is not None and message.startswith("Beginning sync"):
            level = logging.DEBUG
        super().log(message, *args, level=level, **kwargs)

    def log_sync_costs(self) -> None:
        if self._run_counter is not None:
            self._run_counter.exit()
        if self._run_timer is not None:
            self._run_timer.finish()
        super().log_sync_costs()


def announce_children(parent: TapStream, contexts: Iterable[Mapping[str, Any]]) -> None:
    """Tell the parent's selected child streams the contexts it will sync them with next (a page of parents), so
    they can send those partitions' first requests ahead (`WindowedStream.expect_partitions`)."""
    listed = list(contexts)
    for child in parent.child_streams:
        if isinstance(child, WindowedStream) and child.selected:
            child.expect_partitions(listed)
