"""The daily and the real-time air quality report: rows, 30-day chart and month calendar.

Everything is read from `aqi_daily` / `aqi_hourly` (0050) and the registry (`sites`); a page
for day D shows only data up to D, so it does not change when later days arrive.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from core import periods
from publish.vocabulary import (
    display_decimals,
    label,
    level_text,
    text_colour_on,
)
from transforms.standards.air_daily import DAILY_VALUE_COLUMNS
from transforms.standards.rounding import round_half_even

CHART_DAYS = 30
CHART_HOURS = 24

# aqi_daily's concentrations, so2_24h_ugm3 .. o3_8h_max_ugm3, as the standards name them
DAILY_CONCENTRATIONS = tuple(DAILY_VALUE_COLUMNS.values())
HOURLY_CONCENTRATIONS = (
    "so2_1h_ugm3",
    "no2_1h_ugm3",
    "pm10_1h_ugm3",
    "pm25_1h_ugm3",
    "co_1h_mgm3",
    "o3_1h_ugm3",
    "o3_8h_ugm3",
)
_AQI_COLUMNS = (
    "edition",
    "aqi",
    "level",
    "category",
    "category_en",
    "colour_hex",
    "primary_pollutants",
    "valid",
    "computed_at",
)


def format_value(value: float | None, column: str) -> str:
    """A concentration as published: rounded to its unit's decimals; '—' when absent."""
    if value is None:
        return "—"
    decimals = display_decimals(column.rsplit("_", 1)[-1])
    return f"{round_half_even(float(value), decimals):.{decimals}f}"


def _sites_sql(active_on: str) -> str:
    return f"""
        SELECT 'city' AS site_id, 'city' AS scope, NULL AS name_zh, NULL AS name_en, 0 AS ord
        UNION ALL
        SELECT site_id, 'station', name_zh, name_en, 1 FROM sites
        WHERE kind = 'air'
          AND (commissioned_on IS NULL OR commissioned_on <= {active_on})
          AND (decommissioned_on IS NULL OR decommissioned_on > {active_on})
    """


def _report_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    key_sql: str,
    active_on: str,
    params: dict,
    concentrations: tuple[str, ...],
) -> list[dict[str, Any]]:
    """One row per active air station plus the city (and any site the report table holds)."""
    cols = ", ".join(f"a.{c}" for c in (*_AQI_COLUMNS, *concentrations))
    sql = f"""
        WITH listed AS ({_sites_sql(active_on)}),
        reported AS (SELECT * FROM {table} WHERE {key_sql}),
        everyone AS (
            SELECT site_id, scope, name_zh, name_en, ord FROM listed
            UNION ALL
            SELECT r.site_id, r.scope, s.name_zh, s.name_en, CASE WHEN r.scope = 'city' THEN 0 ELSE 1 END
            FROM reported r LEFT JOIN sites s USING (site_id)
            WHERE r.site_id NOT IN (SELECT site_id FROM listed)
        )
        SELECT e.site_id, e.scope, e.name_zh, e.name_en, {cols}
        FROM everyone e LEFT JOIN reported a USING (site_id)
        ORDER BY e.ord, e.site_id
    """
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [_decorate(dict(zip(names, row, strict=True)), concentrations) for row in cur.fetchall()]


def _decorate(row: dict[str, Any], concentrations: tuple[str, ...]) -> dict[str, Any]:
    """Add display fields: names for the city, level texts, colours, formatted values."""
    if row["site_id"] == "city" and not row["name_zh"]:
        row["name_zh"], row["name_en"] = label("labels", "city")
    row["name_zh"] = row["name_zh"] or row["site_id"]
    row["name_en"] = row["name_en"] or row["site_id"]
    row["values"] = {c: format_value(row[c], c) for c in concentrations}
    row["primary_display"] = (row["primary_pollutants"] or "").replace(";", ", ") or "—"
    row["texts"] = None
    if row["aqi"] is not None and row["level"] is not None:
        texts = level_text(row["edition"], int(row["level"]))
        row["texts"] = texts
        row["colour_hex"] = row["colour_hex"] or texts.colour_hex
        row["text_colour"] = text_colour_on(row["colour_hex"])
        row["category"] = row["category"] or texts.category_zh
        row["category_en"] = row["category_en"] or texts.category_en
    return row


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour_hex: str
    text_colour: str
    value_text: str
    label: str
    title: str


def chart_bars(
    points: list[tuple[str, str, int | None, int | None, str | None, str | None]],
    width: float = 720.0,
    height: float = 220.0,
) -> dict[str, Any]:
    """Bars of an AQI series: (axis label, full label, aqi, level, colour, category) each.

    The value is printed above every bar and missing points are labelled '—', so the chart
    reads without colour.
    """
    top = max([p[2] for p in points if p[2] is not None] + [1])
    plot_h = height - 50  # room for the value above and the axis labels below
    step = width / max(len(points), 1)
    bars = []
    for i, (axis, full, aqi, _level, colour, category) in enumerate(points):
        h = 0.0 if aqi is None else max(plot_h * aqi / top, 1.0)
        colour = colour or "#D0D0D0"
        bars.append(
            Bar(
                x=round(i * step + step * 0.1, 2),
                y=round(20 + plot_h - h, 2),
                width=round(step * 0.8, 2),
                height=round(h, 2),
                colour_hex=colour,
                text_colour=text_colour_on(colour),
                value_text="—" if aqi is None else str(aqi),
                label=axis,
                title=f"{full}: " + ("—" if aqi is None else f"AQI {aqi} {category or ''}".strip()),
            )
        )
    return {"bars": bars, "width": width, "height": height, "baseline": 20 + plot_h, "step": step}


_NO_POINT = (None, None, None, None)


def _city_series(
    con: duckdb.DuckDBPyConnection, table: str, key: str, steps: list[tuple[Any, str, str]]
) -> list[tuple]:
    """The city's AQI points of a chart, for `chart_bars`: `steps` are (value of `table`'s column
    `key`, axis label, full label) in order; a step without a row is a missing point."""
    got = {
        r[0]: r[1:]
        for r in con.execute(
            f"""SELECT {key}, aqi, level, colour_hex, category FROM {table}
                WHERE site_id = 'city' AND {key} BETWEEN $first AND $last""",
            {"first": steps[0][0], "last": steps[-1][0]},
        ).fetchall()
    }
    return [(axis, full, *got.get(k, _NO_POINT)) for k, axis, full in steps]


def daily_series(con: duckdb.DuckDBPyConnection, day: date) -> list[tuple]:
    """The city's daily AQI of the CHART_DAYS days up to `day`."""
    first = day - timedelta(days=CHART_DAYS - 1)
    days = [first + timedelta(days=i) for i in range(CHART_DAYS)]
    return _city_series(
        con, "aqi_daily", "local_date", [(d, f"{d.day}", d.isoformat()) for d in days]
    )


def hourly_series(
    con: duckdb.DuckDBPyConnection, hour_start: datetime, tz: ZoneInfo
) -> list[tuple]:
    """The city's hourly AQI of the CHART_HOURS hours up to `hour_start`, labelled in local time."""
    first = hour_start - timedelta(hours=CHART_HOURS - 1)
    hours = [first + timedelta(hours=i) for i in range(CHART_HOURS)]
    local = [t.astimezone(tz) for t in hours]
    return _city_series(
        con, "aqi_hourly", "period_start",
        [(t, f"{lt:%H}", f"{lt:%Y-%m-%d %H:00}") for t, lt in zip(hours, local, strict=True)],
    )  # fmt: skip


def month_calendar(con: duckdb.DuckDBPyConnection, day: date, root: str) -> dict[str, Any]:
    """Weeks (Monday first) of the month of `day`, each cell the city's AQI up to `day`."""
    first = day.replace(day=1)
    got = {
        r[0]: r
        for r in con.execute(
            """SELECT local_date, aqi, level, colour_hex, category, category_en, edition
               FROM aqi_daily WHERE site_id = 'city' AND local_date BETWEEN $first AND $day""",
            {"first": first, "day": day},
        ).fetchall()
    }
    weeks = []
    for week in calendar.Calendar(firstweekday=0).monthdatescalendar(day.year, day.month):
        cells = []
        for d in week:
            if d.month != day.month:
                cells.append(None)
                continue
            r = got.get(d)
            cell: dict[str, Any] = {"date": d, "day": d.day, "current": d == day, "aqi": None}
            if r and r[1] is not None:
                colour = r[3] or level_text(r[6], int(r[2])).colour_hex
                cell.update(
                    aqi=r[1],
                    category=r[4],
                    category_en=r[5],
                    colour_hex=colour,
                    text_colour=text_colour_on(colour),
                    href=f"{root}daily/{d.isoformat()}.html",
                )
            cells.append(cell)
        weeks.append(cells)
    return {"year": day.year, "month": day.month, "weeks": weeks}


def daily_context(con: duckdb.DuckDBPyConnection, day: date, root: str) -> dict[str, Any]:
    rows = _report_rows(
        con, "aqi_daily", "local_date = $day", "$day", {"day": day}, DAILY_CONCENTRATIONS
    )
    computed = [r["computed_at"] for r in rows if r["computed_at"] is not None]
    editions = sorted({r["edition"] for r in rows if r["edition"]})
    return {
        "kind": "daily",
        "day": day,
        "root": root,
        "rows": rows,
        "concentrations": DAILY_CONCENTRATIONS,
        "computed_at": max(computed) if computed else None,
        "editions": editions,
        "chart": chart_bars(daily_series(con, day)),
        "calendar": month_calendar(con, day, root),
        "has_data": any(r["aqi"] is not None for r in rows),
    }


def latest_day(con: duckdb.DuckDBPyConnection) -> date | None:
    row = con.execute("SELECT max(local_date) FROM aqi_daily").fetchall()
    return row[0][0] if row else None


def hourly_context(
    con: duckdb.DuckDBPyConnection, hour_start: datetime, tz: ZoneInfo, root: str
) -> dict[str, Any]:
    local_day = periods.local_day(hour_start, tz)
    rows = _report_rows(
        con,
        "aqi_hourly",
        "period_start = $hour",
        "$day",
        {"hour": hour_start, "day": local_day},
        HOURLY_CONCENTRATIONS,
    )
    computed = [r["computed_at"] for r in rows if r["computed_at"] is not None]
    return {
        "kind": "hourly",
        "hour_local": hour_start.astimezone(tz),
        "root": root,
        "rows": rows,
        "concentrations": HOURLY_CONCENTRATIONS,
        "computed_at": max(computed) if computed else None,
        "editions": sorted({r["edition"] for r in rows if r["edition"]}),
        "chart": chart_bars(hourly_series(con, hour_start, tz)),
        "has_data": any(r["aqi"] is not None for r in rows),
    }


def latest_hour(con: duckdb.DuckDBPyConnection) -> datetime | None:
    row = con.execute("SELECT max(period_start) FROM aqi_hourly").fetchall()
    return row[0][0] if row else None
