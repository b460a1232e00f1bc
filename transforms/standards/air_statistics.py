"""HJ 663-2013 period statistics (month / year) and the composite index (综合指数).

Percentiles use HJ 663's method: k = 1 + (n − 1)·p, linear between order statistics — the same
as polars/numpy "linear" interpolation.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from transforms.standards import tables
from transforms.standards.air_daily import DAILY_VALUE_COLUMNS
from transforms.standards.air_validity import by_date_expr, gb3095_editions, min_count
from transforms.standards.editions import Edition, all_editions, resolve

MEAN_COLUMNS = {  # pollutant -> (daily column, period mean column)
    "so2": ("so2_24h_ugm3", "so2_mean_ugm3"),
    "no2": ("no2_24h_ugm3", "no2_mean_ugm3"),
    "pm10": ("pm10_24h_ugm3", "pm10_mean_ugm3"),
    "pm25": ("pm25_24h_ugm3", "pm25_mean_ugm3"),
    "co": ("co_24h_mgm3", "co_mean_mgm3"),
    "o3_8h": ("o3_8h_max_ugm3", "o3_8h_mean_ugm3"),
}
PERCENTILES = {  # statistic column -> (daily column, p) per HJ 663
    "co_p95_mgm3": ("co_24h_mgm3", 0.95),
    "o3_8h_p90_ugm3": ("o3_8h_max_ugm3", 0.90),
}
# daily indicator -> (gb3095_limits pollutant, averaging) compared for "days over the standard"
DAILY_LIMITS = {
    "so2": ("so2", "24h"),
    "no2": ("no2", "24h"),
    "pm10": ("pm10", "24h"),
    "pm25": ("pm25", "24h"),
    "co": ("co", "24h"),
    "o3_1h": ("o3", "1h"),
    "o3_8h": ("o3", "8h_daily_max"),
}


def gb3095_limit(ed: Edition, pollutant: str, averaging: str, grade: int = 2) -> float:
    row = tables.one(
        "gb3095_limits", edition=ed.code, phase=ed.phase, pollutant=pollutant, averaging=averaging
    )
    return float(row[f"grade_{grade}"])


def monthly_air_statistics(
    daily: pl.DataFrame | pl.LazyFrame,
    period: str = "month",
    edition: str | None = None,
    grade: int = 2,
) -> pl.DataFrame:
    """Per site and calendar month (or year): HJ 663 statistics of daily values.

    Input: `daily_air_values` output, optionally joined with `aqi_daily` output (column `aqi`
    enables good days). Output per site and `period_start` (first day of month/year):
    - `<p>_mean_*` for so2, no2, pm10, pm25, co, o3_8h, with `n_days_<p>` and `valid_<p>`
      (GB 3095 Table 4: ≥ 27 valid days a month, February ≥ 25; a year ≥ 324 and every month
      meeting its minimum); invalid means are null;
    - `co_p95_mgm3`, `o3_8h_p90_ugm3` (HJ 663 percentile; null when invalid);
    - `days_over_<ind>`: valid days above the Grade `grade` limit of the GB 3095 edition (and
      phase) in force on each day, for so2, no2, pm10, pm25, co, o3_1h, o3_8h;
    - with `aqi`: `aqi_days`, `good_days` (AQI ≤ 100), `good_share` (good / AQI days).
    """
    if period not in ("month", "year"):
        raise ValueError("period must be 'month' or 'year'")
    lf = daily.lazy()
    eds = gb3095_editions(edition, dt.date.today())
    date = pl.col("date")
    over = []
    for ind, (pollutant, averaging) in DAILY_LIMITS.items():
        limit = by_date_expr(
            date, eds, lambda ed, p=pollutant, a=averaging: gb3095_limit(ed, p, a, grade)
        )
        over.append((pl.col(DAILY_VALUE_COLUMNS[ind]) > limit).alias(f"_over_{ind}"))
    lf = lf.with_columns(
        date.dt.truncate("1mo").alias("_month"),
        date.dt.truncate("1y" if period == "year" else "1mo").alias("period_start"),
        *over,
    )
    schema = lf.collect_schema()
    has_aqi = "aqi" in schema
    per_month = lf.group_by("site", "_month").agg(
        pl.col(c).count().alias(f"_nm_{p}") for p, (c, _) in MEAN_COLUMNS.items()
    )
    need_month = (
        pl.when(pl.col("_month").dt.month() == 2)
        .then(
            by_date_expr(
                pl.col("_month"), eds, lambda ed: min_count(ed.code, "monthly_mean_february")
            )
        )
        .otherwise(
            by_date_expr(pl.col("_month"), eds, lambda ed: min_count(ed.code, "monthly_mean"))
        )
    )
    per_month = per_month.with_columns(
        *[(pl.col(f"_nm_{p}") >= need_month).alias(f"_okm_{p}") for p in MEAN_COLUMNS]
    )
    aggs = []
    for p, (c, out) in MEAN_COLUMNS.items():
        aggs += [pl.col(c).mean().alias(f"_{out}"), pl.col(c).count().alias(f"n_days_{p}")]
    for out, (c, q) in PERCENTILES.items():
        aggs.append(pl.col(c).quantile(q, interpolation="linear").alias(f"_{out}"))
    aggs += [pl.col(f"_over_{ind}").sum().alias(f"days_over_{ind}") for ind in DAILY_LIMITS]
    if has_aqi:
        aggs += [
            pl.col("aqi").count().alias("aqi_days"),
            (pl.col("aqi") <= _good_aqi_max()).sum().alias("good_days"),
        ]
    stats = lf.group_by("site", "period_start").agg(aggs)
    if period == "year":
        months_ok = (
            per_month.with_columns(pl.col("_month").dt.truncate("1y").alias("period_start"))
            .group_by("site", "period_start")
            .agg(pl.col(f"_okm_{p}").all().alias(f"_okm_{p}") for p in MEAN_COLUMNS)
        )
        stats = stats.join(months_ok, on=["site", "period_start"], how="left")
        need_year = by_date_expr(
            pl.col("period_start"), eds, lambda ed: min_count(ed.code, "annual_mean")
        )
        ok = {p: (pl.col(f"n_days_{p}") >= need_year) & pl.col(f"_okm_{p}") for p in MEAN_COLUMNS}
    else:
        stats = stats.join(
            per_month.rename({"_month": "period_start"}), on=["site", "period_start"], how="left"
        )
        ok = {p: pl.col(f"_okm_{p}") for p in MEAN_COLUMNS}
    outs = []
    for p, (_, out) in MEAN_COLUMNS.items():
        outs += [ok[p].alias(f"valid_{p}"), pl.when(ok[p]).then(pl.col(f"_{out}")).alias(out)]
    outs += [
        pl.when(ok["co"]).then(pl.col("_co_p95_mgm3")).alias("co_p95_mgm3"),
        pl.when(ok["o3_8h"]).then(pl.col("_o3_8h_p90_ugm3")).alias("o3_8h_p90_ugm3"),
    ]
    if has_aqi:
        outs.append((pl.col("good_days") / pl.col("aqi_days")).alias("good_share"))
    stats = stats.with_columns(outs)
    keep = [c for c in stats.collect_schema().names() if not c.startswith("_")]
    return stats.select(keep).sort("site", "period_start").collect()


def _good_aqi_max() -> int:
    """Upper AQI bound of level II (良): a good day is 优 or 良 (tables/aqi_levels.csv)."""
    return int(tables.one("aqi_levels", edition="HJ633-2012", level="2")["aqi_to"])


INDEX_COLUMNS = {  # pollutant -> statistic column of monthly_air_statistics
    ("so2", "mean"): "so2_mean_ugm3",
    ("no2", "mean"): "no2_mean_ugm3",
    ("pm10", "mean"): "pm10_mean_ugm3",
    ("pm25", "mean"): "pm25_mean_ugm3",
    ("co", "p95"): "co_p95_mgm3",
    ("o3", "p90"): "o3_8h_p90_ugm3",
}


def comprehensive_index(
    stats: pl.DataFrame | pl.LazyFrame, edition: str | None = None
) -> pl.DataFrame:
    """Composite index I_sum = Σ C_i / S_i (城市环境空气质量排名技术规定) per row of `stats`.

    `stats`: output of `monthly_air_statistics` (needs period_start and the six statistics).
    S_i from tables/composite_index.csv for the GB 3095 edition (and phase) in force at the
    period start, or the named edition. Adds `index_<pollutant>`, `composite_index` (null if any
    statistic is missing) and `main_pollutant` (largest sub-index).
    """
    lf = stats.lazy()
    eds = [resolve(edition, dt.date.today(), "GB3095")] if edition else all_editions("GB3095")
    start = pl.col("period_start")
    subs = []
    for (pollutant, statistic), col in INDEX_COLUMNS.items():
        s = by_date_expr(
            start,
            eds,
            lambda ed, p=pollutant, st=statistic: float(
                tables.one(
                    "composite_index", edition=ed.code, phase=ed.phase, pollutant=p, statistic=st
                )["limit"]
            ),
        )
        subs.append((pl.col(col) / s).alias(f"index_{pollutant}"))
    lf = lf.with_columns(subs)
    names = [p for p, _ in INDEX_COLUMNS]
    idx = [pl.col(f"index_{p}") for p in names]
    best = pl.max_horizontal(idx)
    main = pl.concat_str(
        [pl.when(pl.col(f"index_{p}") == best).then(pl.lit(p)) for p in names],
        separator=";",
        ignore_nulls=True,
    )
    any_null = pl.any_horizontal(i.is_null() for i in idx)
    return lf.with_columns(
        pl.when(any_null).then(None).otherwise(pl.sum_horizontal(idx)).alias("composite_index"),
        pl.when(any_null).then(None).otherwise(main).alias("main_pollutant"),
    ).collect()
