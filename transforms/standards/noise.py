"""Noise levels per GB 3096-2008 (ambient) and GB 12348-2008 (industrial boundary): energy
averaging, day/night levels and their coverage, limits, night maxima.

Leq = 10·lg( Σ Tj·10^(0.1·Lj) / Σ Tj ) — never an arithmetic mean. Day 06:00–22:00, night
22:00–06:00; a night belongs to the date on which it starts (noise.md §1). Ld (Ln) is the Leq
over the whole day-time (night-time): it is given only when at least the standard's minimum of
its hours have a valid level (tables/noise_rules.csv `min_day_hours` / `min_night_hours`),
otherwise it is null with the reason (`MISSING_REASON`).

GB 12348-2008 (noise.md §3): limits by the functional zone outside the boundary (Table 1, one
class 4 for zones 4a and 4b); a point measured indoors (boundary < 1 m from a noise-sensitive
building) is judged against the limits minus 10 dB(A); the night maximum Lmax may exceed the
night limit by 10 dB(A) for frequent (频发) and 15 dB(A) for sporadic (偶发) sudden noise.
GB 3096-2008 (noise.md §2): the night maximum of sudden noise by 15 dB(A).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache

import polars as pl

from transforms.standards import tables
from transforms.standards.rounding import round_half_even_expr

DEFAULT_TZ = "Asia/Shanghai"
AMBIENT = "GB3096-2008"
BOUNDARY = "GB12348-2008"
# the kinds of night-time sudden noise GB 12348-2008 distinguishes, and their rule names
SUDDEN_NOISE_RULES = {
    "frequent": "night_max_excess_frequent_dba",  # 频发
    "sporadic": "night_max_excess_sporadic_dba",  # 偶发
}
# why Ld (Ln) is missing: valid hours, hours of the period, "day-time"/"night-time", required
MISSING_REASON = "{} of {} {} hours valid, {} required"


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


def rule(standard: str, name: str) -> float:
    return float(tables.one("noise_rules", standard=standard, rule=name)["value"])


def _has_rule(standard: str, name: str) -> bool:
    return bool(tables.rows("noise_rules", standard=standard, rule=name))


def zone_limits(zone: str, standard: str = AMBIENT, indoor: bool = False) -> tuple[float, float]:
    """(day, night) limit in dB(A) of a functional zone; `indoor`: a GB 12348 point measured
    indoors, judged against the Table 1 limits minus `indoor_limit_reduction_dba`."""
    found = tables.rows("noise_limits", standard=standard, zone=zone)
    if not found:
        zones = [r["zone"] for r in tables.rows("noise_limits", standard=standard)]
        raise ValueError(f"unknown zone {zone!r} for {standard}; zones: {', '.join(zones)}")
    day, night = float(found[0]["day_dba"]), float(found[0]["night_dba"])
    if not indoor:
        return day, night
    if not _has_rule(standard, "indoor_limit_reduction_dba"):
        raise ValueError(
            f"{standard} has no indoor-measurement rule (tables/noise_rules.csv); "
            f"indoor points are judged by {BOUNDARY}"
        )
    cut = rule(standard, "indoor_limit_reduction_dba")
    return day - cut, night - cut


@cache
def day_night_hours(standard: str = AMBIENT) -> tuple[int, int]:
    """The local hours at which `standard`'s day and night start (06, 22): the day is the hours
    [day start, night start), the night the others (tables/noise_rules.csv)."""
    return int(rule(standard, "day_start_hour")), int(rule(standard, "night_start_hour"))


@cache
def min_hours(standard: str = AMBIENT) -> tuple[int, int]:
    """Valid hours an Ld and an Ln need (16, 8: the whole day- and night-time)."""
    return int(rule(standard, "min_day_hours")), int(rule(standard, "min_night_hours"))


def coverage(
    standard: str = AMBIENT,
    day_start_hour: int | None = None,
    night_start_hour: int | None = None,
    min_day_hours: int | None = None,
    min_night_hours: int | None = None,
) -> tuple[int, int, int, int]:
    """(day-time hours, night-time hours, hours an Ld needs, hours an Ln needs): the standard's
    day/night and minimums unless a local rule overrides them (never more than the period)."""
    day_start, night_start = day_night_hours(standard)
    day_start = day_start if day_start_hour is None else day_start_hour
    night_start = night_start if night_start_hour is None else night_start_hour
    day_len = night_start - day_start
    need_day, need_night = min_hours(standard)
    need_day = need_day if min_day_hours is None else min_day_hours
    need_night = need_night if min_night_hours is None else min_night_hours
    return day_len, 24 - day_len, min(need_day, day_len), min(need_night, 24 - day_len)


def judges_night_max(standard: str = AMBIENT, sudden: str | None = None) -> bool:
    """Whether a point's night Lmax is judged: always by GB 3096, by GB 12348 only when the
    kind of sudden noise is known."""
    return sudden is not None or _has_rule(standard, "night_max_excess_dba")


def night_max_allowance(standard: str = AMBIENT, sudden: str | None = None) -> float:
    """dB(A) by which the night maximum may exceed the night limit: GB 3096's one rule, or
    GB 12348's by the kind of sudden noise (`frequent` 10, `sporadic` 15)."""
    if sudden is not None and sudden not in SUDDEN_NOISE_RULES:
        raise ValueError(
            f"unknown kind of sudden noise {sudden!r}; valid choices: {', '.join(SUDDEN_NOISE_RULES)}"
        )
    if _has_rule(standard, "night_max_excess_dba"):  # one rule, whatever the kind
        return rule(standard, "night_max_excess_dba")
    if sudden is None:
        raise ValueError(
            f"{standard} judges the night maximum by the kind of sudden noise; valid choices: "
            f"{', '.join(SUDDEN_NOISE_RULES)}"
        )
    return rule(standard, SUDDEN_NOISE_RULES[sudden])


def night_max_limit(
    zone: str, standard: str = AMBIENT, sudden: str | None = None, indoor: bool = False
) -> float:
    """Highest allowed night-time Lmax: the (indoor-reduced) night limit plus the allowance."""
    return zone_limits(zone, standard, indoor)[1] + night_max_allowance(standard, sudden)


def night_max_exceeds(
    lmax_dba: float,
    zone: str,
    standard: str = AMBIENT,
    sudden: str | None = None,
    indoor: bool = False,
) -> bool:
    """Night-time maximum more than the allowed excess above the night limit."""
    return lmax_dba > night_max_limit(zone, standard, sudden, indoor)


def missing_reason(n_valid: int, n_hours: int, part: str, required: int) -> str | None:
    """Why Ld (`part` "day-time") or Ln ("night-time") is missing; None when it is not."""
    return None if n_valid >= required else MISSING_REASON.format(n_valid, n_hours, part, required)


def _limit_table(combos: pl.DataFrame, standard: str, has_max: bool) -> pl.DataFrame:
    """Limits of each (zone, indoor, night_sudden_noise) present."""
    known = [r["zone"] for r in tables.rows("noise_limits", standard=standard)]
    out = []
    for zone, indoor, sudden in combos.iter_rows():
        if zone not in known:
            raise ValueError(f"unknown zone {zone!r} for {standard}; zones: {', '.join(known)}")
        day, night = zone_limits(zone, standard, bool(indoor))
        lmax_limit = None
        if has_max and judges_night_max(standard, sudden):
            lmax_limit = night + night_max_allowance(standard, sudden)
        out.append((zone, indoor, sudden, day, night, lmax_limit))
    return pl.DataFrame(
        out,
        schema={"zone": pl.String, "indoor": pl.Boolean, "night_sudden_noise": pl.String,
                "ld_limit_dba": pl.Float64, "ln_limit_dba": pl.Float64,
                "night_max_limit_dba": pl.Float64},
        orient="row",
    )  # fmt: skip


def noise_levels(
    frame: pl.DataFrame | pl.LazyFrame,
    standard: str = AMBIENT,
    tz: str = DEFAULT_TZ,
    day_start_hour: int | None = None,
    night_start_hour: int | None = None,
    decimals: int = 1,
    min_day_hours: int | None = None,
    min_night_hours: int | None = None,
) -> pl.DataFrame:
    """Day (Ld) and night (Ln) levels per site and date, their coverage and the limits.

    Input: `site, zone, period_start` (tz-aware, start of the measuring period), `leq_dba`;
    optional `lmax_dba` (maxima, judged at night), `indoor` (GB 12348 indoor measurement) and
    `night_sudden_noise` (`frequent` / `sporadic`, GB 12348). Output: `site, date, zone,
    ld_dba, ln_dba` (energy means rounded to `decimals` with GB/T 8170; null when fewer local
    hours than required have a level), `ld_limit_dba, ln_limit_dba, day_exceeds,
    night_exceeds` (level > limit; null when no level), `n_day_hours, n_night_hours` (hours with
    a level), `n_day_hours_required, n_night_hours_required, ld_missing_reason,
    ln_missing_reason`; with `lmax_dba`: `lmax_night_dba, night_max_limit_dba,
    night_max_exceeds` (true when a night maximum is above the limit, false only when every
    required night hour has a maximum, else null). Day/night hours and minimum hours default to
    the standard's (tables/noise_rules.csv); local rules may override them.
    """
    lf = frame.lazy()
    schema = lf.collect_schema()
    day_start, night_start = day_night_hours(standard)
    day_start = day_start if day_start_hour is None else day_start_hour
    night_start = night_start if night_start_hour is None else night_start_hour
    day_len, night_len, need_day, need_night = coverage(
        standard, day_start, night_start, min_day_hours, min_night_hours
    )
    local = pl.col("period_start").dt.convert_time_zone(tz)
    hour = local.dt.hour()
    is_day = (hour >= day_start) & (hour < night_start)
    # early-morning hours belong to the night that started the previous evening
    night_date = (
        pl.when(hour < day_start)
        .then(local.dt.date() - pl.duration(days=1))
        .otherwise(local.dt.date())
    )
    has_max = "lmax_dba" in schema
    lf = lf.with_columns(
        pl.col("zone").cast(pl.String),
        (pl.col("indoor").fill_null(False) if "indoor" in schema else pl.lit(False)).alias("indoor"),
        (pl.col("night_sudden_noise").cast(pl.String) if "night_sudden_noise" in schema
         else pl.lit(None, dtype=pl.String)).alias("night_sudden_noise"),
        is_day.alias("_day"),
        pl.when(is_day).then(local.dt.date()).otherwise(night_date).alias("date"),
        local.dt.truncate("1h").alias("_hour"),
    )  # fmt: skip
    day_leq = pl.col("leq_dba").is_not_null() & pl.col("_day")
    night_leq = pl.col("leq_dba").is_not_null() & ~pl.col("_day")
    aggs = [
        energy_average_expr(pl.col("leq_dba").filter(pl.col("_day"))).alias("_ld"),
        energy_average_expr(pl.col("leq_dba").filter(~pl.col("_day"))).alias("_ln"),
        pl.col("_hour").filter(day_leq).n_unique().cast(pl.Int32).alias("n_day_hours"),
        pl.col("_hour").filter(night_leq).n_unique().cast(pl.Int32).alias("n_night_hours"),
        pl.col("zone").first().alias("zone"),
        pl.col("indoor").first().alias("indoor"),
        pl.col("night_sudden_noise").first().alias("night_sudden_noise"),
        pl.struct("zone", "indoor", "night_sudden_noise").n_unique().alias("_kinds"),
    ]
    if has_max:
        night_max = pl.col("lmax_dba").is_not_null() & ~pl.col("_day")
        aggs += [
            pl.col("lmax_dba").filter(~pl.col("_day")).max().alias("lmax_night_dba"),
            pl.col("_hour").filter(night_max).n_unique().alias("_n_max_hours"),
        ]
    out = lf.group_by("site", "date").agg(aggs).collect()
    if out.height and out["_kinds"].max() > 1:  # type: ignore[operator]
        bad = out.filter(pl.col("_kinds") > 1).row(0, named=True)
        raise ValueError(
            f"site {bad['site']} has several zones (or indoor / sudden-noise kinds) on {bad['date']}"
        )
    combos = out.select("zone", "indoor", "night_sudden_noise").unique()
    limits = _limit_table(combos, standard, has_max)
    out = out.join(
        limits, on=["zone", "indoor", "night_sudden_noise"], how="left", nulls_equal=True
    )
    ld_ok = pl.col("n_day_hours") >= need_day
    ln_ok = pl.col("n_night_hours") >= need_night
    out = out.with_columns(
        pl.when(ld_ok).then(round_half_even_expr(pl.col("_ld"), decimals)).alias("ld_dba"),
        pl.when(ln_ok).then(round_half_even_expr(pl.col("_ln"), decimals)).alias("ln_dba"),
        pl.lit(need_day, dtype=pl.Int32).alias("n_day_hours_required"),
        pl.lit(need_night, dtype=pl.Int32).alias("n_night_hours_required"),
        pl.when(~ld_ok)
        .then(pl.format(MISSING_REASON, "n_day_hours", pl.lit(day_len), pl.lit("day-time"),
                        pl.lit(need_day)))
        .alias("ld_missing_reason"),
        pl.when(~ln_ok)
        .then(pl.format(MISSING_REASON, "n_night_hours", pl.lit(night_len), pl.lit("night-time"),
                        pl.lit(need_night)))
        .alias("ln_missing_reason"),
    ).with_columns(
        (pl.col("ld_dba") > pl.col("ld_limit_dba")).alias("day_exceeds"),
        (pl.col("ln_dba") > pl.col("ln_limit_dba")).alias("night_exceeds"),
    )  # fmt: skip
    cols = [
        "site", "date", "zone", "ld_dba", "ln_dba", "ld_limit_dba", "ln_limit_dba", "day_exceeds",
        "night_exceeds", "n_day_hours", "n_night_hours", "n_day_hours_required",
        "n_night_hours_required", "ld_missing_reason", "ln_missing_reason",
    ]  # fmt: skip
    if has_max:
        over = pl.col("lmax_night_dba") > pl.col("night_max_limit_dba")
        out = out.with_columns(
            pl.when(pl.col("night_max_limit_dba").is_null())
            .then(None)
            .when(over)
            .then(True)
            .when(pl.col("_n_max_hours") >= need_night)
            .then(False)
            .alias("night_max_exceeds")
        )
        cols += ["lmax_night_dba", "night_max_limit_dba", "night_max_exceeds"]
    return out.select(cols).sort("site", "date")
