"""The Singer message writer: msgspec serialisation, flushed at each STATE message instead of each record.

The SDK's msgspec writer flushes stdout after every message, a system call per record. Flushing with each
STATE keeps what matters: a state line reaches the target only after every record it covers, and records
still in the buffer when a run dies are covered by no state, so the next run asks for them again.
"""

from __future__ import annotations

import sys

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib import Message, StateMessage


class StateFlushingWriter(MsgSpecWriter):
    def write_message(self, message: Message) -> None:
        sys.stdout.buffer.write(self.format_message(message))
        if isinstance(message, StateMessage):
            sys.stdout.flush()
