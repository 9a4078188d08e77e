"""The warehouse equals the vendor over time: which units each run asked the vendor again, and in which grain.

Upserts by primary key cannot remove a row whose key the vendor no longer returns (a restated media source, a
re-attributed install, a changed grouping). So every cohort record carries `synced_at` (when this run started)
and `sync_partition` (its partition, as compact JSON), and after each window whose records have all been emitted
the tap writes one `cohort_syncs` record: this stream and partition hold the vendor's answer for cohort dates
`first_date`..`last_date` as of `synced_at`. A row of that partition and date range with an older `synced_at`
is one the vendor no longer returns: the post-load step (`transform/macros/supersede.sql`) deletes it, or marks
it `_sdc_deleted_at` where the loader keeps that column. An answer with no rows still writes its record, so its
old rows go too.

A partition also remembers its grain (the settings that decide which rows and columns the vendor returns) in
its state. When they change, the run says so, syncs the partition again from `start_date`, and writes a record
for all dates (`reason` `grain_change`): every row of the old grain is superseded, including those older than
the vendor still serves.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Mapping
from typing import Any

from singer_sdk import Stream
from singer_sdk import typing as th

from tap_cohorts.core.records import dimension_key

STREAM_NAME = "cohort_syncs"
# A grain change supersedes every date of the partition.
ALL_DATES = (dt.date(1900, 1, 1), dt.date(9999, 12, 31))


def run_timestamp() -> str:
    """The moment a run starts, as every record and log entry of the run carries it (text that sorts as time)."""
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def normalized_grain(settings: Mapping[str, Any]) -> dict[str, Any]:
    """Settings as compared between runs: unset, false and empty are one value (the vendor's default), and the
    order of a list does not matter (dimension_key sorts dimension names)."""
    grain: dict[str, Any] = {}
    for name, value in settings.items():
        if value is None or value is False or value == [] or value == {}:
            continue
        if isinstance(value, list | tuple):
            value = sorted(value, key=lambda item: json.dumps(item, sort_keys=True, default=str))
        grain[name] = json.loads(json.dumps(value, sort_keys=True, default=str))
    return grain


def grain_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """What changed, one `name: old -> new` per setting (`unset` where a side has none)."""
    names = sorted(set(before) | set(after))
    return [
        f"{name}: {json.dumps(before.get(name)) if name in before else 'unset'} -> "
        f"{json.dumps(after.get(name)) if name in after else 'unset'}"
        for name in names
        if before.get(name) != after.get(name)
    ]


class SyncLogStream(Stream):
    """`cohort_syncs`: one record per unit a run asked the vendor again. It has no records of its own to read:
    the cohort streams write them (`record_unit`) as their windows complete."""

    name = STREAM_NAME
    primary_keys = ["stream", "sync_partition", "first_date", "last_date", "synced_at"]
    schema = th.PropertiesList(
        th.Property("stream", th.StringType, required=True, description="The cohort stream (its table)."),
        th.Property("sync_partition", th.StringType, required=True, description="The partition, as its rows hold it."),
        th.Property("first_date", th.DateType, required=True),
        th.Property("last_date", th.DateType, required=True),
        th.Property("synced_at", th.DateTimeType, required=True, description="When the run that asked started."),
        th.Property("reason", th.StringType, required=True, description="`window`, `grain_change` or `list`."),
        th.Property("records", th.IntegerType, description="Records the answer held."),
        th.Property("grain", th.StringType, description="The partition's grain settings, as JSON."),
    ).to_dict()

    def __init__(self, tap: Any) -> None:
        super().__init__(tap)
        self.synced_at = run_timestamp()
        self._schema_sent = False

    @property
    def emit_activate_version_messages(self) -> bool:
        """Never: the log only grows, and a new version would mark every earlier entry deleted."""
        return False

    def get_records(self, context: Mapping[str, Any] | None) -> Iterator[dict]:
        """Nothing to read: the cohort streams write the units."""
        return iter(())

    def record_unit(
        self,
        stream: str,
        partition: str,
        first: dt.date,
        last: dt.date,
        *,
        reason: str,
        records: int | None,
        grain: Mapping[str, Any],
    ) -> None:
        if not self.selected:
            return
        if not self._schema_sent:  # the SDK syncs streams by name: this one may come after the cohort streams
            self._schema_sent = True
            self._write_schema_message()
        self._write_record_message(
            {
                "stream": stream,
                "sync_partition": partition,
                "first_date": first.isoformat(),
                "last_date": last.isoformat(),
                "synced_at": self.synced_at,
                "reason": reason,
                "records": records,
                "grain": dimension_key(grain),
            }
        )
