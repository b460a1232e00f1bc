"""Hourly values with validity, from QC-passed readings (view `v_readings_qc`, column `valid`:
the effective verdict after staff reviews).

Source of an hour, per site and parameter (documented choice):
1. outlets (sites with a row in `outlets`; issue #17): the data logger's own hourly value (an
   hourly reading from HJ 212, CN 2061) when it is valid and no staff review flagged any
   sub-hour reading of that parameter inside the hour — national online-monitoring platforms
   judge on the logger's hourly values (HJ 75-2017 / HJ 212-2017); otherwise the value derived
   from the finest sub-hour data (`source_interval_s` < 3600 tells a derived hour);
2. every other site (air, water, noise stations): the finest data present in the hour decides —
   minute (or other sub-hour) values first, then real-time (instantaneous) values, and only
   when neither exists the hourly reading itself — so a staff review or QC flag on part of an
   hour counts against the hour's valid minutes even when the logger also sent an hourly value;
3. when several source kinds report the same key (site, parameter, period start, interval), the
   valid one first, then `context.SOURCE_PRIORITY` (lab, file, hj212, mqtt, sim).
Validity: an hour derived from sub-hour data (`derived_hour_valid`, the one definition that
`outlet_hours` uses too) needs the minutes of valid data of `tables/hour_validity.csv` for the
site's domain (45 minutes: GB 3095 Table 4, HJ 75-2017), counted as valid records x their
interval / 60 (`covered_minutes`: a 10-minute logger's complete hour is 6 records = 60
minutes); an hourly reading is valid when its verdict is. Hours are UTC-aligned, which are the
local hours of every whole-hour time zone (Asia/Shanghai). Every expected hour
(site_parameters, interval <= 1 h, site in service) gets a row, an hour without data an invalid
one with its reason.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from transforms.derive.context import HOUR_COMBINE, SOURCE_PRIORITY, Network, hour_min_minutes

# The readings of the range, with their hour and data level (sub-hour intervals, then real-time
# data — interval 0 ranks just below the hour —, then hourly readings).
_READINGS = """
    SELECT v.site_id, v.parameter, v.period_start, v.interval_s, v.source_kind, v.value, v.unit, v.valid,
           CASE WHEN v.valid THEN v.value END AS valid_value,
           coalesce(v.review_action = 'flag', false) AS reviewed_out,
           date_trunc('hour', v.period_start) AS hour_start,
           CASE WHEN v.interval_s = 0 THEN 3599 ELSE v.interval_s END AS level_rank
    FROM v_readings_qc v
    WHERE v.period_start >= $lo AND v.period_start < $hi AND v.interval_s <= 3600 {site_filter}
"""

# Sums in DECIMAL, not DOUBLE: a parallel sum of doubles adds its partial sums in no fixed
# order, so the last bits of a mean change from run to run; decimal sums are exact, and a re-run
# or a backfill stores the very same numbers. Energy (noise, dB) is summed as 10^(L/10); the
# < 300 guard only keeps that inside DECIMAL(38,6) — such a level is never valid (QC's range).
# `{v}` is the value when valid, else null (a valid reading always has a value).
_SUMS = """
    sum(CAST({v} AS DECIMAL(38, 9))) AS sum_value,
    sum(CASE WHEN {unit} = 'dB(A)' AND {v} < 300 THEN CAST(pow(10, 0.1 * {v}) AS DECIMAL(38, 6)) END) AS sum_energy,
    max({v}) AS max_value,
    count({v}) AS n_valid,
    count({v}) FILTER (WHERE {src} = 'hj212') AS n_valid_hj212,
    count(*) FILTER (WHERE {rev}) AS n_reviewed_out
"""

# Pass 1, per hour, data level and source kind (real-time data also per minute, for its valid
# minutes), then per hour and level. Keys are unique within a source kind, so where one source
# kind fills an hour's level these sums are that level's; an hour's level with several source
# kinds (n_sources > 1) is done again by pass 2.
_LEVELS = (
    """
WITH parts AS (
    SELECT site_id, parameter, hour_start, level_rank, source_kind,
           CASE WHEN interval_s = 0 THEN date_trunc('minute', period_start) END AS rt_minute,
           min(interval_s) AS source_interval_s, any_value(unit) AS unit,"""
    + _SUMS.format(v="valid_value", unit="unit", src="source_kind", rev="reviewed_out")
    + """
    FROM ("""
    + _READINGS
    + """) GROUP BY ALL
)
SELECT site_id, parameter, hour_start, level_rank,
       min(source_interval_s) AS source_interval_s, sum(sum_value) AS sum_value,
       sum(sum_energy) AS sum_energy, max(max_value) AS max_value, sum(n_valid) AS n_valid,
       sum(n_valid_hj212) AS n_valid_hj212, sum(n_reviewed_out) AS n_reviewed_out,
       count(rt_minute) FILTER (WHERE n_valid > 0) AS valid_minutes_rt, any_value(unit) AS unit,
       count(DISTINCT source_kind) AS n_sources
FROM parts GROUP BY site_id, parameter, hour_start, level_rank
"""
)

# Pass 2, only the hours' levels in `_shared_levels`: one reading per key — the valid one first,
# then by source priority — then the level's sums. (A group-by on every reading's key: most of
# the hourly derivation's time when it ran for every hour.)
_SHARED_LEVELS = (
    """
WITH dedup AS (
    SELECT site_id, parameter, period_start, interval_s, hour_start, level_rank,
           bool_or(reviewed_out) AS reviewed_out,
           arg_min(struct_pack(value := value, unit := unit, valid := valid, source_kind := source_kind),
                   (NOT valid, coalesce(list_position($priority, source_kind), 99), source_kind)) AS best
    FROM ("""
    + _READINGS
    + """) r
    SEMI JOIN _shared_levels s USING (site_id, parameter, hour_start, level_rank)
    GROUP BY site_id, parameter, period_start, interval_s, hour_start, level_rank
)
SELECT site_id, parameter, hour_start, level_rank, min(interval_s) AS source_interval_s,"""
    + _SUMS.format(
        v="CASE WHEN best.valid THEN best.value END",
        unit="best.unit",
        src="best.source_kind",
        rev="reviewed_out",
    )
    + """,
       count(DISTINCT CASE WHEN interval_s = 0 THEN date_trunc('minute', period_start) END)
           FILTER (WHERE best.valid) AS valid_minutes_rt,
       any_value(best.unit) AS unit
FROM dedup GROUP BY site_id, parameter, hour_start, level_rank
"""
)

# Every expected hour, from the levels in `_levels`: an outlet's valid HJ 212 hourly value
# when no review flagged data inside the hour, else the finest level present.
_HOURS = """
WITH marked AS (
    SELECT l.*,
           sum(n_reviewed_out) OVER (PARTITION BY site_id, parameter, hour_start) AS hour_reviewed_out,
           site_id IN (SELECT site_id FROM outlets) AS is_outlet
    FROM _levels l
),
agg AS (
    SELECT site_id, parameter, hour_start, source_interval_s,
           CAST(sum_value AS DOUBLE) / nullif(n_valid, 0) AS mean_value,
           10 * log10(CAST(sum_energy AS DOUBLE) / nullif(n_valid, 0)) AS energy_value,
           max_value, n_valid, valid_minutes_rt, unit
    FROM marked
    QUALIFY row_number() OVER (
        PARTITION BY site_id, parameter, hour_start
        ORDER BY CASE WHEN is_outlet AND level_rank = 3600 AND n_valid_hj212 > 0
                           AND hour_reviewed_out = 0 THEN 0 ELSE 1 END,
                 level_rank) = 1
),
grid AS (
    SELECT sp.site_id, sp.parameter, h.hour_start
    FROM (SELECT DISTINCT site_id, parameter FROM site_parameters WHERE interval_s <= 3600) sp
    JOIN sites s USING (site_id)
    CROSS JOIN (SELECT unnest(generate_series($lo, $hi - INTERVAL 1 HOUR, INTERVAL 1 HOUR)) AS hour_start) h
    WHERE (s.commissioned_on IS NULL OR CAST(timezone(s.timezone, h.hour_start) AS DATE) >= s.commissioned_on)
      AND (s.decommissioned_on IS NULL OR CAST(timezone(s.timezone, h.hour_start) AS DATE) <= s.decommissioned_on)
      {grid_filter}
)
SELECT coalesce(a.site_id, g.site_id) AS site_id, coalesce(a.parameter, g.parameter) AS parameter,
       coalesce(a.hour_start, g.hour_start) AS period_start, a.source_interval_s, a.mean_value,
       a.energy_value, a.max_value, coalesce(a.n_valid, 0) AS n_valid,
       coalesce(a.valid_minutes_rt, 0) AS valid_minutes_rt, a.unit
FROM agg a FULL OUTER JOIN grid g USING (site_id, parameter, hour_start)
ORDER BY 1, 2, 3
"""


def required_minutes(domain: pl.Expr) -> pl.Expr:
    """The minutes of valid data an hour derived from sub-hour data needs in the data's domain
    (tables/hour_validity.csv); null for a domain the table lacks."""
    return domain.replace_strict(hour_min_minutes(), default=None, return_dtype=pl.Int64)


def covered_minutes(n_valid: pl.Expr, interval_s: pl.Expr) -> pl.Expr:
    """The minutes of an hour that `n_valid` valid records of `interval_s` seconds cover."""
    return n_valid * interval_s // 60


def derived_hour_valid(minutes: pl.Expr, domain: pl.Expr) -> pl.Expr:
    """Whether an hour derived from sub-hour data is valid: its covered minutes of valid data
    reach the domain's minimum (`required_minutes`)."""
    return minutes >= required_minutes(domain)


HOUR_COLUMNS = [
    "site_id", "parameter", "period_start", "value", "unit", "valid", "n_valid", "n_expected",
    "invalid_reason", "source_interval_s",
]  # fmt: skip


def hour_values(
    con: duckdb.DuckDBPyConnection,
    net: Network,
    lo: datetime,
    hi: datetime,
    site_ids: list[str] | None = None,
) -> pl.DataFrame:
    """Hourly values of every site and parameter for the UTC hours starting in [lo, hi)."""
    if lo.minute or lo.second or lo.microsecond or hi.minute or hi.second or hi.microsecond:
        raise ValueError(
            f"hourly ranges need whole hours, got {lo.isoformat()} .. {hi.isoformat()}"
        )
    params: dict[str, object] = {"lo": lo, "hi": hi}
    site_filter = grid_filter = ""
    if site_ids is not None:
        params["sites"] = site_ids
        site_filter = "AND v.site_id IN (SELECT unnest($sites))"
        grid_filter = "AND sp.site_id IN (SELECT unnest($sites))"
    levels = con.sql(_LEVELS.format(site_filter=site_filter), params=params).to_arrow_table()
    shared = levels.filter(pc.greater(levels["n_sources"], 1))
    levels = levels.filter(pc.equal(levels["n_sources"], 1)).drop_columns("n_sources")
    if shared.num_rows:
        con.register(
            "_shared_levels", shared.select(["site_id", "parameter", "hour_start", "level_rank"])
        )
        try:
            redone = con.sql(
                _SHARED_LEVELS.format(site_filter=site_filter),
                params={**params, "priority": list(SOURCE_PRIORITY)},
            ).to_arrow_table()
        finally:
            con.unregister("_shared_levels")
        levels = pa.concat_tables([levels, redone.select(levels.column_names).cast(levels.schema)])
    con.register("_levels", levels)
    try:
        table = con.sql(_HOURS.format(grid_filter=grid_filter), params=params).to_arrow_table()
    finally:
        con.unregister("_levels")
    raw = pl.from_arrow(table)
    assert isinstance(raw, pl.DataFrame)
    return _validate(raw, net)


def _validate(raw: pl.DataFrame, net: Network) -> pl.DataFrame:
    domains = net.parameters.select("parameter", "domain")
    kinds = net.sites.select("site_id", "kind")
    min_minutes = hour_min_minutes()
    df = raw.join(domains, on="parameter", how="left").join(kinds, on="site_id", how="left")
    # the domain of the site's data: an outlet's SO2 is flue gas although the parameter is 'air'
    outlet_types = dict(zip(net.outlets["site_id"], net.outlets["outlet_type"], strict=True))
    site_domain = pl.col("site_id").replace_strict(
        outlet_types, default=None, return_dtype=pl.String
    )
    df = df.with_columns(pl.coalesce(site_domain, pl.col("domain")).alias("domain"))
    unknown = set(df["domain"].drop_nulls().unique().to_list()) - set(min_minutes)
    if unknown:
        raise ValueError(f"tables/hour_validity.csv has no row for domains {sorted(unknown)}")
    need = required_minutes(pl.col("domain"))
    iv = pl.col("source_interval_s")
    sub_hour = iv < 3600
    minutes = (
        pl.when(iv == 0)
        .then(pl.col("valid_minutes_rt"))
        .otherwise(covered_minutes(pl.col("n_valid"), iv))
        .cast(pl.Int64)
    )
    valid = (
        pl.when(iv.is_null())
        .then(False)
        .when(sub_hour)
        .then(derived_hour_valid(minutes, pl.col("domain")))
        .otherwise(pl.col("n_valid") >= 1)
    )
    combine = pl.col("parameter").replace_strict(
        HOUR_COMBINE, default="mean", return_dtype=pl.String
    )
    value = (
        pl.when(combine == "energy")
        .then(pl.col("energy_value"))
        .when(combine == "max")
        .then(pl.col("max_value"))
        .otherwise(pl.col("mean_value"))
    )
    reason = (
        pl.when(iv.is_null())
        .then(pl.format("{}: no data", pl.col("parameter")))
        .when(sub_hour)
        .then(pl.format("{}: {} valid minutes < {} required", pl.col("parameter"), minutes, need))
        .otherwise(pl.format("{}: no valid hourly value", pl.col("parameter")))
    )
    n_expected = (
        pl.when(iv.is_null() | (iv == 3600)).then(1).when(iv == 0).then(60).otherwise(3600 // iv)
    )
    df = df.with_columns(
        valid.alias("valid"),
        pl.coalesce(pl.col("unit"), net.units_for(df)).alias("unit"),
        n_expected.cast(pl.Int32).alias("n_expected"),
        pl.when(sub_hour)
        .then(minutes)
        .otherwise(pl.col("n_valid"))
        .cast(pl.Int32)
        .alias("n_valid"),
        value.alias("_value"),
        reason.alias("_reason"),
    )
    return df.with_columns(
        pl.when(pl.col("valid")).then(pl.col("_value")).alias("value"),
        pl.when(~pl.col("valid")).then(pl.col("_reason")).alias("invalid_reason"),
    ).select(*HOUR_COLUMNS, "domain", "kind")
