"""Child streams (one sync per parent record): what the SDK writes at every sync, written once per run, and told
what comes next.

The SDK writes a SCHEMA message at every `sync()`, and a child stream is synced once per parent record:
tens of thousands of Braze segments would mean as many SCHEMA messages, and targets built on pipelinewise
(target-duckdb, target-snowflake's ancestors) flush every stream at each one, loading a row at a time. Each sync
also logs three lines (its start, its record count, its time), which Meltano relays one by one: 20,000 lines for a
backfill of 6,500 campaigns, none of which says more than the stream's own progress lines.
"""

from __future__ import annotations

import itertools
import logging
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Mapping
from types import TracebackType
from typing import Any, ClassVar

from singer_sdk import metrics

from tap_cohorts.core.base_stream import TapStream
from tap_cohorts.core.prefetch import Prefetch
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


class OneRequestPerParent(OncePerRun):
    """A child stream that asks one request per parent object (Braze's details). The parent lists its objects a
    page at a time (`announce_children`), so while one object's answer is written, the next objects' requests are
    sent on `requests_ahead` worker threads (this one's among them), in the order the SDK syncs them. Each is
    still asked once; its error comes out in that object's own sync."""

    requests_ahead: ClassVar[int] = 0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prefetch: Prefetch[Any] = Prefetch(self.name, workers=max(1, self.requests_ahead))
        self._upcoming: OrderedDict[Hashable, Mapping[str, Any]] = OrderedDict()

    def ask(self, context: Mapping[str, Any]) -> Any:
        """The one request of a parent's sync: its answer."""
        raise NotImplementedError

    def answer_key(self, context: Mapping[str, Any]) -> Hashable:
        raise NotImplementedError

    def expect_partitions(self, contexts: Iterable[Mapping[str, Any]]) -> None:
        if self.requests_ahead:
            for context in contexts:
                self._upcoming[self.answer_key(context)] = context

    def answer(self, context: Mapping[str, Any]) -> Any:
        """This parent's answer: the one sent ahead for it, or asked now. The next parents' are sent ahead first."""
        key = self.answer_key(context)
        if key in self._upcoming:  # parents the SDK did not sync before this one: what was sent for them is closed
            while (passed := self._upcoming.popitem(last=False)[0]) != key:
                self._prefetch.drop(passed)
        if not self.requests_ahead:
            return self.ask(context)
        if key not in self._prefetch.pending():  # asked on the workers too, so no more than requests_ahead at once
            self._prefetch.start(key, lambda: self.ask(context))
        ahead = self._prefetch.take(key)
        if self.client.vendor not in self.client.ledger.ended:
            pending = set(self._prefetch.pending())
            for next_key, next_context in itertools.islice(self._upcoming.items(), self.requests_ahead - 1):
                if next_key not in pending:
                    self._prefetch.start(next_key, lambda c=next_context: self.ask(c))  # type: ignore[misc]
        try:
            assert ahead is not None
            return ahead.result()
        finally:
            if not self._upcoming and not self._prefetch.pending():
                self._prefetch.close()  # the parent's list is done: the worker threads end


def announce_children(parent: TapStream, contexts: Iterable[Mapping[str, Any]]) -> None:
    """Tell the parent's selected child streams the contexts it will sync them with next (a page of parents), so
    they can send those partitions' first requests ahead (`WindowedStream.expect_partitions`,
    `OneRequestPerParent.expect_partitions`)."""
    listed = list(contexts)
    for child in parent.child_streams:
        if isinstance(child, (WindowedStream, OneRequestPerParent)) and child.selected:
            child.expect_partitions(listed)
