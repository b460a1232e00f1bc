"""The publishing jobs the DAGs and `envmon publish` call.

Each opens the warehouse read-only, renders from the data only (never the clock) and writes
its files atomically under `out` (default settings.site_dir; a folder, file:// or s3:// URL):

- publish_daily:   daily/<date>.html|json|csv, and index.html (the latest day with data)
- publish_hourly:  realtime.html, realtime.json
- publish_monthly: disclosure/<YYYY-MM>/index.html, table<N>_<key>.csv, disclosure_<YYYY-MM>.xlsx
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from core import periods
from core.errors import EnvmonError
from core.settings import Settings, get_settings
from publish import daily as daily_mod
from publish.disclosure import disclosure_tables, month_bounds
from publish.formats import csv_bytes, json_bytes, xlsx_bytes
from publish.output import OutputRoot
from publish.render import legend, render
from publish.vocabulary import levels_of
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
    return {
        "levels": legend(edition),
        "unconfirmed": any(lv.unconfirmed for ed in editions for lv in levels_of(ed)),
    }


# ---------------------------------------------------------------- daily
_DAILY_FIELDS = (
    "site_id", "scope", "name_zh", "name_en", "local_date", "edition", "aqi", "level", "category",
    "category_en", "colour_hex", "primary_pollutants", *daily_mod.DAILY_CONCENTRATIONS,
    "health_effect_zh", "health_effect_en", "advice_zh", "advice_en", "texts_status",
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
        elif f == "texts_status":
            out[f] = texts.status if texts else None
        else:
            out[f] = row[f]
    return out


def _daily_files(root: OutputRoot, con, day: date, tz: ZoneInfo) -> bool:
    ctx = daily_mod.daily_context(con, day, root="../")
    records = [
        _record(r, day.isoformat(), _DAILY_FIELDS, daily_mod.DAILY_CONCENTRATIONS)
        for r in ctx["rows"]
    ]
    name = f"daily/{day.isoformat()}"
    root.write(f"{name}.html", _render_daily(ctx, tz))
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


def _render_daily(ctx: dict[str, Any], tz: ZoneInfo) -> bytes:
    return render(
        "daily.html.j2",
        ctx=ctx,
        day=ctx["day"],
        root=ctx["root"],
        rows=ctx["rows"],
        chart_data=ctx["chart"],
        calendar=ctx["calendar"],
        editions=ctx["editions"],
        computed_at=periods.local_text(ctx["computed_at"], tz),
        **_level_context(ctx["editions"]),
    )


def publish_daily(
    settings: Settings | None = None, day: date | None = None, out: str | None = None
) -> PublishReport:
    """The daily report of local date `day` (its page, JSON and CSV) and index.html, which
    shows the latest day the warehouse holds (or `day` when it holds none).
    `day` None = the latest day in aqi_daily."""
    if isinstance(day, datetime):
        day = day.date()
    settings = settings or get_settings()
    tz = settings.tz
    root = OutputRoot(str(out or settings.site_dir))
    with _open(settings, "envmon publish daily") as con:
        if day is None:
            day = daily_mod.latest_day(con)
            if day is None:
                raise PublishError("aqi_daily is empty: nothing to publish")
        has_data = _daily_files(root, con, day, tz)
        latest = daily_mod.latest_day(con) or day
        if latest != day:
            _daily_files(root, con, latest, tz)
        index_ctx = daily_mod.daily_context(con, latest, root="")
        root.write("index.html", _render_daily(index_ctx, tz))
    return PublishReport(
        "daily", day.isoformat(), root.root, tuple(root.written), tuple(root.changed), has_data
    )


# ---------------------------------------------------------------- hourly
_HOURLY_FIELDS = (
    "site_id", "scope", "name_zh", "name_en", "period_start", "edition", "aqi", "level",
    "category", "category_en", "colour_hex", "primary_pollutants",
    *daily_mod.HOURLY_CONCENTRATIONS, "health_effect_zh", "health_effect_en", "advice_zh",
    "advice_en", "texts_status",
)  # fmt: skip


def _as_hour(hour_start: datetime, tz: ZoneInfo) -> datetime:
    """The hour asked for, in UTC; a naive `hour_start` was typed as local time."""
    try:
        return periods.hour_start(periods.from_local_input(hour_start, tz))
    except ValueError:
        raise PublishError(f"hour_start {hour_start.isoformat()} is not the start of an hour") from None


def publish_hourly(
    settings: Settings | None = None, hour_start: datetime | None = None, out: str | None = None
) -> PublishReport:
    """The real-time page (realtime.html / realtime.json) for the hour starting `hour_start`
    (naive = local time); None = the latest hour the warehouse holds."""
    settings = settings or get_settings()
    tz = settings.tz
    root = OutputRoot(str(out or settings.site_dir))
    with _open(settings, "envmon publish hourly") as con:
        if hour_start is None:
            hour_start = daily_mod.latest_hour(con)
            if hour_start is None:
                raise PublishError("aqi_hourly is empty: nothing to publish")
        hour = _as_hour(hour_start, tz)
        ctx = daily_mod.hourly_context(con, hour, tz, root="")
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
            computed_at=periods.local_text(ctx["computed_at"], tz),
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
    settings: Settings | None = None, month: date | str | None = None, out: str | None = None
) -> PublishReport:
    """The monthly disclosure of `month` (any date in it, or 'YYYY-MM'): an HTML page, one
    CSV per table and one XLSX workbook with a sheet per table."""
    if month is None:
        raise PublishError("publish_monthly needs the month to publish")
    settings = settings or get_settings()
    tz = settings.tz
    first = _month_of(month)
    month_text = f"{first:%Y-%m}"
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
        ),
    )
    for t in tables:
        root.write(f"{folder}/{t.file_stem}.csv", csv_bytes(t.columns, t.rows))
    _, _, _, end = month_bounds(first, tz)
    sheets = [
        (f"{t.number} {t.key}", " ".join(t.title) + f" {month_text}", t.columns, t.rows)
        for t in tables
    ]
    root.write(f"{folder}/{xlsx_name}", xlsx_bytes(sheets, stamp=end - timedelta(seconds=1)))
    has_data = any(t.rows for t in tables[:4]) or tables[4].rows[-1][3:] != [0, 0, 0, 0]
    return PublishReport(
        "monthly", month_text, root.root, tuple(root.written), tuple(root.changed), has_data
    )


__all__ = ["PublishError", "PublishReport", "publish_daily", "publish_hourly", "publish_monthly"]
