"""transforms.derive.monthly_yearly: derive_monthly on a real warehouse — HJ 663 monthly
statistics with the composite index and the station rank, February's 25 valid days — a month
given by its first day, and a year's local bounds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from derivedata import query, reading

from transforms.derive.monthly_yearly import derive_monthly, derive_yearly
from transforms.standards import tables

HOUR = timedelta(hours=1)


def _month_rows(site: str, pm25: float, skip_days: int = 0) -> list[dict]:
    start = datetime(2024, 1, 31, 16, tzinfo=UTC)  # 2024-02-01 local
    values = {"so2": 10.0, "no2": 20.0, "pm10": 50.0, "co": 0.5, "o3": 60.0}
    rows = []
    for h in range(29 * 24):
        t = start + h * HOUR
        for p, v in values.items():
            rows.append(reading(site, p, t, v, "mg/m3" if p == "co" else "ug/m3"))
        if h >= skip_days * 24:
            rows.append(reading(site, "pm25", t, pm25, "ug/m3"))
    return rows


def test_monthly_statistics_index_and_rank(wh, insert) -> None:  # type: ignore[no-untyped-def]
    rows = (
        _month_rows("aotizhongxin", 35.0)
        + _month_rows("changping", 75.0)
        + _month_rows("dingling", 20.0, 5)
    )
    insert(rows, datetime(2024, 1, 31, 16, tzinfo=UTC), datetime(2024, 2, 29, 16, tzinfo=UTC))
    derive_monthly(wh, date(2024, 2, 1))
    got = {
        r[0]: r[1:]
        for r in query(
            wh,
            """SELECT site_id, aqi_days, good_days, days_level_1, days_level_2,
        pm25_mean_ugm3, co_p95_mgm3, o3_8h_p90_ugm3, composite_index, rank, valid, invalid_reasons, scope
        FROM air_period_stats WHERE period = 'month' AND period_start = DATE '2024-02-01'""",
        )
    }
    s = {
        p: float(
            tables.one(
                "composite_index", edition="GB3095-2012", phase="", pollutant=p, statistic=st
            )["limit"]
        )
        for p, st in (
            ("so2", "mean"),
            ("no2", "mean"),
            ("pm10", "mean"),
            ("pm25", "mean"),
            ("co", "p95"),
            ("o3", "p90"),
        )
    }

    def index(pm25: float) -> float:
        return (
            10 / s["so2"]
            + 20 / s["no2"]
            + 50 / s["pm10"]
            + pm25 / s["pm25"]
            + 0.5 / s["co"]
            + 60 / s["o3"]
        )

    a = got["aotizhongxin"]  # PM2.5 35 -> IAQI 50 -> AQI 50 (优) every day
    assert (
        a[:7] == (29, 29, 29, 0, 35.0, 0.5, 60.0)
        and abs(a[7] - index(35.0)) < 1e-9
        and a[8] == 1
        and a[9]
    )
    b = got["changping"]  # PM2.5 75 -> IAQI 100 -> 良 every day
    assert b[:5] == (29, 29, 0, 29, 75.0) and abs(b[7] - index(75.0)) < 1e-9 and b[8] == 2
    d = got["dingling"]  # 24 valid PM2.5 days < 25 required in February: no mean, no index, no rank
    assert d[4] is None and d[7] is None and d[8] is None and d[9] is False
    assert "pm25: 24 valid days < 25 required" in d[10]
    city = got[
        "city"
    ]  # the city's day: mean of the stations' valid daily values (dingling absent 5 days)
    expected = (5 * (35 + 75) / 2 + 24 * (35 + 75 + 20) / 3) / 29
    assert city[11] == "city" and city[8] is None and abs(city[4] - expected) < 1e-9
    month_avg = query(
        wh,
        """SELECT value, valid, n_valid FROM aggregates WHERE site_id = 'dingling'
                             AND parameter = 'pm25' AND statistic = 'month_avg'""",
    )
    assert month_avg == [(None, False, 24)]


def test_a_month_is_given_by_its_first_day(wh) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError, match="a month is given by its first day, got 2024-02-02"):
        derive_monthly(wh, date(2024, 2, 2))
    with pytest.raises(TypeError, match="derive_monthly needs the month's first day"):
        derive_monthly(wh, None)


def test_a_year_covers_its_local_days(wh) -> None:  # type: ignore[no-untyped-def]
    report = derive_yearly(wh, 2024)
    assert report.stage == "yearly"
    # 2024-01-01 00:00 .. 2025-01-01 00:00 in Asia/Shanghai
    assert (report.range_start, report.range_end) == (
        datetime(2023, 12, 31, 16, tzinfo=UTC),
        datetime(2024, 12, 31, 16, tzinfo=UTC),
    )
    # no readings: every station and the city get the year's row, invalid
    stats = query(wh, "SELECT DISTINCT period, period_start, valid, aqi_days FROM air_period_stats")
    assert stats == [("year", date(2024, 1, 1), False, 0)]
    stations = query(wh, "SELECT count(*) FROM sites WHERE kind = 'air'")[0][0]
    assert report.rows["air_period_stats"] == stations + 1
