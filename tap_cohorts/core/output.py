"""Writing records fast: Singer messages through one buffer, and the SDK's per-record work skipped when idle.

The SDK's msgspec writer flushes stdout after every message, a system call per record (and with
PYTHONUNBUFFERED set, as in many container images, every write is one). Here messages go through a 64 KiB buffer
flushed at each STATE message: a state line still reaches the target only after every record it covers, and
records still in the buffer when a run dies are covered by no state, so the next run asks for them again.

For each record the SDK walks the selection mask, applies the stream maps and builds a message with a new
timestamp. With every property selected and no stream map or flattening configured that work changes nothing,
and on a sync of a million records it costs more than reading and parsing them; `LeanRecordStream` skips it then
and keeps the SDK's path whenever a catalog deselects something or a map is configured.
"""

from __future__ import annotations

import atexit
import io
import sys
from collections.abc import Mapping
from typing import IO, Any

from singer_sdk import Stream
from singer_sdk.contrib.msgspec import MsgSpecWriter, serialize_jsonl
from singer_sdk.helpers._typing import conform_record_data_types
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib import Message, RecordMessage, StateMessage

OUTPUT_BUFFER_BYTES = 1 << 16


def flush_if_open(buffer: IO[bytes]) -> None:
    if not buffer.closed:
        buffer.flush()


class StateFlushingWriter(MsgSpecWriter):
    _stdout: IO[bytes] | None = None
    _buffer: IO[bytes] | None = None

    def _output(self) -> IO[bytes]:
        """A buffered binary stdout (sys.stdout may be replaced, by tests for one)."""
        binary = sys.stdout.buffer
        if binary is not self._stdout:
            if self._buffer is not None:
                self._buffer.flush()
            self._stdout = binary
            # An unbuffered stdout (python -u, PYTHONUNBUFFERED) is a raw file: give it a buffer of its own.
            if isinstance(binary, io.RawIOBase):
                self._buffer = io.BufferedWriter(binary, buffer_size=OUTPUT_BUFFER_BYTES)
                atexit.register(flush_if_open, self._buffer)
            else:
                self._buffer = binary
        assert self._buffer is not None
        return self._buffer

    def write_message(self, message: Message) -> None:
        output = self._output()
        output.write(self.format_message(message))
        if isinstance(message, StateMessage):
            output.flush()
            sys.stdout.flush()

    def write_record(self, stream: str, record: dict, version: int | None) -> None:
        """A RECORD message, as `RecordMessage.to_dict()` would give it, without building the message object."""
        message: dict[str, Any] = {"type": "RECORD", "stream": stream, "record": record}
        if version is not None:
            message["version"] = version
        message["time_extracted"] = utc_now()
        self._output().write(serialize_jsonl(message))


class LeanRecordStream(Stream):
    """A stream whose RECORD messages skip the SDK's per-record selection walk and stream map when idle."""

    _lean: bool | None = None

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
        if self.child_streams:
            super()._process_record(record, child_context=child_context, partition_context=partition_context)
            return
        for key, value in (partition_context or {}).items():
            record.setdefault(key, value)
