"""The daily, real-time and station reports: rows, charts, the month calendar, map points and
the archive's list.

Everything is read from `aqi_daily` / `aqi_hourly` (0050) and the registry (`sites`); a page
for day D shows only data up to D, so it does not change when later days arrive. What a row
shows is what the row holds: the AQI, validity and missing-data rule were applied when the AQI
was derived (transforms/standards), nothing is recomputed here.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

from core import periods
from publish.citymap import MapPoint, city_map_svg
from publish.vocabulary import (
    display_decimals,
    indicator_label,
    label,
    level_text,
    levels_of,
    missing_rule_text,
    primary_texts,
    reason_texts,
    text_colour_on,
)
from transforms.standards.air_daily import DAILY_VALUE_COLUMNS
from transforms.standards.rounding import round_half_even

CHART_DAYS = 30
CHART_HOURS = 24
# the real-time page says its data may be out of date once its hour started this long ago
STALE_AFTER = timedelta(hours=2)
HOUR = timedelta(hours=1)

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
IAQI_INDICATORS = ("so2", "no2", "pm10", "pm25", "co", "o3_1h", "o3_8h")
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
    *(f"iaqi_{i}" for i in IAQI_INDICATORS),
)
# the column that says why a report lacks an indicator
_REASON_COLUMN = {"aqi_daily": "invalid_reasons", "aqi_hourly": "missing_indicators"}
_REPORT = {"aqi_daily": "daily", "aqi_hourly": "hourly"}


def format_value(value: float | None, column: str) -> str:
    """A concentration as published: rounded to its unit's decimals; '—' when absent."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    decimals = display_decimals(column.rsplit("_", 1)[-1])
    return f"{round_half_even(float(value), decimals):.{decimals}f}"


def when_text(ts: datetime | None, tz: ZoneInfo) -> str | None:
    """An instant as people read it: local date and time with the zone's offset, e.g.
    '2016-12-01 08:00 (UTC+08:00)'."""
    iso = periods.local_text(ts, tz)
    if iso is None:
        return None
    local = datetime.fromisoformat(iso)
    return f"{local:%Y-%m-%d %H:%M} ({offset_text(local)})"


def offset_text(local: datetime) -> str:
    """The UTC offset of a local time as people read it: 'UTC+08:00'."""
    offset = local.strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}"


def station_href(root: str, site_id: str) -> str:
    return f"{root}station/{site_id}.html"


def _sites_sql(active_on: str) -> str:
    return f"""
        SELECT 'city' AS site_id, 'city' AS scope, NULL AS name_zh, NULL AS name_en,
               NULL::DOUBLE AS latitude, NULL::DOUBLE AS longitude, 0 AS ord
        UNION ALL
        SELECT site_id, 'station', name_zh, name_en, latitude, longitude, 1 FROM sites
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
    root: str,
) -> list[dict[str, Any]]:
    """One row per active air station plus the city (and any site the report table holds)."""
    cols = ", ".join(f"a.{c}" for c in (*_AQI_COLUMNS, *concentrations))
    sql = f"""
        WITH listed AS ({_sites_sql(active_on)}),
        reported AS (SELECT * FROM {table} WHERE {key_sql}),
        everyone AS (
            SELECT site_id, scope, name_zh, name_en, latitude, longitude, ord FROM listed
            UNION ALL
            SELECT r.site_id, r.scope, s.name_zh, s.name_en, s.latitude, s.longitude,
                   CASE WHEN r.scope = 'city' THEN 0 ELSE 1 END
            FROM reported r LEFT JOIN sites s USING (site_id)
            WHERE r.site_id NOT IN (SELECT site_id FROM listed)
        )
        SELECT e.site_id, e.scope, e.name_zh, e.name_en, e.latitude, e.longitude, {cols},
               a.{_REASON_COLUMN[table]} AS reasons
        FROM everyone e LEFT JOIN reported a USING (site_id)
        ORDER BY e.ord, e.site_id
    """
    cur = con.execute(sql, params)
    names = [d[0] for d in cur.description]
    return [
        decorate(dict(zip(names, row, strict=True)), concentrations, _REPORT[table], root)
        for row in cur.fetchall()
    ]


def decorate(
    row: dict[str, Any], concentrations: tuple[str, ...], report: str, root: str
) -> dict[str, Any]:
    """Add display fields: names, the row's state (ok / partial / insufficient / absent) with
    its reasons and the IAQIs it holds, level texts, colours, formatted values."""
    if row.get("site_id") == "city" and not row.get("name_zh"):
        row["name_zh"], row["name_en"] = label("labels", "city")
    if "site_id" in row:
        row["name_zh"] = row.get("name_zh") or row["site_id"]
        row["name_en"] = row.get("name_en") or row["site_id"]
        row["href"] = station_href(root, row["site_id"])
    row["values"] = {c: format_value(row.get(c), c) for c in concentrations}
    primary = primary_texts(row.get("primary_pollutants"))
    row["primary"] = primary
    row["texts"] = None
    row["reasons"] = reason_texts(row.get("reasons")) if row.get("edition") else []
    row["iaqis"] = [
        (*indicator_label(i), row[f"iaqi_{i}"])
        for i in IAQI_INDICATORS
        if row.get(f"iaqi_{i}") is not None
    ]
    row["rule"] = None
    if row.get("edition") is None:
        row["state"] = "absent"
    elif row["aqi"] is None:
        row["state"] = "insufficient"
        row["rule"] = missing_rule_text(row["edition"], report, aqi_shown=False)
    elif row.get("valid") is False:
        row["state"] = "partial"
        row["rule"] = missing_rule_text(row["edition"], report, aqi_shown=True)
    else:
        row["state"] = "ok"
    row["state_text"] = label("states", row["state"]) if row["state"] != "ok" else None
    if row["aqi"] is not None and row["level"] is not None:
        texts = level_text(row["edition"], int(row["level"]))
        row["texts"] = texts
        row["colour_hex"] = row["colour_hex"] or texts.colour_hex
        row["text_colour"] = text_colour_on(row["colour_hex"])
        row["category"] = row["category"] or texts.category_zh
        row["category_en"] = row["category_en"] or texts.category_en
    return row


# ---------------------------------------------------------------- charts
@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour_hex: str
    text_colour: str
    value_text: str
    label: str  # the axis label ('' where the axis shows none)
    title: str


@dataclass(frozen=True)
class Band:
    y: float
    height: float
    colour_hex: str
    label_zh: str
    label_y: float


CHART_WIDTH = 360.0  # SVG units: about one CSS pixel each on a 390 px phone
CHART_HEIGHT = 240.0
_LEFT, _RIGHT, _TOP, _BOTTOM = 30.0, 46.0, 30.0, 22.0


def chart_bars(
    points: list[tuple[str, str, int | None, int | None, str | None, str | None]],
    edition: str = "HJ633-2012",
    label_every: int = 5,
    width: float = CHART_WIDTH,
    height: float = CHART_HEIGHT,
) -> dict[str, Any]:
    """An AQI bar chart: (axis label, full label, aqi, level, colour, category) per point.

    The y axis runs from 0 to the first level boundary at or above the highest AQI (at least
    the top of level II), with a tick and a tinted band per level of `edition`, its category
    written beside the band. Every bar has its value printed above it ('—' when missing), so
    the chart reads without colour; every `label_every`-th axis label is shown, counted from
    the last point.
    """
    levels = levels_of(edition)
    highest = max([p[2] for p in points if p[2] is not None] + [1])
    bounds = [lv.aqi_to for lv in levels if lv.aqi_to is not None]
    top = next((b for b in bounds if b >= max(highest, bounds[1])), None)
    if top is None:
        top = int(math.ceil(highest / 100.0) * 100)
    plot_w = width - _LEFT - _RIGHT
    plot_h = height - _TOP - _BOTTOM
    baseline = _TOP + plot_h

    def y_of(aqi: float) -> float:
        return round(baseline - plot_h * min(aqi, top) / top, 2)

    bands, ticks = [], [(baseline, "0")]
    for lv in levels:
        lo = lv.aqi_from - 1 if lv.aqi_from else 0
        if lo >= top:
            break
        hi = min(lv.aqi_to or top, top)
        y_hi, y_lo = y_of(hi), y_of(lo)
        bands.append(
            Band(
                y_hi,
                round(y_lo - y_hi, 2),
                lv.colour_hex,
                lv.category_zh,
                round((y_hi + y_lo) / 2 + 4, 2),
            )
        )
        ticks.append((y_hi, str(hi)))
    n = max(len(points), 1)
    step = plot_w / n
    bars = []
    for i, (axis, full, aqi, _level, colour, category) in enumerate(points):
        h = 0.0 if aqi is None else max(baseline - y_of(aqi), 1.0)
        colour = colour or "#D0D0D0"
        shown = (n - 1 - i) % label_every == 0
        bars.append(
            Bar(
                x=round(_LEFT + i * step + step * 0.15, 2),
                y=round(baseline - h, 2),
                width=round(step * 0.7, 2),
                height=round(h, 2),
                colour_hex=colour,
                text_colour=text_colour_on(colour),
                value_text="—" if aqi is None else str(aqi),
                label=axis if shown else "",
                title=f"{full}: " + ("—" if aqi is None else f"AQI {aqi} {category or ''}".strip()),
            )
        )
    return {
        "bars": bars,
        "bands": bands,
        "ticks": ticks,
        "width": width,
        "height": height,
        "left": _LEFT,
        "right": width - _RIGHT,
        "top": _TOP,
        "baseline": baseline,
        "step": step,
    }


_NO_POINT = (None, None, None, None)


def _site_series(
    con: duckdb.DuckDBPyConnection,
    table: str,
    key: str,
    steps: list[tuple[Any, str, str]],
    site_id: str = "city",
) -> list[tuple]:
    """A site's AQI points of a chart, for `chart_bars`: `steps` are (value of `table`'s column
    `key`, axis label, full label) in order; a step without a row is a missing point."""
    got = {
        r[0]: r[1:]
        for r in con.execute(
            f"""SELECT {key}, aqi, level, colour_hex, category FROM {table}
                WHERE site_id = $site AND {key} BETWEEN $first AND $last""",
            {"first": steps[0][0], "last": steps[-1][0], "site": site_id},
        ).fetchall()
    }
    return [(axis, full, *got.get(k, _NO_POINT)) for k, axis, full in steps]


def _day_steps(day: date) -> list[tuple[date, str, str]]:
    first = day - timedelta(days=CHART_DAYS - 1)
    days = [first + timedelta(days=i) for i in range(CHART_DAYS)]
    return [(d, f"{d.month}/{d.day}", d.isoformat()) for d in days]


def _hour_steps(hour_start: datetime, tz: ZoneInfo) -> list[tuple[datetime, str, str]]:
    first = hour_start - timedelta(hours=CHART_HOURS - 1)
    hours = [first + timedelta(hours=i) for i in range(CHART_HOURS)]
    return [(t, f"{t.astimezone(tz):%H}", f"{t.astimezone(tz):%Y-%m-%d %H:00}") for t in hours]


def daily_series(con: duckdb.DuckDBPyConnection, day: date, site_id: str = "city") -> list[tuple]:
    """A site's daily AQI of the CHART_DAYS days up to `day`."""
    return _site_series(con, "aqi_daily", "local_date", _day_steps(day), site_id)


def hourly_series(
    con: duckdb.DuckDBPyConnection, hour_start: datetime, tz: ZoneInfo, site_id: str = "city"
) -> list[tuple]:
    """A site's hourly AQI of the CHART_HOURS hours up to `hour_start`, labelled in local time."""
    return _site_series(con, "aqi_hourly", "period_start", _hour_steps(hour_start, tz), site_id)


def _edition_of(rows: list[dict[str, Any]], fallback: str = "HJ633-2012") -> str:
    editions = sorted({r["edition"] for r in rows if r.get("edition")})
    return editions[-1] if editions else fallback


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
            cell: dict[str, Any] = {
                "date": d,
                "day": d.day,
                "current": d == day,
                "aqi": None,
                "insufficient": False,
            }
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
            elif r:
                cell["insufficient"] = True
            cells.append(cell)
        weeks.append(cells)
    return {"year": day.year, "month": day.month, "weeks": weeks}


# ---------------------------------------------------------------- the map
def map_points(rows: list[dict[str, Any]]) -> list[MapPoint]:
    """The stations of a page with coordinates, as `publish.citymap.MapPoint`s."""
    points = []
    for r in rows:
        if r["scope"] != "station" or r.get("latitude") is None or r.get("longitude") is None:
            continue
        if r["texts"] is not None:
            cat_zh, cat_en = r["category"], r["category_en"]
        else:
            cat_zh, cat_en = r["state_text"] or label("states", "absent")
        points.append(
            MapPoint(
                site_id=r["site_id"],
                name_zh=r["name_zh"],
                name_en=r["name_en"],
                latitude=float(r["latitude"]),
                longitude=float(r["longitude"]),
                aqi=r["aqi"],
                level=None if r["level"] is None else int(r["level"]),
                category_zh=cat_zh,
                category_en=cat_en,
                colour_hex=r["colour_hex"] if r["texts"] is not None else None,
                href=r["href"],
            )
        )
    return points


def city_map(
    rows: list[dict[str, Any]], title: tuple[str, str], config_dir: Path | None = None
) -> str | None:
    """The inline SVG map of the page's stations (publish.citymap, the city of
    `config_dir`/map.yaml); None without any station that has coordinates."""
    points = map_points(rows)
    if not points:
        return None
    return city_map_svg(points, title_zh=title[0], title_en=title[1], config_dir=config_dir)


# ---------------------------------------------------------------- page contexts
def daily_context(con: duckdb.DuckDBPyConnection, day: date, root: str) -> dict[str, Any]:
    rows = _report_rows(
        con, "aqi_daily", "local_date = $day", "$day", {"day": day}, DAILY_CONCENTRATIONS, root
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
        "chart": chart_bars(daily_series(con, day), _edition_of(rows)),
        "calendar": month_calendar(con, day, root),
        "has_data": any(r["state"] != "absent" for r in rows),
    }


def day_has_ended(day: date, now: datetime, tz: ZoneInfo) -> bool:
    return periods.has_ended(periods.local_day_range(day, tz)[1], now)


def latest_day(
    con: duckdb.DuckDBPyConnection, now: datetime | None = None, tz: ZoneInfo | None = None
) -> date | None:
    """The latest day aqi_daily holds; with `now` (and `tz`), the latest that has ended."""
    if now is None or tz is None:
        row = con.execute("SELECT max(local_date) FROM aqi_daily").fetchall()
    else:
        today = periods.local_day(periods.utc(now, "now"), tz)
        row = con.execute(
            "SELECT max(local_date) FROM aqi_daily WHERE local_date < $today", {"today": today}
        ).fetchall()
    return row[0][0] if row else None


def hourly_context(
    con: duckdb.DuckDBPyConnection,
    hour_start: datetime,
    tz: ZoneInfo,
    root: str,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The real-time page of the hour starting `hour_start`; `now` (the publication's time)
    decides whether the page says its data are out of date (STALE_AFTER)."""
    local_day = periods.local_day(hour_start, tz)
    rows = _report_rows(
        con,
        "aqi_hourly",
        "period_start = $hour",
        "$day",
        {"hour": hour_start, "day": local_day},
        HOURLY_CONCENTRATIONS,
        root,
    )
    computed = [r["computed_at"] for r in rows if r["computed_at"] is not None]
    stale = now is not None and periods.utc(now, "now") - hour_start > STALE_AFTER
    return {
        "kind": "hourly",
        "hour_local": hour_start.astimezone(tz),
        "hour_text": when_text(hour_start, tz),
        "hour_offset": offset_text(hour_start.astimezone(tz)),
        "root": root,
        "rows": rows,
        "concentrations": HOURLY_CONCENTRATIONS,
        "computed_at": max(computed) if computed else None,
        "editions": sorted({r["edition"] for r in rows if r["edition"]}),
        "chart": chart_bars(hourly_series(con, hour_start, tz), _edition_of(rows), label_every=3),
        "has_data": any(r["state"] != "absent" for r in rows),
        "stale": stale,
        "stale_after_hours": int(STALE_AFTER / HOUR),
    }


def latest_hour(con: duckdb.DuckDBPyConnection, now: datetime | None = None) -> datetime | None:
    """The start of the latest hour aqi_hourly holds; with `now`, the latest that has ended."""
    if now is None:
        row = con.execute("SELECT max(period_start) FROM aqi_hourly").fetchall()
    else:
        row = con.execute(
            "SELECT max(period_start) FROM aqi_hourly WHERE period_start <= $last",
            {"last": periods.utc(now, "now") - HOUR},
        ).fetchall()
    return periods.from_stored(row[0][0]) if row and row[0][0] is not None else None


def station_ids(con: duckdb.DuckDBPyConnection, day: date) -> list[tuple[str, str, str]]:
    """(site_id, name_zh, name_en) of the city and the air stations active on `day`."""
    return [
        (r[0], r[2], r[3])
        for r in con.execute(
            f"SELECT * FROM ({_sites_sql('$day')}) ORDER BY ord, site_id", {"day": day}
        ).fetchall()
    ]


# a station's hour or day without a report row: nothing to show but its time
_NO_ROW = {"edition": None, "aqi": None, "level": None, "colour_hex": None, "category": None,
           "category_en": None}  # fmt: skip


def station_context(
    con: duckdb.DuckDBPyConnection,
    site_id: str,
    day: date | None,
    hour_start: datetime | None,
    tz: ZoneInfo,
    root: str,
) -> dict[str, Any]:
    """A station's (or the city's) page: its last CHART_HOURS hours up to `hour_start` and its
    last CHART_DAYS days up to `day` (each None when the warehouse holds none), chart + table."""
    site = con.execute(
        "SELECT name_zh, name_en FROM sites WHERE site_id = $s", {"s": site_id}
    ).fetchall()
    name = (
        label("labels", "city") if site_id == "city" else (site[0] if site else (site_id, site_id))
    )
    ctx: dict[str, Any] = {
        "kind": "station",
        "site_id": site_id,
        "name_zh": name[0],
        "name_en": name[1],
        "root": root,
        "day": day,
        "hour_text": when_text(hour_start, tz) if hour_start else None,
        "hourly_concentrations": HOURLY_CONCENTRATIONS,
        "daily_concentrations": DAILY_CONCENTRATIONS,
        "hours": [],
        "days": [],
        "hour_chart": None,
        "day_chart": None,
    }
    editions: set[str] = set()
    if hour_start is not None:
        steps = _hour_steps(hour_start, tz)
        got = _rows_by(con, "aqi_hourly", "period_start", steps, site_id, HOURLY_CONCENTRATIONS)
        hours = []
        for t, _axis, _full in reversed(steps):
            r = got.get(t, dict(_NO_ROW))
            r = decorate(r, HOURLY_CONCENTRATIONS, "hourly", root)
            r["when"] = f"{t.astimezone(tz):%m-%d %H:00}"
            hours.append(r)
            editions.update([r["edition"]] if r["edition"] else [])
        ctx["hours"] = hours
        ctx["hour_chart"] = chart_bars(
            hourly_series(con, hour_start, tz, site_id), _edition_of(hours), label_every=3
        )
    if day is not None:
        steps = _day_steps(day)
        got = _rows_by(con, "aqi_daily", "local_date", steps, site_id, DAILY_CONCENTRATIONS)
        days = []
        for d, _axis, _full in reversed(steps):
            r = got.get(d, dict(_NO_ROW))
            r = decorate(r, DAILY_CONCENTRATIONS, "daily", root)
            r["when"] = d.isoformat()
            r["day_href"] = f"{root}daily/{d.isoformat()}.html"
            days.append(r)
            editions.update([r["edition"]] if r["edition"] else [])
        ctx["days"] = days
        ctx["day_chart"] = chart_bars(daily_series(con, day, site_id), _edition_of(days))
    ctx["editions"] = sorted(editions)
    return ctx


def _rows_by(
    con: duckdb.DuckDBPyConnection,
    table: str,
    key: str,
    steps: list[tuple[Any, str, str]],
    site_id: str,
    concentrations: tuple[str, ...],
) -> dict[Any, dict[str, Any]]:
    cols = ", ".join((key, *_AQI_COLUMNS, *concentrations, f"{_REASON_COLUMN[table]} AS reasons"))
    cur = con.execute(
        f"SELECT {cols} FROM {table} WHERE site_id = $site AND {key} BETWEEN $first AND $last",
        {"site": site_id, "first": steps[0][0], "last": steps[-1][0]},
    )
    names = [d[0] for d in cur.description]
    out = {}
    for row in cur.fetchall():
        r = dict(zip(names, row, strict=True))
        k = r.pop(key)
        out[periods.from_stored(k) if isinstance(k, datetime) else k] = r
    return out


def archive_context(
    con: duckdb.DuckDBPyConnection, days: list[date], months: list[str], root: str
) -> dict[str, Any]:
    """The archive: every published day (with the city's AQI) and month, newest first,
    grouped by month."""
    got = {}
    if days:
        got = {
            r[0]: r
            for r in con.execute(
                """SELECT local_date, aqi, level, colour_hex, category, category_en, edition
                   FROM aqi_daily WHERE site_id = 'city' AND local_date BETWEEN $a AND $b""",
                {"a": min(days), "b": max(days)},
            ).fetchall()
        }
    by_month: dict[str, dict[str, Any]] = {}
    for m in months:
        by_month.setdefault(m, {"month": m, "days": [], "disclosure": None})
        by_month[m]["disclosure"] = f"{root}disclosure/{m}/index.html"
    for d in sorted(days, reverse=True):
        m = f"{d:%Y-%m}"
        entry = by_month.setdefault(m, {"month": m, "days": [], "disclosure": None})
        r = got.get(d)
        cell: dict[str, Any] = {"date": d, "href": f"{root}daily/{d.isoformat()}.html", "aqi": None}
        if r and r[1] is not None:
            colour = r[3] or level_text(r[6], int(r[2])).colour_hex
            cell.update(
                aqi=r[1], category=r[4], colour_hex=colour, text_colour=text_colour_on(colour)
            )
        entry["days"].append(cell)
    ordered = [by_month[k] for k in sorted(by_month, reverse=True)]
    for e in ordered:
        y, mo = e["month"].split("-")
        e["title_zh"] = f"{int(y)}年{int(mo)}月"
    return {"kind": "archive", "root": root, "months": ordered}
