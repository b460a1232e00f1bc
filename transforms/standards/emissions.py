"""Flue-gas emissions per HJ 75-2017 / GB 13223-2011: O2 correction, hourly means, loads, totals.

C_zs = C × (21 − O2_ref) / (21 − O2_meas)  (HJ 212-2017 App. D; GB 13271-2014 formula (1)).
Load (kg/h) = C (mg/m³, dry standard state) × Q (m³/h, dry standard state) × 1e-6.
"""

from __future__ import annotations

import polars as pl

from transforms.standards import tables

AIR_O2_PCT = 21.0  # O2 content of air, the formula's constant
MG_PER_KG = 1e6


def reference_o2(source_type: str) -> float:
    """Reference O2 (%) of a source type (tables/emission_reference_o2.csv)."""
    return float(tables.one("emission_reference_o2", source_type=source_type)["o2_ref_pct"])


def o2_corrected(c_mgm3, o2_meas_pct, o2_ref_pct, o2_max_pct: float | None = None):
    """O2-corrected (折算) concentration. Scalars or polars Series/Expr.

    Null (None) where O2_meas ≥ 21 % (the factor has no meaning: stopped furnace or air purge)
    or above `o2_max_pct` when given (a local cap, e.g. 19–20 % — not set by the standard).
    """
    limit = AIR_O2_PCT if o2_max_pct is None else min(AIR_O2_PCT, o2_max_pct)
    if isinstance(c_mgm3, pl.Expr | pl.Series) or isinstance(o2_meas_pct, pl.Expr | pl.Series):
        c = c_mgm3 if isinstance(c_mgm3, pl.Expr) else pl.lit(c_mgm3)
        o2 = o2_meas_pct if isinstance(o2_meas_pct, pl.Expr) else pl.lit(o2_meas_pct)
        ok = o2 < limit if o2_max_pct is None or o2_max_pct >= AIR_O2_PCT else o2 <= limit
        expr = pl.when(ok).then(c * (AIR_O2_PCT - o2_ref_pct) / (AIR_O2_PCT - o2)).otherwise(None)
        if isinstance(c_mgm3, pl.Series) or isinstance(o2_meas_pct, pl.Series):
            return pl.select(expr).to_series()
        return expr
    if c_mgm3 is None or o2_meas_pct is None:
        return None
    if o2_meas_pct >= AIR_O2_PCT or (o2_max_pct is not None and o2_meas_pct > o2_max_pct):
        return None
    return c_mgm3 * (AIR_O2_PCT - o2_ref_pct) / (AIR_O2_PCT - o2_meas_pct)


def emission_load_kg_h(c_mgm3, flow_m3h):
    """Emission rate in kg/h from a concentration (mg/m³) and a flow (m³/h). Scalars, Series or Expr."""
    if c_mgm3 is None or flow_m3h is None:
        return None
    return c_mgm3 * flow_m3h / MG_PER_KG


def _min_count(statistic: str) -> int:
    return int(
        tables.one("emission_validity", standard="HJ75-2017", statistic=statistic)["min_count"]
    )


def hourly_emissions(
    minutes: pl.DataFrame | pl.LazyFrame, tz: str = "Asia/Shanghai"
) -> pl.DataFrame:
    """Hourly means from minute values (HJ 75: ≥ 45 valid minutes, else invalid).

    Input: `point, period_start` (tz-aware minute starts), `c_mgm3`, `flow_m3h`, optional
    `o2_pct` and `o2_ref_pct` (then `c_zs_mgm3` is added), null = invalid minute. Output per
    point and hour: means, `n_minutes`, `valid`, `load_kg` (mean flow × mean concentration for
    the hour, the hour's mass in kg), null when invalid.
    """
    lf = minutes.lazy()
    cols = lf.collect_schema().names()
    if "o2_pct" in cols and "o2_ref_pct" in cols:
        lf = lf.with_columns(
            o2_corrected(pl.col("c_mgm3"), pl.col("o2_pct"), pl.col("o2_ref_pct")).alias(
                "c_zs_mgm3"
            )
        )
    ok_minute = pl.col("c_mgm3").is_not_null() & pl.col("flow_m3h").is_not_null()
    lf = lf.with_columns(
        pl.col("period_start").dt.convert_time_zone(tz).dt.truncate("1h").alias("hour_start"),
        ok_minute.alias("_ok"),
    )
    means = [
        pl.col(c).filter(pl.col("_ok")).mean().alias(c)
        for c in ("c_mgm3", "flow_m3h", "c_zs_mgm3")
        if c in lf.collect_schema().names()
    ]
    out = lf.group_by("point", "hour_start").agg(*means, pl.col("_ok").sum().alias("n_minutes"))
    valid = pl.col("n_minutes") >= _min_count("hourly_mean")
    value_cols = [
        c for c in ("c_mgm3", "flow_m3h", "c_zs_mgm3") if c in out.collect_schema().names()
    ]
    out = out.with_columns(
        valid.alias("valid"), *[pl.when(valid).then(pl.col(c)).alias(c) for c in value_cols]
    )
    out = out.with_columns(
        emission_load_kg_h(pl.col("c_mgm3"), pl.col("flow_m3h")).alias("load_kg")
    )
    return out.rename({"hour_start": "period_start"}).sort("point", "period_start").collect()


def emission_totals(
    hourly: pl.DataFrame | pl.LazyFrame,
    period: str = "day",
    permitted_kg: dict[str, float] | None = None,
) -> pl.DataFrame:
    """Daily or monthly totals (kg) of `hourly_emissions` output, with validity
    (day ≥ 20 valid hours; month ≥ 25 valid days, February ≥ 23) and, with `permitted_kg`
    (point -> permitted quantity for the period), `permitted_kg`, `share_of_permit`, `over_permit`.
    Totals are the sum of valid hourly loads (no substitution of missing hours)."""
    if period not in ("day", "month"):
        raise ValueError("period must be 'day' or 'month'")
    lf = hourly.lazy().with_columns(pl.col("period_start").dt.date().alias("date"))
    daily = (
        lf.group_by("point", "date")
        .agg(
            pl.col("load_kg").sum().alias("total_kg"), pl.col("valid").sum().alias("n_valid_hours")
        )
        .with_columns((pl.col("n_valid_hours") >= _min_count("daily_mean")).alias("valid"))
    )
    if period == "day":
        out = daily.rename({"date": "period_start"})
    else:
        month = pl.col("date").dt.truncate("1mo")
        need = (
            pl.when(month.dt.month() == 2)
            .then(_min_count("monthly_mean_february"))
            .otherwise(_min_count("monthly_mean"))
        )
        out = (
            daily.with_columns(month.alias("period_start"), need.alias("_need"))
            .group_by("point", "period_start")
            .agg(
                pl.col("total_kg").sum(),
                pl.col("valid").sum().alias("n_valid_days"),
                pl.col("_need").first(),
            )
            .with_columns((pl.col("n_valid_days") >= pl.col("_need")).alias("valid"))
            .drop("_need")
        )
    out = out.collect()
    if permitted_kg is not None:
        out = out.with_columns(
            pl.col("point")
            .replace_strict(permitted_kg, default=None, return_dtype=pl.Float64)
            .alias("permitted_kg")
        )
        out = out.with_columns(
            (pl.col("total_kg") / pl.col("permitted_kg")).alias("share_of_permit"),
            (pl.col("total_kg") > pl.col("permitted_kg")).alias("over_permit"),
        )
    return out.sort("point", "period_start")
