"""The base of every stream of the tap: lean RECORD output, and unknown vendor columns logged once.

For each record the SDK's loop checks a record limit, offers the record to `post_process`, to the child streams
and to the bookmark, walks the selection mask, applies the stream maps, builds a message object with a new
timestamp and counts it. With every property selected, no stream map or flattening configured, no child stream
selected, no record limit and no `post_process`, that work changes nothing, and on a sync of a million records it
costs more than reading and parsing them. `TapStream.get_records` then writes the records itself, through the
tap's writer (`core/output.py`), and counts them on the SDK's record counter; the SDK's loop sees none. Otherwise
the records go the SDK's way.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from singer_sdk import Stream, metrics
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform

from tap_cohorts.core.check import Probe
from tap_cohorts.core.http import RequestLabel, VendorClient
from tap_cohorts.core.output import StateFlushingWriter

# Records written between two updates of the SDK's record counter (it logs a count at most every minute).
RECORDS_PER_COUNT = 1000


class TapStream(Stream):
    client: VendorClient
    records_written = 0
    _lean: bool | None = None
    _record_counter: metrics.Counter
    _logged_unknown_columns: set[str] | None = None

    def log_unknown_columns(self, columns: Iterable[str], kept_in: str | None = None) -> None:
        """Columns the tap does not know are logged once per stream, not dropped silently (and say where they
        are kept, when the stream keeps them)."""
        if self._logged_unknown_columns is None:
            self._logged_unknown_columns = set()
        new = [column for column in columns if column not in self._logged_unknown_columns]
        if new:
            self._logged_unknown_columns.update(new)
            self.logger.warning(
                "%s: the vendor sent columns this tap does not map, %s: %s",
                self.name,
                f"kept in {kept_in}" if kept_in else "left out of the records",
                ", ".join(new),
            )

    @property
    def emit_activate_version_messages(self) -> bool:
        """On unless the config turns it off (the SDK's default is off): a stream read whole (FULL_TABLE) tells the
        loader which rows are current. Not for a child stream: the SDK would send one per parent record, each an
        UPDATE of the whole table in the loader; the post-load step supersedes the children of a deleted parent."""
        return self.parent_stream_type is None and self.config.get("emit_activate_version_messages") is not False

    def connection_probes(self) -> list[Probe]:
        """The requests `--test` sends for this stream (`core/check.py`); none unless the stream says."""
        return []

    def get_records(self, context: Mapping[str, Any] | None) -> Iterator[dict]:
        """`read_records`, where a failure ends this partition (for a child: this parent's part), not the run:
        it goes into the run's ledger (`core/failures.py`), and the run goes on."""
        try:
            if self._is_lean():
                self._write_records(self.read_records(context), context)
                return
            for record in self.read_records(context):
                self.records_written += self.selected
                yield record
        except Exception as error:
            self.client.fail(RequestLabel(self.name, context), error)

    def state_partition_context(self, context: Mapping[str, Any] | None) -> dict[str, Any]:
        """The part of a context that names its partition in the state, as the SDK takes it."""
        keys = self.state_partitioning_keys
        return dict(context or {}) if keys is None else {k: v for k, v in (context or {}).items() if k in keys}

    def read_records(self, context: Mapping[str, Any] | None) -> Iterator[dict]:
        """The records of one partition."""
        raise NotImplementedError

    def log_sync_costs(self) -> None:
        """The SDK calls this for every stream at the end of a run: the stream's summary, then the run's."""
        super().log_sync_costs()
        self.log_summary()
        self.client.ledger.stream_finished(self.name, self.records_written if self.selected else None, self.logger)

    def log_summary(self) -> None:
        """What this stream did in the run, for the log."""

    def get_record_counter(self, **options: Any) -> metrics.Counter:
        """The SDK's counter, kept: records written by `_write_records` are counted on it too."""
        self._record_counter = super().get_record_counter(**options)
        return self._record_counter

    def _is_lean(self) -> bool:
        """Whether the SDK's per-record work would change nothing (see the module's docstring)."""
        if self._lean is None:
            maps = self.stream_maps
            self._lean = (
                all(self.mask.values())
                and len(maps) == 1
                and type(maps[0]) is SameRecordTransform
                and not maps[0].flattening_enabled
                and maps[0].stream_alias == self.name
                and not any(c.selected or c.has_selected_descendents for c in self.child_streams)
                and self.ABORT_AT_RECORD_COUNT is None
                and type(self).post_process is Stream.post_process
                and isinstance(self._tap.message_writer, StateFlushingWriter)
            )
        return self._lean

    def _write_records(self, records: Iterable[dict], context: Mapping[str, Any] | None) -> None:
        """Write RECORD messages as the SDK would, without its per-record work: the partition's keys added
        where a record lacks them (as the SDK does), types conformed where the stream asks for it."""
        partition = self.state_partition_context(context)
        conform = self.TYPE_CONFORMANCE_LEVEL is not TypeConformanceLevel.NONE
        writer = self._tap.message_writer
        assert isinstance(writer, StateFlushingWriter)
        lines = writer.record_lines(self.name, self._stream_version)
        written = 0
        try:
            for record in records:
                for key, value in partition.items():
                    if key not in record:
                        record[key] = value
                if conform:
                    record = conform_record_data_types(
                        stream_name=self.name,
                        record=record,
                        schema=self.effective_schema,
                        level=self.TYPE_CONFORMANCE_LEVEL,
                        logger=self.logger,
                    )
                lines.write(record)
                written += 1
                if written == RECORDS_PER_COUNT:
                    self._count_written(written)
                    written = 0
        finally:
            self._count_written(written)

    def _count_written(self, written: int) -> None:
        if not written:
            return
        self.records_written += written
        self._record_counter.increment(written)
        self.state_manager.is_flushed = False

    def _increment_stream_state(self, latest_record: dict, *, context: Any = None) -> None:
        """Records do not move a bookmark: a windowed stream moves it once a whole window is emitted
        (`WindowedStream._advance_bookmark`); the other streams are read whole.

        The SDK would take the newest cohort_date seen, which inside an unsorted window is ahead of
        records not yet emitted.
        """
