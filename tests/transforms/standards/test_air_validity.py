"""Validity thresholds on both sides (GB 3095 Table 4 / HJ 663), period statistics, composite index."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from _standards_helpers import day_hours, hj663_percentile, hourly_frame

from transforms.standards import (
    aqi_daily,
    aqi_hourly,
    comprehensive_index,
    daily_air_values,
    monthly_air_statistics,
)

CLEAN = {
    "so2_ugm3": 10.0,
    "no2_ugm3": 20.0,
    "pm10_ugm3": 30.0,
    "pm25_ugm3": 20.0,
    "co_mgm3": 0.5,
    "o3_ugm3": 60.0,
}
DAY = dt.date(2020, 6, 1)


@pytest.mark.parametrize(("missing", "valid"), [(4, True), (5, False)])
def test_daily_mean_needs_20_hours(missing, valid):
    rows = day_hours(DAY, CLEAN, skip={"pm25_ugm3": set(range(missing))})
    out = daily_air_values(hourly_frame(rows)).row(0, named=True)
    assert out["valid_pm25"] is valid and out["n_hours_pm25"] == 24 - missing
    if valid:
        assert out["pm25_24h_ugm3"] == 20.0 and out["invalid_reasons"] is None
    else:
        assert out["pm25_24h_ugm3"] is None  # never a partial mean
        assert out["invalid_reasons"] == "pm25: 19 valid hours < 20 required"


@pytest.mark.parametrize(("gap", "windows"), [(2, 17), (3, 14)])
def test_o3_8h_window_needs_6_hours(gap, windows):
    # O3 missing at hours 10..10+gap-1: windows containing ≥ 3 missing hours are invalid
    rows = day_hours(DAY, CLEAN, skip={"o3_ugm3": set(range(10, 10 + gap))})
    out = daily_air_values(hourly_frame(rows)).row(0, named=True)
    # gap 2: every window keeps ≥ 6 of 8 hours; gap 3: windows ending 12..17 (6 windows) keep 5
    expected = 17 if gap == 2 else 17 - 6
    assert out["n_o3_8h_windows"] == expected
    assert out["valid_o3_8h"] is (expected >= 14)
    if windows == 14:
        assert (
            out["o3_8h_max_ugm3"] is None
            and "o3_8h: 11 valid 8-h windows < 14 required" in out["invalid_reasons"]
        )


@pytest.mark.parametrize(("lost", "valid"), [(3, True), (4, False)])
def test_mda8_needs_14_of_17_windows(lost, valid):
    # hours 00..(lost+1) missing: the windows whose last hour starts 07..(6+lost) keep < 6 hours
    block = set(range(0, lost + 2))
    rows = day_hours(DAY, CLEAN, skip={"o3_ugm3": block})
    out = daily_air_values(hourly_frame(rows)).row(0, named=True)
    assert out["n_o3_8h_windows"] == 17 - lost
    assert out["valid_o3_8h"] is valid


def test_mda8_uses_windows_ending_08_to_24_only():
    rows = day_hours(DAY, CLEAN)
    for r in (
        rows
    ):  # a high value at 00:00–01:00 only reaches windows ending 01..08 (labelled 07 start → in)
        h = r["period_start"].hour
        r["o3_ugm3"] = 300.0 if h == 0 else 60.0
    out = daily_air_values(hourly_frame(rows)).row(0, named=True)
    assert out["o3_8h_max_ugm3"] == pytest.approx((300 + 7 * 60) / 8)  # window 00..07 (end 08:00)
    assert out["o3_1h_max_ugm3"] == 300.0


def test_local_day_from_utc_timestamps():
    rows = day_hours(DAY, CLEAN)
    frame = hourly_frame(rows).with_columns(pl.col("period_start").dt.convert_time_zone("UTC"))
    out = daily_air_values(frame)
    assert out["date"].to_list() == [DAY] and out["n_hours_so2"].item() == 24


def test_edition_by_date_in_daily_and_hourly():
    rows = day_hours(dt.date(2026, 2, 28), CLEAN) + day_hours(dt.date(2026, 3, 1), CLEAN)
    d = aqi_daily(daily_air_values(hourly_frame(rows)))
    assert d["edition"].to_list() == ["HJ633-2012", "HJ633-2026"]
    assert d["iaqi_o3_1h"][0] is not None and d["iaqi_o3_1h"][1] is None
    forced = aqi_daily(
        daily_air_values(hourly_frame(rows), edition="HJ633-2026"), edition="HJ633-2026"
    )
    assert forced["edition"].to_list() == ["HJ633-2026"] * 2
    h = aqi_hourly(hourly_frame(rows))
    assert h.filter(pl.col("date") == dt.date(2026, 3, 1))["iaqi_o3_8h"].null_count() == 24


def test_hourly_2012_pm_uses_24h_moving_mean():
    rows = day_hours(DAY, CLEAN) + day_hours(DAY + dt.timedelta(days=1), CLEAN)
    rows[-1]["pm25_ugm3"] = 20.0 + 24 * 10  # last hour jumps: 24-h mean rises by exactly 10
    # HJ 633-2012 §5 read literally (the real-time report's default reading is national practice)
    out = aqi_hourly(hourly_frame(rows), reading="literal").row(-1, named=True)
    assert out["pm25_24h_ugm3"] == pytest.approx(30.0)
    assert out["iaqi_pm25"] == 43  # 30/35·50 = 42.86 → 43 (not the 1-h 260)
    first = aqi_hourly(hourly_frame(rows), reading="literal").row(0, named=True)
    assert first["pm25_24h_ugm3"] is None and first["aqi"] is None  # 1 hour < 20 in the window


def test_hj663_percentile_example():
    # air-validity-and-indices.md §4: {3,4,8,2,5,4}, p = 90 % -> 6.5
    assert hj663_percentile([3, 4, 8, 2, 5, 4], 0.90) == 6.5
    assert pl.Series([3, 4, 8, 2, 5, 4]).quantile(0.9, interpolation="linear") == 6.5


def _daily_rows(month_days: list[dt.date], pm25: float = 40.0) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "site": ["S"] * len(month_days),
            "date": month_days,
            "so2_24h_ugm3": [10.0] * len(month_days),
            "no2_24h_ugm3": [20.0] * len(month_days),
            "pm10_24h_ugm3": [30.0] * len(month_days),
            "pm25_24h_ugm3": [pm25] * len(month_days),
            "co_24h_mgm3": [1.0] * len(month_days),
            "o3_1h_max_ugm3": [100.0] * len(month_days),
            "o3_8h_max_ugm3": [90.0] * len(month_days),
        }
    )


@pytest.mark.parametrize(
    ("month", "n_days", "valid"), [(6, 27, True), (6, 26, False), (2, 25, True), (2, 24, False)]
)
def test_monthly_minimum_days(month, n_days, valid):
    days = [dt.date(2021, month, d) for d in range(1, n_days + 1)]
    out = monthly_air_statistics(_daily_rows(days)).row(0, named=True)
    assert out["valid_pm25"] is valid and out["n_days_pm25"] == n_days
    assert (out["pm25_mean_ugm3"] == 40.0) if valid else (out["pm25_mean_ugm3"] is None)


def test_days_over_standard_follow_the_edition_in_force():
    # PM2.5 70: under GB 3095-2012 (75) not over; under GB 3095-2026 transitional (60) over
    days = [dt.date(2026, 2, d) for d in range(1, 29)] + [dt.date(2026, 3, d) for d in range(1, 32)]
    out = monthly_air_statistics(_daily_rows(days, pm25=70.0))
    assert out["days_over_pm25"].to_list() == [0, 31]


def test_good_days_share():
    days = [dt.date(2021, 6, d) for d in range(1, 31)]
    frame = _daily_rows(days).with_columns(
        pl.Series("aqi", [50] * 10 + [100] * 10 + [101] * 5 + [None] * 5, dtype=pl.Int32)
    )
    out = monthly_air_statistics(frame).row(0, named=True)
    assert (out["aqi_days"], out["good_days"]) == (25, 20) and out["good_share"] == pytest.approx(
        0.8
    )


def test_composite_index_worked_example():
    # air-validity-and-indices.md §5: 21/35 + 39/70 + 9/60 + 15/40 + 192/160 + 0.7/4 = 3.057
    stats = pl.DataFrame(
        {
            "period_start": [dt.date(2022, 1, 1)],
            "so2_mean_ugm3": [9.0],
            "no2_mean_ugm3": [15.0],
            "pm10_mean_ugm3": [39.0],
            "pm25_mean_ugm3": [21.0],
            "co_p95_mgm3": [0.7],
            "o3_8h_p90_ugm3": [192.0],
        }
    )
    out = comprehensive_index(stats).row(0, named=True)
    assert out["composite_index"] == pytest.approx(3.057, abs=5e-4)
    assert out["main_pollutant"] == "o3" and out["index_o3"] == pytest.approx(1.2)


def test_annual_needs_324_days():
    days = [dt.date(2021, 1, 1) + dt.timedelta(days=i) for i in range(365)]
    ok = monthly_air_statistics(_daily_rows(days), period="year").row(0, named=True)
    assert ok["valid_pm25"] and ok["pm25_mean_ugm3"] == 40.0
    short = [d for d in days if not (d.month == 7 and d.day > 20)]  # July 20 days < 27
    bad = monthly_air_statistics(_daily_rows(short), period="year").row(0, named=True)
    assert bad["n_days_pm25"] >= 324 and not bad["valid_pm25"]


def test_missing_columns_or_naive_time_rejected():
    frame = hourly_frame(day_hours(DAY, CLEAN))
    with pytest.raises(ValueError, match="lacks columns"):
        daily_air_values(frame.drop("o3_ugm3"))
    with pytest.raises(ValueError, match="tz-aware"):
        daily_air_values(frame.with_columns(pl.col("period_start").dt.replace_time_zone(None)))
