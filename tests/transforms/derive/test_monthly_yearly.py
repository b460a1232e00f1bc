"""transforms.derive.monthly_yearly: derive_monthly on a real warehouse — HJ 663 monthly
statistics with the composite index and the station rank, February's 25 valid days — a month
given by its first day, and a year's local bounds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from derivedata import network, query, reading

from transforms.derive.monthly_yearly import (
    _air_period,
    _air_period_avg,
    derive_monthly,
    derive_yearly,
)
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
    # GB 3095 Table 4: February needs 25 (the leap year's 29 days change nothing)
    assert d[10] == "pm25: 2月有效日数 24 < 25 (2024-02: 24 valid days < 25 required)"
    city = got[
        "city"
    ]  # the city's day: mean of the stations' valid daily values (dingling absent 5 days)
    expected = (5 * (35 + 75) / 2 + 24 * (35 + 75 + 20) / 3) / 29
    assert city[11] == "city" and city[8] is None and abs(city[4] - expected) < 1e-9
    month_avg = query(
        wh,
        """SELECT value, valid, n_valid, invalid_reason FROM aggregates WHERE site_id = 'dingling'
                             AND parameter = 'pm25' AND statistic = 'month_avg'""",
    )
    assert month_avg == [(None, False, 24, d[10])]


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


def _year_hours(site: str, year: int, skip_month: int | None = None) -> pl.DataFrame:
    """Hourly values of every pollutant for a whole local year (none in `skip_month`)."""
    lo = datetime(year, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    hi = datetime(year + 1, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    starts = pl.datetime_range(lo, hi - HOUR, "1h", eager=True, time_zone="UTC")
    frame = pl.DataFrame({"period_start": starts}).filter(
        pl.col("period_start").dt.convert_time_zone("Asia/Shanghai").dt.month() != (skip_month or 0)
    )
    values = {"so2": 10.0, "no2": 20.0, "pm10": 50.0, "pm25": 35.0, "co": 0.5, "o3": 60.0}
    return pl.concat(
        frame.with_columns(
            pl.lit(site).alias("site_id"), pl.lit(p).alias("parameter"), pl.lit(v).alias("value")
        )
        for p, v in values.items()
    ).select("site_id", "parameter", "period_start", "value")


def _short_o3_day(hours: pl.DataFrame, site: str, day: date) -> pl.DataFrame:
    """`day` at `site`: O3 missing 00..05 (13 valid 8-h means < 14) and 200 at 12..19 (> 160)."""
    hour = pl.col("period_start").dt.convert_time_zone("Asia/Shanghai")
    on_day = (pl.col("site_id") == site) & (pl.col("parameter") == "o3") & (hour.dt.date() == day)
    return hours.with_columns(
        pl.when(on_day & (hour.dt.hour() <= 5)).then(None)
        .when(on_day & hour.dt.hour().is_between(12, 19)).then(200.0)
        .otherwise(pl.col("value")).alias("value"))  # fmt: skip


def test_a_station_off_for_december_gets_no_annual_statistic_nor_rank() -> None:
    # GB 3095 Table 4: a year needs ≥ 324 valid days AND every month ≥ 27 (February 25);
    # "off" has 335 days but none in December (no rows at all: decommissioned, not in the grid)
    net = network([("on_a", "air"), ("on_b", "air"), ("off", "air")])
    hours = pl.concat(
        [_year_hours("on_a", 2016), _year_hours("on_b", 2016), _year_hours("off", 2016, 12)]
    )
    hours = _short_o3_day(hours, "on_a", date(2016, 6, 15))
    rows, stats = _air_period(
        hours, net, "Asia/Shanghai", "year", date(2016, 1, 1), date(2017, 1, 1)
    )
    got = {r["site_id"]: r for r in rows.iter_rows(named=True)}
    off = got["off"]
    assert off["valid"] is False and off["rank"] is None and off["composite_index"] is None
    assert off["pm25_mean_ugm3"] is None and off["o3_8h_p90_ugm3"] is None
    assert off["invalid_reasons"] == (
        "so2, no2, pm10, pm25, co, o3_8h: 12月有效日数 0 < 27 (2016-12: 0 valid days < 27 required)"
    )
    assert [got[s]["rank"] for s in ("on_a", "on_b")] == [1, 1] and got["on_a"]["valid"]
    # HJ 663: on_a's 15 June (13 valid 8-h means, maximum 200 > 160) is an exceedance day but no
    # valid MDA8 — 365 valid O3 days, P90 unchanged
    assert (got["on_a"]["days_over_o3_8h"], got["on_b"]["days_over_o3_8h"]) == (1, 0)
    a = stats.filter(pl.col("site") == "on_a").row(0, named=True)
    assert a["n_days_o3_8h"] == 365 and a["o3_8h_p90_ugm3"] == 60.0
    assert a["days_over_o3_8h_incomplete"] == 1
    year_avg = _air_period_avg(stats, "year_avg", net, date(2016, 1, 1), date(2017, 1, 1))
    reason = year_avg.filter((pl.col("site_id") == "off") & (pl.col("parameter") == "pm25"))
    assert (
        reason["invalid_reason"].item()
        == "pm25: 12月有效日数 0 < 27 (2016-12: 0 valid days < 27 required)"
    )
    assert year_avg.filter(pl.col("site_id") == "on_a")["invalid_reason"].null_count() == 5


# -- a month or year that has not ended is refused (core.periods.require_ended) ---------------
FEB_END = datetime(2024, 3, 1, tzinfo=ZoneInfo("Asia/Shanghai"))  # February 2024's end, local
SECOND = timedelta(seconds=1)


def test_a_month_is_derived_from_the_instant_it_ends(wh) -> None:  # type: ignore[no-untyped-def]
    # the monthly DAG runs at (or after) the end of its interval: the month has ended then
    assert derive_monthly(wh, date(2024, 2, 1), now=FEB_END).stage == "monthly"
    assert derive_monthly(wh, date(2024, 2, 1), now=FEB_END + SECOND).stage == "monthly"


def test_a_month_whose_last_second_is_ahead_is_refused(wh) -> None:  # type: ignore[no-untyped-def]
    from core.periods import PeriodNotEndedError

    with pytest.raises(PeriodNotEndedError, match=r"^the month 2024-02 \(2024-02-01T00:00:00\+08:00 to "
                                                  r"2024-03-01T00:00:00\+08:00\) has not ended"):
        derive_monthly(wh, date(2024, 2, 1), now=FEB_END - SECOND)
    # to date, when asked for explicitly
    assert derive_monthly(wh, date(2024, 2, 1), now=FEB_END - SECOND, allow_partial=True).stage == "monthly"


def test_a_year_whose_last_second_is_ahead_is_refused(wh) -> None:  # type: ignore[no-untyped-def]
    from core.periods import PeriodNotEndedError

    new_year = datetime(2025, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai"))
    with pytest.raises(PeriodNotEndedError, match=r"^the year 2024 .* it ends at 2025-01-01T00:00:00\+08:00"):
        derive_yearly(wh, 2024, now=new_year - SECOND)
    assert derive_yearly(wh, 2024, now=new_year).stage == "yearly"
