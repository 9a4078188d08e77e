"""Print the tables the demo loaded into DuckDB: rows, cohort dates and a sample per table."""

import sys

import duckdb

connection = duckdb.connect(sys.argv[1], read_only=True)
tables = connection.execute(
    "select table_catalog, table_schema, table_name from information_schema.tables order by table_schema, table_name"
).fetchall()
print(f"\nLoaded into {sys.argv[1]}:")
for catalog, schema, table in tables:
    name = f'"{catalog}"."{schema}"."{table}"'
    rows, first, last = connection.execute(
        f"select count(*), min(cohort_date), max(cohort_date) from {name}"
    ).fetchone()
    print(f"  {schema}.{table}: {rows} rows, cohort dates {first}..{last}")
for catalog, schema, table in tables:
    print(f"\n{schema}.{table}, first rows:")
    connection.sql(
        f'select * from "{catalog}"."{schema}"."{table}" order by cohort_date, dimension_key, period limit 3'
    ).show(max_width=200)
