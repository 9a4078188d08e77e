"""Switchable faults: what the sandbox does to the next matching requests instead of answering normally."""

from __future__ import annotations

import csv
import io
import json
import random
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass

KINDS = (
    "status",  # answer `status` (e.g. 429, 500, 503) with an optional Retry-After
    "drop",  # close the connection without answering
    "slow",  # wait `delay` seconds, then answer normally
    "truncate",  # announce the full Content-Length, send half the body, close
    "malformed_json",  # cut a JSON body in half
    "reorder_columns",  # shuffle the columns of a CSV body
    "bom",  # prefix a CSV body with a UTF-8 byte-order mark
    "extra_column",  # add an unknown column to a CSV body
    "missing_column",  # remove the last column of a CSV body
    "bad_value",  # write `value` into the first `field` of a JSON body (a vendor's bad number, say)
)


@dataclass
class Fault:
    kind: str
    vendor: str | None = None
    path_contains: str | None = None
    # One request parameter's value (`name=value`): a fault meant for one partition, where several are asked at once.
    param: str | None = None
    times: int = 1
    skip: int = 0
    status: int = 503
    retry_after: float | None = None
    delay: float = 0.0
    message: str = "sandbox fault"
    field: str = ""
    value: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(KINDS)}")

    def matches(self, vendor: str, path: str, query: Mapping[str, list[str]] | None = None) -> bool:
        if self.param is not None:
            name, _, value = self.param.partition("=")
            if value not in (query or {}).get(name, []):
                return False
        return (self.vendor in (None, vendor)) and (self.path_contains is None or self.path_contains in path)

    def to_dict(self) -> dict:
        return asdict(self)


def write_bad_value(body: bytes, field: str, value: str) -> bytes:
    """The JSON body with the first `"field": ...` value replaced by the string `value`."""
    pattern = re.compile(rb'("' + re.escape(field.encode()) + rb'"\s*:\s*)("[^"]*"|[-0-9.eE+]+|null)')
    return pattern.sub(lambda m: m.group(1) + json.dumps(value).encode(), body, count=1)


def transform_csv(body: bytes, kind: str, seed: int = 0) -> bytes:
    """Apply a CSV fault to a whole CSV body."""
    if kind == "bom":
        return b"\xef\xbb\xbf" + body
    rows = list(csv.reader(io.StringIO(body.decode("utf-8"), newline="")))
    if not rows:
        return body
    if kind == "reorder_columns":
        order = list(range(len(rows[0])))
        random.Random(seed).shuffle(order)
        rows = [[row[i] for i in order] for row in rows]
    elif kind == "extra_column":
        rows = [[*rows[0], "sandbox_extra"], *([*row, "x"] for row in rows[1:])]
    elif kind == "missing_column":
        rows = [row[:-1] for row in rows]
    out = io.StringIO(newline="")
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode("utf-8")
