"""The hourly derivation: `aggregates` hour rows (hour_avg, hour_avg_o2, hour_load_kg, hour_leq,
o3_8h), `aqi_hourly` (stations and the city) and `outlet_hours` of whole UTC hours, rebuilt from
QC-passed readings — including the 23 hours before the range that the air stations' moving
means look back on, so results do not depend on which earlier runs happened."""

from __future__ import annotations

from datetime import UTC, datetime

import duckdb
import polars as pl

from core import periods
from core.periods import HOUR
from core.settings import Settings, get_settings
from transforms.derive import air, emission_rows, hour_cache, outlet_hours
from transforms.derive.context import HOUR_STATISTIC, Network, load_network
from transforms.derive.frames import (
    agg_frame,
    empty_agg,
    gb3095_code,
    hj75_code,
    stack_rows,
    with_data_status,
    with_local_date,
)
from transforms.derive.hours import hour_values
from transforms.derive.store import DeriveReport, Replace, write
from transforms.standards.air_daily import with_moving_means
from transforms.standards.air_validity import by_date_expr, min_count
from transforms.standards.aqi_rules import DEFAULT_READING
from transforms.standards.editions import all_editions
from warehouse.db import connect

HOURLY_STATISTICS = ("hour_avg", "hour_avg_o2", "hour_load_kg", "hour_leq", "o3_8h")
HOUR_ROW_COLUMNS = [
    "site_id", "parameter", "statistic", "period_start", "interval_s", "value", "unit", "valid",
    "n_valid", "n_expected", "invalid_reason",
]  # fmt: skip


def _o3_8h(hours: pl.DataFrame, stations: list[str], tz: str) -> pl.DataFrame:
    """o3_8h rows: the 8-h moving mean ending at each hour (GB 3095 Table 4 window minimum)."""
    o3 = hours.filter(pl.col("site_id").is_in(stations) & (pl.col("parameter") == "o3"))
    lf = o3.select(
        pl.col("site_id").alias("site"), "period_start", pl.col("value").alias("o3_ugm3"), "unit"
    )
    lf = lf.sort("site", "period_start").with_columns(
        pl.col("period_start").dt.convert_time_zone(tz).dt.date().alias("date")
    )
    eds = all_editions("GB3095")
    need = by_date_expr(pl.col("date"), eds, lambda ed: min_count(ed.code, "o3_8h_moving"))
    out = (
        with_moving_means(lf.lazy(), "o3_ugm3", 8, "o3_8h", need)
        .with_columns(need.alias("_need"))
        .collect()
    )
    return out.select(
        pl.col("site").alias("site_id"),
        pl.lit("o3").alias("parameter"),
        pl.lit("o3_8h").alias("statistic"),
        "period_start",
        pl.lit(8 * 3600).alias("interval_s"),
        pl.col("o3_8h").alias("value"),
        "unit",
        pl.col("o3_8h").is_not_null().alias("valid"),
        pl.col("n_o3_8h").alias("n_valid"),
        pl.lit(8).alias("n_expected"),
        pl.format(
            "o3: {} valid hours in the 8-h window < {} required", pl.col("n_o3_8h"), pl.col("_need")
        ).alias("invalid_reason"),
    )


def _hour_edition(df: pl.DataFrame, net: Network) -> pl.DataFrame:
    kind = pl.col("site_id").replace_strict(
        dict(zip(net.sites["site_id"], net.sites["kind"], strict=True)),
        default=None,
        return_dtype=pl.String,
    )
    return df.with_columns(
        pl.when(kind == "air")
        .then(gb3095_code())
        .when(kind == "outlet")
        .then(hj75_code())
        .alias("edition")
    )


def hourly_frames(
    con: duckdb.DuckDBPyConnection, net: Network, lo: datetime, hi: datetime, tz: str,
    site_ids: list[str] | None = None, hours: pl.DataFrame | None = None,
    reading: str = DEFAULT_READING,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """(aggregates rows, aqi_hourly rows, outlet_hours rows) for the UTC hours starting in
    [lo, hi); `site_ids` restricts the readings read to those sites (a region partition,
    transforms.derive.partitioned); `hours` are `hourly_inputs(...)` when the caller derived
    them already; `reading` is that of the real-time AQI (settings.aqi_realtime_reading)."""
    if hours is None:
        hours = hourly_inputs(con, net, lo, hi, site_ids)
    in_range = (pl.col("period_start") >= lo) & (pl.col("period_start") < hi)
    now = hours.filter(in_range)
    oh = outlet_hours.outlet_hours(con, net, now, lo, hi)
    stats = outlet_hours.official(now, oh, net).filter(
        pl.col("parameter").replace_strict(HOUR_STATISTIC, default="hour_avg").is_not_null()
    )
    base = stats.with_columns(
        pl.col("parameter").replace_strict(HOUR_STATISTIC, default="hour_avg").alias("statistic"),
        pl.lit(3600).alias("interval_s"),
    )
    stations = net.site_ids("air")
    parts = [
        base,
        emission_rows.o2_hours(now, net, oh).with_columns(pl.lit(3600).alias("interval_s")),
        emission_rows.load_hours(now, net, oh).with_columns(pl.lit(3600).alias("interval_s")),
        _o3_8h(hours, stations, tz).filter(in_range),
    ]
    rows = stack_rows(parts, HOUR_ROW_COLUMNS)
    if rows is None:
        agg = empty_agg()
    else:
        rows = with_local_date(rows, net, tz)
        agg = agg_frame(with_data_status(con, _hour_edition(rows, net)))

    wide = air.wide_hours(hours, stations)
    city = air.city_hours(wide, net.city_stations())
    aqi = air.aqi_hourly_rows(
        pl.concat([wide, city]) if city.height else wide, tz, lo, hi, reading=reading
    )
    return agg, aqi, oh


def hourly_inputs(
    con: duckdb.DuckDBPyConnection, net: Network, lo: datetime, hi: datetime,
    site_ids: list[str] | None = None,
) -> pl.DataFrame:
    """The hours the hourly rows of [lo, hi) need: those of [lo, hi), and for the air stations
    the 23 hours before (O3 8-h and 24-h moving means) — only theirs: the other sites' earlier
    hours were half the rows derived and held, and nothing used them."""
    hours = hour_values(con, net, lo, hi, site_ids=site_ids)
    stations = net.site_ids("air")
    if site_ids is not None:
        stations = sorted(set(stations) & set(site_ids))
    if not stations:
        return hours
    before = hour_values(con, net, lo - 23 * HOUR, lo, site_ids=stations)
    return pl.concat([before, hours]).sort("site_id", "parameter", "period_start")


def derive_hourly(
    settings: Settings | None = None, start: datetime | None = None, end: datetime | None = None
) -> DeriveReport:
    """Hourly aggregates (hour_avg, hour_avg_o2, hour_load_kg, hour_leq, o3_8h) and aqi_hourly
    (real-time AQI under settings.aqi_realtime_reading) for the UTC hours starting in
    [start, end) (whole hours)."""
    if start is None or end is None:
        raise TypeError("derive_hourly needs start and end (UTC datetimes of whole hours)")
    settings = settings or get_settings()
    lo, hi = periods.utc(start, "start"), periods.utc(end, "end")
    if hi <= lo:
        raise ValueError(
            f"empty range: end {end.isoformat()} is not after start {start.isoformat()}"
        )
    started = datetime.now(UTC)
    with connect(settings, purpose="envmon aggregate hourly") as con:
        net = load_network(con, settings.config_dir)
        token = hour_cache.inputs_token(con)  # read before the hours: a later change makes them stale
        hours = hourly_inputs(con, net, lo, hi)
        agg, aqi, oh = hourly_frames(
            con, net, lo, hi, settings.timezone, hours=hours,
            reading=settings.aqi_realtime_reading,
        )  # fmt: skip
        stats = list(HOURLY_STATISTICS)
        written = write(
            con,
            "hourly",
            lo,
            hi,
            [
                Replace(
                    "aggregates",
                    agg,
                    "DELETE FROM aggregates WHERE statistic IN (SELECT unnest($stats)) "
                    "AND period_start >= $lo AND period_start < $hi",
                    {"stats": stats, "lo": lo, "hi": hi},
                ),
                Replace(
                    "aqi_hourly",
                    aqi,
                    "DELETE FROM aqi_hourly WHERE period_start >= $lo AND period_start < $hi",
                    {"lo": lo, "hi": hi},
                ),
                Replace(
                    "outlet_hours",
                    oh,
                    "DELETE FROM outlet_hours WHERE period_start >= $lo AND period_start < $hi",
                    {"lo": lo, "hi": hi},
                ),
            ],
            started,
        )
        hour_cache.store(con, hours, lo, hi, token)
    return DeriveReport("hourly", lo, hi, written)
