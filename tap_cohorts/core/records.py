"""The "long by period, wide by metric" record shape shared by every cohort stream.

Vendors send one wide row per cohort with a column per metric and period (`sessions_count_day_3`,
`pub_revenue_7`). The warehouse gets one record per cohort x period with one column per metric, so its
schema is fixed whatever periods are requested and `period` is an integer SQL can filter and pivot.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from singer_sdk import typing as th

MISSING_NUMBER_TEXTS = frozenset({"", "null", "none", "n/a", "nan", "-"})
# Decimal numbers are IEEE doubles (15 significant digits always exact): one at or beyond 2**53 has lost its
# cents, so it is refused rather than stored rounded.
EXACT_FLOAT_LIMIT = 2.0**53


def to_number(value: Any) -> int | float | None:
    """A vendor number (often a string) as int or float; empty or missing markers become None.

    Raises ValueError for text that is not a number, so a bad value is reported, never stored wrong. This runs
    per value: the common cells (digits, empty, a decimal) are told apart without raising an exception, which
    costs ten times the parse. Text written as an integer stays an int; with a point or an exponent, a float.
    """
    if value.__class__ is str:
        if value.isdecimal():
            return int(value)
        if not value:
            return None
        try:
            number = float(value)
        except ValueError:
            if value.strip().lower() in MISSING_NUMBER_TEXTS:
                return None
            raise
        if number.is_integer() and "." not in value and "e" not in value and "E" not in value:
            return int(value)  # "-3", " 12 ", "1_000": what int() reads, and float() did
    elif isinstance(value, float):  # a JSON number: 1e309 parses as infinity
        number = value
    elif value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    else:
        return to_number(str(value))
    if number != number:
        return None  # NaN: a missing value, as `nan` is
    if not abs(number) < EXACT_FLOAT_LIMIT:
        raise ValueError(f"{value!r} is infinite or beyond the exact range of a double (2**53)")
    return number


def to_integer(value: Any) -> int | None:
    if value.__class__ is str and value.isdecimal():
        return int(value)  # the common cell, without a second call
    number = to_number(value)
    if number is None or isinstance(number, int):
        return number
    if number.is_integer():
        return int(number)
    raise ValueError(f"{value!r} is not a whole number")


def to_cohort_date(value: Any) -> str:
    """A vendor date (`2026-01-05`, `2026-01-05 00:00:00`, `2026-01-05T00:00:00Z`) as ISO `YYYY-MM-DD`."""
    text = str(value).strip()
    return dt.date.fromisoformat(text[:10]).isoformat()


def dimension_key(dimensions: Mapping[str, Any]) -> str:
    """A stable, never-null key for a record's dimension values: compact JSON with sorted names.

    JSON keeps a null apart from an empty string and needs no escaping rules of its own; sorting keeps
    the key the same when the configured order of dimensions changes.
    """
    return json.dumps(dimensions, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


# What every cohort record says about its sync (`core/sync_log.py`): when, in which partition, and whether the
# vendor can still change its values.
SYNC_COLUMNS = (
    th.Property("is_final", th.BooleanType, description="The values will not change at the vendor any more."),
    th.Property("synced_at", th.DateTimeType, description="When the run that synced the record started."),
    th.Property("sync_partition", th.StringType, description="The partition the record was synced in, as JSON."),
)


def cohort_schema(
    *,
    keys: Iterable[th.Property],
    dimensions: Iterable[str],
    integer_metrics: Iterable[str] = (),
    number_metrics: Iterable[str] = (),
    extra: Iterable[th.Property] = (),
) -> dict:
    """The JSON schema of a cohort stream: its partition keys, the cohort columns, dimensions and metrics."""
    properties = [
        *keys,
        th.Property("cohort_date", th.DateType, required=True),
        th.Property("period", th.IntegerType, required=True),
        th.Property("period_unit", th.StringType, required=True),
        th.Property("dimension_key", th.StringType, required=True),
        *(th.Property(name, th.StringType) for name in dimensions),
        *(th.Property(name, th.IntegerType) for name in integer_metrics),
        *(th.Property(name, th.NumberType) for name in number_metrics),
        *extra,
        *SYNC_COLUMNS,
    ]
    return th.PropertiesList(*properties).to_dict()


@dataclass
class WideLayout:
    """Where each column of a wide vendor table goes, decided once per response header."""

    date_column: str
    dimension_columns: list[str]
    cohort_columns: dict[str, str]
    period_columns: dict[int, list[tuple[str, str]]]
    unknown_columns: list[str] = field(default_factory=list)
    integer_fields: frozenset[str] = frozenset()
    # dimension_key by dimension values: a response repeats a few combinations on every cohort date.
    _keys: dict[tuple, str] = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def from_header(
        cls,
        header: Iterable[str],
        *,
        date_column: str,
        dimension_columns: Iterable[str],
        cohort_columns: Mapping[str, str],
        period_column: Callable[[str], tuple[str, int] | None],
        integer_fields: Iterable[str] = (),
    ) -> WideLayout:
        """Classify every column by name, never by position: order, extras and unasked periods are fine."""
        header = list(header)
        dimensions = list(dimension_columns)
        present = set(header)
        layout = cls(
            date_column=date_column,
            dimension_columns=dimensions,
            cohort_columns={},
            period_columns={},
            integer_fields=frozenset(integer_fields),
        )
        if date_column not in present:
            raise ValueError(f"the response has no {date_column!r} column (columns: {', '.join(header)})")
        for column in header:
            if column == date_column or column in dimensions:
                continue
            if column in cohort_columns:
                layout.cohort_columns[column] = cohort_columns[column]
                continue
            parsed = period_column(column)
            if parsed is None:
                layout.unknown_columns.append(column)
                continue
            metric, period = parsed
            layout.period_columns.setdefault(period, []).append((column, metric))
        return layout

    def fold(self, row: Mapping[str, Any], constants: Mapping[str, Any], period_unit: str) -> Iterator[dict]:
        """One record per period that has at least one value; numbers parsed, empty strings as null."""
        dimensions = {name: _text(row.get(name)) for name in self.dimension_columns}
        values = tuple(dimensions.values())
        key = self._keys.get(values)
        if key is None:
            key = self._keys[values] = dimension_key(dimensions)
        base: dict[str, Any] = {
            **constants,
            "cohort_date": to_cohort_date(row[self.date_column]),
            "period_unit": period_unit,
            "dimension_key": key,
            **dimensions,
        }
        for column, name in self.cohort_columns.items():
            base[name] = self._number(name, column, row.get(column))
        for period, columns in self._period_plan:
            record = base.copy()
            record["period"] = period
            present = False
            for column, name, convert in columns:
                value = row.get(column)
                number: int | float | None
                if value.__class__ is str and value.isdecimal():
                    number = int(value)  # the common cell, as both parsers read it, without a call
                else:
                    try:
                        number = convert(value)
                    except ValueError:
                        raise ValueError(f"column {column!r} holds {value!r}, which is not a number") from None
                record[name] = number
                if number is not None:
                    present = True
            if present:
                yield record

    @cached_property
    def _period_plan(self) -> list[tuple[int, list[tuple[str, str, Callable[[Any], int | float | None]]]]]:
        """Per period, its columns with their metric names and number parsers, worked out once per layout."""
        return [
            (
                period,
                [(column, name, self._parser(name)) for column, name in cols],
            )
            for period, cols in self.period_columns.items()
        ]

    def _parser(self, name: str) -> Callable[[Any], int | float | None]:
        return to_integer if name in self.integer_fields else to_number

    def _number(self, name: str, column: str, value: Any) -> int | float | None:
        try:
            return self._parser(name)(value)
        except ValueError:
            raise ValueError(f"column {column!r} holds {value!r}, which is not a number") from None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return str(value)
