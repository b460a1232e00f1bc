"""Run every QC check over a frame of readings and return the flags they set (pass not kept).

The frame is sorted by series (site, parameter, interval, source) and time once; each series'
configuration is broadcast to per-row threshold arrays, so every check is one vectorised call
over all series at once. No value is changed: the output is a table of flags beside keys.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import numpy as np
import polars as pl

from core.periods import local_midnight
from core.schema import NATURAL_KEY
from transforms.qc import checks
from transforms.qc.config import QcConfig, severity
from transforms.qc.flags import Flag

SERIES_KEY = ("site_id", "parameter", "interval_s", "source_kind")
FLAG_COLUMNS = (*NATURAL_KEY, "check_name", "flag", "detail")
_FLAGS_SCHEMA = {
    "site_id": pl.String, "parameter": pl.String, "period_start": pl.Datetime("us", "UTC"),
    "interval_s": pl.Int32, "source_kind": pl.String, "check_name": pl.String,
    "flag": pl.Int8, "detail": pl.String,
}


@dataclass(frozen=True)
class QcContext:
    """Registry facts the checks need: site kinds and service periods, parameter units and
    physically possible ranges, unit conversion factors."""

    sites: pl.DataFrame  # site_id, kind, service_start_s, service_end_s (float epoch s, NaN = open)
    parameters: pl.DataFrame  # parameter, param_unit, min_possible, max_possible
    units: pl.DataFrame  # unit, quantity, to_base


def _epoch_s(day: date | None, tz: str) -> float:
    """The start of a local day in epoch seconds (NaN: no such day, an open service period)."""
    return np.nan if day is None else local_midnight(day, tz).timestamp()


def make_context(
    sites: list[tuple[str, str, str, date | None, date | None]],
    parameters: list[tuple[str, str, float | None, float | None]],
    units: list[tuple[str, str, float]],
) -> QcContext:
    """sites: (site_id, kind, timezone, commissioned_on, decommissioned_on)."""
    return QcContext(
        pl.DataFrame(
            [(s, k, _epoch_s(c, tz), _epoch_s(d, tz)) for s, k, tz, c, d in sites],
            schema={"site_id": pl.String, "kind": pl.String, "service_start_s": pl.Float64, "service_end_s": pl.Float64},
            orient="row",
        ),
        pl.DataFrame(parameters, schema={"parameter": pl.String, "param_unit": pl.String,
                                         "min_possible": pl.Float64, "max_possible": pl.Float64}, orient="row"),
        pl.DataFrame(units, schema={"unit": pl.String, "quantity": pl.String, "to_base": pl.Float64}, orient="row"),
    )


def context_from_db(con) -> QcContext:  # type: ignore[no-untyped-def]
    return make_context(
        con.execute("SELECT site_id, kind, timezone, commissioned_on, decommissioned_on FROM sites").fetchall(),
        con.execute("SELECT parameter, unit, min_possible, max_possible FROM parameters").fetchall(),
        con.execute("SELECT unit, quantity, to_base FROM units").fetchall(),
    )


# ---------------------------------------------------------------- configuration per series group
_THRESHOLDS = ("inst_min", "inst_max", "inst_flag", "flat_periods", "flat_tol", "flat_flag",
               "spike_suspect", "spike_fail", "roc_max", "roc_flag", "np_on", "np_allow_zero", "np_flag",
               "cfg_factor")


def _group_table(cfg: QcConfig, ctx: QcContext, pairs: pl.DataFrame) -> pl.DataFrame:
    """One row per (parameter, kind) present: thresholds converted to the parameter's unit."""
    units = {u: (q, b) for u, q, b in ctx.units.iter_rows()}
    param_unit = dict(zip(ctx.parameters["parameter"], ctx.parameters["param_unit"], strict=True))
    nan = float("nan")
    rows = []
    for parameter, kind in pairs.iter_rows():
        cs = cfg.checks_for(parameter, kind or "")
        factor = 1.0  # thresholds in cs.unit -> parameter unit
        if cs.unit and parameter in param_unit and cs.unit != param_unit[parameter]:
            (qa, ba), (qb, bb) = units.get(cs.unit, ("?", nan)), units.get(param_unit[parameter], ("!", nan))
            factor = ba / bb if qa == qb else nan
        g, f, s, r, p = cs.gross_range, cs.flat_line, cs.spike, cs.rate_of_change, cs.non_positive
        rows.append((
            parameter, kind,
            g.instrument_min * factor if g and g.instrument_min is not None else nan,
            g.instrument_max * factor if g and g.instrument_max is not None else nan,
            int(severity(g.flag)) if g else 1,
            float(f.periods) if f else nan, f.tolerance * factor if f else 0.0, int(severity(f.flag)) if f else 1,
            s.suspect_above * factor if s else nan,
            s.fail_above * factor if s and s.fail_above is not None else nan,
            r.max_per_hour * factor if r else nan, int(severity(r.flag)) if r else 1,
            p is not None, bool(p.allow_zero) if p else True, int(severity(p.flag)) if p else 2,
            factor,
        ))
    return pl.DataFrame(rows, schema={"parameter": pl.String, "kind": pl.String, **dict.fromkeys(_THRESHOLDS[:2], pl.Float64),
                                      "inst_flag": pl.Int8, "flat_periods": pl.Float64, "flat_tol": pl.Float64,
                                      "flat_flag": pl.Int8, "spike_suspect": pl.Float64, "spike_fail": pl.Float64,
                                      "roc_max": pl.Float64, "roc_flag": pl.Int8, "np_on": pl.Boolean,
                                      "np_allow_zero": pl.Boolean, "np_flag": pl.Int8, "cfg_factor": pl.Float64},
                        orient="row")


def _changed(columns: tuple[str, ...] | list[str]) -> pl.Expr:
    """True on a row whose `columns` differ from the row before (and on the first row)."""
    return pl.any_horizontal([pl.col(c) != pl.col(c).shift(1) for c in columns]).fill_null(True)


def prepare(frame: pl.DataFrame, cfg: QcConfig, ctx: QcContext, *, presorted: bool = False) -> pl.DataFrame:
    """Sort into series (unless `presorted`: already ordered by SERIES_KEY, period_start), attach
    site kind, service period, parameter range, unit factor and the series' thresholds;
    `value_std` is the value in the parameter's registry unit."""
    df = frame if presorted else frame.sort([*SERIES_KEY, "period_start"])
    # The registry facts are looked up once per run of rows with the same site, parameter and
    # unit — in series order a few thousand runs, not millions of rows — and repeated down each
    # run: joining them to every row cost more than all the checks.
    marks = df.select(new_series=_changed(SERIES_KEY), new_run=_changed(("site_id", "parameter", "unit")))
    new_run = marks.get_column("new_run")
    u_from = ctx.units.rename({"unit": "unit", "quantity": "q_from", "to_base": "b_from"})
    u_to = ctx.units.rename({"unit": "param_unit", "quantity": "q_to", "to_base": "b_to"})
    runs = (
        df.filter(new_run).select("site_id", "parameter", "unit")
        .join(ctx.sites, on="site_id", how="left", maintain_order="left")
        .join(ctx.parameters, on="parameter", how="left", maintain_order="left")
        .join(u_from, on="unit", how="left", maintain_order="left")
        .join(u_to, on="param_unit", how="left", maintain_order="left")
    )  # fmt: skip
    groups = _group_table(cfg, ctx, runs.select("parameter", "kind").unique())
    runs = runs.join(groups, on=["parameter", "kind"], how="left", nulls_equal=True, maintain_order="left")
    run_of_row = new_run.cast(pl.UInt32).cum_sum() - 1
    df = df.hstack(runs.drop("site_id", "parameter", "unit").select(pl.all().gather(run_of_row)).get_columns())
    factor = pl.when(pl.col("unit") == pl.col("param_unit")).then(1.0).when(
        pl.col("q_from") == pl.col("q_to")).then(pl.col("b_from") / pl.col("b_to")).otherwise(None)
    return df.with_columns(
        unit_factor=factor,
        value_std=(pl.col("value") * factor).fill_null(pl.col("value")),
        t=pl.col("period_start").dt.epoch("s"),
        new_series=marks.get_column("new_series"),
    )


def _np(df: pl.DataFrame, col: str, fill: float = np.nan) -> np.ndarray:
    return df.get_column(col).fill_null(fill).to_numpy()


def evaluate(
    frame: pl.DataFrame, cfg: QcConfig, ctx: QcContext, now: datetime, *, presorted: bool = False
) -> pl.DataFrame:
    """Flags (not pass) set by every check on `frame` (columns of the readings table)."""
    if frame.height == 0:
        return pl.DataFrame(schema=_FLAGS_SCHEMA)
    df = prepare(frame, cfg, ctx, presorted=presorted)
    v = _np(df, "value_std")
    t = df.get_column("t").to_numpy()
    iv = df.get_column("interval_s").to_numpy().astype(np.int64)
    ns = df.get_column("new_series").to_numpy()
    results: dict[str, np.ndarray] = {}
    results["missing"] = checks.missing(v)
    results["unit"] = checks._flags(df.get_column("unit_factor").is_null().to_numpy() & df.get_column("param_unit").is_not_null().to_numpy(), Flag.FAIL)
    results["gross_range"] = checks.gross_range(
        v, _np(df, "min_possible"), _np(df, "max_possible"), _np(df, "inst_min"), _np(df, "inst_max"),
        _np(df, "inst_flag", 1).astype(np.int8))
    results["flat_line"] = checks.flat_line(v, t, iv, ns, _np(df, "flat_periods"), _np(df, "flat_tol", 0.0),
                                            _np(df, "flat_flag", 1).astype(np.int8))
    results["spike"] = checks.spike(v, t, iv, ns, _np(df, "spike_suspect"), _np(df, "spike_fail"))
    results["rate_of_change"] = checks.rate_of_change(v, t, ns, _np(df, "roc_max"), _np(df, "roc_flag", 1).astype(np.int8))
    results["non_positive"] = checks.non_positive(v, _np(df, "np_allow_zero", True).astype(bool),
                                                  _np(df, "np_flag", 2).astype(np.int8), _np(df, "np_on", False).astype(bool))
    results["source_flag"] = _source_flags(df.get_column("flag"), cfg)
    results["timestamp"] = np.maximum(
        checks.in_future(t, int(now.timestamp()), cfg.file.future_tolerance_s),
        checks.outside_service(t, _np(df, "service_start_s"), _np(df, "service_end_s")),
    )
    own = np.maximum.reduce(list(results.values()))
    results.update(_consistency(df, cfg, v, own))
    return _collect(df, results, cfg)


def _source_flags(flag: pl.Series, cfg: QcConfig) -> np.ndarray:
    """The verdict of each logger flag (no flag: pass; an unknown one: suspect), looked up only
    where there is a flag — most readings have none."""
    out = np.zeros(flag.len(), dtype=np.int8)
    if flag.null_count() == flag.len():
        return out
    verdicts = {k: int(sf.verdict) for k, sf in cfg.source_flags.flags.items()}
    present = flag.is_not_null()
    out[present.to_numpy()] = (
        flag.filter(present).replace_strict(verdicts, default=int(Flag.SUSPECT), return_dtype=pl.Int8).to_numpy()
    )
    return out


def _consistency(df: pl.DataFrame, cfg: QcConfig, v: np.ndarray, own: np.ndarray) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    keys = ["site_id", "interval_s", "source_kind", "period_start"]
    idx = pl.Series("row", np.arange(df.height, dtype=np.int64))
    base = df.select(*keys, "parameter", "kind").with_columns(idx, v_std=pl.Series(v), own=pl.Series(own))
    rule = cfg.file.consistency.pm25_le_pm10
    if rule:
        sel = base.filter(pl.col("kind").is_in(rule.site_kinds))
        pm25 = sel.filter(pl.col("parameter") == "pm25")
        pm10 = sel.filter(pl.col("parameter") == "pm10").select(*keys, pm10=pl.col("v_std"))
        pair = pm25.join(pm10, on=keys, how="inner")
        flags = np.zeros(df.height, dtype=np.int8)
        flags[pair["row"].to_numpy()] = checks.pm25_above_pm10(
            pair["v_std"].to_numpy(), pair["pm10"].fill_null(np.nan).to_numpy(), rule.tolerance, severity(rule.flag))
        out["consistency_pm25_pm10"] = flags
    o2r = cfg.file.consistency.o2_correction
    if o2r and "value_zs" in df.columns:
        has_zs = df.get_column("value_zs").is_not_null().to_numpy() & df.get_column("kind").is_in(o2r.site_kinds).fill_null(False).to_numpy()
        corrected = base.filter(pl.Series(has_zs))
        o2 = base.filter(pl.col("parameter") == o2r.o2_parameter).select(*keys, o2=pl.col("v_std"), o2_flag=pl.col("own"))
        pair = corrected.join(o2, on=keys, how="left")
        flags = np.zeros(df.height, dtype=np.int8)
        flags[pair["row"].to_numpy()] = checks.o2_correction_invalid(
            np.ones(pair.height, dtype=bool), pair["o2"].fill_null(np.nan).to_numpy(),
            pair["o2_flag"].fill_null(0).to_numpy(), o2r.max_pct, severity(o2r.flag))
        out["o2_correction"] = flags
    return out


_DETAIL = {
    "missing": "no value",
    "unit": "unit not convertible to the parameter's unit",
    "flat_line": "same value repeated for the configured number of periods",
    "spike": "spike against both neighbours above the configured threshold",
    "rate_of_change": "change per hour above the configured maximum",
    "non_positive": "negative (or zero) value where impossible",
    "timestamp": "period in the future or outside the site's service period",
    "consistency_pm25_pm10": "PM2.5 above PM10 of the same period",
    "o2_correction": "O2-corrected value without a valid O2 of the same period",
}


def _collect(df: pl.DataFrame, results: dict[str, np.ndarray], cfg: QcConfig) -> pl.DataFrame:
    parts = []
    keys = df.select(*NATURAL_KEY)
    for name, flags in results.items():
        hit = np.flatnonzero(flags)
        if not len(hit):
            continue
        part = keys[hit].with_columns(check_name=pl.lit(name), flag=pl.Series(flags[hit], dtype=pl.Int8))
        part = part.with_columns(detail=_details(name, df, hit, cfg))
        parts.append(part)
    if not parts:
        return pl.DataFrame(schema=_FLAGS_SCHEMA)
    return pl.concat(parts).cast(_FLAGS_SCHEMA).select(FLAG_COLUMNS)  # type: ignore[arg-type]


def _details(name: str, df: pl.DataFrame, hit: np.ndarray, cfg: QcConfig) -> pl.Series:
    sub = df[hit]
    if name == "gross_range":
        phys = (pl.col("value_std") < pl.col("min_possible")) | (pl.col("value_std") > pl.col("max_possible"))
        return sub.select(pl.when(phys).then(pl.format("outside physically possible range [{}, {}] {}",
                                                        "min_possible", "max_possible", "param_unit"))
                          .otherwise(pl.format("outside instrument range [{}, {}] {}", "inst_min", "inst_max", "param_unit"))
                          ).to_series()
    if name == "source_flag":
        meaning = {k: f"source flag {k}: {sf.meaning_en} ({sf.standard}, {sf.clause})" for k, sf in cfg.source_flags.flags.items()}
        return sub.select(pl.col("flag").replace_strict(meaning, default=None, return_dtype=pl.String)
                          .fill_null(pl.format("unknown source flag {}", "flag"))).to_series()
    return pl.Series([_DETAIL.get(name, name)] * len(hit), dtype=pl.String)
