"""HJ 663-2013 period statistics (month / year) and the composite index (综合指数).

Percentiles use HJ 663's method: k = 1 + (n − 1)·p, linear between order statistics — the same
as polars/numpy "linear" interpolation.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from transforms.standards import tables
from transforms.standards.air_daily import DAILY_VALUE_COLUMNS, O3_8H_INCOMPLETE_COLUMN
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


O3_EXCEPTIONS = ("exceedance", "all", "none")  # choices of monthly_air_statistics(o3_exception)


def o3_incomplete_exceeds(date: pl.Expr, eds: list[Edition], grade: int = 2) -> pl.Expr:
    """HJ 663-2013 (tables/air_validity.csv `o3_8h_daily_max_exceeding`): a day with too few
    valid 8-h means for an MDA8 still counts as exceeding when their maximum
    (`o3_8h_max_incomplete_ugm3`, from `daily_air_values`) exceeds the O3 8-h limit of Grade
    `grade` in the edition in force on `date`. False on every other day."""
    return (pl.col(O3_8H_INCOMPLETE_COLUMN) > o3_8h_limit(date, eds, grade)).fill_null(False)


def o3_8h_limit(date: pl.Expr, eds: list[Edition], grade: int = 2) -> pl.Expr:
    """The GB 3095 O3 daily maximum 8-h limit of Grade `grade` in force on `date`."""
    return by_date_expr(date, eds, lambda ed: gb3095_limit(ed, "o3", "8h_daily_max", grade))


def monthly_air_statistics(
    daily: pl.DataFrame | pl.LazyFrame,
    period: str = "month",
    edition: str | None = None,
    grade: int = 2,
    o3_exception: str = "exceedance",
) -> pl.DataFrame:
    """Per site and calendar month (or year): HJ 663 statistics of daily values.

    Input: `daily_air_values` output, optionally joined with `aqi_daily` output (column `aqi`
    enables good days). Output per site and `period_start` (first day of month/year):
    - `<p>_mean_*` for so2, no2, pm10, pm25, co, o3_8h, with `n_days_<p>`, `valid_<p>` and
      `short_months_<p>` (GB 3095 Table 4: ≥ 27 valid days a month, February ≥ 25 in any year;
      a year ≥ 324 and EVERY calendar month of it meeting its minimum — a month without any
      input row has 0 valid days); `short_months_<p>` lists the months below their minimum as
      structs (month, n_days, required); `n_days_required` is the period's minimum (324 a year);
      invalid means are null;
    - `co_p95_mgm3`, `o3_8h_p90_ugm3` (HJ 663 percentile; null when invalid);
    - `days_over_<ind>`: valid days above the Grade `grade` limit of the GB 3095 edition (and
      phase) in force on each day, for so2, no2, pm10, pm25, co, o3_1h, o3_8h;
      `days_over_o3_8h_incomplete`: those of them counted by HJ 663's exception
      (`o3_incomplete_exceeds`; 0 with o3_exception "none");
    - with `aqi`: `aqi_days`, `good_days` (AQI ≤ 100), `good_share` (good / AQI days).

    `o3_exception` (HJ 663: a day with < 14 valid 8-h means whose maximum exceeds the limit is
    valid): "exceedance" (default, the exceedance-evaluation practice) counts such a day in
    `days_over_o3_8h` only, not in the O3 mean, P90 or valid-day counts; "all" (the wording
    read literally) also uses its value as the day's MDA8 in the O3 mean, P90 and valid-day count
    (never in the daily AQI); "none" ignores it.
    """
    if period not in ("month", "year"):
        raise ValueError("period must be 'month' or 'year'")
    if o3_exception not in O3_EXCEPTIONS:
        raise ValueError(
            f"o3_exception must be one of {', '.join(O3_EXCEPTIONS)}, got {o3_exception!r}"
        )
    lf = daily.lazy()
    eds = gb3095_editions(edition, dt.date.today())
    date = pl.col("date")
    if O3_8H_INCOMPLETE_COLUMN not in lf.collect_schema():
        lf = lf.with_columns(pl.lit(None, dtype=pl.Float64).alias(O3_8H_INCOMPLETE_COLUMN))
    o3_col = DAILY_VALUE_COLUMNS["o3_8h"]
    o3_short = o3_incomplete_exceeds(date, eds, grade)
    if o3_exception == "all":
        lf = lf.with_columns(
            pl.when(o3_short)
            .then(pl.col(O3_8H_INCOMPLETE_COLUMN))
            .otherwise(pl.col(o3_col))
            .alias(o3_col)
        )
    counted_short = pl.lit(False) if o3_exception == "none" else o3_short
    over = []
    for ind, (pollutant, averaging) in DAILY_LIMITS.items():
        limit = by_date_expr(
            date, eds, lambda ed, p=pollutant, a=averaging: gb3095_limit(ed, p, a, grade)
        )
        is_over = pl.col(DAILY_VALUE_COLUMNS[ind]) > limit
        if ind == "o3_8h":
            is_over = is_over.fill_null(False) | counted_short
        over.append(is_over.alias(f"_over_{ind}"))
    lf = lf.with_columns(
        date.dt.truncate("1mo").alias("_month"),
        date.dt.truncate("1y" if period == "year" else "1mo").alias("period_start"),
        counted_short.alias("_over_o3_8h_incomplete"),
        *over,
    )
    has_aqi = "aqi" in lf.collect_schema()
    # every calendar month of each site's period, with or without input rows
    periods = lf.select("site", "period_start").unique()
    if period == "year":
        last = pl.col("period_start").dt.offset_by("11mo")
        months = periods.with_columns(
            pl.date_ranges("period_start", last, "1mo").alias("_month")
        ).explode("_month")
    else:
        months = periods.with_columns(pl.col("period_start").alias("_month"))
    counts = lf.group_by("site", "_month").agg(
        pl.col(c).count().alias(f"_nm_{p}") for p, (c, _) in MEAN_COLUMNS.items()
    )
    per_month = months.join(counts, on=["site", "_month"], how="left").with_columns(
        pl.col(f"_nm_{p}").fill_null(0) for p in MEAN_COLUMNS
    )
    per_month = per_month.with_columns(_month_minimum(pl.col("_month"), eds).alias("_need_m"))
    per_month = per_month.with_columns(
        (pl.col(f"_nm_{p}") >= pl.col("_need_m")).alias(f"_okm_{p}") for p in MEAN_COLUMNS
    )
    months_ok = per_month.group_by("site", "period_start").agg(
        *[pl.col(f"_okm_{p}").all() for p in MEAN_COLUMNS],
        *[
            pl.struct(
                pl.col("_month").alias("month"),
                pl.col(f"_nm_{p}").alias("n_days"),
                pl.col("_need_m").alias("required"),
            )
            .filter(~pl.col(f"_okm_{p}"))
            .sort_by(pl.col("_month").filter(~pl.col(f"_okm_{p}")))
            .alias(f"short_months_{p}")
            for p in MEAN_COLUMNS
        ],
    )
    aggs = []
    for p, (c, out) in MEAN_COLUMNS.items():
        aggs += [pl.col(c).mean().alias(f"_{out}"), pl.col(c).count().alias(f"n_days_{p}")]
    for out, (c, q) in PERCENTILES.items():
        aggs.append(pl.col(c).quantile(q, interpolation="linear").alias(f"_{out}"))
    aggs += [pl.col(f"_over_{ind}").sum().alias(f"days_over_{ind}") for ind in DAILY_LIMITS]
    aggs.append(pl.col("_over_o3_8h_incomplete").sum().alias("days_over_o3_8h_incomplete"))
    if has_aqi:
        aggs += [
            pl.col("aqi").count().alias("aqi_days"),
            (pl.col("aqi") <= _good_aqi_max()).sum().alias("good_days"),
        ]
    stats = lf.group_by("site", "period_start").agg(aggs)
    stats = stats.join(months_ok, on=["site", "period_start"], how="left")
    if period == "year":
        need = by_date_expr(
            pl.col("period_start"), eds, lambda ed: min_count(ed.code, "annual_mean")
        )
    else:
        need = _month_minimum(pl.col("period_start"), eds)
    stats = stats.with_columns(need.alias("n_days_required"))
    ok = {
        p: (pl.col(f"n_days_{p}") >= pl.col("n_days_required")) & pl.col(f"_okm_{p}")
        for p in MEAN_COLUMNS
    }
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


def _month_minimum(month: pl.Expr, eds: list[Edition]) -> pl.Expr:
    """GB 3095 Table 4: the valid days a calendar month needs (February its own minimum, in
    common and leap years alike)."""
    return (
        pl.when(month.dt.month() == 2)
        .then(by_date_expr(month, eds, lambda ed: min_count(ed.code, "monthly_mean_february")))
        .otherwise(by_date_expr(month, eds, lambda ed: min_count(ed.code, "monthly_mean")))
    )


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
