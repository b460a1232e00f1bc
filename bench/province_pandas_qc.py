"""The pandas baseline's data-quality stages: the registry as frames, load (read, de-duplicate,
persist), QC (the checks of config/qc.yaml over every reading) and data availability, as an
analyst would write them.

The QC configuration is read with envmon's own loader (config/qc.yaml validated, with the
defaults it documents, and core/reading_flags.csv), so both run the same checks with
the same thresholds; the checks themselves are written here with pandas and numpy. See
bench/province_pandas.py for what the baseline covers and leaves out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from transforms.qc.checks import ROC_MAX_GAP_S
from transforms.qc.config import default_qc_path, load_qc_config
from transforms.qc.flags import Flag

NATURAL_KEY = ["site_id", "parameter", "period_start", "interval_s", "source_kind"]
SERIES_KEY = ["site_id", "parameter", "interval_s", "source_kind"]
READ_COLUMNS = [*NATURAL_KEY, "value", "value_zs", "unit", "flag", "received_at"]
TEXT_COLUMNS = ["site_id", "parameter", "source_kind", "unit", "flag"]
PASS, SUSPECT, FAIL, MISSING = (np.int8(f) for f in Flag)


def _sev(label: str) -> np.int8:
    return np.int8(Flag[label.upper()])


# --------------------------------------------------------------------------- registry
@dataclass
class Registry:
    sites: pd.DataFrame  # index site_id: kind, timezone, commissioning, zone, class, outlet facts
    site_params: pd.DataFrame  # site_id, parameter, interval_s, unit (the site's)
    params: pd.DataFrame  # index parameter: domain, unit, min_possible, max_possible, decimals
    units: pd.DataFrame  # index unit: quantity, to_base
    permit_limits: pd.DataFrame  # site_id, parameter, statistic, limit, unit, valid_from, valid_to
    permitted: pd.DataFrame  # site_id, parameter, period, quantity_kg, valid_from, valid_to

    def factor(self, unit_from: str | None, unit_to: str | None) -> float:
        """Multiply by this to convert unit_from to unit_to; NaN when not convertible."""
        if unit_from == unit_to:
            return 1.0
        if unit_from not in self.units.index or unit_to not in self.units.index:
            return np.nan
        a, b = self.units.loc[unit_from], self.units.loc[unit_to]
        return float(a.to_base / b.to_base) if a.quantity == b.quantity else np.nan


def read_registry(config_dir: Path, default_tz: str) -> Registry:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    reg = Path(config_dir) / "registry"
    raw = {n: yaml.load((reg / f"{n}.yaml").read_text(encoding="utf-8"), Loader=loader)
           for n in ("parameters", "units", "stations", "enterprises")}  # fmt: skip
    params = pd.DataFrame(raw["parameters"]["parameters"]).set_index("parameter")
    units = pd.DataFrame(raw["units"]["units"]).set_index("unit")
    sites, sp, limits, quantities = [], [], [], []
    for s in raw["stations"]["stations"]:
        sites.append({k: s.get(k) for k in ("site_id", "kind", "name_zh", "name_en", "grid_id", "timezone",
                      "commissioned_on", "decommissioned_on", "noise_zone", "water_target_class", "waterbody",
                      "in_city_assessment")})  # fmt: skip
        sp += [{"site_id": s["site_id"], **p} for p in s["parameters"]]
    for e in raw["enterprises"]["enterprises"]:
        for o in e["outlets"]:
            sites.append({"site_id": o["site_id"], "kind": "outlet", "name_zh": o["name_zh"], "name_en": o["name_en"],
                          "grid_id": e["grid_id"], "commissioned_on": o.get("commissioned_on"),
                          "outlet_type": o["outlet_type"], "reference_o2_pct": o.get("reference_o2_pct")})  # fmt: skip
            sp += [{"site_id": o["site_id"], **p} for p in o["parameters"]]
            limits += [{"site_id": o["site_id"], **lim} for lim in o.get("permit_limits", [])]
            quantities += [
                {"site_id": o["site_id"], **q} for q in o.get("permitted_quantities", [])
            ]
    sites_df = pd.DataFrame(sites).set_index("site_id")
    sites_df["timezone"] = sites_df["timezone"].fillna(default_tz)
    sp_df = pd.DataFrame(sp)
    if "unit" not in sp_df:
        sp_df["unit"] = None
    sp_df["unit"] = sp_df["unit"].fillna(sp_df["parameter"].map(params["unit"]))
    sp_df["interval_s"] = sp_df["interval_s"].fillna(3600).astype(int)
    lim_cols = ["site_id", "parameter", "statistic", "limit", "unit", "valid_from", "valid_to"]
    q_cols = ["site_id", "parameter", "period", "quantity_kg", "valid_from", "valid_to"]
    return Registry(sites_df, sp_df, params, units, pd.DataFrame(limits, columns=lim_cols),
                    pd.DataFrame(quantities, columns=q_cols))  # fmt: skip


# --------------------------------------------------------------------------- 1. load
def load_readings(landing_root: str, out_dir: Path) -> tuple[pd.DataFrame, dict[str, int]]:
    """Every landing batch; one row per natural key (the first one read wins, as envmon's
    loader keeps the first and records later differing ones as conflicts); persisted."""
    df = pd.read_parquet(
        Path(landing_root.removeprefix("file://")) / "readings", columns=READ_COLUMNS
    )
    rows_in = len(df)
    for c in TEXT_COLUMNS:
        df[c] = df[c].astype("category")
    df = df[~df.duplicated(NATURAL_KEY)].reset_index(drop=True)
    (out_dir / "warehouse").mkdir(parents=True, exist_ok=True)
    df.to_parquet(out_dir / "warehouse" / "readings.parquet", index=False)
    return df, {
        "rows_read": rows_in,
        "readings_loaded": len(df),
        "rows_duplicate": rows_in - len(df),
    }


# --------------------------------------------------------------------------- 2. QC
_CHECK_COLUMNS = ["inst_min", "inst_max", "inst_flag", "flat_periods", "flat_tol", "flat_flag", "spike_suspect",
                  "spike_fail", "roc_max", "roc_flag", "np_on", "np_allow_zero", "np_flag", "value_factor"]  # fmt: skip


def _thresholds(cfg: Any, reg: Registry, keys: pd.DataFrame) -> pd.DataFrame:
    """One row per (parameter, site kind, reading unit): the check thresholds in the parameter's
    registry unit, and the factor from the reading's unit to it."""
    rows = []
    for parameter, kind, unit in keys.itertuples(index=False):
        cs = cfg.checks_for(parameter, kind if isinstance(kind, str) else "")
        pu = reg.params["unit"].get(parameter)
        f = reg.factor(cs.unit, pu) if cs.unit and pu and cs.unit != pu else 1.0
        g, fl, s, r, p = cs.gross_range, cs.flat_line, cs.spike, cs.rate_of_change, cs.non_positive
        rows.append((
            g.instrument_min * f if g and g.instrument_min is not None else np.nan,
            g.instrument_max * f if g and g.instrument_max is not None else np.nan,
            _sev(g.flag) if g else SUSPECT,
            fl.periods if fl else np.nan, fl.tolerance * f if fl else 0.0, _sev(fl.flag) if fl else SUSPECT,
            s.suspect_above * f if s else np.nan, s.fail_above * f if s and s.fail_above else np.nan,
            r.max_per_hour * f if r else np.nan, _sev(r.flag) if r else SUSPECT,
            p is not None, p.allow_zero if p else True, _sev(p.flag) if p else FAIL,
            1.0 if unit == pu else (reg.factor(unit, pu) if pu else np.nan),
        ))  # fmt: skip
    return pd.DataFrame(rows, columns=_CHECK_COLUMNS)


def run_qc(df: pd.DataFrame, reg: Registry, config_dir: Path, lo: pd.Timestamp, hi: pd.Timestamp,
           out_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, int]]:  # fmt: skip
    """Every check of config/qc.yaml (thresholds per parameter and site kind, merged with 'any'),
    the physically possible range of the registry, the source's data flag, missing values, unit,
    timestamps and the consistency checks. Returns the readings sorted into series with `qc_flag`
    (worst flag) and `valid` (pass or suspect), and the flags frame (only flags, not passes)."""
    cfg = load_qc_config(default_qc_path(config_dir), list(reg.params.index))
    df["kind"] = df["site_id"].map(reg.sites["kind"]).astype("category")
    # series (site, parameter, interval, source) in time order: every check looks at one series
    df["series"] = df.groupby(SERIES_KEY, observed=True, sort=False).ngroup()
    df = df.sort_values(["series", "period_start"], ignore_index=True)

    grp = (
        df.groupby(["parameter", "kind", "unit"], observed=True, sort=False, dropna=False)
        .ngroup()
        .to_numpy()
    )
    keys = (df[["parameter", "kind", "unit"]].assign(g=grp).drop_duplicates("g").sort_values("g")
            .drop(columns="g").astype(object))  # fmt: skip
    th = _thresholds(cfg, reg, keys)
    per_row = {c: th[c].to_numpy()[grp] for c in _CHECK_COLUMNS}
    param_unit = df["parameter"].map(reg.params["unit"]).astype(object).to_numpy()
    factor = per_row["value_factor"]
    raw_value = df["value"].to_numpy()
    v = np.where(np.isnan(factor), raw_value, raw_value * factor)  # value in the parameter's unit
    df["value_std"] = v
    t = df["period_start"].dt.as_unit("s").astype("int64").to_numpy()
    iv = df["interval_s"].to_numpy().astype(np.int64)
    by_series = df.groupby("series", sort=False)
    new_series = by_series.cumcount().to_numpy() == 0
    prev_v = by_series["value_std"].shift(1).to_numpy()
    next_v = by_series["value_std"].shift(-1).to_numpy()
    dt_prev = by_series["period_start"].diff().dt.total_seconds().to_numpy()
    contig = (dt_prev == iv) & ~new_series  # directly follows the previous period of its series

    def flag(mask: np.ndarray, sev: Any) -> np.ndarray:
        return np.where(mask, np.asarray(sev, dtype=np.int8), PASS).astype(np.int8)

    checks: dict[str, np.ndarray] = {"missing": flag(np.isnan(raw_value), MISSING)}
    checks["unit"] = flag(np.isnan(factor) & pd.notna(param_unit), FAIL)
    gross = flag(
        (v < per_row["inst_min"]) | (v > per_row["inst_max"]), per_row["inst_flag"].astype(np.int8)
    )
    lo_p = df["parameter"].map(reg.params["min_possible"]).astype(float).to_numpy()
    hi_p = df["parameter"].map(reg.params["max_possible"]).astype(float).to_numpy()
    gross[(v < lo_p) | (v > hi_p)] = FAIL
    checks["gross_range"] = gross
    # flat line: runs of equal consecutive values (a gap or a missing value ends a run)
    same = contig & (np.abs(v - prev_v) <= per_row["flat_tol"])
    run = pd.Series(np.cumsum(~same))
    run_len = run.groupby(run).transform("size").to_numpy()
    checks["flat_line"] = flag(
        run_len >= per_row["flat_periods"], per_row["flat_flag"].astype(np.int8)
    )
    # spike (QARTOD): against both neighbours, both contiguous
    s = np.abs(v - (prev_v + next_v) / 2) - np.abs(next_v - prev_v) / 2
    both = contig & np.append(contig[1:], False)
    spike = flag(both & (s > per_row["spike_suspect"]), SUSPECT)
    spike[both & (s > per_row["spike_fail"])] = FAIL
    checks["spike"] = spike
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.abs(v - prev_v) / (dt_prev / 3600.0)
    checks["rate_of_change"] = flag((rate > per_row["roc_max"]) & ~new_series & (dt_prev > 0)
                                    & (dt_prev <= ROC_MAX_GAP_S), per_row["roc_flag"].astype(np.int8))  # fmt: skip
    bad_sign = (v < 0) | ((v == 0) & ~per_row["np_allow_zero"].astype(bool))
    checks["non_positive"] = flag(
        bad_sign & per_row["np_on"].astype(bool), per_row["np_flag"].astype(np.int8)
    )
    verdicts = {k: np.int8(sf.verdict) for k, sf in cfg.source_flags.flags.items()}
    letters = df["flag"]
    checks["source_flag"] = np.where(letters.isna(), PASS,
                                     letters.map(verdicts).astype(float).fillna(SUSPECT)).astype(np.int8)  # fmt: skip
    ps = df["period_start"]
    outside = (ps < df["site_id"].map(service_ts(reg, "commissioned_on")).astype(ps.dtype)) | (
        ps >= df["site_id"].map(service_ts(reg, "decommissioned_on")).astype(ps.dtype))  # fmt: skip
    earliest = pd.Timestamp(cfg.file.great_expectations.earliest_timestamp, tz="UTC").timestamp()
    checks["timestamp"] = flag((t > hi.timestamp() + cfg.file.future_tolerance_s) | outside.to_numpy()
                               | (t < earliest), FAIL)  # fmt: skip
    # what envmon's batch validation (GX) fails and the checks above do not, or only as suspect:
    # unknown sites, parameters, units and data-flag letters
    known = (df["site_id"].isin(reg.sites.index) & df["parameter"].isin(reg.params.index)
             & df["unit"].isin(reg.units.index) & (letters.isna() | letters.isin(list(verdicts))))  # fmt: skip
    checks["batch"] = flag(~known.to_numpy(), FAIL)
    own = np.maximum.reduce(list(checks.values()))
    checks.update(_consistency(df, cfg, v, own))
    df["qc_flag"] = np.maximum.reduce(list(checks.values()))
    df["valid"] = df["qc_flag"] <= SUSPECT

    inside = ((df["period_start"] >= lo) & (df["period_start"] < hi)).to_numpy()
    parts = []
    for name, f in checks.items():
        hit = np.flatnonzero((f > PASS) & inside)
        if len(hit):
            parts.append(df.loc[hit, NATURAL_KEY].assign(check_name=name, flag=f[hit]))
    empty = df.loc[[], NATURAL_KEY].assign(
        check_name=pd.Series(dtype=str), flag=pd.Series(dtype=np.int8)
    )
    flags = pd.concat(parts, ignore_index=True) if parts else empty
    flags.to_parquet(out_dir / "warehouse" / "qc_flags.parquet", index=False)
    verdict = df.loc[inside, "qc_flag"]
    summary = {"qc_readings": int(inside.sum()), "qc_flags": len(flags), "qc_failed": int((verdict >= FAIL).sum()),
               "qc_suspect": int((verdict == SUSPECT).sum())}  # fmt: skip
    return df, flags, summary


def _consistency(
    df: pd.DataFrame, cfg: Any, v: np.ndarray, own: np.ndarray
) -> dict[str, np.ndarray]:
    """PM2.5 above the PM10 of the same period; an O2-corrected value without a valid O2."""
    out: dict[str, np.ndarray] = {}
    keys = ["site_id", "interval_s", "source_kind", "period_start"]
    rule = cfg.file.consistency.pm25_le_pm10
    if rule:
        sel = df["kind"].isin(rule.site_kinds) & df["parameter"].isin(["pm25", "pm10"])
        sub = df.loc[sel, [*keys, "parameter"]].assign(v=v[sel.to_numpy()], row=np.flatnonzero(sel))
        pair = sub[sub.parameter == "pm25"].merge(sub.loc[sub.parameter == "pm10", [*keys, "v"]],
                                                  on=keys, suffixes=("", "_pm10"))  # fmt: skip
        f = np.zeros(len(df), dtype=np.int8)
        f[pair["row"].to_numpy()] = np.where(
            pair["v"] > pair["v_pm10"] + rule.tolerance, _sev(rule.flag), PASS
        )
        out["consistency_pm25_pm10"] = f
    o2r = cfg.file.consistency.o2_correction
    has_zs = (
        (df["value_zs"].notna() & df["kind"].isin(o2r.site_kinds)).to_numpy()
        if o2r
        else np.zeros(0, bool)
    )
    if o2r and has_zs.any():
        corrected = df.loc[has_zs, keys].assign(row=np.flatnonzero(has_zs))
        is_o2 = (df["parameter"] == o2r.o2_parameter).to_numpy()
        o2 = df.loc[is_o2, keys].assign(o2=v[is_o2], o2_flag=own[is_o2])
        pair = corrected.merge(o2, on=keys, how="left")
        bad = (
            pair["o2"].isna()
            | (pair["o2_flag"] >= FAIL)
            | (pair["o2"] > o2r.max_pct)
            | (pair["o2"] < 0)
        )
        f = np.zeros(len(df), dtype=np.int8)
        f[pair["row"].to_numpy()] = np.where(bad, _sev(o2r.flag), PASS)
        out["o2_correction"] = f
    return out


def service_ts(reg: Registry, col: str) -> pd.Series:
    """Each site's commissioning / decommissioning date as its local midnight (UTC)."""
    if col not in reg.sites:
        return pd.Series(pd.NaT, index=reg.sites.index, dtype="datetime64[us, UTC]")
    out = {s: pd.Timestamp(str(d), tz=tz).tz_convert("UTC") if isinstance(d, str) or hasattr(d, "year") else pd.NaT
           for s, d, tz in zip(reg.sites.index, reg.sites[col], reg.sites["timezone"], strict=True)}  # fmt: skip
    return pd.Series(out, dtype="datetime64[us, UTC]")


# --------------------------------------------------------------------------- 5. availability
def availability(h: dict[str, Any], reg: Registry, day: str, lo: pd.Timestamp, hi: pd.Timestamp,
                 out_dir: Path) -> pd.DataFrame:  # fmt: skip
    """Expected, received and valid values per site, parameter, interval, local hour and day:
    received and valid counted by the hourly stage (per interval, before it picks the finest
    data), coarser readings (water's 4-hourly) counted here."""
    counts = h["counts"].rename(
        columns={"hour": "period_start", "n": "received", "n_valid": "valid"}
    )
    best = h["best"]
    coarse = best[
        (best["interval_s"] > 3600) & (best["period_start"] >= lo) & (best["period_start"] < hi)
    ]
    coarse = coarse.assign(period_start=coarse["period_start"].dt.floor("h")).groupby(
        ["site_id", "parameter", "period_start", "interval_s"], observed=True).agg(
        received=("valid", "size"), valid=("valid", "sum")).reset_index()  # fmt: skip
    obs = pd.concat([counts, coarse], ignore_index=True)
    obs[["site_id", "parameter"]] = obs[["site_id", "parameter"]].astype(str)
    sp = reg.site_params[
        (reg.site_params["interval_s"] > 0) & (reg.site_params["interval_s"] <= 86400)
    ]
    sp = sp[["site_id", "parameter", "interval_s"]].drop_duplicates()
    hours = pd.DataFrame({"period_start": pd.date_range(lo, hi, freq="h", inclusive="left")})
    grid = sp.merge(hours, how="cross")
    start = grid["site_id"].map(service_ts(reg, "commissioned_on"))
    end = grid["site_id"].map(service_ts(reg, "decommissioned_on"))
    grid = grid[~(grid["period_start"] < start) & ~(grid["period_start"] >= end)]
    a = grid.merge(obs, on=["site_id", "parameter", "interval_s", "period_start"], how="left")
    a[["received", "valid"]] = a[["received", "valid"]].fillna(0).astype(int)
    a["expected"] = (3600 // a["interval_s"]).clip(lower=1)
    hourly = a[a["interval_s"] <= 3600].assign(period_kind="hour")
    g = a.groupby(["site_id", "parameter", "interval_s"])
    days = pd.DataFrame({"expected": g["expected"].sum(), "n_hours": g.size(), "received": g["received"].sum(),
                         "valid": g["valid"].sum()}).reset_index()  # fmt: skip
    coarse_iv = days["interval_s"] > 3600
    days.loc[coarse_iv, "expected"] = days["n_hours"] // 24 * (86400 // days["interval_s"])
    days = days.drop(columns="n_hours").assign(period_kind="day", period_start=lo)
    out = pd.concat([hourly, days], ignore_index=True).assign(local_date=day)
    out.to_parquet(out_dir / "warehouse" / "data_availability.parquet", index=False)
    return out


def local_day_utc(day: str, tz: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    d = date.fromisoformat(day)
    lo = pd.Timestamp(datetime(d.year, d.month, d.day), tz=tz)
    return lo.tz_convert("UTC"), (lo + pd.DateOffset(days=1)).tz_convert("UTC")
