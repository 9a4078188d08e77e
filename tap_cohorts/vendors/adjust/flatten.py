"""Flattening Adjust's nested `result_set` into one row per cohort date x period (x any other level).

No path is hard-coded: every list of objects is a grouping level (apps, trackers, dates, events, periods, and
any level the document does not show), its objects' scalar fields are identity columns named after the level,
and an object holding `kpi_values` is a leaf whose values map to the requested KPIs in order.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from tap_cohorts.vendors.adjust import settings


def singular(level: str) -> str:
    known = settings.LEVELS.get(level)
    if known:
        return known.singular
    if level in settings.DATE_LEVEL_LISTS:
        return "date"
    return level[:-1] if level.endswith("s") else level


def column_name(level: str | None, field: str) -> str:
    """The record column of a field of a level's object: `token` of a tracker is `tracker_token`, the value of
    an os_names object (`os_name` or `token`) is `os_name`; the root object is the app."""
    if level in settings.DATE_LEVEL_LISTS and field == "date":
        return "cohort_date"
    if level == settings.PERIODS_LIST and field == "period":
        return "period"
    if field == "currency":
        return "currency"
    known = settings.LEVELS.get(level or "apps")
    if known and known.value and field in known.identity:
        return known.singular
    return f"{singular(level or 'apps')}_{field}"


# Columns that describe a member of a level rather than tell it apart: outside dimension_key.
LABEL_COLUMNS = frozenset(column_name(name, f) for name, level in settings.LEVELS.items() for f in level.labels)


def flatten(result_set: Mapping[str, Any], kpis: list[str]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(identity columns, {KPI: value}) per leaf of the nested result: apart, so a KPI named like a column
    (`period`, `country`) never overwrites it."""
    yield from _walk(result_set, None, {}, kpis)


def _walk(
    node: Mapping[str, Any], level: str | None, inherited: dict[str, Any], kpis: list[str]
) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    row = dict(inherited)
    children: list[tuple[str, list]] = []
    for field, value in node.items():
        if field == "kpi_values":
            continue
        if isinstance(value, list):
            if value and not all(isinstance(item, Mapping) for item in value):
                raise ValueError(f"{field!r} holds a list that is not a list of objects: {str(value)[:100]}")
            children.append((field, value))
        elif not isinstance(value, Mapping):
            row[column_name(level, field)] = value
    if "kpi_values" in node:
        values = node["kpi_values"]
        if not isinstance(values, list) or len(values) != len(kpis):
            raise ValueError(
                f"kpi_values {values!r} holds {len(values) if isinstance(values, list) else 'no list of'} values "
                f"for the {len(kpis)} KPIs requested ({', '.join(kpis)}); refusing to guess which is which"
            )
        yield row, dict(zip(kpis, values))
    for child_level, items in children:
        for item in items:
            yield from _walk(item, child_level, row, kpis)
