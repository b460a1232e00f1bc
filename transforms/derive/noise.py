"""Noise points' day and night levels per date (`noise_daily` rows) over the standards' functions.

Ambient points are judged by GB 3096-2008, boundary points of enterprises (厂界噪声监测点, a
`noise_standard: GB12348-2008` and an `enterprise_id` in the registry) by GB 12348-2008: the
limits of the zone outside the boundary, minus 10 dB(A) when measured indoors, and the night
maximum against the night limit plus 10 dB(A) (frequent sudden noise) or 15 (sporadic).
hour_leq values (energy means) and hourly maxima (`lmax`, the highest level of the hour) feed
transforms.standards.noise.noise_levels; Ld (Ln) needs the standard's minimum of valid hours
and is otherwise null with the reason. The night of date D runs from D 22:00 to D+1 06:00, so a
daily derivation reads the hours up to then.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from transforms.derive.context import Network
from transforms.standards import noise as noise_std

NOISE_COLUMNS = [
    "site_id", "local_date", "zone", "standard", "ld_dba", "ln_dba", "ld_limit_dba", "ln_limit_dba",
    "day_exceeds", "night_exceeds", "lmax_night_dba", "night_max_exceeds", "n_day_hours", "n_night_hours",
    "enterprise_id", "indoor", "night_sudden_noise", "night_max_limit_dba", "n_day_hours_required",
    "n_night_hours_required", "ld_missing_reason", "ln_missing_reason",
]  # fmt: skip
NOISE_STANDARD = noise_std.AMBIENT  # the day/night hours a daily derivation reads (06/22)
# a noise point's GB 12348 facts in `sites` (migration 0096), with their types
POINT_COLUMNS = {
    "enterprise_id": pl.String, "noise_standard": pl.String, "noise_indoor": pl.Boolean,
    "night_sudden_noise": pl.String,
}  # fmt: skip
NOISE_SCHEMA = {
    "site_id": pl.String, "local_date": pl.Date, "zone": pl.String, "standard": pl.String,
    "ld_dba": pl.Float64, "ln_dba": pl.Float64, "ld_limit_dba": pl.Float64, "ln_limit_dba": pl.Float64,
    "day_exceeds": pl.Boolean, "night_exceeds": pl.Boolean, "lmax_night_dba": pl.Float64,
    "night_max_exceeds": pl.Boolean, "n_day_hours": pl.Int32, "n_night_hours": pl.Int32,
    "enterprise_id": pl.String, "indoor": pl.Boolean, "night_sudden_noise": pl.String,
    "night_max_limit_dba": pl.Float64, "n_day_hours_required": pl.Int32,
    "n_night_hours_required": pl.Int32, "ld_missing_reason": pl.String, "ln_missing_reason": pl.String,
}  # fmt: skip


def noise_points(net: Network) -> pl.DataFrame:
    """site_id, zone, standard, enterprise_id, indoor, night_sudden_noise of every noise point
    with a zone; a point without a standard is an ambient (GB 3096-2008) one."""
    sites = net.sites.filter((pl.col("kind") == "noise") & pl.col("noise_zone").is_not_null())
    missing = [
        pl.lit(None, dtype=t).alias(c) for c, t in POINT_COLUMNS.items() if c not in sites.columns
    ]
    return (
        sites.with_columns(missing)
        .select(
            "site_id",
            pl.col("noise_zone").cast(pl.String).alias("zone"),
            pl.col("noise_standard").fill_null(noise_std.AMBIENT).alias("standard"),
            "enterprise_id",
            pl.col("noise_indoor").fill_null(False).alias("indoor"),
            "night_sudden_noise",
        )
        .sort("site_id")
    )


def noise_rows(hours: pl.DataFrame, net: Network, day: date, tz: str) -> pl.DataFrame:
    """noise_daily rows of `day` for every noise point with a zone (hours must span the night)."""
    points = noise_points(net)
    h = hours.filter(
        pl.col("site_id").is_in(points["site_id"].to_list())
        & pl.col("parameter").is_in(["leq", "lmax"])
    )
    wide = h.pivot(
        on="parameter", index=["site_id", "period_start"], values="value",
        aggregate_function="first",
    )  # fmt: skip
    for c in ("leq", "lmax"):
        if c not in wide.columns:
            wide = wide.with_columns(pl.lit(None, dtype=pl.Float64).alias(c))
    wide = wide.filter(pl.col("leq").is_not_null() | pl.col("lmax").is_not_null()).join(
        points, on="site_id", how="inner"
    )
    levels = {}
    for standard in points["standard"].unique().sort():
        part = wide.filter(pl.col("standard") == standard).select(
            pl.col("site_id").alias("site"), "zone", "period_start", "indoor", "night_sudden_noise",
            pl.col("leq").alias("leq_dba"), pl.col("lmax").alias("lmax_dba"),
        )  # fmt: skip
        found = noise_std.noise_levels(part, standard=standard, tz=tz)
        for r in found.filter(pl.col("date") == day).iter_rows(named=True):
            levels[r["site"]] = r
    out = []
    for p in points.iter_rows(named=True):
        std, zone, indoor, sudden = p["standard"], p["zone"], p["indoor"], p["night_sudden_noise"]
        d_lim, n_lim = noise_std.zone_limits(zone, std, indoor)
        day_len, night_len, need_day, need_night = noise_std.coverage(std)
        r = levels.get(p["site_id"])
        if r is None:  # no valid hour at all: the reasons say so
            r = {
                "n_day_hours": 0, "n_night_hours": 0,
                "ld_missing_reason": noise_std.missing_reason(0, day_len, "day-time", need_day),
                "ln_missing_reason": noise_std.missing_reason(0, night_len, "night-time", need_night),
            }  # fmt: skip
        out.append({
            "site_id": p["site_id"], "local_date": day, "zone": zone, "standard": std,
            "ld_dba": r.get("ld_dba"), "ln_dba": r.get("ln_dba"), "ld_limit_dba": d_lim, "ln_limit_dba": n_lim,
            "day_exceeds": r.get("day_exceeds"), "night_exceeds": r.get("night_exceeds"),
            "lmax_night_dba": r.get("lmax_night_dba"), "night_max_exceeds": r.get("night_max_exceeds"),
            "n_day_hours": r["n_day_hours"], "n_night_hours": r["n_night_hours"],
            "enterprise_id": p["enterprise_id"], "indoor": indoor, "night_sudden_noise": sudden,
            "night_max_limit_dba": _night_max_limit(zone, std, sudden, indoor),
            "n_day_hours_required": need_day, "n_night_hours_required": need_night,
            "ld_missing_reason": r.get("ld_missing_reason"), "ln_missing_reason": r.get("ln_missing_reason"),
        })  # fmt: skip
    return (
        pl.DataFrame(out, schema=NOISE_SCHEMA, orient="row")
        if out
        else pl.DataFrame(schema=NOISE_SCHEMA)
    )


def _night_max_limit(zone: str, standard: str, sudden: str | None, indoor: bool) -> float | None:
    """The highest allowed night Lmax; None when the point's Lmax is not judged."""
    if not noise_std.judges_night_max(standard, sudden):
        return None
    return noise_std.night_max_limit(zone, standard, sudden, indoor)
