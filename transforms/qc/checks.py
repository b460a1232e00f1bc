"""Domain QC checks: pure, vectorised functions returning int8 flag arrays (transforms.qc.flags).

Every function works on flat numpy arrays holding one series or many series back to back,
sorted by series and time: `new_series[i]` is True where row i starts a series (so no check
looks across two series). `t` is the period start in epoch seconds, `interval` the averaging
interval in seconds. Thresholds may be scalars or per-row arrays (the engine broadcasts each
series' configuration); a NaN threshold switches the check off for that row. Values are NaN
where missing; comparisons with NaN are false, so missing values are only flagged by `missing`.
"""

from __future__ import annotations

import numpy as np

from transforms.qc.flags import Flag

Array = np.ndarray
Threshold = float | np.ndarray

_P, _S, _F, _M = (np.int8(f) for f in Flag)


def _flags(mask: Array, flag: int | Array) -> Array:
    return np.where(mask, np.asarray(flag, dtype=np.int8), _P).astype(np.int8, copy=False)


def missing(values: Array) -> Array:
    """No value at all."""
    return _flags(np.isnan(values), _M)


def gross_range(
    values: Array,
    phys_min: Threshold,
    phys_max: Threshold,
    inst_min: Threshold = np.nan,
    inst_max: Threshold = np.nan,
    inst_flag: int | Array = Flag.SUSPECT,
) -> Array:
    """Fail outside the physically possible range; `inst_flag` outside the instrument range."""
    out = _flags((values < inst_min) | (values > inst_max), inst_flag)
    impossible = (values < phys_min) | (values > phys_max)
    out[impossible] = _F
    return out


def non_positive(values: Array, allow_zero: bool | Array, flag: int | Array = Flag.FAIL, enabled: bool | Array = True) -> Array:
    """Negative values (and zero unless allowed) where the quantity cannot be so."""
    bad = (values < 0) | ((values == 0) & ~np.asarray(allow_zero, dtype=bool))
    return _flags(bad & enabled, flag)


def _contiguous(t: Array, interval: Array | int, new_series: Array) -> Array:
    """contig[i]: row i directly follows row i-1 of the same series (no missing period)."""
    contig = np.zeros(len(t), dtype=bool)
    if len(t) > 1:
        contig[1:] = (np.diff(t) == np.asarray(interval)[1:] if np.ndim(interval) else np.diff(t) == interval)
        contig[1:] &= ~new_series[1:]
    return contig


def flat_line(
    values: Array,
    t: Array,
    interval: Array | int,
    new_series: Array,
    periods: Threshold,
    tolerance: Threshold = 0.0,
    flag: int | Array = Flag.SUSPECT,
) -> Array:
    """Every value of a run of >= `periods` consecutive equal values (|step| <= tolerance):
    a stuck analyser, or tampering. A gap or a missing value ends the run."""
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.int8)
    same = _contiguous(t, interval, new_series)
    same[1:] &= np.abs(np.diff(values)) <= np.asarray(tolerance if np.ndim(tolerance) == 0 else tolerance[1:])
    run_id = np.cumsum(~same)  # a new run starts wherever `same` is False
    run_len = np.bincount(run_id)[run_id]
    return _flags(run_len >= periods, flag)  # NaN periods: comparison false, check off


def spike(
    values: Array,
    t: Array,
    interval: Array | int,
    new_series: Array,
    suspect_above: Threshold,
    fail_above: Threshold = np.nan,
) -> Array:
    """QARTOD spike test on interior points with both neighbours present and contiguous:
    s = |v[i] - (v[i-1] + v[i+1]) / 2| - |v[i+1] - v[i-1]| / 2."""
    n = len(values)
    out = np.zeros(n, dtype=np.int8)
    if n < 3:
        return out
    contig = _contiguous(t, interval, new_series)
    prev, cur, nxt = values[:-2], values[1:-1], values[2:]
    s = np.abs(cur - (prev + nxt) / 2) - np.abs(nxt - prev) / 2
    ok = contig[1:-1] & contig[2:]
    sa = suspect_above if np.ndim(suspect_above) == 0 else suspect_above[1:-1]
    fa = fail_above if np.ndim(fail_above) == 0 else fail_above[1:-1]
    inner = out[1:-1]
    inner[ok & (s > sa)] = _S
    inner[ok & (s > fa)] = _F
    return out


# Rate of change: values further apart than this are not compared (a gap is not a jump).
ROC_MAX_GAP_S = 3 * 3600


def rate_of_change(
    values: Array,
    t: Array,
    new_series: Array,
    max_per_hour: Threshold,
    flag: int | Array = Flag.SUSPECT,
    max_gap_s: float = ROC_MAX_GAP_S,
) -> Array:
    """Change from the previous value of the series faster than `max_per_hour` (per hour of
    elapsed time); pairs further apart than `max_gap_s` are not compared."""
    n = len(values)
    out = np.zeros(n, dtype=np.int8)
    if n < 2:
        return out
    dt_h = np.diff(t) / 3600.0
    rate = np.abs(np.diff(values)) / np.where(dt_h > 0, dt_h, np.nan)
    limit = max_per_hour if np.ndim(max_per_hour) == 0 else max_per_hour[1:]
    bad = (rate > limit) & ~new_series[1:] & (dt_h * 3600.0 <= max_gap_s)
    out[1:] = _flags(bad, flag if np.ndim(flag) == 0 else flag[1:])
    return out


def source_flag(codes: Array, verdict_by_code: Array) -> Array:
    """The verdict of each reading's own data flag: `codes` index `verdict_by_code`
    (see core/reading_flags.csv); the engine encodes letters to codes once."""
    return verdict_by_code[codes].astype(np.int8, copy=False)


def in_future(t: Array, now_s: int, tolerance_s: int) -> Array:
    """A period that starts after now (plus tolerance for clock skew) cannot have been measured."""
    return _flags(t > now_s + tolerance_s, _F)


def outside_service(t: Array, start_s: Array | float, end_s: Array | float) -> Array:
    """Before commissioning or from decommissioning on (NaN bound = open)."""
    return _flags((t < start_s) | (t >= end_s), _F)


def pm25_above_pm10(pm25: Array, pm10: Array, tolerance: float = 0.0, flag: int = Flag.SUSPECT) -> Array:
    """PM2.5 is part of PM10: a PM2.5 above its paired PM10 (+ tolerance) is inconsistent."""
    return _flags(pm25 > pm10 + tolerance, flag)


def o2_correction_invalid(
    has_corrected: Array,
    o2: Array,
    o2_flag: Array,
    o2_max_pct: float,
    flag: int = Flag.FAIL,
) -> Array:
    """An O2-corrected value needs a valid O2 of the same period: present, not failed by its
    own QC, and at most `o2_max_pct` (the correction factor 21 / (21 - O2) explodes near 21 %;
    at the cap the correction is still made, above it the period is a shut-down or purge — the
    boundary of transforms.standards.emissions.o2_corrected)."""
    bad_o2 = np.isnan(o2) | (o2_flag >= Flag.FAIL) | (o2 > o2_max_pct) | (o2 < 0)
    return _flags(has_corrected & bad_o2, flag)
