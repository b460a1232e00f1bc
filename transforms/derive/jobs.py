"""Derivation jobs (the Airflow DAGs and `envmon aggregate` call these): hourly, daily, monthly
and yearly derived tables of migration 0050, rebuilt from QC-passed readings for the period
given (never "now"), each period's rows deleted and inserted again in one transaction.

Every job recomputes what it needs from readings — including the hours before its range that
moving means look back on — so results do not depend on which earlier runs happened.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import duckdb
import polars as pl

from core.settings import Settings, get_settings
from transforms.derive import air, emission_rows, hour_cache, outlet_hours, water_noise
from transforms.derive.context import CITY, HOUR_STATISTIC, Network, load_network
from transforms.derive.frames import (
    agg_frame,
    empty_agg,
    gb3095_code,
    hj75_code,
    local_day_range,
    with_data_status,
    with_local_date,
)
from transforms.derive.hours import hour_values
from transforms.derive.store import Replace, write
from transforms.standards import comprehensive_index, monthly_air_statistics
from transforms.standards.air_daily import DAILY_VALUE_COLUMNS, with_moving_means
from transforms.standards.air_validity import DAILY_MEAN_POLLUTANTS, by_date_expr, min_count
from transforms.standards.editions import all_editions, edition_for
from transforms.standards.emissions import _min_count as hj75_min_count
from transforms.standards.noise import rule as noise_rule
from warehouse.db import connect

NOISE_STANDARD = "GB3096-2008"  # the ambient noise standard whose day and night the noise levels use

HOURLY_STATISTICS = ("hour_avg", "hour_avg_o2", "hour_load_kg", "hour_leq", "o3_8h")
DAILY_STATISTICS = ("day_avg", "day_avg_o2", "day_total_kg", "o3_8h_max", "o3_1h_max")
MONTHLY_STATISTICS = ("month_avg", "month_total_kg")
YEARLY_STATISTICS = ("year_avg",)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class DeriveReport:
    stage: str
    range_start: datetime
    range_end: datetime
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def rows_written(self) -> int:
        return sum(self.rows.values())


def as_utc(ts: datetime) -> datetime:
    """`ts` as a plain datetime in UTC. Airflow passes pendulum DateTimes, whose arithmetic
    (pendulum 3.3) can drop the zone: comparisons with aware datetimes then fail."""
    if ts.tzinfo is None:
        raise ValueError(f"{ts.isoformat()} has no time zone: give ranges as UTC or with an offset")
    u = ts.astimezone(UTC)
    return datetime(u.year, u.month, u.day, u.hour, u.minute, u.second, u.microsecond, tzinfo=UTC)


# ---------------------------------------------------------------- hourly


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
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(aggregates rows, aqi_hourly rows) for the UTC hours starting in [lo, hi); `site_ids`
    restricts the readings read to those sites (a region partition, transforms.derive.partitioned);
    `hours` are `hourly_inputs(...)` when the caller derived them already."""
    agg, aqi, _ = hourly_outlet_frames(con, net, lo, hi, tz, site_ids, hours)
    return agg, aqi


def hourly_outlet_frames(
    con: duckdb.DuckDBPyConnection, net: Network, lo: datetime, hi: datetime, tz: str,
    site_ids: list[str] | None = None, hours: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """`hourly_frames` and the `outlet_hours` rows of the hours (official outlet values)."""
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
    cols = ["site_id", "parameter", "statistic", "period_start", "interval_s", "value", "unit", "valid",
            "n_valid", "n_expected", "invalid_reason"]  # fmt: skip
    rows = pl.concat(
        [
            p.select(cols).with_columns(
                pl.col("interval_s").cast(pl.Int32),
                pl.col("n_valid").cast(pl.Int32),
                pl.col("n_expected").cast(pl.Int32),
            )
            for p in parts
        ]
    )
    rows = with_local_date(rows, net, tz)
    rows = with_data_status(con, _hour_edition(rows, net))
    agg = agg_frame(rows) if rows.height else empty_agg()

    wide = air.wide_hours(hours, stations)
    city = air.city_hours(wide, net.city_stations())
    aqi = air.aqi_hourly_rows(pl.concat([wide, city]) if city.height else wide, tz, lo, hi)
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
    for the UTC hours starting in [start, end) (whole hours)."""
    if start is None or end is None:
        raise TypeError("derive_hourly needs start and end (UTC datetimes of whole hours)")
    settings = settings or get_settings()
    lo, hi = as_utc(start), as_utc(end)
    if hi <= lo:
        raise ValueError(
            f"empty range: end {end.isoformat()} is not after start {start.isoformat()}"
        )
    started = datetime.now(UTC)
    with connect(settings, purpose="envmon aggregate hourly") as con:
        net = load_network(con, settings.config_dir)
        token = hour_cache.inputs_token(con)  # read before the hours: a later change makes them stale
        hours = hourly_inputs(con, net, lo, hi)
        agg, aqi, oh = hourly_outlet_frames(con, net, lo, hi, settings.timezone, hours=hours)
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


# ---------------------------------------------------------------- daily


def _air_day_rows(daily: pl.DataFrame, net: Network, tz: str, unit_of) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    """day_avg / o3_8h_max / o3_1h_max rows from `daily_air_values` output (stations only)."""
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
        parts.append(
            daily.select(
                pl.col("site").alias("site_id"),
                pl.lit(parameter).alias("parameter"),
                pl.lit(statistic).alias("statistic"),
                pl.col("date").alias("local_date"),
                pl.col(col).alias("value"),
                pl.col(f"valid_{ind}").alias("valid"),
                pl.col(n_cols[ind]).cast(pl.Int32).alias("n_valid"),
                pl.lit(17 if ind == "o3_8h" else 24).alias("n_expected"),
                reason.alias("invalid_reason"),
                pl.col("gb3095_edition").alias("edition"),
            )
        )
    out = pl.concat(parts)
    units = [unit_of(s, p) for s, p in zip(out["site_id"], out["parameter"], strict=True)]
    return out.with_columns(pl.Series("unit", units, dtype=pl.String))


def _period_means(
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


def _day_start_utc(df: pl.DataFrame, net: Network, tz: str) -> pl.DataFrame:
    """period_start = the start of each row's local_date in its site's zone (UTC)."""
    tz_of = dict(zip(net.sites["site_id"], net.sites["timezone"], strict=True))
    starts = [
        local_day_range(d, tz_of.get(s, tz))[0]
        for s, d in zip(df["site_id"], df["local_date"], strict=True)
    ]
    return df.with_columns(pl.Series("period_start", starts, dtype=pl.Datetime("us", "UTC")))


def daily_hours_range(day: date, tz: str) -> tuple[datetime, datetime]:
    """The UTC hours `daily_frames` needs: the local day and its night, which runs into the next
    morning up to the noise standard's start of the day."""
    lo, hi = local_day_range(day, tz)
    return lo, hi + int(noise_rule(NOISE_STANDARD, "day_start_hour")) * HOUR


def daily_frames(
    con: duckdb.DuckDBPyConnection, net: Network, day: date, tz: str, site_ids: list[str] | None = None,
    hours: pl.DataFrame | None = None,
) -> dict[str, pl.DataFrame]:
    """The daily tables' rows of `day`; `hours` are the hour values of `daily_hours_range` when
    the caller derived them already."""
    lo, hi = local_day_range(day, tz)
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
        parts.append(_air_day_rows(station_daily, net, tz, net.unit_of))
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
        _period_means(outlet_hours.official(o_hours, oh, net), "day_avg", need, "valid hours",
                      n_hours).with_columns(
            hj75_code().alias("edition")
        )
    )
    o2 = emission_rows.o2_hours(o_hours, net, oh)
    parts.append(
        _period_means(o2, "day_avg_o2", need, "valid hours", n_hours).with_columns(
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
    noise = water_noise.noise_rows(hours, net, day, tz)

    cols = ["site_id", "parameter", "statistic", "local_date", "value", "unit", "valid", "n_valid",
            "n_expected", "invalid_reason", "edition"]  # fmt: skip
    rows = pl.concat(
        [p.select(cols).with_columns(pl.col("n_valid").cast(pl.Int32), pl.col("n_expected").cast(pl.Int32),
                                     pl.col("edition").cast(pl.String)) for p in parts if p.height]
    ) if any(p.height for p in parts) else None  # fmt: skip
    if rows is None:
        agg = empty_agg()
    else:
        rows = _day_start_utc(rows, net, tz).with_columns(pl.lit(86400).alias("interval_s"))
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
    lo, hi = local_day_range(day, tz)
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


# ---------------------------------------------------------------- monthly / yearly


def _month_bounds(first: date, period: str) -> tuple[date, date]:
    if period == "year":
        return date(first.year, 1, 1), date(first.year + 1, 1, 1)
    last = calendar.monthrange(first.year, first.month)[1]
    return first, first + timedelta(days=last)


def _air_period(hours: pl.DataFrame, net: Network, tz: str, period: str, start: date, end: date):  # type: ignore[no-untyped-def]
    """(air_period_stats rows, station daily values) for stations and the city."""
    stations = net.site_ids("air")
    wide = air.wide_hours(hours, stations)
    if wide.height == 0:
        return pl.DataFrame(), pl.DataFrame()
    daily = air.daily_values(wide, tz).filter((pl.col("date") >= start) & (pl.col("date") < end))
    city = air.city_daily(daily, net.city_stations())
    both = pl.concat([daily, city], how="diagonal_relaxed") if city.height else daily
    _, report = air.aqi_daily_rows(both)
    with_aqi = both.join(
        report.select("site", "date", "aqi", "level"), on=["site", "date"], how="left"
    )
    stats = comprehensive_index(monthly_air_statistics(with_aqi, period=period))
    levels = with_aqi.group_by("site").agg(
        *[
            (pl.col("level") == lv).sum().cast(pl.Int32).alias(f"days_level_{lv}")
            for lv in range(1, 7)
        ]
    )
    stats = stats.join(levels, on="site", how="left")
    pollutants = ["so2", "no2", "pm10", "pm25", "co", "o3_8h"]
    need = _days_needed(start, period)
    reasons = pl.concat_str(
        [pl.when(~pl.col(f"valid_{p}")).then(pl.format(p + ": {} valid days < " + need, pl.col(f"n_days_{p}")))
         for p in pollutants], separator="; ", ignore_nulls=True)  # fmt: skip
    valid = pl.all_horizontal(pl.col(f"valid_{p}") for p in pollutants)
    is_city = pl.col("site") == CITY
    station_rank = (
        pl.when(~is_city & pl.col("composite_index").is_not_null())
        .then(pl.col("composite_index"))
        .rank("min")
    )
    stats = stats.with_columns(
        pl.col("site").alias("site_id"),
        pl.when(is_city).then(pl.lit("city")).otherwise(pl.lit("station")).alias("scope"),
        pl.lit(period).alias("period"),
        pl.lit(edition_for(start, "GB3095").code).alias("gb3095_edition"),
        station_rank.cast(pl.Int32).alias("rank"),
        valid.alias("valid"),
        pl.when(valid).then(None).otherwise(reasons).alias("invalid_reasons"),
        pl.col("aqi_days").cast(pl.Int32),
        pl.col("good_days").cast(pl.Int32),
    )
    cols = ["site_id", "scope", "period", "period_start", "gb3095_edition", "aqi_days", "good_days", "good_share",
            *[f"days_level_{lv}" for lv in range(1, 7)], "so2_mean_ugm3", "no2_mean_ugm3", "pm10_mean_ugm3",
            "pm25_mean_ugm3", "co_p95_mgm3", "o3_8h_p90_ugm3", "days_over_so2", "days_over_no2", "days_over_pm10",
            "days_over_pm25", "days_over_co", "days_over_o3_8h", "composite_index", "main_pollutant", "rank",
            "valid", "invalid_reasons"]  # fmt: skip
    return stats.select(cols), stats


def _days_needed(start: date, period: str) -> str:
    """GB 3095 Table 4 minimum of valid days, as reason text ('27 required', February 25)."""
    code = edition_for(start, "GB3095").code
    if period == "year":
        return f"{min_count(code, 'annual_mean')} required (and every month its minimum)"
    stat = "monthly_mean_february" if start.month == 2 else "monthly_mean"
    return f"{min_count(code, stat)} required"


def _air_period_avg(
    stats: pl.DataFrame, statistic: str, net: Network, start: date, end: date
) -> pl.DataFrame:
    """month_avg / year_avg rows of so2, no2, pm10, pm25, co per station (HJ 663 means)."""
    if stats.height == 0:
        return pl.DataFrame()
    st = stats.filter(pl.col("site_id") != CITY)
    mean_cols = {"so2": "so2_mean_ugm3", "no2": "no2_mean_ugm3", "pm10": "pm10_mean_ugm3",
                 "pm25": "pm25_mean_ugm3", "co": "co_mean_mgm3"}  # fmt: skip
    parts = []
    for p, col in mean_cols.items():
        parts.append(st.select(
            "site_id", pl.lit(p).alias("parameter"), pl.lit(statistic).alias("statistic"),
            pl.lit(start).alias("local_date"), pl.col(col).alias("value"),
            pl.col(f"valid_{p}").alias("valid"), pl.col(f"n_days_{p}").cast(pl.Int32).alias("n_valid"),
            pl.lit((end - start).days).alias("n_expected"),
            pl.format(p + ": {} valid days < " + _days_needed(start, statistic[:-4]), pl.col(f"n_days_{p}"))
            .alias("invalid_reason"),
            pl.col("gb3095_edition").alias("edition"),
        ))  # fmt: skip
    out = pl.concat(parts)
    return out.with_columns(
        pl.Series(
            "unit",
            [net.unit_of(s, p) for s, p in zip(out["site_id"], out["parameter"], strict=True)],
        )
    )


def period_frames(
    con: duckdb.DuckDBPyConnection, net: Network, first: date, tz: str, period: str
) -> dict[str, pl.DataFrame]:
    start, end = _month_bounds(first, period)
    lo, _ = local_day_range(start, tz)
    hi, _ = local_day_range(end, tz)
    statistic = "month_avg" if period == "month" else "year_avg"
    stations = net.site_ids("air")
    sites = stations if period == "year" else None  # a year of outlet minutes is not read here
    hours = with_local_date(hour_values(con, net, lo, hi, sites), net, tz)
    air_rows, stats = _air_period(hours, net, tz, period, start, end)
    parts = [_air_period_avg(stats, statistic, net, start, end)]
    out: dict[str, pl.DataFrame] = {"air_period_stats": air_rows}
    if period == "month":
        outlets = net.site_ids("outlet")
        o_hours = hours.filter(pl.col("site_id").is_in(outlets))
        day_need = hj75_min_count("daily_mean")
        m_oh = outlet_hours.outlet_hours(con, net, o_hours, lo, hi)
        # T2: a pollutant's shut-down hours are no valid hours of its days
        days = _period_means(
            outlet_hours.official(o_hours, m_oh, net), "day_avg", day_need, "valid hours", 24
        )
        month_need = hj75_min_count("monthly_mean_february" if start.month == 2 else "monthly_mean")
        m = days.group_by("site_id", "parameter").agg(
            pl.col("value").filter(pl.col("valid")).mean().alias("value"),
            pl.col("valid").sum().cast(pl.Int32).alias("n_valid"),
            pl.col("unit").first(),
        )
        parts.append(m.with_columns(
            pl.lit(statistic).alias("statistic"), pl.lit(start).alias("local_date"),
            (pl.col("n_valid") >= month_need).alias("valid"), pl.lit((end - start).days).alias("n_expected"),
            pl.format("{}: {} valid days < {} required", pl.col("parameter"), pl.col("n_valid"),
                      pl.lit(month_need)).alias("invalid_reason"),
            pl.lit(edition_for(start, "HJ75").code).alias("edition")))  # fmt: skip
        loads = emission_rows.load_hours(o_hours, net, m_oh)
        totals = emission_rows.totals(
            loads, "month", emission_rows.permitted_kg(con, "month", start)
        )
        out["emission_totals"] = totals
        parts.append(totals.select(
            "site_id", "parameter", pl.lit("month_total_kg").alias("statistic"), pl.lit(start).alias("local_date"),
            pl.col("total_kg").alias("value"), "valid", pl.col("n_valid_hours").alias("n_valid"),
            pl.lit((end - start).days * 24).alias("n_expected"),
            pl.format("{}: too few valid days ({} valid hours)", pl.col("parameter"),
                      pl.col("n_valid_hours")).alias("invalid_reason"),
            pl.lit("kg").alias("unit"), pl.lit(edition_for(start, "HJ75").code).alias("edition")))  # fmt: skip
        water_sites = net.site_ids("water")
        w = water_noise.water_means(con, water_sites, lo, hi)
        out["water_class"] = water_noise.water_rows(w, net, "month", start)
        parts.append(w.select(
            "site_id", "parameter", pl.lit(statistic).alias("statistic"), pl.lit(start).alias("local_date"),
            "value", (pl.col("n_valid") >= 1).alias("valid"), pl.col("n_valid").cast(pl.Int32),
            pl.col("n_values").cast(pl.Int32).alias("n_expected"),
            pl.format("{}: no valid value in the month", pl.col("parameter")).alias("invalid_reason"),
            "unit", pl.lit(None, dtype=pl.String).alias("edition")))  # fmt: skip
    cols = ["site_id", "parameter", "statistic", "local_date", "value", "unit", "valid", "n_valid",
            "n_expected", "invalid_reason", "edition"]  # fmt: skip
    parts = [p for p in parts if p.height]
    if parts:
        rows = pl.concat(
            [
                p.select(cols).with_columns(
                    pl.col("n_valid").cast(pl.Int32),
                    pl.col("n_expected").cast(pl.Int32),
                    pl.col("edition").cast(pl.String),
                )
                for p in parts
            ]
        )
        rows = _day_start_utc(rows, net, tz).with_columns(
            pl.lit(int((hi - lo).total_seconds())).alias("interval_s")
        )
        # a period is audited when every one of its days is; provisional otherwise
        audited = _audited_days(con, start, end)
        rows = rows.join(audited, on="site_id", how="left").with_columns(
            pl.when(pl.col("_n_audited") == (end - start).days).then(pl.lit("audited"))
            .otherwise(pl.lit("provisional")).alias("data_status"))  # fmt: skip
        out["aggregates"] = agg_frame(rows)
    else:
        out["aggregates"] = empty_agg()
    return out


def _audited_days(con: duckdb.DuckDBPyConnection, start: date, end: date) -> pl.DataFrame:
    rows = con.execute(
        """SELECT site_id, count(*) FROM day_status WHERE status = 'audited'
           AND local_date >= ? AND local_date < ? GROUP BY site_id""",
        [start, end],
    ).fetchall()
    return pl.DataFrame(rows, schema={"site_id": pl.String, "_n_audited": pl.Int64}, orient="row")


def _derive_period(settings: Settings | None, first: date, period: str) -> DeriveReport:
    settings = settings or get_settings()
    tz = settings.timezone
    start, end = _month_bounds(first, period)
    if period == "month" and first.day != 1:
        raise ValueError(f"a month is given by its first day, got {first.isoformat()}")
    lo, _ = local_day_range(start, tz)
    hi, _ = local_day_range(end, tz)
    started = datetime.now(UTC)
    stage = "monthly" if period == "month" else "yearly"
    stats = list(MONTHLY_STATISTICS if period == "month" else YEARLY_STATISTICS)
    with connect(settings, purpose=f"envmon aggregate {stage}") as con:
        net = load_network(con, settings.config_dir)
        f = period_frames(con, net, start, tz, period)
        p = {"start": start, "period": period}
        replaces = [
            Replace("aggregates", f["aggregates"],
                    """DELETE FROM aggregates a USING sites s WHERE a.site_id = s.site_id
                       AND a.statistic IN (SELECT unnest($stats))
                       AND CAST(timezone(s.timezone, a.period_start) AS DATE) = $start""",
                    {"stats": stats, "start": start}),
            Replace("air_period_stats", f["air_period_stats"],
                    "DELETE FROM air_period_stats WHERE period = $period AND period_start = $start", p),
        ]  # fmt: skip
        if period == "month":
            replaces += [
                Replace("water_class", f["water_class"],
                        "DELETE FROM water_class WHERE period = $period AND period_start = $start", p),
                Replace("emission_totals", f["emission_totals"],
                        "DELETE FROM emission_totals WHERE period = $period AND period_start = $start", p),
            ]  # fmt: skip
        written = write(con, stage, lo, hi, replaces, started)
    return DeriveReport(stage, lo, hi, written)


def derive_monthly(settings: Settings | None = None, month: date | None = None) -> DeriveReport:
    """month_avg / month_total_kg aggregates, air_period_stats (HJ 663, stations ranked by the
    composite index, and the city), water_class (month) and emission_totals (month) for the
    local month starting on `month` (its first day)."""
    if month is None:
        raise TypeError("derive_monthly needs the month's first day")
    return _derive_period(settings, month, "month")


def derive_yearly(settings: Settings | None = None, year: int | None = None) -> DeriveReport:
    """year_avg aggregates and air_period_stats (period 'year') for air stations and the city."""
    if year is None:
        raise TypeError("derive_yearly needs the year")
    return _derive_period(settings, date(year, 1, 1), "year")
