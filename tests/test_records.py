import io
import json
import math
import threading
from collections.abc import Iterator

import msgspec
import pytest

from tap_cohorts.core.errors import MalformedBody
from tap_cohorts.core.http import Redactor, Watchdog, parse_retry_after
from tap_cohorts.core.parsing import count_csv_rows, read_csv, read_json, spool_body
from tap_cohorts.core.records import WideLayout, dimension_key, to_integer, to_number
from tap_cohorts.vendors.appsflyer.streams import period_column_parser

pytestmark = pytest.mark.dates


def test_numbers_that_arrive_as_strings_leave_as_numbers() -> None:
    assert to_number("12") == 12 and isinstance(to_number("12"), int)
    assert to_number("0.25") == 0.25
    assert to_number(" 7 ") == 7
    assert to_number("") is None and to_number(None) is None and to_number("N/A") is None
    assert to_integer("12.0") == 12
    with pytest.raises(ValueError):
        to_number("twelve")
    with pytest.raises(ValueError):
        to_integer("1.5")


def test_dimension_key_is_stable_and_keeps_null_apart_from_empty() -> None:
    assert dimension_key({"pid": "a", "geo": "US"}) == dimension_key({"geo": "US", "pid": "a"})
    assert dimension_key({"pid": None}) != dimension_key({"pid": ""})
    assert dimension_key({}) == "{}"
    assert json.loads(dimension_key({"c": 'Summer, "Promo"', "geo": "Ünï"})) == {"c": 'Summer, "Promo"', "geo": "Ünï"}


def csv_bytes(text: str) -> io.BytesIO:
    return io.BytesIO(text.encode("utf-8"))


def appsflyer_layout(header: list[str]) -> WideLayout:
    return WideLayout.from_header(
        header,
        date_column="date",
        dimension_columns=["pid"],
        cohort_columns={"users": "users", "cost": "cost", "ecpi": "ecpi"},
        period_column=period_column_parser("sessions"),
        integer_fields=["users"],
    )


def test_columns_are_read_by_name_whatever_their_order_with_bom_and_extras() -> None:
    text = (
        "\ufeffsessions_rate_day_1,extra,users,date,pid,sessions_count_day_1,cost,ecpi,sessions_count_day_0\n"
        "0.5,x,10,2026-01-02,Meta ads,5,20.5,2.05,\n"
    )
    header, rows = read_csv(csv_bytes(text))
    layout = appsflyer_layout(header)
    assert layout.unknown_columns == ["extra"]
    records = list(layout.fold(next(rows), {"app_id": "a"}, "day"))
    # period 0 has only an empty value, so it has no record; period 1 has two
    assert records == [
        {
            "app_id": "a",
            "cohort_date": "2026-01-02",
            "period_unit": "day",
            "dimension_key": '{"pid":"Meta ads"}',
            "pid": "Meta ads",
            "users": 10,
            "cost": 20.5,
            "ecpi": 2.05,
            "period": 1,
            "rate": 0.5,
            "count": 5,
        }
    ]


def test_a_real_cohort_api_header_fills_conversion_rate() -> None:
    """Column names as a real Cohort API CSV has them, read by an open-source Cohort API client (a TypeScript
    `getAFCohortBuyerData` that asks for kpis ["af_purchase"] grouped by af_adset and reads
    `af_purchase_conversion_rate_day_3`, `_unique_users_day_3`, `_count_day_3`, `_sum_day_3`)."""
    header = "af_adset,date,users,cost,ecpi,af_purchase_conversion_rate_day_3,af_purchase_unique_users_day_3,"
    header += "af_purchase_count_day_3,af_purchase_sum_day_3\n"
    columns, rows = read_csv(csv_bytes(header + "Adset A,2026-01-02,200,150.0,0.75,0.085,17,21,104.93\n"))
    layout = WideLayout.from_header(
        columns,
        date_column="date",
        dimension_columns=["af_adset"],
        cohort_columns={"users": "users", "cost": "cost", "ecpi": "ecpi"},
        period_column=period_column_parser("af_purchase"),
        integer_fields=["users", "count", "unique_users"],
    )
    assert layout.unknown_columns == []
    [record] = list(layout.fold(next(rows), {}, "day"))
    assert record["period"] == 3 and record["conversion_rate"] == 0.085 and record["unique_users"] == 17
    assert record["count"] == 21 and record["sum"] == 104.93


def test_period_columns_are_matched_by_kpi_and_function() -> None:
    parse = period_column_parser("Checkout Start")
    assert parse("Checkout Start_unique_users_day_3") == ("unique_users", 3)
    assert parse("checkout start_cvr_day_10") == ("conversion_rate", 10)  # the document's label, accepted too
    assert parse("Checkout Start_conversion_rate_day_10") == ("conversion_rate", 10)
    assert parse("sum_Checkout Start_day_7") == ("sum", 7)
    assert parse("sessions_count_day_1") is None
    assert parse("Checkout Start_count_day_x") is None


def test_a_row_with_the_wrong_number_of_values_is_an_error_not_a_shift() -> None:
    _header, rows = read_csv(csv_bytes("date,pid,users\n2026-01-01,a\n"))
    with pytest.raises(ValueError, match="line 2 has 2 values but the header has 3"):
        next(rows)


def test_a_non_number_in_a_metric_is_reported_with_its_column() -> None:
    layout = appsflyer_layout(["date", "pid", "users", "sessions_count_day_0"])
    with pytest.raises(ValueError, match="sessions_count_day_0"):
        list(layout.fold({"date": "2026-01-01", "pid": "a", "users": "3", "sessions_count_day_0": "lots"}, {}, "day"))


def test_quoted_newlines_are_counted_as_one_row() -> None:
    body = csv_bytes('date,c\n2026-01-01,"two\nlines"\n2026-01-02,b\n')
    assert count_csv_rows(body) == 2
    assert body.tell() == 0


def test_retry_after_accepts_seconds_fractions_and_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("0.25") == 0.25
    assert parse_retry_after(None) is None
    assert parse_retry_after("nan") is None  # not a number of seconds: backoff instead
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


def test_redactor_hides_raw_and_url_encoded_secrets() -> None:
    redact = Redactor(["a/b c+d"])
    assert redact("key=a/b c+d&x=a%2Fb%20c%2Bd&y=a%2Fb+c%2Bd") == "key=***&x=***&y=***"


@pytest.mark.parametrize("value", ["1e309", "Infinity", "-inf", "12345678901234567.89", json.loads("1e309"), 2.0**53])
def test_a_number_a_double_cannot_hold_exactly_is_an_error_not_null_or_rounded(value: str | float) -> None:
    """As text (CSV) or as a JSON number already parsed (`1e309` parses as infinity)."""
    with pytest.raises(ValueError, match="infinite or beyond the exact range"):
        to_number(value)
    assert to_number("nan") is None and to_number("1234567890123.45") == 1234567890123.45
    assert to_number(float("nan")) is None and to_number(1234567890123.45) == 1234567890123.45


def test_a_repeated_csv_header_is_an_error() -> None:
    with pytest.raises(ValueError, match="the CSV header repeats 'users'"):
        read_csv(csv_bytes("date,users,users\n2026-01-01,1,2\n"))


def test_a_field_past_the_csv_limit_is_an_error_naming_the_line() -> None:
    _header, rows = read_csv(csv_bytes('date,c\n2026-01-01,"' + "x" * (1 << 18) + '"\n'))
    with pytest.raises(ValueError, match="CSV line 2: field larger than field limit"):
        next(rows)


def test_cr_only_line_ends_are_counted_for_the_row_cap() -> None:
    _spool, line_ends = spool_body(iter([b"date,c\r2026-01-01,a\r", b"2026-01-02,b\r"]))
    assert line_ends == 3


class Body:
    """A streamed response's body in chunks, as `read_json` reads it."""

    def __init__(self, data: bytes) -> None:
        self.data = data

    def iter_content(self, chunk_size: int) -> Iterator[bytes]:
        for start in range(0, len(self.data), 7):  # small chunks: a value split across two of them
            yield self.data[start : start + 7]


def test_json_answers_read_as_pythons_json_reads_them_what_strict_json_refuses_included() -> None:
    strict = b'{"campaigns": [{"id": "c-1", "revenue": 12.5, "big": 12345678901234567890123, "name": "\\u00e9"}]}'
    assert read_json(Body(strict)) == json.loads(strict)
    lenient = b'\xef\xbb\xbf{"a": NaN, "b": Infinity, "c": 1e400, "d": [1, -Infinity]}'
    payload = read_json(Body(lenient))
    assert payload["b"] == float("inf") and math.isnan(payload["a"])
    # The writer's encoder writes what JSON cannot hold as null, as the SDK's conformance did.
    assert msgspec.json.decode(msgspec.json.encode(payload)) == {"a": None, "b": None, "c": None, "d": [1, None]}
    with pytest.raises(MalformedBody, match="not JSON"):
        read_json(Body(b'{"campaigns": [{"id": "c-1"'))


def test_the_deadline_watchdog_runs_due_callbacks_in_order_and_never_a_cancelled_one() -> None:
    watchdog = Watchdog()
    ran: list[str] = []
    done = threading.Event()
    watchdog.schedule(0.2, lambda: (ran.append("late"), done.set()))
    cancelled = watchdog.schedule(0.05, lambda: ran.append("cancelled"))
    watchdog.schedule(0.1, lambda: ran.append("soon"))
    watchdog.schedule(0.01, lambda: ran.append("first"))  # sooner than what the thread already waits for
    watchdog.cancel(cancelled)
    for _ in range(500):  # many cancelled deadlines do not pile up
        watchdog.cancel(watchdog.schedule(300, lambda: ran.append("never")))
    assert done.wait(5)
    assert ran == ["first", "soon", "late"]
    assert len(watchdog._due) <= 2 * len(watchdog._callbacks) + 64
