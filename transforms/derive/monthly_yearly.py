"""The monthly and yearly derivations of a local calendar period: `aggregates` month_avg /
month_total_kg / year_avg rows, `air_period_stats` (HJ 663, stations ranked by the composite
index, and the city), and for a month `water_class` and `emission_totals`, rebuilt from
QC-passed readings."""

from __future__ import annotations

from datetime import UTC, date, datetime

import duckdb
import polars as pl

from core.periods import period_dates, period_range, require_ended
from core.settings import Settings, get_settings
from transforms.derive import air, emission_rows, outlet_hours, water_noise
from transforms.derive.context import CITY, Network, load_network
from transforms.derive.daily import daily_means
from transforms.derive.frames import (
    DAY_ROW_COLUMNS,
    agg_frame,
    empty_agg,
    stack_rows,
    with_day_start,
    with_local_date,
)
from transforms.derive.hours import hour_values
from transforms.derive.store import DeriveReport, Replace, write
from transforms.standards import comprehensive_index, monthly_air_statistics
from transforms.standards.editions import edition_for
from transforms.standards.emissions import min_count as hj75_min_count
from warehouse.db import connect

MONTHLY_STATISTICS = ("month_avg", "month_total_kg")
YEARLY_STATISTICS = ("year_avg",)


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
    stats = stats.join(levels, on="site", how="left").join(
        _shortfall_reasons(stats, period), on="site", how="left"
    )
    valid = pl.all_horizontal(pl.col(f"valid_{p}") for p in PERIOD_POLLUTANTS)
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
        pl.when(valid).then(None).otherwise(pl.col("_reasons")).alias("invalid_reasons"),
        pl.col("aqi_days").cast(pl.Int32),
        pl.col("good_days").cast(pl.Int32),
    )
    cols = ["site_id", "scope", "period", "period_start", "gb3095_edition", "aqi_days", "good_days", "good_share",
            *[f"days_level_{lv}" for lv in range(1, 7)], "so2_mean_ugm3", "no2_mean_ugm3", "pm10_mean_ugm3",
            "pm25_mean_ugm3", "co_p95_mgm3", "o3_8h_p90_ugm3", "days_over_so2", "days_over_no2", "days_over_pm10",
            "days_over_pm25", "days_over_co", "days_over_o3_8h", "composite_index", "main_pollutant", "rank",
            "valid", "invalid_reasons"]  # fmt: skip
    return stats.select(cols), stats


PERIOD_POLLUTANTS = ("so2", "no2", "pm10", "pm25", "co", "o3_8h")


def _shortfall(row: dict, p: str, period: str) -> str | None:
    """Why pollutant `p`'s statistic of a `monthly_air_statistics` row is missing (GB 3095
    Table 4), Chinese first: "12月有效日数 0 < 27 (2016-12: 0 valid days < 27 required)"; a
    year lists its day count when short and every month below its minimum."""
    if row[f"valid_{p}"]:
        return None
    n, need, first = row[f"n_days_{p}"], row["n_days_required"], row["period_start"]
    parts = []
    if period == "year" and n < need:
        parts.append(f"全年有效日数 {n} < {need} ({first.year}: {n} valid days < {need} required)")
    for m in row[f"short_months_{p}"] or []:
        month, k, req = m["month"], m["n_days"], m["required"]
        parts.append(
            f"{month.month}月有效日数 {k} < {req} ({month:%Y-%m}: {k} valid days < {req} required)"
        )
    return "; ".join(parts) or f"{n} valid days"


def _shortfall_reasons(stats: pl.DataFrame, period: str) -> pl.DataFrame:
    """Per site: `_reason_<p>` for each pollutant and `_reasons`, the pollutants with the same
    shortfall named together ("so2, no2, …: 12月有效日数 0 < 27 (…)")."""
    rows = []
    for row in stats.iter_rows(named=True):
        per = {p: _shortfall(row, p, period) for p in PERIOD_POLLUTANTS}
        grouped: dict[str, list[str]] = {}
        for p, text in per.items():
            if text is not None:
                grouped.setdefault(text, []).append(p)
        joined = "; ".join(f"{', '.join(ps)}: {text}" for text, ps in grouped.items())
        rows.append({"site": row["site"], **{f"_reason_{p}": per[p] for p in per},
                     "_reasons": joined or None})  # fmt: skip
    schema = {"site": pl.String, **{f"_reason_{p}": pl.String for p in PERIOD_POLLUTANTS},
              "_reasons": pl.String}  # fmt: skip
    return pl.DataFrame(rows, schema=schema)


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
            (pl.lit(p + ": ") + pl.col(f"_reason_{p}")).alias("invalid_reason"),
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
    start, end = period_dates(first, period)
    lo, hi = period_range(start, period, tz)
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
        days = daily_means(
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
    rows = stack_rows(parts, DAY_ROW_COLUMNS)
    if rows is not None:
        rows = with_day_start(rows, net, tz).with_columns(
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
    if period == "month" and first.day != 1:
        raise ValueError(f"a month is given by its first day, got {first.isoformat()}")
    start, _ = period_dates(first, period)
    lo, hi = period_range(start, period, tz)
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


def _require_ended(settings: Settings | None, first: date, period: str, now: datetime | None) -> None:
    """Refuse a month or year that has not ended at `now` (None: the clock) — core.periods."""
    tz = (settings or get_settings()).timezone
    lo, hi = period_range(first, period, tz)
    what = f"the month {first:%Y-%m}" if period == "month" else f"the year {first:%Y}"
    require_ended(lo, hi, now or datetime.now(UTC), what, tz,
                  "its statistics are derived once it has ended (--allow-partial derives it to date)")


def derive_monthly(
    settings: Settings | None = None, month: date | None = None, *,
    now: datetime | None = None, allow_partial: bool = False,
) -> DeriveReport:
    """month_avg / month_total_kg aggregates, air_period_stats (HJ 663, stations ranked by the
    composite index, and the city), water_class (month) and emission_totals (month) for the
    local month starting on `month` (its first day). A month that has not ended at `now`
    (None: the clock) is refused unless `allow_partial` (the month to date)."""
    if month is None:
        raise TypeError("derive_monthly needs the month's first day")
    if not allow_partial:
        _require_ended(settings, month, "month", now)
    return _derive_period(settings, month, "month")


def derive_yearly(
    settings: Settings | None = None, year: int | None = None, *,
    now: datetime | None = None, allow_partial: bool = False,
) -> DeriveReport:
    """year_avg aggregates and air_period_stats (period 'year') for air stations and the city;
    a year that has not ended at `now` (None: the clock) is refused unless `allow_partial`."""
    if year is None:
        raise TypeError("derive_yearly needs the year")
    if not allow_partial:
        _require_ended(settings, date(year, 1, 1), "year", now)
    return _derive_period(settings, date(year, 1, 1), "year")
