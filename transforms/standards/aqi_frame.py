"""HJ 633 AQI, vectorised over polars frames — the production path.

`aqi_frame(frame, edition, report, reading)` adds IAQI/AQI columns to a frame that already holds the
report's concentration columns. `aqi_daily` / `aqi_hourly` (in `air_reports`) choose the edition
per row by date and build those columns.
"""

from __future__ import annotations

import itertools

import polars as pl

from transforms.standards.aqi import RAW_DECIMALS
from transforms.standards.aqi_rules import (
    DEFAULT_READING,
    Indicator,
    RuleSet,
    breakpoints,
    rule_set,
    top_of_scale,
    unit_of,
)
from transforms.standards.rounding import round_half_even_expr

# Columns added by aqi_frame (besides iaqi_<indicator>, iaqi_raw_<indicator>).
RESULT_COLUMNS = (
    "edition",
    "aqi",
    "aqi_raw",
    "level",
    "category",
    "category_en",
    "colour_hex",
    "primary_pollutants",
    "exceeding_pollutants",
    "valid",
    "missing_indicators",
)


def interpolate_expr(c: pl.Expr, bps: tuple[tuple[float, float], ...]) -> pl.Expr:
    """Raw IAQI; null when c is null or above the top breakpoint (same formula as aqi.interpolate)."""
    chain = None
    for (c_lo, i_lo), (c_hi, i_hi) in itertools.pairwise(bps):
        seg = (c - c_lo) * (i_hi - i_lo) / (c_hi - c_lo) + i_lo
        chain = pl.when(c <= c_hi).then(seg) if chain is None else chain.when(c <= c_hi).then(seg)
    assert chain is not None
    return chain.otherwise(None)


def _ceil(raw: pl.Expr) -> pl.Expr:
    return raw.round(RAW_DECIMALS).ceil().cast(pl.Int32)


def _conc(column: str, rules: RuleSet) -> pl.Expr:
    decimals = rules.rounding.get(unit_of(column))
    c = pl.col(column).cast(pl.Float64)
    return c if decimals is None else round_half_even_expr(c, decimals)


def _indicator_exprs(ind: Indicator, rules: RuleSet) -> tuple[pl.Expr, pl.Expr]:
    """(raw IAQI, is_missing) of one indicator with its above-top rule."""
    c = _conc(ind.concentration_column, rules)
    top = ind.breakpoints[-1][0]
    raw = interpolate_expr(c, ind.breakpoints)
    above = c > top
    missing = c.is_null()
    rule = ind.above_top
    if rule.action == "fixed":
        raw = pl.when(above).then(pl.lit(rule.value, dtype=pl.Float64)).otherwise(raw)
    elif rule.action == "omit":
        pass  # null IAQI, but not missing
    elif rule.action == "fallback":
        fb = _conc(rule.fallback_concentration, rules)
        fb_raw = interpolate_expr(fb, breakpoints(rules.edition, rule.fallback_column))
        fb_raw = (
            pl.when(fb > breakpoints(rules.edition, rule.fallback_column)[-1][0])
            .then(pl.lit(top_of_scale(rules.edition, rules.report)))
            .otherwise(fb_raw)
        )
        raw = pl.when(above).then(fb_raw).otherwise(raw)
        missing = missing | (above & fb.is_null())
    else:
        raise ValueError(f"unknown above-top action {rule.action!r}")
    return raw, missing


def aqi_frame(
    frame: pl.DataFrame | pl.LazyFrame, edition: str, report: str, reading: str = DEFAULT_READING
) -> pl.LazyFrame:
    """Add IAQI and AQI columns for one edition and report to `frame` (lazy result).

    Input: the report's concentration columns (tables/aqi_indicators.csv, for `reading` of the
    real-time report: "national_practice" or "literal"), null = missing/invalid.
    Output adds: iaqi_raw_<ind> (float), iaqi_<ind> (int, rounded up), and RESULT_COLUMNS.
    Concentration columns are replaced by the values used (HJ 633-2026: GB/T 8170 rounded).
    """
    rules = rule_set(edition, report, reading)
    lf = frame.lazy()
    raw_cols, miss_cols = [], []
    for ind in rules.indicators:
        raw, missing = _indicator_exprs(ind, rules)
        raw_cols.append(raw.alias(f"iaqi_raw_{ind.name}"))
        miss_cols.append(missing.alias(f"_miss_{ind.name}"))
    rounded = [
        _conc(ind.concentration_column, rules).alias(ind.concentration_column)
        for ind in rules.indicators
        if rules.rounding
    ] + [
        _conc(ind.above_top.fallback_concentration, rules).alias(
            ind.above_top.fallback_concentration
        )
        for ind in rules.indicators
        if rules.rounding and ind.above_top.fallback_concentration
    ]
    lf = lf.with_columns(*raw_cols, *miss_cols)
    if rounded:
        lf = lf.with_columns(*{e.meta.output_name(): e for e in rounded}.values())
    names = [ind.name for ind in rules.indicators]
    lf = lf.with_columns(_ceil(pl.col(f"iaqi_raw_{n}")).alias(f"iaqi_{n}") for n in names)

    n_missing = pl.sum_horizontal(pl.col(f"_miss_{n}").cast(pl.Int8) for n in names)
    best = pl.max_horizontal(pl.col(f"iaqi_{n}") for n in names)
    best_raw = pl.max_horizontal(pl.col(f"iaqi_raw_{n}") for n in names)
    if rules.missing_policy == "partial_if_above":
        publish = (n_missing == 0) | (best > rules.partial_publish_above)
    else:
        publish = n_missing == 0
    lf = lf.with_columns(
        pl.lit(edition).alias("edition"),
        pl.when(publish).then(best).otherwise(None).alias("aqi"),
        pl.when(publish).then(best_raw).otherwise(None).alias("aqi_raw"),
        (n_missing == 0).alias("valid"),
        _nonempty(
            pl.concat_str(
                [pl.when(pl.col(f"_miss_{n}")).then(pl.lit(n)) for n in names],
                separator=";",
                ignore_nulls=True,
            )
        ).alias("missing_indicators"),
    )
    level = None
    for lv in rules.levels:
        cond = pl.lit(True) if lv.aqi_to is None else pl.col("aqi") <= lv.aqi_to
        level = pl.when(cond).then(lv.level) if level is None else level.when(cond).then(lv.level)
    assert level is not None
    level = pl.when(pl.col("aqi").is_null()).then(None).otherwise(level).cast(pl.Int8)
    by_level = {lv.level: lv for lv in rules.levels}
    lf = lf.with_columns(level.alias("level"))
    lf = lf.with_columns(
        pl.col("level")
        .replace_strict({k: v.category_zh for k, v in by_level.items()}, default=None)
        .alias("category"),
        pl.col("level")
        .replace_strict({k: v.category_en for k, v in by_level.items()}, default=None)
        .alias("category_en"),
        pl.col("level")
        .replace_strict({k: v.colour_hex for k, v in by_level.items()}, default=None)
        .alias("colour_hex"),
        _names_where(rules, lambda n: pl.col(f"iaqi_{n}") == pl.col("aqi"))
        .pipe(lambda e: pl.when(pl.col("aqi") > rules.primary_above).then(e).otherwise(None))
        .alias("primary_pollutants"),
        (
            _names_where(rules, lambda n: pl.col(f"iaqi_raw_{n}") > rules.exceeding_above)
            if rules.exceeding_above is not None
            else pl.lit(None, dtype=pl.String)
        ).alias("exceeding_pollutants"),
    )
    return lf.drop([f"_miss_{n}" for n in names])


def _names_where(rules: RuleSet, cond) -> pl.Expr:
    """';'-joined report names of the indicators meeting `cond`; null when none."""
    joined = pl.concat_str(
        [pl.when(cond(ind.name)).then(pl.lit(ind.primary_name)) for ind in rules.indicators],
        separator=";",
        ignore_nulls=True,
    )
    return _nonempty(joined)


def _nonempty(joined: pl.Expr) -> pl.Expr:
    return pl.when(joined == "").then(None).otherwise(joined)
