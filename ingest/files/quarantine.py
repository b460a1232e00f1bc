"""Quarantine for rejected files and bad rows: `<quarantine>/files/<YYYY-MM-DD>/...`.

Every quarantined item has a `.reason.txt` beside it saying why, so staff can fix and re-drop
the file. Names start with the first 12 hex digits of the content hash so two different files
of the same name never overwrite each other.
"""

from __future__ import annotations

import csv
import errno
import io
import os
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from core.spreadsheet import safe_cell


def _folder(quarantine_dir: Path) -> Path:
    folder = Path(quarantine_dir) / "files" / f"{datetime.now(UTC):%Y-%m-%d}"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _write_reason(target: Path, reason: str) -> None:
    target.with_name(target.name + ".reason.txt").write_text(reason.rstrip("\n") + "\n", encoding="utf-8")


def quarantine_file(
    path: Path, sha256: str, reason: str, quarantine_dir: Path, *, move: bool, copy_max_bytes: int | None = None
) -> Path:
    """Put a whole rejected file in quarantine: moved from the inbox, copied otherwise.

    A move is a rename (os.replace) when the quarantine is on the inbox's filesystem, so even a
    huge file costs no copy; only across filesystems does it fall back to copy-and-delete. A file
    given on the command line stays where it is and is copied only up to `copy_max_bytes`: a larger
    one is not copied, its reason file says where the original is.
    """
    target = _folder(quarantine_dir) / f"{sha256[:12]}-{path.name}"
    n = 1
    while target.exists() or target.with_name(target.name + ".reason.txt").exists():  # never overwrite
        n += 1
        target = target.with_name(f"{sha256[:12]}-{n}-{path.name}")
    if move:
        try:
            os.replace(path, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            shutil.move(path, target)  # another filesystem: copy, then delete
    else:
        size = path.stat().st_size
        if copy_max_bytes is not None and size > copy_max_bytes:
            reason += f"\n(not copied into quarantine: {size:,} bytes; the file is still at {path})"
        else:
            shutil.copyfile(path, target)
    _write_reason(target, reason)
    return target


def quarantine_rows(
    name: str, sha256: str, rows: Sequence[tuple[int, str, bytes]], quarantine_dir: Path, summary: str
) -> Path:
    """Write the bad rows of an otherwise ingested file as CSV (line, reason, raw)."""
    target = _folder(quarantine_dir) / f"{sha256[:12]}-{name}.bad-rows.csv"
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["line", "reason", "raw"])
    for line, reason, raw in rows:
        writer.writerow([line, safe_cell(reason), safe_cell(raw.decode("utf-8", errors="replace"))])
    target.write_text(buf.getvalue(), encoding="utf-8-sig")  # BOM so Excel opens Chinese text right
    _write_reason(target, summary)
    return target
