"""The demo's picture of the unified model, by day since install and vendor: LTV (cumulative revenue per install)
for every vendor with revenue, retention, and ROAS (cumulative revenue over cost), each over every app, country
and source, from the dbt models in DuckDB. Values the vendor can still change (`is_final` false) are marked: the
solid line with dots is the final values alone, the dashed one includes the provisional.

    python scripts/plot_cohorts.py output/cohorts.duckdb output/cohorts.png
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.axes import Axes

COLORS = {"appsflyer": "tab:green", "adjust": "tab:blue", "branch": "tab:purple", "applovin": "tab:orange"}
# Each panel: its title and y label, and a query giving vendor, period, the value over every cohort that has
# reached that day, and the value over the final rows alone. Days that fewer than 3 cohorts reached are left out.
PANELS = [
    (
        "LTV: cumulative revenue per install",
        "revenue per install",
        """
        select vendor, period, sum(revenue_cumulative) / sum(cohort_size),
          sum(case when is_final then revenue_cumulative end) / sum(case when is_final then cohort_size end)
        from analytics.cohort_ltv
        group by vendor, period having count(distinct cohort_date) >= 3
        """,
    ),
    (
        "Retention: share of the cohort active",
        "retention rate",
        """
        select vendor, period, sum(retention_rate * cohort_size) / sum(cohort_size),
          sum(case when is_final then retention_rate * cohort_size end)
            / sum(case when is_final then cohort_size end)
        from analytics.cohort_metrics
        where retention_rate is not null and period_unit = 'day'
        group by vendor, period having count(distinct cohort_date) >= 3
        """,
    ),
    (
        "ROAS: cumulative revenue over cost",
        "ROAS",
        """
        select cost_vendor, period, sum(revenue) / sum(cost),
          sum(case when is_final then revenue end) / sum(case when is_final then cost end)
        from analytics.cohort_roas
        where roas is not null
        group by cost_vendor, period having count(distinct cohort_date) >= 3
        """,
    ),
]


def draw(axes: Axes, rows: list[tuple], title: str, label: str) -> None:
    curves: dict[str, list[tuple[int, float, float | None]]] = {}
    for vendor, period, value, final in rows:
        curves.setdefault(vendor, []).append((period, value, final))
    for vendor, points in sorted(curves.items()):
        points.sort()
        color = COLORS.get(vendor)
        axes.plot([p for p, _, _ in points], [v for _, v, _ in points], linestyle="--", linewidth=1, color=color)
        finals = [(p, f) for p, _, f in points if f is not None]
        axes.plot([p for p, _ in finals], [f for _, f in finals], marker="o", markersize=3, color=color, label=vendor)
    axes.set_title(title, fontsize=10)
    axes.set_xlabel("days since install")
    axes.set_ylabel(label)
    axes.grid(alpha=0.3)
    if curves:
        axes.legend(fontsize=8)


def plot(database: str, picture: str) -> str:
    figure, panels = plt.subplots(1, len(PANELS), figsize=(16, 5))
    with duckdb.connect(database, read_only=True) as connection:
        for axes, (title, label, query) in zip(panels, PANELS, strict=True):
            draw(axes, connection.execute(query).fetchall(), title, label)
    figure.suptitle("The unified model by vendor (solid with dots: final values; dashed: with provisional ones)")
    figure.tight_layout()
    Path(picture).parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(picture, dpi=100)
    return picture


if __name__ == "__main__":
    print(f"LTV, retention and ROAS by day since install written to {plot(sys.argv[1], sys.argv[2])}")
