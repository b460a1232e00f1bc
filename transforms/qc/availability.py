"""Completeness and data availability, and the enterprise data transmission efficiency.

`data_availability`: per site, parameter and reporting interval, for each local hour and
local day, the values expected (by the interval in `site_parameters`, within the site's
service period), received (distinct periods, any source) and valid (effective verdict pass or
suspect, after staff reviews, in `v_readings_qc`). Rebuilt for a date range on each call.

Data transmission efficiency (数据传输有效率) of an outlet for a month:
    transmission rate = received / expected, validity rate = valid / received,
    efficiency = transmission rate × validity rate (= valid / expected), required >= 90 %,
counted on the configured data level (hourly values by default), over all the outlet's
parameters reported at that level, and only over the elapsed part of the month: the hours (or
days, for a daily level) that ended by min(month end, now) — a month under way is judged on
what was due so far, not on the hours still to come.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from core import periods
from core.settings import Settings, get_settings
from transforms.qc.run import qc_config_for
from warehouse.db import connect, transaction

ANY_ZONE_MARGIN = timedelta(hours=15)  # beyond the farthest zone offset from UTC (UTC-12..+14)

_SITE_PARAMETERS = """
sp AS (
    SELECT sp.site_id, sp.parameter, sp.interval_s, s.timezone AS tz, s.commissioned_on, s.decommissioned_on
    FROM site_parameters sp JOIN sites s USING (site_id)
    WHERE sp.interval_s > 0 AND sp.interval_s <= 86400 AND ($site IS NULL OR sp.site_id = $site)
)"""

# Received and valid periods per local hour, counted per source kind and then added up: a period
# is unique within a source kind, so an hour with a single source kind is counted exactly (and
# without a group-by on every reading's period, most of this job's time at province scale).
# Hours with several source kinds (n_sources > 1) are counted again by _SHARED_HOURS.
_OBSERVED_HOURS = f"""
WITH {_SITE_PARAMETERS},
parts AS (
    SELECT v.site_id, v.parameter, v.interval_s, date_trunc('hour', timezone(sp.tz, v.period_start)) AS local_hour,
           v.source_kind, count(*) AS received, count(*) FILTER (WHERE v.valid) AS valid
    FROM v_readings_qc v JOIN sp USING (site_id, parameter, interval_s)
    WHERE v.period_start >= $utc0 AND v.period_start < $utc1
    GROUP BY ALL
)
SELECT site_id, parameter, interval_s, local_hour, sum(received) AS received, sum(valid) AS valid,
       count(*) AS n_sources
FROM parts GROUP BY site_id, parameter, interval_s, local_hour
"""

# The hours in `_shared_hours`: one row per received period (several sources of one period
# count once; valid when any source's value is).
_SHARED_HOURS = f"""
WITH {_SITE_PARAMETERS},
obs AS (
    SELECT v.site_id, v.parameter, v.interval_s,
           date_trunc('hour', timezone(sp.tz, v.period_start)) AS local_hour, bool_or(v.valid) AS valid
    FROM v_readings_qc v JOIN sp USING (site_id, parameter, interval_s)
    SEMI JOIN _shared_hours h
      ON h.site_id = v.site_id AND h.parameter = v.parameter AND h.interval_s = v.interval_s
     AND h.local_hour = date_trunc('hour', timezone(sp.tz, v.period_start))
    WHERE v.period_start >= $utc0 AND v.period_start < $utc1
    GROUP BY v.site_id, v.parameter, v.interval_s, v.period_start, local_hour
)
SELECT site_id, parameter, interval_s, local_hour, count(*) AS received, count(*) FILTER (WHERE valid) AS valid
FROM obs GROUP BY ALL
"""

# Every expected local hour and day, with the counts of `_observed_hours`.
_REBUILD = f"""
WITH {_SITE_PARAMETERS},
hours AS (  -- local hours of the range in service (commissioning date to decommissioning date)
    SELECT sp.*, h.local_hour
    FROM sp, LATERAL (SELECT unnest(generate_series(CAST($d0 AS TIMESTAMP), CAST($d1 AS TIMESTAMP) + INTERVAL 1 DAY - INTERVAL 1 HOUR,
                                                    INTERVAL 1 HOUR)) AS local_hour) h
    WHERE (sp.commissioned_on IS NULL OR CAST(h.local_hour AS DATE) >= sp.commissioned_on)
      AND (sp.decommissioned_on IS NULL OR CAST(h.local_hour AS DATE) < sp.decommissioned_on)
),
per_hour AS (
    SELECT h.site_id, h.parameter, h.interval_s, h.tz, h.local_hour,
           CAST(greatest(3600 // h.interval_s, 1) AS INTEGER) AS expected_h,
           coalesce(o.received, 0) AS received, coalesce(o.valid, 0) AS valid
    FROM hours h LEFT JOIN _observed_hours o USING (site_id, parameter, interval_s, local_hour)
)
SELECT site_id, parameter, interval_s, 'hour' AS period_kind, timezone(tz, local_hour) AS period_start,
       CAST(local_hour AS DATE) AS local_date, expected_h AS expected, received, valid
FROM per_hour WHERE interval_s <= 3600
UNION ALL
SELECT site_id, parameter, interval_s, 'day', timezone(tz, CAST(CAST(local_hour AS DATE) AS TIMESTAMP)),
       CAST(local_hour AS DATE),
       CAST(CASE WHEN interval_s <= 3600 THEN sum(expected_h) ELSE count(*) // 24 * (86400 // interval_s) END AS INTEGER),
       CAST(sum(received) AS INTEGER), CAST(sum(valid) AS INTEGER)
FROM per_hour GROUP BY site_id, parameter, interval_s, tz, CAST(local_hour AS DATE)
"""


def rebuild_availability(
    con: duckdb.DuckDBPyConnection, d0: date, d1: date, site_id: str | None = None
) -> int:
    """Replace the rows of local dates d0..d1 (inclusive); returns the rows written."""
    # the dates d0..d1 in UTC, widened for any site zone (UTC-12..+14); rows are then cut by
    # local hour
    utc0, utc1 = periods.local_days_range(d0, d1, UTC)
    utc0, utc1 = utc0 - ANY_ZONE_MARGIN, utc1 + ANY_ZONE_MARGIN
    observed = _observed_hours(con, utc0, utc1, site_id)
    params = {"d0": d0, "d1": d1, "site": site_id, "now": datetime.now(UTC)}
    con.register("_observed_hours", observed)
    try:
        return _replace_rows(con, d0, d1, site_id, params)
    finally:
        con.unregister("_observed_hours")


def _observed_hours(
    con: duckdb.DuckDBPyConnection, utc0: datetime, utc1: datetime, site_id: str | None
) -> pa.Table:
    params = {"utc0": utc0, "utc1": utc1, "site": site_id}
    hours = con.sql(_OBSERVED_HOURS, params=params).to_arrow_table()
    shared = hours.filter(pc.greater(hours["n_sources"], 1))
    hours = hours.filter(pc.equal(hours["n_sources"], 1)).drop_columns("n_sources")
    if shared.num_rows:
        con.register("_shared_hours", shared.drop_columns(["received", "valid", "n_sources"]))
        try:
            recount = con.sql(_SHARED_HOURS, params=params).to_arrow_table()
        finally:
            con.unregister("_shared_hours")
        hours = pa.concat_tables([hours, recount.select(hours.column_names).cast(hours.schema)])
    return hours


def _replace_rows(
    con: duckdb.DuckDBPyConnection,
    d0: date,
    d1: date,
    site_id: str | None,
    params: dict[str, object],
) -> int:
    with transaction(con):
        con.execute(
            "DELETE FROM data_availability WHERE local_date BETWEEN $d0 AND $d1 AND ($site IS NULL OR site_id = $site)",
            {"d0": d0, "d1": d1, "site": site_id},
        )
        con.execute(
            f"""INSERT INTO data_availability
                SELECT site_id, parameter, interval_s, period_kind, period_start, local_date, expected, received, valid, $now
                FROM ({_REBUILD}) WHERE local_date BETWEEN $d0 AND $d1""",
            params,
        )
        row = con.execute(
            "SELECT count(*) FROM data_availability WHERE local_date BETWEEN $d0 AND $d1 AND ($site IS NULL OR site_id = $site)",
            {"d0": d0, "d1": d1, "site": site_id},
        ).fetchall()
    return int(row[0][0]) if row else 0


def compute_availability(settings: Settings | None, start: date, end: date) -> int:
    """Rebuild data_availability for local dates start..end (inclusive)."""
    settings = settings or get_settings()
    with connect(settings, purpose="envmon qc availability") as con:
        return rebuild_availability(con, start, end)


@dataclass(frozen=True)
class Efficiency:
    site_id: str
    month: date
    expected: int
    received: int
    valid: int
    transmission_rate: float | None
    validity_rate: float | None
    efficiency: float | None
    meets_requirement: bool | None


# Per outlet, the availability rows of the month's elapsed part: hour rows (a level of an hour or
# less) or day rows (a daily level) whose period ended by $cutoff, so that a complete month sums
# to its day rows and a month under way counts only what was due so far.
_EFFICIENCY = """
SELECT a.site_id, sum(a.expected), sum(a.received), sum(a.valid)
FROM data_availability a JOIN outlets o USING (site_id) JOIN sites s USING (site_id)
WHERE a.interval_s = $iv AND a.local_date BETWEEN $first AND $last
  AND a.period_kind = CASE WHEN $iv <= 3600 THEN 'hour' ELSE 'day' END
  AND CASE WHEN a.period_kind = 'hour' THEN a.period_start + INTERVAL 1 HOUR
           ELSE timezone(s.timezone, CAST(a.local_date + 1 AS TIMESTAMP)) END <= $cutoff
GROUP BY a.site_id ORDER BY a.site_id
"""


def transmission_efficiency(
    con: duckdb.DuckDBPyConnection,
    month: date,
    interval_s: int,
    required: float,
    *,
    now: datetime,
    tz: periods.Zone,
) -> list[Efficiency]:
    """Per outlet for the local month (in `tz`) containing `month`, counting what was due up to
    min(month end, `now`); rebuilds that month's availability."""
    first = month.replace(day=1)
    last = periods.next_month(first) - periods.DAY
    lo, hi = periods.period_range(first, "month", tz)
    cutoff = periods.elapsed_end(lo, hi, now)
    rebuild_availability(con, first, last)
    rows = con.execute(
        _EFFICIENCY, {"iv": interval_s, "first": first, "last": last, "cutoff": cutoff}
    ).fetchall()
    out = []
    for site_id, expected, received, valid in rows:
        t_rate = received / expected if expected else None
        v_rate = valid / received if received else (0.0 if expected else None)
        eff = t_rate * v_rate if t_rate is not None and v_rate is not None else None
        out.append(
            Efficiency(
                site_id,
                first,
                int(expected),
                int(received),
                int(valid),
                t_rate,
                v_rate,
                eff,
                None if eff is None else eff >= required - 1e-12,
            )
        )
    return out


def compute_transmission_efficiency(
    settings: Settings | None, month: date, now: datetime | None = None
) -> list[Efficiency]:
    """Compute and store the month's data transmission efficiency of every outlet, over the
    part of the month elapsed at `now` (None: the clock)."""
    settings = settings or get_settings()
    now = periods.utc(now, "now") if now is not None else datetime.now(UTC)
    with connect(settings, purpose="envmon qc efficiency") as con:
        te = qc_config_for(con, settings).file.transmission_efficiency
        results = transmission_efficiency(
            con, month, te.interval_s, te.required, now=now, tz=settings.timezone
        )
        with transaction(con):
            con.execute(
                "DELETE FROM transmission_efficiency WHERE month = $m", {"m": month.replace(day=1)}
            )
            con.executemany(
                "INSERT INTO transmission_efficiency VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        e.site_id,
                        e.month,
                        te.interval_s,
                        e.expected,
                        e.received,
                        e.valid,
                        e.transmission_rate,
                        e.validity_rate,
                        e.efficiency,
                        te.required,
                        e.meets_requirement,
                        now,
                    )
                    for e in results
                ],
            )
        return results
