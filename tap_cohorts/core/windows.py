"""Cohort-date windows: where a run starts, where it ends, and how the range is cut into requests."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Window:
    """An inclusive range of cohort dates asked for in one request (or one job)."""

    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def halves(self) -> tuple[Window, Window]:
        middle = self.start + dt.timedelta(days=self.days // 2 - 1)
        return Window(self.start, middle), Window(middle + dt.timedelta(days=1), self.end)

    def __str__(self) -> str:
        return f"{self.start.isoformat()}..{self.end.isoformat()}"


def plan_windows(first: dt.date, last: dt.date, max_days: int, cut_dates: Iterable[dt.date] = ()) -> list[Window]:
    """Cut [first, last] into windows of at most `max_days`.

    No window crosses a cut date: a date in `cut_dates` always starts a new window. Vendors whose answer
    depends on where a window ends (AppsFlyer counts complete cohort days from `to`) use cuts to keep
    every window's answer complete.
    """
    if last < first:
        return []
    cuts = sorted(c for c in set(cut_dates) if first < c <= last)
    windows: list[Window] = []
    start = first
    for boundary in [*cuts, last + dt.timedelta(days=1)]:
        while start < boundary:
            end = min(boundary - dt.timedelta(days=1), start + dt.timedelta(days=max_days - 1))
            windows.append(Window(start, end))
            start = end + dt.timedelta(days=1)
    return windows


@dataclass(frozen=True)
class SyncBounds:
    """What the config says about dates for one vendor: its start, end and lookback."""

    start_date: dt.date | None
    end_date: dt.date
    lookback_days: int


def first_cohort_date(
    bookmark: dt.date | None,
    bounds: SyncBounds,
    oldest_allowed: dt.date | None,
    logger: logging.Logger | None,
    where: str,
) -> dt.date:
    """The first cohort date a run syncs for one partition.

    `bookmark - lookback_days` when there is a bookmark, else `start_date`; never before `start_date` nor
    the vendor's oldest allowed date (a clamp by the vendor's history is logged as a warning, because the
    user asked for data the vendor no longer serves; without a `logger`, the caller plans quietly).
    """
    floor = bounds.start_date or oldest_allowed
    first = bookmark - dt.timedelta(days=bounds.lookback_days) if bookmark else floor
    if first is None:
        msg = f"{where}: no start_date and the vendor has no oldest date"
        raise ValueError(msg)
    if floor is not None and first < floor:
        first = floor
    if oldest_allowed is not None and first < oldest_allowed:
        if logger is not None:
            logger.warning(
                "%s: start %s is older than the vendor serves; starting at its oldest date %s instead",
                where,
                first.isoformat(),
                oldest_allowed.isoformat(),
            )
        first = oldest_allowed
    return first


def utc_today() -> dt.date:
    return dt.datetime.now(dt.timezone.utc).date()
