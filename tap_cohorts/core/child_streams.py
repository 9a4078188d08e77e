"""Child streams (one sync per parent record) without one SCHEMA message per parent.

The SDK writes a SCHEMA message at every `sync()`, and a child stream is synced once per parent record:
tens of thousands of Braze segments would mean as many SCHEMA messages, and targets built on pipelinewise
(target-duckdb, target-snowflake's ancestors) flush every stream at each one, loading a row at a time.
"""

from __future__ import annotations

from tap_cohorts.core.base_stream import TapStream


class SchemaOnce(TapStream):
    """Writes the stream's SCHEMA message once per run."""

    _schema_written = False

    def _write_schema_message(self) -> None:
        if not self._schema_written:
            self._schema_written = True
            super()._write_schema_message()
