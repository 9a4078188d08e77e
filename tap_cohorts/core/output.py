"""The Singer message writer: msgspec serialisation through one buffer, flushed at each STATE message.

The SDK's msgspec writer flushes stdout after every message, a system call per record (and with
PYTHONUNBUFFERED set, as in many container images, every write is one). Here messages go through a 64 KiB buffer
flushed at each STATE message: a state line still reaches the target only after every record it covers, and
records still in the buffer when a run dies are covered by no state, so the next run asks for them again.
"""

from __future__ import annotations

import atexit
import io
import sys
from typing import IO, Any

from singer_sdk.contrib.msgspec import MsgSpecWriter, serialize_jsonl
from singer_sdk.helpers._util import utc_now
from singer_sdk.singerlib import Message, StateMessage

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
