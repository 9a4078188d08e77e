"""Streaming parsers that read vendor files by column name.

A byte-order mark, reordered or extra columns, and quoted fields must not break a run; a row whose number
of values differs from its header is an error (its values could not be placed without guessing).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import mmap
import tempfile
from collections.abc import Iterable, Iterator
from typing import IO, Any, Generic, TypeVar

import msgspec

from tap_cohorts.core.errors import MalformedBody

# A line of a vendor file is read whole before it is parsed: past this length it is an error, not a fill of memory
# (a file with no line end at all would otherwise be read whole). CSV fields stop sooner, at csv's 128 KiB.
MAX_LINE_CHARS = 16 * 1024 * 1024

T = TypeVar("T")


def bounded_lines(text: IO[str], where: str = "") -> Iterator[str]:
    """The lines of a text file (universal line ends kept), each at most MAX_LINE_CHARS."""
    for line_number, line in enumerate(iter(lambda: text.readline(MAX_LINE_CHARS), ""), start=1):
        if len(line) == MAX_LINE_CHARS and line[-1] not in "\r\n":
            raise ValueError(f"{where}line {line_number} is longer than {MAX_LINE_CHARS:,} characters: not read on")
        yield line


def read_csv(binary: IO[bytes]) -> tuple[list[str], Iterator[dict[str, str]]]:
    """The header and a lazy iterator of rows as {column: value} from a UTF-8 CSV (BOM or not)."""
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
    reader = csv.reader(bounded_lines(text, "CSV "))
    try:
        header = [name.strip() for name in next(reader, [])]
    except csv.Error as exc:
        raise ValueError(f"CSV header: {exc}") from None
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise ValueError(f"the CSV header repeats {', '.join(map(repr, repeated))}: its values cannot be told apart")

    def rows() -> Iterator[dict[str, str]]:
        width = len(header)
        line_number = 1
        try:
            for line_number, values in enumerate(reader, start=2):
                if not values:
                    continue
                if len(values) != width:
                    raise ValueError(
                        f"CSV line {line_number} has {len(values)} values but the header has {width} columns"
                    )
                yield dict(zip(header, values))
        except csv.Error as exc:
            raise ValueError(f"CSV line {line_number + 1}: {exc}") from None

    return header, rows()


def count_csv_rows(binary: IO[bytes]) -> int:
    """Data rows in a CSV file (quoted newlines counted right), leaving the file at its start."""
    binary.seek(0)
    text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
    rows = sum(1 for values in csv.reader(bounded_lines(text, "CSV ")) if values) - 1
    text.detach()
    binary.seek(0)
    return max(rows, 0)


SPOOL_MEMORY_BYTES = 1024 * 1024
JSON_DECODER = msgspec.json.Decoder()


def spool_body(chunks: Iterator[bytes]) -> tuple[IO[bytes], int]:
    """A response body in a temporary file (in memory up to 1 MiB) and its number of line ends.

    Vendors with a row cap need the whole answer before the first record goes out (a capped answer is
    asked again in smaller windows); a file keeps memory flat however large the answer is.
    """
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES)  # noqa: SIM115 (the caller closes it)
    newlines = returns = 0
    for chunk in chunks:
        newlines += chunk.count(b"\n")
        returns += chunk.count(b"\r")  # a file with CR-only line ends has as many rows
        spool.write(chunk)
    spool.seek(0)
    return spool, max(newlines, returns)  # type: ignore[return-value]


def read_json(response: Any) -> Any:
    """A JSON body, read through a spool: an answer that reaches max_response_mb has filled a file, not memory.
    A body that is not JSON is asked again, like one cut short.

    msgspec decodes strict JSON (faster than `json`, which mattered for thousands of small answers); what it
    refuses (NaN or Infinity, a byte-order mark, 1e400, a lone surrogate) is read as Python's `json` reads it, as
    before: NaN and infinities go out as null (the writer's encoder writes them so)."""
    spool, _ = spool_body(response.iter_content(chunk_size=1 << 16))
    with spool:
        body = spool.read()
    try:
        return JSON_DECODER.decode(body)
    except msgspec.DecodeError:
        pass
    try:
        return json.loads(body)
    except ValueError as exc:
        raise MalformedBody(f"the response is not JSON: {exc}") from None


class MappedJson(Generic[T]):
    """A spooled JSON body decoded by msgspec as `shape`, straight from a memory map of the spool's file.

    The one pass is strict and whole, so a body cut short or malformed raises MalformedBody before any record
    goes out (and is fetched again). A shape holding `msgspec.Raw` keeps its large parts as undecoded slices of
    the map, decoded one at a time when read (`items`): the rows are never held parsed at once, and the map is
    the file's page cache, which the kernel can reclaim, not the heap. Against ijson's streaming passes (one to
    prove the body, one per field after the array, one to read the rows) it takes a sixth of the CPU on
    AppLovin's 63 MB pages (docs/benchmark.md).
    """

    def __init__(self, body: IO[bytes], shape: type[T]) -> None:
        size = body.seek(0, io.SEEK_END)
        body.seek(0)
        self._map = mmap.mmap(body.fileno(), size, access=mmap.ACCESS_READ) if size else None
        try:
            self.value: T | None = msgspec.json.decode(self._map if self._map is not None else b"", type=shape)
        except msgspec.ValidationError as exc:
            self.close()
            raise ValueError(f"the response is not the JSON expected: {exc}") from None
        except msgspec.DecodeError as exc:
            self.close()
            raise MalformedBody(f"the response is not complete JSON: {exc}") from None

    def digest(self) -> bytes:
        return hashlib.sha256(self._map if self._map is not None else b"").digest()

    def close(self) -> None:
        """Drops the decoded value, then the map (a slice still held elsewhere keeps it until it goes)."""
        self.value = None
        if self._map is not None:
            with contextlib.suppress(BufferError):
                self._map.close()
            self._map = None


def decode_items(items: Iterable[msgspec.Raw]) -> Iterator[Any]:
    """Each undecoded slice (`MappedJson`) as Python values, one at a time."""
    decode = JSON_DECODER.decode
    for item in items:
        yield decode(item)
