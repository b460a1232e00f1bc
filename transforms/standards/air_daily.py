"""Daily air values with validity (GB 3095 Table 4, HJ 663-2013) from hourly values.

Hour convention: `period_start` is the START of the hour (HJ 212). A local day D holds the hours
starting 00:00..23:00. An 8-h moving average is labelled by its last hour (window = hours
starting t−7h..t); the daily maximum 8-h (MDA8) uses the 17 windows whose last hour starts
07:00..23:00 — i.e. the end-labelled windows 08:00..24:00 of HJ 663 — so it never reaches into
the previous day.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from transforms.standards.air_validity import (
    DAILY_MEAN_POLLUTANTS,
    POLLUTANT_COLUMNS,
    by_date_expr,
    gb3095_editions,
    min_count,
)

DEFAULT_TZ = "Asia/Shanghai"
MDA8_FIRST_END_HOUR = 7  # start of the last hour of the first MDA8 window (end label 08:00)
MDA8_WINDOWS = 24 - MDA8_FIRST_END_HOUR  # the 17 windows of a day's MDA8 (end labels 08:00..24:00)

DAILY_VALUE_COLUMNS = {
    "so2": "so2_24h_ugm3",
    "no2": "no2_24h_ugm3",
    "pm10": "pm10_24h_ugm3",
    "pm25": "pm25_24h_ugm3",
    "co": "co_24h_mgm3",
    "o3_1h": "o3_1h_max_ugm3",
    "o3_8h": "o3_8h_max_ugm3",
}
# HJ 663-2013: the maximum of a day's valid 8-h means when they are fewer than the MDA8 minimum
# (the day is invalid, but still counts as exceeding when this exceeds the O3 8-h limit)
O3_8H_INCOMPLETE_COLUMN = "o3_8h_max_incomplete_ugm3"


def check_hourly(hourly: pl.DataFrame | pl.LazyFrame) -> None:
    schema = hourly.collect_schema() if isinstance(hourly, pl.LazyFrame) else hourly.schema
    need = ["site", "period_start", *POLLUTANT_COLUMNS.values()]
    absent = [c for c in need if c not in schema]
    if absent:
        raise ValueError(f"hourly frame lacks columns {absent}; needs {need}")
    ts = schema["period_start"]
    if not isinstance(ts, pl.Datetime) or ts.time_zone is None:
        raise ValueError(f"period_start must be a tz-aware Datetime, got {ts}")


def with_moving_means(
    hourly: pl.LazyFrame, column: str, hours: int, out: str, min_valid: pl.Expr
) -> pl.LazyFrame:
    """Add the `hours`-hour moving mean of `column` ending at each hour (time-based window per
    site, so missing rows count as missing hours); null when fewer than `min_valid` values."""
    valid = pl.col(column).is_not_null()
    total = pl.col(column).fill_null(0.0).rolling_sum_by("period_start", f"{hours}h").over("site")
    count = valid.cast(pl.Int32).rolling_sum_by("period_start", f"{hours}h").over("site")
    return hourly.with_columns(
        pl.when(count >= min_valid).then(total / count).otherwise(None).alias(out),
        count.alias(f"n_{out}"),
    )


def _threshold(stat: str, eds, date: pl.Expr) -> pl.Expr:
    return by_date_expr(date, eds, lambda ed: min_count(ed.code, stat))


def daily_air_values(
    hourly: pl.DataFrame | pl.LazyFrame,
    edition: str | None = None,
    tz: str = DEFAULT_TZ,
) -> pl.DataFrame:
    """Daily values and their validity per site and local day.

    Input: one row per site and hour — `site`, `period_start` (tz-aware, start of the hour),
    `so2_ugm3, no2_ugm3, pm10_ugm3, pm25_ugm3, co_mgm3, o3_ugm3` (null = missing/invalid hour).
    `edition`: a GB 3095 (or HJ 633, via its companion) edition code; None = in force per day.

    Output: `site, date, gb3095_edition`, the values `so2_24h_ugm3, no2_24h_ugm3, pm10_24h_ugm3,
    pm25_24h_ugm3, co_24h_mgm3, o3_1h_max_ugm3, o3_8h_max_ugm3` (NULL when invalid — never a
    partial estimate), `valid_<ind>` booleans, the counts `n_hours_<pollutant>` and
    `n_o3_8h_windows`, `o3_8h_max_incomplete_ugm3` (the maximum of the valid 8-h means of a day
    that has fewer than the MDA8 minimum of them, at least `o3_8h_daily_max_exceeding`; null
    otherwise — HJ 663's exception: by default it only counts exceedance days,
    `air_statistics.o3_incomplete_exceeds`), and `invalid_reasons` (e.g. "pm25: 18 valid hours
    < 20 required"; null when all valid). Days without any input row are absent.
    """
    check_hourly(hourly)
    eds = gb3095_editions(edition, dt.date.today())
    lf = hourly.lazy()  # no sort needed: windows are per site and by time (rolling_*_by)
    local = pl.col("period_start").dt.convert_time_zone(tz)
    lf = lf.with_columns(local.dt.date().alias("date"), local.dt.hour().alias("_hour"))
    date = pl.col("date")
    # O3 8-h moving means (window minimum per edition, chosen by the window's date)
    lf = with_moving_means(lf, "o3_ugm3", 8, "_o3_8h", _threshold("o3_8h_moving", eds, date))

    aggs = []
    for p in DAILY_MEAN_POLLUTANTS:
        col = POLLUTANT_COLUMNS[p]
        aggs += [pl.col(col).mean().alias(f"_{p}"), pl.col(col).count().alias(f"n_hours_{p}")]
    in_mda8 = pl.col("_hour") >= MDA8_FIRST_END_HOUR
    aggs += [
        pl.col("o3_ugm3").max().alias("_o3_1h"),
        pl.col("o3_ugm3").count().alias("n_hours_o3"),
        pl.col("_o3_8h").filter(in_mda8).max().alias("_o3_8h"),
        pl.col("_o3_8h").filter(in_mda8).count().alias("n_o3_8h_windows"),
    ]
    daily = lf.group_by("site", "date").agg(aggs)

    rules = [
        *[(p, f"n_hours_{p}", "daily_mean", "valid hours") for p in DAILY_MEAN_POLLUTANTS],
        ("o3_1h", "n_hours_o3", "o3_1h_daily_max", "valid hours"),
        ("o3_8h", "n_o3_8h_windows", "o3_8h_daily_max", "valid 8-h windows"),
    ]
    out_cols, valid_cols, reasons = [], [], []
    for ind, n_col, stat, what in rules:
        need = _threshold(stat, eds, date)
        ok = pl.col(n_col) >= need
        valid_cols.append(ok.alias(f"valid_{ind}"))
        out_cols.append(
            pl.when(ok).then(pl.col(f"_{ind}")).otherwise(None).alias(DAILY_VALUE_COLUMNS[ind])
        )
        reasons.append(
            pl.when(~ok).then(
                pl.format("{}: {} " + what + " < {} required", pl.lit(ind), pl.col(n_col), need)
            )
        )
    joined = pl.concat_str(reasons, separator="; ", ignore_nulls=True)
    n_windows = pl.col("n_o3_8h_windows")
    incomplete = (n_windows < _threshold("o3_8h_daily_max", eds, date)) & (
        n_windows >= _threshold("o3_8h_daily_max_exceeding", eds, date)
    )
    daily = daily.with_columns(
        by_date_expr(date, eds, lambda ed: ed.code).alias("gb3095_edition"),
        pl.when(incomplete).then(pl.col("_o3_8h")).alias(O3_8H_INCOMPLETE_COLUMN),
        *out_cols,
        *valid_cols,
        pl.when(joined == "").then(None).otherwise(joined).alias("invalid_reasons"),
    )
    ordered = [
        "site", "date", "gb3095_edition", *DAILY_VALUE_COLUMNS.values(),
        *[f"valid_{i}" for i in DAILY_VALUE_COLUMNS],
        *[f"n_hours_{p}" for p in (*DAILY_MEAN_POLLUTANTS, "o3")], "n_o3_8h_windows",
        O3_8H_INCOMPLETE_COLUMN, "invalid_reasons",
    ]  # fmt: skip
    result = daily.select(ordered).sort("site", "date").collect()
    uncovered = result.filter(pl.col("gb3095_edition").is_null())
    if uncovered.height:
        raise ValueError(
            f"no GB 3095 edition in force on {uncovered['date'].min()} (first uncovered day)"
        )
    return result
