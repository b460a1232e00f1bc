"""`envmon export hourly`: the official hourly values of outlets (table `outlet_hours`) for one
local day, as CSV (UTF-8 with BOM, for Excel) or XLSX, headers Chinese first, English beside.

Every text cell goes through `core.spreadsheet.safe_cell` (text starting with = + - @ gets a
leading '), period starts are local time (settings' zone) with their offset.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer

from core.errors import EnvmonError
from core.spreadsheet import safe_cell

export_app = typer.Typer(
    help="Export official values (CSV with BOM or XLSX, bilingual headers).", no_args_is_help=True
)

FORMATS = ("csv", "xlsx")

# (column, Chinese, English)
HOURLY_COLUMNS = (
    ("site_id", "站点编号", "site"),
    ("site_name", "站点名称", "site name"),
    ("parameter", "监测项目", "parameter"),
    ("parameter_name", "项目名称", "parameter name"),
    ("period_start", "时段开始(本地时间)", "period start (local time)"),
    ("value", "小时值", "hourly value"),
    ("unit", "单位", "unit"),
    ("valid", "有效", "valid"),
    ("obtained", "数据来源", "obtained (logger | reported | derived)"),
    ("operating", "运行", "operating"),
    ("invalid_reason", "无效原因", "reason when invalid"),
    ("treatment_stopped", "治理设施停运", "treatment facility stopped (CN 2021)"),
)

_QUERY = """
SELECT h.site_id, concat_ws(' ', s.name_zh, s.name_en) AS site_name, h.parameter,
       coalesce(nullif(concat_ws(' ', p.name_zh, p.name_en), ''), h.parameter) AS parameter_name,
       h.period_start, h.official_value AS value, h.unit, h.valid, h.obtained,
       -- an hour without any data says nothing about operation unless a shut-down was seen
       CASE WHEN h.obtained IS NOT NULL OR NOT h.operating THEN h.operating END AS operating,
       CASE WHEN NOT h.valid THEN h.invalid_reason
            WHEN NOT h.operating THEN 'not operating: ' || h.not_operating_reason END AS invalid_reason,
       h.treatment_stopped, s.timezone AS _tz
FROM outlet_hours h
JOIN sites s USING (site_id)
LEFT JOIN parameters p USING (parameter)
-- the local day of each site's own time zone (the bounds only narrow the scan)
WHERE h.period_start >= $lo AND h.period_start < $hi
  AND CAST(timezone(s.timezone, h.period_start) AS DATE) = $day {site_filter}
ORDER BY h.site_id, h.parameter, h.period_start
"""


def header(column: str) -> str:
    zh, en = next((z, e) for c, z, e in HOURLY_COLUMNS if c == column)
    return f"{zh} {en}"


def hourly_rows(settings: Any, day: date, sites: list[str] | None) -> list[dict[str, Any]]:
    """The official hourly values of the outlets (all, or `sites`) for the local `day`."""
    from warehouse.db import connect

    # the local day in any zone (UTC-12 .. UTC+14) lies within [D 00:00 UTC - 14 h, D + 36 h)
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    lo, hi = midnight - timedelta(hours=14), midnight + timedelta(hours=36)
    with connect(settings, write=False, purpose="envmon export hourly") as con:
        outlets = [r[0] for r in con.execute("SELECT site_id FROM outlets ORDER BY 1").fetchall()]
        params: dict[str, object] = {"lo": lo, "hi": hi, "day": day}
        site_filter = ""
        if sites:
            unknown = [s for s in sites if s not in outlets]
            if unknown:
                raise EnvmonError(
                    f"--site: {', '.join(unknown)} is not an outlet in the registry; "
                    f"outlets: {', '.join(outlets) or '(none)'}"
                )
            params["sites"] = sites
            site_filter = "AND h.site_id IN (SELECT unnest($sites))"
        cur = con.execute(_QUERY.format(site_filter=site_filter), params)
        names = [d[0] for d in cur.description]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    for r in rows:  # each site's local time, with its offset
        r["period_start"] = r["period_start"].astimezone(ZoneInfo(r.pop("_tz")))
    return rows


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([safe_cell(header(c)) for c, _, _ in HOURLY_COLUMNS])
    for r in rows:
        writer.writerow([safe_cell(_cell(r[c])) for c, _, _ in HOURLY_COLUMNS])
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")


def xlsx_bytes(rows: list[dict[str, Any]], title: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "hourly"
    ws.append([safe_cell(title)])
    ws["A1"].font = Font(bold=True)
    ws.append([safe_cell(header(c)) for c, _, _ in HOURLY_COLUMNS])
    for r in rows:
        ws.append([safe_cell(_cell(r[c])) for c, _, _ in HOURLY_COLUMNS])
    ws.freeze_panes = "A3"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


@export_app.command("hourly")
def hourly_cmd(
    day: Annotated[str, typer.Option("--date", help="local day, YYYY-MM-DD (settings' zone)")],
    site: Annotated[
        list[str] | None,
        typer.Option("--site", help="an outlet's site_id (repeatable; default all)"),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="csv (UTF-8 with BOM) or xlsx")] = "csv",
    out: Annotated[
        Path | None,
        typer.Option("-o", "--out", help="output file (default: ./hourly_<date>.<format>)"),
    ] = None,
) -> None:
    """Official hourly values of outlets for one local day: site, parameter, period start (local
    time with offset), value, unit, valid, obtained (logger | derived), reason when invalid."""
    from core.settings import get_settings

    try:
        d = date.fromisoformat(day)
    except ValueError:
        raise EnvmonError(f"--date: {day!r} is not a date (YYYY-MM-DD)") from None
    if fmt not in FORMATS:
        raise EnvmonError(f"--format: {fmt!r} is not one of {', '.join(FORMATS)}")
    settings = get_settings()
    rows = hourly_rows(settings, d, site)
    path = out or Path(f"hourly_{d.isoformat()}.{fmt}")
    title = f"排污口小时值 official outlet hourly values {d.isoformat()} ({settings.timezone})"
    data = csv_bytes(rows) if fmt == "csv" else xlsx_bytes(rows, title)
    path.write_bytes(data)
    typer.echo(f"{path}: {len(rows)} hourly values")


def register(app: typer.Typer) -> None:
    app.add_typer(export_app, name="export")
