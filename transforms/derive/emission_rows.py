"""Outlets: O2-corrected hourly means, hourly loads and day / month totals against permits.

- hour_avg_o2 (flue gas): the hour's official concentration corrected with the hour's O2 and
  the outlet's `reference_o2_pct` (transforms.standards.emissions.o2_corrected, HJ 75-2017),
  capped: O2 above tables/emission_o2_cap.csv is a shut-down; invalid when the concentration
  or the O2 hour is invalid, or the hour is not operating (outlet_hours: zero flow, O2 above
  the cap; a stopped treatment facility is no shut-down) — then no exceedance is judged on it.
- hour_load_kg: the sum of the hour's slice loads (outlet_hours.load_kg: the logger's -Cou, else
  concentration x flow x each record's interval; HJ 212-2017 Appendix D), never an hour-mean
  concentration times an hour-mean flow nor scaled up for missing slices. Pollutants are the
  outlet's parameters measured as a mass concentration (mg/m3, or mg/L converted with
  1000 L/m3); the flow is the outlet's volume-flow parameter (flue_flow, ww_flow), converted to
  m3/h with the `units` table.
- Totals: the sum of the valid hourly loads (no substitution for missing hours), valid per
  HJ 75-2017 (day >= 20 valid hours; month >= 25 valid days, February >= 23) through
  transforms.standards.emissions.emission_totals; an invalid total is stored as NULL.
- Permitted quantity: a 'day' or 'month' row of permitted_quantities when the registry holds
  one; otherwise the 'year' quantity pro rata by days (year / days in the year x days in the
  period). The registry holds annual quantities only (permits state tonnes per year).
"""

from __future__ import annotations

from datetime import date

import duckdb
import polars as pl

from core.periods import period_dates
from transforms.derive.context import LITRES_PER_M3, Network
from transforms.standards.emissions import emission_totals, o2_cap_pct, o2_corrected

O2_PARAMETER = "o2"


def _pollutants(net: Network, outlet_type: str) -> pl.DataFrame:
    """(site_id, parameter, factor to mg/m3) of each outlet's mass-concentration parameters."""
    of_type = net.outlets.filter(pl.col("outlet_type") == outlet_type).select("site_id")
    units = net.parameter_units().join(of_type, on="site_id")
    to_mgm3 = (
        pl.when(pl.col("quantity") == "mass_concentration_gas")
        .then(pl.col("to_base"))
        .when(pl.col("quantity") == "mass_concentration_liquid")
        .then(pl.col("to_base") * LITRES_PER_M3)
    )
    return units.filter(
        (pl.col("quantity") == "mass_concentration_gas")
        | ((pl.col("quantity") == "mass_concentration_liquid") & pl.col("to_base").is_not_null())
    ).select("site_id", "parameter", to_mgm3.cast(pl.Float64).alias("to_mgm3"))


def _flows(net: Network) -> pl.DataFrame:
    """(site_id, flow parameter, factor to m3/h) of each outlet."""
    units = net.parameter_units().join(net.outlets.select("site_id"), on="site_id")
    return units.filter(pl.col("quantity") == "volume_flow").select(
        "site_id",
        pl.col("parameter").alias("flow_parameter"),
        pl.col("to_base").cast(pl.Float64).alias("to_m3h"),
    )


def _hour_cols(hours: pl.DataFrame, prefix: str) -> pl.DataFrame:
    return hours.select(
        "site_id", "period_start",
        pl.col("parameter").alias(f"{prefix}_parameter"),
        pl.col("value").alias(f"{prefix}_value"),
        pl.col("valid").alias(f"{prefix}_valid"),
        pl.col("n_valid").alias(f"{prefix}_n_valid"),
        pl.col("invalid_reason").alias(f"{prefix}_reason"),
    )  # fmt: skip


def _not_operating(oh: pl.DataFrame | None) -> pl.DataFrame:
    schema = {"site_id": pl.String, "parameter": pl.String,
              "period_start": pl.Datetime("us", "UTC"), "_stop": pl.String}  # fmt: skip
    if oh is None or oh.height == 0:
        return pl.DataFrame(schema=schema)
    return oh.select(
        "site_id", "parameter", "period_start", pl.col("not_operating_reason").alias("_stop")
    )


def o2_hours(hours: pl.DataFrame, net: Network, oh: pl.DataFrame | None = None) -> pl.DataFrame:
    """hour_avg_o2 rows (before `agg_frame`) for flue-gas outlets; `oh` are the hours'
    `outlet_hours` rows (their shut-downs make the rows invalid)."""
    pol = _pollutants(net, "flue_gas").filter(pl.col("parameter") != O2_PARAMETER)
    conc = hours.join(pol.select("site_id", "parameter"), on=["site_id", "parameter"])
    o2 = _hour_cols(hours.filter(pl.col("parameter") == O2_PARAMETER), "o2").drop("o2_parameter")
    ref = net.outlets.select("site_id", "reference_o2_pct")
    df = (
        conc.join(o2, on=["site_id", "period_start"], how="left")
        .join(ref, on="site_id", how="left")
        .join(_not_operating(oh), on=["site_id", "parameter", "period_start"], how="left")
    )
    cap = o2_cap_pct()
    corrected = o2_corrected(
        pl.col("value"), pl.col("o2_value"), pl.col("reference_o2_pct"), o2_max_pct=cap
    )
    both = pl.col("valid") & pl.col("o2_valid").fill_null(False) & pl.col("_stop").is_null()
    reason = (
        pl.when(pl.col("_stop").is_not_null())
        .then(pl.format("{}: not operating: {}", pl.col("parameter"), pl.col("_stop")))
        .when(~pl.col("valid"))
        .then(pl.col("invalid_reason"))
        .when(pl.col("o2_valid").is_null())
        .then(pl.lit("o2: no data"))
        .when(~pl.col("o2_valid"))
        .then(pl.col("o2_reason"))
        .when(pl.col("reference_o2_pct").is_null())
        .then(pl.lit("outlet has no reference_o2_pct"))
        .otherwise(
            pl.format("o2: {} % > cap {} %: no correction", pl.col("o2_value"), pl.lit(f"{cap:g}"))
        )
    )
    df = df.with_columns(corrected.alias("_c"))
    ok = both & pl.col("_c").is_not_null()
    return df.with_columns(
        pl.lit("hour_avg_o2").alias("statistic"),
        pl.col("_c").alias("value"),
        ok.alias("valid"),
        pl.min_horizontal("n_valid", pl.col("o2_n_valid").fill_null(0)).alias("n_valid"),
        pl.when(ok).then(None).otherwise(reason).alias("invalid_reason"),
    )


def load_hours(hours: pl.DataFrame, net: Network, oh: pl.DataFrame) -> pl.DataFrame:
    """hour_load_kg rows (before `agg_frame`) for every outlet pollutant with a flow: the sum of
    slice loads of `oh` (the hours' `outlet_hours` rows)."""
    pol = pl.concat([_pollutants(net, "flue_gas"), _pollutants(net, "waste_water")]).filter(
        pl.col("parameter") != O2_PARAMETER
    )
    flows = _flows(net)
    conc = hours.join(pol, on=["site_id", "parameter"]).join(flows, on="site_id")
    flow_hours = _hour_cols(hours, "flow").rename({"flow_parameter": "flow_parameter"})
    loads = oh.select("site_id", "parameter", "period_start", pl.col("load_kg").alias("_kg"))
    df = conc.join(flow_hours, on=["site_id", "period_start", "flow_parameter"], how="left").join(
        loads, on=["site_id", "parameter", "period_start"], how="left"
    )
    ok = pl.col("valid") & pl.col("flow_valid").fill_null(False) & pl.col("_kg").is_not_null()
    reason = (
        pl.when(~pl.col("valid"))
        .then(pl.col("invalid_reason"))
        .when(pl.col("flow_valid").is_null())
        .then(pl.format("{}: no data", pl.col("flow_parameter")))
        .when(~pl.col("flow_valid"))
        .then(pl.col("flow_reason"))
        .otherwise(
            pl.format("{}: no slice with both a concentration and a flow", pl.col("parameter"))
        )
    )
    return df.with_columns(
        pl.lit("hour_load_kg").alias("statistic"),
        pl.when(ok).then(pl.col("_kg")).alias("value"),
        pl.lit("kg").alias("unit"),
        ok.alias("valid"),
        pl.min_horizontal("n_valid", pl.col("flow_n_valid").fill_null(0)).alias("n_valid"),
        pl.when(ok).then(None).otherwise(reason).alias("invalid_reason"),
    ).drop("_kg")


def permitted_kg(
    con: duckdb.DuckDBPyConnection, period: str, start: date
) -> dict[tuple[str, str], float]:
    """(site, parameter) -> permitted quantity for the day or month starting at `start`."""
    month, next_month = period_dates(start, "month")
    year, next_year = period_dates(start, "year")
    days_in_period = 1 if period == "day" else (next_month - month).days
    days_in_year = (next_year - year).days
    rows = con.execute(
        """SELECT site_id, parameter, period, quantity_kg FROM permitted_quantities
           WHERE valid_from <= ? AND (valid_to IS NULL OR valid_to >= ?)
           ORDER BY site_id, parameter, period, valid_from""",
        [start, start],
    ).fetchall()
    direct: dict[tuple[str, str], float] = {}
    yearly: dict[tuple[str, str], float] = {}
    for site, param, per, qty in rows:
        if per == period:
            direct[(site, param)] = float(qty)
        elif per == "year":
            yearly[(site, param)] = float(qty) / days_in_year * days_in_period
    return {**yearly, **direct}


def totals(loads: pl.DataFrame, period: str, permits: dict[tuple[str, str], float]) -> pl.DataFrame:
    """emission_totals rows from hour_load_kg rows carrying `local_date` (one period's hours)."""
    schema = {
        "site_id": pl.String, "parameter": pl.String, "period": pl.String, "period_start": pl.Date,
        "total_kg": pl.Float64, "n_valid_hours": pl.Int32, "valid": pl.Boolean,
        "permitted_kg": pl.Float64, "share_of_permit": pl.Float64, "over_permit": pl.Boolean,
    }  # fmt: skip
    if loads.height == 0:
        return pl.DataFrame(schema=schema)
    sep = "\x1f"
    hourly = loads.select(
        (pl.col("site_id") + sep + pl.col("parameter")).alias("point"),
        # the standards' function takes the date of period_start: give it the local date at noon
        pl.col("local_date").cast(pl.Datetime("us")).alias("period_start"),
        pl.when(pl.col("valid")).then(pl.col("value")).alias("load_kg"),
        pl.col("valid"),
    )
    permit_by_point = {f"{s}{sep}{p}": q for (s, p), q in permits.items()}
    out = emission_totals(hourly, period=period, permitted_kg=permit_by_point)
    n_hours = (
        loads.group_by(pl.col("site_id") + sep + pl.col("parameter"))
        .agg(pl.col("valid").sum().alias("n_valid_hours"))
        .rename({"site_id": "point"})
    )
    out = out.drop("n_valid_hours", strict=False).join(n_hours, on="point", how="left")
    total = pl.when(pl.col("valid")).then(pl.col("total_kg"))
    return (
        out.with_columns(
            pl.col("point")
            .str.split_exact(sep, 1)
            .struct.rename_fields(["site_id", "parameter"])
            .alias("_k"),
            pl.lit(period).alias("period"),
            pl.col("period_start").cast(pl.Date),
            total.alias("total_kg"),
            pl.when(pl.col("valid")).then(pl.col("share_of_permit")).alias("share_of_permit"),
            pl.when(pl.col("valid")).then(pl.col("over_permit")).alias("over_permit"),
        )
        .unnest("_k")
        .select([pl.col(c).cast(t) for c, t in schema.items()])
    )
