"""transforms.derive.air: station hours made wide, the city's hourly and daily concentrations
(HJ 663-2013: the mean over the assessed stations' valid values) and the AQI rows shaped for
`aqi_hourly` / `aqi_daily` (HJ 633-2012 PM2.5 24-h breakpoints 75 -> IAQI 100, 115 -> 150)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from transforms.derive import air
from transforms.derive.context import CITY
from transforms.standards.air_daily import DAILY_VALUE_COLUMNS

T0 = datetime(2024, 3, 1, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = date(2024, 3, 1)


def _hours(rows: list[tuple[str, str, datetime, float | None]]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"site_id": pl.String, "parameter": pl.String, "period_start": pl.Datetime("us", "UTC"),
                "value": pl.Float64},
        orient="row",
    )  # fmt: skip


def test_wide_hours_keeps_the_stations_and_gives_every_pollutant_a_column() -> None:
    hours = _hours([
        ("a", "pm25", T0, 40.0), ("a", "so2", T0, 5.0), ("a", "pm25", T0 + HOUR, None),
        ("b", "pm25", T0, 60.0), ("outlet", "so2", T0, 900.0), ("a", "leq", T0, 55.0),
    ])  # fmt: skip
    wide = air.wide_hours(hours, ["a", "b"])
    assert wide.columns == ["site", "period_start", "so2_ugm3", "no2_ugm3", "pm10_ugm3",
                            "pm25_ugm3", "co_mgm3", "o3_ugm3"]  # fmt: skip
    assert wide["site"].to_list() == ["a", "a", "b"]  # sorted by site and hour; no outlet
    assert wide["pm25_ugm3"].to_list() == [40.0, None, 60.0]
    assert wide["so2_ugm3"].to_list() == [5.0, None, None]
    assert wide["no2_ugm3"].null_count() == 3  # a pollutant nobody sent: a null column


def test_city_hours_mean_over_the_assessed_stations_only() -> None:
    hours = _hours([("a", "pm25", T0, 40.0), ("b", "pm25", T0, 60.0), ("c", "pm25", T0, 1000.0),
                    ("a", "pm25", T0 + HOUR, None), ("b", "pm25", T0 + HOUR, 30.0)])  # fmt: skip
    city = air.city_hours(air.wide_hours(hours, ["a", "b", "c"]), ["a", "b"])
    assert city["site"].to_list() == [CITY, CITY]
    # 'c' is not in the city assessment; an invalid hour of 'a' leaves 'b' alone
    assert city["pm25_ugm3"].to_list() == [50.0, 30.0]


def _daily(site: str, pm25: float | None) -> dict[str, object]:
    row: dict[str, object] = {"site": site, "date": DAY, "gb3095_edition": "GB3095-2012"}
    for ind, col in DAILY_VALUE_COLUMNS.items():
        value = pm25 if ind == "pm25" else 1.0
        row[col] = value
        row[f"valid_{ind}"] = value is not None
    row["invalid_reasons"] = None if pm25 is not None else "pm25: 19 valid hours < 20 required"
    return row


def test_city_daily_mean_of_valid_station_days_and_a_reason_when_none_is_valid() -> None:
    daily = pl.DataFrame([_daily("a", 70.0), _daily("b", 80.0), _daily("c", None)])
    city = air.city_daily(daily, ["a", "b", "c"])
    assert city.height == 1 and city["site"][0] == CITY
    assert city["pm25_24h_ugm3"][0] == 75.0 and city["valid_pm25"][0]
    assert city["invalid_reasons"][0] is None
    none_valid = air.city_daily(pl.DataFrame([_daily("c", None)]), ["c"])
    assert not none_valid["valid_pm25"][0]
    assert none_valid["invalid_reasons"][0] == "pm25: no station with a valid value"


@pytest.mark.parametrize(("pm25", "aqi", "level"), [(75.0, 100, 2), (115.0, 150, 3)])
def test_aqi_daily_rows_of_the_city_at_the_pm25_breakpoints(pm25: float, aqi: int, level: int) -> None:
    city = air.city_daily(pl.DataFrame([_daily("a", pm25)]), ["a"])
    rows, report = air.aqi_daily_rows(city)
    assert rows.columns == air.AQI_DAILY_COLUMNS
    row = rows.row(0, named=True)
    assert (row["site_id"], row["scope"], row["local_date"]) == (CITY, "city", DAY)
    assert (row["iaqi_pm25"], row["aqi"], row["level"]) == (aqi, aqi, level)
    assert row["primary_pollutants"] == "PM2.5"
    assert report.height == 1


def test_empty_inputs_give_empty_frames() -> None:
    rows, report = air.aqi_daily_rows(pl.DataFrame())
    assert rows.height == report.height == 0
    assert air.aqi_hourly_rows(pl.DataFrame(), "Asia/Shanghai", T0, T0 + HOUR).height == 0
