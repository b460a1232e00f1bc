"""air_reports.aqi_hourly under the two readings of the HJ 633-2012 real-time report (issue #19):
national_practice (default; CNEMC's publication, HJ 633-2026, aqi.md §7) and literal (HJ 633-2012
§5.1 / Table 4, aqi.md §5). Hand-worked on HJ 633-2012 Table 1 (aqi.md §1)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from _standards_helpers import day_hours, hourly_frame

from transforms.standards import aqi_hourly

# IAQIs of these 1-h values (2012 Table 1): SO2 10 → 4 (1-h column 150→50), NO2 20 → 10,
# CO 0.5 → 5, O3 1-h 60 → 19 (160→50: 18.75), PM10 40 → 40, PM2.5 20 → 29 (35→50: 28.6)
CLEAN = {
    "so2_ugm3": 10.0, "no2_ugm3": 20.0, "pm10_ugm3": 40.0, "pm25_ugm3": 20.0, "co_mgm3": 0.5,
    "o3_ugm3": 60.0,
}  # fmt: skip
DAY = dt.date(2020, 6, 1)


def _two_days(**last_hour: float) -> pl.DataFrame:
    rows = day_hours(DAY, CLEAN) + day_hours(DAY + dt.timedelta(days=1), CLEAN)
    rows[-1].update(last_hour)
    return hourly_frame(rows)


def test_default_is_the_national_practice_and_it_is_recorded():
    frame = _two_days()
    default = aqi_hourly(frame)
    assert default.equals(aqi_hourly(frame, reading="national_practice"))
    assert set(default["realtime_reading"]) == {"national_practice"}
    assert set(aqi_hourly(frame, reading="literal")["realtime_reading"]) == {"literal"}
    with pytest.raises(ValueError, match=r"reading must be one of national_practice, literal"):
        aqi_hourly(frame, reading="letter")


def test_pm_spike_practice_takes_the_hour_literal_the_24h_mean():
    # the last hour's PM2.5 jumps to 260: the 24-h moving mean rises by exactly 10 to 30
    lit = aqi_hourly(_two_days(pm25_ugm3=20.0 + 24 * 10), reading="literal").row(-1, named=True)
    prac = aqi_hourly(_two_days(pm25_ugm3=20.0 + 24 * 10)).row(-1, named=True)
    assert lit["pm25_24h_ugm3"] == prac["pm25_24h_ugm3"] == pytest.approx(30.0)  # kept either way
    assert lit["iaqi_pm25"] == 43  # 24-h mean 30: 50·30/35 = 42.86 → 43
    # practice: 1-h 260 on the 24-h column 250→300, 350→400: 300 + 100·10/100 = 310
    assert prac["iaqi_pm25"] == 310 and prac["aqi"] == 310 and prac["primary_pollutants"] == "PM2.5"
    assert prac["level"] == 6 and lit["aqi"] == 43


@pytest.mark.parametrize(("pm25", "iaqi"), [(75.0, 100), (76.0, 102)])
def test_pm25_hour_on_both_sides_of_the_good_boundary(pm25, iaqi):
    # practice: PM2.5 1-h 75 → 100 (良); 76 → 100 + 50·1/40 = 101.25 → 102 (轻度污染)
    out = aqi_hourly(_two_days(pm25_ugm3=pm25)).row(-1, named=True)
    assert out["iaqi_pm25"] == iaqi == out["aqi"]
    assert out["category"] == ("良" if iaqi == 100 else "轻度污染")


def test_o3_evening_practice_ignores_the_8h_mean():
    # O3 250 for the 8 hours to 16:00, then 60: at 17:00 the 8-h mean is (7·250 + 60)/8 = 226.25
    rows = day_hours(DAY, CLEAN) + day_hours(DAY + dt.timedelta(days=1), CLEAN)
    for r in rows[24 + 9 : 24 + 17]:
        r["o3_ugm3"] = 250.0
    frame = hourly_frame(rows)
    at = 24 + 17  # the hour starting at 17:00 on the second day
    lit = aqi_hourly(frame, reading="literal").row(at, named=True)
    prac = aqi_hourly(frame).row(at, named=True)
    assert prac["period_start"].hour == 17
    assert prac["o3_8h_ugm3"] == lit["o3_8h_ugm3"] == pytest.approx(226.25)
    # literal: O3 8-h column 215→150, 265→200: 150 + 50·11.25/50 = 161.25 → 162
    assert lit["iaqi_o3_8h"] == 162 and lit["aqi"] == 162 and lit["primary_pollutants"] == "O3_8h"
    # practice: no 8-h IAQI; the largest is PM10 40 → 40 (O3 1-h 60 → 19)
    assert prac["iaqi_o3_8h"] is None and prac["iaqi_o3_1h"] == 19
    assert prac["aqi"] == 40 and prac["primary_pollutants"] is None  # AQI ≤ 50: no primary


def test_practice_needs_no_24h_window():
    # the first hour of a series: the literal PM IAQI waits for 20 hours of the 24-h window
    first_lit = aqi_hourly(_two_days(), reading="literal").row(0, named=True)
    first = aqi_hourly(_two_days()).row(0, named=True)
    assert first_lit["aqi"] is None and first_lit["missing_indicators"] == "o3_8h;pm10;pm25"
    assert first["pm25_24h_ugm3"] is None and first["aqi"] == 40 and first["valid"]


def test_hj633_2026_hours_are_the_same_under_both_readings():
    rows = day_hours(dt.date(2026, 2, 28), CLEAN) + day_hours(dt.date(2026, 3, 1), CLEAN)
    rows[-1]["pm25_ugm3"] = 61.0  # 2026 24-h column 35→50, 60→100, 115→150: 100 + 50/55 → 101
    frame = hourly_frame(rows)
    cols = ["edition", "aqi", "iaqi_pm25", "iaqi_o3_8h", "primary_pollutants"]
    prac = aqi_hourly(frame).filter(pl.col("date") == dt.date(2026, 3, 1)).select(cols)
    lit = aqi_hourly(frame, reading="literal").filter(pl.col("date") == dt.date(2026, 3, 1))
    assert prac.equals(lit.select(cols)) and set(prac["edition"]) == {"HJ633-2026"}
    assert prac["iaqi_pm25"][-1] == 101 and prac["iaqi_o3_8h"].null_count() == 24


@pytest.mark.slow
def test_readings_on_the_real_beijing_hours(beijing_hourly):
    """12 stations, 2013-03..2017-02 (all HJ 633-2012): the readings share the SO2/NO2/CO/O3 1-h
    IAQIs and differ only through PM and O3 8-h; each equals the scalar code on a sample."""
    from transforms.standards.aqi import aqi_report

    prac = aqi_hourly(beijing_hourly)
    lit = aqi_hourly(beijing_hourly, reading="literal")
    assert prac.height == lit.height == 420_768 and set(prac["edition"]) == {"HJ633-2012"}
    for col in ("iaqi_so2", "iaqi_no2", "iaqi_co", "iaqi_o3_1h", "pm25_24h_ugm3", "o3_8h_ugm3"):
        assert prac[col].equals(lit[col]), col
    assert prac["iaqi_o3_8h"].null_count() == prac.height
    assert lit["iaqi_o3_8h"].null_count() < 0.1 * lit.height
    both = prac["aqi"].is_not_null() & lit["aqi"].is_not_null()
    assert (prac["aqi"].filter(both) != lit["aqi"].filter(both)).mean() > 0.9  # see docs/aqi.md
    cols = [c for c in prac.columns if c.endswith(("_ugm3", "_mgm3"))]
    for reading, rep in (("national_practice", prac), ("literal", lit)):
        for row in rep.sample(2000, seed=19).iter_rows(named=True):
            res = aqi_report({c: row[c] for c in cols}, "HJ633-2012", "hourly", reading)
            assert res.aqi == row["aqi"], (reading, row["site"], row["period_start"])
            assert ";".join(res.primary_pollutants) == (row["primary_pollutants"] or "")
