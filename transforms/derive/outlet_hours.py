"""Official hourly values of outlets (table `outlet_hours`, migration 0090; issue #17).

Per outlet (a site with a row in `outlets`), parameter and UTC hour, beside the official value
that `hours.hour_values` chose (the logger's own CN 2061 hour when valid and no review flagged
data inside the hour, else derived from sub-hour data):
- `derived_value` / `covered_minutes`: recomputed from the finest sub-hour records, valid
  records x interval / 60, valid by the one rule of a derived hour
  (`hours.derived_hour_valid`: HJ 75-2017 / GB 3095 Table 4 minimum, tables/hour_validity.csv);
  null when coverage falls short;
- `logger_value`, `logger_zs_value`: the logger's own hourly Avg and ZsAvg as sent;
- `corrected_value`: envmon's O2 correction of the official value with the hour's O2 and the
  outlet's reference O2, capped (transforms.standards.emissions.o2_cap_pct);
- `load_kg`: the sum of slice loads — the logger's `-Cou` (assumed kg, the HJ 212-2017
  emission-mass unit) where sent, else concentration x flow x the record's interval —
  over the records the official value comes from (the logger's hourly record, or the sub-hour
  records), never scaled up for missing slices; null when the hour or its flow is invalid;
  a logger hour without its own hourly load takes the sub-hour slices' load only when they
  cover the hour's minimum (45 minutes, tables/hour_validity.csv; review T7);
- `operating` / `not_operating_reason`: false on process evidence of a shut-down only — the
  flow's official hour is zero, or (flue gas) the O2 hour is above the cap; one rule,
  transforms.standards.emissions.not_operating_expr; null (no verdict) for a site-hour with no
  valid official value of any parameter and no such evidence; else true. A pollutant's hour
  that is not operating is judged on nothing (no exceedance) and shown as such; O2, flow and
  the other physical parameters keep their validity: they are what shows the shut-down.
- `treatment_stopped`: HJ 212-2017 CN 2021 SBn-RS is the running status of the
  pollution-TREATMENT facility n (shared/reference/hj212.md), not of production: a stopped
  desulfuriser beside a burning boiler is the bypass violation, never a shut-down. The
  facilities stopped for at least `stopped_min_minutes` of the hour (time-weighted: each
  status holds from its report until the next, the last report before the hour carried
  forward up to `lookback_hours`; tables/run_status.csv) while the outlet is operating;
- `logger_valid`: whether the logger's own hourly reading (CN 2061, source hj212) passed QC.
  In `outlet_hours` itself `valid` is the data's validity (the official value is kept in a
  shut-down hour, beside operating = false); `aggregates` hour_avg / hour_avg_o2 of a pollutant
  in such an hour are invalid with the reason (`official`, emission_rows.o2_hours).
`obtained` is 'logger' for the logger's own hourly value (source hj212), 'reported' for an
hourly value of another source (file, lab backfill), 'derived' from sub-hour data.
"""

from __future__ import annotations

import csv
from datetime import datetime

import duckdb
import polars as pl

from transforms.derive.context import LITRES_PER_M3, SOURCE_PRIORITY, TABLES_DIR, Network
from transforms.derive.hours import covered_minutes, derived_hour_valid
from transforms.standards.emissions import (
    not_operating_expr,
    o2_cap_pct,
    o2_corrected,
    slice_load_kg,
)

O2_PARAMETER = "o2"
HOUR_S = 3600
RUN_STATUS_STOPPED = 0  # HJ 212-2017 running status RS: 0 stopped (the code, not a limit)
LOGGER_SOURCE = "hj212"  # the source kind of the data logger's own records

OUTLET_DAY_COLUMNS = [
    "site_id", "parameter", "period_start", "unit", "official_value", "obtained", "valid",
    "invalid_reason", "logger_value", "derived_value", "load_kg", "valid_hours", "operating_hours",
]  # fmt: skip

OUTLET_HOUR_COLUMNS = [
    "site_id", "parameter", "period_start", "unit", "official_value", "obtained", "valid",
    "invalid_reason", "derived_value", "covered_minutes", "logger_value", "logger_zs_value",
    "corrected_value", "o2_pct", "load_kg", "operating", "not_operating_reason",
    "treatment_stopped", "logger_valid",
]  # fmt: skip

# Per outlet, parameter, hour, record interval and source kind, from the QC verdicts: the
# time-weighted sum of valid values, the valid seconds, the logger's values as sent, and the
# slice loads — a pollutant record with the flow record of the same slice (same start, interval
# and source kind) — as the logger's -Cou where sent and valid, else the sum of c x Q x t
# (mg/m3 x m3/h x s, made kg by transforms.standards.emissions.slice_load_kg). Aggregated in the
# database: a province's outlet minutes never come into memory one by one. Keys are unique
# within a source kind; where several source kinds hold one hour, one is chosen in polars.
_LEVELS = """
WITH rec AS (
    SELECT v.site_id, v.parameter, v.period_start, v.interval_s, v.source_kind, v.value,
           v.value_zs, v.value_cou, CASE WHEN v.valid THEN v.value END AS vv,
           date_trunc('hour', v.period_start) AS hour_start
    FROM v_readings_qc v
    WHERE v.period_start >= $lo AND v.period_start < $hi AND v.interval_s > 0
      AND v.interval_s <= 3600 AND v.site_id IN (SELECT site_id FROM _oh_sites)
),
flow AS (
    SELECT r.site_id, r.period_start, r.interval_s, r.source_kind, r.vv * f.to_m3h AS flow_m3h
    FROM rec r JOIN _oh_flows f ON f.site_id = r.site_id AND f.flow_parameter = r.parameter
    WHERE r.vv IS NOT NULL
),
sums AS (
    SELECT site_id, parameter, hour_start, interval_s, source_kind,
           sum(vv * interval_s) AS sum_vt,
           CAST(sum(interval_s) FILTER (WHERE vv IS NOT NULL) AS BIGINT) AS valid_s,
           count(vv) AS n_valid,
           any_value(value) AS value_sent,
           any_value(value_zs) AS zs_sent
    FROM rec GROUP BY ALL
),
loads AS (
    SELECT r.site_id, r.parameter, r.hour_start, r.interval_s, r.source_kind,
           sum(r.value_cou) AS sum_cou,
           sum(r.vv * p.to_mgm3 * fl.flow_m3h * r.interval_s) FILTER (WHERE r.value_cou IS NULL) AS sum_cqt,
           count(*) FILTER (WHERE r.value_cou IS NOT NULL OR fl.flow_m3h IS NOT NULL) AS n_slices
    FROM rec r
    JOIN _oh_pollutants p ON p.site_id = r.site_id AND p.parameter = r.parameter
    LEFT JOIN flow fl
      ON fl.site_id = r.site_id AND fl.period_start = r.period_start
     AND fl.interval_s = r.interval_s AND fl.source_kind = r.source_kind
    WHERE r.vv IS NOT NULL
    GROUP BY ALL
)
SELECT s.*, l.sum_cou, l.sum_cqt, coalesce(l.n_slices, 0) AS n_slices
FROM sums s
LEFT JOIN loads l USING (site_id, parameter, hour_start, interval_s, source_kind)
"""

# Per outlet, treatment facility (CN 2021 SBn) and UTC hour of [lo, hi): the seconds the
# facility was reported stopped. Each report holds from its time until the facility's next
# report, at most `lookback` hours (a logger that reports only on change); reports from up to
# `lookback` hours before `lo` are read so the state at the hour's start is known.
_RUN_STATUS = """
WITH ev AS (
    SELECT site_id, code, event_time, status_code,
           lead(event_time) OVER (PARTITION BY site_id, code ORDER BY event_time, status_code)
               AS next_time
    FROM logger_events
    WHERE kind = 'run_status' AND code IS NOT NULL
      AND event_time >= $lo - to_hours(CAST($lookback AS BIGINT)) AND event_time < $hi
      AND site_id IN (SELECT unnest($sites))
),
seg AS (
    SELECT site_id, code, event_time AS s,
           least(coalesce(next_time, $hi), event_time + to_hours(CAST($lookback AS BIGINT))) AS e
    FROM ev WHERE status_code = $stopped
),
hrs AS (
    SELECT unnest(generate_series($lo, $hi - INTERVAL 1 HOUR, INTERVAL 1 HOUR)) AS h
)
SELECT site_id, h AS period_start, code,
       sum(epoch(least(e, h + INTERVAL 1 HOUR)) - epoch(greatest(s, h))) AS stopped_s
FROM seg JOIN hrs ON seg.s < hrs.h + INTERVAL 1 HOUR AND seg.e > hrs.h
GROUP BY ALL
"""


def run_status_rules() -> dict[str, float]:
    """tables/run_status.csv: lookback_hours and stopped_min_minutes (pipeline choices)."""
    with (TABLES_DIR / "run_status.csv").open(encoding="utf-8", newline="") as fh:
        return {r["name"]: float(r["value"]) for r in csv.DictReader(fh)}


def has_logger_events(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the warehouse has the `logger_events` table (migration 0086); without it there
    is no running-status data."""
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'logger_events'"
        ).fetchall()[0][0]
    )


def _levels(
    con: duckdb.DuckDBPyConnection,
    sites: list[str],
    pol: pl.DataFrame,
    flows: pl.DataFrame,
    lo: datetime,
    hi: datetime,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(all `_LEVELS` rows, with the slice load (kg); one source kind per (site, parameter,
    hour, interval): the first by `SOURCE_PRIORITY` among those with valid data, else the first)."""
    frames = {
        "_oh_sites": pl.DataFrame({"site_id": sites}, schema={"site_id": pl.String}),
        "_oh_pollutants": pol,
        "_oh_flows": flows,
    }
    for name, frame in frames.items():
        con.register(name, frame.to_arrow())
    try:
        table = con.sql(_LEVELS, params={"lo": lo, "hi": hi}).to_arrow_table()
    finally:
        for name in frames:
            con.unregister(name)
    df = pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    rank = {k: i for i, k in enumerate(SOURCE_PRIORITY)}
    df = df.with_columns(
        pl.col("hour_start").dt.convert_time_zone("UTC"),
        pl.col("source_kind")
        .replace_strict(rank, default=len(rank), return_dtype=pl.Int32)
        .alias("_rank"),
        # the slice loads: -Cou as sent, plus the sum of c x Q x t through the (linear) formula
        pl.when(pl.col("n_slices") > 0)
        .then(
            pl.col("sum_cou").fill_null(0.0)
            + slice_load_kg(pl.col("sum_cqt").fill_null(0.0), 1.0, 1.0)
        )
        .alias("load_kg"),
    )
    key = ["site_id", "parameter", "hour_start", "interval_s"]
    return df, (
        df.sort([*key, pl.col("n_valid") == 0, "_rank", "source_kind"])
        .unique(key, keep="first", maintain_order=True)
        .drop("_rank")
    )


def _run_status(
    con: duckdb.DuckDBPyConnection, sites: list[str], lo: datetime, hi: datetime
) -> pl.DataFrame:
    """(site_id, period_start, _treatment_stopped): the treatment facilities stopped for at
    least `stopped_min_minutes` of the hour, e.g. 'SB1, SB2' (see `_RUN_STATUS`)."""
    schema = {
        "site_id": pl.String,
        "period_start": pl.Datetime("us", "UTC"),
        "_treatment_stopped": pl.String,
    }
    if not has_logger_events(con) or not sites or hi <= lo:
        return pl.DataFrame(schema=schema)
    rules = run_status_rules()
    table = con.sql(
        _RUN_STATUS,
        params={
            "lo": lo, "hi": hi, "sites": sites, "stopped": RUN_STATUS_STOPPED,
            "lookback": int(rules["lookback_hours"]),
        },
    ).to_arrow_table()  # fmt: skip
    df = pl.from_arrow(table)
    assert isinstance(df, pl.DataFrame)
    if df.height == 0:
        return pl.DataFrame(schema=schema)
    need_s = rules["stopped_min_minutes"] * 60
    return (
        df.filter(pl.col("stopped_s") >= need_s)
        .with_columns(pl.col("period_start").dt.convert_time_zone("UTC"))
        .group_by("site_id", "period_start")
        .agg(pl.col("code").unique().sort().str.join(", ").alias("_treatment_stopped"))
        .select(list(schema))
    )


def _factors(net: Network) -> tuple[pl.DataFrame, pl.DataFrame]:
    """((site, parameter, to_mgm3) of mass-concentration pollutants, (site, flow_parameter, to_m3h))."""
    units = net.parameter_units().join(net.outlets.select("site_id"), on="site_id")
    to_mgm3 = (
        pl.when(pl.col("quantity") == "mass_concentration_gas")
        .then(pl.col("to_base"))
        .when(pl.col("quantity") == "mass_concentration_liquid")
        .then(pl.col("to_base") * LITRES_PER_M3)
    )
    pol = units.filter(
        pl.col("quantity").is_in(["mass_concentration_gas", "mass_concentration_liquid"])
        & pl.col("to_base").is_not_null()
        & (pl.col("parameter") != O2_PARAMETER)
    ).select("site_id", "parameter", to_mgm3.cast(pl.Float64).alias("to_mgm3"))
    flows = units.filter(pl.col("quantity") == "volume_flow").select(
        "site_id",
        pl.col("parameter").alias("flow_parameter"),
        pl.col("to_base").cast(pl.Float64).alias("to_m3h"),
    )
    flows = flows.unique("site_id", keep="first", maintain_order=True)
    return pol, flows


def official(hours: pl.DataFrame, oh: pl.DataFrame, net: Network) -> pl.DataFrame:
    """`hours` with the outlets' pollutant hours that are not operating made invalid with the
    shut-down as reason: the rows that `aggregates` hour_avg carries (no exceedance judged).
    Column `shut_down` marks those hours: a period mean excuses them (they are neither missing
    nor invalid data), see `excused_need`."""
    if oh.height == 0:
        return hours.with_columns(pl.lit(False).alias("shut_down"))
    pol = _factors(net)[0].select("site_id", "parameter")
    stops = oh.filter(~pl.col("operating")).join(pol, on=["site_id", "parameter"]).select(
        "site_id", "parameter", "period_start",
        pl.format("{}: not operating: {}", pl.col("parameter"), pl.col("not_operating_reason"))
        .alias("_stop"),
    )  # fmt: skip
    df = hours.join(stops, on=["site_id", "parameter", "period_start"], how="left")
    off = pl.col("valid") & pl.col("_stop").is_not_null()
    return df.with_columns(
        pl.when(off).then(False).otherwise(pl.col("valid")).alias("valid"),
        pl.when(off).then(None).otherwise(pl.col("value")).alias("value"),
        pl.when(off)
        .then(pl.col("_stop"))
        .otherwise(pl.col("invalid_reason"))
        .alias("invalid_reason"),
        pl.col("_stop").is_not_null().alias("shut_down"),
    ).drop("_stop")


def excused_need(need: int, shut_down_hours: pl.Expr) -> pl.Expr:
    """Valid hours a day's mean needs when some of its hours were shut down: the standard's count
    less the shut-down hours, at least 1 — a shut-down hour is excused, not missing, so a day keeps
    the same tolerance for missing data (24 - `need` hours) and an outlet that discharges 8 hours
    a day still gets its daily mean judged (HJ 75-2017 daily count, tables/emission_validity.csv)."""
    return pl.max_horizontal(pl.lit(1), pl.lit(need) - shut_down_hours).cast(pl.Int32)


def outlet_hours(
    con: duckdb.DuckDBPyConnection, net: Network, hours: pl.DataFrame, lo: datetime, hi: datetime
) -> pl.DataFrame:
    """`outlet_hours` rows for the UTC hours starting in [lo, hi); `hours` are the hour values
    (`hours.hour_values`) of at least those hours and sites."""
    sites = net.outlets["site_id"].to_list()
    in_range = (pl.col("period_start") >= lo) & (pl.col("period_start") < hi)
    off = hours.filter(in_range & pl.col("site_id").is_in(sites)).select(
        "site_id", "parameter", "period_start", "unit",
        pl.col("value").alias("official_value"), "valid", "invalid_reason",
        pl.when(pl.col("source_interval_s") == HOUR_S).then(pl.lit("logger"))
        .when(pl.col("source_interval_s").is_not_null()).then(pl.lit("derived")).alias("obtained"),
        "source_interval_s", "domain",
    )  # fmt: skip
    if off.height == 0:
        return pl.DataFrame(schema=_schema())
    pol, flows = _factors(net)
    all_lv, lv = _levels(con, sites, pol, flows, lo, hi)
    key = ["site_id", "parameter", "hour_start"]
    # the logger's own hourly record (one slice of an hour: its -Cou, else c x Q x 1 h)
    hourly = lv.filter(pl.col("interval_s") == HOUR_S).select(
        *key, pl.col("value_sent").alias("logger_value"),
        pl.col("zs_sent").alias("logger_zs_value"), pl.col("load_kg").alias("_hour_kg"),
        pl.col("source_kind").alias("_hour_source"),
    )  # fmt: skip
    # whether the logger's own CN 2061 hour (source hj212) passed QC (review T10)
    logger_ok = all_lv.filter(
        (pl.col("interval_s") == HOUR_S) & (pl.col("source_kind") == LOGGER_SOURCE)
    ).select(*key, (pl.col("n_valid") > 0).alias("logger_valid"))
    # the finest sub-hour records of each hour
    sub = lv.filter(pl.col("interval_s") < HOUR_S)
    sub = sub.filter(pl.col("interval_s") == pl.col("interval_s").min().over(key))
    derived = sub.select(
        *key,
        (pl.col("sum_vt") / pl.col("valid_s")).alias("_d_mean"),
        covered_minutes(pl.col("n_valid"), pl.col("interval_s")).cast(pl.Int32).alias("covered_minutes"),
        pl.col("load_kg").alias("_sub_kg"),
    )

    df = off.rename({"period_start": "hour_start"})
    for part in (hourly, logger_ok, derived):
        df = df.join(part, on=key, how="left")
    df = df.rename({"hour_start": "period_start"})
    # T12: 'logger' only for the logger's own (hj212) hourly value
    df = df.with_columns(
        pl.when((pl.col("obtained") == "logger") & (pl.col("_hour_source") != LOGGER_SOURCE))
        .then(pl.lit("reported"))
        .otherwise(pl.col("obtained"))
        .alias("obtained")
    )

    # the site-hour's O2 and flow (official hours)
    o2 = off.filter(pl.col("parameter") == O2_PARAMETER).select(
        "site_id", "period_start",
        pl.when(pl.col("valid")).then(pl.col("official_value")).alias("o2_pct"),
    )  # fmt: skip
    flow_h = off.join(
        flows, left_on=["site_id", "parameter"], right_on=["site_id", "flow_parameter"]
    ).select(
        "site_id", "period_start",
        pl.col("valid").alias("_flow_valid"),
        pl.when(pl.col("valid")).then(pl.col("official_value") * pl.col("to_m3h")).alias("_flow"),
    )  # fmt: skip
    # T5: a site-hour with no valid official value of any parameter has no verdict
    any_data = off.group_by("site_id", "period_start").agg(pl.col("valid").any().alias("_any_data"))
    rs = _run_status(con, sites, lo, hi)
    ref = net.outlets.select("site_id", "outlet_type", "reference_o2_pct")
    df = (
        df.join(o2, on=["site_id", "period_start"], how="left")
        .join(flow_h, on=["site_id", "period_start"], how="left")
        .join(any_data, on=["site_id", "period_start"], how="left")
        .join(rs, on=["site_id", "period_start"], how="left")
        .join(ref, on="site_id", how="left")
        .join(pol.select("site_id", "parameter", pl.lit(True).alias("_pollutant")),
              on=["site_id", "parameter"], how="left")
    )  # fmt: skip

    cap = o2_cap_pct()
    flue = pl.col("outlet_type") == "flue_gas"
    pollutant = pl.col("_pollutant").fill_null(False)
    df = df.with_columns(
        not_operating_expr(pl.col("o2_pct"), pl.col("_flow"), flue, cap).alias(
            "not_operating_reason"
        )
    )
    operating = (
        pl.when(pl.col("not_operating_reason").is_not_null())
        .then(False)
        .when(pl.col("_any_data").fill_null(False))
        .then(True)
    )
    data_valid = pl.col("valid")
    flow_ok = pl.col("_flow_valid").fill_null(False)
    # T7: a logger hour without its own hourly load takes the slices' load only when the
    # slices cover the hour's minimum (the same basis as the derived hour)
    sub_ok = derived_hour_valid(pl.col("covered_minutes").fill_null(0), pl.col("domain"))
    load = (
        pl.when(pl.col("obtained") == "logger")
        .then(pl.coalesce("_hour_kg", pl.when(sub_ok).then(pl.col("_sub_kg"))))
        .when(pl.col("obtained") == "reported")
        .then(pl.col("_hour_kg"))
        .otherwise(pl.col("_sub_kg"))
    )
    corrected = o2_corrected(
        pl.col("official_value"), pl.col("o2_pct"), pl.col("reference_o2_pct"), o2_max_pct=cap
    )
    return df.with_columns(
        operating.alias("operating"),
        pl.when(operating.fill_null(False))
        .then(pl.col("_treatment_stopped"))
        .alias("treatment_stopped"),
        pl.when(~data_valid).then(pl.col("invalid_reason")).alias("invalid_reason"),
        pl.when(data_valid).then(pl.col("official_value")).alias("official_value"),
        pl.when(sub_ok).then(pl.col("_d_mean")).alias("derived_value"),
        pl.col("covered_minutes").fill_null(0).cast(pl.Int32),
        pl.when(flue & pollutant & data_valid).then(corrected).alias("corrected_value"),
        pl.when(pollutant & data_valid & flow_ok).then(load).alias("load_kg"),
    ).select(OUTLET_HOUR_COLUMNS)


def _schema() -> dict[str, pl.DataType]:
    return {
        "site_id": pl.String(), "parameter": pl.String(), "period_start": pl.Datetime("us", "UTC"),
        "unit": pl.String(), "official_value": pl.Float64(), "obtained": pl.String(),
        "valid": pl.Boolean(), "invalid_reason": pl.String(), "derived_value": pl.Float64(),
        "covered_minutes": pl.Int32(), "logger_value": pl.Float64(), "logger_zs_value": pl.Float64(),
        "corrected_value": pl.Float64(), "o2_pct": pl.Float64(), "load_kg": pl.Float64(),
        "operating": pl.Boolean(), "not_operating_reason": pl.String(),
        "treatment_stopped": pl.String(), "logger_valid": pl.Boolean(),
    }  # fmt: skip


_DAY_READINGS = """
SELECT v.site_id, v.parameter, any_value(v.value) AS logger_value,
       any_value(v.value) FILTER (WHERE v.valid) AS logger_valid_value
FROM v_readings_qc v
WHERE v.period_start >= $lo AND v.period_start < $hi AND v.interval_s = 86400
  AND v.source_kind = 'hj212' AND v.site_id IN (SELECT unnest($sites))
GROUP BY ALL
"""


def outlet_days(
    con: duckdb.DuckDBPyConnection,
    net: Network,
    oh: pl.DataFrame,
    lo: datetime,
    hi: datetime,
    min_hours: int,
) -> pl.DataFrame:
    """`outlet_days` rows of the local day [lo, hi) from its `outlet_hours` rows `oh`: the
    logger's own daily value (CN 2031) when it passes QC, else the mean of the valid official
    hours with at least `min_hours` of them (HJ 75-2017 daily minimum). A pollutant's
    shut-down hour (operating false) is no valid hour of its day (review T2): `valid_hours`
    and the mean count only the operating valid hours; `load_kg` sums every hour's slice loads
    (mass emitted, zero in a zero-flow hour) once the day has its valid hours."""
    sites = net.outlets["site_id"].to_list()
    day = oh.filter((pl.col("period_start") >= lo) & (pl.col("period_start") < hi))
    schema = {
        "site_id": pl.String(), "parameter": pl.String(), "period_start": pl.Datetime("us", "UTC"),
        "unit": pl.String(), "official_value": pl.Float64(), "obtained": pl.String(),
        "valid": pl.Boolean(), "invalid_reason": pl.String(), "logger_value": pl.Float64(),
        "derived_value": pl.Float64(), "load_kg": pl.Float64(), "valid_hours": pl.Int32(),
        "operating_hours": pl.Int32(),
    }  # fmt: skip
    if day.height == 0:
        return pl.DataFrame(schema=schema)
    # T2: a pollutant's shut-down hour (operating false) is no valid hour of its day
    pol = _factors(net)[0].select("site_id", "parameter", pl.lit(True).alias("_pollutant"))
    day = day.join(pol, on=["site_id", "parameter"], how="left").with_columns(
        (
            pl.col("valid")
            & ~(pl.col("_pollutant").fill_null(False) & (pl.col("operating") == False))  # noqa: E712
        ).alias("_counted")
    )
    g = day.group_by("site_id", "parameter").agg(
        pl.col("unit").drop_nulls().first(),
        pl.col("official_value").filter(pl.col("_counted")).mean().alias("_mean"),
        pl.col("_counted").sum().cast(pl.Int32).alias("valid_hours"),
        # hours with data and no shut-down (an hour without any data says nothing either way)
        (pl.col("operating").fill_null(False) & pl.col("obtained").is_not_null())
        .sum()
        .cast(pl.Int32)
        .alias("operating_hours"),
        pl.col("load_kg").sum().alias("_load"),
        pl.col("load_kg").is_not_null().sum().alias("_n_load"),
        # shut-down hours of a pollutant (excused in the day's count) and hours of valid data
        (pl.col("_pollutant").fill_null(False) & (pl.col("operating") == False))  # noqa: E712
        .sum()
        .cast(pl.Int32)
        .alias("_shut_down"),
        pl.col("valid").sum().cast(pl.Int32).alias("_data_valid"),
    )
    table = con.sql(_DAY_READINGS, params={"lo": lo, "hi": hi, "sites": sites}).to_arrow_table()
    logger = pl.from_arrow(table)
    assert isinstance(logger, pl.DataFrame)
    if logger.height == 0:
        logger = pl.DataFrame(
            schema={"site_id": pl.String, "parameter": pl.String, "logger_value": pl.Float64,
                    "logger_valid_value": pl.Float64}
        )  # fmt: skip
    df = g.join(logger, on=["site_id", "parameter"], how="left")
    need = excused_need(min_hours, pl.col("_shut_down"))
    enough = pl.col("valid_hours") >= need
    derived = pl.when(enough).then(pl.col("_mean"))
    from_logger = pl.col("logger_valid_value").is_not_null()
    official = pl.when(from_logger).then(pl.col("logger_valid_value")).otherwise(derived)
    return df.with_columns(
        pl.lit(lo).cast(pl.Datetime("us", "UTC")).alias("period_start"),
        derived.alias("derived_value"),
        official.alias("official_value"),
        pl.when(from_logger)
        .then(pl.lit("logger"))
        .when(pl.col("valid_hours") > 0)
        .then(pl.lit("derived"))
        .alias("obtained"),
        (from_logger | enough).alias("valid"),
        pl.when(~(from_logger | enough))
        .then(
            pl.format(
                "{}: {} valid hours < {} required",
                pl.col("parameter"),
                pl.col("valid_hours"),
                need,
            )
        )
        .alias("invalid_reason"),
        # the day's mass counts shut-down hours too (their mass is ~0): judged on data-valid hours
        pl.when((pl.col("_data_valid") >= min_hours) & (pl.col("_n_load") > 0))
        .then(pl.col("_load"))
        .alias("load_kg"),
    ).select([pl.col(c).cast(t) for c, t in schema.items()])
