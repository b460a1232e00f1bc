"""The baseline: the nightly stages as an analyst would write them in pandas.

Reads the landing Parquet with pandas, drops readings outside the physically possible range,
hourly means with the validity count rule, O2-corrected hourly means and hourly loads, daily
means (>= 20 valid hours), daily AQI from the HJ 633 breakpoint table, water daily means, noise
day/night energy means, emission day totals against the permitted quantity, and the permit-limit
rule (hourly O2-corrected mean above the limit -> alert; consecutive hours -> one case). Numbers
come from the standards' data tables (transforms/standards/tables, transforms/derive/tables) and
the registry, as the real pipeline's do; only the formulas are written here.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from envmon.settings import REPO_ROOT
from transforms.standards.emissions import AIR_O2_PCT, MG_PER_KG

STD_TABLES = REPO_ROOT / "transforms" / "standards" / "tables"
DERIVE_TABLES = REPO_ROOT / "transforms" / "derive" / "tables"
AQI_EDITION = "HJ633-2012"
GB3095_EDITION = "GB3095-2012"


def _registry(config_dir: Path) -> dict[str, Any]:
    reg = config_dir / "registry"
    return {name: yaml.safe_load((reg / f"{name}.yaml").read_text(encoding="utf-8"))
            for name in ("parameters", "stations", "enterprises")}  # fmt: skip


def run_pandas(
    landing_root: str, config_dir: Path, out_dir: Path, day: str, tz: str
) -> dict[str, int]:
    reg = _registry(config_dir)
    df = pd.read_parquet(Path(landing_root) / "readings",
                         columns=["site_id", "parameter", "period_start", "interval_s", "value"])  # fmt: skip
    # QC: physically possible range of each parameter
    params = pd.DataFrame(reg["parameters"]["parameters"])[
        ["parameter", "min_possible", "max_possible"]
    ]
    df = df.merge(params, on="parameter", how="left")
    df["valid"] = (
        df["value"].notna()
        & ~(df["value"] < df["min_possible"])
        & ~(df["value"] > df["max_possible"])
    )
    df["local"] = df["period_start"].dt.tz_convert(tz)
    df = df[df["local"].dt.strftime("%Y-%m-%d") == day]

    # hourly means with the validity count rule (minimum valid minutes per hour)
    min_minutes = pd.read_csv(DERIVE_TABLES / "hour_validity.csv").set_index("domain")[
        "min_minutes"
    ]
    df["hour"] = df["local"].dt.floor("h")
    sub = df[df["interval_s"] <= 3600]
    sub = sub.assign(vvalue=sub["value"].where(sub["valid"]))
    hourly = sub.groupby(["site_id", "parameter", "hour"]).agg(
        value=("vvalue", "mean"), n_valid=("valid", "sum"), interval_s=("interval_s", "min")).reset_index()  # fmt: skip
    need = np.where(
        hourly["interval_s"] < 3600,
        min_minutes["flue_gas"] * 60 // hourly["interval_s"].clip(lower=1),
        1,
    )
    hourly["valid"] = hourly["n_valid"] >= need
    hourly.loc[~hourly["valid"], "value"] = np.nan

    # outlets: O2 correction, loads, daily means and totals
    outlets = [(o["site_id"], o) for e in reg["enterprises"]["enterprises"] for o in e["outlets"]]
    ref = pd.Series({s: o.get("reference_o2_pct") for s, o in outlets}, name="ref_o2")
    is_outlet = hourly["site_id"].isin(ref.index)
    wide = hourly[is_outlet].pivot_table(index=["site_id", "hour"], columns="parameter", values="value",
                                         aggfunc="first", dropna=False).reset_index()  # fmt: skip
    wide = wide.merge(ref, left_on="site_id", right_index=True)
    factor = (AIR_O2_PCT - wide["ref_o2"]) / (AIR_O2_PCT - wide["o2"])
    corrected = pd.DataFrame({"site_id": wide["site_id"], "hour": wide["hour"]})
    loads = corrected.copy()
    for p in ("so2", "nox", "dust"):
        corrected[p] = wide[p] * factor
        loads[p] = wide[p] * wide["flue_flow"] / MG_PER_KG
    day_need = int(
        pd.read_csv(STD_TABLES / "emission_validity.csv")
        .set_index("statistic")
        .loc["daily_mean", "min_count"]
    )
    melted = corrected.melt(id_vars=["site_id", "hour"], var_name="parameter", value_name="value")
    day_o2 = (
        melted.groupby(["site_id", "parameter"])
        .agg(value=("value", "mean"), n=("value", "count"))
        .reset_index()
    )
    day_o2.loc[day_o2["n"] < day_need, "value"] = np.nan
    lm = loads.melt(id_vars=["site_id", "hour"], var_name="parameter", value_name="kg")
    totals = (
        lm.groupby(["site_id", "parameter"])
        .agg(total_kg=("kg", "sum"), n=("kg", "count"))
        .reset_index()
    )
    totals.loc[totals["n"] < day_need, "total_kg"] = np.nan
    permitted = pd.DataFrame([
        {"site_id": s, "parameter": q["parameter"], "permitted_kg": q["quantity_kg"] / 365}
        for s, o in outlets for q in o.get("permitted_quantities", []) if q["period"] == "year"
    ])  # fmt: skip
    if len(permitted):
        totals = totals.merge(permitted, on=["site_id", "parameter"], how="left")
        totals["over_permit"] = totals["total_kg"] > totals["permitted_kg"]

    # rule: hourly O2-corrected mean above the permit limit; consecutive hours make one case
    limits = pd.DataFrame([
        {"site_id": s, "parameter": lim["parameter"], "limit": lim["limit"]}
        for s, o in outlets for lim in o.get("permit_limits", []) if lim["statistic"] == "hour_avg_o2"
    ])  # fmt: skip
    alerts = (
        melted.merge(limits, on=["site_id", "parameter"])
        .query("value > limit")
        .sort_values(["site_id", "parameter", "hour"])
    )
    gap = alerts.groupby(["site_id", "parameter"])["hour"].diff() != pd.Timedelta(hours=1)
    cases = int(gap.sum())

    # air stations: daily means (>= 20 valid hours), O3 8-h max, AQI from the breakpoint table
    validity = pd.read_csv(STD_TABLES / "air_validity.csv")
    validity = validity[validity["edition"] == GB3095_EDITION].set_index("statistic")["min_count"]
    air_ids = [s["site_id"] for s in reg["stations"]["stations"] if s["kind"] == "air"]
    air = hourly[hourly["site_id"].isin(air_ids)]
    daily = (
        air.groupby(["site_id", "parameter"])
        .agg(value=("value", "mean"), n=("valid", "sum"))
        .reset_index()
    )
    daily.loc[daily["n"] < validity["daily_mean"], "value"] = np.nan
    dw = daily.pivot(index="site_id", columns="parameter", values="value")
    o3 = air[air["parameter"] == "o3"].sort_values(["site_id", "hour"])
    o3_8h = (
        o3.groupby("site_id")["value"].rolling(8, min_periods=int(validity["o3_8h_moving"])).mean()
    )
    dw["o3_8h"] = o3_8h.groupby(level=0).max()
    aqi = _aqi(dw.rename(columns={c: f"{c}_24h" for c in ("so2", "no2", "pm10", "pm25", "co")}))

    # water sections: daily means; noise: day and night energy means
    kinds = {s["site_id"]: s["kind"] for s in reg["stations"]["stations"]}
    w = df[df["site_id"].map(kinds) == "water"]  # 4-hourly readings: not in the hourly frame
    water = w["value"].where(w["valid"]).groupby([w["site_id"], w["parameter"]]).mean()
    noise = hourly[
        (hourly["site_id"].map(kinds) == "noise") & (hourly["parameter"] == "leq")
    ].copy()
    noise["is_day"] = noise["hour"].dt.hour.between(6, 21)
    noise["energy"] = 10 ** (noise["value"] / 10)
    levels = (
        noise.groupby(["site_id", "is_day"])["energy"]
        .mean()
        .apply(lambda e: 10 * math.log10(e) if e > 0 else np.nan)
    )

    # the daily report
    out_dir.mkdir(parents=True, exist_ok=True)
    aqi.to_csv(out_dir / f"aqi_{day}.csv")
    return {"readings": len(df), "hourly_rows": len(hourly), "o2_rows": len(melted), "totals": len(totals),
            "alerts": len(alerts), "cases": cases, "aqi_rows": len(aqi), "water_rows": len(water),
            "noise_rows": len(levels)}  # fmt: skip


def _aqi(dw: pd.DataFrame) -> pd.DataFrame:
    """Daily IAQI per indicator by linear interpolation in the breakpoint table; AQI = max."""
    bp = pd.read_csv(STD_TABLES / "aqi_breakpoints.csv")
    bp = bp[bp["edition"] == AQI_EDITION]
    out = pd.DataFrame(index=dw.index)
    for column, table in bp.groupby("breakpoint_column"):
        if column not in dw.columns:
            continue
        table = table.sort_values("concentration")
        c = dw[column].to_numpy(dtype=float)
        conc, iaqi = table["concentration"].to_numpy(float), table["iaqi"].to_numpy(float)
        i = np.clip(np.searchsorted(conc, c, side="right") - 1, 0, len(conc) - 2)
        raw = (iaqi[i + 1] - iaqi[i]) / (conc[i + 1] - conc[i]) * (c - conc[i]) + iaqi[i]
        out[f"iaqi_{column}"] = np.ceil(raw)
    out["aqi"] = out.max(axis=1)
    return out
