"""The base of every stream of the tap: lean RECORD output, and unknown vendor columns logged once.

For each record the SDK walks the selection mask, applies the stream maps, builds a message object with a new
timestamp and offers the record to child streams. With every property selected, no stream map or flattening
configured and no child stream selected, that work changes nothing, and on a sync of a million records it costs
more than reading and parsing them. `TapStream` skips it then, and keeps the SDK's path whenever a catalog
deselects a property, a map is configured or a child stream is selected.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from singer_sdk import Stream
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib import RecordMessage

from tap_cohorts.core.check import Probe
from tap_cohorts.core.http import RequestLabel, VendorClient
from tap_cohorts.core.output import StateFlushingWriter


class TapStream(Stream):
    client: VendorClient
    records_written = 0
    _lean: bool | None = None
    _children_wanted: bool | None = None
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
            yield from self.read_records(context)
        except Exception as error:
            self.client.fail(RequestLabel(self.name, context), error)

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

    def _is_lean(self) -> bool:
        if self._lean is None:
            maps = self.stream_maps
            self._lean = (
                all(self.mask.values())
                and len(maps) == 1
                and type(maps[0]) is SameRecordTransform
                and not maps[0].flattening_enabled
                and maps[0].stream_alias == self.name
            )
        return self._lean

    def _write_record_message(self, record: dict) -> None:
        self.records_written += 1
        if not self._is_lean():
            super()._write_record_message(record)
            return
        if self.TYPE_CONFORMANCE_LEVEL is not TypeConformanceLevel.NONE:
            record = conform_record_data_types(
                stream_name=self.name,
                record=record,
                schema=self.effective_schema,
                level=self.TYPE_CONFORMANCE_LEVEL,
                logger=self.logger,
            )
        writer = self._tap.message_writer
        if isinstance(writer, StateFlushingWriter):
            writer.write_record(self.name, record, self._stream_version)
        else:
            writer.write_message(
                RecordMessage(stream=self.name, record=record, version=self._stream_version, time_extracted=utc_now())
            )
        self.state_manager.is_flushed = False

    def _process_record(
        self,
        record: dict,
        child_context: Mapping[str, Any] | None = None,
        partition_context: Mapping[str, Any] | None = None,
    ) -> None:
        if self._children_wanted is None:
            self._children_wanted = any(c.selected or c.has_selected_descendents for c in self.child_streams)
        if self._children_wanted:
            super()._process_record(record, child_context=child_context, partition_context=partition_context)
            return
        for key, value in (partition_context or {}).items():
            record.setdefault(key, value)
