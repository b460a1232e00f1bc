"""HJ 633 AQI, scalar implementation (one report at a time) — for tests, staff and checks.

The production path is `aqi_frame` (polars, vectorised); both follow the same rule sets
(`aqi_rules`) and are cross-checked in the tests.

IAQI_P = (IAQI_Hi − IAQI_Lo) × (C_P − BP_Lo) / (BP_Hi − BP_Lo) + IAQI_Lo, rounded UP to an
integer (HJ 633 "全部进位取整数"); AQI = max IAQI.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from transforms.standards.aqi_rules import (
    DEFAULT_READING,
    Indicator,
    Level,
    RuleSet,
    breakpoints,
    rule_set,
    top_of_scale,
    unit_of,
)
from transforms.standards.rounding import round_half_even

# Float noise guard before ceil: (50 × 35) / 35 is exact, but other products may land on
# 57.50000000000001; ceil must see the decimal value the formula means.
RAW_DECIMALS = 9


def interpolate(c: float, breakpoints: tuple[tuple[float, float], ...]) -> float | None:
    """Raw IAQI by linear interpolation; None when c is above the top breakpoint."""
    if c < 0:
        raise ValueError(f"negative concentration {c}")
    for (c_lo, i_lo), (c_hi, i_hi) in itertools.pairwise(breakpoints):
        if c <= c_hi:
            # multiply before dividing: exact at breakpoints for integer tables
            return (i_hi - i_lo) * (c - c_lo) / (c_hi - c_lo) + i_lo
    return None


def ceil_iaqi(raw: float) -> int:
    return math.ceil(round(raw, RAW_DECIMALS))


def level_of(aqi: int, levels: tuple[Level, ...]) -> Level:
    for lv in levels:
        if lv.aqi_to is None or aqi <= lv.aqi_to:
            return lv
    raise AssertionError("levels table has no open-ended top level")


@dataclass
class IaqiResult:
    indicator: str
    concentration: float | None  # as used (rounded where the edition says so)
    raw: float | None
    value: int | None
    status: str  # "ok", "missing", "omitted" (no IAQI by rule), "fixed", "fallback"


@dataclass
class AqiResult:
    edition: str
    report: str
    iaqi: dict[str, IaqiResult]
    aqi: int | None
    aqi_raw: float | None
    valid: bool  # every indicator of the edition was present
    level: Level | None
    primary_pollutants: tuple[str, ...] = ()
    exceeding_pollutants: tuple[str, ...] = ()
    missing: tuple[str, ...] = field(default_factory=tuple)
    reading: str = DEFAULT_READING  # of the real-time report (aqi_rules.READINGS)


def prepare_concentration(value: float | None, column: str, rules: RuleSet) -> float | None:
    """Round a concentration as the edition requires (HJ 633-2026: GB/T 8170)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    decimals = rules.rounding.get(unit_of(column))
    return value if decimals is None else round_half_even(value, decimals)


def iaqi_for(ind: Indicator, conc: Mapping[str, float | None], rules: RuleSet) -> IaqiResult:
    """IAQI of one indicator with its edition's special case above the top breakpoint."""
    c = prepare_concentration(conc.get(ind.concentration_column), ind.concentration_column, rules)
    if c is None:
        return IaqiResult(ind.name, None, None, None, "missing")
    raw = interpolate(c, ind.breakpoints)
    if raw is not None:
        return IaqiResult(ind.name, c, raw, ceil_iaqi(raw), "ok")
    rule = ind.above_top
    if rule.action == "fixed":
        assert rule.value is not None
        return IaqiResult(ind.name, c, rule.value, ceil_iaqi(rule.value), "fixed")
    if rule.action == "omit":
        return IaqiResult(ind.name, c, None, None, "omitted")
    if rule.action == "fallback":
        fb_col = rule.fallback_concentration
        fb = prepare_concentration(conc.get(fb_col), fb_col, rules)
        if fb is None:
            return IaqiResult(ind.name, c, None, None, "missing")
        fb_raw = interpolate(fb, breakpoints(rules.edition, rule.fallback_column))
        if fb_raw is None:  # the fallback column is exceeded too: the generic rule
            fb_raw = top_of_scale(rules.edition, rules.report)
        return IaqiResult(ind.name, c, fb_raw, ceil_iaqi(fb_raw), "fallback")
    raise ValueError(f"unknown above-top action {rule.action!r}")


def aqi_report(
    conc: Mapping[str, float | None], edition: str, report: str, reading: str = DEFAULT_READING
) -> AqiResult:
    """AQI of one report (daily or hourly) from its concentrations.

    `conc` maps the edition's concentration columns (see tables/aqi_indicators.csv, e.g.
    "pm25_24h_ugm3", "o3_8h_max_ugm3", "co_1h_mgm3") to values; absent/None = missing.
    `reading`: of the real-time report, "national_practice" (default) or "literal" (aqi_rules).
    """
    rules = rule_set(edition, report, reading)
    results = {ind.name: iaqi_for(ind, conc, rules) for ind in rules.indicators}
    missing = tuple(n for n, r in results.items() if r.status == "missing")
    scored = [
        (ind, results[ind.name]) for ind in rules.indicators if results[ind.name].value is not None
    ]
    valid = not missing
    aqi: int | None = None
    aqi_raw: float | None = None
    if scored:
        aqi_raw = max(r.raw for _, r in scored if r.raw is not None)
        aqi = max(r.value for _, r in scored if r.value is not None)
        if missing:
            publish = rules.missing_policy == "partial_if_above" and (
                rules.partial_publish_above is not None and aqi > rules.partial_publish_above
            )
            if not publish:
                aqi, aqi_raw = None, None
    if aqi is None:
        return AqiResult(
            edition, report, results, None, None, valid, None, missing=missing, reading=reading
        )
    primary = (
        tuple(ind.primary_name for ind, r in scored if r.value == aqi)
        if aqi > rules.primary_above
        else ()
    )
    exceeding: tuple[str, ...] = ()
    if rules.exceeding_above is not None:
        exceeding = tuple(
            ind.primary_name
            for ind, r in scored
            if r.raw is not None and r.raw > rules.exceeding_above
        )
    return AqiResult(
        edition,
        report,
        results,
        aqi,
        aqi_raw,
        valid,
        level_of(aqi, rules.levels),
        primary,
        exceeding,
        missing,
        reading,
    )
