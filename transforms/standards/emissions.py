"""Flue-gas emissions per HJ 75-2017 / GB 13223-2011: O2 correction, hourly means, loads, totals.

C_zs = C × (21 − O2_ref) / (21 − O2_meas)  (HJ 212-2017 App. D; GB 13271-2014 formula (1)).
Load (kg/h) = C (mg/m³, dry standard state) × Q (m³/h, dry standard state) × 1e-6; the load
of a period is the sum of its time slices' loads (HJ 212-2017 Appendix D), never an hour-mean
concentration times an hour-mean flow.
O2 above the cap of tables/emission_o2_cap.csv marks a shut-down or purge: not operating.
"""

from __future__ import annotations

import polars as pl

from transforms.standards import tables

AIR_O2_PCT = 21.0  # O2 content of air, the formula's constant
MG_PER_KG = 1e6
SECONDS_PER_HOUR = 3600  # a unit identity, not a standard's number


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


def slice_load_kg(c_mgm3, flow_m3h, interval_s):
    """The mass (kg) emitted in one time slice of `interval_s` seconds at concentration
    `c_mgm3` and flow `flow_m3h`: a period's load is the sum of its slices' loads (HJ 212-2017
    Appendix D; a logger's `-Cou` is that sum). Scalars, Series or Expr."""
    if c_mgm3 is None or flow_m3h is None or interval_s is None:
        return None
    return c_mgm3 * flow_m3h / MG_PER_KG * interval_s / SECONDS_PER_HOUR


def o2_cap_pct(edition: str = "HJ75-2017") -> float:
    """Measured O2 (%) above which a flue-gas period is a shut-down or purge, not operation
    (tables/emission_o2_cap.csv; its status says how far the number is confirmed)."""
    return float(tables.one("emission_o2_cap", edition=edition)["o2_cap_pct"])


def not_operating_reason(
    o2_pct: float | None, flow_m3h: float | None, cap_pct: float | None = None, flue: bool = True
) -> str | None:
    """Why a period is not operating (a shut-down), from process evidence only: zero flow,
    else (flue gas) O2 above the cap (shut-down or purge); None when operating or unknown.
    The running status of a pollution-treatment facility (HJ 212-2017 CN 2021 SBn-RS) is NOT
    evidence of a shut-down. The scalar form of `not_operating_expr` (one rule, review T8)."""
    cap = o2_cap_pct() if cap_pct is None else cap_pct
    if flow_m3h is not None and flow_m3h == 0:
        return "zero flow"
    if flue and o2_pct is not None and o2_pct > cap:
        return f"O2 {round(o2_pct, 2):g} % > cap {cap:g} %"
    return None


def not_operating_expr(
    o2_pct: pl.Expr, flow_m3h: pl.Expr, flue: pl.Expr | bool = True, cap_pct: float | None = None
) -> pl.Expr:
    """`not_operating_reason` as a polars expression (the one shut-down rule used by
    `hourly_emissions`, transforms.derive.outlet_hours and the calculator): 'zero flow' where
    the flow is 0, else 'O2 x % > cap y %' where a flue-gas O2 is above the cap, else null."""
    cap = o2_cap_pct() if cap_pct is None else cap_pct
    is_flue = flue if isinstance(flue, pl.Expr) else pl.lit(flue)
    return (
        pl.when(flow_m3h == 0)
        .then(pl.lit("zero flow"))
        .when(is_flue & (o2_pct > cap))
        .then(pl.format("O2 {} % > cap {} %", o2_pct.round(2), pl.lit(f"{cap:g}")))
        .otherwise(pl.lit(None, dtype=pl.String))
    )


def min_count(statistic: str) -> int:
    """HJ 75-2017's minimum count of valid values for `statistic` (tables/emission_validity.csv)."""
    return int(
        tables.one("emission_validity", standard="HJ75-2017", statistic=statistic)["min_count"]
    )


def hourly_emissions(
    records: pl.DataFrame | pl.LazyFrame, tz: str = "Asia/Shanghai"
) -> pl.DataFrame:
    """Hourly values from sub-hour records (HJ 75-2017: ≥ 45 minutes of valid data).

    Input: `point`, `period_start` (tz-aware record starts), `c_mgm3`, `flow_m3h` (null =
    invalid), optional `interval_s` (the record's length; default 60 s), `hour_start` (the hour
    each record belongs to; default: the hour of `period_start` in `tz`), `o2_pct` and
    `o2_ref_pct` (then `o2_pct` and `c_zs_mgm3` are output), `cou_kg` (the logger's own slice
    load). Output per point and hour: `c_mgm3` (time-weighted mean of valid records),
    `flow_m3h`, `valid_minutes` = valid records × interval / 60 (`n_minutes`, same), `valid`,
    `c_zs_mgm3` (hour mean corrected with the hour mean O2; null above the O2 cap),
    `load_kg` = the sum of the slice loads of the records with both a concentration and a flow
    (`cou_kg` where given; no scaling to 60 minutes), `operating`, `reason` (why invalid or not
    operating). Invalid hours carry null values and load.
    """
    lf = records.lazy()
    cols = lf.collect_schema().names()
    if "interval_s" not in cols:
        lf = lf.with_columns(pl.lit(60).alias("interval_s"))
    if "hour_start" not in cols:
        lf = lf.with_columns(
            pl.col("period_start").dt.convert_time_zone(tz).dt.truncate("1h").alias("hour_start")
        )
    if "cou_kg" not in cols:
        lf = lf.with_columns(pl.lit(None, dtype=pl.Float64).alias("cou_kg"))
    with_o2 = "o2_pct" in cols and "o2_ref_pct" in cols
    iv = pl.col("interval_s").cast(pl.Float64)
    c_ok = pl.col("c_mgm3").is_not_null()
    f_ok = pl.col("flow_m3h").is_not_null()
    slice_kg = pl.coalesce(
        pl.col("cou_kg"), slice_load_kg(pl.col("c_mgm3"), pl.col("flow_m3h"), iv)
    )
    aggs = [
        ((pl.col("c_mgm3") * iv).filter(c_ok).sum() / iv.filter(c_ok).sum()).alias("c_mgm3"),
        ((pl.col("flow_m3h") * iv).filter(f_ok).sum() / iv.filter(f_ok).sum()).alias("flow_m3h"),
        (iv.filter(c_ok).sum() // 60).cast(pl.Int64).alias("valid_minutes"),
        (iv.filter(f_ok).sum() // 60).cast(pl.Int64).alias("flow_minutes"),
        slice_kg.filter(c_ok & f_ok).sum().alias("load_kg"),
    ]
    if with_o2:
        o2_ok = pl.col("o2_pct").is_not_null()
        aggs += [
            ((pl.col("o2_pct") * iv).filter(o2_ok).sum() / iv.filter(o2_ok).sum()).alias("o2_pct"),
            pl.col("o2_ref_pct").drop_nulls().first().alias("o2_ref_pct"),
        ]
    out = lf.group_by("point", "hour_start").agg(*aggs).collect()
    need = min_count("hourly_mean")
    cap = o2_cap_pct()
    valid = pl.col("valid_minutes") >= need
    o2 = pl.col("o2_pct") if with_o2 else pl.lit(None, dtype=pl.Float64)
    why = not_operating_expr(o2, pl.col("flow_m3h"), True, cap)
    stopped = pl.when(why.is_not_null()).then(pl.format("not operating: {}", why))
    out = out.with_columns(
        valid.alias("valid"),
        stopped.alias("_stopped"),
        pl.col("valid_minutes").alias("n_minutes"),
    )
    load_ok = valid & (pl.col("flow_minutes") >= need)
    out = out.with_columns(
        pl.col("_stopped").is_null().alias("operating"),
        pl.when(~valid)
        .then(pl.format("{} valid minutes < {} required", pl.col("valid_minutes"), pl.lit(need)))
        .when(pl.col("_stopped").is_not_null())
        .then(pl.col("_stopped"))
        .when(~load_ok)
        .then(
            pl.format("flow: {} valid minutes < {} required", pl.col("flow_minutes"), pl.lit(need))
        )
        .alias("reason"),
        pl.when(valid).then(pl.col("c_mgm3")).alias("c_mgm3"),
        pl.when(load_ok).then(pl.col("load_kg")).alias("load_kg"),
    )
    if with_o2:
        corrected = o2_corrected(pl.col("c_mgm3"), o2, pl.col("o2_ref_pct"), o2_max_pct=cap)
        out = out.with_columns(
            pl.when(pl.col("operating")).then(corrected).alias("c_zs_mgm3")
        ).drop("o2_ref_pct")
    return (
        out.drop("_stopped", "flow_minutes")
        .rename({"hour_start": "period_start"})
        .sort("point", "period_start")
    )


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
        .with_columns((pl.col("n_valid_hours") >= min_count("daily_mean")).alias("valid"))
    )
    if period == "day":
        out = daily.rename({"date": "period_start"})
    else:
        month = pl.col("date").dt.truncate("1mo")
        need = (
            pl.when(month.dt.month() == 2)
            .then(min_count("monthly_mean_february"))
            .otherwise(min_count("monthly_mean"))
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
