"""The demo's picture of the unified model: LTV curves (cumulative revenue per install by day since install, one
line per vendor and app) and a retention heatmap (cohort date x day since install), from the dbt models in DuckDB.
Values the vendor can still change (`is_final` false) are marked: the LTV curve of final values is solid and the
one with provisional values dashed; provisional heatmap cells are hatched.

    python scripts/plot_cohorts.py output/cohorts.duckdb output/cohorts.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import matplotlib
from matplotlib.patches import Rectangle

matplotlib.use("Agg")
import matplotlib.pyplot as plt

# Per vendor, app and day since install: revenue over installs of the cohorts that have reached that day.
LTV = """
select vendor, app_id, period, sum(revenue_cumulative) / sum(cohort_size) as ltv, count(*) as cohorts,
  sum(case when is_final then revenue_cumulative end) / sum(case when is_final then cohort_size end) as final_ltv
from analytics.cohort_ltv
group by vendor, app_id, period
having count(*) >= 3
order by vendor, app_id, period
"""
# Retention by day from an attribution vendor (Adjust first: its days in progress show as the young cohorts'
# empty corner), every app, country and source together, weighted by cohort size.
RETENTION = """
with vendor as (
  select vendor from analytics.cohort_metrics where retention_rate is not null and period_unit = 'day'
  group by vendor order by vendor = 'adjust' desc, vendor = 'applovin', count(distinct period) desc limit 1
)
select m.vendor, m.cohort_date, m.period, sum(m.retention_rate * m.cohort_size) / sum(m.cohort_size) as retention,
  min(case when m.is_final then 1 else 0 end) = 1 as final
from analytics.cohort_metrics m join vendor using (vendor)
where m.retention_rate is not null and m.period_unit = 'day'
group by m.vendor, m.cohort_date, m.period
order by m.cohort_date, m.period
"""


def plot(database: str, picture: str) -> str:
    with duckdb.connect(database, read_only=True) as connection:
        curves = connection.execute(LTV).fetchall()
        cells = connection.execute(RETENTION).fetchall()
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 5.5), gridspec_kw={"width_ratios": [1, 1.2]})
    lines: dict[tuple[str, str], tuple[list[int], list[float], list[float | None]]] = {}
    for vendor, app, period, ltv, _, final_ltv in curves:
        days, values, finals = lines.setdefault((vendor, app), ([], [], []))
        days.append(period)
        values.append(ltv)
        finals.append(final_ltv)
    for (vendor, app), (days, values, finals) in sorted(lines.items()):
        if len(days) < 3:
            continue  # a vendor without consecutive days from 0 has no cumulative curve to speak of
        (line,) = left.plot(days, values, linestyle="--", linewidth=1, alpha=0.7)
        final_days = [day for day, value in zip(days, finals, strict=True) if value is not None]
        final_values = [value for value in finals if value is not None]
        left.plot(final_days, final_values, marker="o", markersize=3, color=line.get_color(), label=f"{vendor}: {app}")
    left.set_title("LTV: cumulative revenue per install (solid: final values; dashed: with provisional)")
    left.set_xlabel("days since install")
    left.set_ylabel("revenue per install")
    left.grid(alpha=0.3)
    left.legend(fontsize=8)
    dates = sorted({str(date) for _, date, _, _, _ in cells})
    periods = sorted({period for _, _, period, _, _ in cells})
    grid = [[float("nan")] * len(periods) for _ in dates]
    for _, date, period, retention, _ in cells:
        grid[dates.index(str(date))][periods.index(period)] = retention
    image = right.imshow(grid, aspect="auto", cmap="viridis", vmin=0)
    for _, date, period, _, final in cells:
        if not final:  # the vendor can still change it: not a drop in retention
            cell = (periods.index(period) - 0.5, dates.index(str(date)) - 0.5)
            right.add_patch(Rectangle(cell, 1, 1, fill=False, hatch="///", edgecolor="white", linewidth=0))
    right.set_xticks(range(len(periods)), [str(p) for p in periods])
    step = max(1, len(dates) // 12)
    right.set_yticks(range(0, len(dates), step), dates[::step])
    right.set_xlabel("day since install")
    right.set_ylabel("cohort (install date)")
    right.set_title(f"Retention ({cells[0][0] if cells else 'no vendor'}): share active (hatched: provisional)")
    figure.colorbar(image, ax=right, label="retention rate")
    figure.tight_layout()
    Path(picture).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(picture, dpi=110)
    return picture


if __name__ == "__main__":
    print(f"LTV curves and retention heatmap written to {plot(sys.argv[1], sys.argv[2])}")
