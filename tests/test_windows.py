import datetime as dt
import itertools
import logging

import pytest

from tap_cohorts.core.windows import SyncBounds, Window, first_cohort_date, plan_windows

pytestmark = pytest.mark.dates

D = dt.date(2026, 1, 1)


def day(n: int) -> dt.date:
    return D + dt.timedelta(days=n)


def test_windows_never_exceed_the_vendor_maximum_and_cover_the_range_exactly() -> None:
    windows = plan_windows(day(0), day(99), 31)
    assert [w.days for w in windows] == [31, 31, 31, 7]
    assert windows[0].start == day(0) and windows[-1].end == day(99)
    for before, after in itertools.pairwise(windows):
        assert after.start == before.end + dt.timedelta(days=1)


def test_a_cut_date_always_starts_a_window() -> None:
    windows = plan_windows(day(0), day(20), 31, cut_dates=[day(10), day(15), day(16), day(40)])
    assert windows == [
        Window(day(0), day(9)),
        Window(day(10), day(14)),
        Window(day(15), day(15)),
        Window(day(16), day(20)),
    ]


def test_an_empty_range_has_no_windows() -> None:
    assert plan_windows(day(5), day(4), 31) == []


def test_halves_split_a_window_into_two_adjacent_parts() -> None:
    assert Window(day(0), day(30)).halves() == (Window(day(0), day(14)), Window(day(15), day(30)))
    assert Window(day(0), day(1)).halves() == (Window(day(0), day(0)), Window(day(1), day(1)))


def test_first_date_is_bookmark_minus_lookback() -> None:
    bounds = SyncBounds(start_date=day(0), end_date=day(100), lookback_days=30)
    assert first_cohort_date(day(60), bounds, None, logging.getLogger(), "x") == day(30)


def test_lookback_is_clamped_to_start_date_quietly(caplog: pytest.LogCaptureFixture) -> None:
    bounds = SyncBounds(start_date=day(0), end_date=day(100), lookback_days=30)
    assert first_cohort_date(day(10), bounds, None, logging.getLogger(), "x") == day(0)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_start_older_than_the_vendor_serves_is_clamped_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    bounds = SyncBounds(start_date=day(0), end_date=day(100), lookback_days=30)
    assert first_cohort_date(None, bounds, day(5), logging.getLogger(), "stream x") == day(5)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and "stream x" in warnings[0] and day(5).isoformat() in warnings[0]


def test_without_start_date_the_vendors_oldest_date_is_used() -> None:
    bounds = SyncBounds(start_date=None, end_date=day(100), lookback_days=30)
    assert first_cohort_date(None, bounds, day(7), logging.getLogger(), "x") == day(7)
