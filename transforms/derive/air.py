"""Air stations: wide hourly frames, the city's concentrations, hourly and daily AQI rows.

The AQI, validity and statistics numbers come from `transforms.standards` (tested against
published values); this module only shapes warehouse rows for them.

City (site_id 'city', scope 'city'), HJ 663-2013: the city's concentration is the arithmetic
mean over the stations with `in_city_assessment` of their valid values — hourly values for the
real-time report (whose 24-h / 8-h moving means are then taken over the city series), and
daily values (24-h means, O3 1-h max, O3 MDA8) for the daily report and period statistics.
"""

from __future__ import annotations

import polars as pl

from transforms.derive.context import CITY
from transforms.standards import aqi_daily, aqi_hourly, daily_air_values
from transforms.standards.air_daily import DAILY_VALUE_COLUMNS
from transforms.standards.air_validity import POLLUTANT_COLUMNS
from transforms.standards.aqi_rules import DEFAULT_READING

AQI_HOURLY_COLUMNS = [
    "site_id", "scope", "period_start", "local_date", "edition", "aqi", "level", "category",
    "category_en", "colour_hex", "primary_pollutants", "iaqi_so2", "iaqi_no2", "iaqi_pm10",
    "iaqi_pm25", "iaqi_co", "iaqi_o3_1h", "iaqi_o3_8h", "so2_1h_ugm3", "no2_1h_ugm3",
    "pm10_1h_ugm3", "pm25_1h_ugm3", "co_1h_mgm3", "o3_1h_ugm3", "o3_8h_ugm3", "so2_24h_ugm3",
    "pm10_24h_ugm3", "pm25_24h_ugm3", "valid", "missing_indicators", "realtime_reading",
]  # fmt: skip
AQI_DAILY_COLUMNS = [
    "site_id", "scope", "local_date", "edition", "aqi", "level", "category", "category_en",
    "colour_hex", "primary_pollutants", "exceeding_pollutants", "iaqi_so2", "iaqi_no2",
    "iaqi_pm10", "iaqi_pm25", "iaqi_co", "iaqi_o3_1h", "iaqi_o3_8h", *DAILY_VALUE_COLUMNS.values(),
    "valid", "invalid_reasons",
]  # fmt: skip


def wide_hours(
    hours: pl.DataFrame, stations: list[str], grid: pl.DataFrame | None = None
) -> pl.DataFrame:
    """site, period_start and one column per pollutant (valid hourly values, null otherwise)."""
    cols = {p: c for p, c in POLLUTANT_COLUMNS.items()}
    h = hours.filter(pl.col("site_id").is_in(stations) & pl.col("parameter").is_in(list(cols)))
    wide = (
        h.with_columns(pl.col("parameter").replace_strict(cols, return_dtype=pl.String))
        .pivot(
            on="parameter",
            index=["site_id", "period_start"],
            values="value",
            aggregate_function="first",
        )
        .rename({"site_id": "site"})
    )
    for c in cols.values():
        if c not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(c))
    return wide.select("site", "period_start", *cols.values()).sort("site", "period_start")


def city_hours(wide: pl.DataFrame, city_stations: list[str]) -> pl.DataFrame:
    """The city's hourly concentrations: mean over the assessed stations' valid values."""
    cols = list(POLLUTANT_COLUMNS.values())
    city = (
        wide.filter(pl.col("site").is_in(city_stations))
        .group_by("period_start")
        .agg(pl.col(c).mean() for c in cols)
        .with_columns(pl.lit(CITY).alias("site"))
    )
    return city.select("site", "period_start", *cols).sort("period_start")


def aqi_hourly_rows(  # type: ignore[no-untyped-def]
    wide: pl.DataFrame, tz: str, lo, hi, reading: str = DEFAULT_READING
) -> pl.DataFrame:
    """Real-time AQI rows (table aqi_hourly) for the hours in [lo, hi) under `reading` of the
    real-time report (settings.aqi_realtime_reading; recorded in `realtime_reading`); `wide`
    must reach back 23 hours before lo for the 24-h moving means."""
    if wide.height == 0:
        return pl.DataFrame()
    out = aqi_hourly(wide, tz=tz, reading=reading).filter(
        (pl.col("period_start") >= lo) & (pl.col("period_start") < hi)
    )
    return out.with_columns(
        pl.col("site").alias("site_id"),
        pl.when(pl.col("site") == CITY)
        .then(pl.lit("city"))
        .otherwise(pl.lit("station"))
        .alias("scope"),
        pl.col("date").alias("local_date"),
    ).select(AQI_HOURLY_COLUMNS)


def daily_values(wide_day: pl.DataFrame, tz: str) -> pl.DataFrame:
    """Station daily values with validity (GB 3095 / HJ 663), `daily_air_values` output."""
    return daily_air_values(wide_day, tz=tz)


def city_daily(daily: pl.DataFrame, city_stations: list[str]) -> pl.DataFrame:
    """The city's daily values: the mean over the assessed stations' valid daily values; an
    indicator is invalid for the city when no station has it valid."""
    cols = list(DAILY_VALUE_COLUMNS.values())
    d = daily.filter(pl.col("site").is_in(city_stations))
    city = d.group_by("date").agg(
        pl.col("gb3095_edition").first(),
        *[pl.col(c).mean() for c in cols],
        *[pl.col(c).count().alias(f"_n_{c}") for c in cols],
    )
    reasons = [
        pl.when(pl.col(c).is_null()).then(pl.lit(f"{ind}: no station with a valid value"))
        for ind, c in DAILY_VALUE_COLUMNS.items()
    ]
    joined = pl.concat_str(reasons, separator="; ", ignore_nulls=True)
    city = city.with_columns(
        pl.lit(CITY).alias("site"),
        *[pl.col(c).is_not_null().alias(f"valid_{ind}") for ind, c in DAILY_VALUE_COLUMNS.items()],
        pl.when(joined == "").then(None).otherwise(joined).alias("invalid_reasons"),
    )
    keep = [
        "site",
        "date",
        "gb3095_edition",
        *cols,
        *[f"valid_{i}" for i in DAILY_VALUE_COLUMNS],
        "invalid_reasons",
    ]
    return city.select(keep).sort("date")


def aqi_daily_rows(daily: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(aqi_daily table rows, aqi_daily() output) for daily values of stations and/or the city."""
    if daily.height == 0:
        return pl.DataFrame(), pl.DataFrame()
    report = aqi_daily(daily)
    rows = report.with_columns(
        pl.col("site").alias("site_id"),
        pl.when(pl.col("site") == CITY)
        .then(pl.lit("city"))
        .otherwise(pl.lit("station"))
        .alias("scope"),
        pl.col("date").alias("local_date"),
    ).select(AQI_DAILY_COLUMNS)
    return rows, report
