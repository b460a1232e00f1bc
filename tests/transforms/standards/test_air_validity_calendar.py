"""GB 3095 Table 4 over the calendar (issue #19 item 3): an annual mean needs ≥ 324 valid daily
values AND ≥ 27 in every calendar month (February ≥ 25, in a leap year too) — GB 3095-2012
Table 4 and GB 3095-2026 Table 4 (/work/shared/reference/air-validity-and-indices.md §3, [C]).
A month without any input row has 0 valid days: it is checked like every other month."""

from __future__ import annotations

import calendar
import datetime as dt

import polars as pl
import pytest

from transforms.standards import comprehensive_index, monthly_air_statistics

VALUES = {
    "so2_24h_ugm3": 10.0,
    "no2_24h_ugm3": 20.0,
    "pm10_24h_ugm3": 30.0,
    "pm25_24h_ugm3": 40.0,
    "co_24h_mgm3": 1.0,
    "o3_1h_max_ugm3": 100.0,
    "o3_8h_max_ugm3": 90.0,
}
POLLUTANTS = ("so2", "no2", "pm10", "pm25", "co", "o3_8h")


def daily(days: list[dt.date], site: str = "S", **override: float | None) -> pl.DataFrame:
    values = {**VALUES, **override}
    return pl.DataFrame(
        {
            "site": [site] * len(days),
            "date": days,
            **{c: [v] * len(days) for c, v in values.items()},
        },
        schema={"site": pl.String, "date": pl.Date, **{c: pl.Float64 for c in VALUES}},
    )


def first_days(year: int, per_month: dict[int, int]) -> list[dt.date]:
    """The first `per_month[m]` days of each month m of `year` (months not named: none)."""
    return [dt.date(year, m, d) for m, n in per_month.items() for d in range(1, n + 1)]


def year_row(frame: pl.DataFrame) -> dict:
    out = monthly_air_statistics(frame, period="year")
    assert out.height == 1
    return out.row(0, named=True)


@pytest.mark.parametrize(("february", "valid"), [(27, True), (26, False)])
def test_a_year_needs_324_days_even_when_every_month_has_its_minimum(february, valid) -> None:
    # 11 months × 27 + February 27 = 324 (valid); February 26 (≥ 25, its own minimum) = 323
    per_month = {m: 27 for m in range(1, 13)} | {2: february}
    row = year_row(daily(first_days(2021, per_month)))
    assert row["n_days_required"] == 324
    for p in POLLUTANTS:
        assert row[f"n_days_{p}"] == 297 + february
        assert row[f"valid_{p}"] is valid and row[f"short_months_{p}"] == []
    assert (row["pm25_mean_ugm3"] == 40.0) if valid else (row["pm25_mean_ugm3"] is None)
    assert (row["o3_8h_p90_ugm3"] == 90.0) if valid else (row["o3_8h_p90_ugm3"] is None)


@pytest.mark.parametrize(("days", "valid"), [(27, True), (26, False)])
def test_a_month_needs_27_days_in_the_month_and_in_the_year(days, valid) -> None:
    per_month = {m: calendar.monthrange(2021, m)[1] for m in range(1, 13)} | {6: days}
    frame = daily(first_days(2021, per_month))
    june = monthly_air_statistics(frame).filter(pl.col("period_start") == dt.date(2021, 6, 1))
    june_row = june.row(0, named=True)
    assert june_row["n_days_required"] == 27 and june_row["valid_pm25"] is valid
    row = year_row(frame)
    assert row["n_days_pm25"] == 335 + days >= 324 and row["valid_pm25"] is valid  # 365 − 30 + days
    expected = [] if valid else [{"month": dt.date(2021, 6, 1), "n_days": 26, "required": 27}]
    assert row["short_months_pm25"] == expected


@pytest.mark.parametrize("year", [2021, 2024])  # a common and a leap year: February needs 25
@pytest.mark.parametrize(("days", "valid"), [(25, True), (24, False)])
def test_february_needs_25_days(year, days, valid) -> None:
    feb = monthly_air_statistics(daily(first_days(year, {2: days}))).row(0, named=True)
    assert feb["n_days_required"] == 25 and feb["valid_pm25"] is valid
    assert feb["short_months_pm25"] == ([] if valid else [
        {"month": dt.date(year, 2, 1), "n_days": days, "required": 25}])  # fmt: skip
    per_month = {m: 31 for m in range(1, 13)} | {2: days, 4: 30, 6: 30, 9: 30, 11: 30}
    row = year_row(daily(first_days(year, per_month)))
    assert row["n_days_pm25"] == 337 + days >= 324 and row["valid_pm25"] is valid


@pytest.mark.parametrize("absent", [12, 1])  # off for December; commissioned in February
def test_a_month_without_any_row_makes_the_year_invalid(absent) -> None:
    # issue #19: before, the per-month check ran only over months that had rows, so a station
    # off for a whole month kept its annual mean (335 days ≥ 324)
    full = daily([dt.date(2016, 1, 1) + dt.timedelta(days=i) for i in range(366)])
    off = full.filter(pl.col("date").dt.month() != absent)
    row = year_row(off)
    assert row["n_days_pm25"] == 366 - 31 >= 324
    for p in POLLUTANTS:
        assert row[f"valid_{p}"] is False
        assert row[f"short_months_{p}"] == [
            {"month": dt.date(2016, absent, 1), "n_days": 0, "required": 27}
        ]
    assert row["pm25_mean_ugm3"] is None and row["co_p95_mgm3"] is None
    assert row["o3_8h_p90_ugm3"] is None
    assert (
        comprehensive_index(monthly_air_statistics(off, period="year"))["composite_index"].item()
        is None
    )
    assert year_row(full)["valid_pm25"] is True  # the same data with the month: valid


def test_the_calendar_is_each_sites_own() -> None:
    year = [dt.date(2016, 1, 1) + dt.timedelta(days=i) for i in range(366)]
    a = daily(year, site="A")
    b = daily([d for d in year if d.month != 12], site="B")
    c = daily(year, site="C").with_columns(  # rows in December, but no valid PM2.5 there
        pl.when(pl.col("date").dt.month() == 12).then(None).otherwise(pl.col("pm25_24h_ugm3"))
        .alias("pm25_24h_ugm3"))  # fmt: skip
    out = monthly_air_statistics(pl.concat([a, b, c]), period="year")
    valid = {r["site"]: (r["valid_pm25"], r["valid_so2"]) for r in out.iter_rows(named=True)}
    assert valid == {"A": (True, True), "B": (False, False), "C": (False, True)}
    ranked = comprehensive_index(out).filter(pl.col("composite_index").is_not_null())
    assert ranked["site"].to_list() == ["A"]  # neither B nor C gets an index, hence no rank


def test_two_years_are_checked_separately() -> None:
    y2015 = [dt.date(2015, 1, 1) + dt.timedelta(days=i) for i in range(365)]
    y2016 = [dt.date(2016, 1, 1) + dt.timedelta(days=i) for i in range(335)]  # to 2016-11-30
    out = monthly_air_statistics(daily(y2015 + y2016), period="year")
    assert out["period_start"].to_list() == [dt.date(2015, 1, 1), dt.date(2016, 1, 1)]
    assert out["valid_pm25"].to_list() == [True, False]
    assert out["short_months_pm25"].to_list()[1] == [
        {"month": dt.date(2016, 12, 1), "n_days": 0, "required": 27}
    ]
