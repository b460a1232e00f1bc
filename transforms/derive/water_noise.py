"""Water sections (GB 3838-2002 class per day / month), shaped as warehouse rows over the
standards' functions (noise points: transforms/derive/noise.py).

Water: the period's value of a parameter is the mean of its valid readings in the period (local
day or month); GB 3838 sets no minimum count, so one valid value suffices. A result below the
detection limit (flag BDL) counts at a fraction of the limit (standards.water.period_mean), and
the row names the parameters that had such results or were not detected at all. The class comes
from transforms.standards.water.water_class with the section's waterbody and target class.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl

from transforms.derive.context import SOURCE_PRIORITY, Network
from transforms.qc.source_flags import FLAG_BELOW_DETECTION
from transforms.standards.water import input_columns, limits, not_detected, period_mean, water_class

WATER_COLUMNS = [
    "site_id", "period", "period_start", "waterbody", "water_class", "target_class", "compliant",
    "limiting_parameters", "exceeding_parameters", "exceedance_multiples", "n_parameters",
    "below_detection_counts", "not_detected_limits",
]  # fmt: skip


def water_means(
    con: duckdb.DuckDBPyConnection, sites: list[str], lo: datetime, hi: datetime
) -> pl.DataFrame:
    """site_id, parameter, value (mean of valid readings, standards.water.period_mean: a result
    below the detection limit counted at a fraction of it), n_valid, n_values, unit,
    n_below_detection (valid results below the limit), detection_limit (their highest limit;
    null when none) over [lo, hi)."""
    schema = {
        "site_id": pl.String, "parameter": pl.String, "value": pl.Float64, "n_valid": pl.Int64,
        "n_values": pl.Int64, "unit": pl.String, "n_below_detection": pl.Int64,
        "detection_limit": pl.Float64,
    }  # fmt: skip
    if not sites:
        return pl.DataFrame(schema=schema)
    sql = """
        WITH r AS (
            SELECT site_id, parameter, period_start, interval_s, source_kind, value, unit, valid,
                   coalesce(flag = $bdl, false) AS below
            FROM v_readings_qc
            WHERE period_start >= $lo AND period_start < $hi AND site_id IN (SELECT unnest($sites))
            QUALIFY row_number() OVER (PARTITION BY site_id, parameter, period_start, interval_s
                ORDER BY valid DESC, coalesce(list_position($priority, source_kind), 99), source_kind) = 1)
        SELECT site_id, parameter,
               -- in time order, so the mean is the same sum on every run
               coalesce(list(value ORDER BY period_start, interval_s) FILTER (WHERE valid), []) AS _values,
               coalesce(list(below ORDER BY period_start, interval_s) FILTER (WHERE valid), []) AS _below,
               count(*) FILTER (WHERE valid) AS n_valid, count(*) AS n_values, any_value(unit) AS unit,
               count(*) FILTER (WHERE valid AND below) AS n_below_detection,
               max(value) FILTER (WHERE valid AND below) AS detection_limit
        FROM r GROUP BY ALL ORDER BY ALL"""
    params = {"lo": lo, "hi": hi, "sites": sites, "priority": list(SOURCE_PRIORITY),
              "bdl": FLAG_BELOW_DETECTION}  # fmt: skip
    out = pl.from_arrow(con.sql(sql, params=params).to_arrow_table())
    assert isinstance(out, pl.DataFrame)
    means = [period_mean(v, b) for v, b in zip(out["_values"].to_list(), out["_below"].to_list(), strict=True)]
    return out.with_columns(pl.Series("value", means, pl.Float64)).select(
        [pl.col(c).cast(t) for c, t in schema.items()]
    )


def water_rows(means: pl.DataFrame, net: Network, period: str, period_start) -> pl.DataFrame:  # type: ignore[no-untyped-def]
    """water_class rows for every water section (null class when no valid value), with the
    parameters whose results were below the detection limit: `below_detection_counts`
    ('nh3n=3/4': results below the limit / valid results) and `not_detected_limits`
    ('nh3n=0.025': every valid result below the limit, the highest limit) — shown 未检出 (<0.025)."""
    by_param = {v: k for k, v in input_columns().items()}  # parameter -> input column
    if "n_below_detection" not in means.columns:  # means without detection counts: none below
        means = means.with_columns(pl.lit(0, pl.Int64).alias("n_below_detection"),
                                   pl.lit(None, pl.Float64).alias("detection_limit"))
    rows = []
    sections = net.sites.filter(pl.col("kind") == "water")
    for s in sections.iter_rows(named=True):
        m = means.filter((pl.col("site_id") == s["site_id"]) & pl.col("value").is_not_null())
        lims = limits(s["waterbody"])  # parameters with a GB 3838 limit for this waterbody
        vals = {
            by_param[p]: v for p, v in zip(m["parameter"], m["value"], strict=True) if p in lims
        }
        n = sum(1 for p in m["parameter"] if p in lims and lims[p].role == "evaluated")
        below = [(p, nb, nv, dl) for p, nb, nv, dl in m.select(
            "parameter", "n_below_detection", "n_valid", "detection_limit").iter_rows() if p in lims and nb]
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
            "below_detection_counts": ";".join(f"{p}={nb}/{nv}" for p, nb, nv, _ in below) or None,
            "not_detected_limits": ";".join(
                f"{p}={dl:g}" for p, nb, nv, dl in below if not_detected(nb, nv)) or None,
        })  # fmt: skip
    schema = {
        "site_id": pl.String, "period": pl.String, "period_start": pl.Date, "waterbody": pl.String,
        "water_class": pl.String, "target_class": pl.String, "compliant": pl.Boolean,
        "limiting_parameters": pl.String, "exceeding_parameters": pl.String,
        "exceedance_multiples": pl.String, "n_parameters": pl.Int32,
        "below_detection_counts": pl.String, "not_detected_limits": pl.String,
    }  # fmt: skip
    return pl.DataFrame(rows, schema=schema, orient="row") if rows else pl.DataFrame(schema=schema)
