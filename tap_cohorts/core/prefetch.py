"""The next request sent while the records of the last answer are written.

A vendor takes its time to answer (the sandbox, like AppsFlyer, builds the whole report first), and the tap takes
its own to turn an answer into records. Done one after the other, a backfill costs the sum; with the next
request on a worker thread while this answer's records are written, it costs about the larger of the two. Only
one request is ever ahead, and only one the tap would send next anyway: the rate limits, retries and errors are
the client's as for any request, and an error comes out where the answer is taken, so it ends the same window or
page it would have ended. An answer nobody takes (its partition ended first) is closed when it arrives.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Generic, TypeVar

T = TypeVar("T")


def close_answer(future: Future[Any]) -> None:
    """A spooled body that will never be read gives its file back."""
    if not future.cancelled() and future.exception() is None:
        close = getattr(future.result(), "close", None)
        if close is not None:
            close()


class Prefetch(Generic[T]):
    """At most one answer fetched ahead, named by a key (the window, the page) to be taken by that key."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._executor: ThreadPoolExecutor | None = None
        self._ahead: tuple[Hashable, Future[T]] | None = None

    def start(self, key: Hashable, fetch: Callable[[], T]) -> None:
        """Send `fetch` ahead (an earlier one not taken is dropped)."""
        self.drop()
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"prefetch-{self._name}")
        self._ahead = (key, self._executor.submit(fetch))

    def take(self, key: Hashable) -> Future[T] | None:
        """The request sent ahead for `key`, if it was (its `result()` waits for it, or raises its error)."""
        if self._ahead is None or self._ahead[0] != key:
            return None
        future = self._ahead[1]
        self._ahead = None
        return future

    def drop(self) -> None:
        """Forget the request sent ahead; its answer is closed when it arrives."""
        if self._ahead is not None:
            self._ahead[1].add_done_callback(close_answer)
            self._ahead = None

    def close(self) -> None:
        """Drop what is ahead and let the worker thread end (a later `start` makes a new one)."""
        self.drop()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
