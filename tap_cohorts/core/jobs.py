"""Asynchronous vendor jobs (Branch exports, Braze segment exports): polling and downloading the result.

Polls come at growing intervals (a young job is checked soon, an old one rarely) so a job costs few requests
inside the vendor's rate limit, and a job that never finishes fails after a total timeout with a clear message.
The result file is downloaded from its pre-signed URL without any vendor credential, into a spool, never held
whole in memory.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, TypeVar

from tap_cohorts.core.http import RequestLabel, VendorClient, WindowStats
from tap_cohorts.core.parsing import spool_body

T = TypeVar("T")

# Words in a job's error_message that say another try may work.
TRANSIENT_JOB_ERROR = re.compile(
    r"timeout|timed out|temporar|transient|try again|retry|unavailable|throttl|overload|capacity", re.IGNORECASE
)


class JobTimeout(Exception):
    def __init__(self, seconds: float, last_status: str) -> None:
        super().__init__(f"not finished after {seconds:.0f}s (last status {last_status})")
        self.seconds = seconds
        self.last_status = last_status


@dataclass(frozen=True)
class PollSchedule:
    """Wait `first` seconds, then `growth` times longer each poll, at most `longest`; give up after `timeout`."""

    first: float
    growth: float = 1.5
    longest: float = 60.0
    timeout: float = 1800.0

    def intervals(self) -> Iterator[float]:
        interval = self.first
        while True:
            yield interval
            interval = min(self.longest, interval * self.growth)


def wait_for_job(poll: Callable[[], tuple[str, T | None]], schedule: PollSchedule, stats: WindowStats) -> T:
    """Poll until `poll` returns (status, result) with a result; the waits are counted in `stats.job_wait`."""
    started = time.monotonic()
    status = "not polled"
    for interval in schedule.intervals():
        elapsed = time.monotonic() - started
        if elapsed + interval > schedule.timeout:
            raise JobTimeout(elapsed, status)
        time.sleep(interval)
        stats.job_wait += interval
        status, result = poll()
        if result is not None:
            return result
    raise AssertionError("unreachable")


def is_transient(error_message: str) -> bool:
    return bool(TRANSIENT_JOB_ERROR.search(error_message or ""))


def download(
    client: VendorClient,
    url: str,
    label: RequestLabel,
    stats: WindowStats,
    check: Callable[[IO[bytes]], T],
) -> tuple[IO[bytes], T]:
    """A pre-signed result file into a spool, with no vendor credential and outside the vendor's API budget.

    `check` reads the whole spool once (and raises MalformedBody if it cannot), inside the retry: a file cut
    short is downloaded again instead of failing half-way through its records.
    """

    def read(response: Any) -> tuple[IO[bytes], T]:
        spool, _ = spool_body(response.iter_content(chunk_size=1 << 16))
        try:
            result = check(spool)
        except BaseException:
            spool.close()
            raise
        spool.seek(0)
        return spool, result

    return client.call("GET", url, label=label, stats=stats, authenticated=False, rate_limited=False, read=read)
