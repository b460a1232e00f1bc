"""HJ 633 rule sets per edition, assembled from the tables (breakpoints, indicators, special
cases, levels, rounding). Shared by the scalar and the vectorised AQI code.

The real-time (hourly) report has two readings (tables/aqi_indicators.csv `reading`):
`national_practice` — what the national platform (CNEMC) published under HJ 633-2012 and what
HJ 633-2026 wrote down: PM10/PM2.5 IAQI from the 1-h values against the 24-h breakpoints, O3 from
its 1-h value only — and `literal`, HJ 633-2012 §5 to the letter: PM from the 24-h moving means,
plus an O3 8-h IAQI. Rows with reading `*` hold under both; the daily report has only those.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import get_args

from core.settings import DEFAULT_AQI_REALTIME_READING, AqiRealtimeReading
from transforms.standards import tables

REPORTS = ("daily", "hourly")
READINGS: tuple[str, ...] = get_args(AqiRealtimeReading)
DEFAULT_READING: str = DEFAULT_AQI_REALTIME_READING


@dataclass(frozen=True)
class AboveTop:
    """What to do when a concentration is above the top breakpoint of its column."""

    action: str  # "fixed" (IAQI = value), "omit" (no IAQI, not missing), "fallback"
    value: float | None = None
    fallback_column: str = ""  # breakpoint column of the fallback (action "fallback")
    fallback_concentration: str = ""  # concentration column of the fallback


@dataclass(frozen=True)
class Indicator:
    name: str  # e.g. "pm25", "o3_8h"; the IAQI column is f"iaqi_{name}"
    breakpoint_column: str  # e.g. "pm25_24h"
    concentration_column: str  # e.g. "pm25_24h_ugm3"
    primary_name: str  # e.g. "PM2.5", "O3_8h"
    breakpoints: tuple[tuple[float, float], ...]  # (concentration, iaqi), ascending
    above_top: AboveTop


@dataclass(frozen=True)
class Level:
    level: int
    aqi_to: int | None  # inclusive upper bound; None = open-ended
    level_zh: str
    category_zh: str
    category_en: str
    colour_en: str
    colour_hex: str
    health_effect_zh: str
    health_effect_en: str
    advice_zh: str
    advice_en: str


@dataclass(frozen=True)
class RuleSet:
    edition: str
    report: str
    reading: str  # of the real-time report: "national_practice" | "literal" (READINGS)
    indicators: tuple[Indicator, ...]
    levels: tuple[Level, ...]
    missing_policy: str  # "all_required" | "partial_if_above"
    partial_publish_above: float | None
    exceeding_above: float | None  # None: the edition has no exceeding pollutants
    primary_above: float
    rounding: dict[str, int]  # unit suffix ("ugm3", "mgm3") -> decimals; empty = no rounding


@cache
def breakpoints(edition: str, column: str) -> tuple[tuple[float, float], ...]:
    found = tables.rows("aqi_breakpoints", edition=edition, breakpoint_column=column)
    if not found:
        raise LookupError(f"no {column} breakpoints for {edition} in tables/aqi_breakpoints.csv")
    pts = sorted((float(r["concentration"]), float(r["iaqi"])) for r in found)
    return tuple(pts)


def _above_top(edition: str, report: str, indicator: str) -> AboveTop:
    for r in tables.load("aqi_above_top"):
        if all(
            r[k] in (v, "*")
            for k, v in (("edition", edition), ("report", report), ("indicator", indicator))
        ):
            return AboveTop(
                action=r["action"],
                value=float(r["value"]) if r["value"] else None,
                fallback_column=r["fallback_breakpoint_column"],
                fallback_concentration=r["fallback_concentration_column"],
            )
    raise LookupError(f"no above-top rule for {edition}/{report}/{indicator}")


def top_of_scale(edition: str, report: str) -> float:
    """IAQI above the top breakpoint when no specific rule applies (tables/aqi_above_top.csv '*')."""
    rule = _above_top(edition, report, "*")
    assert rule.action == "fixed" and rule.value is not None
    return rule.value


def _rule(edition: str, rule: str) -> str | None:
    found = tables.rows("aqi_edition_rules", edition=edition, rule=rule)
    return found[0]["value"] if found else None


@cache
def levels(edition: str) -> tuple[Level, ...]:
    out = []
    for r in tables.rows("aqi_levels", edition=edition):
        out.append(
            Level(
                level=int(r["level"]),
                aqi_to=int(r["aqi_to"]) if r["aqi_to"] else None,
                level_zh=r["level_zh"],
                category_zh=r["category_zh"],
                category_en=r["category_en"],
                colour_en=r["colour_en"],
                colour_hex=r["colour_hex"],
                health_effect_zh=r["health_effect_zh"],
                health_effect_en=r["health_effect_en"],
                advice_zh=r["advice_zh"],
                advice_en=r["advice_en"],
            )
        )
    return tuple(sorted(out, key=lambda lv: lv.level))


def check_reading(reading: str) -> str:
    """`reading` if it is one of READINGS; else a ValueError naming the choices."""
    if reading not in READINGS:
        raise ValueError(f"reading must be one of {', '.join(READINGS)}, got {reading!r}")
    return reading


@cache
def rule_set(edition: str, report: str, reading: str = DEFAULT_READING) -> RuleSet:
    """The complete HJ 633 rule set of one edition for the daily or hourly (real-time) report,
    under one reading of the real-time report (the daily report is the same under both)."""
    if report not in REPORTS:
        raise ValueError(f"report must be one of {REPORTS}, got {report!r}")
    check_reading(reading)
    inds = []
    for r in tables.rows("aqi_indicators", edition=edition, report=report):
        if r["reading"] not in ("*", reading):
            continue
        inds.append(
            Indicator(
                name=r["indicator"],
                breakpoint_column=r["breakpoint_column"],
                concentration_column=r["concentration_column"],
                primary_name=r["primary_name"],
                breakpoints=breakpoints(edition, r["breakpoint_column"]),
                above_top=_above_top(edition, report, r["indicator"]),
            )
        )
    if not inds:
        raise LookupError(f"no {report} indicators for edition {edition!r}")
    partial = _rule(edition, "partial_publish_aqi_above")
    exceeding = _rule(edition, "exceeding_iaqi_above")
    names = [i.name for i in inds]
    if len(set(names)) != len(names):
        raise LookupError(
            f"tables/aqi_indicators.csv: {edition} {report} ({reading}) names an indicator twice: "
            f"{sorted(n for n in names if names.count(n) > 1)}"
        )
    return RuleSet(
        edition=edition,
        report=report,
        reading=reading,
        indicators=tuple(inds),
        levels=levels(edition),
        missing_policy=_rule(edition, "missing_indicator_policy") or "all_required",
        partial_publish_above=float(partial) if partial else None,
        exceeding_above=float(exceeding) if exceeding else None,
        primary_above=float(_rule(edition, "primary_aqi_above") or "nan"),
        rounding={
            r["unit"]: int(r["decimals"])
            for r in tables.rows("concentration_rounding", edition=edition)
        },
    )


def unit_of(column: str) -> str:
    """'pm25_24h_ugm3' -> 'ugm3'."""
    return column.rsplit("_", 1)[-1]
