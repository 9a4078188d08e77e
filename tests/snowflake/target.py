"""TEST HARNESS ONLY: target-snowflake's own CLI on fakesnow, with Snowflake's user stage (`@~`) emulated.

    .venv-snowflake/bin/python tests/snowflake/target.py DB_DIR STAGE_DIR --config target.json < messages

fakesnow (DuckDB speaking Snowflake's SQL) runs every statement target-snowflake 0.20.4 writes (its DDL, type
mapping, ALTER TABLE, and its MERGE's join, update and insert) except its staging, which fakesnow lacks for the
user stage. This file stands in for that part of Snowflake, and only that part:
- `PUT file://… '@~/target-snowflake/<id>'` copies the gzipped JSON-lines file into STAGE_DIR/<id>.
- The MERGE's source `'@~/target-snowflake/<id>'(file_format => …)` becomes a table of the staged lines (one
  VARIANT column, `v`, for `$1`; `seq`, their order, for `SEQ8()`). DuckDB cannot bind the source's QUALIFY
  inside a MERGE, so the target's source query (its casts and its dedup) runs first into a table, and the
  target's MERGE then reads that table. (Every stream has a primary key, so the target never COPYs.)
- `REMOVE '@~/target-snowflake/<id>/'` deletes the staged files and those tables; `DROP FILE FORMAT` is a no-op
  (fakesnow keeps no file formats).
Everything else goes to fakesnow as the target wrote it.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

import fakesnow
from fakesnow.cursor import FakeSnowflakeCursor
from target_snowflake.target import TargetSnowflake

STAGE = re.compile(r"'@~/target-snowflake/([^'/]+)/?'")
STAGED_SOURCE = re.compile(r"'@~/target-snowflake/([^'/]+)'\s*(?:\(file_format => [^)]*\))?")
MERGE = re.compile(r"(merge into ((?:\"?\w+\"?\.)\"?\w+\"?)\.\S+ d using )\((select .*?)\)( s on .*)$", re.I | re.S)

fakesnow_execute = FakeSnowflakeCursor.execute
stage_dir = Path()  # STAGE_DIR, from the command line
tables_of_stage: dict[str, list[str]] = {}


def staged_rows_table(cursor: FakeSnowflakeCursor, sync_id: str, schema: str) -> str:
    """The staged files' lines as a table in the target's schema: seq (their order), v (each line, a VARIANT)."""
    table = f"{schema}._user_stage_" + re.sub(r"\W", "_", sync_id)
    files = sorted(str(path) for path in (stage_dir / sync_id).iterdir())
    fakesnow_execute(cursor, f"create or replace table {table} (seq integer, v variant)")
    cursor._duck_conn.execute(  # DuckDB reads the gzipped lines itself, in order
        f"insert into {table} select row_number() over () - 1, json from read_json_objects(?, format = 'nd')",
        [files],
    )
    tables_of_stage.setdefault(sync_id, []).extend([table, f"{table}_source"])
    return table


def execute(self: FakeSnowflakeCursor, command: str, params: Any = None, *args: Any, **kwargs: Any) -> Any:
    sql = command.strip()
    verb = sql.split(None, 1)[0].lower() if sql else ""
    if verb == "put" and (match := STAGE.search(sql)):
        source = Path(url2pathname(urlparse(params["file_uri"]).path))
        (stage_dir / match.group(1)).mkdir(parents=True, exist_ok=True)
        shutil.copy(source, stage_dir / match.group(1) / source.name)
        return fakesnow_execute(self, f"select '{source.name}' as source, 'UPLOADED' as status")
    if verb == "remove" and (match := STAGE.search(sql)):
        shutil.rmtree(stage_dir / match.group(1), ignore_errors=True)
        for table in tables_of_stage.pop(match.group(1), []):
            fakesnow_execute(self, f"drop table if exists {table}")
        return fakesnow_execute(self, "select 'removed' as status")
    if sql.lower().startswith("drop file format"):
        return fakesnow_execute(self, "select 'dropped' as status")
    if verb == "merge" and (staged := STAGED_SOURCE.search(sql)) and (merge := MERGE.match(sql)):
        schema = merge.group(2)
        fakesnow_execute(self, f"use schema {schema}")  # fakesnow's MERGE needs a current schema
        table = staged_rows_table(self, staged.group(1), schema)
        source = STAGED_SOURCE.sub(table, merge.group(3)).replace("$1:", "v:").replace("SEQ8()", "seq")
        fakesnow_execute(self, f"create or replace table {table}_source as {source}")
        sql = f"{merge.group(1)}{table}_source{merge.group(4)}"
    return fakesnow_execute(self, sql, params, *args, **kwargs)


if __name__ == "__main__":
    stage_dir = Path(sys.argv[2])
    FakeSnowflakeCursor.execute = execute  # type: ignore[method-assign]
    with fakesnow.patch(db_path=sys.argv[1]):
        TargetSnowflake.cli(sys.argv[3:])
