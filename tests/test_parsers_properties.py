"""Property-based tests of the parsers: random column orders, missing values, unicode, long values and extra
levels never crash with anything but a clear error, and never put a value in the wrong column."""

from __future__ import annotations

import csv
import io
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from tap_cohorts.core.parsing import read_csv
from tap_cohorts.core.records import WideLayout
from tap_cohorts.vendors.adjust.flatten import flatten
from tap_cohorts.vendors.appsflyer.streams import period_column_parser

TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=300)
# Decimal values within a double's exact range (beyond 2**53 the tap refuses them: tests/test_records.py).
NUMBER = st.one_of(
    st.integers(-(10**12), 10**12),
    st.floats(min_value=-(2.0**52), max_value=2.0**52, allow_nan=False, allow_infinity=False, width=32),
)


@settings(max_examples=150, deadline=None)
@given(
    pid=TEXT,
    users=st.integers(0, 10**9),
    values=st.dictionaries(
        st.integers(0, 180), st.tuples(st.one_of(st.none(), NUMBER), st.one_of(st.none(), NUMBER)), max_size=12
    ),
    extra=st.lists(st.text(alphabet="abcdefgh_", min_size=3, max_size=12), max_size=3),
    order_seed=st.integers(),
    bom=st.booleans(),
)
def test_appsflyer_csv_values_land_in_their_own_column(pid, users, values, extra, order_seed, bom) -> None:
    row = {"date": "2026-03-04", "pid": pid, "users": str(users), "cost": "", "ecpi": ""}
    for period, (count, rate) in values.items():
        row[f"sessions_count_day_{period}"] = "" if count is None else repr(count)
        row[f"sessions_rate_day_{period}"] = "" if rate is None else repr(rate)
    for name in extra:
        row.setdefault(f"x_{name}", "junk")
    columns = list(row)
    random.Random(order_seed).shuffle(columns)
    out = io.StringIO(newline="")
    writer = csv.writer(out)
    writer.writerow(columns)
    writer.writerow([row[c] for c in columns])
    body = ("\ufeff" if bom else "") + out.getvalue()
    header, rows = read_csv(io.BytesIO(body.encode("utf-8")))
    layout = WideLayout.from_header(
        header,
        date_column="date",
        dimension_columns=["pid"],
        cohort_columns={"users": "users", "cost": "cost", "ecpi": "ecpi"},
        period_column=period_column_parser("sessions"),
        integer_fields=["users"],
    )
    assert sorted(layout.unknown_columns) == sorted({f"x_{n}" for n in extra})
    records = {r["period"]: r for r in layout.fold(next(rows), {}, "day")}
    expected = {p for p, (c, r) in values.items() if c is not None or r is not None}
    assert set(records) == expected
    for period, record in records.items():
        count, rate = values[period]
        assert record["pid"] == pid and record["users"] == users and record["cost"] is None
        assert record.get("count") == (
            None if count is None else float(repr(count)) if isinstance(count, float) else count
        )
        assert record.get("rate") == (None if rate is None else float(repr(rate)) if isinstance(rate, float) else rate)


LEVEL = st.sampled_from(["trackers", "events", "countries", "os_names", "device_types", "networks", "campaigns"])


@settings(max_examples=150, deadline=None)
@given(
    levels=st.lists(LEVEL, unique=True, max_size=3),
    tokens=st.lists(TEXT, min_size=1, max_size=3, unique=True),
    kpis=st.lists(st.text(alphabet="abcdefghij_", min_size=1, max_size=10), min_size=1, max_size=4, unique=True),
    data=st.data(),
)
def test_adjust_flattener_places_every_kpi_value_under_its_kpi(levels, tokens, kpis, data) -> None:
    values = {}

    def node(depth: int, path: tuple) -> dict:
        if depth == len(levels):
            periods = []
            for period in range(2):
                kpi_values = data.draw(st.lists(st.one_of(st.none(), NUMBER), min_size=len(kpis), max_size=len(kpis)))
                values[(*path, str(period))] = kpi_values
                periods.append({"period": str(period), "kpi_values": kpi_values})
            return {"dates": [{"date": "2026-01-05", "periods": periods}]}
        return {levels[depth]: [{"token": t, "name": f"n{t}", **node(depth + 1, (*path, t))} for t in tokens]}

    rows = list(flatten({"token": "app", "currency": "EUR", **node(0, ())}, kpis))
    assert len(rows) == len(values)
    for row, kpi_values in rows:
        identity = [
            row[k]
            for k in row
            if (k.endswith("_token") and k != "app_token") or k in ("country", "os_name", "device_type")
        ]
        assert [kpi_values[k] for k in kpis] == values[(*identity, row["period"])]
        assert row["cohort_date"] == "2026-01-05" and row["currency"] == "EUR"
