"""The daily derivation of one local day: `aggregates` day rows (day_avg, day_avg_o2,
day_total_kg, o3_8h_max, o3_1h_max), `aqi_daily` (stations and the city), `noise_daily`,
`water_class` and `emission_totals` of the day, `outlet_hours` and `outlet_days`, rebuilt from
QC-passed readings (the hourly run's hours where still current, transforms.derive.hour_cache)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

import duckdb
import polars as pl

from core import periods
from core.periods import HOUR
from core.settings import Settings, get_settings
from transforms.derive import air, emission_rows, hour_cache, outlet_hours, water_noise
from transforms.derive.context import Network, load_network
from transforms.derive.frames import (
    DAY_ROW_COLUMNS,
    agg_frame,
    empty_agg,
    hj75_code,
    stack_rows,
    with_data_status,
    with_day_start,
    with_local_date,
)
from transforms.derive.hours import hour_values
from transforms.derive.noise import NOISE_STANDARD, noise_rows
from transforms.derive.store import DeriveReport, Replace, write
from transforms.standards.air_daily import (
    DAILY_VALUE_COLUMNS,
    MDA8_WINDOWS,
    O3_8H_INCOMPLETE_COLUMN,
)
from transforms.standards.air_statistics import o3_8h_limit, o3_incomplete_exceeds
from transforms.standards.air_validity import DAILY_MEAN_POLLUTANTS, gb3095_editions
from transforms.standards.emissions import min_count as hj75_min_count
from transforms.standards.noise import rule as noise_rule
from warehouse.db import connect

DAILY_STATISTICS = ("day_avg", "day_avg_o2", "day_total_kg", "o3_8h_max", "o3_1h_max")


def _air_day_rows(daily: pl.DataFrame, unit_of: Callable[[str, str], str]) -> pl.DataFrame:
    """day_avg / o3_8h_max / o3_1h_max rows from `daily_air_values` output (stations only); an
    O3 day with too few 8-h means whose maximum exceeds the Grade II limit says it still counts
    as an exceedance day (HJ 663-2013, `air_statistics.o3_incomplete_exceeds`)."""
    eds = gb3095_editions(None, date.today())
    parts = []
    n_cols = {
        **{p: f"n_hours_{p}" for p in DAILY_MEAN_POLLUTANTS},
        "o3_1h": "n_hours_o3",
        "o3_8h": "n_o3_8h_windows",
    }
    stat_param = {p: ("day_avg", p) for p in DAILY_MEAN_POLLUTANTS} | {
        "o3_1h": ("o3_1h_max", "o3"),
        "o3_8h": ("o3_8h_max", "o3"),
    }
    for ind, col in DAILY_VALUE_COLUMNS.items():
        statistic, parameter = stat_param[ind]
        reason = (
            pl.col("invalid_reasons")
            .str.split("; ")
            .list.eval(pl.element().filter(pl.element().str.starts_with(f"{ind}:")))
            .list.first()
        )
        if ind == "o3_8h":
            reason = pl.when(o3_incomplete_exceeds(pl.col("date"), eds)).then(
                pl.format(
                    "{}; 最大值 {} > {} 计为超标日 (maximum {} > {}: an exceedance day, HJ 663-2013)",
                    reason, *[pl.col(O3_8H_INCOMPLETE_COLUMN).round(1), o3_8h_limit(pl.col("date"), eds)] * 2,
                )
            ).otherwise(reason)  # fmt: skip
        parts.append(
            daily.select(
                pl.col("site").alias("site_id"),
                pl.lit(parameter).alias("parameter"),
                pl.lit(statistic).alias("statistic"),
                pl.col("date").alias("local_date"),
                pl.col(col).alias("value"),
                pl.col(f"valid_{ind}").alias("valid"),
                pl.col(n_cols[ind]).cast(pl.Int32).alias("n_valid"),
                pl.lit(MDA8_WINDOWS if ind == "o3_8h" else 24).alias("n_expected"),
                reason.alias("invalid_reason"),
                pl.col("gb3095_edition").alias("edition"),
            )
        )
    out = pl.concat(parts)
    units = [unit_of(s, p) for s, p in zip(out["site_id"], out["parameter"], strict=True)]
    return out.with_columns(pl.Series("unit", units, dtype=pl.String))


def daily_means(
    hours: pl.DataFrame, statistic: str, need: int, what: str, n_expected: int
) -> pl.DataFrame:
    """Means of valid hourly values per site, parameter and local_date with a minimum count;
    hours marked `shut_down` (outlets, `outlet_hours.official`) are excused from the count."""
    shut = pl.col("shut_down") if "shut_down" in hours.columns else pl.lit(False)
    g = hours.group_by("site_id", "parameter", "local_date").agg(
        pl.col("value").filter(pl.col("valid")).mean().alias("value"),
        pl.col("valid").sum().cast(pl.Int32).alias("n_valid"),
        pl.col("unit").first(),
        shut.sum().cast(pl.Int32).alias("_shut_down"),
    )
    required = outlet_hours.excused_need(need, pl.col("_shut_down"))
    ok = pl.col("n_valid") >= required
    return g.with_columns(
        pl.lit(statistic).alias("statistic"),
        ok.alias("valid"),
        pl.lit(n_expected).alias("n_expected"),
        pl.format(
            "{}: {} " + what + " < {} required",
            pl.col("parameter"),
            pl.col("n_valid"),
            required,
        ).alias("invalid_reason"),
    ).drop("_shut_down")


def daily_hours_range(day: date, tz: str) -> tuple[datetime, datetime]:
    """The UTC hours `daily_frames` needs: the local day and its night, which runs into the next
    morning up to the noise standard's start of the day."""
    lo, hi = periods.local_day_range(day, tz)
    return lo, hi + int(noise_rule(NOISE_STANDARD, "day_start_hour")) * HOUR


def daily_frames(
    con: duckdb.DuckDBPyConnection, net: Network, day: date, tz: str, site_ids: list[str] | None = None,
    hours: pl.DataFrame | None = None,
) -> dict[str, pl.DataFrame]:
    """The daily tables' rows of `day`; `hours` are the hour values of `daily_hours_range` when
    the caller derived them already."""
    lo, hi = periods.local_day_range(day, tz)
    if hours is None and site_ids is None:  # the hourly run's hours where still current
        hours = hour_cache.reusing_hour_values(con, net, *daily_hours_range(day, tz))
    elif hours is None:
        hours = hour_values(con, net, *daily_hours_range(day, tz), site_ids=site_ids)
    hours = with_local_date(hours, net, tz)
    day_hours = hours.filter(pl.col("local_date") == day)
    n_hours = int((hi - lo) / HOUR)

    # air stations: daily values (GB 3095 / HJ 663) and the daily AQI, stations and city
    stations = net.site_ids("air")
    wide = air.wide_hours(day_hours, stations)
    station_daily = air.daily_values(wide, tz) if wide.height else pl.DataFrame()
    parts = []
    aqi_rows = pl.DataFrame()
    if station_daily.height:
        station_daily = station_daily.filter(pl.col("date") == day)
        parts.append(_air_day_rows(station_daily, net.unit_of))
        city = air.city_daily(station_daily, net.city_stations())
        both = (
            pl.concat([station_daily, city], how="diagonal_relaxed")
            if city.height
            else station_daily
        )
        aqi_rows, _ = air.aqi_daily_rows(both)

    # outlets: day_avg, day_avg_o2 (HJ 75 >= 20 valid hours) and totals
    outlets = net.site_ids("outlet")
    need = hj75_min_count("daily_mean")
    o_hours = day_hours.filter(pl.col("site_id").is_in(outlets))
    oh = outlet_hours.outlet_hours(con, net, o_hours, lo, hi)
    o_days = outlet_hours.outlet_days(con, net, oh, lo, hi, need)
    parts.append(
        # T2: a pollutant's shut-down hours are no valid hours of its day
        daily_means(outlet_hours.official(o_hours, oh, net), "day_avg", need, "valid hours",
                      n_hours).with_columns(
            hj75_code().alias("edition")
        )
    )
    o2 = emission_rows.o2_hours(o_hours, net, oh)
    parts.append(
        daily_means(o2, "day_avg_o2", need, "valid hours", n_hours).with_columns(
            hj75_code().alias("edition")
        )
    )
    loads = emission_rows.load_hours(o_hours, net, oh)
    totals = emission_rows.totals(loads, "day", emission_rows.permitted_kg(con, "day", day))
    day_total = totals.select(
        "site_id", "parameter", pl.lit("day_total_kg").alias("statistic"), pl.lit(day).alias("local_date"),
        pl.col("total_kg").alias("value"), "valid", pl.col("n_valid_hours").alias("n_valid"),
        pl.lit(n_hours).alias("n_expected"),
        pl.format("{}: {} valid hours < {} required", pl.col("parameter"), pl.col("n_valid_hours"),
                  pl.lit(need)).alias("invalid_reason"),
        pl.lit("kg").alias("unit"),
    ).with_columns(hj75_code().alias("edition"))  # fmt: skip
    parts.append(day_total)

    # water sections: day means of the valid readings, and the class
    water_sites = net.site_ids("water")
    w = water_noise.water_means(con, water_sites, lo, hi)
    water_iv = net.site_parameters.group_by("site_id", "parameter").agg(pl.col("interval_s").min())
    w_rows = w.join(water_iv, on=["site_id", "parameter"], how="left").select(
        "site_id", "parameter", pl.lit("day_avg").alias("statistic"), pl.lit(day).alias("local_date"), "value",
        (pl.col("n_valid") >= 1).alias("valid"), pl.col("n_valid").cast(pl.Int32),
        (86400 // pl.col("interval_s").clip(1, 86400)).cast(pl.Int32).alias("n_expected"),
        pl.format("{}: no valid value in the day", pl.col("parameter")).alias("invalid_reason"),
        "unit", pl.lit(None, dtype=pl.String).alias("edition"),
    )  # fmt: skip
    parts.append(w_rows)
    water = water_noise.water_rows(w, net, "day", day)
    noise = noise_rows(hours, net, day, tz)

    rows = stack_rows(parts, DAY_ROW_COLUMNS)
    if rows is None:
        agg = empty_agg()
    else:
        rows = with_day_start(rows, net, tz).with_columns(pl.lit(86400).alias("interval_s"))
        agg = agg_frame(with_data_status(con, rows))
    return {"aggregates": agg, "aqi_daily": aqi_rows, "water_class": water, "noise_daily": noise,
            "emission_totals": totals, "outlet_hours": oh, "outlet_days": o_days}  # fmt: skip


def derive_daily(settings: Settings | None = None, day: date | None = None) -> DeriveReport:
    """Daily aggregates, aqi_daily (stations and city), noise_daily, water_class (day) and
    emission_totals (day) for one local day (settings.timezone; sites in their own zone)."""
    if day is None:
        raise TypeError("derive_daily needs the local day")
    settings = settings or get_settings()
    tz = settings.timezone
    lo, hi = periods.local_day_range(day, tz)
    started = datetime.now(UTC)
    with connect(settings, purpose="envmon aggregate daily") as con:
        net = load_network(con, settings.config_dir)
        f = daily_frames(con, net, day, tz)
        p = {"day": day}
        written = write(con, "daily", lo, hi, [
            Replace("aggregates", f["aggregates"],
                    """DELETE FROM aggregates a USING sites s WHERE a.site_id = s.site_id
                       AND a.statistic IN (SELECT unnest($stats))
                       AND CAST(timezone(s.timezone, a.period_start) AS DATE) = $day""",
                    {"stats": list(DAILY_STATISTICS), "day": day}),
            Replace("aqi_daily", f["aqi_daily"], "DELETE FROM aqi_daily WHERE local_date = $day", p),
            Replace("water_class", f["water_class"],
                    "DELETE FROM water_class WHERE period = 'day' AND period_start = $day", p),
            Replace("noise_daily", f["noise_daily"], "DELETE FROM noise_daily WHERE local_date = $day", p),
            Replace("emission_totals", f["emission_totals"],
                    "DELETE FROM emission_totals WHERE period = 'day' AND period_start = $day", p),
            Replace("outlet_hours", f["outlet_hours"],
                    "DELETE FROM outlet_hours WHERE period_start >= $lo AND period_start < $hi",
                    {"lo": lo, "hi": hi}),
            Replace("outlet_days", f["outlet_days"],
                    "DELETE FROM outlet_days WHERE period_start >= $lo AND period_start < $hi",
                    {"lo": lo, "hi": hi}),
        ], started)  # fmt: skip
    return DeriveReport("daily", lo, hi, written)
