"""The date-windowed incremental stream that every cohort stream (and Braze's data series) builds on.

A run syncs each partition (an app, a data source, a parent's id, ...) from `bookmark - lookback_days` to `end_date` in
windows no longer than the vendor allows. The bookmark is the last cohort date of the last window whose
records have all been emitted, written after a window (at most one STATE a second, and always when the run
ends): a run killed at any moment and started again from its last state loses nothing. A window whose response
reaches the vendor's row cap is split in two and asked again, so nothing is silently truncated.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_cohorts.core.base_stream import TapStream
from tap_cohorts.core.config import VendorRuntime
from tap_cohorts.core.errors import RowCapReached, VendorError
from tap_cohorts.core.http import RequestLabel, VendorClient, WindowStats
from tap_cohorts.core.prefetch import Prefetch
from tap_cohorts.core.records import dimension_key
from tap_cohorts.core.sync_log import ALL_DATES, SyncLogStream, grain_changes, normalized_grain
from tap_cohorts.core.windows import Window, first_cohort_date, plan_windows, utc_today

if TYPE_CHECKING:
    from singer_sdk import Tap

# The partition state's key for the day of its last whole run (next to the SDK's replication_key_value).
LAST_RUN_KEY = "last_run_date"
# The partition state's keys for the grain its rows were synced in, and the partition as its rows name it.
GRAIN_KEY = "grain"
PARTITION_KEY = "sync_partition"
# The least time between two STATE messages of a stream. Every STATE holds every partition's bookmark, so one per
# window would make the output grow with partitions squared (Braze's series of 2,000 campaigns: 4,800 STATE
# messages of up to 210 KB, 748 MB for 161,600 records), and the loader parses each one.
STATE_INTERVAL_SECONDS = 1.0
# And STATE messages take at most this share of a stream's time: the SDK copies and compares the whole state for
# each one (36 ms at 10,000 Braze campaigns), so a large state goes out less often than once a second.
STATE_TIME_SHARE = 0.02
# A child stream (a partition per parent: Braze's 10,000 campaigns) logs each partition's plan and windows at DEBUG,
# and at INFO a line of progress at most this often (and its summary when the run ends).
PROGRESS_INTERVAL_SECONDS = 30.0


@dataclass
class PartitionPlan:
    """What one run asks of a partition: `first`..`last` in `windows`, and before them the older cohorts that
    matured since its last run in `maturing`."""

    first: dt.date
    last: dt.date
    maturing: list[Window]
    windows: list[Window]

    @property
    def planned(self) -> list[Window]:
        return self.maturing + self.windows


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
    # Maturing cohorts several days apart are asked in one window when the vendor's answer holds every period
    # of every cohort in it (fewer requests); False asks each run of consecutive dates on its own.
    merge_maturing: ClassVar[bool] = True
    # The settings that decide which rows and columns the vendor returns (a property of the stream where it
    # resolves a default, else the section's key). A change re-syncs the partition in the new grain.
    grain_settings: ClassVar[tuple[str, ...]] = ()
    # True where a window's answer is fetched whole before its first record is read: the stream defines
    # `request_window` and `read_window` instead of `fetch_window`, and the next window's request is sent while
    # this window's records are written (`core/prefetch.py`).
    prefetches: ClassVar[bool] = False
    # Where `prefetches`: how many requests are sent ahead, each on its own thread, in the order their records are
    # written: the rest of this partition's windows, then, for a child stream whose parent lists what comes
    # (`expect_partitions`), those of the next partitions. 0: only the next window of this partition. A child
    # stream asks a few small requests per parent (Braze: a series per campaign): one at a time, a run would cost
    # the vendor's latency times the parents.
    requests_ahead: ClassVar[int] = 0

    def __init__(self, tap: Tap, *, client: VendorClient, runtime: VendorRuntime, section: Mapping[str, Any]) -> None:
        self.client = client
        self.runtime = runtime
        self.section = section
        self.totals = WindowStats()
        self.records_emitted = 0
        self.windows_synced = 0
        self.partitions_synced = 0
        self._progress_at = time.monotonic()
        self.sync_log: SyncLogStream | None = getattr(tap, "sync_log", None)
        self._finality: dict[tuple[str, int], bool] = {}
        self._prefetch: Prefetch[Any] = Prefetch(self.name, workers=max(1, self.requests_ahead))
        # What each request sent ahead cost, by (partition, window) as `_ahead_key` names the partition.
        self._prefetch_stats: dict[tuple[str, Window], WindowStats] = {}
        # The partitions the parent listed and the SDK has not synced yet, in order (`expect_partitions`).
        self._upcoming: OrderedDict[str, Mapping[str, Any]] = OrderedDict()
        self._upcoming_plans: dict[str, list[Window]] = {}  # their windows, as planned to be sent ahead
        # The partitions' states by `_ahead_key`, and the list they were read from (`get_context_state`).
        self._states: dict[str, dict] = {}
        self._states_of: tuple[list, int] | None = None
        super().__init__(tap, schema=self.build_schema())

    @property
    def tracks_units(self) -> bool:
        """Cohort streams say which units each run asked again (`core/sync_log.py`) and whether values are final."""
        return self.replication_key == "cohort_date"

    # What a vendor stream provides.

    def build_schema(self) -> dict:
        raise NotImplementedError

    def fetch_window(
        self, context: Mapping[str, Any] | None, window: Window, label: RequestLabel, stats: WindowStats
    ) -> Iterable[dict]:
        """The records of one window. Raise RowCapReached before yielding anything if the answer is capped."""
        return self.read_window(context, window, self.request_window(context, window, label, stats))

    def request_window(
        self, context: Mapping[str, Any] | None, window: Window, label: RequestLabel, stats: WindowStats
    ) -> Any:
        """Where `prefetches`: the window's whole answer (raise RowCapReached if it is capped). It may run on the
        prefetch thread, so it only asks the client and reads the answer."""
        raise NotImplementedError

    def read_window(self, context: Mapping[str, Any] | None, window: Window, answer: Any) -> Iterable[dict]:
        """Where `prefetches`: the records of the answer `request_window` gave (and then close it)."""
        raise NotImplementedError

    def cut_dates(self, context: Mapping[str, Any] | None, today: dt.date) -> Iterable[dt.date]:
        """Dates that must start a new window (see `plan_windows`)."""
        return ()

    def plan(self, context: Mapping[str, Any] | None, first: dt.date, last: dt.date, today: dt.date) -> list[Window]:
        """The windows of one partition's range."""
        return plan_windows(first, last, self.max_window_days, self.cut_dates(context, today))

    def periods_asked(self, context: Mapping[str, Any] | None) -> Iterable[int]:
        """The periods (days, bands, ...) the config asks for."""
        return ()

    def completion_age(self, period: int) -> int | None:
        """Days after a cohort date at which `period` is complete under the vendor's rule (None: never, within
        what the vendor serves)."""
        return None

    def completion_ages(self, context: Mapping[str, Any] | None) -> Iterable[int]:
        """Days after a cohort date at which each requested period is complete. A cohort is asked again by the
        first run on or after each of them, however old it is by then (the lookback covers recent ones)."""
        return [age for age in map(self.completion_age, self.periods_asked(context)) if age is not None]

    def final_on(self, cohort_date: dt.date, period: int) -> dt.date | None:
        """The first day on which a value synced is final: it will not change at the vendor again."""
        age = self.completion_age(period)
        return None if age is None else cohort_date + dt.timedelta(days=age)

    def restatement_ranges(self, last_run: dt.date, today: dt.date) -> Iterable[tuple[dt.date, dt.date]]:
        """Cohort dates whose vendor revision window closed after `last_run` (asked once more, then final)."""
        return ()

    def grain(self) -> dict[str, Any]:
        """The grain settings' values, as compared between runs."""
        values = {}
        for name in self.grain_settings:
            resolved = isinstance(getattr(type(self), name, None), property)
            values[name] = getattr(self, name) if resolved else self.section.get(name)
        return normalized_grain(values)

    def partition_scope(self) -> dict[str, Any]:
        """What else, beyond the partition's context, tells this partition's rows from another account's."""
        return {}

    def sync_partition_key(self, context: Mapping[str, Any] | None) -> str:
        """The partition as its rows and units name it: compact JSON with sorted names, as `dimension_key`."""
        return dimension_key({**(context or {}), **self.partition_scope()})

    def cohort_span(self, day: dt.date) -> tuple[dt.date, dt.date]:
        """The first and last date of the cohort holding `day` (a week or month cohort is asked whole)."""
        return day, day

    def latest_cohort_date(self, today: dt.date) -> dt.date:
        """The newest cohort date worth asking for."""
        return today

    def cap_advice(self, context: Mapping[str, Any] | None) -> str:
        return "Drop some dimensions so that one day fits in one response."

    # State: one dict per partition, found by its key.

    def get_context_state(self, context: Mapping[str, Any] | None) -> dict:
        """The partition's writable state, as the SDK's, found by its key: the SDK finds it by a scan of every
        partition's state, which for a child stream of thousands of parents (Braze's campaigns or segments) grew
        with their square and cost more than the rest of the run."""
        state = self._partition_state(context, create=True)
        return super().get_context_state(context) if state is None else state

    def _partition_state(self, context: Mapping[str, Any] | None, *, create: bool) -> dict | None:
        """The partition's state in the stream's `partitions` (added there if `create`); None for a stream that is
        not partitioned, or (not `create`) a partition without one."""
        partition = self.state_partition_context(context)
        if not partition:
            return None
        partitions = self.stream_state.setdefault("partitions", [])
        indexed = self._states_of
        if indexed is None or indexed[0] is not partitions or indexed[1] != len(partitions):  # new, or grown by the SDK
            self._states = {dimension_key(p.get("context") or {}): p for p in partitions}
        key = dimension_key(partition)
        state = self._states.get(key)
        if state is None and create:
            state = self._states[key] = {"context": partition}
            partitions.append(state)
        self._states_of = (partitions, len(partitions))
        return state

    def finalize_state_progress_markers(self, state: dict | None = None) -> None:
        """The SDK's, on each partition's state as it is (the SDK finds each one again by its scan)."""
        partitions = self.stream_state.get("partitions")
        if state or not partitions or not self.selected:
            super().finalize_state_progress_markers(state)
            return
        for partition_state in partitions:
            super().finalize_state_progress_markers(partition_state)

    def _write_starting_replication_value(self, context: Mapping[str, Any] | None) -> None:
        """Nothing: the SDK's starting marker is a value this stream never reads (it plans from its bookmark, and
        logs the plan), and the SDK would find the partition's state by its scan of every partition."""

    # The run.

    def read_records(self, context: Mapping[str, Any] | None) -> Iterator[dict]:
        return self.sync_partition(context)  # not `yield from`: a generator less for every record to pass

    def sync_partition(self, context: Mapping[str, Any] | None) -> Iterator[dict]:
        today = utc_today()
        where = str(RequestLabel(self.name, context))
        if self.tracks_units:
            self._check_grain(context, where)
        plan = self._plan(context, self.get_context_state(context), today, where, self.logger)
        routine = self._routine_level
        if plan.maturing:
            self.logger.log(
                routine,
                "%s: %d window(s) of older cohorts whose requested periods completed since the last run: %s",
                where,
                len(plan.maturing),
                ", ".join(map(str, plan.maturing)),
            )
        if plan.windows:
            self.logger.log(
                routine,
                "%s: syncing cohort dates %s..%s in %d window(s) (lookback %d days)",
                where,
                plan.first,
                plan.last,
                len(plan.windows),
                self.runtime.bounds.lookback_days,
            )
        elif not plan.maturing:
            self.logger.log(routine, "%s: nothing to sync (from %s to %s)", where, plan.first, plan.last)
        planned = plan.planned
        partition = self._ahead_key(context)
        self._pass_upcoming(partition)
        try:
            for index, window in enumerate(planned):
                following = planned[index + 1] if index + 1 < len(planned) else None
                if self.requests_ahead:
                    self._send_ahead_in_order(context, partition, planned[index:])
                    following = None  # sent ahead in order already
                try:
                    yield from self._sync_window(context, window, following)
                except Exception as error:  # the partition ends; its bookmark stays at the last whole window
                    self.client.fail(RequestLabel(self.name, context, window), error)
                    return
        finally:
            self._drop_ahead(partition)
            self.partitions_synced += 1
            due = time.monotonic() - self._progress_at >= PROGRESS_INTERVAL_SECONDS
            if due and self.parent_stream_type is not None:
                self._log_progress()
        self._record_run(context, today)

    @property
    def _routine_level(self) -> int:
        """The level of each partition's plan and each window's line: DEBUG for a child stream, whose progress
        is logged every PROGRESS_INTERVAL_SECONDS instead (a line per window of 10,000 parents says nothing)."""
        return logging.DEBUG if self.parent_stream_type is not None else logging.INFO

    def _log_progress(self) -> None:
        self._progress_at = time.monotonic()
        self.logger.info(
            "%s: %d partitions synced so far, %d records in %d windows, %d requests",
            self.name,
            self.partitions_synced,
            self.records_emitted,
            self.windows_synced,
            self.totals.requests,
        )

    def _plan(
        self,
        context: Mapping[str, Any] | None,
        state: Mapping[str, Any],
        today: dt.date,
        where: str,
        logger: logging.Logger | None,
    ) -> PartitionPlan:
        """The windows of a partition in `state`. Without a `logger`, quietly: a partition planned to be asked
        ahead, whose own sync plans it again and says so."""
        oldest = today - dt.timedelta(days=self.history_days) if self.history_days is not None else None
        bounds = self.runtime.bounds
        if bounds.start_date is None and oldest is None:
            bounds = replace(bounds, start_date=today - dt.timedelta(days=self.fallback_start_days))
        bookmark = self._bookmark(state)
        if bookmark is not None and bookmark > today:
            if logger is not None:
                logger.warning(
                    "%s: the state's bookmark %s is after today (%s); syncing from today's lookback instead",
                    where,
                    bookmark,
                    today,
                )
            bookmark = today
        first = first_cohort_date(bookmark, bounds, oldest, logger, where)
        last = min(self.runtime.bounds.end_date, self.latest_cohort_date(today))
        windows = self.plan(context, first, last, today)
        floor = max(filter(None, (bounds.start_date, oldest)), default=None)
        # A first run asks the whole range anyway; later ones also ask the older cohorts that matured since.
        before = windows[0].start if windows else first
        ranges = [] if bookmark is None else self.maturing_ranges(context, state, today, floor, before)
        if windows and ranges and self.merge_maturing and (last - ranges[-1][0]).days < self.max_window_days:
            # The newest maturing cohorts fit in the lookback's window: one request for both.
            windows = self.plan(context, ranges.pop()[0], last, today)
        maturing = [window for lo, hi in ranges for window in self.plan(context, lo, hi, today)]
        return PartitionPlan(first, last, maturing, windows)

    def maturing_ranges(
        self,
        context: Mapping[str, Any] | None,
        state: Mapping[str, Any],
        today: dt.date,
        floor: dt.date | None,
        before: dt.date,
    ) -> list[tuple[dt.date, dt.date]]:
        """Date ranges of the cohorts older than `before` (the lookback's first window) with a requested period
        complete since the partition's last run: `today - age` for each completion age, and every day back to
        the last run's `- age`, so a run after a gap catches up. A state without a last run (written by an
        earlier version) counts as yesterday's."""
        last_run = self._last_run(state) or today - dt.timedelta(days=1)
        dates: set[dt.date] = set()
        for age in set(self.completion_ages(context)):
            day = last_run - dt.timedelta(days=age - 1)
            while day <= today - dt.timedelta(days=age):
                start, end = self.cohort_span(day)
                dates.update(start + dt.timedelta(days=n) for n in range((end - start).days + 1))
                day += dt.timedelta(days=1)
        for start, end in self.restatement_ranges(last_run, today):
            dates.update(start + dt.timedelta(days=n) for n in range((end - start).days + 1))
        dates = {d for d in dates if d < before and (floor is None or d >= floor)}
        ranges: list[list[dt.date]] = []
        for day in sorted(dates):
            adjacent = ranges and (day - ranges[-1][1]).days == 1
            mergeable = ranges and self.merge_maturing and (day - ranges[-1][0]).days < self.max_window_days
            if adjacent or mergeable:
                ranges[-1][1] = day
            else:
                ranges.append([day, day])
        return [(lo, hi) for lo, hi in ranges]

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

    def _check_grain(self, context: Mapping[str, Any] | None, where: str) -> None:
        """Remember the partition's grain; when it changed since the last run, say so and sync it all again, the
        old grain's rows superseded (`core/sync_log.py`). A state without a grain (a first run, or a state written
        before grains were kept) has nothing to compare."""
        state = self.get_context_state(context)
        grain, partition = self.grain(), self.sync_partition_key(context)
        stored, stored_partition = state.get(GRAIN_KEY), state.get(PARTITION_KEY, partition)
        if stored is not None and (stored != grain or stored_partition != partition):
            changes = grain_changes(stored, grain)
            if stored_partition != partition:
                changes.append(f"partition: {stored_partition} -> {partition}")
            self.logger.warning(
                "%s: the settings that define this stream's grain changed since the last run (%s): syncing the "
                "partition again from start_date in the new grain; the rows loaded in the old grain are superseded",
                where,
                "; ".join(changes),
            )
            for superseded in dict.fromkeys([stored_partition, partition]):
                if self.sync_log is not None:
                    self.sync_log.record_unit(
                        self.name, superseded, *ALL_DATES, reason="grain_change", records=None, grain=grain
                    )
            for key in ("replication_key_value", LAST_RUN_KEY):
                state.pop(key, None)
        state[GRAIN_KEY] = grain
        state[PARTITION_KEY] = partition

    def _is_final(self, cohort_date: str, period: int, today: dt.date) -> bool:
        """Worked out once per cohort date and period of a run, kept in `_finality` (where `_sync_window` looks
        first, per record)."""
        final_on = self.final_on(dt.date.fromisoformat(cohort_date), period)
        known = self._finality[(cohort_date, period)] = final_on is not None and final_on <= today
        return known

    def _window_records(
        self,
        context: Mapping[str, Any] | None,
        window: Window,
        label: RequestLabel,
        stats: WindowStats,
        following: Window | None,
    ) -> Iterable[dict]:
        """The window's records; where the stream `prefetches`, its answer taken from the request sent ahead (or
        asked now), and the following window's request sent ahead."""
        if not self.prefetches:
            return self.fetch_window(context, window, label, stats)
        key = (self._ahead_key(context), window)
        ahead = self._prefetch.take(key)
        if ahead is None:
            answer = self.request_window(context, window, label, stats)
        else:
            try:
                answer = ahead.result()
            finally:  # done by now, answered or not: its requests count for this window
                stats.add(self._prefetch_stats.pop(key))
        if following is not None:
            self._send_ahead(context, following)
        return self.read_window(context, window, answer)

    def _send_ahead(self, context: Mapping[str, Any] | None, window: Window) -> None:
        label = RequestLabel(self.name, context, window)
        key = (self._ahead_key(context), window)
        stats = self._prefetch_stats[key] = WindowStats()
        self._prefetch.start(key, lambda: self.request_window(context, window, label, stats))

    # Requests sent ahead in order: the rest of this partition, then a child stream's next partitions.

    def expect_partitions(self, contexts: Iterable[Mapping[str, Any]]) -> None:
        """The parent's next child contexts, in the order the SDK will sync them (`core/child_streams.py`)."""
        if self.prefetches and self.requests_ahead:
            for context in contexts:
                self._upcoming[self._ahead_key(context)] = context

    def asks_vendor(self, context: Mapping[str, Any] | None) -> bool:
        """Whether the partition sends any request (one the vendor does not serve is skipped)."""
        return True

    def _ahead_key(self, context: Mapping[str, Any] | None) -> str:
        """The partition as its state names it: compact JSON of its state partition context."""
        return dimension_key(self.state_partition_context(context))

    def _pass_upcoming(self, partition: str) -> None:
        """Forget the listed partitions up to this one: what was sent ahead for one the SDK skipped is closed."""
        if partition in self._upcoming:
            while (passed := self._upcoming.popitem(last=False)[0]) != partition:
                self._upcoming_plans.pop(passed, None)
                self._drop_ahead(passed)
            self._upcoming_plans.pop(partition, None)

    def _send_ahead_in_order(self, context: Mapping[str, Any] | None, partition: str, remaining: list[Window]) -> None:
        """Keep the next `requests_ahead` requests sent: `remaining` (this partition's windows from the one about
        to be read), then the windows of the listed partitions after it."""
        sent = set(self._prefetch.pending())
        to_come = itertools.chain(((context, partition, w) for w in remaining), self._upcoming_requests())
        for next_context, key, window in itertools.islice(to_come, self.requests_ahead):
            if (key, window) not in sent and self.client.vendor not in self.client.ledger.ended:
                self._send_ahead(next_context, window)

    def _upcoming_requests(self) -> Iterator[tuple[Mapping[str, Any], str, Window]]:
        for key, context in self._upcoming.items():
            if key not in self._upcoming_plans:
                try:
                    self._upcoming_plans[key] = self._quiet_plan(context)
                except Exception:  # that partition's own sync meets it, and says where
                    self._upcoming_plans[key] = []
            for window in self._upcoming_plans[key]:
                yield context, key, window

    def _quiet_plan(self, context: Mapping[str, Any]) -> list[Window]:
        """The windows a partition's own sync will plan, from the state the run found, without a word: none when it
        asks nothing, or when its grain changed (its sync starts over)."""
        if not self.asks_vendor(context):
            return []
        state = self._partition_state(context, create=False) or {}
        if self.tracks_units and state.get(GRAIN_KEY, self.grain()) != self.grain():
            return []
        return self._plan(context, state, utc_today(), "", None).planned

    def _drop_ahead(self, partition: str) -> None:
        """Close what was sent ahead for a partition that is done (or skipped); once nothing is ahead and no listed
        partition is left, let the worker threads end."""
        for key in self._prefetch.pending():
            if isinstance(key, tuple) and key[0] == partition:
                self._prefetch.drop(key)
                self._prefetch_stats.pop(key, None)
        if not self._upcoming and not self._prefetch.pending():
            self._prefetch.close()

    def _sync_window(
        self, context: Mapping[str, Any] | None, window: Window, following: Window | None = None
    ) -> Generator[dict, None, None]:
        """The window's records (split in halves while the vendor's cap is reached), then its bookmark. The
        request for `following`, the next planned window, is sent ahead once this window's last piece is asked."""
        pending = [window]
        units = self.tracks_units
        partition = self.sync_partition_key(context) if units else ""
        synced_at = self.sync_log.synced_at if self.sync_log is not None else None
        today = utc_today()
        finality = self._finality  # what _is_final worked out
        while pending:
            current = pending.pop(0)
            label = RequestLabel(self.name, context, current)
            stats = WindowStats()
            started = time.monotonic()
            emitted = 0
            try:
                ahead = following if not pending else None
                for record in self._window_records(context, current, label, stats, ahead):
                    emitted += 1
                    if units:
                        record["synced_at"] = synced_at
                        record["sync_partition"] = partition
                        cohort = (record["cohort_date"], record["period"])
                        final = finality.get(cohort)
                        record["is_final"] = self._is_final(*cohort, today) if final is None else final
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
            if units and self.sync_log is not None:
                self.sync_log.record_unit(
                    self.name,
                    partition,
                    current.start,
                    current.end,
                    reason="window",
                    records=emitted,
                    grain=self.grain(),
                )
            self._advance_bookmark(context, current.end)
            self.logger.log(
                self._routine_level,
                "%s: %d records, %d requests, %.1fs waiting on rate limits, %.1fs waiting on jobs, %.1fs in all",
                label,
                emitted,
                stats.requests,
                stats.rate_limit_wait,
                stats.job_wait,
                time.monotonic() - started,
            )

    # State: one bookmark per partition, moved only by whole windows.

    def _bookmark(self, state: Mapping[str, Any]) -> dt.date | None:
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

    def _last_run(self, state: Mapping[str, Any]) -> dt.date | None:
        value = state.get(LAST_RUN_KEY)
        return dt.date.fromisoformat(str(value)) if value else None

    def _record_run(self, context: Mapping[str, Any] | None, today: dt.date) -> None:
        """The day of this partition's last whole run: the next run asks for what matured since."""
        state = self.get_context_state(context)
        if self._bookmark(state) is None:
            return  # nothing synced yet: the next run starts from start_date anyway
        state[LAST_RUN_KEY] = today.isoformat()
        self.state_manager.is_flushed = False
        self._write_state_message()

    _last_state_at = 0.0
    _state_interval = STATE_INTERVAL_SECONDS

    def _write_state_message(self) -> None:
        """At most one STATE message every STATE_INTERVAL_SECONDS, or less often where writing one costs more than
        STATE_TIME_SHARE of that: the SDK writes one after each partition (for a child stream, after each parent
        record) and this stream after each window. A state not written now is kept and goes out with the next one,
        and `log_sync_costs` writes the last one when the run ends."""
        now = time.monotonic()
        if self.state_manager.is_flushed or now - self._last_state_at < self._state_interval:
            return
        super()._write_state_message()
        self._last_state_at = time.monotonic()
        self._state_interval = max(STATE_INTERVAL_SECONDS, (self._last_state_at - now) / STATE_TIME_SHARE)

    def log_sync_costs(self) -> None:
        self._prefetch.close()  # a partition asked ahead that the SDK never synced
        self._last_state_at = float("-inf")
        self._write_state_message()  # the state this stream still holds
        super().log_sync_costs()

    def get_replication_key_signpost(self, context: Mapping[str, Any] | None = None) -> None:
        """No signpost: the bookmark never passes `end_date`, and it is set per window, not per record."""
        return None
