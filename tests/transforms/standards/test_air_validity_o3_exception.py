"""HJ 663-2013's O3 exception (issue #19 item 4): the daily maximum 8-h mean needs ≥ 14 valid
8-h means among the 17 windows ending 08:00..24:00; "当不满足14个有效数据时，若日最大8小时平均
浓度超过浓度限值标准时，统计结果仍有效" (HJ 663-2013 wording as quoted in public code, cited in
tables/air_validity.csv `o3_8h_daily_max_exceeding`). Such a day stays invalid for means and
percentiles and counts as an exceedance day (o3_exception "exceedance", the default); the O3
8-h limit is GB 3095-2012 Table 1: Grade I 100, Grade II 160 µg/m³."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from _standards_helpers import day_hours, hourly_frame
from test_air_validity import CLEAN  # the same quiet day

from transforms.standards import daily_air_values, monthly_air_statistics
from transforms.standards.air_validity import min_count

JUNE = [dt.date(2021, 6, d) for d in range(1, 31)]
SHORT_DAY = dt.date(2021, 6, 15)


def o3_day(day: dt.date, lost: int, peak: float) -> list[dict]:
    """O3 missing at hours 00..(lost+1), so the windows ending 08..(7+lost) keep < 6 of their 8
    hours: 17 − lost valid 8-h means (lost 3 → 14, lost 4 → 13); O3 = `peak` at hours 12..19,
    60 otherwise, so the largest 8-h mean is the window of hours 12..19 = `peak` exactly."""
    rows = day_hours(day, CLEAN, skip={"o3_ugm3": set(range(lost + 2))})
    for r in rows:
        if 12 <= r["period_start"].hour <= 19:
            r["o3_ugm3"] = peak
    return rows


def test_the_exception_needs_one_window_and_applies_in_both_editions() -> None:
    for edition in ("GB3095-2012", "GB3095-2026"):
        assert min_count(edition, "o3_8h_daily_max") == 14
        assert min_count(edition, "o3_8h_daily_max_exceeding") == 1  # a maximum needs one value


@pytest.mark.parametrize(("lost", "windows", "valid"), [(3, 14, True), (4, 13, False)])
def test_14_vs_13_windows_of_an_exceeding_day(lost, windows, valid) -> None:
    row = daily_air_values(hourly_frame(o3_day(SHORT_DAY, lost, 200.0))).row(0, named=True)
    assert row["n_o3_8h_windows"] == windows and row["valid_o3_8h"] is valid
    if valid:
        assert row["o3_8h_max_ugm3"] == 200.0 and row["o3_8h_max_incomplete_ugm3"] is None
    else:  # no MDA8 (never a partial value) — the maximum of the 13 is kept for the exception
        assert row["o3_8h_max_ugm3"] is None and row["o3_8h_max_incomplete_ugm3"] == 200.0
        assert "o3_8h: 13 valid 8-h windows < 14 required" in row["invalid_reasons"].split("; ")


def test_a_day_without_any_valid_window_has_no_incomplete_maximum() -> None:
    row = daily_air_values(hourly_frame(day_hours(SHORT_DAY, {**CLEAN, "o3_ugm3": None}))).row(
        0, named=True
    )
    assert row["n_o3_8h_windows"] == 0 and row["o3_8h_max_incomplete_ugm3"] is None


def june(lost: int, peak: float) -> pl.DataFrame:
    """June 2021: 29 clean days (MDA8 60) and the 15th with `lost`/`peak` as in `o3_day`."""
    rows = [r for d in JUNE if d != SHORT_DAY for r in day_hours(d, CLEAN)] + o3_day(
        SHORT_DAY, lost, peak
    )
    return daily_air_values(hourly_frame(rows))


@pytest.mark.parametrize(
    ("lost", "peak", "over", "by_exception", "n_days"),
    [
        (4, 200.0, 1, 1, 29),  # 13 windows, 200 > 160: an exceedance day, not a valid MDA8
        (4, 150.0, 0, 0, 29),  # 13 windows, 150 ≤ 160: just invalid
        (4, 160.0, 0, 0, 29),  # at the limit is not over it
        (3, 200.0, 1, 0, 30),  # 14 windows: a valid day over the limit, the ordinary way
    ],
)
def test_exceedance_days_of_the_month(lost, peak, over, by_exception, n_days) -> None:
    row = monthly_air_statistics(june(lost, peak)).row(0, named=True)
    assert (row["days_over_o3_8h"], row["days_over_o3_8h_incomplete"]) == (over, by_exception)
    assert row["n_days_o3_8h"] == n_days and row["valid_o3_8h"] is True
    if n_days == 29:  # the short day enters neither the mean nor the 90th percentile
        assert row["o3_8h_mean_ugm3"] == 60.0 and row["o3_8h_p90_ugm3"] == 60.0


def test_the_options_all_and_none() -> None:
    days = june(4, 200.0)
    literal = monthly_air_statistics(days, o3_exception="all").row(0, named=True)
    # the wording read literally: the day is a valid MDA8 of 200 — 30 days, mean (29·60 + 200)/30
    assert literal["n_days_o3_8h"] == 30 and literal["days_over_o3_8h"] == 1
    assert literal["o3_8h_mean_ugm3"] == pytest.approx((29 * 60 + 200) / 30)
    assert literal["days_over_o3_8h_incomplete"] == 1
    ignored = monthly_air_statistics(days, o3_exception="none").row(0, named=True)
    assert (ignored["days_over_o3_8h"], ignored["days_over_o3_8h_incomplete"]) == (0, 0)
    assert ignored["n_days_o3_8h"] == 29
    with pytest.raises(
        ValueError, match="o3_exception must be one of exceedance, all, none, got 'some'"
    ):
        monthly_air_statistics(days, o3_exception="some")


@pytest.mark.parametrize(("grade", "over"), [(1, 1), (2, 0)])
def test_the_limit_is_the_grades(grade, over) -> None:
    # 13 windows, maximum 120: over Grade I (100), not over Grade II (160)
    row = monthly_air_statistics(june(4, 120.0), grade=grade).row(0, named=True)
    assert row["days_over_o3_8h"] == over and row["days_over_o3_8h_incomplete"] == over


def test_the_exception_under_gb3095_2026() -> None:
    # 2026-06-15: GB 3095-2026 transitional, O3 8-h Grade II limit 160 (Table 1)
    rows = o3_day(dt.date(2026, 6, 15), 4, 200.0) + o3_day(dt.date(2026, 6, 16), 4, 150.0)
    days = daily_air_values(hourly_frame(rows))
    assert days["gb3095_edition"].to_list() == ["GB3095-2026"] * 2
    assert days["o3_8h_max_incomplete_ugm3"].to_list() == [200.0, 150.0]
    row = monthly_air_statistics(days).row(0, named=True)
    assert (row["days_over_o3_8h"], row["days_over_o3_8h_incomplete"]) == (1, 1)


def test_daily_rows_without_the_incomplete_column_are_read() -> None:
    days = june(4, 200.0).drop("o3_8h_max_incomplete_ugm3")  # e.g. rows stored before item 4
    row = monthly_air_statistics(days).row(0, named=True)
    assert (row["days_over_o3_8h"], row["days_over_o3_8h_incomplete"]) == (0, 0)
