"""Water sections (GB 3838-2002 class per day / month) and noise points (GB 3096-2008 day and
night levels per date), shaped as warehouse rows over the standards' functions.

Water: the period's value of a parameter is the mean of its valid readings in the period (local
day or month); GB 3838 sets no minimum count, so one valid value suffices. The class comes from
transforms.standards.water.water_class with the section's waterbody and target class.
Noise: hour_leq values (energy means) feed transforms.standards.noise.noise_levels; the night
of date D runs from D 22:00 to D+1 06:00, so a daily derivation reads the hours up to then.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import polars as pl

from transforms.derive.context import SOURCE_PRIORITY, Network
from transforms.standards import noise as noise_std
from transforms.standards.water import input_columns, limits, water_class

WATER_COLUMNS = [
    "site_id", "period", "period_start", "waterbody", "water_class", "target_class", "compliant",
    "limiting_parameters", "exceeding_parameters", "exceedance_multiples", "n_parameters",
]  # fmt: skip
NOISE_COLUMNS = [
    "site_id", "local_date", "zone", "standard", "ld_dba", "ln_dba", "ld_limit_dba", "ln_limit_dba",
    "day_exceeds", "night_exceeds", "lmax_night_dba", "night_max_exceeds", "n_day_hours", "n_night_hours",
]  # fmt: skip
NOISE_STANDARD = "GB3096-2008"


def water_means(
    con: duckdb.DuckDBPyConnection, sites: list[str], lo: datetime, hi: datetime
) -> pl.DataFrame:
    """site_id, parameter, value (mean of valid readings), n_valid, n_values, unit over [lo, hi)."""
    if not sites:
        return pl.DataFrame(
            schema={
                "site_id": pl.String,
                "parameter": pl.String,
                "value": pl.Float64,
                "n_valid": pl.Int64,
                "n_values": pl.Int64,
                "unit": pl.String,
            }
        )
    sql = """
        WITH r AS (
            SELECT site_id, parameter, period_start, interval_s, source_kind, value, unit, valid
            FROM v_readings_qc
            WHERE period_start >= $lo AND period_start < $hi AND site_id IN (SELECT unnest($sites))
            QUALIFY row_number() OVER (PARTITION BY site_id, parameter, period_start, interval_s
                ORDER BY valid DESC, coalesce(list_position($priority, source_kind), 99), source_kind) = 1)
        SELECT site_id, parameter,
               CAST(sum(CAST(value AS DECIMAL(38, 9))) FILTER (WHERE valid) AS DOUBLE)
                   / nullif(count(*) FILTER (WHERE valid), 0) AS value,  -- exact: re-runs agree
               count(*) FILTER (WHERE valid) AS n_valid, count(*) AS n_values, any_value(unit) AS unit
        FROM r GROUP BY ALL ORDER BY ALL"""
    params = {"lo": lo, "hi": hi, "sites": sites, "priority": list(SOURCE_PRIORITY)}
    out = pl.from_arrow(con.sql(sql, params=params).to_arrow_table())
    assert isinstance(out, pl.DataFrame)
    return out


def water_rows(means: pl.DataFrame, net: Network, period: str, period_start) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    """water_class rows for every water section (null class when no valid value)."""
    by_param = {v: k for k, v in input_columns().items()}  # parameter -> input column
    rows = []
    sections = net.sites.filter(pl.col("kind") == "water")
    for s in sections.iter_rows(named=True):
        m = means.filter((pl.col("site_id") == s["site_id"]) & pl.col("value").is_not_null())
        lims = limits(s["waterbody"])  # parameters with a GB 3838 limit for this waterbody
        vals = {
            by_param[p]: v for p, v in zip(m["parameter"], m["value"], strict=True) if p in lims
        }
        n = sum(1 for p in m["parameter"] if p in lims and lims[p].role == "evaluated")
        frame = pl.DataFrame(
            [{"waterbody": s["waterbody"], "target": s["water_target_class"], **vals}]
        )
        res = water_class(frame, target_column="target").row(0, named=True)
        cls = res["class"]
        rows.append({
            "site_id": s["site_id"], "period": period, "period_start": period_start,
            "waterbody": s["waterbody"], "water_class": cls, "target_class": s["water_target_class"],
            "compliant": res.get("compliant") if cls is not None else None,
            "limiting_parameters": res["limiting_parameters"] or None if cls is not None else None,
            "exceeding_parameters": res.get("exceeding_parameters") or None,
            "exceedance_multiples": res.get("exceedance_multiples") or None,
            "n_parameters": n,
        })  # fmt: skip
    schema = {
        "site_id": pl.String, "period": pl.String, "period_start": pl.Date, "waterbody": pl.String,
        "water_class": pl.String, "target_class": pl.String, "compliant": pl.Boolean,
        "limiting_parameters": pl.String, "exceeding_parameters": pl.String,
        "exceedance_multiples": pl.String, "n_parameters": pl.Int32,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)


def noise_rows(hours: pl.DataFrame, net: Network, day, tz: str) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    """noise_daily rows of `day` for every noise point with a zone (hours must span the night)."""
    points = net.sites.filter((pl.col("kind") == "noise") & pl.col("noise_zone").is_not_null())
    zone_of = dict(zip(points["site_id"], points["noise_zone"], strict=True))
    h = hours.filter(
        pl.col("site_id").is_in(list(zone_of)) & pl.col("parameter").is_in(["leq", "lmax"])
    )
    wide = h.pivot(
        on="parameter",
        index=["site_id", "period_start"],
        values="value",
        aggregate_function="first",
    )
    for c in ("leq", "lmax"):
        if c not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(c))
    wide = wide.filter(pl.col("leq").is_not_null()).select(
        pl.col("site_id").alias("site"),
        pl.col("site_id").replace_strict(zone_of, return_dtype=pl.String).alias("zone"),
        "period_start", pl.col("leq").alias("leq_dba"), pl.col("lmax").alias("lmax_dba"),
    )  # fmt: skip
    levels = noise_std.noise_levels(wide, standard=NOISE_STANDARD, tz=tz).filter(
        pl.col("date") == day
    )
    day_start, night_start = noise_std.day_night_hours(NOISE_STANDARD)
    local = wide.with_columns(pl.col("period_start").dt.convert_time_zone(tz).alias("_l"))
    hour, ldate = pl.col("_l").dt.hour(), pl.col("_l").dt.date()
    is_day = (hour >= day_start) & (hour < night_start)
    in_night = ((ldate == day) & (hour >= night_start)) | (
        (ldate == day + timedelta(days=1)) & (hour < day_start)
    )
    counts = local.group_by("site").agg(
        (is_day & (ldate == day)).sum().alias("n_day_hours"), in_night.sum().alias("n_night_hours")
    )
    out = []
    for site_id, zone in sorted(zone_of.items()):
        d_lim, n_lim = noise_std.zone_limits(zone, NOISE_STANDARD)
        lv = levels.filter(pl.col("site") == site_id)
        c = counts.filter(pl.col("site") == site_id)
        r = lv.row(0, named=True) if lv.height else {}
        out.append({
            "site_id": site_id, "local_date": day, "zone": zone, "standard": NOISE_STANDARD,
            "ld_dba": r.get("ld_dba"), "ln_dba": r.get("ln_dba"), "ld_limit_dba": d_lim, "ln_limit_dba": n_lim,
            "day_exceeds": r.get("day_exceeds"), "night_exceeds": r.get("night_exceeds"),
            "lmax_night_dba": r.get("lmax_night_dba"), "night_max_exceeds": r.get("night_max_exceeds"),
            "n_day_hours": int(c["n_day_hours"][0]) if c.height else 0,
            "n_night_hours": int(c["n_night_hours"][0]) if c.height else 0,
        })  # fmt: skip
    schema = {
        "site_id": pl.String, "local_date": pl.Date, "zone": pl.String, "standard": pl.String,
        "ld_dba": pl.Float64, "ln_dba": pl.Float64, "ld_limit_dba": pl.Float64, "ln_limit_dba": pl.Float64,
        "day_exceeds": pl.Boolean, "night_exceeds": pl.Boolean, "lmax_night_dba": pl.Float64,
        "night_max_exceeds": pl.Boolean, "n_day_hours": pl.Int32, "n_night_hours": pl.Int32,
    }  # fmt: skip
    return pl.DataFrame(out, schema=schema, orient="row") if out else pl.DataFrame(schema=schema)
