"""Child streams (one sync per parent record): without one SCHEMA message per parent, and told what comes next.

The SDK writes a SCHEMA message at every `sync()`, and a child stream is synced once per parent record:
tens of thousands of Braze segments would mean as many SCHEMA messages, and targets built on pipelinewise
(target-duckdb, target-snowflake's ancestors) flush every stream at each one, loading a row at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from tap_cohorts.core.base_stream import TapStream
from tap_cohorts.core.windowed_stream import WindowedStream


class SchemaOnce(TapStream):
    """Writes the stream's SCHEMA message once per run."""

    _schema_written = False

    def _write_schema_message(self) -> None:
        if not self._schema_written:
            self._schema_written = True
            super()._write_schema_message()


def announce_children(parent: TapStream, contexts: Iterable[Mapping[str, Any]]) -> None:
    """Tell the parent's selected child streams the contexts it will sync them with next (a page of parents), so
    they can send those partitions' first requests ahead (`WindowedStream.expect_partitions`)."""
    listed = list(contexts)
    for child in parent.child_streams:
        if isinstance(child, WindowedStream) and child.selected:
            child.expect_partitions(listed)
