"""Surface-water class per GB 3838-2002, single-factor method (data: tables/gb3838_limits.csv).

Each parameter gets the BEST class whose limit it meets (several classes share limits); DO is
judged upwards (≥), pH as a range; the section class is the worst parameter class. Lakes and
reservoirs use their own TP (and TN) limits. Reference items (TN, fecal coliform — 环办〔2011〕22号)
are left out of the section class unless asked for.

A period's value of a parameter is the arithmetic mean of its valid results (环办〔2011〕22号);
a result below the method's detection limit (stored as the limit, flag BDL) counts as a
fraction of the limit (tables/water_statistics.csv: 1/2, 环办监测函〔2020〕82号 point 7,
UNCONFIRMED), and a period whose every result is below the limit is shown as 未检出 (<limit).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache

import polars as pl

from transforms.standards import tables

CLASSES = ("I", "II", "III", "IV", "V")
WORSE_THAN_V = "劣V"
ALL_CLASSES = (*CLASSES, WORSE_THAN_V)
WATERBODIES = ("river", "lake")


@dataclass(frozen=True)
class Limit:
    parameter: str
    input_column: str
    direction: str  # "max" (≤), "min" (≥, DO), "range" (pH)
    limits: tuple[tuple[float, float] | float, ...]  # per class I..V
    role: str  # "evaluated" | "reference"
    exceedance_multiple: bool


def _cell(direction: str, text: str) -> tuple[float, float] | float:
    if direction == "range":
        lo, hi = text.split("-")
        return (float(lo), float(hi))
    return float(text)


@cache
def limits(waterbody: str) -> dict[str, Limit]:
    """Parameter -> limits for a river or a lake/reservoir."""
    if waterbody not in WATERBODIES:
        raise ValueError(f"waterbody must be one of {WATERBODIES}, got {waterbody!r}")
    out = {}
    for r in tables.load("gb3838_limits"):
        if r["waterbody"] not in ("all", waterbody):
            continue
        out[r["parameter"]] = Limit(
            parameter=r["parameter"],
            input_column=r["input_column"],
            direction=r["direction"],
            limits=tuple(_cell(r["direction"], r[c]) for c in CLASSES),
            role=r["role"],
            exceedance_multiple=r["exceedance_multiple"] == "yes",
        )
    return out


@cache
def below_detection_factor() -> float:
    """The fraction of the detection limit a result below it counts as in a period's mean
    (tables/water_statistics.csv `below_detection_factor`)."""
    return float(tables.one("water_statistics", rule="below_detection_factor")["value"])


def period_mean(values: Sequence[float], below_detection: Sequence[bool]) -> float | None:
    """Arithmetic mean of a period's valid results (in the order given); a result below the
    detection limit (its value = the limit) counts as below_detection_factor() x the limit.
    None when there is no value."""
    if len(values) != len(below_detection):
        raise ValueError(f"{len(values)} values but {len(below_detection)} below-detection marks")
    if not values:
        return None
    factor = below_detection_factor()
    return math.fsum(v * factor if b else v for v, b in zip(values, below_detection, strict=True)) / len(values)


def not_detected(n_below_detection: int, n_valid: int) -> bool:
    """Every valid result of the period was below the detection limit (at least one result)."""
    return n_valid > 0 and n_below_detection == n_valid


def below_detection_text(
    n_below_detection: int, n_valid: int, detection_limit: float | None, unit: str | None = None
) -> str | None:
    """'未检出 (<0.025)' ('未检出 (<0.025 mg/L)' with a unit) when every valid result of the
    period was below the detection limit; None otherwise (show the mean, which counts the results
    below the limit at below_detection_factor() of it). `detection_limit`: the highest limit of
    those results."""
    if not not_detected(n_below_detection, n_valid):
        return None
    return not_detected_text(detection_limit, unit)


def not_detected_text(detection_limit: float | None, unit: str | None = None) -> str:
    """How a period with no result above the detection limit is shown: '未检出 (<0.025 mg/L)'
    ('未检出' when the limit is not known), e.g. for each 'p=limit' of water_class
    `not_detected_limits`."""
    if detection_limit is None:
        return "未检出"
    return f"未检出 (<{detection_limit:g}{' ' + unit if unit else ''})"


def input_columns() -> dict[str, str]:
    """Input column name -> parameter, over both water-body kinds."""
    return {r["input_column"]: r["parameter"] for r in tables.load("gb3838_limits")}


def _meets(lim: Limit, value: float, bound) -> bool:
    if lim.direction == "range":
        lo, hi = bound
        return lo <= value <= hi
    return value >= bound if lim.direction == "min" else value <= bound


def parameter_class(parameter: str, value: float, waterbody: str = "river") -> str:
    """Class I..V of one value, or 劣V."""
    lim = limits(waterbody)[parameter]
    for cls, bound in zip(CLASSES, lim.limits, strict=True):
        if _meets(lim, value, bound):
            return cls
    return WORSE_THAN_V


def exceedance_multiple(
    parameter: str, value: float, target: str, waterbody: str = "river"
) -> float | None:
    """(C − S) / S against the target class's limit; None when within it or not defined (DO,
    pH). [formula UNCONFIRMED (from memory), see surface-water.md]"""
    lim = limits(waterbody)[parameter]
    if not lim.exceedance_multiple or target == WORSE_THAN_V:
        return None
    bound = lim.limits[CLASSES.index(target)]
    assert isinstance(bound, float)
    return (value - bound) / bound if value > bound else None


@dataclass
class WaterResult:
    water_class: str | None  # None when no parameter was given
    limiting_parameters: tuple[str, ...]  # parameters at the section class (none for class I)
    parameter_classes: dict[str, str]
    exceeding_parameters: tuple[str, ...] = ()  # worse than the target class
    multiples: dict[str, float | None] | None = None
    compliant: bool | None = None


def classify(
    values: Mapping[str, float | None],
    waterbody: str = "river",
    target: str | None = None,
    include_reference: bool = False,
) -> WaterResult:
    """Section class from parameter values (keys = parameter names, e.g. "nh3n", "do", "ph")."""
    lims = limits(waterbody)
    classes: dict[str, str] = {}
    for p, v in values.items():
        if v is None:
            continue
        if p not in lims:
            raise KeyError(f"parameter {p!r} has no GB 3838-2002 limit for a {waterbody}")
        if lims[p].role == "reference" and not include_reference:
            continue
        classes[p] = parameter_class(p, v, waterbody)
    if not classes:
        return WaterResult(None, (), {})
    worst = max(classes.values(), key=ALL_CLASSES.index)
    limiting = () if worst == "I" else tuple(p for p, c in classes.items() if c == worst)
    result = WaterResult(worst, limiting, classes)
    if target is not None:
        if target not in CLASSES:
            raise ValueError(f"target class must be one of {CLASSES}")
        t = ALL_CLASSES.index(target)
        exceeding = tuple(p for p, c in classes.items() if ALL_CLASSES.index(c) > t)
        result.exceeding_parameters = exceeding
        result.multiples = {
            p: exceedance_multiple(p, values[p], target, waterbody) for p in exceeding
        }  # type: ignore[arg-type]
        result.compliant = not exceeding
    return result


def water_class(
    frame: pl.DataFrame,
    waterbody_column: str = "waterbody",
    target_column: str | None = None,
    include_reference: bool = False,
) -> pl.DataFrame:
    """Classify each row of `frame` (columns named as tables/gb3838_limits.csv `input_column`,
    e.g. `nh3n_mgl`, `do_mgl`, `ph`; `waterbody` = river|lake). Adds `class`,
    `limiting_parameters` (';'-joined), and with `target_column`: `exceeding_parameters`,
    `exceedance_multiples` ("p=x.xx;…") and `compliant`. Row-wise (sample counts are small)."""
    by_col = input_columns()
    params = [c for c in frame.columns if c in by_col]
    out_cls, out_lim, out_exc, out_mul, out_ok = [], [], [], [], []
    for row in frame.iter_rows(named=True):
        vals = {by_col[c]: row[c] for c in params}
        res = classify(
            vals,
            row[waterbody_column],
            row[target_column] if target_column else None,
            include_reference,
        )
        out_cls.append(res.water_class)
        out_lim.append(";".join(res.limiting_parameters))
        out_exc.append(";".join(res.exceeding_parameters))
        out_mul.append(
            ";".join(f"{p}={m:.2f}" for p, m in (res.multiples or {}).items() if m is not None)
        )
        out_ok.append(res.compliant)
    extra = [
        pl.Series("class", out_cls, pl.String),
        pl.Series("limiting_parameters", out_lim, pl.String),
    ]
    if target_column:
        extra += [
            pl.Series("exceeding_parameters", out_exc, pl.String),
            pl.Series("exceedance_multiples", out_mul, pl.String),
            pl.Series("compliant", out_ok, pl.Boolean),
        ]
    return frame.with_columns(extra)
