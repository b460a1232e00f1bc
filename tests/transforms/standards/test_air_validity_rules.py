"""transforms.standards.air_validity: the validity minimums of tables/air_validity.csv (GB 3095
Table 4, HJ 663) per edition, and the expression choosing the edition in force on each row's
date. (tests/transforms/standards/test_air_validity.py checks the statistics built on them.)"""

from __future__ import annotations

import csv
import datetime as dt

import polars as pl
import pytest
from _standards_helpers import day_hours, hourly_frame

from transforms.standards import daily_air_values, tables
from transforms.standards.air_validity import (
    DAILY_MEAN_POLLUTANTS,
    POLLUTANT_COLUMNS,
    by_date_expr,
    gb3095_editions,
    min_count,
)

CLEAN = {"so2_ugm3": 10.0, "no2_ugm3": 20.0, "pm10_ugm3": 30.0, "pm25_ugm3": 20.0, "co_mgm3": 0.5, "o3_ugm3": 60.0}
LAST_2012 = dt.date(2026, 2, 28)  # the last day of GB 3095-2012 (tables/editions.csv)
FIRST_2026 = dt.date(2026, 3, 1)


def table_rows() -> list[dict[str, str]]:
    with (tables.TABLES_DIR / "air_validity.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_row_of_the_table_is_what_min_count_gives() -> None:
    rows = table_rows()
    assert {r["edition"] for r in rows} == {"GB3095-2012", "GB3095-2026"}
    for r in rows:
        assert min_count(r["edition"], r["statistic"]) == int(r["min_count"]), r


@pytest.mark.parametrize("edition", ["GB3095-2012", "GB3095-2026"])
@pytest.mark.parametrize(
    ("statistic", "published"),
    [
        ("daily_mean", 20),  # GB 3095 Table 4: ≥ 20 hourly values a day
        ("o3_8h_moving", 6),  # ≥ 6 hourly values in the 8-hour window
        ("o3_8h_daily_max", 14),  # HJ 663: ≥ 14 of the 17 8-h windows of a day
        ("monthly_mean", 27),  # ≥ 27 daily values a month
        ("monthly_mean_february", 25),  # ≥ 25 in February
        ("annual_mean", 324),  # ≥ 324 daily values a year
    ],
)
def test_published_minimums(edition: str, statistic: str, published: int) -> None:
    assert min_count(edition, statistic) == published


def test_an_unknown_statistic_or_edition_names_the_lookup() -> None:
    with pytest.raises(LookupError, match=r"^tables/air_validity\.csv: expected one row for "
                                          r"\{'edition': 'GB3095-2012', 'statistic': 'weekly_mean'\}, found 0$"):
        min_count("GB3095-2012", "weekly_mean")
    with pytest.raises(LookupError, match="found 0"):
        min_count("HJ633-2012", "daily_mean")  # the AQI standard has no rows here


def test_the_pollutant_columns() -> None:
    assert POLLUTANT_COLUMNS["co"] == "co_mgm3" and POLLUTANT_COLUMNS["pm25"] == "pm25_ugm3"
    assert set(POLLUTANT_COLUMNS) == {"so2", "no2", "pm10", "pm25", "co", "o3"}
    daily_row = next(r for r in table_rows() if r["edition"] == "GB3095-2012" and r["statistic"] == "daily_mean")
    assert set(DAILY_MEAN_POLLUTANTS) == set(daily_row["pollutants"].split(";"))  # O3 has its own rules


def test_editions_named_by_date_or_by_companion() -> None:
    assert [(e.code, e.phase) for e in gb3095_editions(None, FIRST_2026)] == [
        ("GB3095-2012", ""), ("GB3095-2026", "transitional"), ("GB3095-2026", "final")]
    assert [e.code for e in gb3095_editions("GB3095-2012", FIRST_2026)] == ["GB3095-2012"]
    # an AQI edition stands for the GB 3095 edition published with it
    assert [e.code for e in gb3095_editions("HJ633-2012", FIRST_2026)] == ["GB3095-2012"]
    assert [(e.code, e.phase) for e in gb3095_editions("HJ633-2026", dt.date(2030, 12, 31))] == [
        ("GB3095-2026", "transitional")]
    assert [(e.code, e.phase) for e in gb3095_editions("GB3095-2026", dt.date(2031, 1, 1))] == [
        ("GB3095-2026", "final")]
    with pytest.raises(LookupError, match="unknown edition 'GB3095-2099'"):
        gb3095_editions("GB3095-2099", FIRST_2026)
    with pytest.raises(LookupError, match="GB3838-2002 is not an edition of GB3095"):
        gb3095_editions("GB3838-2002", FIRST_2026)


def test_by_date_expr_picks_the_edition_in_force_on_each_date() -> None:
    days = [dt.date(2012, 2, 28), dt.date(2012, 2, 29), LAST_2012, FIRST_2026, dt.date(2030, 12, 31),
            dt.date(2031, 1, 1)]
    frame = pl.DataFrame({"date": days})
    eds = gb3095_editions(None, FIRST_2026)
    out = frame.select(by_date_expr(pl.col("date"), eds, lambda ed: f"{ed.code} {ed.phase}".strip()).alias("e"))
    assert out["e"].to_list() == [None,  # before any edition: null, which callers report
                                  "GB3095-2012", "GB3095-2012", "GB3095-2026 transitional",
                                  "GB3095-2026 transitional", "GB3095-2026 final"]
    need = frame.select(by_date_expr(pl.col("date"), eds, lambda ed: min_count(ed.code, "daily_mean")).alias("n"))
    assert need["n"].to_list() == [None, 20, 20, 20, 20, 20]


def test_by_date_expr_of_one_edition_is_that_value_on_every_row() -> None:
    frame = pl.DataFrame({"date": [dt.date(2000, 1, 1), FIRST_2026]})
    (ed,) = gb3095_editions("GB3095-2012", FIRST_2026)
    out = frame.with_columns(by_date_expr(pl.col("date"), [ed], lambda e: e.code).alias("e"))
    assert out["e"].to_list() == ["GB3095-2012", "GB3095-2012"]  # forced: no date check


@pytest.mark.parametrize("day", [LAST_2012, FIRST_2026])
def test_daily_mean_minimum_both_sides_in_each_edition(day: dt.date) -> None:
    (edition,) = [e for e in gb3095_editions(None, day) if e.covers(day)]
    need = min_count(edition.code, "daily_mean")
    for pollutant in DAILY_MEAN_POLLUTANTS:
        col = POLLUTANT_COLUMNS[pollutant]
        at = daily_air_values(hourly_frame(day_hours(day, CLEAN, skip={col: set(range(24 - need))})))
        row = at.row(0, named=True)
        assert row[f"valid_{pollutant}"] is True and row[f"n_hours_{pollutant}"] == need
        assert row["gb3095_edition"] == edition.code
        below = daily_air_values(hourly_frame(day_hours(day, CLEAN, skip={col: set(range(25 - need))})))
        row = below.row(0, named=True)
        assert row[f"valid_{pollutant}"] is False and row[f"n_hours_{pollutant}"] == need - 1
        assert row["invalid_reasons"] == f"{pollutant}: {need - 1} valid hours < {need} required"
