"""The publishing jobs the DAGs and `envmon publish` call.

Each opens the warehouse read-only, renders from the data (the clock, or a `now` passed in,
only decides which periods have ended and may be published) and writes
its files atomically under `out` (default settings.site_dir; a folder, file:// or s3:// URL):

- publish_daily:   daily/<date>.html|json|csv, index.html (the latest day that has ended),
                   station/<site_id>.html, archive.html
- publish_hourly:  realtime.html, realtime.json, station/<site_id>.html, archive.html
- publish_monthly: disclosure/<YYYY-MM>/index.html, table<N>_<key>.csv, disclosure_<YYYY-MM>.xlsx
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core import periods
from core.errors import EnvmonError
from core.settings import Settings, get_settings
from publish import daily as daily_mod
from publish.disclosure import (
    WIDE_TABLE_COLUMNS,
    disclosure_tables,
    month_bounds,
    provisional_notice,
)
from publish.formats import csv_bytes, json_bytes, xlsx_bytes
from publish.output import OutputRoot
from publish.render import legend, render
from warehouse.db import connect

LEGEND_EDITION_DEFAULT = "HJ633-2012"


class PublishError(EnvmonError):
    """Publishing cannot proceed (no warehouse, bad period)."""


@dataclass(frozen=True)
class PublishReport:
    kind: str  # daily | hourly | monthly
    period: str  # 2016-12-01 | 2016-12-01T08:00+08:00 | 2016-12
    out: str
    files: tuple[str, ...]  # relative names written (identical ones included)
    changed: tuple[str, ...]  # of those, the ones whose bytes changed
    has_data: bool  # False when the warehouse held nothing for the period


def _open(settings: Settings, purpose: str):
    try:
        return connect(settings, write=False, purpose=purpose)
    except FileNotFoundError as exc:
        raise PublishError(str(exc)) from exc


def _level_context(editions: list[str]) -> dict[str, Any]:
    edition = editions[-1] if editions else LEGEND_EDITION_DEFAULT
    return {"levels": legend(edition)}


def _now(now: datetime | None) -> datetime:
    """The publication's time: `now` as given (aware), else the clock (the job's boundary)."""
    return datetime.now(UTC) if now is None else periods.utc(now, "now")


def _require_ended(
    start: datetime, end: datetime, now: datetime, what: str, tz: ZoneInfo, hint: str
) -> None:
    """core.periods.require_ended, refused as a PublishError."""
    try:
        periods.require_ended(start, end, now, what, tz, hint)
    except periods.PeriodNotEndedError as exc:
        raise PublishError(str(exc)) from None


def _map(rows: list[dict[str, Any]], title: tuple[str, str], settings: Settings) -> str | None:
    return daily_mod.city_map(rows, title, settings.config_dir)


def _station_files(root: OutputRoot, con, now: datetime, tz: ZoneInfo) -> None:
    """station/<site_id>.html of the city and every active air station: the last 24 hours up
    to the latest hour that has ended and the last 30 days up to the latest day that has ended
    (so the daily and the hourly job write the same page)."""
    day = daily_mod.latest_day(con, now, tz)
    hour = daily_mod.latest_hour(con, now)
    active_on = day or periods.local_day(now, tz)
    for site_id, _zh, _en in daily_mod.station_ids(con, active_on):
        ctx = daily_mod.station_context(con, site_id, day, hour, tz, root="../")
        root.write(
            f"station/{site_id}.html",
            render(
                "station.html.j2",
                ctx=ctx,
                root="../",
                zone_label=str(tz),
                **_level_context(ctx["editions"]),
            ),
        )


def write_archive(root: OutputRoot, con, tz: ZoneInfo | None = None) -> None:
    """archive.html: every daily page and monthly disclosure published under `root`."""
    days = []
    for name in root.names("daily"):
        stem = name.removeprefix("daily/").removesuffix(".html")
        if name.endswith(".html") and "/" not in stem:
            try:
                days.append(date.fromisoformat(stem))
            except ValueError:
                continue  # not a daily page of ours
    months = sorted(
        {n.split("/")[1] for n in root.names("disclosure") if n.endswith("/index.html")}
    )
    ctx = daily_mod.archive_context(con, days, months, root="")
    zone = {} if tz is None else {"zone_label": str(tz)}
    root.write("archive.html", render("archive.html.j2", ctx=ctx, root="", **zone))


# ---------------------------------------------------------------- daily
_DAILY_FIELDS = (
    "name_zh", "name_en", "site_id", "scope", "local_date", "edition", "aqi", "level", "category",
    "category_en", "colour_hex", "primary_pollutants", *daily_mod.DAILY_CONCENTRATIONS,
    "data_note_zh", "data_note_en", "health_effect_zh", "health_effect_en", "advice_zh",
    "advice_en",
)  # fmt: skip


def _record(
    row: dict[str, Any], when: str, fields: tuple[str, ...], concs: tuple[str, ...]
) -> dict:
    texts = row["texts"]
    out: dict[str, Any] = {}
    for f in fields:
        if f in concs:
            v = row["values"][f]
            out[f] = None if v == "—" else v
        elif f in ("local_date", "period_start"):
            out[f] = when
        elif f in ("health_effect_zh", "health_effect_en", "advice_zh", "advice_en"):
            out[f] = getattr(texts, f) if texts else None
        elif f in ("data_note_zh", "data_note_en"):
            out[f] = _data_note(row, 0 if f.endswith("_zh") else 1)
        else:
            out[f] = row[f]
    return out


def _data_note(row: dict[str, Any], lang: int) -> str | None:
    """Why a row has no (or a partial) AQI, in one language: state, reasons, the rule."""
    if row["state_text"] is None:
        return None
    parts = [row["state_text"][lang], *(r[lang] for r in row["reasons"])]
    if row["rule"]:
        parts.append(row["rule"][lang])
    return ("；" if lang == 0 else "; ").join(parts)


def _daily_files(root: OutputRoot, con, day: date, tz: ZoneInfo, settings: Settings) -> bool:
    ctx = daily_mod.daily_context(con, day, root="../")
    records = [
        _record(r, day.isoformat(), _DAILY_FIELDS, daily_mod.DAILY_CONCENTRATIONS)
        for r in ctx["rows"]
    ]
    name = f"daily/{day.isoformat()}"
    root.write(f"{name}.html", _render_daily(ctx, tz, settings))
    root.write(
        f"{name}.json",
        json_bytes(
            {
                "local_date": day,
                "editions": ctx["editions"],
                "computed_at": periods.local_text(ctx["computed_at"], tz),
                "rows": records,
            }
        ),
    )
    root.write(f"{name}.csv", csv_bytes(_DAILY_FIELDS, [list(r.values()) for r in records]))
    return ctx["has_data"]


def _render_daily(ctx: dict[str, Any], tz: ZoneInfo, settings: Settings) -> bytes:
    return render(
        "daily.html.j2",
        ctx=ctx,
        day=ctx["day"],
        root=ctx["root"],
        rows=ctx["rows"],
        chart_data=ctx["chart"],
        calendar=ctx["calendar"],
        editions=ctx["editions"],
        computed_at=daily_mod.when_text(ctx["computed_at"], tz),
        city_map=_map(ctx["rows"], ("各站点日报地图", "Stations' daily AQI"), settings),
        zone_label=str(tz),
        **_level_context(ctx["editions"]),
    )


def publish_daily(
    settings: Settings | None = None,
    day: date | None = None,
    out: str | None = None,
    now: datetime | None = None,
) -> PublishReport:
    """The daily report of local date `day` (its page, JSON and CSV), index.html, which shows
    the latest day that has ended by `now` and that the warehouse holds (or `day` when it holds
    none), the station pages and archive.html. `day` None = the latest day in aqi_daily that
    has ended; a day that has not ended is refused. `now` None = the clock."""
    if isinstance(day, datetime):
        day = day.date()
    settings = settings or get_settings()
    tz = settings.tz
    now = _now(now)
    root = OutputRoot(str(out or settings.site_dir))
    if day is not None:
        _require_ended(
            *periods.local_day_range(day, tz), now, f"the day {day.isoformat()}", tz,
            "a day's report is published once the day is over (index.html shows the latest day that has)",
        )  # fmt: skip
    with _open(settings, "envmon publish daily") as con:
        if day is None:
            day = daily_mod.latest_day(con, now, tz)
            if day is None:
                raise PublishError("aqi_daily holds no day that has ended: nothing to publish")
        has_data = _daily_files(root, con, day, tz, settings)
        latest = daily_mod.latest_day(con, now, tz) or day
        if latest != day:
            _daily_files(root, con, latest, tz, settings)
        index_ctx = daily_mod.daily_context(con, latest, root="")
        root.write("index.html", _render_daily(index_ctx, tz, settings))
        _station_files(root, con, now, tz)
        write_archive(root, con, tz)
    return PublishReport(
        "daily", day.isoformat(), root.root, tuple(root.written), tuple(root.changed), has_data
    )


# ---------------------------------------------------------------- hourly
_HOURLY_FIELDS = (
    "name_zh", "name_en", "site_id", "scope", "period_start", "edition", "aqi", "level",
    "category", "category_en", "colour_hex", "primary_pollutants",
    *daily_mod.HOURLY_CONCENTRATIONS, "data_note_zh", "data_note_en", "health_effect_zh",
    "health_effect_en", "advice_zh", "advice_en",
)  # fmt: skip


def _as_hour(hour_start: datetime, tz: ZoneInfo) -> datetime:
    """The hour asked for, in UTC; a naive `hour_start` was typed as local time."""
    try:
        return periods.hour_start(periods.from_local_input(hour_start, tz))
    except ValueError:
        raise PublishError(f"hour_start {hour_start.isoformat()} is not the start of an hour") from None


def publish_hourly(
    settings: Settings | None = None,
    hour_start: datetime | None = None,
    out: str | None = None,
    now: datetime | None = None,
) -> PublishReport:
    """The real-time page (realtime.html / realtime.json) for the hour starting `hour_start`
    (naive = local time), the station pages and archive.html; None = the latest hour the
    warehouse holds that has ended by `now` (None = the clock). An hour that has not ended is
    refused; the page says its data are out of date when its hour started more than
    daily.STALE_AFTER before `now` (and, by a small script, when that becomes true later)."""
    settings = settings or get_settings()
    tz = settings.tz
    now = _now(now)
    root = OutputRoot(str(out or settings.site_dir))
    with _open(settings, "envmon publish hourly") as con:
        if hour_start is None:
            hour_start = daily_mod.latest_hour(con, now)
            if hour_start is None:
                raise PublishError("aqi_hourly holds no hour that has ended: nothing to publish")
        hour = _as_hour(hour_start, tz)
        _require_ended(
            hour, hour + daily_mod.HOUR, now, "the hour", tz, "publish an hour once it is over"
        )
        ctx = daily_mod.hourly_context(con, hour, tz, root="", now=now)
        _station_files(root, con, now, tz)
        write_archive(root, con, tz)
    stamp = ctx["hour_local"].isoformat(timespec="minutes")
    records = [
        _record(r, stamp, _HOURLY_FIELDS, daily_mod.HOURLY_CONCENTRATIONS) for r in ctx["rows"]
    ]
    root.write(
        "realtime.html",
        render(
            "realtime.html.j2",
            ctx=ctx,
            root="",
            hour_local=ctx["hour_local"],
            chart_data=ctx["chart"],
            editions=ctx["editions"],
            computed_at=daily_mod.when_text(ctx["computed_at"], tz),
            city_map=_map(ctx["rows"], ("各站点实时地图", "Stations' real-time AQI"), settings),
            zone_label=str(tz),
            **_level_context(ctx["editions"]),
        ),
    )
    root.write(
        "realtime.json",
        json_bytes(
            {
                "period_start": stamp,
                "editions": ctx["editions"],
                "computed_at": periods.local_text(ctx["computed_at"], tz),
                "rows": records,
            }
        ),
    )
    return PublishReport(
        "hourly", stamp, root.root, tuple(root.written), tuple(root.changed), ctx["has_data"]
    )


# ---------------------------------------------------------------- monthly
_NOTES = (
    "有效天数为AQI有效的天数；优良天数为AQI不大于100的天数。Valid days: days with a valid AQI; good days: AQI ≤ 100.",
    "综合指数依据《城市环境空气质量排名技术规定》，排名按综合指数由小到大（1为最好）。Composite index after the city ranking rules; rank 1 = best.",
    "噪声达标率=昼间（夜间）等效声级不超过功能区限值的点次/有效监测点次；夜间归属其开始的日期。Noise compliance rate = site-days within the zone limit / site-days with a valid level; a night belongs to the date it starts.",
    "超标小时数按告警时段逐小时统计（截至月内）；倍数为告警最大值与限值之比。Hours exceeded: the hours of exceedance alerts within the month; multiple = the alert's maximum / the limit.",
    "逾期：月末未办结且已过整改期限的案件。Overdue: cases not closed at the month's end whose deadline had passed.",
    "未检出：本月该项目全部有效结果均低于方法检出限，括号内为检出限。Not detected: every valid result of the month was below the method's detection limit (given in brackets).",
    "厂界噪声按《工业企业厂界环境噪声排放标准》（GB 12348-2008）评价，按企业分行列出；无有效等效声级的点次不计入。Boundary noise is judged by GB 12348-2008, one row per enterprise; days without a valid level are not counted.",
)


def _month_of(month: date | str) -> date:
    if isinstance(month, str):
        try:
            return datetime.strptime(month, "%Y-%m").date()
        except ValueError:
            raise PublishError(f"month {month!r}: expected YYYY-MM") from None
    if isinstance(month, datetime):
        month = month.date()
    return month.replace(day=1)


def publish_monthly(
    settings: Settings | None = None,
    month: date | str | None = None,
    out: str | None = None,
    *,
    now: datetime | None = None,
    allow_partial: bool = False,
) -> PublishReport:
    """The monthly disclosure of `month` (any date in it, or 'YYYY-MM'): an HTML page, one
    CSV per table and one XLSX workbook with a sheet per table.

    A month that has not ended at `now` (None: the clock) is refused; with `allow_partial` it
    is published to date, every page, table and sheet marked 临时数据（截至 <now, local>）."""
    if month is None:
        raise PublishError("publish_monthly needs the month to publish")
    settings = settings or get_settings()
    tz = settings.tz
    first = _month_of(month)
    month_text = f"{first:%Y-%m}"
    _, _, start, end = month_bounds(first, tz)
    now = _now(now)
    notice = None
    if not periods.has_ended(end, now):
        if not allow_partial:
            _require_ended(start, end, now, f"the month {month_text}", tz,
                           "its disclosure is published once it has ended "
                           "(--allow-partial publishes it to date, marked provisional)")  # fmt: skip
        if not periods.has_ended(start, now):
            raise PublishError(f"the month {month_text} has not begun: it begins at "
                               f"{periods.local_text(start, tz)} local time")  # fmt: skip
        notice = provisional_notice(now, tz)
    root = OutputRoot(str(out or settings.site_dir))
    with _open(settings, "envmon publish monthly") as con:
        tables = disclosure_tables(con, first, tz)
    folder = f"disclosure/{month_text}"
    xlsx_name = f"disclosure_{month_text}.xlsx"
    root.write(
        f"{folder}/index.html",
        render(
            "disclosure.html.j2",
            root="../../",
            month=first,
            month_text=month_text,
            tables=tables,
            xlsx_name=xlsx_name,
            notes=_NOTES,
            notice=notice,  # (Chinese, English)
            wide_columns=WIDE_TABLE_COLUMNS,
            zone_label=str(tz),
        ),
    )
    # the files carry the notice as their first column (data_status), on every row
    text = " ".join(notice) if notice else ""
    files = [t.with_notice(text) for t in tables] if notice else tables
    for t in files:
        root.write(f"{folder}/{t.file_stem}.csv", csv_bytes(t.columns, t.rows))
    suffix = f" {month_text}" + (f" {text}" if notice else "")
    sheets = [(f"{t.number} {t.key}", " ".join(t.title) + suffix, t.columns, t.rows) for t in files]
    stamp = now.astimezone(tz) if notice else end - timedelta(seconds=1)
    root.write(f"{folder}/{xlsx_name}", xlsx_bytes(sheets, stamp=stamp))
    with _open(settings, "envmon publish monthly") as con:
        write_archive(root, con, tz)  # the archive lists the month at once
    has_data = any(t.rows for t in tables[:4]) or tables[4].rows[-1][-4:] != [0, 0, 0, 0]
    return PublishReport(
        "monthly", month_text, root.root, tuple(root.written), tuple(root.changed), has_data
    )


__all__ = [
    "PublishError", "PublishReport", "publish_daily", "publish_hourly", "publish_monthly",
    "write_archive",
]  # fmt: skip
