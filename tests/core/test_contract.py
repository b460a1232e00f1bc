"""The one reading contract (core.contract): time window, finite values, flag vocabulary, unit."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
import pytest

from core.contract import ReadingContract, reading_flags
from core.schema import READINGS_SCHEMA
from core.settings import load_settings

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def contract() -> ReadingContract:
    return ReadingContract.from_settings(load_settings())


def _row(**over: object) -> dict:
    row = {
        "site_id": "s1", "parameter": "so2", "period_start": NOW - timedelta(hours=1),
        "interval_s": 3600, "source_kind": "hj212", "value": 1.5, "value_min": None,
        "value_max": None, "value_zs": None, "value_cou": None, "unit": "mg/m3", "flag": "N",
        "received_at": NOW, "origin": "test", "extra": None,
    }  # fmt: skip
    row.update(over)
    return row


def test_defaults_come_from_settings(contract: ReadingContract) -> None:
    assert contract.earliest == datetime(2000, 1, 1, tzinfo=UTC)
    assert contract.max_future == timedelta(seconds=600)
    assert {"N", "F", "M", "S", "D", "C", "T", "B"} <= contract.flags


def test_settings_change_the_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVMON_READING_EARLIEST", "2013-03-01")
    monkeypatch.setenv("ENVMON_READING_MAX_FUTURE_S", "60")
    s = load_settings()
    assert s.reading_earliest == date(2013, 3, 1)
    c = ReadingContract.from_settings(s)
    assert c.time_problem(datetime(2013, 2, 28, 23, tzinfo=UTC), NOW) is not None
    assert c.time_problem(datetime(2013, 3, 1, tzinfo=UTC), NOW) is None
    assert c.time_problem(NOW + timedelta(seconds=61), NOW) is not None


@pytest.mark.parametrize(
    ("start", "ok"),
    [
        (datetime(1900, 1, 1, tzinfo=UTC), False),  # a logger's reset clock
        (datetime(1970, 1, 1, tzinfo=UTC), False),
        (datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC), False),  # one second before the window
        (datetime(2000, 1, 1, tzinfo=UTC), True),  # its first instant
        (NOW + timedelta(seconds=600), True),  # exactly the tolerated drift
        (NOW + timedelta(seconds=601), False),  # one second more
    ],
)
def test_time_window_both_sides(contract: ReadingContract, start: datetime, ok: bool) -> None:
    assert (contract.row_problem(_row(period_start=start), NOW) is None) is ok


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")])
@pytest.mark.parametrize("column", ["value", "value_min", "value_max", "value_zs", "value_cou"])
def test_values_must_be_finite(contract: ReadingContract, column: str, bad: float) -> None:
    problem = contract.row_problem(_row(**{column: bad}), NOW)
    assert problem is not None and column in problem and "finite" in problem


def test_flags_from_the_one_vocabulary(contract: ReadingContract) -> None:
    assert contract.row_problem(_row(flag="D"), NOW) is None
    assert contract.row_problem(_row(flag=None), NOW) is None
    assert contract.row_problem(_row(flag=""), NOW) is None  # an empty cell is no flag
    assert contract.row_problem(_row(flag="  "), NOW) is None
    problem = contract.row_problem(_row(flag="OK"), NOW)
    assert problem is not None and "'OK'" in problem and "valid: " in problem
    assert reading_flags()["D"] == ("instrument fault", False)


def test_empty_unit_refused(contract: ReadingContract) -> None:
    assert contract.row_problem(_row(unit=""), NOW) == "field 'unit': empty"


def test_split_keeps_good_rows_and_names_each_bad_one(contract: ReadingContract) -> None:
    rows = [
        _row(),
        _row(period_start=datetime(1970, 1, 1, tzinfo=UTC)),
        _row(value=float("inf")),
        _row(flag=""),
        _row(flag="X"),
        _row(period_start=NOW + timedelta(hours=1)),
    ]
    table = pa.Table.from_pylist(rows, schema=READINGS_SCHEMA)
    kept, rejected = contract.split(table, NOW)
    assert kept.num_rows == 2
    assert kept["flag"].to_pylist() == ["N", None]  # the blank flag became no flag
    assert [i for i, _ in rejected] == [1, 2, 4, 5]
    reasons = dict(rejected)
    assert "before 2000-01-01" in reasons[1]
    assert "'value'" in reasons[2] and "finite" in reasons[2]
    assert "'X'" in reasons[4]
    assert "in the future" in reasons[5]


def test_split_of_clean_table_is_identity(contract: ReadingContract) -> None:
    table = pa.Table.from_pylist([_row(), _row(value=None)], schema=READINGS_SCHEMA)
    kept, rejected = contract.split(table, NOW)
    assert rejected == [] and kept.num_rows == 2
