"""The five monthly disclosure tables, read from the warehouse.

Each table is a key, its column keys (vocabulary.json) and rows of published values (rounded
for publication, None where there is nothing). Months are local calendar months.

What the public reads, only: sites, grids and enterprises by their names (Chinese first, English
beside; an enterprise also by its unified social credit code), states and yes/no as bilingual
labels, no internal id, status or "nan" (`public_cell`). In the files of a month to date every
table carries the notice of `provisional_notice` as its first column (`with_notice`).

Tables 4 and 5 rely only on the 0001 columns of the alerts stage:
- alerts: site_id, parameter, first_period, last_period, max_value, limit_value (an alert with
  limit_value > 0 and max_value > limit_value at an outlet is an exceedance; its hours are
  the hour starts first_period..last_period clipped to the month);
- cases: site_id, grid_id, state, opened_at, closed_at, deadline;
- case_events: case_id, event_at, to_state (the state at the month's end is the to_state of
  the last event before it; a case without events falls back to cases.state).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from alerts.cases import open_at_sql, overdue_at_sql
from core.periods import local_midnight, local_text, next_month
from core.registry.models import ENROLLED_ID_PREFIX
from publish.vocabulary import display_decimals, label, primary_texts, vocabulary
from transforms.standards.rounding import round_half_even

COMPOSITE_INDEX_DECIMALS = 2  # presentation: indices to two decimals
SHARE_DECIMALS = 1  # percentages to one decimal
MULTIPLE_DECIMALS = 2


# a table with more columns than this does not fit a 1280 px desktop: its page shows it as
# cards up to 100rem (publish/templates/style.css `table.stack.wide`)
WIDE_TABLE_COLUMNS = 12


@dataclass(frozen=True)
class DisclosureTable:
    key: str  # air | water | noise | enterprises | cases
    number: int
    columns: tuple[str, ...]
    rows: list[list[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        for row in self.rows:
            row[:] = [public_cell(v) for v in row]

    def with_notice(self, notice: str) -> DisclosureTable:
        """The table with `notice` as its first column (`data_status`) on every row; an empty
        table gets one row holding only the notice, so that no file of it lacks the notice."""
        rows = [[notice, *r] for r in self.rows] or [[notice] + [None] * len(self.columns)]
        return DisclosureTable(self.key, self.number, ("data_status", *self.columns), rows)

    @property
    def title(self) -> tuple[str, str]:
        return label("tables", self.key)

    @property
    def file_stem(self) -> str:
        return f"table{self.number}_{self.key}"


def month_bounds(month: date, tz: ZoneInfo) -> tuple[date, date, datetime, datetime]:
    """First day, first day of the next month, and both as local midnights (in `tz`)."""
    first = month.replace(day=1)
    nxt = next_month(first)
    return (
        first,
        nxt,
        local_midnight(first, tz).astimezone(tz),
        local_midnight(nxt, tz).astimezone(tz),
    )


def public_cell(value: Any) -> Any:
    """A value as the public reads it: a NaN (no value) is None, shown as an empty cell / —."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def provisional_notice(data_to: datetime, tz: ZoneInfo) -> tuple[str, str]:
    """('临时数据（截至 <local time>）', 'Provisional, data to <local time>'): a month to date."""
    when = local_text(data_to, tz)
    zh, en = label("labels", "provisional")
    return zh.format(time=when), en.format(time=when)


def _round(value: float | None, decimals: int) -> float | None:
    return None if value is None else round(float(value), decimals)


def _conc(value: float | None, column: str) -> float | int | None:
    decimals = display_decimals(column.rsplit("_", 1)[-1])
    if value is None:
        return None
    rounded = round_half_even(float(value), decimals)  # GB/T 8170, on the decimal value
    return int(rounded) if decimals == 0 else rounded


def _pct(share: float | None) -> float | None:
    return None if share is None else round(100.0 * share, SHARE_DECIMALS)


def _pollutants(stored: str | None) -> str | None:
    """Main pollutants as stored ('pm25;o3', 'PM2.5') as people read them ('PM₂.₅、O₃ PM₂.₅, O₃')."""
    texts = primary_texts(stored)
    if texts is None:
        return None
    zh, en = texts
    return zh if zh == en else f"{zh} {en}"


def _both(group: str, key: str) -> str:
    zh, en = label(group, key)
    return f"{zh} {en}"


def _fetch(con: duckdb.DuckDBPyConnection, sql: str, params: dict) -> list[dict[str, Any]]:
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _parameter_names(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str]]:
    return {
        p: (zh, en)
        for p, zh, en in con.execute(
            "SELECT parameter, name_zh, name_en FROM parameters"
        ).fetchall()
    }


def _parameter_label(names: dict[str, tuple[str, str]], parameter: str) -> str:
    zh, en = names.get(parameter, (parameter, parameter))
    return f"{zh} {en}"


# ---------------------------------------------------------------- 1 ambient air
AIR_COLUMNS = (
    "name_zh", "name_en", "aqi_days", "good_days", "good_share",
    "days_level_1", "days_level_2", "days_level_3", "days_level_4", "days_level_5", "days_level_6",
    "so2_mean_ugm3", "no2_mean_ugm3", "pm10_mean_ugm3", "pm25_mean_ugm3", "co_p95_mgm3",
    "o3_8h_p90_ugm3", "composite_index", "main_pollutant", "rank",
)  # fmt: skip


def air_table(con: duckdb.DuckDBPyConnection, month: date, tz: ZoneInfo) -> DisclosureTable:
    first, nxt, _, _ = month_bounds(month, tz)
    stats = _fetch(
        con,
        """
        WITH listed AS (
            SELECT site_id, name_zh, name_en FROM sites
            WHERE kind = 'air' AND (commissioned_on IS NULL OR commissioned_on < $next)
              AND (decommissioned_on IS NULL OR decommissioned_on > $first)
        ),
        stats AS (SELECT * FROM air_period_stats WHERE period = 'month' AND period_start = $first)
        SELECT coalesce(st.site_id, l.site_id) AS site_id, l.name_zh, l.name_en,
               coalesce(st.scope, 'station') AS scope, st.* EXCLUDE (site_id, scope)
        FROM stats st FULL JOIN listed l USING (site_id)
        ORDER BY (coalesce(st.scope, 'station') = 'city') DESC, st.rank NULLS LAST, 1
        """,
        {"first": first, "next": nxt},
    )
    rows = []
    for s in stats:
        if s["scope"] == "city" and not s["name_zh"]:
            s["name_zh"], s["name_en"] = label("labels", "city")
        s["name_zh"], s["name_en"] = s["name_zh"] or s["site_id"], s["name_en"] or s["site_id"]
        row = []
        for col in AIR_COLUMNS:
            v = s.get(col)
            if col == "good_share":
                v = _pct(v)
            elif col.endswith(("_ugm3", "_mgm3")):
                v = _conc(v, col)
            elif col == "composite_index":
                v = _round(v, COMPOSITE_INDEX_DECIMALS)
            elif col == "main_pollutant":
                v = _pollutants(v)
            row.append(v)
        rows.append(row)
    return DisclosureTable("air", 1, AIR_COLUMNS, rows)


# ---------------------------------------------------------------- 2 surface water
WATER_COLUMNS = (
    "name_zh", "name_en", "waterbody", "water_class", "target_class", "compliant",
    "limiting_parameters", "exceedance_multiples", "not_detected",
)  # fmt: skip


def _multiples(names: dict[str, tuple[str, str]], text: str | None) -> str | None:
    """'nh3n=0.45;tp=1.20' -> '氨氮 Ammonia nitrogen 0.45; 总磷 Total phosphorus 1.20'."""
    if not text:
        return None
    parts = []
    for item in text.split(";"):
        parameter, _, multiple = item.partition("=")
        parts.append(f"{_parameter_label(names, parameter.strip())} {multiple.strip()}".strip())
    return "; ".join(parts)


def _not_detected(
    names: dict[str, tuple[str, str]], units: dict[str, str], text: str | None
) -> str | None:
    """'tp=0.01' (every valid result below the detection limit 0.01) ->
    '总磷 Total phosphorus 未检出 not detected (<0.01 mg/L)' instead of a value."""
    if not text:
        return None
    nd = _both("labels", "not_detected")
    parts = []
    for item in text.split(";"):
        parameter, _, limit = (x.strip() for x in item.partition("="))
        unit = f" {units[parameter]}" if units.get(parameter) else ""
        parts.append(f"{_parameter_label(names, parameter)} {nd} (<{limit}{unit})")
    return "; ".join(parts)


def water_table(con: duckdb.DuckDBPyConnection, month: date, tz: ZoneInfo) -> DisclosureTable:
    """Per section: the month's class, target and limiting parameters; a parameter whose every
    valid result was below the detection limit shows as 未检出 (<limit) (not_detected_limits)."""
    first, _, _, _ = month_bounds(month, tz)
    names = _parameter_names(con)
    units = dict(con.execute("SELECT parameter, unit FROM parameters").fetchall())
    found = _fetch(
        con,
        """SELECT w.*, s.name_zh, s.name_en FROM water_class w LEFT JOIN sites s USING (site_id)
           WHERE w.period = 'month' AND w.period_start = $first ORDER BY w.site_id""",
        {"first": first},
    )
    rows = []
    for w in found:
        limiting = "; ".join(
            _parameter_label(names, p) for p in (w["limiting_parameters"] or "").split(";") if p
        )
        rows.append([
            w["name_zh"] or w["site_id"], w["name_en"] or w["site_id"],
            _both("waterbody", w["waterbody"]) if w["waterbody"] in vocabulary()["waterbody"] else w["waterbody"],
            w["water_class"], w["target_class"],
            None if w["compliant"] is None else _both("yes_no", str(bool(w["compliant"])).lower()),
            limiting or None, _multiples(names, w["exceedance_multiples"]),
            _not_detected(names, units, w["not_detected_limits"]),
        ])  # fmt: skip
    return DisclosureTable("water", 2, WATER_COLUMNS, rows)


# ---------------------------------------------------------------- 3 noise
NOISE_COLUMNS = (
    "noise_points", "standard", "zone", "n_sites", "day_measured", "day_compliant",
    "day_compliance_rate", "night_measured", "night_compliant", "night_compliance_rate",
)  # fmt: skip


def noise_table(con: duckdb.DuckDBPyConnection, month: date, tz: ZoneInfo) -> DisclosureTable:
    """Compliance rate = site-days whose Ld (Ln) is within the limit / site-days with a valid Ld
    (Ln) — a day without a valid level counts in neither; the night is dated by the evening it
    starts (noise_daily). Functional-zone points (GB 3096) by standard and zone first, then each
    enterprise's boundary points (GB 12348) as their own rows, by the enterprise's (English) name."""
    first, nxt, _, _ = month_bounds(month, tz)
    found = con.execute(
        """
        SELECT n.enterprise_id, e.name_zh, e.name_en, n.standard, n.zone,
               count(DISTINCT n.site_id),
               count(*) FILTER (WHERE n.ld_dba IS NOT NULL AND n.day_exceeds IS NOT NULL),
               count(*) FILTER (WHERE n.ld_dba IS NOT NULL AND NOT n.day_exceeds),
               count(*) FILTER (WHERE n.ln_dba IS NOT NULL AND n.night_exceeds IS NOT NULL),
               count(*) FILTER (WHERE n.ln_dba IS NOT NULL AND NOT n.night_exceeds)
        FROM noise_daily n LEFT JOIN enterprises e USING (enterprise_id)
        WHERE n.local_date >= $first AND n.local_date < $next
        GROUP BY n.enterprise_id, e.name_zh, e.name_en, n.standard, n.zone
        ORDER BY n.enterprise_id IS NOT NULL, e.name_en NULLS FIRST, n.enterprise_id, n.standard, n.zone
        """,
        {"first": first, "next": nxt},
    ).fetchall()
    zone_zh, zone_en = label("labels", "zone")
    ambient = _both("labels", "noise_zone_points")
    boundary_zh, boundary_en = label("labels", "noise_boundary_points")
    rows = []
    for ent, ent_zh, ent_en, standard, zone, n_sites, d_n, d_ok, n_n, n_ok in found:
        boundary = f"{ent_zh or ent}{boundary_zh} {ent_en or ent} {boundary_en}"
        points = ambient if ent is None else boundary
        rows.append([
            points, standard, f"{zone}{zone_zh} {zone_en} {zone}", n_sites,
            d_n, d_ok, _pct(d_ok / d_n) if d_n else None,
            n_n, n_ok, _pct(n_ok / n_n) if n_n else None,
        ])  # fmt: skip
    return DisclosureTable("noise", 3, NOISE_COLUMNS, rows)


# ---------------------------------------------------------------- 4 enterprises
ENTERPRISE_COLUMNS = (
    "enterprise_name_zh", "enterprise_name_en", "credit_code", "outlet_name_zh",
    "outlet_name_en", "parameter", "exceedance_hours", "max_limit_multiple", "efficiency",
    "meets_requirement", "cases_opened", "cases_closed", "rectification_status",
)  # fmt: skip

_CASE_STATE_AT_END = """
    case_state AS (  -- each case alive during the month, with its state at the month's end
        SELECT c.case_id, c.site_id, c.grid_id,
               coalesce(
                   (SELECT arg_max(e.to_state, (e.event_at, e.seq)) FROM case_events e
                    WHERE e.case_id = c.case_id AND e.to_state IS NOT NULL AND e.event_at < $end),
                   CASE WHEN NOT EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.case_id)
                        THEN c.state END,
                   'open') AS state_at_end
        FROM cases c
        WHERE c.opened_at < $end AND (c.closed_at IS NULL OR c.closed_at >= $start)
    )
"""


def enterprise_table(con: duckdb.DuckDBPyConnection, month: date, tz: ZoneInfo) -> DisclosureTable:
    first, _, start, end = month_bounds(month, tz)
    names = _parameter_names(con)
    outlets = _fetch(
        con,
        """SELECT o.site_id, o.enterprise_id, o.logger_mn, e.name_zh AS ent_zh, e.name_en AS ent_en,
                  e.credit_code, s.name_zh, s.name_en, t.efficiency, t.meets_requirement
           FROM outlets o
           LEFT JOIN enterprises e USING (enterprise_id)
           LEFT JOIN sites s USING (site_id)
           LEFT JOIN transmission_efficiency t ON t.site_id = o.site_id AND t.month = $first
           ORDER BY e.name_en, o.enterprise_id, o.site_id""",
        {"first": first},
    )
    exceedances: dict[str, list[tuple]] = {}
    for site_id, parameter, hours, multiple in con.execute(
        """
        WITH exceed AS (
            SELECT a.site_id, coalesce(a.parameter, '') AS parameter,
                   date_trunc('hour', greatest(a.first_period, $start)) AS f,
                   least(a.last_period, $end - INTERVAL 1 HOUR) AS l,
                   a.max_value / a.limit_value AS multiple
            FROM alerts a JOIN outlets o USING (site_id)
            WHERE a.limit_value > 0 AND a.max_value > a.limit_value
              AND a.first_period < $end AND a.last_period >= $start
        ),
        hours AS (
            SELECT site_id, parameter, unnest(generate_series(f, l, INTERVAL 1 HOUR)) AS h
            FROM exceed WHERE f <= l
        )
        SELECT x.site_id, x.parameter, (SELECT count(DISTINCT h.h) FROM hours h
                WHERE h.site_id = x.site_id AND h.parameter = x.parameter), max(x.multiple)
        FROM exceed x GROUP BY ALL ORDER BY 1, 2
        """,
        {"start": start, "end": end},
    ).fetchall():
        exceedances.setdefault(site_id, []).append((parameter, hours, multiple))
    cases = {
        site_id: (opened, closed)
        for site_id, opened, closed in con.execute(
            """SELECT site_id,
                      count(*) FILTER (WHERE opened_at >= $start AND opened_at < $end),
                      count(*) FILTER (WHERE closed_at >= $start AND closed_at < $end)
               FROM cases GROUP BY site_id""",
            {"start": start, "end": end},
        ).fetchall()
    }
    states: dict[str, dict[str, int]] = {}
    for site_id, state, n in con.execute(
        f"WITH {_CASE_STATE_AT_END} SELECT site_id, state_at_end, count(*) FROM case_state GROUP BY ALL",
        {"start": start, "end": end},
    ).fetchall():
        states.setdefault(site_id, {})[state] = n
    rows = []
    for o in outlets:
        opened, closed = cases.get(o["site_id"], (0, 0))
        meets = o["meets_requirement"]
        common = [
            _pct(o["efficiency"]),
            None if meets is None else _both("yes_no", str(bool(meets)).lower()),
            opened, closed, _case_status(states.get(o["site_id"], {})),
        ]  # fmt: skip
        head = _enterprise_head(o)
        found = exceedances.get(o["site_id"])
        if not found:
            rows.append([*head, None, 0, None, *common])
        for parameter, hours, multiple in found or ():
            rows.append([
                *head, _parameter_label(names, parameter) if parameter else None, hours,
                _round(multiple, MULTIPLE_DECIMALS), *common,
            ])  # fmt: skip
    return DisclosureTable("enterprises", 4, ENTERPRISE_COLUMNS, rows)


# `envmon registry enrol` writes a logger seen in traffic as an enterprise `ENROLLED_ID_PREFIX<mn>`
# with placeholder names (待核实企业 <MN>) for staff to correct: until they do, the public reads
# the outlet by its data logger, never the placeholder.


def _enterprise_head(o: dict[str, Any]) -> list[Any]:
    """Enterprise name (zh, en), credit code, outlet name (zh, en) of an outlet row."""
    if o["enterprise_id"].startswith(ENROLLED_ID_PREFIX) and o["credit_code"] is None:
        mn = o["logger_mn"] or ""
        ent_zh, ent_en = label("labels", "unregistered_enterprise")
        out_zh, out_en = label("labels", "logger_outlet")
        return [ent_zh, ent_en, None, out_zh.format(mn=mn), out_en.format(mn=mn)]
    return [
        o["ent_zh"] or o["enterprise_id"], o["ent_en"] or o["enterprise_id"], o["credit_code"],
        o["name_zh"] or o["site_id"], o["name_en"] or o["site_id"],
    ]  # fmt: skip


def _case_status(counts: dict[str, int]) -> str:
    if not counts:
        return _both("labels", "none")
    order = list(vocabulary()["case_states"])
    parts = []
    for state in sorted(counts, key=lambda s: (order.index(s) if s in order else len(order), s)):
        text = _both("case_states", state) if state in order else state.replace("_", " ")
        parts.append(f"{text} ×{counts[state]}")
    return "; ".join(parts)


# ---------------------------------------------------------------- 5 cases by grid
CASE_COLUMNS = (
    "name_zh", "name_en", "cases_opened", "cases_closed", "cases_overdue",
    "cases_open_at_end",
)  # fmt: skip


def case_table(con: duckdb.DuckDBPyConnection, month: date, tz: ZoneInfo) -> DisclosureTable:
    """Per grid: cases opened and closed in the month; at the month's end, cases still open
    and those of them past their deadline (overdue)."""
    _, _, start, end = month_bounds(month, tz)
    found = con.execute(
        f"""
        WITH counted AS (
            SELECT grid_id,
                   count(*) FILTER (WHERE opened_at >= $start AND opened_at < $end) AS opened,
                   count(*) FILTER (WHERE closed_at >= $start AND closed_at < $end) AS closed,
                   count(*) FILTER (WHERE {overdue_at_sql("$end")}) AS overdue,
                   count(*) FILTER (WHERE {open_at_sql("$end")}) AS still_open
            FROM cases c GROUP BY grid_id
        )
        SELECT c.grid_id, g.name_zh, g.name_en, c.opened, c.closed, c.overdue, c.still_open
        FROM counted c LEFT JOIN grids g USING (grid_id)
        WHERE c.opened + c.closed + c.still_open > 0
        ORDER BY c.grid_id
        """,
        {"start": start, "end": end},
    ).fetchall()
    unknown_zh, unknown_en = label("labels", "unregistered_grid")
    rows = [[zh or unknown_zh, en or unknown_en, *counts] for _, zh, en, *counts in found]
    total_zh, total_en = label("labels", "total")
    rows.append([total_zh, total_en, *(sum(r[i] for r in rows) for i in range(2, 6))])
    return DisclosureTable("cases", 5, CASE_COLUMNS, rows)


def disclosure_tables(
    con: duckdb.DuckDBPyConnection, month: date, tz: ZoneInfo
) -> list[DisclosureTable]:
    return [
        air_table(con, month, tz),
        water_table(con, month, tz),
        noise_table(con, month, tz),
        enterprise_table(con, month, tz),
        case_table(con, month, tz),
    ]
