"""What the demo answers, then what it loaded: the unified model's cohorts by vendor (installs, retention, LTV and
ROAS on days 1 and 7, for the newest cohorts that have reached day 7), then every table's rows and date range.

    python scripts/show_duckdb.py output/cohorts.duckdb
"""

from __future__ import annotations

import sys

import duckdb

COHORTS = 3
# Per vendor and cohort date, every app, country and source together, weighted by cohort size; `final` is false
# where any value added up can still change at the vendor (docs/runs.md: is_final).
ANSWER = """
with dates as (
  select distinct cohort_date from analytics.cohort_metrics
  where period_unit = 'day' and period = 7
    and cohort_date <= (select max(cohort_date) from analytics.cohort_metrics) - 8
  order by cohort_date desc limit {cohorts}
),
metrics as (
  select m.vendor, m.cohort_date,
    sum(case when m.period = 0 then m.cohort_size end) as installs,
    sum(case when m.period = 1 then m.retention_rate * m.cohort_size end)
      / sum(case when m.period = 1 and m.retention_rate is not null then m.cohort_size end) as retention_d1,
    sum(case when m.period = 7 then m.retention_rate * m.cohort_size end)
      / sum(case when m.period = 7 and m.retention_rate is not null then m.cohort_size end) as retention_d7,
    sum(case when m.period = 7 then m.revenue_cumulative end)
      / sum(case when m.period = 7 and m.revenue_cumulative is not null then m.cohort_size end) as ltv_d7,
    bool_and(m.is_final) filter (where m.period in (0, 1, 7)) as final
  from analytics.cohort_metrics m join dates using (cohort_date)
  where m.period_unit = 'day'
  group by m.vendor, m.cohort_date
),
roas as (
  select cost_vendor as vendor, cohort_date, sum(revenue) / nullif(sum(cost), 0) as roas_d7,
    bool_and(is_final) as final
  from analytics.cohort_roas join dates using (cohort_date)
  where period = 7
  group by cost_vendor, cohort_date
)
select m.cohort_date, m.vendor, m.installs, m.retention_d1, m.retention_d7, m.ltv_d7, r.roas_d7,
  coalesce(m.final, true) and coalesce(r.final, true) as final
from metrics m left join roas r using (vendor, cohort_date)
order by m.cohort_date desc, m.vendor
"""


def number(value: float | None, pattern: str) -> str:
    return "-" if value is None else format(value, pattern)


def show_answer(connection: duckdb.DuckDBPyConnection) -> None:
    rows = connection.execute(ANSWER.format(cohorts=COHORTS)).fetchall()
    print(f"\nThe answer (analytics.cohort_metrics, cohort_ltv, cohort_roas): the {COHORTS} newest cohorts at day 7")
    header = ("cohort", "vendor", "installs", "D1 retention", "D7 retention", "D7 LTV", "D7 ROAS", "")
    print("  {:<10}  {:<10}  {:>9}  {:>12}  {:>12}  {:>7}  {:>7}  {}".format(*header))
    for date, vendor, installs, d1, d7, ltv, roas, final in rows:
        print(
            f"  {date!s:<10}  {vendor:<10}  {number(installs, ',.0f'):>9}  {number(d1, '.1%'):>12}  "
            f"{number(d7, '.1%'):>12}  {number(ltv, '.3f'):>7}  {number(roas, '.2f'):>7}  "
            f"{'' if final else 'provisional'}"
        )
    print("  (-: not asked of this vendor; provisional: the vendor can still change it, docs/runs.md: is_final)")


def show_tables(connection: duckdb.DuckDBPyConnection, database: str) -> None:
    tables = connection.execute(
        "select table_catalog, table_schema, table_name from information_schema.tables order by 2, 3"
    ).fetchall()
    print(f"\nLoaded into {database}:")
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


if __name__ == "__main__":
    with duckdb.connect(sys.argv[1], read_only=True) as connection:
        show_answer(connection)
        show_tables(connection, sys.argv[1])
