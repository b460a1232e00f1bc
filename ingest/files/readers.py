"""Read a file (CSV, XLSX, JSON lines; optionally gzipped) into a table of strings.

Every cell is read as text so that parsing, missing-value markers and failures are handled in
one place (normalize.py); each row keeps its physical line (CSV, JSONL) or sheet row (XLSX)
number in `_line` so a bad row can be reported where a person would look for it.

Limits (settings, `FileLimits`): a file larger than `file_max_bytes` is refused before it is
read; a gzip file is decompressed in blocks and refused as soon as it passes
`file_max_decompressed_bytes` or expands more than `file_max_gzip_ratio` times (a gzip bomb never
gets to fill memory); more than `file_max_rows` lines, or a line longer than
`file_max_line_bytes`, refuses the file with the line named. Encodings: UTF-8 (with or without
BOM) or GB18030/GBK; a file mixing the two is refused naming the lines of each, instead of being
decoded into mojibake.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import zipfile
import zlib
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


@dataclass(frozen=True)
class FileLimits:
    """What one input file may cost (settings `file_max_*`; defaults in core/settings.py)."""

    max_bytes: int
    max_decompressed_bytes: int
    max_gzip_ratio: float
    max_rows: int
    max_line_bytes: int

    @classmethod
    def from_settings(cls, settings: Any = None) -> FileLimits:
        if settings is None:
            from core.settings import get_settings

            settings = get_settings()
        return cls(settings.file_max_bytes, settings.file_max_decompressed_bytes, settings.file_max_gzip_ratio,
                   settings.file_max_rows, settings.file_max_line_bytes)


_READ_BLOCK = 1 << 20  # bytes read (and decompressed) at a time
_RATIO_AFTER = 1 << 20  # the ratio limit applies once this much is decompressed (tiny files vary)
_LINE_SCAN_BLOCK = 32 << 20  # bytes scanned for newlines at a time
_GZIP_FEED = 16 << 10  # compressed bytes fed at a time: a bomb is caught within ratio x this


def _gunzip_limited(raw: bytes, limits: FileLimits) -> bytes:
    """Decompress gzip (all members) in blocks, refusing at the size or ratio limit."""
    out: list[bytes] = []
    total = 0
    offset = 0  # start of the current member in `raw`
    while offset < len(raw):
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        pos = offset
        while pos < len(raw) and not d.eof:
            piece = raw[pos : pos + _GZIP_FEED]
            pos += len(piece)
            while piece:
                block = d.decompress(piece, _READ_BLOCK)
                piece = d.unconsumed_tail
                total += len(block)
                consumed = pos - len(piece)
                if total > limits.max_decompressed_bytes:
                    raise FileRejected(
                        f"gzip content is larger than file_max_decompressed_bytes ({limits.max_decompressed_bytes:,} "
                        f"bytes; ENVMON_FILE_MAX_DECOMPRESSED_BYTES): stopped after {total:,} bytes")
                if total > _RATIO_AFTER and total > limits.max_gzip_ratio * consumed:
                    raise FileRejected(
                        f"gzip expands more than file_max_gzip_ratio ({limits.max_gzip_ratio:g}x; "
                        f"ENVMON_FILE_MAX_GZIP_RATIO): {consumed:,} compressed bytes gave {total:,} (a gzip bomb?)")
                out.append(block)
                if d.eof:
                    break
        if not d.eof:
            raise FileRejected("not a readable gzip file: it ends in the middle of the compressed data")
        offset = pos - len(d.unused_data)  # the next member (concatenated .gz) starts here
        if raw[offset : offset + 2] != b"\x1f\x8b":
            break  # trailing padding, not another member
    return b"".join(out)


def _first_long_line(text: bytes, limit: int) -> tuple[int, int] | None:
    """(start offset, length) of the first line longer than `limit` bytes, or None.

    Newlines are found with numpy a block at a time (memory: a block, not the file).
    """
    data = np.frombuffer(text, np.uint8)
    prev = -1  # offset of the last newline seen
    for off in range(0, len(data), _LINE_SCAN_BLOCK):
        newlines = np.flatnonzero(data[off : off + _LINE_SCAN_BLOCK] == 10) + off
        if newlines.size == 0:
            continue
        starts = np.concatenate(([prev + 1], newlines[:-1] + 1))
        over = np.flatnonzero(newlines - starts > limit)
        if over.size:
            i = int(over[0])
            return int(starts[i]), int(newlines[i] - starts[i])
        prev = int(newlines[-1])
    tail = len(data) - (prev + 1)
    return (prev + 1, tail) if tail > limit else None


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _mixed_encoding(data: bytes) -> str | None:
    """If some lines are UTF-8 text and others are not: a message naming both, else None."""
    utf8_lines, other_lines = [], []
    for n, line in enumerate(data.split(b"\n"), start=1):
        if line.isascii():
            continue
        (utf8_lines if _is_utf8(line) else other_lines).append(n)
        if utf8_lines and other_lines and len(utf8_lines) + len(other_lines) > 50:
            break
    if not (utf8_lines and other_lines):
        return None
    first_other = other_lines[0]
    sample = data.split(b"\n")[first_other - 1][:80].decode("gb18030", errors="replace").strip()
    return (f"mixed encodings: line(s) {_lines(utf8_lines)} are UTF-8 but line(s) {_lines(other_lines)} are not "
            f"(they read as GBK/GB18030, e.g. line {first_other}: {sample!r}); save the whole file in one "
            "encoding (UTF-8, or GBK throughout)")


def _lines(numbers: list[int]) -> str:
    shown = ", ".join(map(str, numbers[:5]))
    return shown + (", ..." if len(numbers) > 5 else "")


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
    """One input file: its name, kind, decompressed bytes, content hash and decoded text.

    `stat_before` and `raw_sha256` describe the file as it was read (size, mtime, inode and the
    hash of its stored bytes), so the caller can tell whether it changed since (`changed()`).
    """

    def __init__(self, path: Path | str, limits: FileLimits | None = None):
        self.path = Path(path)
        base = self.path.name.removesuffix(".gz") if self.path.name.endswith(".gz") else self.path.name
        self.name = base  # the name profiles match against (without .gz)
        self.kind = _EXTENSIONS.get(Path(base).suffix.lower())
        self.limits = limits or FileLimits.from_settings()
        self.stat_before: tuple[int, int, int] | None = None
        self.raw_sha256: str | None = None

    @staticmethod
    def _stat(path: Path) -> tuple[int, int, int]:
        st = os.stat(path)
        return st.st_size, st.st_mtime_ns, st.st_ino

    @cached_property
    def data(self) -> bytes:
        limits = self.limits
        before = self._stat(self.path)
        if before[0] > limits.max_bytes:
            raise FileRejected(f"{before[0]:,} bytes is larger than file_max_bytes ({limits.max_bytes:,}; "
                               "ENVMON_FILE_MAX_BYTES); not read")
        with open(self.path, "rb") as fh:
            raw = fh.read(limits.max_bytes + 1)
        if len(raw) > limits.max_bytes:
            raise FileRejected(f"grew past file_max_bytes ({limits.max_bytes:,}; ENVMON_FILE_MAX_BYTES) while read")
        self.stat_before, self.raw_sha256 = before, hashlib.sha256(raw).hexdigest()
        if raw[:2] == b"\x1f\x8b":  # gzip magic, whatever the name says
            try:
                return _gunzip_limited(raw, limits)
            except zlib.error as exc:
                raise FileRejected(f"not a readable gzip file: {exc}") from exc
        return raw

    def changed(self, content: bool = True) -> str | None:
        """How the file on disk differs from what was read (size, mtime, inode; with `content`, also
        the hash of its bytes — a full read), or None."""
        if self.stat_before is None or self.raw_sha256 is None:  # never read whole: nothing to compare
            return None
        try:
            now = self._stat(self.path)
        except FileNotFoundError:
            return "it was removed or renamed while it was read"
        if now != self.stat_before:
            (s0, m0, i0), (s1, m1, i1) = self.stat_before, now
            what = [f"size {s0:,} -> {s1:,} bytes" if s0 != s1 else "", "modified again" if m0 != m1 else "",
                    "replaced by another file (inode)" if i0 != i1 else ""]
            return "it changed after it was read: " + ", ".join(w for w in what if w)
        if not content:
            return None
        digest = hashlib.sha256()
        with open(self.path, "rb") as fh:
            while block := fh.read(_READ_BLOCK):
                digest.update(block)
        if digest.hexdigest() != self.raw_sha256:
            return "it changed after it was read: same size and time but other content (hash)"
        return None

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
        body = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
        if encoding in ("auto", "utf-8"):
            try:
                body.decode("utf-8")
                self.encoding = "utf-8-sig" if body is not data else "utf-8"
                return body
            except UnicodeDecodeError as exc:
                mixed = _mixed_encoding(body)
                if mixed:
                    raise FileRejected(mixed) from exc
                if encoding == "utf-8" or body is not data:
                    line = body.count(b"\n", 0, exc.start) + 1
                    raise FileRejected(f"not valid UTF-8 at line {line} (byte {exc.start}), though "
                                       f"{'its BOM says UTF-8' if body is not data else 'the profile says UTF-8'}") from exc
        elif not body.isascii() and _is_utf8(body):
            raise FileRejected(f"the profile says {encoding} but the file is UTF-8 text; decoding it as {encoding} would "
                               "garble every Chinese name: set the profile's encoding to auto or utf-8")
        try:
            text = data.decode("gb18030")  # a superset of GBK and GB2312 (Excel on Chinese Windows)
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise FileRejected(f"neither UTF-8 nor GBK/GB18030 text (line {line}, byte {exc.start})") from exc
        self.encoding = "gb18030"
        return text.encode("utf-8")

    def _check_lines(self, text: bytes) -> None:
        """Refuse more lines than file_max_rows, or a line longer than file_max_line_bytes."""
        limits = self.limits
        lines = text.count(b"\n") + (0 if text.endswith(b"\n") else 1)
        if lines > limits.max_rows + 1:  # the header line
            raise FileRejected(f"{lines:,} lines is more than file_max_rows ({limits.max_rows:,}; "
                               "ENVMON_FILE_MAX_ROWS): split the file")
        long = _first_long_line(text, limits.max_line_bytes)
        if long is not None:
            start, length = long
            line = text.count(b"\n", 0, start) + 1
            raise FileRejected(f"line {line} is {length:,} bytes long, more than file_max_line_bytes "
                               f"({limits.max_line_bytes:,}; ENVMON_FILE_MAX_LINE_BYTES): not a row of data "
                               "(a missing line break or a binary file?)")

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
        if profile.format in ("csv", "jsonl"):
            self._check_lines(self.utf8(profile.encoding if profile.format == "csv" else "auto"))
        if profile.format == "csv":
            return self._read_csv(profile)
        if profile.format == "xlsx":
            return self._read_xlsx(profile)
        return self._read_jsonl()

    def raw_line(self, line: int, profile: Profile) -> bytes:
        """The raw text of one CSV line (for dead letters), as UTF-8."""
        lines = self.__dict__.get("_lines")
        if lines is None:  # split once (setdefault would split the whole file on every call)
            lines = self.__dict__["_lines"] = self.utf8(profile.encoding).split(b"\n")
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
                                               block_size=max(64 << 20, 2 * self.limits.max_line_bytes)),
                parse_options=pacsv.ParseOptions(delimiter=profile.delimiter, invalid_row_handler=on_invalid,
                                                 ignore_empty_lines=False),
                convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(names, pa.string()),
                                                     strings_can_be_null=False, null_values=[]),
            )
        except pa.ArrowInvalid as exc:
            if "straddl" in str(exc):  # a row larger than a block: name it as such
                raise FileRejected(f"a row is longer than the CSV reader's block ({exc}); rows may be at most "
                                   f"file_max_line_bytes ({self.limits.max_line_bytes:,}) bytes") from exc
            raise FileRejected(f"not readable as CSV: {exc}") from exc
        # Physical line of each kept row: the data lines in order, minus those skipped as invalid.
        total = table.num_rows + len(invalid)
        lines = np.arange(profile.header_row + 1, profile.header_row + 1 + total, dtype=np.int64)
        if invalid:
            lines = np.setdiff1d(lines, np.array([n for n, _ in invalid], dtype=np.int64), assume_unique=True)
        df = pl.from_arrow(table)
        assert isinstance(df, pl.DataFrame)
        return RawTable(df.with_columns(pl.Series(LINE, lines[: table.num_rows])), invalid)

    def _check_xlsx_size(self) -> None:
        """An XLSX is a zip: refuse one whose parts expand past the decompression limits (a zip bomb).

        The sizes are the zip's own; Python's zip reader never reads a part past its stated size.
        """
        limits = self.limits
        try:
            with zipfile.ZipFile(io.BytesIO(self.data)) as archive:
                total = sum(info.file_size for info in archive.infolist())
        except (zipfile.BadZipFile, ValueError) as exc:
            raise FileRejected(f"not readable as XLSX: {exc}") from exc
        if total > limits.max_decompressed_bytes:
            raise FileRejected(f"the workbook's parts hold {total:,} bytes, more than file_max_decompressed_bytes "
                               f"({limits.max_decompressed_bytes:,}; ENVMON_FILE_MAX_DECOMPRESSED_BYTES)")
        if total > _RATIO_AFTER and total > limits.max_gzip_ratio * len(self.data):
            raise FileRejected(f"the workbook expands {total / len(self.data):,.0f} times, more than file_max_gzip_ratio "
                               f"({limits.max_gzip_ratio:g}x; ENVMON_FILE_MAX_GZIP_RATIO): a zip bomb?")

    def _xlsx_rows(self, profile: Profile, header_only: bool = False) -> list[list[str | None]]:
        import openpyxl  # only XLSX files need it

        self._check_xlsx_size()
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
                if i > self.limits.max_rows:
                    raise FileRejected(f"more than file_max_rows ({self.limits.max_rows:,}; ENVMON_FILE_MAX_ROWS) "
                                       f"rows in sheet {ws.title!r}: split the file")
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
