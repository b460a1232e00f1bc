"""Scan the inbox (`<home>/inbox`) for complete files and ingest them.

The inbox protocol — how a sender says a file is complete (docs/inbox.md):

1. **Write under a temporary name, then rename into place.** A file whose name starts with a dot
   (`.name.csv`) or ends in `.part` (`name.csv.part`) is being written and is never touched;
   the rename (atomic on one filesystem) is the signal that it is complete.
2. **Or drop a marker.** Write `name.csv` in place, and when it is complete create
   `name.csv.ready` (empty). A file with a marker is taken at once; the marker is removed when
   the file has been moved out of the inbox. A marker whose file is missing is left and reported.

A file following neither (written in place, no marker) is still taken once its size and
modification time are the same on two looks `settle_s` apart — a safety net, not a protocol.

Whatever the route, the file is fingerprinted as it is read (size, modification time, inode and
the SHA-256 of its bytes) and checked again before its readings are written, before it is
recorded, and before it is moved: a file that changed is refused with status `changed` — not
moved, not recorded as ingested, a clear message — and is taken again, whole, on a later scan.
Taken files move (rename) to `inbox/done/<YYYY-MM-DD>/` (ingested or already ingested) or to
quarantine (rejected), so the inbox only ever holds work still to do.
"""

from __future__ import annotations

import errno
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from core.settings import Settings

if TYPE_CHECKING:  # the ingestor (polars, pyarrow) loads when a scan runs, not with the defaults
    from ingest.files.ingest import FileIngestor, FileReport

PART_SUFFIX = ".part"
READY_SUFFIX = ".ready"
DONE_DIR = "done"
DEFAULT_SETTLE_S = 2.0


@dataclass
class InboxReport:
    files: list[FileReport] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)  # still being written (.part, growing, changed)

    @property
    def readings(self) -> int:
        return sum(f.readings for f in self.files)

    def count(self, status: str) -> int:
        return sum(1 for f in self.files if f.status == status)


def _candidates(inbox: Path) -> tuple[list[Path], list[Path], set[Path]]:
    """(files that may be complete, .part files, files with a .ready marker) directly in the inbox.

    Hidden files (a leading dot: being written) are ignored.
    """
    files, parts, marked = [], [], set()
    for path in sorted(inbox.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        if path.name.endswith(PART_SUFFIX):
            parts.append(path)
        elif path.name.endswith(READY_SUFFIX):
            marked.add(path.with_name(path.name.removesuffix(READY_SUFFIX)))
        else:
            files.append(path)
    return files, parts, marked


def _look(paths: list[Path]) -> dict[Path, tuple[int, int]]:
    out = {}
    for path in paths:
        try:
            st = path.stat()
        except FileNotFoundError:  # renamed or removed between looks
            continue
        out[path] = (st.st_size, st.st_mtime_ns)
    return out


def _rename(path: Path, target: Path) -> None:
    """Move by rename (no copy); copy-and-delete only across filesystems."""
    try:
        os.replace(path, target)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        shutil.move(path, target)


def _move_done(path: Path, inbox: Path, sha256: str | None) -> None:
    folder = inbox / DONE_DIR / f"{datetime.now(UTC):%Y-%m-%d}"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():  # the same name dropped again: keep both
        target = folder / f"{(sha256 or 'x')[:12]}-{path.name}"
    _rename(path, target)


def scan_inbox(
    settings: Settings,
    *,
    settle_s: float = DEFAULT_SETTLE_S,
    sleep: Callable[[float], None] = time.sleep,
    on_file: Callable[[FileReport], None] | None = None,
) -> InboxReport:
    """Ingest every complete file in the inbox once; returns what happened to each."""
    inbox = Path(settings.inbox_dir)
    inbox.mkdir(parents=True, exist_ok=True)
    report = InboxReport()
    files, parts, marked = _candidates(inbox)
    report.waiting += [p.name for p in parts]
    report.waiting += [f"{p.name}{READY_SUFFIX} (marker without its file)" for p in sorted(marked - set(files))]
    if not files:
        return report
    unmarked = [p for p in files if p not in marked]
    first = _look(unmarked)
    if settle_s > 0 and unmarked:
        sleep(settle_s)
    second = _look(unmarked)
    from ingest.files.ingest import FileIngestor

    ingestor = FileIngestor(settings)
    for path in files:
        if path not in marked and (path not in first or first.get(path) != second.get(path)):
            report.waiting.append(path.name)
            continue
        file_report = ingestor.ingest(path, move_rejected=True)
        if file_report.status == "changed" or (
            file_report.status != "rejected" and not _move_unchanged(ingestor, path, inbox, file_report)
        ):
            report.waiting.append(path.name)
        if file_report.status != "changed" and path in marked:
            path.with_name(path.name + READY_SUFFIX).unlink(missing_ok=True)
        report.files.append(file_report)
        if on_file is not None:
            on_file(file_report)
    return report


def _move_unchanged(ingestor: FileIngestor, path: Path, inbox: Path, file_report: FileReport) -> bool:
    """Move an ingested file to done/ unless it changed since it was read (then undo its record)."""
    changed = ingestor.last_source.changed() if ingestor.last_source is not None else None
    if changed:
        from ingest.files.ingest import landed_note

        if file_report.status == "ingested" and file_report.sha256:
            ingestor.ledger.forget(file_report.sha256)  # its new content is to be ingested whole
        file_report.status = "changed"
        file_report.reason = (f"{path}: {changed} (before it was moved); left in the inbox and not recorded as "
                              "ingested, so the next scan takes it again whole. Writers must write under NAME.part "
                              "or .NAME and rename when done, or drop NAME.ready when complete. "
                              f"{landed_note(file_report)}")
        return False
    _move_done(path, inbox, file_report.sha256)
    return True
