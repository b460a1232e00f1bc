"""Read a file (CSV, XLSX, JSON lines; optionally gzipped) into a table of strings.

Every cell is read as text so that parsing, missing-value markers and failures are handled in
one place (normalize.py); each row keeps its physical line (CSV, JSONL) or sheet row (XLSX)
number in `_line` so a bad row can be reported where a person would look for it.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv

from ingest.files.profiles import Profile

LINE = "_line"
_EXTENSIONS = {".csv": "csv", ".txt": "csv", ".xlsx": "xlsx", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}


class FileRejected(Exception):
    """The file as a whole cannot be read with the profile (missing column, bad encoding...)."""


@dataclass
class RawTable:
    df: pl.DataFrame  # all source columns as strings, plus _line
    invalid: list[tuple[int, str]] = field(default_factory=list)  # (line, reason) the reader could not split
    raw_rows: dict[int, bytes] = field(default_factory=dict)  # line -> raw bytes, for non-CSV sources


def _cell_text(value: Any) -> str | None:
    """A spreadsheet/JSON cell as the text a CSV export would hold."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d") if value.time() == time(0) else value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class SourceFile:
    """One input file: its name, kind, decompressed bytes, content hash and decoded text."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        base = self.path.name.removesuffix(".gz") if self.path.name.endswith(".gz") else self.path.name
        self.name = base  # the name profiles match against (without .gz)
        self.kind = _EXTENSIONS.get(Path(base).suffix.lower())

    @cached_property
    def data(self) -> bytes:
        raw = self.path.read_bytes()
        if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the name says
            try:
                return gzip.decompress(raw)
            except (OSError, EOFError) as exc:
                raise FileRejected(f"not a readable gzip file: {exc}") from exc
        return raw

    @cached_property
    def sha256(self) -> str:
        """Hash of the decompressed content: x.csv and x.csv.gz are the same file."""
        return hashlib.sha256(self.data).hexdigest()

    def utf8(self, encoding: str = "auto") -> bytes:
        """The content as UTF-8 bytes without BOM (GBK/GB18030 files are re-encoded)."""
        key = f"_utf8_{encoding}"
        if key not in self.__dict__:
            self.__dict__[key] = self._to_utf8(encoding)
        return self.__dict__[key]

    def _to_utf8(self, encoding: str) -> bytes:
        data = self.data
        if encoding in ("auto", "utf-8"):
            body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
            try:
                body.decode("utf-8")
                self.encoding = "utf-8-sig" if body is not data else "utf-8"
                return body
            except UnicodeDecodeError as exc:
                if encoding == "utf-8":
                    raise FileRejected(f"not valid UTF-8 at byte {exc.start}") from exc
        try:
            text = data.decode("gb18030")  # a superset of GBK and GB2312 (Excel on Chinese Windows)
        except UnicodeDecodeError as exc:
            raise FileRejected(f"neither UTF-8 nor GB18030 text (byte {exc.start})") from exc
        self.encoding = "gb18030"
        return text.encode("utf-8")

    # -- headers (for detection) -----------------------------------------------------------
    def header(self, profile: Profile) -> list[str]:
        if profile.format == "csv":
            lines = self.utf8(profile.encoding).split(b"\n", profile.header_row)
            if len(lines) < profile.header_row:
                return []
            line = lines[profile.header_row - 1].decode("utf-8").rstrip("\r")
            return [c.strip() for c in next(csv.reader([line], delimiter=profile.delimiter), [])]
        if profile.format == "xlsx":
            return [c for c in self._xlsx_rows(profile, header_only=True)[0] if c]
        return list(self._jsonl()[0])

    # -- reading ---------------------------------------------------------------------------
    def read(self, profile: Profile) -> RawTable:
        if profile.format == "csv":
            return self._read_csv(profile)
        if profile.format == "xlsx":
            return self._read_xlsx(profile)
        return self._read_jsonl()

    def raw_line(self, line: int, profile: Profile) -> bytes:
        """The raw text of one CSV line (for dead letters), as UTF-8."""
        lines = self.__dict__.setdefault("_lines", self.utf8(profile.encoding).split(b"\n"))
        return lines[line - 1].rstrip(b"\r") if 0 < line <= len(lines) else b""

    def _read_csv(self, profile: Profile) -> RawTable:
        names = self.header(profile)
        if not names:
            raise FileRejected(f"no header at line {profile.header_row}")
        invalid: list[tuple[int, str]] = []

        def on_invalid(row: pacsv.InvalidRow) -> str:
            reason = f"expected {row.expected_columns} fields, found {row.actual_columns}"
            invalid.append((row.number, reason))
            return "skip"

        try:
            table = pacsv.read_csv(
                io.BytesIO(self.utf8(profile.encoding)),
                # single-threaded so the invalid-row handler knows each row's line number
                read_options=pacsv.ReadOptions(skip_rows=profile.header_row, column_names=names, use_threads=False,
                                               block_size=64 << 20),
                parse_options=pacsv.ParseOptions(delimiter=profile.delimiter, invalid_row_handler=on_invalid,
                                                 ignore_empty_lines=False),
                convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                                     strings_can_be_null=False, null_values=[]),
            )
        except pa.ArrowInvalid as exc:
            raise FileRejected(f"not readable as CSV: {exc}") from exc
        # Physical line of each kept row: the data lines in order, minus those skipped as invalid.
        total = table.num_rows + len(invalid)
        lines = np.arange(profile.header_row + 1, profile.header_row + 1 + total, dtype=np.int64)
        if invalid:
            lines = np.setdiff1d(lines, np.array([n for n, _ in invalid], dtype=np.int64), assume_unique=True)
        df = pl.from_arrow(table)
        assert isinstance(df, pl.DataFrame)
        return RawTable(df.with_columns(pl.Series(LINE, lines[: table.num_rows])), invalid)

    def _xlsx_rows(self, profile: Profile, header_only: bool = False) -> list[list[str | None]]:
        import openpyxl  # only XLSX files need it

        try:
            wb = openpyxl.load_workbook(io.BytesIO(self.data), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a non-workbook
            raise FileRejected(f"not readable as XLSX: {exc}") from exc
        try:
            if profile.sheet is not None and profile.sheet not in wb.sheetnames:
                raise FileRejected(f"no sheet {profile.sheet!r}; sheets: {', '.join(wb.sheetnames)}")
            ws = wb[profile.sheet] if profile.sheet else wb.worksheets[0]
            rows = []
            for i, row in enumerate(ws.iter_rows(min_row=profile.header_row, values_only=True)):
                cells = [_cell_text(v) for v in row]
                rows.append([c.strip() if isinstance(c, str) else c for c in cells] if i == 0 else cells)
                if header_only:
                    break
            return rows or [[]]
        finally:
            wb.close()

    def _read_xlsx(self, profile: Profile) -> RawTable:
        rows = self._xlsx_rows(profile)
        names = [c or f"column{i + 1}" for i, c in enumerate(rows[0])]
        data: dict[str, list[str | None]] = {n: [] for n in names}
        lines: list[int] = []
        raw_rows: dict[int, bytes] = {}
        for offset, row in enumerate(rows[1:], start=1):
            if all(c is None or c == "" for c in row):
                continue
            line = profile.header_row + offset
            lines.append(line)
            for i, name in enumerate(names):
                data[name].append(row[i] if i < len(row) else None)
            raw_rows[line] = json.dumps(dict(zip(names, row, strict=False)), ensure_ascii=False).encode("utf-8")
        df = pl.DataFrame({**data, LINE: lines}, schema={**dict.fromkeys(names, pl.String), LINE: pl.Int64})
        return RawTable(df, [], raw_rows)

    def _jsonl(self) -> tuple[dict[str, None], list[tuple[int, dict[str, Any]]], list[tuple[int, str]]]:
        cached = self.__dict__.get("_jsonl_cache")
        if cached is None:
            columns: dict[str, None] = {}
            objects: list[tuple[int, dict[str, Any]]] = []
            invalid: list[tuple[int, str]] = []
            for n, line in enumerate(self.utf8().split(b"\n"), start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    invalid.append((n, f"not valid JSON: {exc.msg} at column {exc.colno}"))
                    continue
                if not isinstance(obj, dict):
                    invalid.append((n, "not a JSON object"))
                    continue
                columns.update(dict.fromkeys(obj))
                objects.append((n, obj))
            cached = self.__dict__["_jsonl_cache"] = (columns, objects, invalid)
        return cached

    def _read_jsonl(self) -> RawTable:
        columns, objects, invalid = self._jsonl()
        data = {c: [_cell_text(obj.get(c)) for _, obj in objects] for c in columns}
        lines = [n for n, _ in objects]
        df = pl.DataFrame({**data, LINE: lines}, schema={**dict.fromkeys(columns, pl.String), LINE: pl.Int64})
        return RawTable(df, list(invalid))
