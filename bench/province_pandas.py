"""The baseline: envmon's nightly stages as an analyst would write them in pandas.

One process, one pass per stage, everything in memory (issue #11: "a straightforward pandas
implementation of the same stages"), timed per stage (`stage_seconds`):

1. load: every landing batch (pd.read_parquet), text columns as categories, one row per natural
   key (first read wins), persisted as Parquet (out_dir/warehouse/readings.parquet).
2. qc (bench/province_pandas_qc.py): config/qc.yaml's checks with its thresholds per parameter
   and site kind (read with envmon's config loader, so the same numbers and defaults): missing,
   unit, physically possible range (registry) and instrument range, flat line, spike, rate of
   change, non-positive, the source's data flag (core/reading_flags.csv), timestamps
   (future, service period, earliest), unknown sites, parameters, units and flag letters (what
   envmon's batch validation fails and QC does not), PM2.5 <= PM10
   and O2-correction consistency; a flags frame, persisted; readings get their worst flag.
3. hourly: hour values with validity (valid minutes per domain, tables/hour_validity.csv; finest
   data level; every expected hour), O2-corrected hours, hourly loads, O3 8-h moving means, the
   real-time AQI (HJ 633 hourly, edition in force) per station and for the city.
4. daily: station daily values (24-h means, O3 1-h max, MDA8 with GB 3095 validity), daily AQI
   (stations and city), outlet day means, O2-corrected day means and day totals against the
   permitted quantity, water day means and GB 3838 class, noise Ld/Ln against the zone limits.
5. availability: expected / received / valid values per site, parameter, local hour and day.
6. rules: every rule of config/rules that the nightly run evaluates (threshold rules on hourly and
   daily aggregates with permit, class, zone or fixed limits, daily AQI, water class, noise;
   flat line, no data, flagged), with durations (N consecutive, N of the last M), night/holiday
   windows and hysteresis (clear_after), then cases: one per site and rule family.
7. report: the daily AQI report CSV (city and stations, level texts, published decimals).

Numbers (limits, breakpoints, validity counts, thresholds, rule parameters) come from the
project's tables (transforms/standards/tables, transforms/derive/tables), config and registry;
only formulas are written here. Left out: the Great Expectations suite itself and its result
records (its row checks are in the QC above), the load ledger, conflict records and
quarantine, staff reviews and maintenance windows or silences (none in a fresh warehouse), the
monthly transmission-efficiency rule (its table is a monthly job's), notifications, escalation
and case workflow, the HTML/JSON pages, invalid-reason texts, and per-site time zones (every
site is taken to be in the run's zone, as the generated province is).
"""

from __future__ import annotations

import calendar
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from alerts.rules import (
    ConsistencyRule,
    FlaggedRule,
    FlatLineRule,
    LongStopRule,
    NoDataRule,
    ThresholdRule,
    TransmissionEfficiencyRule,
    TreatmentStoppedRule,
)
from bench.province_pandas_qc import (
    Registry,
    availability,
    load_readings,
    local_day_utc,
    read_registry,
    run_qc,
    service_ts,
)
from core.settings import REPO_ROOT
from transforms.derive.context import LITRES_PER_M3
from transforms.standards.emissions import AIR_O2_PCT, MG_PER_KG

STD_TABLES = REPO_ROOT / "transforms" / "standards" / "tables"
DERIVE_TABLES = REPO_ROOT / "transforms" / "derive" / "tables"
VOCABULARY = REPO_ROOT / "publish" / "vocabulary.json"
POLLUTANTS = ("so2", "no2", "pm10", "pm25", "co", "o3")  # the air pollutants of GB 3095 / HJ 633
HOUR_STATISTIC = {"leq": "hour_leq", "lmax": None}  # stored hourly statistic (default hour_avg)
HOUR_COMBINE = {"leq": "energy", "lmax": "max"}  # how a noise hour is formed (default: mean)
SOURCE_PRIORITY = ("lab", "file", "hj212", "mqtt", "sim")  # envmon's choice among source kinds
O3_WINDOW_H = 8  # the "8-h" of the O3 8-h moving mean
NOISE_STANDARD = "GB3096-2008"
WORSE_THAN_V = "劣V"
# every rule kind envmon knows (alerts.rules); the baseline evaluates the first four and skips
# the others (monthly transmission efficiency; the logger-consistency and stop rules, which need
# the HJ 212 logger events the generated province does not have), so it does less than envmon
RULE_MODELS = {"threshold": ThresholdRule, "flat_line": FlatLineRule, "no_data": NoDataRule,
               "flagged": FlaggedRule, "transmission_efficiency": TransmissionEfficiencyRule,
               "consistency": ConsistencyRule, "long_stop": LongStopRule,
               "treatment_stopped": TreatmentStoppedRule}  # fmt: skip
H = pd.Timedelta(hours=1)


def _table(name: str, folder: Path = STD_TABLES) -> pd.DataFrame:
    return pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)


def _edition(family: str, day: str) -> str:
    eds = _table("editions")
    eds = eds[
        (eds.family == family)
        & (eds.in_force_from <= day)
        & ((eds.in_force_to == "") | (eds.in_force_to >= day))
    ]
    return eds["code"].iloc[0]


def _min_count(edition: str, statistic: str) -> int:
    t = _table("air_validity")
    return int(t.loc[(t.edition == edition) & (t.statistic == statistic), "min_count"].iloc[0])


def _round_half_even(x: pd.Series | np.ndarray, decimals: int) -> np.ndarray:
    """GB/T 8170: round half to even on the decimal value (ties within 1e-9 relative)."""
    x = np.asarray(x, dtype=float)
    scaled = np.abs(x) * 10.0**decimals
    low = np.floor(scaled)
    frac = scaled - low
    tie = np.abs(frac - 0.5) <= 1e-9 * np.maximum(1.0, scaled)
    up = np.where(tie, low % 2 == 1, frac > 0.5)
    return np.sign(x) * (low + up) / 10.0**decimals


def _unit_suffix(unit: str) -> str:
    return unit.replace("/", "")  # 'ug/m3' -> 'ugm3', the suffix of the report's columns


# --------------------------------------------------------------------------- 3. hourly
def _dedup_sources(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (site, parameter, period, interval): the valid one, then by source priority.
    Only series whose (site, parameter, interval) several sources report need sorting."""
    series = df.drop_duplicates("series")[
        ["series", "site_id", "parameter", "interval_s", "source_kind"]
    ]
    n = series.groupby(["site_id", "parameter", "interval_s"], observed=True)[
        "source_kind"
    ].transform("nunique")
    shared = series.loc[n.to_numpy() > 1, "series"]
    if shared.empty:
        return df
    many = df[df["series"].isin(shared)]
    prio = (
        many["source_kind"]
        .astype(str)
        .map({s: i for i, s in enumerate(SOURCE_PRIORITY)})
        .fillna(99)
    )
    best = (many.assign(_p=prio, _inv=~many["valid"]).sort_values(["_inv", "_p", "source_kind"])
            .drop_duplicates(["site_id", "parameter", "period_start", "interval_s"]).drop(columns=["_p", "_inv"]))  # fmt: skip
    return pd.concat([df[~df["series"].isin(shared)], best], ignore_index=True)


def hour_values(best: pd.DataFrame, reg: Registry, grid_lo: pd.Timestamp, grid_hi: pd.Timestamp
                ) -> tuple[pd.DataFrame, pd.DataFrame]:  # fmt: skip
    """(hour values of every expected site, parameter and hour, per-interval hourly counts)."""
    sub = best[
        (best["interval_s"] <= 3600)
        & (best["period_start"] >= grid_lo)
        & (best["period_start"] < grid_hi)
    ]
    sub = sub.assign(hour=sub["period_start"].dt.floor("h"), vv=sub["value"].where(sub["valid"]))
    keys = ["site_id", "parameter", "hour", "interval_s"]
    agg = sub.groupby(keys, observed=True).agg(mean_value=("vv", "mean"), n_valid=("valid", "sum"),
                                               n=("valid", "size"), unit=("unit", "first")).reset_index()  # fmt: skip
    noisy = sub[sub["parameter"].isin(list(HOUR_COMBINE)) & (sub["unit"] == "dB(A)")]
    if len(noisy):
        extra = noisy.assign(e=10 ** (0.1 * noisy["vv"])).groupby(keys, observed=True).agg(
            energy=("e", "mean"), max_value=("vv", "max")).reset_index()  # fmt: skip
        extra["energy_value"] = 10 * np.log10(extra.pop("energy"))
        agg = agg.merge(extra, on=keys, how="left")
    rt = sub[(sub["interval_s"] == 0) & sub["valid"]]
    if len(rt):
        minutes = (
            rt.assign(m=rt["period_start"].dt.floor("min"))
            .groupby(keys, observed=True)["m"]
            .nunique()
        )
        agg = agg.merge(minutes.rename("rt_minutes").reset_index(), on=keys, how="left")
    for c in ("energy_value", "max_value", "rt_minutes"):
        if c not in agg:
            agg[c] = np.nan
    counts = agg[[*keys, "n", "n_valid"]]
    # the finest data level present in the hour decides (real-time data rank just below an hour)
    agg["rank"] = agg["interval_s"].where(agg["interval_s"] != 0, 3599)
    agg = agg.sort_values(["site_id", "parameter", "hour", "rank"]).drop_duplicates(
        ["site_id", "parameter", "hour"]
    )
    agg = agg.rename(columns={"interval_s": "source_interval_s"}).drop(columns=["rank", "n"])
    agg[["site_id", "parameter"]] = agg[["site_id", "parameter"]].astype(str)
    agg["unit"] = agg["unit"].astype(object)

    sp = reg.site_params.loc[
        reg.site_params["interval_s"] <= 3600, ["site_id", "parameter", "unit"]
    ]
    sp = sp.drop_duplicates(["site_id", "parameter"]).rename(columns={"unit": "site_unit"})
    grid = sp.merge(
        pd.DataFrame({"hour": pd.date_range(grid_lo, grid_hi, freq="h", inclusive="left")}),
        how="cross",
    )
    start = grid["site_id"].map(service_ts(reg, "commissioned_on"))
    end = grid["site_id"].map(service_ts(reg, "decommissioned_on")) + pd.Timedelta(days=1)
    grid = grid[~(grid["hour"] < start) & ~(grid["hour"] >= end)]
    hv = grid.merge(agg, on=["site_id", "parameter", "hour"], how="outer")
    hv["kind"] = hv["site_id"].map(reg.sites["kind"])
    domain = (
        hv["site_id"]
        .map(reg.sites["outlet_type"])
        .fillna(hv["parameter"].map(reg.params["domain"]))
    )
    need = domain.map(
        _table("hour_validity", DERIVE_TABLES).set_index("domain")["min_minutes"].astype(int)
    )
    iv = hv["source_interval_s"]
    minutes = np.where(iv == 0, hv["rt_minutes"], hv["n_valid"] * iv // 60)
    sub_hour = (iv < 3600).to_numpy()
    hv["valid"] = iv.notna().to_numpy() & np.where(sub_hour, minutes >= need, hv["n_valid"] >= 1)
    combine = hv["parameter"].map(HOUR_COMBINE).fillna("mean")
    value = np.select(
        [combine == "energy", combine == "max"],
        [hv["energy_value"], hv["max_value"]],
        hv["mean_value"],
    )
    hv["value"] = np.where(hv["valid"], value, np.nan)
    hv["n_valid"] = np.where(sub_hour, minutes, hv["n_valid"].fillna(0))
    hv["n_expected"] = np.select(
        [iv.isna() | (iv == 3600), iv == 0], [1, 60], 3600 // iv.clip(lower=1)
    )
    hv["unit"] = hv["unit"].where(hv["unit"].notna(), hv["site_unit"])
    hv = hv.rename(columns={"hour": "period_start"})
    cols = [
        "site_id",
        "parameter",
        "period_start",
        "value",
        "unit",
        "valid",
        "n_valid",
        "n_expected",
        "kind",
    ]
    return hv[cols].sort_values(["site_id", "parameter", "period_start"], ignore_index=True), counts


def _outlet_parameters(reg: Registry) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(site, pollutant, outlet_type, factor to mg/m3) and (site, flow parameter, factor to m3/h)."""
    sp = reg.site_params.drop_duplicates(["site_id", "parameter"])
    sp = sp[sp["site_id"].map(reg.sites["kind"]) == "outlet"]
    sp = sp.assign(quantity=sp["unit"].map(reg.units["quantity"]), to_base=sp["unit"].map(reg.units["to_base"]),
                   outlet_type=sp["site_id"].map(reg.sites["outlet_type"]))  # fmt: skip
    gas = sp[sp["quantity"] == "mass_concentration_gas"].assign(to_mgm3=lambda d: d["to_base"])
    liquid = sp[sp["quantity"] == "mass_concentration_liquid"].assign(
        to_mgm3=lambda d: d["to_base"] * LITRES_PER_M3
    )
    pol = pd.concat([gas, liquid])[["site_id", "parameter", "outlet_type", "to_mgm3"]]
    flows = sp.loc[sp["quantity"] == "volume_flow", ["site_id", "parameter", "to_base"]]
    return pol[pol["parameter"] != "o2"], flows.rename(
        columns={"parameter": "flow_parameter", "to_base": "to_m3h"}
    )


def o2_and_loads(hv: pd.DataFrame, reg: Registry) -> tuple[pd.DataFrame, pd.DataFrame]:
    pol, flows = _outlet_parameters(reg)
    cols = ["site_id", "parameter", "period_start", "value", "valid", "n_valid", "unit"]
    conc = hv[cols].merge(pol, on=["site_id", "parameter"])
    o2 = hv.loc[hv["parameter"] == "o2", ["site_id", "period_start", "value", "valid", "n_valid"]]
    c = conc[conc["outlet_type"] == "flue_gas"].merge(
        o2, on=["site_id", "period_start"], how="left", suffixes=("", "_o2")
    )
    ref = c["site_id"].map(reg.sites["reference_o2_pct"]).astype(float)
    corrected = (
        c["value"]
        * (AIR_O2_PCT - ref)
        / (AIR_O2_PCT - c["value_o2"]).where(c["value_o2"] < AIR_O2_PCT)
    )
    o2_rows = c[cols].assign(statistic="hour_avg_o2", value=corrected,
                             valid=c["valid"] & c["valid_o2"].fillna(False).astype(bool) & corrected.notna(),
                             n_valid=np.minimum(c["n_valid"], c["n_valid_o2"].fillna(0)))  # fmt: skip
    flow = hv[["site_id", "parameter", "period_start", "value", "valid", "n_valid"]].rename(
        columns={"parameter": "flow_parameter"})  # fmt: skip
    ld = conc.merge(flows, on="site_id").merge(flow, on=["site_id", "flow_parameter", "period_start"], how="left",
                                               suffixes=("", "_flow"))  # fmt: skip
    load = ld["value"] * ld["to_mgm3"] * ld["value_flow"] * ld["to_m3h"] / MG_PER_KG
    load_rows = ld[cols].assign(statistic="hour_load_kg", value=load, unit="kg",
                                valid=ld["valid"] & ld["valid_flow"].fillna(False).astype(bool),
                                n_valid=np.minimum(ld["n_valid"], ld["n_valid_flow"].fillna(0)))  # fmt: skip
    for rows in (o2_rows, load_rows):
        rows["value"] = rows["value"].where(rows["valid"])
    return o2_rows, load_rows


def _moving(wide: pd.DataFrame, col: str, hours: int, need: int, with_count: bool = False) -> Any:
    """`hours`-hour moving mean ending at each hour per site (rows = every hour, NaN = invalid)."""
    g = wide.groupby("site", sort=False)[col]
    mean = g.rolling(hours, min_periods=1).mean().reset_index(level=0, drop=True)
    count = g.rolling(hours, min_periods=1).count().reset_index(level=0, drop=True)
    return (mean.where(count >= need), count) if with_count else mean.where(count >= need)


def air_wide(hv: pd.DataFrame, reg: Registry) -> pd.DataFrame:
    """site, period_start and one column per pollutant (valid hour values), stations and city."""
    air = hv[(hv["kind"] == "air") & hv["parameter"].isin(POLLUTANTS)]
    wide = air.pivot(
        index=["site_id", "period_start"], columns="parameter", values="value"
    ).reset_index()
    wide = wide.rename(columns={"site_id": "site"}).reindex(
        columns=["site", "period_start", *POLLUTANTS]
    )
    in_city = reg.sites.index[
        (reg.sites["kind"] == "air") & reg.sites["in_city_assessment"].fillna(False).astype(bool)
    ]
    city = (
        wide[wide["site"].isin(in_city)]
        .groupby("period_start")[list(POLLUTANTS)]
        .mean()
        .reset_index()
    )
    wide = pd.concat([wide, city.assign(site="city")], ignore_index=True)
    return wide.sort_values(["site", "period_start"], ignore_index=True)


def aqi_hourly(
    wide: pd.DataFrame, reg: Registry, day: str, lo: pd.Timestamp, hi: pd.Timestamp
) -> pd.DataFrame:
    gb = _edition("GB3095", day)
    unit = {p: _unit_suffix(reg.params.loc[p, "unit"]) for p in POLLUTANTS}
    frame = wide[["site", "period_start"]].copy()
    for p in POLLUTANTS:
        frame[f"{p}_1h_{unit[p]}"] = wide[p]
    for p in (
        _table("air_validity")
        .query("edition == @gb and statistic == 'moving_24h_mean'")["pollutants"]
        .iloc[0]
        .split(";")
    ):
        frame[f"{p}_24h_{unit[p]}"] = _moving(wide, p, 24, _min_count(gb, "moving_24h_mean"))
    frame[f"o3_8h_{unit['o3']}"] = _moving(wide, "o3", O3_WINDOW_H, _min_count(gb, "o3_8h_moving"))
    frame = frame[(frame["period_start"] >= lo) & (frame["period_start"] < hi)].reset_index(
        drop=True
    )
    return aqi_table(frame, _edition("HJ633", day), "hourly")


def aqi_table(frame: pd.DataFrame, edition: str, report: str) -> pd.DataFrame:
    """HJ 633 IAQI per indicator (breakpoints, above-top rules, rounding of the edition), AQI,
    level, category, primary (and exceeding) pollutants; concentrations as used."""
    ind = _table("aqi_indicators").query(
        "edition == @edition and report == @report and reading in ('*', 'national_practice')"
    )
    bps = _table("aqi_breakpoints").query("edition == @edition")
    above = _table("aqi_above_top")
    rules = _table("aqi_edition_rules").query("edition == @edition").set_index("rule")["value"]
    rounding = (
        _table("concentration_rounding")
        .query("edition == @edition")
        .set_index("unit")["decimals"]
        .astype(int)
    )

    def conc(col: str) -> pd.Series:
        d = rounding.get(col.rsplit("_", 1)[-1])
        c = frame[col].astype(float)
        return c if d is None else pd.Series(_round_half_even(c, d), index=frame.index)

    def interp(c: pd.Series, column: str) -> tuple[np.ndarray, float]:
        t = bps[bps["breakpoint_column"] == column].astype({"concentration": float, "iaqi": float})
        t = t.sort_values("concentration")
        return np.interp(c, t["concentration"], t["iaqi"], right=np.nan), t["concentration"].iloc[
            -1
        ]

    def above_rule(indicator: str) -> pd.Series:
        m = above[above["edition"].isin([edition, "*"]) & above["report"].isin([report, "*"])
                  & above["indicator"].isin([indicator, "*"])]  # fmt: skip
        return m.iloc[0]

    out = frame.copy()
    raw, iaqi, missing = {}, {}, {}
    for r in ind.itertuples():
        c = conc(r.concentration_column)
        value, top = interp(c, r.breakpoint_column)
        miss = c.isna().to_numpy()
        rule = above_rule(r.indicator)
        if rule.action == "fixed":
            value = np.where(c > top, float(rule.value), value)
        elif rule.action == "fallback":
            fb = conc(rule.fallback_concentration_column)
            fb_value, fb_top = interp(fb, rule.fallback_breakpoint_column)
            fb_value = np.where(fb > fb_top, float(above_rule("*").value), fb_value)
            value = np.where(c > top, fb_value, value)
            miss = miss | ((c > top) & fb.isna()).to_numpy()
            out[rule.fallback_concentration_column] = fb
        out[r.concentration_column] = c
        raw[r.indicator], missing[r.indicator] = value, miss
        iaqi[r.indicator] = np.ceil(np.round(value, 9))
        out[f"iaqi_{r.indicator}"] = pd.array(iaqi[r.indicator], dtype="Int32")
    iq = pd.DataFrame(iaqi, index=frame.index)
    n_missing = pd.DataFrame(missing, index=frame.index).sum(axis=1)
    best = iq.max(axis=1)
    publish = n_missing == 0
    if rules.get("missing_indicator_policy") == "partial_if_above":
        publish |= best > float(rules["partial_publish_aqi_above"])
    out["edition"] = edition
    out["aqi"] = best.where(publish).astype("Int32")
    out["valid"] = n_missing == 0
    names = ind.set_index("indicator")["primary_name"]
    out["missing_indicators"] = (
        pd.DataFrame(missing, index=frame.index)
        .dot(pd.Index(names.index) + ";")
        .str.rstrip(";")
        .replace("", None)
    )
    lv = _table("aqi_levels").query("edition == @edition").astype({"level": int})
    tops = lv["aqi_to"].replace("", np.inf).astype(float).to_numpy()
    idx = np.searchsorted(tops, out["aqi"].astype(float).fillna(0), side="left")
    for c in ("level", "category_zh", "category_en", "colour_hex"):
        out[c if c != "category_zh" else "category"] = np.where(
            out["aqi"].notna(), lv[c].to_numpy()[np.minimum(idx, len(lv) - 1)], None
        )
    at_max = iq.eq(out["aqi"].astype(float), axis=0)
    primary = at_max.dot(pd.Index(names[iq.columns].to_numpy()) + ";").str.rstrip(";")
    out["primary_pollutants"] = primary.where(
        out["aqi"].astype(float) > float(rules["primary_aqi_above"])
    ).replace("", None)
    if "exceeding_iaqi_above" in rules:
        exc = pd.DataFrame(raw, index=frame.index) > float(rules["exceeding_iaqi_above"])
        out["exceeding_pollutants"] = (
            exc.dot(pd.Index(names[exc.columns].to_numpy()) + ";").str.rstrip(";").replace("", None)
        )
    else:
        out["exceeding_pollutants"] = None
    return out


def hourly_stage(df: pd.DataFrame, reg: Registry, day: str, tz: str, lo: pd.Timestamp, hi: pd.Timestamp,
                 out_dir: Path) -> dict[str, Any]:  # fmt: skip
    best = _dedup_sources(df)
    day_start = int(
        _table("noise_rules")
        .query("standard == @NOISE_STANDARD and rule == 'day_start_hour'")["value"]
        .iloc[0]
    )
    hv, counts = hour_values(
        best, reg, lo - 23 * H, hi + day_start * H
    )  # 23 h back for moving means; the night
    now = hv[(hv["period_start"] >= lo) & (hv["period_start"] < hi)]
    stored = ~now["parameter"].isin([k for k, v in HOUR_STATISTIC.items() if v is None])
    base = now[stored].assign(
        statistic=now["parameter"].map({k: v for k, v in HOUR_STATISTIC.items() if v})
    )
    base["statistic"] = base["statistic"].fillna("hour_avg")
    o2_rows, load_rows = o2_and_loads(now, reg)
    wide = air_wide(hv[hv["period_start"] < hi], reg)
    mean, count = _moving(
        wide, "o3", O3_WINDOW_H, _min_count(_edition("GB3095", day), "o3_8h_moving"), True
    )
    o3 = wide[["site", "period_start"]].assign(value=mean, n=count)
    o3 = o3[(o3["site"] != "city") & (o3["period_start"] >= lo) & (o3["period_start"] < hi)]
    o3_rows = pd.DataFrame({"site_id": o3["site"], "parameter": "o3", "statistic": "o3_8h", "period_start": o3["period_start"],
                            "value": o3["value"], "unit": reg.params.loc["o3", "unit"], "valid": o3["value"].notna(),
                            "n_valid": o3["n"], "n_expected": O3_WINDOW_H})  # fmt: skip
    cols = [
        "site_id",
        "parameter",
        "statistic",
        "period_start",
        "value",
        "unit",
        "valid",
        "n_valid",
        "n_expected",
    ]
    agg = pd.concat([base, o2_rows, load_rows, o3_rows], ignore_index=True).reindex(columns=cols)
    aqi = aqi_hourly(wide, reg, day, lo, hi)
    agg.to_parquet(out_dir / "warehouse" / "aggregates_hourly.parquet", index=False)
    aqi.to_parquet(out_dir / "warehouse" / "aqi_hourly.parquet", index=False)
    return {
        "best": best,
        "hv": hv,
        "counts": counts,
        "agg": agg,
        "aqi": aqi,
        "loads": load_rows,
        "o2": o2_rows,
    }


# --------------------------------------------------------------------------- 4. daily
def air_daily(wide_day: pd.DataFrame, reg: Registry, gb: str, tz: str) -> pd.DataFrame:
    """Station daily values with GB 3095 validity (24-h means, O3 1-h max, MDA8)."""
    w = wide_day.sort_values(["site", "period_start"], ignore_index=True)
    w["o3_8h"] = _moving(w, "o3", O3_WINDOW_H, _min_count(gb, "o3_8h_moving"))
    # MDA8: the windows that end within the day (last hour starting 07:00..23:00 local)
    w["o3_8h"] = w["o3_8h"].where(w["period_start"].dt.tz_convert(tz).dt.hour >= O3_WINDOW_H - 1)
    g = w.groupby("site")
    daily_mean = (
        _table("air_validity")
        .query("edition == @gb and statistic == 'daily_mean'")["pollutants"]
        .iloc[0]
        .split(";")
    )
    out = pd.DataFrame(index=g.size().index)
    for p in daily_mean:
        out[f"{p}_24h_{_unit_suffix(reg.params.loc[p, 'unit'])}"] = (
            g[p].mean().where(g[p].count() >= _min_count(gb, "daily_mean"))
        )
        out[f"n_{p}"] = g[p].count()
    out["o3_1h_max_ugm3"] = (
        g["o3"].max().where(g["o3"].count() >= _min_count(gb, "o3_1h_daily_max"))
    )
    out["o3_8h_max_ugm3"] = (
        g["o3_8h"].max().where(g["o3_8h"].count() >= _min_count(gb, "o3_8h_daily_max"))
    )
    out["n_o3"], out["n_o3_8h"] = g["o3"].count(), g["o3_8h"].count()
    return out


def water_class(means: pd.DataFrame, reg: Registry) -> pd.DataFrame:
    """GB 3838 single-factor class per section: best class each parameter meets, worst of them."""
    lim = _table("gb3838_limits")
    classes = ["I", "II", "III", "IV", "V"]
    sections = reg.sites[reg.sites["kind"] == "water"]
    m = means[means["value"].notna()].assign(
        waterbody=lambda x: x["site_id"].map(sections["waterbody"])
    )
    m = m.merge(
        lim.rename(columns={"waterbody": "limit_waterbody", "unit": "limit_unit"}), on="parameter"
    )
    m = m[m["limit_waterbody"].isin(["all"]) | (m["limit_waterbody"] == m["waterbody"])]
    m = m[m["role"] == "evaluated"].reset_index(drop=True)

    def meets(col: str) -> pd.Series:
        bound = m[col].str.split("-", expand=True)
        lo_b = bound[0].astype(float)
        hi_b = bound[1].astype(float) if bound.shape[1] > 1 else lo_b
        return np.select(
            [m["direction"] == "range", m["direction"] == "min"],
            [(m["value"] >= lo_b) & (m["value"] <= hi_b), m["value"] >= lo_b],
            m["value"] <= lo_b,
        )

    met = np.column_stack([meets(c) for c in classes] + [np.ones(len(m), bool)])
    m["class_i"] = met.argmax(axis=1)
    target = m["site_id"].map(sections["water_target_class"])
    ti = target.map({c: i for i, c in enumerate(classes)})
    bound = np.array([pd.to_numeric(m[c], errors="coerce").to_numpy() for c in classes])
    s = bound[ti.fillna(0).astype(int).to_numpy(), np.arange(len(m))] if len(m) else np.array([])
    m["multiple"] = np.where(
        (m["exceedance_multiple"] == "yes") & (m["value"] > s), (m["value"] - s) / s, np.nan
    )
    m["exceeding"] = m["class_i"] > ti
    rows = []
    labels = [*classes, WORSE_THAN_V]
    for site, sec in sections.iterrows():
        p = m[m["site_id"] == site].sort_values("parameter")
        worst = int(p["class_i"].max()) if len(p) else None
        exc = p[p["exceeding"]]
        rows.append({"site_id": site, "water_class": labels[worst] if worst is not None else None,
                     "target_class": sec["water_target_class"], "waterbody": sec["waterbody"],
                     "compliant": exc.empty if worst is not None else None,
                     "limiting_parameters": ";".join(p.loc[p["class_i"] == worst, "parameter"]) if worst else None,
                     "exceeding_parameters": ";".join(exc["parameter"]) or None,
                     "exceedance_multiples": ";".join(f"{a}={b:.2f}" for a, b in zip(exc["parameter"], exc["multiple"], strict=True) if b == b) or None,
                     "n_parameters": len(p)})  # fmt: skip
    return pd.DataFrame(rows)


def noise_daily(hv: pd.DataFrame, reg: Registry, day: str, tz: str) -> pd.DataFrame:
    """Ld (06-22) and Ln (22-06, the night starting on the day) energy means against the zone."""
    rules = (
        _table("noise_rules")
        .query("standard == @NOISE_STANDARD")
        .set_index("rule")["value"]
        .astype(float)
    )
    limits = _table("noise_limits").query("standard == @NOISE_STANDARD").set_index("zone")
    points = reg.sites[(reg.sites["kind"] == "noise") & reg.sites["noise_zone"].notna()]
    h = hv[hv["site_id"].isin(points.index) & hv["parameter"].isin(["leq", "lmax"])]
    w = h.pivot(
        index=["site_id", "period_start"], columns="parameter", values="value"
    ).reset_index()
    w = w.reindex(columns=["site_id", "period_start", "leq", "lmax"])
    w = w[w["leq"].notna()]
    local = w["period_start"].dt.tz_convert(tz)
    hour, d = local.dt.hour, local.dt.strftime("%Y-%m-%d")
    is_day = (hour >= rules["day_start_hour"]) & (hour < rules["night_start_hour"])
    prev = (local - pd.Timedelta(days=1)).dt.strftime("%Y-%m-%d")
    w = w.assign(is_day=is_day, date=np.where(is_day | (hour >= rules["night_start_hour"]), d, prev),
                 e=10 ** (0.1 * w["leq"]))  # fmt: skip
    w = w[w["date"] == day]
    ld = 10 * np.log10(w[w["is_day"]].groupby("site_id")["e"].mean())
    ln = 10 * np.log10(w[~w["is_day"]].groupby("site_id")["e"].mean())
    out = pd.DataFrame(index=points.index)
    out["zone"] = points["noise_zone"]
    out["ld_dba"] = _round_half_even(ld.reindex(out.index), 1)
    out["ln_dba"] = _round_half_even(ln.reindex(out.index), 1)
    out["ld_limit_dba"] = out["zone"].map(limits["day_dba"].astype(float))
    out["ln_limit_dba"] = out["zone"].map(limits["night_dba"].astype(float))
    out["day_exceeds"] = (out["ld_dba"] > out["ld_limit_dba"]).where(out["ld_dba"].notna())
    out["night_exceeds"] = (out["ln_dba"] > out["ln_limit_dba"]).where(out["ln_dba"].notna())
    out["lmax_night_dba"] = w[~w["is_day"]].groupby("site_id")["lmax"].max().reindex(out.index)
    out["night_max_exceeds"] = (out["lmax_night_dba"] > out["ln_limit_dba"] + rules["night_max_excess_dba"]
                                ).where(out["lmax_night_dba"].notna())  # fmt: skip
    out["n_day_hours"] = w[w["is_day"]].groupby("site_id").size().reindex(out.index, fill_value=0)
    out["n_night_hours"] = (
        w[~w["is_day"]].groupby("site_id").size().reindex(out.index, fill_value=0)
    )
    return out.reset_index(names="site_id").assign(local_date=day)


def _period_means(rows: pd.DataFrame, statistic: str, need: int) -> pd.DataFrame:
    g = rows.groupby(["site_id", "parameter"], sort=True)
    out = pd.DataFrame(
        {"value": g["value"].mean(), "n_valid": g["valid"].sum(), "unit": g["unit"].first()}
    )
    out["valid"] = out["n_valid"] >= need
    out["value"] = out["value"].where(out["valid"])
    return out.reset_index().assign(statistic=statistic)


def daily_stage(h: dict[str, Any], reg: Registry, day: str, tz: str, lo: pd.Timestamp, hi: pd.Timestamp,
                out_dir: Path) -> dict[str, Any]:  # fmt: skip
    hv = h["hv"]
    day_hours = hv[(hv["period_start"] >= lo) & (hv["period_start"] < hi)]
    gb, hj633 = _edition("GB3095", day), _edition("HJ633", day)
    stations = air_daily(air_wide(day_hours, reg).query("site != 'city'"), reg, gb, tz)
    in_city = reg.sites.index[
        (reg.sites["kind"] == "air") & reg.sites["in_city_assessment"].fillna(False).astype(bool)
    ]
    values = [c for c in stations.columns if not c.startswith("n_")]
    city = stations.loc[stations.index.isin(in_city), values].mean().to_frame("city").T
    both = pd.concat([stations[values], city]).rename_axis("site").reset_index()
    aqi = aqi_table(both, hj633, "daily").assign(local_date=day)
    stat_of = {
        "o3_1h_max_ugm3": ("o3", "o3_1h_max", "n_o3"),
        "o3_8h_max_ugm3": ("o3", "o3_8h_max", "n_o3_8h"),
    }
    air_rows = []
    for c in values:
        p, stat, n = stat_of.get(c, (c.split("_")[0], "day_avg", "n_" + c.split("_")[0]))
        air_rows.append(pd.DataFrame({"site_id": stations.index, "parameter": p, "statistic": stat, "value": stations[c].to_numpy(),
                                      "valid": stations[c].notna().to_numpy(), "n_valid": stations[n].to_numpy()}))  # fmt: skip
    air_rows = pd.concat(air_rows)

    need = int(_table("emission_validity").query("statistic == 'daily_mean'")["min_count"].iloc[0])
    outlets = day_hours[day_hours["kind"] == "outlet"]
    day_o2 = h["o2"][(h["o2"]["period_start"] >= lo) & (h["o2"]["period_start"] < hi)]
    loads = h["loads"][(h["loads"]["period_start"] >= lo) & (h["loads"]["period_start"] < hi)]
    g = loads.groupby(["site_id", "parameter"])
    totals = pd.DataFrame(
        {"total_kg": g["value"].sum(), "n_valid_hours": g["valid"].sum()}
    ).reset_index()
    totals["valid"] = totals["n_valid_hours"] >= need
    totals["permitted_kg"] = (
        _permitted_day(reg, day)
        .reindex(pd.MultiIndex.from_frame(totals[["site_id", "parameter"]]))
        .to_numpy()
    )
    totals["total_kg"] = totals["total_kg"].where(totals["valid"])
    totals["share_of_permit"] = totals["total_kg"] / totals["permitted_kg"]
    totals["over_permit"] = (totals["total_kg"] > totals["permitted_kg"]).where(
        totals["total_kg"].notna() & totals["permitted_kg"].notna()
    )

    best = h["best"]
    w = best[
        (best["site_id"].map(reg.sites["kind"]) == "water")
        & (best["period_start"] >= lo)
        & (best["period_start"] < hi)
    ]
    w = w.assign(
        vv=w["value"].where(w["valid"]),
        site_id=w["site_id"].astype(str),
        parameter=w["parameter"].astype(str),
    )
    gw = w.groupby(["site_id", "parameter"])
    means = pd.DataFrame({"value": gw["vv"].mean(), "n_valid": gw["valid"].sum(), "n_values": gw.size(),
                          "unit": gw["unit"].first().astype(str)}).reset_index()  # fmt: skip
    water = water_class(means, reg).assign(period="day", period_start=day)
    noise = noise_daily(hv, reg, day, tz)

    agg = pd.concat([air_rows, _period_means(outlets, "day_avg", need), _period_means(day_o2, "day_avg_o2", need),
                     totals.assign(statistic="day_total_kg", value=totals["total_kg"], n_valid=totals["n_valid_hours"], unit="kg"),
                     means.assign(statistic="day_avg", valid=means["n_valid"] >= 1)], ignore_index=True)  # fmt: skip
    agg = agg[["site_id", "parameter", "statistic", "value", "unit", "valid", "n_valid"]].assign(
        local_date=day
    )
    agg["value"] = agg["value"].where(agg["valid"])
    for name, frame in (("aggregates_daily", agg), ("aqi_daily", aqi), ("water_class", water),
                        ("noise_daily", noise), ("emission_totals", totals)):  # fmt: skip
        frame.to_parquet(out_dir / "warehouse" / f"{name}.parquet", index=False)
    return {
        "agg": agg,
        "aqi": aqi,
        "water": water,
        "noise": noise,
        "totals": totals,
        "water_means": means,
    }


def _permitted_day(reg: Registry, day: str) -> pd.Series:
    """Permitted kg for the day: a 'day' quantity, else the year's pro rata by days."""
    q = reg.permitted
    q = q[
        (q["valid_from"].astype(str) <= day)
        & (q["valid_to"].isna() | (q["valid_to"].astype(str) >= day))
    ]
    year = int(day[:4])
    days = 366 if calendar.isleap(year) else 365
    per_day = (
        q["quantity_kg"]
        .where(q["period"] == "day", q["quantity_kg"] / days)
        .where(q["period"].isin(["day", "year"]))
    )
    q = (
        q.assign(kg=per_day, first=q["period"] == "day")
        .dropna(subset=["kg"])
        .sort_values("first", ascending=False)
    )
    return q.drop_duplicates(["site_id", "parameter"]).set_index(["site_id", "parameter"])["kg"]


# --------------------------------------------------------------------------- 6. rules
def _load_rules(config_dir: Path) -> tuple[list[Any], dict[str, Any], set[str]]:
    """The rules (parsed with envmon's rule models: the same defaults), calendar and holidays."""
    rules, cal = [], {}
    for path in sorted((Path(config_dir) / "rules").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        rules += [RULE_MODELS[r["kind"]].model_validate(r) for r in data.get("rules", [])]
        cal.update(data.get("calendar", {}))
    holidays = set()
    if cal.get("holidays_file"):
        holidays = set(
            pd.read_csv(Path(config_dir) / "rules" / cal["holidays_file"], dtype=str)["date"]
        )
    return rules, cal, holidays


def _threshold_obs(rule: ThresholdRule, reg: Registry, h: dict[str, Any], d: dict[str, Any], tz: str,
                   lo: pd.Timestamp, hi: pd.Timestamp) -> pd.DataFrame:  # fmt: skip
    kind = reg.sites["kind"]
    day_end = hi
    if rule.statistic in ("hour_avg", "hour_avg_o2", "day_avg", "day_avg_o2"):
        hourly = rule.statistic.startswith("hour")
        a = h["agg"] if hourly else d["agg"].assign(period_start=lo)
        a = a[(a["statistic"] == rule.statistic) & a["parameter"].isin(rule.parameters)
              & a["site_id"].map(kind).isin(rule.site_kinds)].copy()  # fmt: skip
        a["period_end"] = a["period_start"] + (H if hourly else (day_end - lo))
        if rule.limit.source == "permit":
            pl = reg.permit_limits
            day = lo.tz_convert(tz).strftime("%Y-%m-%d")
            pl = pl[(pl["statistic"] == rule.statistic) & (pl["valid_from"].astype(str) <= day)
                    & (pl["valid_to"].isna() | (pl["valid_to"].astype(str) >= day))]  # fmt: skip
            pl = pl.sort_values("valid_from", key=lambda c: c.astype(str)).drop_duplicates(
                ["site_id", "parameter"], keep="last"
            )
            a = a.merge(pl[["site_id", "parameter", "limit", "unit"]], on=["site_id", "parameter"], how="left",
                        suffixes=("", "_limit"))  # fmt: skip
            f = [
                reg.factor(u, lu) if lu == lu else np.nan
                for u, lu in zip(a["unit"], a["unit_limit"], strict=True)
            ]
            a["value"] = a["value"] * np.array(f, dtype=float)
        elif rule.limit.source == "value":
            a["limit"] = rule.limit.value
        elif rule.limit.source == "water_target_class":
            return _class_limit_obs(a, reg)
        if rule.comparison == "above":
            exceeded = a["value"] > a["limit"]
        else:
            exceeded = a["value"] < a["limit"]
        a["exceeded"] = exceeded.where(a["valid"] & a["value"].notna() & a["limit"].notna())
        return a
    if rule.statistic == "aqi_daily":
        a = d["aqi"][d["aqi"]["site"] != "city"]
        a = pd.DataFrame({"site_id": a["site"], "value": a["aqi"].astype(float), "limit": rule.limit.value,
                          "valid": a["valid"].to_numpy()})  # fmt: skip
        a["exceeded"] = (a["value"] > a["limit"]).where(a["valid"] & a["value"].notna())
    elif rule.statistic == "water_class_day":
        labels = ["I", "II", "III", "IV", "V", WORSE_THAN_V]
        w = d["water"]
        a = pd.DataFrame({"site_id": w["site_id"], "value": w["water_class"].map({c: i + 1 for i, c in enumerate(labels)}),
                          "limit": w["target_class"].map({c: i + 1 for i, c in enumerate(labels)})})  # fmt: skip
        a["exceeded"] = (a["value"] > a["limit"]).where(a["value"].notna() & a["limit"].notna())
    elif rule.statistic in ("noise_ld", "noise_ln"):
        n = d["noise"]
        col = "ld" if rule.statistic == "noise_ld" else "ln"
        limit = n[f"{col}_limit_dba"] if rule.limit.source == "noise_zone" else rule.limit.value
        a = pd.DataFrame({"site_id": n["site_id"], "value": n[f"{col}_dba"], "limit": limit})
        cmp = a["value"] > a["limit"] if rule.comparison == "above" else a["value"] < a["limit"]
        a["exceeded"] = cmp.where(a["value"].notna())
    else:
        raise ValueError(f"statistic {rule.statistic} is not written in the baseline")
    a = a[a["site_id"].map(kind).isin(rule.site_kinds)]
    return a.assign(parameter="", period_start=lo, period_end=day_end)


def _class_limit_obs(a: pd.DataFrame, reg: Registry) -> pd.DataFrame:
    """A day mean against the GB 3838 limit of the section's target class (direction per row)."""
    lim = _table("gb3838_limits")
    sec = reg.sites
    a = a.assign(
        waterbody=a["site_id"].map(sec["waterbody"]),
        target=a["site_id"].map(sec["water_target_class"]),
    )
    a = a.merge(lim, left_on="parameter", right_on="parameter", suffixes=("", "_t"))
    a = a[a["waterbody_t"].isin(["all"]) | (a["waterbody_t"] == a["waterbody"])]
    classes = ["I", "II", "III", "IV", "V"]
    bound = pd.Series(
        np.select([a["target"] == c for c in classes], [a[c] for c in classes], None), index=a.index
    )
    parts = bound.str.split("-", expand=True)
    lo_b = parts[0].astype(float)
    hi_b = parts[1].astype(float) if parts.shape[1] > 1 else lo_b
    v = a["value"] * np.array([reg.factor(u, "mg/L") if reg.factor(u, "mg/L") == reg.factor(u, "mg/L") else 1.0
                               for u in a["unit"]])  # fmt: skip
    exceeded = np.select(
        [a["direction"] == "range", a["direction"] == "min"],
        [~((v >= lo_b) & (v <= hi_b)), v < lo_b],
        v > lo_b,
    )
    a["limit"] = np.where(a["direction"] == "range", hi_b, lo_b)
    a["exceeded"] = pd.Series(exceeded, index=a.index).where(a["valid"] & a["value"].notna())
    return a


def _flat_line_obs(
    rule: FlatLineRule, readings: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp
) -> pd.DataFrame:
    """Per series and hour h: the valid values of the `hours` hours ending with h, when they span
    the window and cover enough of it; flat when max - min <= tolerance (flat if any interval is)."""
    r = readings[readings["parameter"].isin(rule.parameters) & readings["interval_s"].isin(rule.interval_s)
                 & (readings["flag"].isna() | (readings["flag"] == "N")) & readings["value"].notna()
                 & readings["kind"].isin(rule.site_kinds) & (readings["period_start"] < hi)]  # fmt: skip
    keys = ["site_id", "parameter", "interval_s"]
    cells = (r.assign(h=r["period_start"].dt.floor("h")).groupby([*keys, "h"], observed=True)["value"]
             .agg(["min", "max", "count"]).reset_index())  # fmt: skip
    cells[["site_id", "parameter"]] = cells[["site_id", "parameter"]].astype(str)
    hours = pd.date_range(
        min(cells["h"].min(), lo) if len(cells) else lo, hi, freq="h", inclusive="left"
    )
    grid = (cells[keys].drop_duplicates().merge(pd.DataFrame({"h": hours}), how="cross")
            .merge(cells, on=[*keys, "h"], how="left").sort_values([*keys, "h"], ignore_index=True))  # fmt: skip
    g = grid.groupby(keys, sort=False)

    def roll(col: str, how: str) -> pd.Series:
        return getattr(g[col].rolling(rule.hours, min_periods=1), how)().reset_index(
            level=[0, 1, 2], drop=True
        )

    spread = roll("max", "max") - roll("min", "min")
    n = roll("count", "sum")
    spans = g["count"].shift(rule.hours - 1).notna()  # data in the window's first hour
    need = rule.min_coverage * rule.hours * (3600 // grid["interval_s"]).clip(lower=1)
    ok = spans & (n >= need) & (grid["h"] >= lo)
    o = grid.loc[ok, ["site_id", "parameter", "h"]].assign(
        value=spread[ok], exceeded=spread[ok] <= rule.tolerance
    )
    o = o.groupby(["site_id", "parameter", "h"], as_index=False).agg(
        value=("value", "min"), exceeded=("exceeded", "any")
    )
    return o.rename(columns={"h": "period_start"}).assign(
        limit=rule.tolerance, period_end=lambda x: x["period_start"] + H
    )


def _coverage(h: dict[str, Any], grid_lo: pd.Timestamp) -> pd.DataFrame:
    """(site, hour) of every hour holding a reading (a 4-hourly value covers its 4 hours): the
    hourly stage's counts, and the readings it did not count (coarser, or older than its hours)."""
    best = h["best"]
    coarse = best.loc[
        (best["interval_s"] > 3600) | (best["period_start"] < grid_lo),
        ["site_id", "period_start", "interval_s"],
    ]
    c = pd.concat([h["counts"][["site_id", "hour", "interval_s"]],
                   coarse.assign(hour=coarse["period_start"].dt.floor("h")).drop(columns="period_start")])  # fmt: skip
    c = (
        c.assign(site_id=c["site_id"].astype(str))
        .groupby(["site_id", "hour"])["interval_s"]
        .max()
        .reset_index()
    )
    span = (-(-c["interval_s"] // 3600)).clip(lower=1)
    c = c.loc[c.index.repeat(span)]
    c["hour"] = c["hour"] + c.groupby(level=0).cumcount() * H
    return c[["site_id", "hour"]].drop_duplicates()


def _no_data_obs(
    rule: NoDataRule, cover: pd.DataFrame, reg: Registry, lo: pd.Timestamp, hi: pd.Timestamp
) -> pd.DataFrame:
    """Each hour of the day per site that reported within the lookback: no reading = exceeded."""
    back = pd.Timedelta(hours=rule.lookback_h)
    c = cover[
        cover["site_id"].map(reg.sites["kind"]).isin(rule.site_kinds) & (cover["hour"] >= lo - back)
    ]
    hours = pd.date_range(lo - back, hi, freq="h", inclusive="left")
    sites = c["site_id"].unique()
    grid = pd.DataFrame(
        {"site_id": np.repeat(sites, len(hours)), "hour": np.tile(hours, len(sites))}
    )
    grid = grid.merge(c.assign(covered=True), on=["site_id", "hour"], how="left")
    grid["covered"] = grid["covered"].fillna(False).astype(bool)
    last = grid["hour"].where(grid["covered"]).groupby(grid["site_id"]).ffill()
    grid["last"] = last.groupby(grid["site_id"]).shift(1)
    grid = grid[(grid["hour"] >= lo) & (grid["covered"] | (grid["hour"] - grid["last"] <= back))]
    return pd.DataFrame({"site_id": grid["site_id"], "parameter": "", "period_start": grid["hour"],
                         "period_end": grid["hour"] + H, "value": np.nan, "limit": np.nan,
                         "exceeded": ~grid["covered"]})  # fmt: skip


def _flagged_obs(
    rule: FlaggedRule, readings: pd.DataFrame, lo: pd.Timestamp, hi: pd.Timestamp
) -> pd.DataFrame:
    r = readings[readings["parameter"].isin(rule.parameters) & (readings["interval_s"] == rule.interval_s)
                 & readings["kind"].isin(rule.site_kinds) & (readings["period_start"] < hi)]  # fmt: skip
    o = r.assign(exceeded=r["flag"].isin(rule.flags)).groupby(["site_id", "parameter", "period_start"], observed=True,
                                                              as_index=False)["exceeded"].any()  # fmt: skip
    return o.assign(
        value=np.nan,
        limit=np.nan,
        period_end=o["period_start"] + pd.Timedelta(seconds=rule.interval_s),
    )


def _in_window(
    obs: pd.DataFrame, rule: Any, cal: dict[str, Any], holidays: set[str], tz: str
) -> pd.Series:
    local = obs["period_start"].dt.tz_convert(tz)
    inside = pd.Series(False, index=obs.index)
    if "night" in rule.only_during:
        n, h = cal["night"], local.dt.hour
        inside |= ((h >= n["start_hour"]) | (h < n["end_hour"])) if n["start_hour"] > n["end_hour"] else (
            (h >= n["start_hour"]) & (h < n["end_hour"]))  # fmt: skip
    if "holiday" in rule.only_during:
        inside |= local.dt.strftime("%Y-%m-%d").isin(holidays)
    return inside


def lifecycle(obs: pd.DataFrame, rule: Any) -> list[dict[str, Any]]:
    """Alerts of one rule: opened when the duration is met, resolved after clear_after normal
    periods in a row (None = no verdict: neither). Only series with an exceedance are stepped."""
    alerts = []
    window, needed = rule.duration.window, rule.duration.needed
    hit = obs["exceeded"].eq(True).groupby([obs["site_id"], obs["parameter"]]).transform("any")
    for (site, param), s in obs[hit].sort_values("period_start").groupby(["site_id", "parameter"]):
        recs = list(s[["period_start", "period_end", "value"]].itertuples(index=False))
        verdict = [None if x is None or x != x else bool(x) for x in s["exceeded"]]
        by_end = {r.period_end: i for i, r in enumerate(recs)}
        alert = None
        for i, r in enumerate(recs):
            exceeded = verdict[i]
            if alert is None:
                chain = [i]
                while len(chain) < window and by_end.get(recs[chain[-1]].period_start) is not None:
                    chain.append(by_end[recs[chain[-1]].period_start])
                ex = [recs[j] for j in chain if verdict[j]]
                met = exceeded and (
                    len(ex) == window if rule.duration.consecutive else len(ex) >= needed
                )
                if met:
                    alert = {"rule_id": rule.rule_id, "family": rule.family, "site_id": site, "parameter": param,
                             "first_period": min(x.period_start for x in ex), "last_period": r.period_start,
                             "periods_exceeded": len(ex), "max_value": max((x.value for x in ex), default=None),
                             "resolved_period": None, "streak": 0, "opens_case": rule.opens_case}  # fmt: skip
                    alerts.append(alert)
            elif exceeded:
                alert.update(
                    last_period=r.period_start,
                    streak=0,
                    periods_exceeded=alert["periods_exceeded"] + 1,
                )
            elif exceeded is False:
                alert["streak"] += 1
                if alert["streak"] >= rule.clear_after:
                    alert["resolved_period"] = r.period_end
                    alert = None
    return alerts


def rules_stage(h: dict[str, Any], d: dict[str, Any], readings: pd.DataFrame, reg: Registry, config_dir: Path,
                tz: str, lo: pd.Timestamp, hi: pd.Timestamp, out_dir: Path) -> dict[str, int]:  # fmt: skip
    rules, cal, holidays = _load_rules(config_dir)
    cover = _coverage(h, lo - 23 * H)
    alerts, periods = [], 0
    for rule in rules:
        if isinstance(rule, ThresholdRule):
            obs = _threshold_obs(rule, reg, h, d, tz, lo, hi)
        elif isinstance(rule, FlatLineRule):
            obs = _flat_line_obs(rule, readings, lo, hi)
        elif isinstance(rule, NoDataRule):
            obs = _no_data_obs(rule, cover, reg, lo, hi)
        elif isinstance(rule, FlaggedRule):
            obs = _flagged_obs(rule, readings, lo, hi)
        else:  # the kinds the baseline does not model (see RULE_MODELS)
            continue
        if obs.empty:
            continue
        obs = obs.assign(
            exceeded=obs["exceeded"].astype(object).where(obs["exceeded"].notna(), None)
        )
        if rule.only_during:
            outside = ~_in_window(obs, rule, cal, holidays, tz) & obs["exceeded"].notna()
            obs.loc[outside, "exceeded"] = False
        periods += int(((obs["period_end"] > lo) & (obs["period_end"] <= hi)).sum())
        alerts += lifecycle(obs, rule)
    frame = pd.DataFrame(alerts, columns=["rule_id", "family", "site_id", "parameter", "first_period", "last_period",
                                          "periods_exceeded", "max_value", "resolved_period", "streak", "opens_case"])  # fmt: skip
    cases = frame[frame["opens_case"]].drop_duplicates(["site_id", "family"])[
        ["site_id", "family", "first_period"]
    ]
    frame.drop(columns="streak").to_parquet(out_dir / "warehouse" / "alerts.parquet", index=False)
    cases.to_parquet(out_dir / "warehouse" / "cases.parquet", index=False)
    return {"rules": len(rules), "rule_periods": periods, "alerts": len(frame), "alerts_resolved": int(frame["resolved_period"].notna().sum()),
            "cases": len(cases)}  # fmt: skip


# --------------------------------------------------------------------------- 7. report
REPORT_CONCENTRATIONS = ["so2_24h_ugm3", "no2_24h_ugm3", "pm10_24h_ugm3", "pm25_24h_ugm3", "co_24h_mgm3",
                         "o3_1h_max_ugm3", "o3_8h_max_ugm3"]  # fmt: skip


def daily_report(aqi: pd.DataFrame, reg: Registry, day: str, out_dir: Path) -> int:
    """The daily AQI report: the city, then every air station in service, with level texts."""
    import json

    air = reg.sites[reg.sites["kind"] == "air"]
    rows = pd.DataFrame({"site_id": ["city", *sorted(air.index)]})
    city = json.loads(VOCABULARY.read_text(encoding="utf-8"))["labels"]["city"]
    rows["scope"] = np.where(rows["site_id"] == "city", "city", "station")
    rows["name_zh"] = rows["site_id"].map(air["name_zh"]).fillna(city[0])
    rows["name_en"] = rows["site_id"].map(air["name_en"]).fillna(city[1])
    r = rows.merge(aqi.rename(columns={"site": "site_id"}), on="site_id", how="left").assign(
        local_date=day
    )
    rounding = (
        _table("concentration_rounding").sort_values("edition").drop_duplicates("unit", keep="last")
    )
    decimals = rounding.set_index("unit")["decimals"].astype(int)
    for c in REPORT_CONCENTRATIONS:
        dd = decimals[c.rsplit("_", 1)[-1]]
        v = _round_half_even(r[c], dd)
        r[c] = [None if x != x else f"{x:.{dd}f}" for x in v]
    lv = _table("aqi_levels").astype({"level": int}).set_index(["edition", "level"])
    key = pd.MultiIndex.from_arrays([r["edition"], r["level"].astype(float).fillna(-1).astype(int)])
    texts = lv.reindex(key)
    for c in ("health_effect_zh", "health_effect_en", "advice_zh", "advice_en"):
        r[c] = texts[c].to_numpy()
    r["texts_status"] = texts["status"].to_numpy()
    cols = ["site_id", "scope", "name_zh", "name_en", "local_date", "edition", "aqi", "level", "category",
            "category_en", "colour_hex", "primary_pollutants", *REPORT_CONCENTRATIONS, "health_effect_zh",
            "health_effect_en", "advice_zh", "advice_en", "texts_status"]  # fmt: skip
    (out_dir / "site" / "daily").mkdir(parents=True, exist_ok=True)
    r[cols].to_csv(out_dir / "site" / "daily" / f"{day}.csv", index=False)
    return len(r)


# --------------------------------------------------------------------------- the run
def run_pandas(
    landing_root: str, config_dir: Path, out_dir: Path, day: str, tz: str
) -> dict[str, Any]:
    """The nightly stages for local day `day`; a flat summary of counts and `stage_seconds`."""
    seconds: dict[str, float] = {}
    out_dir = Path(out_dir)
    lo, hi = local_day_utc(day, tz)

    t = time.perf_counter()
    reg = read_registry(Path(config_dir), tz)
    readings, load_sum = load_readings(landing_root, out_dir)
    seconds["load"] = time.perf_counter() - t

    t = time.perf_counter()
    readings, _flags, qc_sum = run_qc(readings, reg, Path(config_dir), lo, hi, out_dir)
    seconds["qc"] = time.perf_counter() - t

    t = time.perf_counter()
    h = hourly_stage(readings, reg, day, tz, lo, hi, out_dir)
    seconds["hourly"] = time.perf_counter() - t

    t = time.perf_counter()
    d = daily_stage(h, reg, day, tz, lo, hi, out_dir)
    seconds["daily"] = time.perf_counter() - t

    t = time.perf_counter()
    avail = availability(h, reg, day, lo, hi, out_dir)
    seconds["availability"] = time.perf_counter() - t

    t = time.perf_counter()
    rules = rules_stage(h, d, readings, reg, Path(config_dir), tz, lo, hi, out_dir)
    seconds["rules"] = time.perf_counter() - t

    t = time.perf_counter()
    report_rows = daily_report(d["aqi"], reg, day, out_dir)
    seconds["report"] = time.perf_counter() - t

    return {
        "readings": load_sum["readings_loaded"], "rows_duplicate": load_sum["rows_duplicate"],
        **qc_sum,
        "hourly_rows": len(h["agg"]), "hourly_valid": int(h["agg"]["valid"].sum()),
        "aqi_hourly_rows": len(h["aqi"]), "daily_rows": len(d["agg"]), "aqi_daily_rows": len(d["aqi"]),
        "water_class_rows": len(d["water"]), "noise_rows": len(d["noise"]), "emission_totals": len(d["totals"]),
        "over_permit": int(d["totals"]["over_permit"].fillna(False).astype(bool).sum()),
        "availability_rows": len(avail), **rules, "report_rows": report_rows,
        "stage_seconds": {k: round(v, 3) for k, v in seconds.items()},
    }  # fmt: skip
