"""Noise levels per GB 3096-2008 / GB 12348-2008: energy averaging, day/night levels, limits.

Leq = 10·lg( Σ Tj·10^(0.1·Lj) / Σ Tj ) — never an arithmetic mean. Day 06:00–22:00, night
22:00–06:00; a night belongs to the date on which it starts (noise.md §1).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache

import polars as pl

from transforms.standards import tables
from transforms.standards.rounding import round_half_even_expr

DEFAULT_TZ = "Asia/Shanghai"


def energy_average(levels: Sequence[float], durations: Sequence[float] | None = None) -> float:
    """Energy (logarithmic) mean of levels in dB(A), optionally weighted by durations."""
    if not levels:
        raise ValueError("energy average of no levels")
    w = [1.0] * len(levels) if durations is None else list(durations)
    total = sum(wi * 10 ** (0.1 * li) for wi, li in zip(w, levels, strict=True))
    return 10 * math.log10(total / sum(w))


def energy_average_expr(level: pl.Expr) -> pl.Expr:
    """Aggregation expression: energy mean of equal-duration levels (nulls ignored)."""
    return (10.0 ** (level * 0.1)).mean().log10() * 10.0


def zone_limits(zone: str, standard: str = "GB3096-2008") -> tuple[float, float]:
    """(day, night) limit in dB(A) of a functional zone."""
    found = tables.rows("noise_limits", standard=standard, zone=zone)
    if not found:
        zones = [r["zone"] for r in tables.rows("noise_limits", standard=standard)]
        raise ValueError(f"unknown zone {zone!r} for {standard}; zones: {', '.join(zones)}")
    return float(found[0]["day_dba"]), float(found[0]["night_dba"])


def rule(standard: str, name: str) -> float:
    return float(tables.one("noise_rules", standard=standard, rule=name)["value"])


@cache
def day_night_hours(standard: str = "GB3096-2008") -> tuple[int, int]:
    """The local hours at which `standard`'s day and night start (06, 22): the day is the hours
    [day start, night start), the night the others (tables/noise_rules.csv)."""
    return int(rule(standard, "day_start_hour")), int(rule(standard, "night_start_hour"))


def night_max_exceeds(lmax_dba: float, zone: str, standard: str = "GB3096-2008") -> bool:
    """Night-time maximum more than the allowed excess (15 dB(A) for GB 3096) above the limit."""
    return lmax_dba > zone_limits(zone, standard)[1] + rule(standard, "night_max_excess_dba")


def noise_levels(
    frame: pl.DataFrame | pl.LazyFrame,
    standard: str = "GB3096-2008",
    tz: str = DEFAULT_TZ,
    day_start_hour: int | None = None,
    night_start_hour: int | None = None,
    decimals: int = 1,
) -> pl.DataFrame:
    """Day (Ld) and night (Ln) levels per site and date, with the zone's limits.

    Input: `site, zone, period_start` (tz-aware, start of the equal-length measuring period),
    `leq_dba`; optional `lmax_dba` (maxima, judged at night). Output: `site, date, zone,
    ld_dba, ln_dba` (energy means rounded to `decimals` with GB/T 8170), `ld_limit_dba,
    ln_limit_dba, day_exceeds, night_exceeds` (level > limit; null when no level), and with
    `lmax_dba`: `lmax_night_dba, night_max_exceeds` (> night limit + allowed excess).
    Day/night hours default to the standard's (06/22), local rules may override.
    """
    lf = frame.lazy()
    day_start, night_start = day_night_hours(standard)
    day_start = day_start if day_start_hour is None else day_start_hour
    night_start = night_start if night_start_hour is None else night_start_hour
    local = pl.col("period_start").dt.convert_time_zone(tz)
    hour = local.dt.hour()
    is_day = (hour >= day_start) & (hour < night_start)
    # early-morning hours belong to the night that started the previous evening
    night_date = (
        pl.when(hour < day_start)
        .then(local.dt.date() - pl.duration(days=1))
        .otherwise(local.dt.date())
    )
    lf = lf.with_columns(
        pl.col("zone").cast(pl.String),
        is_day.alias("_day"),
        pl.when(is_day).then(local.dt.date()).otherwise(night_date).alias("date"),
    )
    has_max = "lmax_dba" in lf.collect_schema()
    aggs = [
        energy_average_expr(pl.col("leq_dba").filter(pl.col("_day"))).alias("_ld"),
        energy_average_expr(pl.col("leq_dba").filter(~pl.col("_day"))).alias("_ln"),
        pl.col("zone").first().alias("zone"),
        pl.col("zone").n_unique().alias("_zones"),
    ]
    if has_max:
        aggs.append(pl.col("lmax_dba").filter(~pl.col("_day")).max().alias("lmax_night_dba"))
    out = lf.group_by("site", "date").agg(aggs).collect()
    if out.height and out["_zones"].max() > 1:  # type: ignore[operator]
        bad = out.filter(pl.col("_zones") > 1).row(0, named=True)
        raise ValueError(f"site {bad['site']} has several zones on {bad['date']}")
    zones = tables.rows("noise_limits", standard=standard)
    day_map = {r["zone"]: float(r["day_dba"]) for r in zones}
    night_map = {r["zone"]: float(r["night_dba"]) for r in zones}
    unknown = set(out["zone"].unique().to_list()) - set(day_map)
    if unknown:
        raise ValueError(
            f"unknown zones {sorted(unknown)} for {standard}; zones: {', '.join(day_map)}"
        )
    out = out.with_columns(
        round_half_even_expr(pl.col("_ld"), decimals).alias("ld_dba"),
        round_half_even_expr(pl.col("_ln"), decimals).alias("ln_dba"),
        pl.col("zone").replace_strict(day_map, return_dtype=pl.Float64).alias("ld_limit_dba"),
        pl.col("zone").replace_strict(night_map, return_dtype=pl.Float64).alias("ln_limit_dba"),
    ).with_columns(
        (pl.col("ld_dba") > pl.col("ld_limit_dba")).alias("day_exceeds"),
        (pl.col("ln_dba") > pl.col("ln_limit_dba")).alias("night_exceeds"),
    )
    cols = [
        "site",
        "date",
        "zone",
        "ld_dba",
        "ln_dba",
        "ld_limit_dba",
        "ln_limit_dba",
        "day_exceeds",
        "night_exceeds",
    ]
    if has_max:
        excess = rule(standard, "night_max_excess_dba")
        out = out.with_columns(
            (pl.col("lmax_night_dba") > pl.col("ln_limit_dba") + excess).alias("night_max_exceeds")
        )
        cols += ["lmax_night_dba", "night_max_exceeds"]
    return out.select(cols).sort("site", "date")
