"""Serialising published tables: CSV (UTF-8 with BOM, for Excel), JSON and XLSX — all
byte-for-byte reproducible from the same rows.

Every text cell of a CSV or XLSX goes through `safe_cell` (core.spreadsheet): text starting
with = + - @ (or a tab / CR) is written with a leading apostrophe so that no spreadsheet runs it
as a formula (OWASP CSV injection); numbers stay numbers."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.writer.excel import ExcelWriter

from core.spreadsheet import safe_cell
from publish.vocabulary import header

__all__ = ["csv_bytes", "json_bytes", "safe_cell", "xlsx_bytes"]

_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def csv_bytes(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> bytes:
    """CSV with bilingual headers, UTF-8 with a BOM so Excel shows Chinese correctly."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([safe_cell(header(c)) for c in columns])
    for row in rows:
        writer.writerow([safe_cell(_cell(v)) for v in row])
    return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_bytes(data: Any) -> bytes:
    return (
        json.dumps(data, ensure_ascii=False, indent=1, sort_keys=True, default=_json_default) + "\n"
    ).encode("utf-8")


def xlsx_bytes(
    sheets: Sequence[tuple[str, str, Sequence[str], Sequence[Sequence[Any]]]], stamp: datetime
) -> bytes:
    """A workbook with one sheet per (sheet name, title, columns, rows).

    Row 1 holds the title, row 2 the bilingual headers. The document's created/modified
    times are `stamp` (from the data, not the clock) and the zip entries carry a fixed date,
    so the same rows give the same bytes.
    """
    wb = Workbook()
    wb.remove(wb.active)
    for name, title, columns, rows in sheets:
        ws = wb.create_sheet(name)
        ws.append([safe_cell(title)])
        ws["A1"].font = Font(bold=True)
        ws.append([safe_cell(header(c)) for c in columns])
        for cell in ws[2]:
            cell.font = Font(bold=True)
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        for row in rows:
            ws.append([safe_cell(v) if not isinstance(v, datetime | date) else v.isoformat() for v in row])
        ws.freeze_panes = "A3"
    naive = stamp.replace(tzinfo=None, microsecond=0)
    wb.properties.creator = "envmon"
    wb.properties.created = naive
    wb.properties.modified = naive
    raw = io.BytesIO()
    with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED) as archive:
        ExcelWriter(wb, archive).save()  # not Workbook.save: that stamps "now" as modified
    return _normalise_zip(raw.getvalue())


def _normalise_zip(data: bytes) -> bytes:
    """Re-pack a zip with fixed entry dates and a stable order."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            entry = zipfile.ZipInfo(info.filename, date_time=_ZIP_EPOCH)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = 0o644 << 16
            dst.writestr(entry, body)
    return out.getvalue()
