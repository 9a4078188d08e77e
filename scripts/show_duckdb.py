"""Print the tables the demo loaded into DuckDB (the tap's, in `cohorts`, and the dbt models, in `analytics` and
`analytics_staging`): rows and date range per table, and a sample of one of the tap's."""

import sys

import duckdb

connection = duckdb.connect(sys.argv[1], read_only=True)
tables = connection.execute(
    "select table_catalog, table_schema, table_name from information_schema.tables order by table_schema, table_name"
).fetchall()
print(f"\nLoaded into {sys.argv[1]}:")
for catalog, schema, table in tables:
    name = f'"{catalog}"."{schema}"."{table}"'
    columns = {row[0] for row in connection.execute(f"select column_name from (describe {name})").fetchall()}
    rows = connection.execute(f"select count(*) from {name}").fetchone()[0]
    date = next((c for c in ("cohort_date", "time") if c in columns), None)
    dates = ""
    if date:
        first, last = connection.execute(f'select min("{date}"), max("{date}") from {name}').fetchone()
        dates = f", {date} {first}..{last}"
    print(f"  {schema}.{table}: {rows} rows{dates}")
for catalog, schema, table in [t for t in tables if t[1] == "cohorts"][:1]:
    print(f"\n{schema}.{table}, first rows:")
    connection.sql(
        f'select * from "{catalog}"."{schema}"."{table}" order by cohort_date, dimension_key, period limit 3'
    ).show(max_width=200)
