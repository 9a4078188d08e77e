"""The dbt project of the unified model where the tap loaded nothing: every model builds, empty, and every dbt
test passes (a vendor or stream the user did not configure never fails the build). The models on loaded data are
checked in test_warehouses.py, after two maturing meltano runs into DuckDB and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import duckdb
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.e2e
def test_the_models_build_empty_where_no_vendor_table_exists(tmp_path: Path) -> None:
    database = tmp_path / "empty.duckdb"
    duckdb.connect(str(database)).execute("create schema cohorts").close()  # the loader's schema, no tables
    environment = {
        **os.environ,
        "TARGET_DUCKDB_FILEPATH": str(database),
        "MELTANO_DATABASE_URI": f"sqlite:///{tmp_path / 'meltano.db'}",
    }
    result = subprocess.run(
        [str(ROOT / ".venv/bin/meltano"), "invoke", "dbt-duckdb:build"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "ERROR=0" in result.stdout + result.stderr
    with duckdb.connect(str(database), read_only=True) as connection:
        for model in ("cohort_metrics", "cohort_ltv", "cohort_roas"):
            assert connection.execute(f"select count(*) from analytics.{model}").fetchone() == (0,), model
