"""Requests sent ahead, on worker threads, while the records of the last answer are written.

A vendor takes its time to answer (the sandbox, like AppsFlyer, builds the whole report first), and the tap takes
its own to turn an answer into records. Done one after the other, a backfill costs the sum; with the next request on
a worker thread while this answer's records are written, it costs about the larger of the two. Only requests the tap
would send next anyway are sent ahead, in the order it would send them: the next window or page, and where a stream
says so the next few requests, past the end of the partition into the next ones its parent has listed
(`WindowedStream.requests_ahead`). The rate limits, retries and errors are the client's as for any request, and an
error comes out where the answer is taken, so it ends the same window, page or partition it would have ended. An
answer nobody takes (its partition ended first) is closed when it arrives.
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
    """Answers fetched ahead on up to `workers` threads, each named by a key (a window, a page, a partition's
    window) to be taken by that key."""

    def __init__(self, name: str, workers: int = 1) -> None:
        self._name = name
        self._workers = workers
        self._executor: ThreadPoolExecutor | None = None
        self._ahead: dict[Hashable, Future[T]] = {}

    def pending(self) -> list[Hashable]:
        """The keys of the answers sent ahead and not taken."""
        return list(self._ahead)

    def start(self, key: Hashable, fetch: Callable[[], T]) -> None:
        """Send `fetch` ahead under `key` (one already sent under it is dropped)."""
        self.drop(key)
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix=f"prefetch-{self._name}")
        self._ahead[key] = self._executor.submit(fetch)

    def take(self, key: Hashable) -> Future[T] | None:
        """The request sent ahead for `key`, if it was (its `result()` waits for it, or raises its error)."""
        return self._ahead.pop(key, None)

    def drop(self, key: Hashable) -> None:
        """Forget the request sent ahead under `key`; its answer is closed when it arrives."""
        future = self._ahead.pop(key, None)
        if future is not None:
            future.add_done_callback(close_answer)

    def close(self) -> None:
        """Drop all that is ahead and let the worker threads end (a later `start` makes new ones)."""
        for key in list(self._ahead):
            self.drop(key)
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
